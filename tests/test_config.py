"""Configuration: discovery, precedence (flags > environment > file), .env, and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kestrasync.cli import main
from kestrasync.config import Overrides, load_settings
from kestrasync.errors import ConfigError


def test_config_is_found_walking_up(repo):
    nested = repo.root / "flows" / "deep"
    nested.mkdir(parents=True)
    settings = load_settings(cwd=nested, environ={})
    assert settings.config_file == repo.root / "kestra-sync.yaml"
    assert settings.flow_files.roots == (repo.root / "flows",)  # relative to the file, not the cwd
    assert settings.owned_namespaces == ("company",)


def test_flags_beat_environment_beat_file(repo):
    repo.config(
        """\
        server:
          url: http://from-file:8080
          tenant: filetenant
          timeout: 12
        """
    )
    from_file = load_settings(environ={})
    server = from_file.server
    assert (server.url, server.tenant, server.timeout) == ("http://from-file:8080", "filetenant", 12.0)
    environment = {"KESTRA_URL": "http://from-env:8080", "KESTRA_TENANT": "envtenant"}
    from_env = load_settings(environ=environment).server
    assert (from_env.url, from_env.tenant) == ("http://from-env:8080", "envtenant")
    from_flags = load_settings(environ=environment, overrides=Overrides(url="http://from-flag:8080", tenant=None)).server
    assert (from_flags.url, from_flags.tenant) == ("http://from-flag:8080", "envtenant")


def test_kestra_host_is_accepted_as_kestra_docs_name_it(repo):
    assert load_settings(environ={"KESTRA_HOST": "http://docs-name:8080"}).server.url == "http://docs-name:8080"


def test_dotenv_in_working_directory_is_read_and_environment_wins(repo):
    (repo.root / ".env").write_text(
        "# local secrets\nexport KESTRA_USERNAME=dev@example.com\nKESTRA_PASSWORD='s3cret Pass'\nKESTRA_URL=http://dotenv:8080\n"
    )
    settings = load_settings(environ={"KESTRA_URL": "http://real-env:8080"})
    assert settings.server.credentials.username == "dev@example.com"
    assert settings.server.credentials.password == "s3cret Pass"
    assert settings.server.url == "http://real-env:8080"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("server:\n  url: http://x\n  passwd: 1\n", "kestra-sync.yaml:3:3: unknown key 'server.passwd'"),
        ("server:\n  password: hunter2\n", "kestra-sync.yaml:2:3: 'server.password': credentials do not belong in kestra-sync.yaml"),
        ("server:\n  timeout: soon\n", "kestra-sync.yaml:2:12: 'server.timeout' must be a number, not 'soon'"),
        ("apply:\n  parallelism: true\n", "kestra-sync.yaml:2:16: 'apply.parallelism' must be a whole number"),
        ("prune:\n  enabled: 3\n", "kestra-sync.yaml:2:12: 'prune.enabled' must be true or false"),
        ("flows:\n  paths: {a: b}\n", "kestra-sync.yaml:2:10: 'flows.paths' must be a list of text values"),
        ("server: [1]\n", "kestra-sync.yaml:1:1: 'server' must be a mapping"),
        ("server:\n  url: a\n  url: b\n", "kestra-sync.yaml:3:3: duplicate key 'url'"),
        ("server:\n  url: [\n", "kestra-sync.yaml:3:1: YAML syntax error"),
        ("namespaces: [Company]\n", "namespace 'Company' is not a valid Kestra namespace"),
        ("apply:\n  parallelism: 0\n", "kestra-sync.yaml:2:16: 'apply.parallelism' must be greater than 0"),
        ("- a\n", "kestra-sync.yaml:1:1: expected a mapping"),
        ("flows:\n  exclude:\n", "kestra-sync.yaml:2:11: 'flows.exclude' must be a list of text values"),
        ("namespaces: 5\n", "kestra-sync.yaml:1:13: 'namespaces' must be a list of text values"),
        ("server:\n  url: 'http://[bad'\n", "the server URL is not a valid URL"),
        ("server:\n  url: http://127.0.0.1:abc\n", "the server URL is not a valid URL"),
    ],
)
def test_bad_config_names_key_and_line(repo, text, expected):
    (repo.root / "kestra-sync.yaml").write_text(text)
    result = CliRunner().invoke(main, ["validate", "--offline"], catch_exceptions=False)
    assert result.exit_code == 1
    assert expected in result.stderr, result.stderr
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_url_with_credentials_is_refused_without_echoing_them(repo):
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"KESTRA_URL": "http://admin:hunter2@host:8080"})
    assert "hunter2" not in str(error.value)


def test_no_url_is_a_clear_error(repo):
    result = CliRunner().invoke(main, ["plan"], env={"KESTRA_URL": ""}, catch_exceptions=False)
    assert result.exit_code == 1
    assert "no Kestra server URL: set KESTRA_URL" in result.stderr


@pytest.mark.parametrize(
    "args, expected",
    [
        (["plan", "--parallelism", "0"], "Invalid value for '--parallelism'"),
        (["plan", "--format", "yaml"], "Invalid value for '--format'"),
        (["plan", "--target", "no-slash"], "--target: 'no-slash' is not of the form namespace/name"),
        (["plan", "--bogus"], "No such option '--bogus'"),
        (["apply", "plan.json", "--prune"], "cannot change a saved plan"),
    ],
)
def test_bad_flags_exit_1_with_a_sentence(repo, args, expected):
    result = CliRunner().invoke(main, args, env={"KESTRA_URL": "http://127.0.0.1:9"}, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert expected in result.output


def test_no_config_file_scans_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yml").write_text("id: a\nnamespace: company\ntasks:\n  - id: t\n    type: x\n")
    settings = load_settings(environ={})
    assert settings.config_file is None
    assert settings.flow_files.roots == (Path(tmp_path).absolute(),)


def test_a_credential_flag_replaces_the_other_kind_from_the_environment(repo):
    environment = {"KESTRA_API_TOKEN": "old-token", "KESTRA_USERNAME": "env@example.com", "KESTRA_PASSWORD": "envpass"}
    basic = load_settings(environ=environment, overrides=Overrides(username="flag@example.com", password="flagpass")).server.credentials
    assert (basic.username, basic.password, basic.token) == ("flag@example.com", "flagpass", None)
    bearer = load_settings(environ=environment, overrides=Overrides(token="flag-token")).server.credentials
    assert (bearer.username, bearer.password, bearer.token) == (None, None, "flag-token")


def test_an_empty_flag_counts_as_given(repo):
    """`--url ""` is refused rather than silently replaced by KESTRA_URL; `--username ""` drops a token."""
    result = CliRunner().invoke(main, ["plan", "--url", ""], env={"KESTRA_URL": "http://127.0.0.1:9"}, catch_exceptions=False)
    assert result.exit_code == 1 and "the server URL must start with http:// or https://" in result.stderr
    credentials = load_settings(environ={"KESTRA_API_TOKEN": "tok"}, overrides=Overrides(username="")).server.credentials
    assert credentials.token is None and credentials.describe().startswith("a request without credentials")


def test_overrides_never_show_credentials():
    assert "s3cret" not in repr(Overrides(username="u", password="s3cret", token="s3cret"))


def test_apply_reports_the_files_problems_before_asking_for_a_server(repo):
    repo.write("flows/bad.yml", "id: [\n")
    result = CliRunner().invoke(main, ["apply", "--auto-approve"], env={"KESTRA_URL": ""}, catch_exceptions=False)
    assert result.exit_code == 1
    assert "flows/bad.yml:2:1: YAML syntax error" in result.stderr and "no Kestra server URL" not in result.stderr

"""The scanner's checks, through `kestra-sync validate --offline`: each problem located at file:line:column."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from support import flow_yaml
from kestrasync.cli import main


def validate(*args: str):
    return CliRunner().invoke(main, ["validate", "--offline", *args], catch_exceptions=False)


GOOD = flow_yaml("company.team", "hello")

BAD_FILES = {
    "syntax": ("id: a\nnamespace: company\ntasks: [\n", "flows/bad.yml:4:1: YAML syntax error"),
    "not_mapping": ("- id: a\n- id: b\n", "flows/bad.yml:1:1: not a flow: the document is a list"),
    "scalar": ("just text\n", "flows/bad.yml:1:1: not a flow: the document is a single value"),
    "missing_id": ("namespace: company\ntasks:\n  - id: t\n    type: x\n", "flows/bad.yml:1:1: not a flow: no `id` key"),
    "missing_namespace": ("id: a\ntasks:\n  - id: t\n    type: x\n", "flows/bad.yml:1:1: not a flow: no `namespace` key"),
    "bad_id": ("id: my flow\nnamespace: company\ntasks:\n  - id: t\n    type: x\n", "flows/bad.yml:1:5: `id` 'my flow' must match"),
    "bad_namespace": ("id: a\nnamespace: Company.Team\ntasks:\n  - id: t\n    type: x\n", "flows/bad.yml:2:12: `namespace` 'Company.Team' must match"),
    "long_id": (f"id: {'a' * 101}\nnamespace: company\ntasks:\n  - id: t\n    type: x\n", "flows/bad.yml:1:5: `id` is 101 characters long"),
    "reserved_id": ("id: pause\nnamespace: company\ntasks:\n  - id: t\n    type: x\n", "flows/bad.yml:1:5: 'pause' is a reserved flow id"),
    "empty_tasks": ("id: a\nnamespace: company\ntasks: []\n", "flows/bad.yml:3:8: `tasks` must be a non-empty list"),
    "no_tasks": ("id: a\nnamespace: company\n", "flows/bad.yml:1:1: `tasks` must be a non-empty list"),
    "task_without_type": ("id: a\nnamespace: company\ntasks:\n  - id: t\n", "flows/bad.yml:4:5: task 't' has no `type`"),
    "task_without_id": ("id: a\nnamespace: company\ntasks:\n  - type: x\n", "flows/bad.yml:4:5: this task has no `id`"),
    "nested_task_without_id": (
        "id: a\nnamespace: company\ntasks:\n  - id: p\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n      - type: x\n",
        "flows/bad.yml:7:9: this task has no `id`",
    ),
    "trigger_without_type": (
        "id: a\nnamespace: company\ntasks:\n  - id: t\n    type: x\ntriggers:\n  - id: daily\n",
        "flows/bad.yml:7:5: trigger 'daily' has no `type`",
    ),
    "duplicate_task_ids": (
        "id: a\nnamespace: company\ntasks:\n  - id: t\n    type: x\nerrors:\n  - id: t\n    type: y\n",
        "flows/bad.yml:7:5: duplicate task id 't' (first at line 4)",
    ),
    "duplicate_keys": ("id: a\nnamespace: company\nid: b\ntasks:\n  - id: t\n    type: x\n", "flows/bad.yml:3:1: duplicate key 'id' (first at line 1)"),
    "nested_duplicate_keys": (
        "id: a\nnamespace: company\ntasks:\n  - id: t\n    type: x\n    message: one\n    message: two\n",
        "flows/bad.yml:7:5: duplicate key 'message' (first at line 6)",
    ),
    "alias": (
        "id: a\nnamespace: company\nvariables:\n  x: &v hello\n  y: *v\ntasks:\n  - id: t\n    type: x\n",
        "flows/bad.yml:5:3: YAML alias of the value at line 4",
    ),
    "merge_key": (
        "id: a\nnamespace: company\ntasks:\n  - id: t\n    type: x\n    <<: {message: hi}\n",
        "flows/bad.yml:6:5: merge keys (<<) are not supported",
    ),
    "tab_indent": ("id: a\nnamespace: company\ntasks:\n\t- id: t\n", "flows/bad.yml:4:1: YAML syntax error: a tab character cannot indent YAML"),
    "recursive_subflow": (
        "id: a\nnamespace: company\ntasks:\n  - id: me\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company\n    flowId: a\n",
        "flows/bad.yml:4:5: task 'me' calls its own flow",
    ),
    "empty_file": ("", "flows/bad.yml:1:1: no flow in this file"),
    "comments_only": ("# nothing here\n", "flows/bad.yml:1:1: no flow in this file"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_each_scan_error_is_located(repo, case):
    text, expected = BAD_FILES[case]
    repo.write("flows/good.yml", GOOD)
    repo.write("flows/bad.yml", text)
    result = validate()
    assert result.exit_code == 1
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_not_utf8_is_located_at_the_byte(repo):
    (repo.root / "flows").mkdir()
    (repo.root / "flows/bad.yml").write_bytes(b"id: a\nnamespace: company\ndescription: caf\xe9\ntasks: []\n")
    result = validate()
    assert result.exit_code == 1
    assert "flows/bad.yml:3:17: not UTF-8 text (byte 0xe9)" in result.stderr


def test_utf8_bom_is_refused(repo):
    repo.write("flows/bom.yml", "\ufeff" + GOOD)
    result = validate()
    assert result.exit_code == 1
    assert "flows/bom.yml:1:1: file starts with a UTF-8 byte-order mark" in result.stderr


def test_same_flow_in_two_files_names_both(repo):
    repo.write("flows/a.yml", GOOD)
    repo.write("flows/sub/b.yml", "# copy\n" + GOOD)
    result = validate()
    assert result.exit_code == 1
    assert "flows/sub/b.yml:1:1: flow company.team/hello is defined twice (first at flows/a.yml:1:1)" in result.stderr


def test_every_problem_is_reported_in_one_run(repo):
    repo.write("flows/a.yml", "id: a\n")
    repo.write("flows/b.yml", "id: [\n")
    repo.write("flows/c.yml", GOOD)
    result = validate()
    assert result.exit_code == 1
    assert "flows/a.yml:1:1" in result.stderr and "flows/b.yml:" in result.stderr
    assert "2 problems in flow files; nothing was sent to the server." in result.stderr


def test_multi_document_file_gives_one_flow_per_document(repo):
    first = "# two flows\n" + flow_yaml("company.a", "one")
    second = "---\n" + flow_yaml("company.b", "two")
    repo.write("flows/both.yml", first + second + "---\n")
    result = validate()
    assert result.exit_code == 0, result.output
    assert "2 flow(s) pass the local checks." in result.stdout


def test_excluded_and_hidden_files_are_not_scanned(repo):
    repo.config(
        """\
        flows:
          paths: [flows]
          exclude: ["flows/templates/**"]
        namespaces: [company]
        """
    )
    repo.write("flows/a.yml", GOOD)
    repo.write("flows/templates/not-a-flow.yml", "just: a template\n")
    repo.write("flows/.hidden/x.yml", "broken: [\n")
    repo.write("flows/readme.txt", "not yaml")
    result = validate()
    assert result.exit_code == 0, result.output
    assert "1 flow(s) pass" in result.stdout


def test_excludes_hold_when_a_directory_above_the_root_is_scanned(repo, monkeypatch):
    # Walking from outside the root, each file is still matched by its path relative to the root.
    repo.config(
        """\
        flows:
          paths: [flows]
          exclude: ["drafts/**"]
        namespaces: [company]
        """
    )
    repo.write("flows/a.yml", GOOD)
    repo.write("drafts/wip.yml", "broken: [\n")
    result = validate("..")
    assert result.exit_code == 0, result.output
    assert "1 flow(s) pass" in result.stdout


def test_configured_paths_outside_the_root_are_scanned(repo):
    repo.config(
        """\
        flows:
          paths: [flows, ../shared-flows]
        namespaces: [company]
        """
    )
    repo.write("flows/a.yml", GOOD)
    repo.write("../shared-flows/b.yml", flow_yaml("company.team", "shared"))
    repo.write("../shared-flows/bad.yml", "id: b\n")
    result = validate()
    assert result.exit_code == 1
    assert "../shared-flows/bad.yml:1:1: not a flow: no `namespace` key" in result.stderr
    (repo.root / "../shared-flows/bad.yml").unlink()
    assert "2 flow(s) pass" in validate().stdout


def test_non_flow_yaml_is_an_error_unless_excluded(repo):
    repo.write("flows/a.yml", GOOD)
    repo.write("flows/docker-compose.yml", "services:\n  kestra:\n    image: kestra/kestra\n")
    result = validate()
    assert result.exit_code == 1
    assert "flows/docker-compose.yml:1:1: not a flow: no `id` key" in result.stderr
    assert "exclude this file in kestra-sync.yaml" in result.stderr


def test_validate_takes_explicit_paths(repo):
    repo.write("flows/a.yml", GOOD)
    repo.write("other/b.yml", "id: b\n")
    assert validate("flows").exit_code == 0
    result = validate("other/b.yml")
    assert result.exit_code == 1 and "other/b.yml:1:1" in result.stderr


def test_missing_path_is_an_error(repo):
    result = validate("nowhere")
    assert result.exit_code == 1
    assert "nowhere:1:1: no such file or directory" in result.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        (GOOD.replace("tasks:", "titel: x\ntasks:"), "flows/bad.yml:3:1: unknown flow property `titel` (Kestra refuses unknown top-level keys)"),
        (GOOD.replace("tasks:", "descripton: x\ntasks:"), "did you mean `description`?"),
        (GOOD.replace("id: log", "id: my.log"), "flows/bad.yml:4:9: task id 'my.log' must match [a-zA-Z0-9][a-zA-Z0-9_-]*"),
    ],
)
def test_unknown_keys_and_bad_task_ids(repo, text, expected):
    repo.write("flows/bad.yml", text)
    result = validate()
    assert result.exit_code == 1
    assert expected in result.stderr, result.stderr


def test_deleted_true_is_refused(repo):
    repo.write("flows/bad.yml", GOOD + "deleted: true\n")
    result = validate()
    assert result.exit_code == 1
    assert "flows/bad.yml:7:10: `deleted: true` hides a flow on Kestra" in result.stderr


def test_scan_cache_reuses_results_by_content_and_stays_exact(repo, scan_cache_dir):
    from kestrasync.config import load_settings
    from kestrasync.engine import scan
    from kestrasync.errors import ScanFailed

    def scan_repository(settings):
        return scan(settings).resources()

    repo.write("flows/a.yml", GOOD)
    repo.write("flows/multi.yml", flow_yaml("company.x", "one") + "---\n" + flow_yaml("company.x", "two"))
    settings = load_settings(environ={})
    first = scan_repository(settings)
    [cache_file] = scan_cache_dir.iterdir()
    assert scan_repository(settings) == first  # served by the cache: the same values

    # An edited file is parsed again; its problem is located as usual.
    repo.write("flows/multi.yml", flow_yaml("company.x", "one") + "---\nbroken: [\n")
    with pytest.raises(ScanFailed) as failure:
        scan_repository(settings)
    assert [str(e.location) for e in failure.value.errors] == ["flows/multi.yml:9:1"]

    # A moved file hits the cache and is located at its new path.
    (repo.root / "flows/multi.yml").unlink()
    (repo.root / "flows/a.yml").rename(repo.root / "flows/moved.yml")
    [flow] = scan_repository(settings)
    assert str(flow.location) == "flows/moved.yml:1:1" and flow.content == GOOD

    cache_file.write_text("{damaged")  # a damaged cache is ignored, then rewritten
    assert scan_repository(settings) == (flow,)
    assert cache_file.read_text().startswith('{"stamp"')


def test_scan_cache_can_be_turned_off(repo, scan_cache_dir, monkeypatch):
    monkeypatch.setenv("KESTRA_SYNC_CACHE_DIR", "")
    repo.write("flows/a.yml", GOOD)
    assert validate().exit_code == 0
    assert not scan_cache_dir.exists()

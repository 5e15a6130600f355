"""`kestra-sync init`: a first kestra-sync.yaml, explained, with the server's namespaces suggested;
never over an existing one. Then pull, then a clean plan."""

from __future__ import annotations

import pytest

from support import flow_yaml


@pytest.fixture
def empty(repo):
    """The repository without its kestra-sync.yaml."""
    (repo.root / "kestra-sync.yaml").unlink()
    return repo


def test_init_then_pull_then_plan_is_clean(empty, cli, probe):
    probe.create(flow_yaml("company.team", "etl"))
    probe.create(flow_yaml("company.data", "load"))
    probe.create(flow_yaml("sales", "report"))
    probe.create(flow_yaml("system", "cleanup"))
    probe.upload("company.team", "etl/load.py", b"print('load')\n")
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert "Wrote kestra-sync.yaml (namespaces company, sales). Next: kestra-sync pull, then kestra-sync plan." in result.stdout
    text = (empty.root / "kestra-sync.yaml").read_text()
    assert "namespaces:\n  - company\n  - sales\n" in text
    assert "On the server: company.data, company.team, sales, system." in text
    assert "# The tenant: main in open source.\n  tenant: \"main\"" in text
    assert "Credentials never go in this file" in text and "Admin1234" not in text
    assert (empty.root / "flows").is_dir()
    pulled = cli("pull", "--auto-approve")
    assert pulled.exit_code == 0, pulled.output
    plan = cli("plan")
    assert plan.exit_code == 0 and "No changes. 1 namespace file(s) and 3 flow(s) match the server." in plan.stdout


def test_init_never_overwrites(repo, cli):
    before = (repo.root / "kestra-sync.yaml").read_text()
    result = cli("init")
    assert result.exit_code == 1 and "kestra-sync.yaml already exists; init never overwrites it" in result.stderr
    assert (repo.root / "kestra-sync.yaml").read_text() == before
    (repo.root / "kestra-sync.yaml").rename(repo.root / "kestra-sync.yml")
    assert "kestra-sync.yml already exists" in cli("init").stderr


def test_init_without_a_server_or_with_namespaces_given(empty, cli):
    offline = cli("init", env={"KESTRA_URL": ""})
    assert offline.exit_code == 0, offline.output
    text = (empty.root / "kestra-sync.yaml").read_text()
    assert "# url: https://kestra.example.com" in text and "namespaces: []" in text
    assert "no namespaces yet" in offline.stdout
    (empty.root / "kestra-sync.yaml").unlink()
    given = cli("init", "--namespace", "company.team", "--flows-path", "pipelines")
    assert given.exit_code == 0 and "namespaces:\n  - company.team\n" in (empty.root / "kestra-sync.yaml").read_text()
    assert (empty.root / "pipelines").is_dir()
    (empty.root / "kestra-sync.yaml").unlink()
    bad = cli("init", "--namespace", "Not A Namespace")
    assert bad.exit_code == 1 and "'Not A Namespace' is not a valid Kestra namespace" in bad.stderr
    assert not (empty.root / "kestra-sync.yaml").exists()


def test_nothing_to_pull_without_namespaces(empty, cli):
    assert cli("init", env={"KESTRA_URL": ""}).exit_code == 0
    result = cli("pull", "--auto-approve")
    assert result.exit_code == 1 and "nothing to pull: list the namespaces this repository owns" in result.stderr

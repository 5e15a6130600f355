"""817 real flow files written by others (../shared/corpus/flows): every flow the scanner accepts
applies byte for byte and then plans clean; every file it rejects gets a located error."""

from __future__ import annotations

import re
import shutil

import pytest

from support import CORPUS
from kestrasync.kinds.flows.parse import parse_file

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/flows is not present")


def read_flow_file(path):
    """(flows, problems) of one file, as the scanner reads it."""
    return parse_file(path.read_bytes(), str(path))[1]


def corpus_files():
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def test_every_rejected_file_has_a_located_error(monkeypatch, cli):
    monkeypatch.chdir(CORPUS.parent)
    result = cli("validate", "--offline", "flows")
    rejected = {str(p.relative_to(CORPUS.parent)) for p in corpus_files() if read_flow_file(p)[1]}
    assert result.exit_code == 1
    located = set(re.findall(r"^(flows/\S+?\.ya?ml):\d+:\d+: ", result.stderr, re.MULTILINE))
    assert rejected <= located
    assert rejected, "the corpus holds known-invalid files"


def accepted(probe, server):
    """(corpus file, its flows) of every file whose flows the scanner accepts for the server's version
    (a 2.0 server refuses the 1.x-era ones) and the server's validation takes (Kestra refuses some of
    the corpus: its own invalid fixtures, a core task's unknown property); each flow once."""
    seen = set()
    v2 = server.config.kestra_version.startswith("2")
    for path in corpus_files():
        flows, errors = read_flow_file(path)
        if errors or any(f.key in seen for f in flows) or (v2 and any(f.caveats for f in flows)):
            continue
        if any(probe.refuses(f.content) for f in flows):
            continue
        seen.update(f.key for f in flows)
        yield path, flows


def test_every_accepted_flow_applies_byte_exact_and_plans_clean(repo, cli, probe, server):
    expected = {}
    for path, flows in accepted(probe, server):
        target = repo.root / "flows" / path.relative_to(CORPUS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        expected.update({str(f.key): f.content for f in flows})
    namespaces = sorted({key.split("/")[0] for key in expected})
    repo.config(f"flows:\n  paths: [flows]\nnamespaces: [{', '.join(namespaces)}]\n")

    applied = cli("apply", "--auto-approve", "--parallelism", "16")
    assert applied.exit_code == 0, applied.output[-3000:]
    state = probe.flows()
    assert {key: source for key, (_, source) in state.items()} == expected
    replan = cli("plan", "--detailed-exitcode")
    assert replan.exit_code == 0, replan.output[-3000:]
    assert f"No changes. {len(expected)} flow(s) match the server." in replan.stdout


def test_a_pulled_repository_of_the_corpus_plans_clean(repo, cli, probe, server):
    """The corpus on a server that holds it (made there, not by kestra-sync): init, pull, then a plan
    with no changes, every flow's file byte for byte the server's text (but Kestra's own `system`
    namespace's, which init does not suggest owning)."""
    sources = {str(f.key): f.content for _, flows in accepted(probe, server) for f in flows}
    for source in sources.values():
        probe.create(source)
    expected = {key: source for key, source in sources.items() if not key.startswith("system/")}
    (repo.root / "kestra-sync.yaml").unlink()
    assert cli("init").exit_code == 0
    pulled = cli("pull", "--auto-approve", "--parallelism", "16")
    assert pulled.exit_code == 0, pulled.output[-3000:]
    assert f"Pull complete: {len(expected)} file(s) written." in pulled.stdout
    for key, source in expected.items():
        namespace, flow_id = key.split("/")
        assert (repo.root / "flows" / namespace / f"{flow_id}.yaml").read_text() == source
    replan = cli("plan", "--detailed-exitcode")
    assert replan.exit_code == 0, replan.output[-3000:]
    assert f"No changes. {len(expected)} flow(s) match the server." in replan.stdout

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


def test_every_accepted_flow_applies_byte_exact_and_plans_clean(repo, cli, probe, server):
    """Every flow the scanner accepts for the server's version (a 2.0 server refuses the 1.x-era ones)
    and the server's validation takes (Kestra refuses some of the corpus: its own invalid fixtures,
    a core task's unknown property)."""
    seen = set()
    expected = {}
    v2 = server.config.kestra_version.startswith("2")
    for path in corpus_files():
        flows, errors = read_flow_file(path)
        if errors or any(f.key in seen for f in flows) or (v2 and any(f.caveats for f in flows)):
            continue
        if any(probe.refuses(f.content) for f in flows):
            continue
        seen.update(f.key for f in flows)
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

"""The planner alone: pure values in, a Plan out (no server, no files)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from support import flow_yaml
from kestrasync import kinds
from kestrasync.errors import PlanRefused
from kestrasync.kinds.base import Update
from kestrasync.model import Action, Detail, Key, KindInfo, Local, Remote, SourceLocation, UpdateKind
from kestrasync.planner import Ownership, PlanOptions, PruneOptions, make_plan


def flow(namespace: str, name: str, references: tuple[Key, ...] = (), **text) -> Local:
    return Local(Key("flow", namespace, name), flow_yaml(namespace, name, **text), SourceLocation(f"flows/{name}.yml"), references)


def remote(local: Local, version: int = 1, **text) -> Remote:
    content = flow_yaml(local.key.namespace, local.key.name, **text) if text else local.content
    return Remote(local.key, content, version)


def plan(local, remote_flows, **options):
    options.setdefault("ownership", Ownership(prefixes=("company",)))
    return make_plan(local, {r.key: r for r in remote_flows}, PlanOptions(**options), server="http://kestra", tenant="main")


def test_unchanged_created_updated_and_their_details():
    same, changed, new = flow("company", "same"), flow("company", "changed"), flow("company", "new")
    result = plan([same, changed, new], [remote(same), remote(changed, 4, message="old")])
    assert [(c.action, c.key.name) for c in result.changes] == [(Action.UPDATE, "changed"), (Action.CREATE, "new")]
    update, create = result.changes
    assert update.update_kind is UpdateKind.SEMANTIC and update.version_before == 4
    assert update.summary == (Detail("changed", "task", "log", ("message",)),)
    assert create.summary == (Detail("new flow"),)
    assert result.unchanged == {"flow": 1}
    assert result.counts() == {"create": 1, "update": 1, "delete": 0, "unchanged": 1}


def test_the_no_op_rule_ignores_the_first_revision_line_only():
    local = flow("company", "a")
    assert plan([local], [Remote(local.key, "revision: 7\n" + local.content, 7)]).changes == ()
    cosmetic = plan([local], [Remote(local.key, "# a comment\n" + local.content, 7)]).changes[0]
    assert cosmetic.update_kind is UpdateKind.COSMETIC
    assert cosmetic.summary == (Detail("comments, formatting or key order only"),)


def test_writes_go_after_what_they_reference_and_deletes_before():
    child = flow("company", "zz_child")
    caller = flow("company", "caller", references=(child.key,))
    result = plan([child, caller], [])
    assert [c.key.name for c in result.changes] == ["zz_child", "caller"]
    assert result.changes[1].depends_on == (child.key,)


def test_a_reference_cycle_still_orders_every_change_once():
    a = flow("company", "a", references=(Key("flow", "company", "b"),))
    b = flow("company", "b", references=(a.key,))
    result = plan([a, b], [])
    assert [c.key.name for c in result.changes] == ["a", "b"]
    assert result.changes[0].depends_on == () and result.changes[1].depends_on == (a.key,)


def test_prune_is_opt_in_bounded_and_never_empties_a_namespace():
    keep, gone = flow("company", "keep"), flow("company", "gone")
    assert plan([keep], [remote(keep), remote(gone)]).changes == ()
    pruned = plan([keep], [remote(keep), remote(gone)], prune=PruneOptions(enabled=True))
    assert [(c.action, c.key.name) for c in pruned.changes] == [(Action.DELETE, "gone")]
    with pytest.raises(PlanRefused, match="Prune would delete 1 flows, more than max_deletes \\(0\\)"):
        plan([keep], [remote(keep), remote(gone)], prune=PruneOptions(enabled=True, max_deletes=0))
    with pytest.raises(PlanRefused, match="every flow of namespace 'company'"):
        plan([], [remote(keep)], prune=PruneOptions(enabled=True))
    protected = flow("system", "kept")
    options = dict(ownership=Ownership(prefixes=("company", "system")), prune=PruneOptions(enabled=True, allow_empty=True))
    assert plan([], [remote(protected)], **options).changes == ()


def test_a_file_outside_the_owned_namespaces_is_refused_where_it_is():
    with pytest.raises(PlanRefused, match="flows/x.yml:1:1: flow other/x is outside the namespaces this repository owns"):
        plan([flow("other", "x")], [])


def test_selection_by_namespace_and_target():
    a, b = flow("company.a", "one"), flow("company.b", "two")
    assert [c.key for c in plan([a, b], [], selected_namespaces=("company.b",)).changes] == [b.key]
    assert [c.key for c in plan([a, b], [], targets=frozenset({a.key})).changes] == [a.key]


@dataclass(frozen=True)
class NoteKind:
    """A second kind, of texts compared as they are, ranked before flows (as files are)."""

    info = KindInfo(name="note", noun="note", plural="notes", rank=10, files="note files")

    def same(self, local, remote):
        return local.content == remote.content

    def describe(self, local, remote):
        return Update(UpdateKind.SEMANTIC, (Detail("rewritten"),), "")

    def references(self, remote):
        return ()


@pytest.fixture
def with_notes(monkeypatch):
    kind = NoteKind()
    monkeypatch.setitem(kinds.KINDS, kind.info.name, kind)
    return kind


def note(namespace: str, name: str) -> Local:
    return Local(Key("note", namespace, name), "text", SourceLocation(f"notes/{name}"))


def test_kinds_are_written_by_rank_and_deleted_in_reverse(with_notes):
    """A flow reads a note: notes are written first and deleted last, whatever the names."""
    old_note, old_flow = note("company", "aa"), flow("company", "zz")
    result = plan(
        [note("company", "new"), flow("company", "new"), note("company", "keep"), flow("company", "keep")],
        [Remote(old_note.key, "x", "h1"), remote(old_flow), Remote(Key("note", "company", "keep"), "text", "h2"), remote(flow("company", "keep"))],
        prune=PruneOptions(enabled=True),
    )
    assert [(c.action.verb, c.key.kind, c.key.name) for c in result.changes] == [
        ("create", "note", "new"),
        ("create", "flow", "new"),
        ("delete", "flow", "zz"),
        ("delete", "note", "aa"),
    ]
    assert [info.name for info in result.kinds] == ["note", "flow"]
    assert result.unchanged == {"note": 1, "flow": 1}


def test_prune_guardrails_count_each_kind_apart(with_notes):
    flows = [remote(flow("company", f"f{n}")) for n in range(3)]
    notes = [Remote(Key("note", "company", f"n{n}"), "x", "h") for n in range(3)]
    keep = [flow("company", "keep"), note("company", "keep")]
    survivors = [remote(keep[0]), Remote(keep[1].key, "text", "h")]
    result = plan(keep, flows + notes + survivors, prune=PruneOptions(enabled=True, max_deletes=3))
    assert result.count(Action.DELETE, "flow") == 3 and result.count(Action.DELETE, "note") == 3
    with pytest.raises(PlanRefused, match="Prune would delete 3 notes, more than max_deletes \\(2\\)"):
        plan(keep, flows[:2] + notes + survivors, prune=PruneOptions(enabled=True, max_deletes=2))

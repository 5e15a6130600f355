"""The renderers and the plan file, from values alone: golden files for each format, and a round
trip of any plan through its JSON form. Regenerate the golden files with KESTRA_SYNC_GOLDEN=write."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import flow_yaml, run
from kestrasync.model import (
    ApplyReport, ApplyResult, Change, Detail, Diagnostic, Key, Local, Plan, Remote, ResultStatus, Severity, SourceLocation,
    Unmanaged,
)
from kestrasync.planfile import plan_from_dict, plan_to_dict
from kestrasync.planner import Ownership, PlanOptions, PruneOptions, make_plan
from kestrasync.render import json as json_render
from kestrasync.render import markdown, text

GOLDEN = Path(__file__).parent / "golden"


def local(name: str, **text) -> Local:
    return Local(Key("flow", "company.team", name), flow_yaml("company.team", name, **text), SourceLocation(f"flows/{name}.yml"))


def sample_plan() -> Plan:
    new, semantic, cosmetic = local("new"), local("etl", message="v2"), local("report")
    remote = {
        semantic.key: Remote(semantic.key, flow_yaml("company.team", "etl"), 4),
        cosmetic.key: Remote(cosmetic.key, "# old comment\n" + cosmetic.content, 2),
        Key("flow", "company.team", "legacy"): Remote(Key("flow", "company.team", "legacy"), flow_yaml("company.team", "legacy"), 7),
    }
    options = PlanOptions(Ownership(prefixes=("company",)), prune=PruneOptions(enabled=True))
    plan = make_plan([new, semantic, cosmetic], remote, options, server="http://kestra:8080", tenant="main", created_at="2026-12-01T00:00:00+00:00")
    warning = Diagnostic(Severity.WARNING, "The subflow 'x' not found in namespace 'company'.", new.key, new.location)
    unmanaged = (Unmanaged(Key("flow", "company.team", "etl_old"), Key("flow", "company.team", "new"), ("trigger `nightly` (Schedule)",)),
                 Unmanaged(Key("flow", "company.team", "from_ui")))
    return replace(plan, diagnostics=(warning,), kestra="1.0.0 OSS", unmanaged=unmanaged)


def sample_report(plan: Plan) -> ApplyReport:
    update, create, cosmetic, delete = plan.changes
    return ApplyReport((
        ApplyResult(update, ResultStatus.APPLIED, 5, seconds=0.034),
        ApplyResult(create, ResultStatus.APPLIED, 1, seconds=0.012),
        ApplyResult(cosmetic, ResultStatus.FAILED, message="flows/report.yml:1:1: The Kestra server answered 422", seconds=0.02),
        ApplyResult(delete, ResultStatus.SKIPPED, message="not attempted"),
    ), kinds=plan.kinds)


def golden(name: str, rendered: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KESTRA_SYNC_GOLDEN") == "write":
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8"), f"{name} differs; KESTRA_SYNC_GOLDEN=write rewrites it"


@pytest.mark.parametrize(
    "name, render",
    [
        ("plan.txt", lambda plan: text.render_plan(plan)),
        ("plan-diffs.txt", lambda plan: text.render_plan(plan, diffs=True)),
        ("plan.md", markdown.render_plan),
        ("plan.json", json_render.render_plan),
        ("report.txt", lambda plan: text.render_report(sample_report(plan))),
        ("report.json", lambda plan: json_render.render_report(sample_report(plan))),
    ],
)
def test_golden(name, render):
    golden(name, render(sample_plan()))


def test_the_plan_survives_its_json_form():
    plan = sample_plan()
    assert plan_from_dict(json.loads(json_render.render_plan(plan))) == plan


names = st.from_regex(r"[a-z][a-z0-9_.-]{0,12}", fullmatch=True)
namespaces = st.from_regex(r"[a-z][a-z0-9]{0,5}(\.[a-z][a-z0-9]{0,5}){0,2}", fullmatch=True)
keys = st.builds(Key, st.just("flow"), namespaces, names)
contents = st.one_of(st.text(), st.binary())
locations = st.builds(SourceLocation, st.text(min_size=1), st.integers(1, 10**6), st.integers(1, 500))
details = st.builds(Detail, st.text(min_size=1), st.none() | st.text(), st.none() | st.text(), st.lists(st.text()).map(tuple))
versions = st.one_of(st.integers(1, 10**9), st.text(min_size=1))


@st.composite
def changes(draw) -> Change:
    from kestrasync.model import Action, UpdateKind

    key = draw(keys)
    action = draw(st.sampled_from(Action))
    before = Remote(key, draw(contents), draw(versions)) if action is not Action.CREATE else None
    after = Local(key, draw(contents), draw(locations), tuple(draw(st.lists(keys, max_size=3)))) if action is not Action.DELETE else None
    update_kind = draw(st.sampled_from(UpdateKind)) if action is Action.UPDATE else None
    return Change(action, key, before, after, update_kind, tuple(draw(st.lists(details, max_size=3))), draw(st.text()),
                  tuple(draw(st.lists(keys, max_size=3))))


diagnostics = st.builds(Diagnostic, st.sampled_from(Severity), st.text(), st.none() | keys, st.none() | locations)


@settings(max_examples=200, deadline=None)
@given(
    changes=st.lists(changes(), max_size=6),
    unchanged=st.integers(0, 10**6),
    skipped=st.lists(keys, max_size=3),
    found=st.lists(diagnostics, max_size=3),
    scope=st.lists(namespaces, max_size=3),
)
def test_any_plan_round_trips_through_the_plan_file_format(changes, unchanged, skipped, found, scope):
    from kestrasync.kinds import FLOWS

    plan = Plan("http://k", "main", tuple(scope), (FLOWS.info,), tuple(changes), {"flow": unchanged}, "2.0.3 OSS", True,
                tuple(skipped), tuple(found), "2026-12-01T00:00:00+00:00")
    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(plan)))) == plan


def test_a_plan_file_of_format_1_0_is_refused_with_a_sentence(repo):
    (repo.root / "old.json").write_text(json.dumps({"format_version": "1.0", "kind": "kestra-sync/plan", "changes": []}))
    result = run("apply", "old.json", env={"KESTRA_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1
    assert "old.json has plan format '1.0'; this kestra-sync reads '2.0'. Make the plan again" in result.stderr


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda plan: plan["changes"][0].update(key="nsfile:company.team/etl", kind="nsfile"), "a change of a kind the plan does not list"),
        (lambda plan: plan["changes"][0].update(kind="nsfile"), "kind (it differs"),
        (lambda plan: plan.update(kinds=["nsfile"]), "this kestra-sync knows no kind 'nsfile'"),
        (lambda plan: plan.update(kinds=[]), "a change of a kind the plan does not list"),
    ],
)
def test_a_plan_file_of_unknown_kinds_is_refused_before_anything(repo, edit, field):
    plan = plan_to_dict(sample_plan())
    edit(plan)
    (repo.root / "edited.json").write_text(json.dumps(plan))
    result = run("apply", "edited.json", env={"KESTRA_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "edited.json is damaged: missing or bad field" in result.stderr and field in result.stderr, result.stderr

"""The versioned JSON form of plans, apply reports and errors (documented in README, "JSON output").

A plan's JSON is the saved plan file's format, owned by kestrasync.planfile, so what `plan --format
json` prints can be applied.
"""

from __future__ import annotations

from kestrasync.model import ApplyReport, FileWrite, Plan, PullPlan
from kestrasync.planfile import diagnostic_to_dict, dumps, error_to_dict, plan_to_dict, report_to_dict


def render_plan(plan: Plan) -> str:
    return dumps(plan_to_dict(plan))


def render_report(report: ApplyReport) -> str:
    return dumps(report_to_dict(report))


def render_error(message: str) -> str:
    return dumps(error_to_dict(message), indent=None)  # one line: it ends a stream of output


PULL_TYPE = "kestra-sync/pull"


def render_pull(plan: PullPlan, written: list[FileWrite] | None = None) -> str:
    """A pull's plan, and what it wrote (`written`: null for a dry run or a refused pull)."""
    return dumps({
        "type": PULL_TYPE,
        "server": plan.server,
        "tenant": plan.tenant,
        "scope": list(plan.scope),
        "kinds": [info.name for info in plan.kinds],
        "summary_line": plan.summary_line(),
        "writes": [{"path": w.shown, "action": w.action.verb, "resources": [k.qualified for k in w.keys], "conflict": bool(w.conflict)}
                   for w in plan.writes],
        "unchanged": dict(plan.unchanged),
        "missing": [key.qualified for key in plan.missing],
        "diagnostics": [diagnostic_to_dict(d) for d in plan.diagnostics],
        "written": None if written is None else [w.shown for w in written],
    })

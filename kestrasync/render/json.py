"""The versioned JSON form of plans, apply reports and errors (documented in README, "JSON output").

A plan's JSON is the saved plan file's format, owned by kestrasync.planfile, so what `plan --format
json` prints can be applied.
"""

from __future__ import annotations

from kestrasync.model import ApplyReport, Plan
from kestrasync.planfile import dumps, error_to_dict, plan_to_dict, report_to_dict


def render_plan(plan: Plan) -> str:
    return dumps(plan_to_dict(plan))


def render_report(report: ApplyReport) -> str:
    return dumps(report_to_dict(report))


def render_error(message: str) -> str:
    return dumps(error_to_dict(message), indent=None)  # one line: it ends a stream of output

"""The versioned JSON form of plans and apply reports (documented in README, "JSON output").

`plan_to_dict` is also the saved plan file's format (kestrasync.planfile), so what `plan --format
json` prints can be applied. Bump PLAN_FORMAT_VERSION on any incompatible change.
"""

from __future__ import annotations

import json

from kestrasync.model import PLAN_FORMAT_VERSION, ApplyReport, Change, Diagnostic, Plan, ResultStatus
from kestrasync.render.common import report_line, summary_line


def change_to_dict(change: Change) -> dict:
    return {
        "action": change.action.verb,
        "flow": str(change.key),
        "namespace": change.key.namespace,
        "id": change.key.id,
        "kind": change.kind.value if change.kind else None,
        "summary": list(change.summary),
        "revision_before": change.revision_before,
        "file": change.after.location.path if change.after else None,
        "line": change.after.location.line if change.after else None,
        "depends_on": [str(k) for k in change.depends_on],
        "references": [str(k) for k in change.after.references] if change.after else [],
        "source": change.after.source if change.after else None,
        "server_source": change.before.source if change.before else None,
        "diff": change.diff,
    }


def diagnostic_to_dict(diagnostic: Diagnostic) -> dict:
    return {
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "flow": str(diagnostic.key) if diagnostic.key else None,
        "file": diagnostic.location.path if diagnostic.location else None,
        "line": diagnostic.location.line if diagnostic.location else None,
    }


def plan_to_dict(plan: Plan) -> dict:
    return {
        "format_version": plan.format_version,
        "kind": "kestra-sync/plan",
        "server": plan.server,
        "tenant": plan.tenant,
        "scope": list(plan.scope),
        "created_at": plan.created_at,
        "prune": plan.prune,
        "has_changes": plan.has_changes,
        "summary": plan.counts,
        "summary_line": summary_line(plan),
        "changes": [change_to_dict(c) for c in plan.changes],
        "skipped_cosmetic": [str(k) for k in plan.skipped_cosmetic],
        "diagnostics": [diagnostic_to_dict(d) for d in plan.diagnostics],
    }


def report_to_dict(report: ApplyReport) -> dict:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "kind": "kestra-sync/apply-report",
        "ok": report.ok,
        "interrupted": report.interrupted,
        "summary": {s.value: len(report.with_status(s)) for s in ResultStatus},
        "summary_line": report_line(report),
        "results": [
            {
                "action": r.change.action.verb,
                "flow": str(r.change.key),
                "status": r.status.value,
                "revision_before": r.change.revision_before,
                "revision_after": r.revision_after,
                "seconds": round(r.seconds, 4),
                "message": r.message,
            }
            for r in report.results
        ],
    }


def render_plan(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def render_report(report: ApplyReport) -> str:
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"


def render_error(message: str) -> str:
    return json.dumps({"format_version": PLAN_FORMAT_VERSION, "kind": "kestra-sync/error", "error": message}) + "\n"

"""Phrases every renderer shares; the summary line is a public contract (CI logs grep it)."""

from __future__ import annotations

from kestrasync.model import Action, ApplyReport, ApplyResult, Change, Plan, ResultStatus, UpdateKind


def summary_line(plan: Plan) -> str:
    """`Plan: 1 to create, 2 to update (1 cosmetic), 0 to delete, 5 unchanged.`"""
    if not plan.has_changes:
        return f"No changes. {plan.unchanged} flow(s) match the server."
    cosmetic = plan.count(Action.UPDATE, UpdateKind.COSMETIC)
    updates = f"{plan.count(Action.UPDATE)} to update" + (f" ({cosmetic} cosmetic)" if cosmetic else "")
    return (
        f"Plan: {plan.count(Action.CREATE)} to create, {updates}, "
        f"{plan.count(Action.DELETE)} to delete, {plan.unchanged} unchanged."
    )


def report_line(report: ApplyReport) -> str:
    counts = {s: len(report.with_status(s)) for s in ResultStatus}
    head = "Apply interrupted" if report.interrupted else ("Apply complete" if report.ok else "Apply failed")
    return (
        f"{head}: {counts[ResultStatus.APPLIED]} applied, {counts[ResultStatus.FAILED]} failed, "
        f"{counts[ResultStatus.SKIPPED]} not attempted."
    )


def change_diff(change: Change) -> str:
    """A unified diff for any change: creates and deletes show the whole text added or removed."""
    if change.action is Action.UPDATE:
        return change.diff
    if change.action is Action.CREATE:
        header = f"--- /dev/null\n+++ {change.after.location.path}\n"
        return header + _prefixed(change.after.source, "+")
    header = f"--- {change.key} (server rev {change.before.revision})\n+++ /dev/null\n"
    return header + _prefixed(change.before.source, "-")


def _prefixed(text: str, sign: str) -> str:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
        tail = ""
    else:
        tail = "\\ No newline at end of file\n"
    return "".join(f"{sign}{line}\n" for line in lines) + tail


def revisions(result: ApplyResult) -> str:
    """`4 → 5`, `– → 1` (created), `7 → –` (deleted), `4` (not written)."""
    before = result.change.revision_before
    shown_before = "–" if before is None else str(before)
    if result.status is not ResultStatus.APPLIED:
        return shown_before
    after = "–" if result.revision_after is None else str(result.revision_after)
    return f"{shown_before} → {after}"


def change_detail(change: Change) -> str:
    """One line on why a flow changes: its kind and summary."""
    summary = "; ".join(change.summary)
    return f"{change.kind.value}: {summary}" if change.kind else summary


PAST_TENSE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}

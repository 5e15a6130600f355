"""Phrases every renderer shares; the summary line is a public contract (CI logs grep it)."""

from __future__ import annotations

import hashlib

from kestrasync.model import Action, ApplyReport, ApplyResult, Change, Content, KindInfo, Plan, ResultStatus, UpdateKind, version_text


def summary_line(plan: Plan) -> str:
    """`Plan: 1 to create, 2 to update (1 cosmetic), 0 to delete, 5 unchanged.`, over every kind."""
    if not plan.has_changes:
        matching = " and ".join(f"{plan.unchanged.get(info.name, 0)} {info.noun}(s)" for info in plan.kinds)
        return f"No changes. {matching or 'Nothing'} match the server."
    return f"Plan: {_counts(plan, None)}."


def kind_lines(plan: Plan) -> list[str]:
    """One line per kind (`Flows: 1 to create, ...`), when the plan covers more than one."""
    if len(plan.kinds) < 2:
        return []
    return [f"{info.plural.capitalize()}: {_counts(plan, info.name)}." for info in plan.kinds]


def _counts(plan: Plan, kind: str | None) -> str:
    counts = plan.counts(kind)
    cosmetic = plan.count(Action.UPDATE, kind, UpdateKind.COSMETIC)
    updates = f"{counts['update']} to update" + (f" ({cosmetic} cosmetic)" if cosmetic else "")
    return f"{counts['create']} to create, {updates}, {counts['delete']} to delete, {counts['unchanged']} unchanged"


def report_line(report: ApplyReport) -> str:
    counts = {s: len(report.with_status(s)) for s in ResultStatus}
    head = "Apply interrupted" if report.interrupted else ("Apply complete" if report.ok else "Apply failed")
    return (
        f"{head}: {counts[ResultStatus.APPLIED]} applied, {counts[ResultStatus.FAILED]} failed, "
        f"{counts[ResultStatus.SKIPPED]} not attempted."
    )


def grouped(plan: Plan) -> list[tuple[KindInfo, bool, list[Change]]]:
    """(kind, deletes?, changes) in the order apply takes them: writes by kind, then deletes."""
    groups = []
    for deleting, infos in ((False, plan.kinds), (True, tuple(reversed(plan.kinds)))):
        for info in infos:
            changes = [c for c in plan.changes if c.key.kind == info.name and (c.action is Action.DELETE) == deleting]
            if changes:
                groups.append((info, deleting, changes))
    return groups


def change_diff(change: Change) -> str:
    """A diff for any change: creates and deletes show the whole content added or removed."""
    if change.action is Action.UPDATE:
        return change.diff
    if change.action is Action.CREATE:
        return f"--- /dev/null\n+++ {change.after.location.path}\n" + _body(change.after.content, "+")
    return f"--- {change.key} (server {version_text(change.version_before)})\n+++ /dev/null\n" + _body(change.before.content, "-")


def _body(content: Content, sign: str) -> str:
    if isinstance(content, bytes):
        return f"{sign}(binary, {len(content):,} bytes, sha256 {hashlib.sha256(content).hexdigest()[:12]})\n"
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
        tail = ""
    else:
        tail = "\\ No newline at end of file\n"
    return "".join(f"{sign}{line}\n" for line in lines) + tail


def versions(result: ApplyResult) -> str:
    """`4 → 5`, `– → 1` (created), `7 → –` (deleted), `4` (not written)."""
    before = result.change.version_before
    shown_before = "–" if before is None else str(before)
    if result.status is not ResultStatus.APPLIED:
        return shown_before
    after = "–" if result.version_after is None else str(result.version_after)
    return f"{shown_before} → {after}"


def change_detail(change: Change) -> str:
    """One line on why a resource changes: its update kind and summary."""
    summary = "; ".join(map(str, change.summary))
    return f"{change.update_kind.value}: {summary}" if change.update_kind else summary

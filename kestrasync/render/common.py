"""Phrases every renderer shares (the summary lines are the plan's and the report's own: model.py)."""

from __future__ import annotations

import hashlib

from kestrasync.model import Action, ApplyResult, Change, Content, FileWrite, KindInfo, Plan, ResultStatus, Unmanaged, as_text, version_text


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
    text = as_text(content)
    if text is None:
        return f"{sign}(binary, {len(content):,} bytes, sha256 {hashlib.sha256(content).hexdigest()[:12]})\n"
    lines = text.split("\n")
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


def renamed_notes(plan: Plan) -> list[str]:
    """One sentence per resource left on the server that a create looks like, renamed."""
    return [_renamed(u) for u in plan.unmanaged if u.renamed_to is not None]


def _renamed(unmanaged: Unmanaged) -> str:
    still = f", its {', '.join(unmanaged.active)} still active" if unmanaged.active else ""
    return (f"{unmanaged.key} looks renamed to {unmanaged.renamed_to} (the same but for its name): "
            f"the old one stays on the server{still}; --prune deletes it")


def resources(write: FileWrite, plan_kinds: tuple[KindInfo, ...]) -> str:
    """`flow company.team/etl, flow company.team/load`: what a file write adopts, updates or drops."""
    nouns = {info.name: info.noun for info in plan_kinds}
    return ", ".join(f"{nouns.get(key.kind, key.kind)} {key}" for key in write.keys)

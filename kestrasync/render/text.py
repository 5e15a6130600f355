"""Plans and apply reports for a terminal, Terraform-style, in colour when asked."""

from __future__ import annotations

from kestrasync.model import Action, ApplyReport, ApplyResult, Diagnostic, FileWrite, Plan, PullPlan, ResultStatus, Severity, version_text
from kestrasync.render.common import change_detail, change_diff, grouped, renamed_notes, resources, versions

_CODES = {"green": "32", "yellow": "33", "red": "31", "cyan": "36", "bold": "1", "dim": "2"}
_ACTION_COLORS = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}


def paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_CODES[style]}m{text}\x1b[0m" if color and text else text


def colored_diff(diff: str, color: bool) -> str:
    if not color:
        return diff
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(paint(line, "bold", True))
        elif line.startswith("+"):
            out.append(paint(line, "green", True))
        elif line.startswith("-"):
            out.append(paint(line, "red", True))
        elif line.startswith("@@"):
            out.append(paint(line, "cyan", True))
        else:
            out.append(line)
    return "".join(out)


def render_plan(plan: Plan, *, color: bool = False, diffs: bool = False) -> str:
    """The plan: writes per kind, then deletes set apart, then warnings and the summary line."""
    server = f"tenant {plan.tenant}" + (f", Kestra {plan.kestra}" if plan.kestra else "") + (
        f", environment {plan.environment}" if plan.environment else "")
    lines = [paint(f"kestra-sync plan for {plan.server} ({server})", "bold", color)]
    lines.append(f"Namespaces: {', '.join(plan.scope) or '(none)'}")
    for info, deleting, changes in grouped(plan):
        title = f"{info.plural.capitalize()} to DELETE (prune):" if deleting else f"{info.plural.capitalize()} to write:"
        lines += ["", paint(title, "red" if deleting else "bold", color)]
        for change in changes:
            style = _ACTION_COLORS[change.action]
            where = change.after.location.path if change.after else "(no file)"
            version = f" (server {version_text(change.version_before)})" if change.before else ""
            lines.append(f"  {paint(change.action.value, style, color)} {paint(str(change.key), style, color)}  {where}{version}")
            lines.append(f"      {change_detail(change)}")
            if diffs and (diff := change_diff(change)):  # no diff: the detail line said it all
                lines.append(_indent(colored_diff(diff, color), "      "))
    if plan.skipped_cosmetic:
        lines += ["", f"Cosmetic updates skipped (--ignore-cosmetic): {', '.join(map(str, plan.skipped_cosmetic))}"]
    lines += render_diagnostics(plan.diagnostics, color)
    if plan.unmanaged:
        lines += ["", *(paint(line, "yellow", color) for line in plan.unmanaged_lines())]
        lines += [f"  {note}" for note in renamed_notes(plan)]
    lines += ["", *plan.kind_lines(), paint(plan.summary_line(), "bold", color)]
    return "\n".join(lines) + "\n"


def render_diagnostics(diagnostics: tuple[Diagnostic, ...], color: bool) -> list[str]:
    if not diagnostics:
        return []
    lines = ["", paint("Warnings:", "bold", color)]
    for diagnostic in diagnostics:
        style = "red" if diagnostic.severity is Severity.ERROR else "yellow"
        lines.append(f"  {paint(diagnostic.severity.value, style, color)}: {diagnostic}")
    return lines


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line for line in text.splitlines(keepends=True)).rstrip("\n")


def render_report(report: ApplyReport, *, color: bool = False) -> str:
    """A results table: action, resource, version before → after, time, outcome. The columns are
    named in the kind's terms when all results are of one kind (FLOW, REVISION)."""
    names = {r.change.key.kind for r in report.results}
    mixed = len(names) > 1
    info = next((info for info in report.kinds if info.name in names), None)
    if mixed or info is None:
        rows = [("ACTION", "RESOURCE", "VERSION", "TIME", "RESULT")]
    else:
        rows = [("ACTION", info.noun.upper(), info.version.upper(), "TIME", "RESULT")]
    for result in report.results:
        key = result.change.key
        rows.append(
            (
                result.change.action.verb,
                f"{key.kind} {key}" if mixed else str(key),
                versions(result),
                f"{result.seconds * 1000:.0f} ms" if result.status is not ResultStatus.SKIPPED else "–",
                _outcome(result),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])] + [row[4]]
        line = "  ".join(cells).rstrip()
        if n == 0:
            line = paint(line, "bold", color)
        elif report.results[n - 1].status is ResultStatus.FAILED:
            line = paint(line, "red", color)
        lines.append(line)
    if not report.results:
        lines = ["Nothing to apply."]
    style = "green" if report.ok else "red"
    return "\n".join(lines + ["", paint(report.summary_line(), style, color)]) + "\n"


def render_outcome(report: ApplyReport, *, color: bool = False) -> str:
    """What follows the results told line by line: the failures again (a long run scrolls them
    away), then the verdict."""
    lines = [paint(f"Failed: {r.change.action.verb} {r.change.key}: {r.message}", "red", color) for r in report.with_status(ResultStatus.FAILED)]
    if not report.results:
        lines = ["Nothing to apply."]
    return "\n".join(["", *lines, *([""] if lines else []), paint(report.summary_line(), "green" if report.ok else "red", color)]) + "\n"


def _outcome(result: ApplyResult) -> str:
    if result.status is ResultStatus.FAILED:
        return f"FAILED: {result.message}"
    if result.status is ResultStatus.SKIPPED:
        return "not attempted"
    if result.change.action is Action.UPDATE and result.version_after == result.change.version_before:
        return "applied (server already had this content)"
    return "applied"


def render_result_line(result: ApplyResult, *, color: bool = False) -> str:
    """One line per change, for watch mode: `updated company.team/etl rev 4 → 5 (task x changed) 42 ms`."""
    change = result.change
    if result.status is ResultStatus.FAILED:
        return paint(f"failed to {change.action.verb} {change.key}: {result.message}", "red", color)
    if result.status is ResultStatus.SKIPPED:
        return f"not attempted: {change.action.verb} {change.key}"
    detail = "; ".join(map(str, change.summary))
    revisions = all(isinstance(v, (int, type(None))) for v in (change.version_before, result.version_after))
    text = f"{change.action.past} {change.key} {'rev ' if revisions else ''}{versions(result)} ({detail}) {result.seconds * 1000:.0f} ms"
    return paint(text, _ACTION_COLORS[change.action], color)


def render_would(change) -> str:
    """A change watch --dry-run would make."""
    return f"would {change.action.verb} {change.key} ({'; '.join(map(str, change.summary))}) [dry run]"


def render_pull(plan: PullPlan, *, color: bool = False, diffs: bool = False) -> str:
    """A pull's plan: the files it writes (with the diff of each file it overwrites or removes), the
    conflicts with uncommitted work, what it leaves, then the summary line."""
    lines = [paint(f"kestra-sync pull from {plan.server} (tenant {plan.tenant})", "bold", color),
             f"Namespaces: {', '.join(plan.scope)}"]
    if plan.writes:
        lines += ["", paint("Files to write:", "bold", color)]
        for write in plan.writes:
            style = _ACTION_COLORS[write.action]
            mark = " (CONFLICT: uncommitted changes)" if write.conflict else ""
            lines.append(f"  {paint(write.action.value, style, color)} {paint(write.shown, style, color)}  "
                         f"{resources(write, plan.kinds)}{paint(mark, 'red', color)}")
            if write.before is not None or diffs:
                lines.append(_indent(colored_diff(write.diff, color), "      "))
    if plan.conflicts:
        lines += ["", paint("Uncommitted changes the pull would overwrite (yours, against the last commit):", "red", color)]
        for write in plan.conflicts:
            lines += [f"  {write.shown}", _indent(colored_diff(write.conflict, color), "      ")]
    if plan.missing:
        keys = ", ".join(map(str, plan.missing))
        lines += ["", f"Declared by files but gone from the server (pull --prune removes them): {keys}"]
    lines += render_diagnostics(plan.diagnostics, color)
    lines += ["", paint(plan.summary_line(), "bold", color)]
    return "\n".join(lines) + "\n"


def render_pulled(written: list[FileWrite], *, color: bool = False) -> str:
    """What a pull wrote, a line per file."""
    lines = [f"{paint(w.action.past, _ACTION_COLORS[w.action], color)} {w.shown}" for w in written]
    return "\n".join(lines + [f"Pull complete: {len(written)} file(s) written."]) + "\n"

"""A plan as a pull-request comment: a summary table, then one collapsible diff per change; an
apply's results as a job summary.

GitHub refuses comments over 65,536 characters, so the output stays under LIMIT: the table takes at
most half of it, and the diffs that do not fit are left out, with notes saying how many and how to
see them.
"""

from __future__ import annotations

import re

from kestrasync.model import Action, ApplyReport, Plan, ResultStatus
from kestrasync.render.common import change_detail, change_diff, renamed_notes, versions

LIMIT = 60_000
_ICONS = {Action.CREATE: "🟢 create", Action.UPDATE: "🟡 update", Action.DELETE: "🔴 **delete**"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _tables(plan: Plan, budget: int) -> list[str]:
    """One table per kind (titled when there are several), rows in apply order, cut to `budget` characters."""
    lines, shown = [], 0
    for info in plan.kinds:
        changes = [c for c in plan.changes if c.key.kind == info.name]
        if not changes:
            continue
        if len(plan.kinds) > 1:
            lines += [f"**{info.plural.capitalize()}**", ""]
        lines += [f"| | {info.noun.capitalize()} | File | Server {info.version} | What changes |", "|---|---|---|---|---|"]
        for change in changes:
            file = f"`{change.after.location.path}`" if change.after else "–"
            version = str(change.version_before) if change.before else "–"
            row = f"| {_ICONS[change.action]} | `{change.key}` | {_cell(file)} | {version} | {_cell(change_detail(change))} |"
            budget -= len(row) + 1
            if budget < 0:
                lines += [f"\n_… and {len(plan.changes) - shown} more change(s): run `kestra-sync plan` to see them all._", ""]
                return lines
            lines.append(row)
            shown += 1
        lines.append("")
    return lines


def render_plan(plan: Plan, *, limit: int = LIMIT) -> str:
    head = [
        "### kestra-sync plan",
        "",
        f"Server `{plan.server}` · tenant `{plan.tenant}`" + (f" · Kestra {plan.kestra}" if plan.kestra else "")
        + (f" · environment **{plan.environment}**" if plan.environment else "")
        + f" · namespaces {', '.join(f'`{s}`' for s in plan.scope) or '(none)'}",
        "",
        f"**{plan.summary_line()}**",
        "",
    ]
    if plan.kind_lines():
        head += [*(f"- {line}" for line in plan.kind_lines()), ""]
    head += _tables(plan, limit // 2 - sum(len(line) + 1 for line in head))  # the tables take at most half
    for info in plan.kinds:
        deletes = plan.count(Action.DELETE, info.name)
        if deletes:
            head += [f"> [!WARNING]\n> This plan **deletes {deletes} {info.noun}(s)** from the server (prune).", ""]
    for diagnostic in plan.diagnostics:
        head.append(f"- ⚠️ {diagnostic.severity.value}: {_cell(str(diagnostic))}")
    if plan.diagnostics:
        head.append("")
    if plan.unmanaged:
        head += ["**Not managed by any file**", ""]
        head += [f"- {_cell(line)}" for line in (*plan.unmanaged_lines(), *renamed_notes(plan))] + [""]
    text = "\n".join(head)
    omitted = 0
    for change in plan.changes:
        diff = change_diff(change)
        fence = _fence(diff)
        # No diff (line endings only, binary content): the change's detail, not an empty code block.
        body = f"{fence}diff\n{diff}{'' if diff.endswith(chr(10)) else chr(10)}{fence}" if diff else _cell(change_detail(change))
        block = (
            f"<details><summary><code>{change.key}</code> ({change.action.verb}"
            f"{', ' + change.update_kind.value if change.update_kind else ''})</summary>\n\n{body}\n</details>\n"
        )
        if len(text) + len(block) + 400 > limit:
            omitted += 1
            continue
        text += "\n" + block
    if omitted:
        text += (
            f"\n_{omitted} diff(s) left out to keep this comment under {limit:,} characters; "
            "run `kestra-sync diff` to see every diff._\n"
        )
    return text


def render_error(command: str, message: str, *, limit: int = LIMIT) -> str:
    """A command that failed, as a comment: what it says, in a block that keeps its lines (cut to fit)."""
    if len(message) > limit - 200:
        message = message[: limit - 300] + "\n… (cut to fit a comment; the job's log has it all)"
    fence = _fence(message)
    return f"### kestra-sync {command} failed\n\n{fence}\n{message.rstrip()}\n{fence}\n"


_OUTCOMES = {ResultStatus.APPLIED: "✅ applied", ResultStatus.FAILED: "❌ **failed**", ResultStatus.SKIPPED: "⏭️ not attempted"}


def render_report(report: ApplyReport, *, limit: int = LIMIT) -> str:
    """An apply's results as a job summary or a comment: the verdict, then a row per result (failures
    first, with their messages), cut to stay under `limit`."""
    lines = ["### kestra-sync apply", "", f"**{report.summary_line()}**", ""]
    if not report.results:
        return "\n".join(lines[:2] + ["Nothing to apply.", ""])
    lines += ["| | Resource | Version | Time | Message |", "|---|---|---|---|---|"]
    ordered = sorted(report.results, key=lambda r: r.status is not ResultStatus.FAILED)
    budget = limit - sum(len(line) + 1 for line in lines) - 200
    for shown, result in enumerate(ordered):
        time = f"{result.seconds * 1000:.0f} ms" if result.status is not ResultStatus.SKIPPED else "–"
        row = (f"| {_OUTCOMES[result.status]} {result.change.action.verb} | `{result.change.key}` | {versions(result)} | {time} "
               f"| {_cell(result.message)} |")
        budget -= len(row) + 1
        if budget < 0:
            lines.append(f"\n_… and {len(ordered) - shown} more result(s)._")
            break
        lines.append(row)
    return "\n".join(lines) + "\n"

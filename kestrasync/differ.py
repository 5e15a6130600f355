"""(LocalFlow, RemoteFlow) -> Change: what differs, judged exactly as Kestra judges it. Pure; deepdiff lives here.

A flow is unchanged exactly when Kestra would keep its revision: the two texts are identical once the
first `revision: N` line is removed from each. Anything else is an update, and every update is
classed: semantic when the parsed flows differ (summarised in the flow's own terms: task `extract`
added, trigger `daily` changed), cosmetic when only comments, layout or key order do.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from kestrasync.model import Action, Change, LocalFlow, RemoteFlow, UpdateKind
from kestrasync.yamltext import parse_source

# Kestra's FlowInterface.sourceWithoutRevision: the first line `revision: <digits>` and its newline.
_REVISION_LINE = re.compile(r"^revision: [0-9]+\n?", re.MULTILINE)

# What an element of a list keyed by `id` is called, by the key holding the list.
_ELEMENT_NAMES = {
    "tasks": "task",
    "errors": "task",
    "finally": "task",
    "afterExecution": "task",
    "then": "task",
    "else": "task",
    "defaults": "task",
    "triggers": "trigger",
    "inputs": "input",
    "outputs": "output",
    "conditions": "condition",
}


def without_revision(source: str) -> str:
    return _REVISION_LINE.sub("", source, count=1)


def is_same_source(a: str, b: str) -> bool:
    """Kestra's no-op rule: saving `a` over `b` keeps the revision."""
    return a == b or without_revision(a) == without_revision(b)


def diff_flow(local: LocalFlow | None, remote: RemoteFlow | None) -> Change | None:
    """The change that makes the server hold `local`; None when nothing would change."""
    if local is None and remote is None:
        return None
    if remote is None:
        return Change(Action.CREATE, local.key, None, local, summary=("new flow",))
    if local is not None and is_same_source(local.source, remote.source):
        return None
    if remote.revision is None:  # only a flow the repository holds unchanged is read without it
        raise ValueError(f"{remote.key} differs from the repository but its revision was not read")
    if local is None:
        return Change(Action.DELETE, remote.key, remote, None, summary=("no file declares it",))
    kind, summary = classify(remote.source, local.source)
    diff = unified_diff(remote.source, local.source, f"{remote.key} (server rev {remote.revision})", str(local.location.path))
    return Change(Action.UPDATE, local.key, remote, local, kind=kind, summary=summary, diff=diff)


def classify(before: str, after: str) -> tuple[UpdateKind, tuple[str, ...]]:
    """Semantic or cosmetic, with a short summary of what changed."""
    old, new = parse_source(before), parse_source(after)
    if old is None:
        return UpdateKind.SEMANTIC, ("the server's source does not parse as YAML",)
    if isinstance(old, dict):
        old.pop("revision", None)
    if isinstance(new, dict):
        new.pop("revision", None)
    summary = tuple(_dedupe(summarize(old, new)))
    if summary:
        return UpdateKind.SEMANTIC, summary
    return UpdateKind.COSMETIC, (_cosmetic_reason(before, after),)


def _cosmetic_reason(before: str, after: str) -> str:
    if before.replace("\r\n", "\n") == after.replace("\r\n", "\n"):
        return "line endings only (CRLF/LF)"
    if before.rstrip() == after.rstrip():
        return "trailing whitespace or final newline only"
    return "comments, formatting or key order only"


class _ById(dict):
    """A list whose elements all have distinct ids, keyed by id so deepdiff compares like with like."""

    def __init__(self, items: dict, order: tuple[str, ...]):
        super().__init__(items)
        self.order = order


def _keyed(value):
    """Turn every list of mappings with distinct `id`s into a _ById, recursively."""
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()}
    if isinstance(value, list):
        ids = [str(item.get("id")) if isinstance(item, dict) and "id" in item else None for item in value]
        if value and None not in ids and len(set(ids)) == len(ids):
            return _ById({i: _keyed(item) for i, item in zip(ids, value)}, tuple(ids))
        return [_keyed(item) for item in value]
    return value


def summarize(before, after) -> Iterator[str]:
    """What changed between two parsed flows, phrased for a person who knows the flow."""
    from deepdiff import DeepDiff  # imported here: it costs a tenth of a second at every start

    old, new = _keyed(before), _keyed(after)
    diff = DeepDiff(old, new, ignore_order=False, view="tree", verbose_level=2)
    for category in (
        "dictionary_item_added",
        "dictionary_item_removed",
        "iterable_item_added",
        "iterable_item_removed",
        "values_changed",
        "type_changes",
    ):
        for level in diff.get(category, ()):
            path = level.path(output_format="list")
            whole = level.t2 if category.endswith("added") else level.t1
            if category.startswith("dictionary_item") and isinstance(whole, _ById) and path:
                # A whole list of tasks or triggers added or removed: name each element.
                kind, verb = _ELEMENT_NAMES.get(path[-1], "item"), category.rsplit("_", 1)[-1]
                yield from (f"{kind} `{element}` {verb}" for element in whole.order)
            else:
                yield _describe(old, new, path, category)
    yield from _reorders(old, new, ())


def _describe(old, new, path: list, category: str) -> str:
    """Name the innermost element (task, trigger, input...) the path goes through, then the property."""
    element, rest, node, parent_key = None, [], (new if category.endswith("added") else old), None
    for step in path:
        if isinstance(node, _ById):
            element, rest = (_ELEMENT_NAMES.get(parent_key, "item"), step), []
        else:
            rest.append(step)
        parent_key = step if isinstance(step, str) else parent_key
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
    if element is None:
        verb = {"dictionary_item_added": "added", "dictionary_item_removed": "removed"}.get(category, "changed")
        return f"`{_path_text(path)}` {verb}"
    kind, name = element
    if not rest:
        verb = "added" if category.endswith("added") else "removed" if category.endswith("removed") else "changed"
        return f"{kind} `{name}` {verb}"
    return f"{kind} `{name}` changed ({_path_text(rest)})"


def _path_text(path: list) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "flow"


def _reorders(old, new, path: tuple) -> Iterator[str]:
    """Keyed lists whose shared elements changed order (deepdiff cannot see order in a mapping)."""
    if isinstance(old, _ById) and isinstance(new, _ById):
        common = set(old.order) & set(new.order)
        if [i for i in old.order if i in common] != [i for i in new.order if i in common]:
            yield f"`{_path_text(list(path))}` reordered"
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() & new.keys():
            yield from _reorders(old[key], new[key], path + (key,))
    elif isinstance(old, list) and isinstance(new, list):
        for index, (a, b) in enumerate(zip(old, new)):
            yield from _reorders(a, b, path + (index,))


def _dedupe(lines: Iterator[str]) -> list[str]:
    """Unique lines, and one line per element: task `x` changed (a), task `x` changed (b) -> (a, b)."""
    merged: dict[str, list[str]] = {}
    for line in lines:
        head, sep, detail = line.partition(" changed (")
        if sep:
            merged.setdefault(head + " changed", []).append(detail[:-1])
        else:
            merged.setdefault(line, [])
    return [f"{head} ({', '.join(dict.fromkeys(parts))})" if parts else head for head, parts in merged.items()]


def unified_diff(before: str, after: str, before_name: str, after_name: str, context: int = 3) -> str:
    """A unified diff of two texts; a missing final newline is shown as git shows it."""
    lines = difflib.unified_diff(
        _lines(before), _lines(after), fromfile=before_name, tofile=after_name, n=context
    )
    return "".join(lines)


def _lines(text: str) -> list[str]:
    *complete, last = text.split("\n")
    lines = [line + "\n" for line in complete]
    if last:
        lines.append(last + "\n\\ No newline at end of file\n")
    return lines

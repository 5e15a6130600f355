"""What differs between two flow texts, judged exactly as Kestra judges it. Pure; deepdiff lives here.

A flow is unchanged exactly when Kestra would keep its revision: the two texts are identical once the
first `revision: N` line is removed from each. Anything else is an update, and every update is
classed: semantic when the parsed flows differ (summarised in the flow's own terms: task `extract`
added, trigger `daily` changed), cosmetic when only comments, layout or key order do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kestrasync.model import Detail, UpdateKind
from kestrasync.textdiff import TextChange
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
_CATEGORIES = (
    "dictionary_item_added",
    "dictionary_item_removed",
    "iterable_item_added",
    "iterable_item_removed",
    "values_changed",
    "type_changes",
)


def without_revision(source: str) -> str:
    return _REVISION_LINE.sub("", source, count=1)


_ID_LINE = re.compile(r"^id:[^\n]*\n?", re.MULTILINE)  # the flow's own id: top level, so at column 0


def without_id(source: str) -> str:
    """The source without its `id:` line: two flows that differ only there are one flow renamed."""
    return _ID_LINE.sub("", source, count=1)


def active_triggers(source: str) -> tuple[str, ...]:
    """The triggers that start a flow on their own ("trigger `daily` (Schedule)"): none when the flow
    or the trigger is disabled."""
    flow = parse_source(source)
    if not isinstance(flow, dict) or flow.get("disabled") is True or not isinstance(flow.get("triggers"), list):
        return ()
    return tuple(
        f"trigger `{trigger.get('id')}` ({str(trigger.get('type', '?')).rsplit('.', 1)[-1]})"
        for trigger in flow["triggers"]
        if isinstance(trigger, dict) and trigger.get("disabled") is not True
    )


def label(source: str, key: str) -> str | None:
    """A label's value (Kestra writes labels as a mapping or as a list of {key, value})."""
    labels = (parse_source(source) or {}).get("labels") if "labels" in source else None
    if isinstance(labels, dict):
        value = labels.get(key)
    elif isinstance(labels, list):
        value = next((item.get("value") for item in labels if isinstance(item, dict) and item.get("key") == key), None)
    else:
        value = None
    return None if value is None else str(value)


def is_same_source(a: str, b: str) -> bool:
    """Kestra's no-op rule: saving `a` over `b` keeps the revision."""
    return a == b or without_revision(a) == without_revision(b)


def classify(before: str, after: str, text: TextChange) -> tuple[UpdateKind, tuple[Detail, ...]]:
    """Semantic or cosmetic, with what changed, and what `text` (the two texts' change) says in words:
    the line endings changed too, or all that changed is layout."""
    notes = tuple(map(Detail, text.notes))
    old, new = parse_source(before), parse_source(after)
    if old is None:
        return UpdateKind.SEMANTIC, (Detail("the server's source does not parse as YAML"), *notes)
    if isinstance(old, dict):
        old.pop("revision", None)
    if isinstance(new, dict):
        new.pop("revision", None)
    details = _merged(summarize(old, new))
    if details:
        return UpdateKind.SEMANTIC, details + notes
    if text.diff or not notes:
        notes = (Detail("comments, formatting or key order only"), *notes)
    return UpdateKind.COSMETIC, notes


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


def summarize(before, after) -> Iterator[Detail]:
    """What changed between two parsed flows, in the flow's own terms, one Detail per difference."""
    from deepdiff import DeepDiff  # imported here: it costs a tenth of a second at every start

    old, new = _keyed(before), _keyed(after)
    diff = DeepDiff(old, new, ignore_order=False, view="tree", verbose_level=2)
    for category in _CATEGORIES:
        verb = category.rpartition("_")[2] if category.endswith(("added", "removed")) else "changed"
        for level in diff.get(category, ()):
            path = level.path(output_format="list")
            whole = level.t2 if verb == "added" else level.t1
            if category.startswith("dictionary_item") and isinstance(whole, _ById) and path:
                # A whole list of tasks or triggers added or removed: name each element.
                element = _ELEMENT_NAMES.get(path[-1], "item")
                yield from (Detail(verb, element, name) for name in whole.order)
            else:
                yield _describe(new if verb == "added" else old, path, verb, category.startswith("dictionary"))
    yield from _reorders(old, new, ())


def _describe(tree, path: list, verb: str, of_mapping: bool) -> Detail:
    """Name the innermost element (task, trigger, input...) the path goes through, then the property.
    An item added to or removed from a plain list changes the list."""
    element, rest, node, parent_key = None, [], tree, None
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
        return Detail(verb if of_mapping else "changed", name=_path_text(path))
    if not rest:
        return Detail(verb, element[0], element[1])
    return Detail("changed", element[0], element[1], (_path_text(rest),))


def _path_text(path: list) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "flow"


def _reorders(old, new, path: tuple) -> Iterator[Detail]:
    """Keyed lists whose shared elements changed order (deepdiff cannot see order in a mapping)."""
    if isinstance(old, _ById) and isinstance(new, _ById):
        common = set(old.order) & set(new.order)
        if [i for i in old.order if i in common] != [i for i in new.order if i in common]:
            yield Detail("reordered", name=_path_text(list(path)))
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() & new.keys():
            yield from _reorders(old[key], new[key], path + (key,))
    elif isinstance(old, list) and isinstance(new, list):
        for index, (a, b) in enumerate(zip(old, new)):
            yield from _reorders(a, b, path + (index,))


def _merged(details: Iterator[Detail]) -> tuple[Detail, ...]:
    """Each detail once, and one per element: the parts changed in one task gathered together."""
    merged: dict[tuple, Detail] = {}
    for detail in details:
        head = (detail.verb, detail.element, detail.name)
        if head in merged:
            detail = Detail(*head, tuple(dict.fromkeys(merged[head].parts + detail.parts)))
        merged[head] = detail
    return tuple(merged.values())

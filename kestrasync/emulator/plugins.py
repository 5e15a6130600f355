"""Kestra's plugin registry, as far as the core plugins go: which `type` resolves, and to which properties.

Real Kestra deserializes every task and trigger into its plugin class, so a misspelt core type is
`Invalid type: ...` and an unknown property is Jackson's `Unrecognized field` (on strict paths), while a
missing `@NotNull` property is a bean violation. The emulator knows the core plugins only (`plugindata`,
derived from Kestra's source); a type of another plugin namespace (`io.kestra.plugin.<x>.*`, or a company's
own) is accepted as it stands, since the plugins a real server has installed cannot be known here. Every
Kestra plugin lives under `io.kestra.plugin.`, so another `io.kestra.*` name cannot resolve, except, in 1.x,
the legacy `io.kestra.core.*` aliases (of core or of installed plugins); 2.x removed every alias.

Nested tasks are visited where Kestra types a property as tasks (`tasks`, `errors`, `finally`, `then`, `else`,
`cases`, a Dag's `tasks[].task`), so the checks reach every task `allTasksWithChilds()` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from .flowyaml import is_null, scalar_text
from .plugindata import CORE_1_0, CORE_2_0

FLOW_CLASS = "io.kestra.core.models.flows.Flow"
TASK_CLASS = "io.kestra.core.models.tasks.Task"
TRIGGER_CLASS = "io.kestra.core.models.triggers.AbstractTrigger"
_NESTED = ("tasks", "errors", "finally", "then", "else")


@dataclass(frozen=True)
class Plugin:
    name: str
    kind: str
    properties: frozenset[str]
    required: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    """One task or trigger mapping of a flow, with the two ways Kestra names where it is."""

    item: dict
    chain: str  # Jackson's reference chain: Flow["tasks"]->java.util.ArrayList[0]->...
    path: str  # the bean property path: tasks[0].tasks[1]
    base: str  # the Java type it deserializes into (Task or AbstractTrigger)


class Registry:
    def __init__(self, kestra_version: str) -> None:
        two = kestra_version.startswith("2")
        table = CORE_2_0 if two else CORE_1_0
        self.plugins: dict[str, Plugin] = {}
        for name, (kind, properties, required, aliases) in table.items():
            plugin = Plugin(name, kind, frozenset(properties.split()), tuple(required.split()))
            for key in (name, *aliases.split()):
                self.plugins[key.lower()] = plugin  # ClassTypeIdentifier lower-cases type ids
        self.two = two

    def resolve(self, type_name: str) -> Plugin | None:
        return self.plugins.get(type_name.lower())

    def is_unknown(self, type_name: str) -> bool:
        """A type Kestra would not resolve: in a namespace only Kestra's core fills, and absent from its plugins."""
        name = type_name.lower()
        checked = name.startswith("io.kestra.plugin.core.") or (
            name.startswith("io.kestra.") and not name.startswith("io.kestra.plugin.")
            and (self.two or not name.startswith("io.kestra.core.")))
        return checked and self.resolve(type_name) is None


@lru_cache(maxsize=None)
def registry(kestra_version: str) -> Registry:
    return Registry(kestra_version)


def nodes(tree: dict, lists: tuple[str, ...]) -> Iterator[Node]:
    """Every task and trigger of the flow, depth first, top-level lists in `lists` order."""
    for key in lists:
        base = TRIGGER_CLASS if key == "triggers" else TASK_CLASS
        value = tree.get(key)
        if isinstance(value, list):
            yield from _walk(value, f'{FLOW_CLASS}["{key}"]', key, base)


def _walk(items: list, chain: str, path: str, base: str) -> Iterator[Node]:
    for index, item in enumerate(items):
        here_chain, here_path = f"{chain}->java.util.ArrayList[{index}]", f"{path}[{index}]"
        if isinstance(item, dict) and "type" not in item and isinstance(item.get("task"), dict):
            item = item["task"]  # a Dag entry wraps its task
            here_chain, here_path = f'{here_chain}->DagTask["task"]', f"{here_path}.task"
        if not isinstance(item, dict):
            continue
        yield Node(item, here_chain, here_path, base)
        if base != TASK_CLASS:
            continue
        owner = type_text(item) or base
        for key in _NESTED:
            if isinstance(item.get(key), list):
                yield from _walk(item[key], f'{here_chain}->{owner}["{key}"]', f"{here_path}.{key}", TASK_CLASS)
        cases = item.get("cases")
        if isinstance(cases, dict):
            for name, branch in cases.items():
                if isinstance(branch, list):
                    yield from _walk(branch, f'{here_chain}->{owner}["cases"]', f"{here_path}.cases[{name}]", TASK_CLASS)


def type_text(item: dict) -> str | None:
    node = item.get("type")
    if isinstance(node, (dict, list)) or is_null(node):
        return None
    return scalar_text(node)


def defaulted(tree: dict, type_name: str) -> set[str]:
    """Properties `pluginDefaults`/`taskDefaults` give a type (a default's `type` is a prefix of the task's)."""
    given: set[str] = set()
    for key in ("pluginDefaults", "taskDefaults"):
        entries = tree.get(key)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and isinstance(entry.get("values"), dict):
                prefix = scalar_text(entry.get("type")) if not isinstance(entry.get("type"), (dict, list)) else None
                if prefix and type_name.startswith(prefix):
                    given.update(entry["values"])
    return given

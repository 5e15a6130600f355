"""Flow YAML read the way Kestra reads it, not the way PyYAML's loaders do.

Kestra parses flows with Jackson's YAML mapper, which consumes SnakeYAML *parser events* and never runs
SnakeYAML's composer or constructor. That has visible consequences a faithful emulator must keep:

- duplicate keys are refused (`Duplicate field 'k'`), at any depth;
- aliases are not expanded: `*a` reads as the string `"a"` (the anchor's name), so `<<: *a` is just a key `<<`;
- mapping keys are always strings (`on:` is the key `"on"`, not `True`);
- plain scalars are typed with YAML 1.1 rules (`yes` is a boolean) but only where the model is untyped, and
  dates are never resolved; String-typed fields keep the original text (`description: yes` stays `"yes"`).

So the tree is built here from parser events (libyaml's C parser when available), and plain scalars are kept
as `Plain` strings: `resolve()` types them for untyped places, `scalar_text()` reads them for String fields.
Only the first document of a stream is read, as Jackson's `readValue` does; later documents are not even parsed.

This module also holds Kestra's two ways of cutting a multi-flow body (`split_java`), because both are
text rules applied before any YAML parsing.
"""

from __future__ import annotations

import math
import re

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# SnakeYAML's LoaderOptions.codePointLimit default, which Jackson passes through.
CODE_POINT_LIMIT = 3_145_728


class Plain(str):
    """The text of a plain (unquoted, untagged) scalar: typed only when read in an untyped place."""

    __slots__ = ()


class YamlError(Exception):
    """The source is not YAML Kestra can read; `line` is 1-based when the parser knows it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def read_document(text: str) -> object:
    """Return the root node of the first document of `text`, or raise `YamlError`."""
    if len(text) > CODE_POINT_LIMIT:
        raise YamlError(f"The incoming YAML document exceeds the limit: {CODE_POINT_LIMIT} code points.")
    loader = _Loader(text)
    try:
        return _build(loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(part for part in (error.context, error.problem) if part)
        raise YamlError(problem, mark.line + 1 if mark else None) from None
    except yaml.YAMLError as error:
        raise YamlError(str(error)) from None
    finally:
        loader.dispose()


def _build(loader) -> object:
    event = loader.get_event()
    if isinstance(event, StreamStartEvent):
        event = loader.get_event()
    if isinstance(event, StreamEndEvent):
        raise YamlError("No content to map due to end-of-input", 1)
    if isinstance(event, DocumentStartEvent):
        event = loader.get_event()
    stack: list[_Frame] = []
    while True:
        kind = type(event)
        if kind is MappingStartEvent or kind is SequenceStartEvent:
            stack.append(_Frame({} if kind is MappingStartEvent else [], event))
            event = loader.get_event()
            continue
        if kind is ScalarEvent:
            node: object = _scalar(event)
        elif kind is AliasEvent:
            node = event.anchor  # Jackson reads an alias as the anchor's name, unresolved.
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            node = stack.pop().container
        else:  # pragma: no cover - the parser guarantees balanced events
            raise YamlError(f"Unexpected YAML event {kind.__name__}")
        if not stack:
            return node
        stack[-1].add(node, event)
        event = loader.get_event()


class _Frame:
    """A mapping or sequence being filled; a mapping alternates between waiting for a key and a value."""

    __slots__ = ("container", "key")

    def __init__(self, container: dict | list, start) -> None:
        self.container = container
        self.key: str | None = None

    def add(self, node: object, event) -> None:
        container = self.container
        if type(container) is list:
            container.append(node)
        elif self.key is None:
            self.key = _key(node, event, container)
        else:
            container[self.key] = node
            self.key = None


def _key(node: object, event, mapping: dict) -> str:
    if not isinstance(node, str):
        # What Jackson answers to a complex key, after Kestra's YamlParser rewords it.
        raise YamlError(
            "YAML syntax error: Invalid structure. Check indentation and ensure all fields are properly formatted.",
            event.start_mark.line + 1,
        )
    key = str(node)
    if key in mapping:
        raise YamlError(f"Duplicate field '{key}'", event.start_mark.line + 1)
    return key


def _scalar(event) -> str:
    if event.style in (None, "") and event.implicit[0]:
        return Plain(event.value)
    return event.value


# --- typing plain scalars (SnakeYAML's YAML 1.1 resolver, without timestamps) -------------------------

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
_TRUE = frozenset({"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_INT = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9_]+(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


def resolve_scalar(text: str) -> object:
    """Type one plain scalar as Jackson does in an untyped place (a map value, a list item)."""
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text in _TRUE
    if _INT.match(text):
        return _to_int(text.replace("_", ""))
    if _FLOAT.match(text):
        return _to_float(text.replace("_", ""))
    return str(text)


def _to_int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if ":" in digits:
        return sign * _sexagesimal(digits)
    if digits.startswith("0b"):
        return sign * int(digits[2:], 2)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


def _to_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    if ":" in text:
        sign = -1 if text.startswith("-") else 1
        whole, _, fraction = text.lstrip("+-").rpartition(":")
        return sign * (_sexagesimal(whole) * 60 + float(fraction))
    return float(text)


def _sexagesimal(text: str) -> int:
    value = 0
    for part in text.split(":"):
        value = value * 60 + int(part)
    return value


def resolve(node: object) -> object:
    """Return `node` as plain JSON-like data, typing plain scalars (YAML 1.1) as an untyped Kestra field does."""
    kind = type(node)
    if kind is Plain:
        return resolve_scalar(node)
    if kind is dict:
        return {key: resolve(value) for key, value in node.items()}
    if kind is list:
        return [resolve(item) for item in node]
    return node


def is_null(node: object) -> bool:
    """True for a missing value and for a plain `~`/`null`/empty scalar (Jackson's VALUE_NULL)."""
    return node is None or (type(node) is Plain and _NULL.match(node) is not None)


def scalar_text(node: object) -> str | None:
    """Read a scalar as a String-typed Kestra field: its original text, or None for null.

    Raises TypeError for a mapping or a list, which Jackson cannot put into a String.
    """
    if is_null(node):
        return None
    if isinstance(node, (dict, list)):
        raise TypeError(node)
    return str(node)


# --- cutting multi-flow bodies ----------------------------------------------------------------------

BULK_SEPARATOR = re.compile(re.escape("---"))  # FlowController: body.split("---"), a literal split
VALIDATE_SEPARATOR = re.compile(r"\n+---\n*?")  # FlowService.validate


def split_java(text: str, separator: re.Pattern[str]) -> list[str]:
    """Split like Java's `String.split(regex)`: trailing empty pieces are dropped ("a---" gives ["a"],
    "---" gives []), while a text with no separator, even "", is returned whole."""
    pieces = separator.split(text)
    while pieces and pieces[-1] == "" and text:
        pieces.pop()
    return pieces


_JAVA_BLANKS = "".join(chr(code) for code in range(0x21))


def java_trim(text: str) -> str:
    """Java's `String.trim()`: strips code points up to U+0020 only (not Unicode spaces, not a BOM)."""
    return text.strip(_JAVA_BLANKS)

"""YAML read the way Kestra reads it, with locations.

PyYAML's defaults disagree with Kestra's parser (Jackson over SnakeYAML's event stream): PyYAML keeps
the last of two duplicate keys where Kestra refuses the file, PyYAML resolves aliases and merge keys
where Kestra reads an alias as a plain string, PyYAML turns an `on:` key into True and dates into
date objects. So this module composes node trees (libyaml's C parser when present, which is
several times faster), checks them for what Kestra would read differently, and builds typed values
itself. It never opens files: the scanner does.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class _Loader(getattr(yaml, "CBaseLoader", yaml.BaseLoader)):
    """Composes nodes; every scalar is tagged as text, and typed later by to_python only where needed.

    (libyaml calls resolve() in Python for every scalar; doing nothing there halves composing time.)
    """

    _tags = {
        ScalarNode: "tag:yaml.org,2002:str",
        SequenceNode: "tag:yaml.org,2002:seq",
        MappingNode: "tag:yaml.org,2002:map",
    }

    def resolve(self, kind, value, implicit):
        return self._tags[kind]


# A document marker is `---` at column 0 followed by a blank or the end of the line. In YAML that
# parses, such a line can only be a document boundary (it ends any block scalar before it).
_DOCUMENT_MARKER = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class YamlProblem(Exception):
    """A problem at a 1-based line and column of the text."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class Document:
    """One document of a stream: its root node and the exact text that belongs to it."""

    node: Node
    text: str
    offset: int  # index of `text` in the whole stream
    line: int  # 1-based line where `text` starts


def _problem_from(error: yaml.YAMLError, text: str) -> YamlProblem:
    if isinstance(error, yaml.reader.ReaderError):  # a character YAML forbids; libyaml gives its byte offset
        before = text.encode("utf-8")[: error.position].decode("utf-8", "replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        return YamlProblem(line, column, f"YAML syntax error: the control character U+{ord(text[len(before)]):04X} is not allowed")
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return YamlProblem(1, 1, message)
    if text[mark.index : mark.index + 1] == "\t":
        message = "YAML syntax error: a tab character cannot indent YAML; use spaces"
    return YamlProblem(mark.line + 1, mark.column + 1, message)


def body_of(source: str) -> str:
    """The text after a source's `---` lines (and anything before them).

    Kestra's validate endpoint splits its body on `\n---` lines: a source that holds one would be
    judged as two documents, the first empty. A flow's text holds such lines only before its content,
    so what follows the last one is the whole flow.
    """
    markers = list(_DOCUMENT_MARKER.finditer(source))
    if not markers:
        return source
    end_of_line = source.find("\n", markers[-1].end())
    return "" if end_of_line < 0 else source[end_of_line + 1 :]


def decode_utf8(data: bytes) -> str:
    """The text of UTF-8 bytes; a YamlProblem at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise YamlProblem(line, column, f"not UTF-8 text (byte 0x{data[error.start]:02x}); save the file as UTF-8") from None


def compose_documents(text: str, encoded: bytes | None = None) -> list[Document]:
    """Split a stream into its non-empty documents, each with the exact text Kestra should store.

    A document's text runs from its `---` line to the next `---` line, so a single-document file is
    kept whole, byte for byte. Text before the first document (comments, a leading `---`) belongs to
    the first document; empty documents (a stray, leading or trailing `---`) belong to none. `encoded`, the
    same text in UTF-8 when the caller has it, spares libyaml an encoding pass (marks count characters).
    """
    loader = _Loader(encoded if encoded is not None else text)
    try:
        roots = []
        while loader.check_node():
            node = loader.get_node()
            if not _is_empty(node):
                roots.append(node)
    except yaml.YAMLError as error:
        raise _problem_from(error, text) from None
    finally:
        loader.dispose()
    if not roots:
        return []
    starts = [m.start() for m in _DOCUMENT_MARKER.finditer(text)]
    bounds = [0] + [s for s in starts if s > 0] + [len(text)]
    documents: list[Document] = []
    for node in roots:
        segment = bisect.bisect_right(bounds, node.start_mark.index) - 1
        # The first document keeps what precedes it (comments, its own `---`) unless an empty document
        # does: Kestra would read that empty document as the flow.
        keeps_head = not documents and not _DOCUMENT_MARKER.search(text, 0, bounds[segment])
        begin = 0 if keeps_head else bounds[segment]
        documents.append(Document(node, text[begin : bounds[segment + 1]], begin, text.count("\n", 0, begin) + 1))
    return documents


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.value == "" and _is_plain(node) and node.tag in (
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:null",
    )


def _is_plain(node: ScalarNode) -> bool:
    """libyaml marks plain scalars with style '', pure-Python PyYAML with None."""
    return not node.style


def check_tree(root: Node, may_alias: bool = True) -> None:
    """Refuse what Kestra reads differently from the text: duplicate keys, aliases, merge keys.

    Aliases show up as a node reachable twice (libyaml shares the anchored node), so an alias
    bomb is refused at its first repetition, before anything is expanded. A text without `&`
    has no anchor, hence no alias: callers pass `may_alias=False` to skip that bookkeeping on
    the hot path.
    """
    seen: set[int] | None = {id(root)} if may_alias else None
    stack = [root]
    while stack:
        node = stack.pop()
        children = node.value
        if type(node) is MappingNode:
            try:
                names = {key.value for key, _ in children}
            except TypeError:  # a list or mapping used as a key: its value is unhashable
                key = next(k for k, _ in children if not isinstance(k, ScalarNode))
                raise at(key, "a mapping key must be a plain value, not a list or a mapping") from None
            if len(names) != len(children):
                _raise_duplicate(children)
            if "<<" in names and any(k.value == "<<" and _is_plain(k) for k, _ in children):
                key = next(k for k, _ in children if k.value == "<<")
                raise at(key, "merge keys (<<) are not supported: Kestra reads them as an ordinary key")
            for key, value in children:
                if seen is not None:
                    _visit(seen, key, key)
                    _visit(seen, value, key)
                if type(value) is not ScalarNode:
                    stack.append(value)
        elif type(node) is SequenceNode:
            for item in children:
                if seen is not None:
                    _visit(seen, item, node)
                if type(item) is not ScalarNode:
                    stack.append(item)


def _visit(seen: set[int], node: Node, near: Node) -> None:
    if id(node) in seen:
        raise at(
            near,
            f"YAML alias of the value at line {node.start_mark.line + 1}: Kestra does not resolve aliases "
            "(it would read the anchor's name as text); repeat the value instead",
        )
    seen.add(id(node))


def _raise_duplicate(children: list) -> None:
    first: dict[str, Node] = {}
    for key, _ in children:
        if key.value in first:
            line = first[key.value].start_mark.line + 1
            raise at(key, f"duplicate key '{key.value}' (first at line {line}); Kestra refuses duplicate keys")
        first[key.value] = key


def at(node: Node, message: str) -> YamlProblem:
    """A problem located at a node (PyYAML marks are 0-based)."""
    return YamlProblem(node.start_mark.line + 1, node.start_mark.column + 1, message)


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 implicit types as Jackson-over-SnakeYAML sees them: no timestamps."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_RESOLVER = _Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TYPED = {
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
}


def to_python(node: Node):
    """Typed values: keys stay strings (`on:` is "on"), plain scalars get YAML 1.1 types, dates stay text."""
    if isinstance(node, ScalarNode):
        if not _is_plain(node):
            return node.value
        tag = _RESOLVER.resolve(ScalarNode, node.value, (True, False))
        construct = _TYPED.get(tag)
        return construct(ScalarNode(tag, node.value)) if construct else node.value
    if isinstance(node, SequenceNode):
        return [to_python(item) for item in node.value]
    return {str(key.value): to_python(value) for key, value in node.value}


def load_mapping(text: str) -> tuple[MappingNode | None, dict]:
    """Parse a single-document text (a config file) checked like a flow; returns the node and its value."""
    documents = compose_documents(text)
    if not documents:
        return None, {}
    if len(documents) > 1:
        raise YamlProblem(documents[1].line, 1, "expected a single YAML document")
    node = documents[0].node
    check_tree(node)
    if not isinstance(node, MappingNode):
        raise at(node, "expected a mapping of keys to values")
    return node, to_python(node)


def parse_source(text: str):
    """The typed value of a flow source's first document; None when it does not parse or uses
    aliases, whose expansion could be exponential (a server may hold any text)."""
    try:
        documents = compose_documents(text)
        if documents:
            check_tree(documents[0].node, may_alias="&" in text)
    except YamlProblem:
        return None
    return to_python(documents[0].node) if documents else None

"""The values that flow through kestra-sync, whatever the kind of resource: keys, resources on each
side, changes, plans, apply results.

Everything here is a small immutable dataclass (or named tuple) or an enum, with no I/O and no
knowledge of any resource kind. Content is the truth: parsed views of a resource are derived by its
kind (kestrasync.kinds), never stored here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, Union

NAMESPACE = re.compile(r"[a-z0-9][a-z0-9._-]*")  # Kestra's namespace names, for every kind
Content = Union[str, bytes]  # a flow's text; a namespace file's bytes
Version = Union[int, str]  # compared for equality only: a flow's revision, a file's revision or hash


def as_text(content: Content) -> str | None:
    """Content as text when it is: UTF-8 without NUL bytes (git's test for binary); else None."""
    if isinstance(content, str):
        return content
    if b"\0" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def in_namespace(namespace: str, prefix: str) -> bool:
    """Kestra's namespace prefix rule: the namespace itself or any namespace below it."""
    return namespace == prefix or namespace.startswith(prefix + ".")


def version_text(version: Version | None) -> str:
    """`rev 4` for a revision, the value itself for another version (a hash), `absent` for none."""
    if version is None:
        return "absent"
    return f"rev {version}" if isinstance(version, int) else str(version)


class Key(NamedTuple):
    """The identity of a resource in a tenant: its kind ("flow"), namespace and name (a flow's id).

    A named tuple: it keys every dict and sort over thousands of resources, and tuples hash and
    compare in C. Sorting by key sorts by kind first.
    """

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        """`company.team/etl`: what users see (the kind shows in the plan's grouping)."""
        return f"{self.namespace}/{self.name}"

    @property
    def qualified(self) -> str:
        """`flow:company.team/etl`: unambiguous across kinds (plan files, JSON)."""
        return f"{self.kind}:{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str, kind: str) -> Key:
        """`company.team/etl` -> Key(kind, 'company.team', 'etl'). A namespace holds no `/`."""
        namespace, sep, name = text.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"'{text}' is not of the form namespace/name")
        return cls(kind, namespace, name)

    @classmethod
    def from_qualified(cls, text: str) -> Key:
        kind, sep, rest = text.partition(":")
        if not sep or not kind:
            raise ValueError(f"'{text}' is not of the form kind:namespace/name")
        return cls.parse(rest, kind)


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in a local file; `line` and `column` are 1-based, `path` is as shown to the user."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Caveat:
    """Something in a resource that servers from version `since` (major, minor) on refuse, where it
    is, and what replaces it (the message)."""

    since: tuple[int, int]
    location: SourceLocation
    message: str


@dataclass(frozen=True, slots=True)
class Local:
    """A resource as the repository declares it: its exact content, where it is, what it references,
    and what some server versions refuse in it."""

    key: Key
    content: Content
    location: SourceLocation
    references: tuple[Key, ...] = ()
    caveats: tuple[Caveat, ...] = ()


@dataclass(frozen=True, slots=True)
class Remote:
    """A resource as the server holds it. `version` is None when it was not read: a plan reads it
    only for resources that may change. `note` says why the server's copy must be written again even
    where its content matches (an unpublished draft, a flow the server cannot read)."""

    key: Key
    content: Content
    version: Version | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What a plan and its renderers need to know of a kind: how to name it and where it goes in order.

    Writes go in ascending `rank` (what others read first), deletes in descending rank.
    """

    name: str  # in every Key and in plan JSON: "flow"
    noun: str  # "flow", as in "6 flow(s) match the server"
    plural: str  # "flows", as in "Flows to write:"
    rank: int
    files: str = ""  # what its local files are called: "flow files"
    version: str = "version"  # what its version is called: "revision"
    labelled: bool = False  # it carries labels: ownership by label applies to it (Kind.owner)


class Action(enum.Enum):
    """What a change does; the values are the symbols shown in plans."""

    CREATE = "+"
    UPDATE = "~"
    DELETE = "-"

    @property
    def verb(self) -> str:
        return {"+": "create", "~": "update", "-": "delete"}[self.value]

    @property
    def past(self) -> str:
        return {"+": "created", "~": "updated", "-": "deleted"}[self.value]


class UpdateKind(enum.Enum):
    """Why an update is one: the parsed resource differs, or only its text (comments, layout, key order)."""

    SEMANTIC = "semantic"
    COSMETIC = "cosmetic"


@dataclass(frozen=True, slots=True)
class Detail:
    """One thing a change does, as data: `verb` what happens ("added", "changed"), to the `element`
    (a task, a trigger; None for the resource itself) called `name`, with the `parts` it touches.

    str() is the one place a detail becomes a phrase: task `load` added; task `log` changed (message);
    `labels` added; new flow.
    """

    verb: str
    element: str | None = None
    name: str | None = None
    parts: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.element is not None:
            head = f"{self.element} `{self.name}` {self.verb}"
        elif self.name is not None:
            head = f"`{self.name}` {self.verb}"
        else:
            head = self.verb
        return f"{head} ({', '.join(self.parts)})" if self.parts else head


@dataclass(frozen=True, slots=True)
class Change:
    """One write the plan will make.

    CREATE: `before` is None, `after` set. UPDATE: both set. DELETE: `before` set, `after` None.
    `update_kind` is set for updates only. `summary` says what changes in the resource's own terms;
    `diff` shows it (a unified diff for text). `depends_on` lists changes of the same plan that must
    be applied before this one.
    """

    action: Action
    key: Key
    before: Remote | None
    after: Local | None
    update_kind: UpdateKind | None = None
    summary: tuple[Detail, ...] = ()
    diff: str = ""
    depends_on: tuple[Key, ...] = ()

    @property
    def version_before(self) -> Version | None:
        return self.before.version if self.before else None


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A message about one resource, from the server's validation or from the planner."""

    severity: Severity
    message: str
    key: Key | None = None
    location: SourceLocation | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else (f"{self.key}: " if self.key else "")
        return f"{where}{self.message}"


@dataclass(frozen=True, slots=True)
class Unmanaged:
    """A resource on the server, inside the owned namespaces, that no file declares and the plan does
    not delete: it stays, unseen unless shown. `renamed_to` is the plan's create that looks like it
    under another name (a flow whose id was changed in its file); `active`, for such a candidate, what
    it still does on its own (its schedule)."""

    key: Key
    renamed_to: Key | None = None
    active: tuple[str, ...] = ()


class Tally(Protocol):
    """Told of the requests a bulk read makes, as they become known and as they finish (from any
    thread): what a progress display counts."""

    def expect(self, count: int) -> None: ...

    def advance(self, count: int = 1) -> None: ...


PLAN_FORMAT_VERSION = "2.0"
UNMANAGED_NAMED = 10  # unmanaged resources named in a summary line; the rest are counted


@dataclass(frozen=True, slots=True)
class Plan:
    """What differs between the files and the server, and what applying will write.

    `changes` are in apply order: creates and updates by kind rank, each after what it references,
    then deletes in reverse. `scope` is the namespace prefixes that were read; `kinds` the kinds
    planned; `unchanged` counts, per kind name, the resources in scope that already match.
    """

    server: str
    tenant: str
    scope: tuple[str, ...]
    kinds: tuple[KindInfo, ...]
    changes: tuple[Change, ...]
    unchanged: Mapping[str, int] = field(default_factory=dict)
    kestra: str = ""  # the server's version and edition, as read: "2.0.3 OSS"
    prune: bool = False
    skipped_cosmetic: tuple[Key, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    created_at: str = ""
    format_version: str = PLAN_FORMAT_VERSION
    unmanaged: tuple[Unmanaged, ...] = ()
    environment: str = ""  # the environment planned for (--env); "" for none

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def count(self, action: Action, kind: str | None = None, update_kind: UpdateKind | None = None) -> int:
        return sum(
            1
            for c in self.changes
            if c.action is action
            and (kind is None or c.key.kind == kind)
            and (update_kind is None or c.update_kind is update_kind)
        )

    def counts(self, kind: str | None = None) -> dict[str, int]:
        """create / update / delete / unchanged, of one kind or of all."""
        unchanged = self.unchanged.get(kind, 0) if kind else sum(self.unchanged.values())
        return {
            "create": self.count(Action.CREATE, kind),
            "update": self.count(Action.UPDATE, kind),
            "delete": self.count(Action.DELETE, kind),
            "unchanged": unchanged,
        }

    def summary_line(self) -> str:
        """`Plan: 1 to create, 2 to update (1 cosmetic), 0 to delete, 5 unchanged.` over every kind:
        a public contract (CI logs grep it), in every output format."""
        if not self.has_changes:
            matching = " and ".join(f"{self.unchanged.get(info.name, 0)} {info.noun}(s)" for info in self.kinds)
            return f"No changes. {matching or 'Nothing'} match the server."
        return f"Plan: {self._counted(None)}."

    def unmanaged_lines(self) -> list[str]:
        """`3 flows on the server have no file: ...`, per kind: what stays on the server unseen."""
        lines = []
        for info in self.kinds:
            keys = [str(u.key) for u in self.unmanaged if u.key.kind == info.name]
            if keys:
                shown = ", ".join(keys[:UNMANAGED_NAMED]) + (f" and {len(keys) - UNMANAGED_NAMED} more" if len(keys) > UNMANAGED_NAMED else "")
                noun = info.noun if len(keys) == 1 else info.plural
                lines.append(f"{len(keys)} {noun} on the server {'has' if len(keys) == 1 else 'have'} no file: {shown} "
                             f"(--prune deletes {'it' if len(keys) == 1 else 'them'}, `kestra-sync pull` adopts "
                             f"{'it' if len(keys) == 1 else 'them'}).")
        return lines

    def kind_lines(self) -> list[str]:
        """One line per kind (`Flows: 1 to create, ...`), when the plan covers more than one."""
        if len(self.kinds) < 2:
            return []
        return [f"{info.plural.capitalize()}: {self._counted(info.name)}." for info in self.kinds]

    def _counted(self, kind: str | None) -> str:
        counts = self.counts(kind)
        cosmetic = self.count(Action.UPDATE, kind, UpdateKind.COSMETIC)
        updates = f"{counts['update']} to update" + (f" ({cosmetic} cosmetic)" if cosmetic else "")
        return f"{counts['create']} to create, {updates}, {counts['delete']} to delete, {counts['unchanged']} unchanged"


class ResultStatus(enum.Enum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"  # never attempted: an earlier failure or an interruption stopped the apply


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The outcome of one change; a failure is a value here, not an exception."""

    change: Change
    status: ResultStatus
    version_after: Version | None = None
    message: str = ""
    seconds: float = 0.0
    transient: bool = False  # failed because the server did not answer; trying again later may work


@dataclass(frozen=True, slots=True)
class ApplyReport:
    results: tuple[ApplyResult, ...] = field(default_factory=tuple)
    interrupted: bool = False
    kinds: tuple[KindInfo, ...] = ()  # the plan's

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status is ResultStatus.APPLIED for r in self.results)

    def with_status(self, status: ResultStatus) -> tuple[ApplyResult, ...]:
        return tuple(r for r in self.results if r.status is status)

    def summary_line(self) -> str:
        """`Apply complete: 3 applied, 0 failed, 0 not attempted.`"""
        counts = {s: len(self.with_status(s)) for s in ResultStatus}
        head = "Apply interrupted" if self.interrupted else ("Apply complete" if self.ok else "Apply failed")
        return (
            f"{head}: {counts[ResultStatus.APPLIED]} applied, {counts[ResultStatus.FAILED]} failed, "
            f"{counts[ResultStatus.SKIPPED]} not attempted."
        )


# ---------------------------------------------------------------------------------------------
# Pull: the server's resources written into the repository


@dataclass(frozen=True, slots=True)
class FileWrite:
    """One repository file a pull writes: a new file (CREATE), a file rewritten (UPDATE: in a file of
    several resources, only their spans), or a file removed (DELETE, with --prune). `keys` are the
    resources it adopts, updates or drops; `conflict`, the uncommitted changes it would overwrite (a diff)."""

    path: str  # absolute
    shown: str  # as the user sees it
    action: Action
    keys: tuple[Key, ...]
    before: bytes | None
    after: bytes | None
    diff: str = ""  # what the file's text becomes (sizes for binary content)
    conflict: str = ""


@dataclass(frozen=True, slots=True)
class PullPlan:
    """What a pull writes into the repository, and what it leaves: resources that already match
    (`unchanged`, per kind), and resources files declare that the server no longer has (`missing`,
    removed only with --prune)."""

    server: str
    tenant: str
    scope: tuple[str, ...]
    kinds: tuple[KindInfo, ...]
    writes: tuple[FileWrite, ...]
    unchanged: Mapping[str, int] = field(default_factory=dict)
    missing: tuple[Key, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def conflicts(self) -> tuple[FileWrite, ...]:
        return tuple(write for write in self.writes if write.conflict)

    def summary_line(self) -> str:
        """`Pull: 2 files to create, 1 to update, 0 to delete.` (or that nothing differs)."""
        matching = " and ".join(f"{self.unchanged.get(info.name, 0)} {info.noun}(s)" for info in self.kinds)
        if not self.writes:
            return f"Nothing to pull. {matching or 'Nothing'} match the server."
        counts = {action: sum(1 for w in self.writes if w.action is action) for action in Action}
        return (f"Pull: {counts[Action.CREATE]} file(s) to create, {counts[Action.UPDATE]} to update, "
                f"{counts[Action.DELETE]} to delete; {matching} already match.")

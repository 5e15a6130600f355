"""The values that flow through kestra-sync: flows on each side, changes, plans, apply results.

Everything here is a small immutable dataclass (or named tuple) or an enum, with no I/O. Source text is the truth:
parsed views of a flow are derived by functions elsewhere (the differ), never stored here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple


class FlowKey(NamedTuple):
    """The identity of a flow in a tenant; Kestra forbids changing either part by update.

    A named tuple, unlike the other values: it keys every dict and sort over thousands of flows,
    and tuples hash and compare in C (a dataclass does it in Python, several times slower).
    """

    namespace: str
    id: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.id}"

    @classmethod
    def parse(cls, text: str) -> FlowKey:
        """`company.team/etl` -> FlowKey('company.team', 'etl')."""
        namespace, sep, flow_id = text.rpartition("/")
        if not sep or not namespace or not flow_id:
            raise ValueError(f"'{text}' is not a flow reference of the form namespace/id")
        return cls(namespace, flow_id)


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in a local file; `line` and `column` are 1-based, `path` is as shown to the user."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class LocalFlow:
    """One flow document of the repository: its exact text, where it starts, the flows it calls."""

    key: FlowKey
    source: str
    location: SourceLocation
    references: tuple[FlowKey, ...] = ()


@dataclass(frozen=True, slots=True)
class RemoteFlow:
    """The latest live revision of a flow on the server. Its number is None when it was not read: a
    plan reads it only for flows that may change (see FetchedFlows.flows)."""

    key: FlowKey
    source: str
    revision: int | None


class Action(enum.Enum):
    """What a change does; the values are the symbols shown in plans."""

    CREATE = "+"
    UPDATE = "~"
    DELETE = "-"

    @property
    def verb(self) -> str:
        return {"+": "create", "~": "update", "-": "delete"}[self.value]


class UpdateKind(enum.Enum):
    """Why an update is one: the parsed flow differs, or only its text (comments, layout, key order)."""

    SEMANTIC = "semantic"
    COSMETIC = "cosmetic"


@dataclass(frozen=True, slots=True)
class Change:
    """One write the plan will make.

    CREATE: `before` is None, `after` set. UPDATE: both set. DELETE: `before` set, `after` None.
    `kind` is set for updates only. `summary` says what changed in the flow's own terms
    ("task `extract` added"); `diff` is a unified diff of the two texts.
    `depends_on` lists changes of the same plan that must be applied before this one.
    """

    action: Action
    key: FlowKey
    before: RemoteFlow | None
    after: LocalFlow | None
    kind: UpdateKind | None = None
    summary: tuple[str, ...] = ()
    diff: str = ""
    depends_on: tuple[FlowKey, ...] = ()

    @property
    def revision_before(self) -> int | None:
        return self.before.revision if self.before else None


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A message about one flow, from the server's validation or from the planner."""

    severity: Severity
    message: str
    key: FlowKey | None = None
    location: SourceLocation | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else (f"{self.key}: " if self.key else "")
        return f"{where}{self.message}"


PLAN_FORMAT_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Plan:
    """What differs between the files and the server, and what applying will write.

    `changes` are in apply order: creates and updates with every flow after the flows it
    references, then deletes with referencing flows first. `scope` is the namespace prefixes
    that were read; `unchanged` counts the flows in scope that already match.
    """

    server: str
    tenant: str
    scope: tuple[str, ...]
    changes: tuple[Change, ...]
    unchanged: int
    prune: bool = False
    skipped_cosmetic: tuple[FlowKey, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    created_at: str = ""
    format_version: str = PLAN_FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def count(self, action: Action, kind: UpdateKind | None = None) -> int:
        return sum(1 for c in self.changes if c.action is action and (kind is None or c.kind is kind))

    @property
    def counts(self) -> dict[str, int]:
        return {
            "create": self.count(Action.CREATE),
            "update": self.count(Action.UPDATE),
            "delete": self.count(Action.DELETE),
            "unchanged": self.unchanged,
        }


class ResultStatus(enum.Enum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"  # never attempted: an earlier failure or an interruption stopped the apply


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The outcome of one change; a failure is a value here, not an exception."""

    change: Change
    status: ResultStatus
    revision_after: int | None = None
    message: str = ""
    seconds: float = 0.0
    transient: bool = False  # failed because the server did not answer; trying again later may work


@dataclass(frozen=True, slots=True)
class ApplyReport:
    results: tuple[ApplyResult, ...] = field(default_factory=tuple)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status is ResultStatus.APPLIED for r in self.results)

    def with_status(self, status: ResultStatus) -> tuple[ApplyResult, ...]:
        return tuple(r for r in self.results if r.status is status)

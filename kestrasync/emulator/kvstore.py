"""Namespace key-value entries, as Kestra's KV store keeps them (enough for an advisory lock).

A value is sent as text and read the way Kestra's Ion mapper reads it: JSON, or a bare word (an Ion symbol)
taken as a string, or an Ion timestamp; its `type` (`KVType.from`) is derived from the result. An optional
`ttl` (ISO-8601 duration, `Duration.parse`) sets an expiration date. The first read of an expired entry deletes
it and fails with 410 `Resource has expired` (InternalKVStore.getRawValue, v1.0.3 and develop c94e7743), later
reads are 404; expired entries are left out of listings, but a delete still finds them. 2.x numbers the
saves of a key (`revision`, never reused) and answers it with the value; 1.x refuses a body that is not
JSON/Ion, 2.x stores it as a string.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import illegal_argument, internal, not_found, resource_expired

_KEY = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
_SYMBOL = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$")
# InternalKVStore.DURATION_PATTERN: a stored string that looks like a duration reads back as one.
_DURATION_VALUE = re.compile(r"^P(?=[^T]|T.)(?:\d*D)?(?:T(?=.)(?:\d*H)?(?:\d*M)?(?:\d*S)?)?$")
_DURATION = re.compile(
    r"^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?$", re.I)


@dataclass
class KVEntry:
    value: object
    type: str
    description: str | None
    created: float
    updated: float
    expires: float | None
    revision: int = 1

    def to_json(self, key: str, namespace: str | None = None) -> dict:
        """A KVEntry; 2.x adds `namespace` and `revision`."""
        entry = {"namespace": namespace, "key": key, "revision": self.revision if namespace else None,
                 "description": self.description, "creationDate": iso(self.created), "updateDate": iso(self.updated),
                 "expirationDate": iso(self.expires) if self.expires else None}
        return {name: value for name, value in entry.items() if value is not None}


class KVStore:
    """Entries per (namespace, key) for one tenant."""

    def __init__(self, on_change=None, clock=time.time, kestra_version: str = "1.0") -> None:
        self._entries: dict[tuple[str, str], KVEntry] = {}
        self._revisions: dict[tuple[str, str], int] = {}
        self._on_change = on_change
        self._clock = clock
        self.two = kestra_version.startswith("2")

    def put(self, namespace: str, key: str, text: str, ttl: str | None = None, description: str | None = None) -> None:
        validate_key(key)
        value, kind = parse_value(text, lenient=self.two)
        now = self._clock()
        previous = self._entries.get((namespace, key))
        expires = now + parse_duration(ttl) if ttl else None
        created = previous.created if previous and not self._expired(previous, now) else now
        revision = self._revisions.get((namespace, key), 0) + 1
        self._revisions[(namespace, key)] = revision
        self._entries[(namespace, key)] = KVEntry(value, kind, description, created, now, expires, revision)
        self._changed()

    def get(self, namespace: str, key: str) -> dict:
        """`TypedValue {type, value}` in 1.x, `KvDetail {type, value, revision, updated}` in 2.x."""
        validate_key(key)
        entry = self._entries.get((namespace, key))
        if entry is not None and self._expired(entry, self._clock()):
            del self._entries[(namespace, key)]  # deleted on the read that finds it expired
            self._changed()
            raise resource_expired()
        if entry is None:
            raise not_found(f"No value found for key '{key}' in namespace '{namespace}'")
        if self.two:
            return {"type": entry.type, "value": entry.value, "revision": entry.revision, "updated": iso(entry.updated)}
        return {"type": entry.type, "value": entry.value}

    def delete(self, namespace: str, key: str) -> bool:
        """True when an entry was stored, expired or not (the storage delete does not look at the expiry)."""
        validate_key(key)
        existed = self._entries.pop((namespace, key), None) is not None
        if existed:
            self._changed()
        return existed

    def list(self, namespace: str) -> list[dict]:
        now = self._clock()
        return [entry.to_json(key, namespace if self.two else None) for (ns, key), entry in sorted(self._entries.items())
                if ns == namespace and not self._expired(entry, now)]

    def list_all(self, keep) -> list[dict]:
        """Every unexpired entry of the tenant that `keep(namespace, key, entry)` accepts, as 2.x KVEntry JSON."""
        now = self._clock()
        return [entry.to_json(key, ns) for (ns, key), entry in sorted(self._entries.items())
                if not self._expired(entry, now) and keep(ns, key, entry)]

    def inherited(self, namespace: str) -> list[dict]:
        """`/kv/inheritance`: the entries of the parent namespaces (1.x: and of the namespace itself), the
        nearest namespace winning for a key (`getKvEntriesWithInheritance`)."""
        parts = namespace.split(".")
        tree = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if self.two:
            tree = [ns for ns in tree if ns != namespace]
        found, seen = [], set()
        for ns in sorted(tree, key=len, reverse=True):
            for entry in self.list(ns):
                if entry["key"] not in seen:
                    seen.add(entry["key"])
                    found.append(entry)
        return found

    def clear(self) -> None:
        self._entries.clear()
        self._revisions.clear()
        self._changed()

    @staticmethod
    def _expired(entry: KVEntry, now: float) -> bool:
        return entry.expires is not None and now > entry.expires

    def _changed(self) -> None:
        if self._on_change:
            self._on_change()

    def dump(self) -> list:
        return [[ns, key, e.value, e.type, e.description, e.created, e.updated, e.expires, e.revision]
                for (ns, key), e in self._entries.items()]

    def load(self, dumped: list) -> None:
        self._entries = {(ns, key): KVEntry(*rest) for ns, key, *rest in dumped}
        self._revisions = {key: entry.revision for key, entry in self._entries.items()}


def validate_key(key: str) -> None:
    if not _KEY.match(key):
        raise illegal_argument("Key must start with an alphanumeric character (uppercase or lowercase) and can "
                               "contain alphanumeric characters (uppercase or lowercase), dots (.), underscores (_), "
                               "and hyphens (-) only.")


def parse_value(text: str, lenient: bool = False) -> tuple[object, str]:
    """Read a PUT body as Kestra's Ion mapper does and type it as `KVType.from` does; what Ion cannot read
    is refused (1.x) or kept as the text itself (`lenient`, 2.x)."""
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except ValueError:
        value = _ion_struct(stripped)
    if value is _NOT_JSON:
        if _SYMBOL.match(stripped):
            return stripped, "DURATION" if _DURATION_VALUE.match(stripped) else "STRING"
        if _DATETIME.match(stripped):
            return stripped, "DATETIME"
        if _DATE.match(stripped):
            return stripped, "DATE"
        if lenient:
            return text, "STRING"
        raise illegal_argument(f"Invalid JSON value for: {text}")
    if isinstance(value, bool):
        return value, "BOOLEAN"
    if isinstance(value, (int, float)):
        return value, "NUMBER"
    if isinstance(value, str):
        return value, "DURATION" if _DURATION_VALUE.match(value) else "STRING"
    if value is None:
        raise illegal_argument(f"Invalid JSON value for: {text}")
    return value, "JSON"


_NOT_JSON = object()
_BARE_FIELD = re.compile(r'([{,]\s*)([A-Za-z_$][A-Za-z0-9_$]*)\s*:')


def _ion_struct(text: str) -> object:
    """Ion text also writes struct field names as bare symbols (`{hello:"world"}`); anything else that is
    not JSON is left to the caller."""
    if not text.startswith(("{", "[")):
        return _NOT_JSON
    try:
        return json.loads(_BARE_FIELD.sub(r'\1"\2":', text))
    except ValueError:
        return _NOT_JSON


def parse_duration(text: str) -> float:
    """Seconds of an ISO-8601 duration as Java's `Duration.parse` accepts it (PnDTnHnMn.nS)."""
    match = _DURATION.match(text.strip())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise internal(f"Text cannot be parsed to a Duration: {text}")
    sign, days, hours, minutes, seconds, fraction = match.groups()
    total = (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0))
    if fraction:
        total += (-1 if (seconds or "").startswith("-") else 1) * float(f"0.{fraction}")
    return -total if sign == "-" else total


def iso(timestamp: float) -> str:
    """An Instant as Jackson writes it: ISO-8601 UTC with a `Z`."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")

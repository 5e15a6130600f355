"""Which Kestra a connection talks to: its version and edition.

Read once from `GET /api/v1/configs` (open without credentials), or given by `server.kestra_version`
(or `--kestra-version`). What differs between versions (drafts, error types, the flow model) is
chosen from it, never by trial and error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kestrasync.errors import ConfigError
from kestrasync.http import Connection, Fields
from kestrasync.model import in_namespace

CONFIGS = "/api/v1/configs"


@dataclass(frozen=True)
class Kestra:
    version: str  # as the server says it: "2.0.3", "1.0.0", "2.0.0-SNAPSHOT"
    edition: str | None = None  # "OSS" or "EE"; None when the version was given, not read

    @property
    def release(self) -> tuple[int, int]:
        """(major, minor)."""
        return release(self.version)

    def at_least(self, major: int, minor: int = 0) -> bool:
        return self.release >= (major, minor)

    def __str__(self) -> str:
        return f"Kestra {self.version}" + (f" {self.edition}" if self.edition else "")


def release(version: str) -> tuple[int, int]:
    """`2.0.3` -> (2, 0); ConfigError for a version that says no release."""
    found = re.match(r"\s*v?(\d+)\.(\d+)", version)
    if not found:
        raise ConfigError(f"'{version}' is not a Kestra version (such as 1.0 or 2.0.3)")
    return int(found.group(1)), int(found.group(2))


def detect(conn: Connection, given: str | None) -> Kestra:
    """The server's version and edition: `given` (checked) when set, else read from the server."""
    if given:
        release(given)
        return Kestra(given)
    response = conn.send("GET", CONFIGS, route_must_exist=True)
    fields = Fields(conn, "GET", CONFIGS, conn.json(response, "GET", CONFIGS), "the server's configuration")
    kestra = Kestra(fields.text("version"), fields.text("edition", optional=True))
    try:
        release(kestra.version)
    except ConfigError:
        raise conn.unexpected("GET", CONFIGS, f"a version that says no release ({kestra.version!r})") from None
    return kestra


DISTINCT_NAMESPACES = "/flows/distinct-namespaces"


def namespaces(conn: Connection, prefixes: tuple[str, ...] = ()) -> list[str]:
    """The namespaces the server knows under `prefixes` (all of them when none), sorted. Open-source
    Kestra knows a namespace by its flows: the same list its UI shows."""
    answer = conn.json(conn.send("GET", DISTINCT_NAMESPACES), "GET", DISTINCT_NAMESPACES)
    if not isinstance(answer, list) or not all(isinstance(name, str) for name in answer):
        raise conn.unexpected("GET", DISTINCT_NAMESPACES, "a list of namespaces that is not a list of names")
    return sorted(name for name in set(answer) if not prefixes or any(in_namespace(name, p) for p in prefixes))

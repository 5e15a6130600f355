"""The registry of resource kinds: a plain dict from the name in a Key to the kind's object.

Adding a kind is a new folder beside `flows/` and one line here (ARCHITECTURE.md).
"""

from __future__ import annotations

from kestrasync.kinds.base import Kind
from kestrasync.kinds.files import FILES
from kestrasync.kinds.flows import FLOWS

KINDS: dict[str, Kind] = {kind.info.name: kind for kind in (FLOWS, FILES)}


def get(name: str) -> Kind:
    return KINDS[name]


def ranked() -> list[Kind]:
    """Every kind in write order: what others read first."""
    return sorted(KINDS.values(), key=lambda kind: kind.info.rank)

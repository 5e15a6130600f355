"""The optional state file: the whole store as JSON, written atomically and never more often than needed.

A write goes to a temporary file in the same directory, is flushed and fsynced, then `os.replace`d over the
target (and the directory fsynced), so a crash at any moment leaves either the old file or the new one,
never half of one. Writes are coalesced: mutations only mark the state dirty; a single writer task takes a
consistent snapshot on the event loop (where all mutations happen) and writes it in a worker thread, then
loops while new mutations arrived meanwhile. At most one write runs and at most one is pending.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import tempfile
from typing import Callable

FORMAT_VERSION = 1


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` so that readers (and a crash) only ever see a complete file."""
    directory, name = os.path.split(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(descriptor)


def read_state(path: str) -> dict | None:
    """The saved state, or None when there is no file yet. Temporary files a crash left behind are removed."""
    directory, name = os.path.split(os.path.abspath(path))
    for leftover in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(name)}.*.tmp")):
        os.unlink(leftover)
    try:
        with open(path, "rb") as handle:
            state = json.loads(handle.read())
    except FileNotFoundError:
        return None
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} is not an emulator state file of format {FORMAT_VERSION}.")
    return state


class StateWriter:
    """Coalescing background writer; `mark_dirty()` is called from the event loop after each mutation."""

    def __init__(self, path: str, snapshot: Callable[[], dict], pause_seconds: float = 0.02) -> None:
        self.path = path
        self._snapshot = snapshot
        self._pause = pause_seconds
        self._dirty = False
        self._task: asyncio.Task | None = None
        self.writes = 0  # how many times the file was written (coalescing makes it far fewer than mutations)

    def mark_dirty(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._drain())
            except RuntimeError:  # no loop (loading at start-up): the first flush writes it
                self._task = None

    async def _drain(self) -> None:
        while self._dirty:
            await asyncio.sleep(self._pause)  # let a burst of mutations land in one write
            await self._write()

    async def flush(self) -> None:
        """Wait for the running write, then write whatever is still dirty (called at shutdown)."""
        if self._task is not None:
            await self._task
        if self._dirty:
            await self._write()

    async def _write(self) -> None:
        self._dirty = False
        data = json.dumps({"format": FORMAT_VERSION, **self._snapshot()}, ensure_ascii=False).encode()
        await asyncio.to_thread(write_atomic, self.path, data)
        self.writes += 1

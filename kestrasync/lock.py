"""One apply at a time: an advisory lock held in Kestra's KV store.

Two applies against one tenant must not interleave: each would plan against a server the other is
changing. The lock is a KV entry (namespace and key configurable) whose value names its holder, a
random token and an expiry; apply takes it before planning and gives it back when done. A lock past
its expiry was left by a process that died: it is taken over, with a warning.

Kestra's KV store has no compare-and-set (see KvStore), so taking the lock writes, waits a moment and reads back:
if another writer came last, its token is there and we wait. This narrows the race to writers less
than a moment apart; it cannot close it, which is why the lock is advisory.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from kestrasync.errors import Interrupted, KestraSyncError, LockFailed, LockHeld
from kestrasync.http import Connection, Fields, segment

VERIFY_DELAY = 0.1  # seconds between writing the lock and reading it back
POLL = 1.0  # seconds between looks while waiting for a held lock
LOST_WRITES = 3  # writes of the lock the server may lose before apply gives up


@dataclass(frozen=True)
class LockOptions:
    enabled: bool = True
    namespace: str = "system"
    key: str = "kestra-sync-lock"
    ttl_seconds: int = 1800
    timeout_seconds: float = 0.0  # how long to wait for a held lock


class KvStore:
    """Kestra's KV entries, as the lock needs them (1.x and 2.x alike).

    Written as `text/plain` (the only type 2.0 takes; 1.x takes it too), which Kestra reads as JSON
    when it is JSON; read as `{type, value}` (2.x adds `revision`, `updated`). An entry past its TTL
    that the server has not dropped yet answers 410 "Resource has expired": absent. Kestra's KV PUT
    takes no expected revision (KVController.setKeyValue reads only the `ttl` and `description`
    headers), so there is no compare-and-set to close the lock's race with.
    """

    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, namespace: str, key: str):
        """The value of a KV entry, or None when absent (or expired)."""
        path = _kv_path(namespace, key)
        response = self.conn.send("GET", path, allow={404, 410})
        if response.status_code in (404, 410):
            return None
        return Fields(self.conn, "GET", path, self.conn.json(response, "GET", path), "a KV entry").value.get("value")

    def put(self, namespace: str, key: str, value, ttl_seconds: int | None = None) -> None:
        headers = {"Content-Type": "text/plain"}
        if ttl_seconds is not None:
            headers["ttl"] = f"PT{int(ttl_seconds)}S"  # an ISO-8601 duration
        self.conn.send("PUT", _kv_path(namespace, key), content=json.dumps(value).encode("utf-8"), headers=headers)

    def delete(self, namespace: str, key: str) -> None:
        self.conn.send("DELETE", _kv_path(namespace, key), allow={404})


def _kv_path(namespace: str, key: str) -> str:
    return f"/namespaces/{segment(namespace)}/kv/{segment(key)}"


def holder_identity() -> str:
    """Who holds the lock, for the message another apply shows: user@host pid N (and the CI run)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    run = os.environ.get("GITHUB_RUN_ID") or os.environ.get("CI_JOB_ID")
    return f"{user}@{socket.gethostname()} pid {os.getpid()}" + (f" (CI run {run})" if run else "")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds")


class ApplyLock:
    """Context manager: `with ApplyLock(conn, options, warn=...): apply...`.

    `meanwhile` runs while the lock settles (between writing it and reading it back), so the wait
    is not wasted: apply checks its plan is fresh then. Nothing else can write at that moment: another
    apply would have to be settling its own lock, and only one of them will get past the read-back.
    """

    def __init__(
        self,
        conn: Connection,
        options: LockOptions,
        *,
        warn: Callable[[str], None],
        stop: threading.Event | None = None,
        meanwhile: Callable[[], None] | None = None,
    ):
        self.kv = KvStore(conn)
        self.options = options
        self.warn = warn
        self.stop = stop or threading.Event()
        self.meanwhile = meanwhile
        self.token = uuid.uuid4().hex
        self.held = False

    def __enter__(self) -> ApplyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def name(self) -> str:
        return f"{self.options.namespace}/{self.options.key}"

    def acquire(self) -> None:
        deadline = time.time() + self.options.timeout_seconds
        lost = 0  # our writes of the lock that the server did not keep
        while True:
            current = self.kv.get(self.options.namespace, self.options.key)
            if not isinstance(current, dict) or self._expired(current):
                if isinstance(current, dict):
                    self.warn(
                        f"Warning: taking over the apply lock {self.name}, held by {current.get('holder')} "
                        f"since {current.get('acquired')} and expired at {current.get('expires')}."
                    )
                if self._try_take() is None:  # the write was answered as done, yet nothing is there
                    lost += 1
                if self.held:
                    return
                if lost >= LOST_WRITES:
                    raise LockFailed(
                        f"The apply lock {self.name} could not be taken: the Kestra server at {self.kv.conn.url} did not "
                        f"keep it in its KV store ({lost} writes answered as done, then not found). Nothing was applied."
                    )
                continue
            if time.time() >= deadline:
                raise LockHeld(
                    f"Another apply holds the lock {self.name}: {current.get('holder')} since {current.get('acquired')} "
                    f"(expires {current.get('expires')}). Nothing was applied; retry later, wait with "
                    "--lock-timeout SECONDS, or pass --no-lock if you are sure it is gone."
                )
            self._wait(min(POLL, max(0.0, deadline - time.time())))

    def _expired(self, value: dict) -> bool:
        try:
            return datetime.fromisoformat(value["expires"]).timestamp() <= time.time()
        except (KeyError, TypeError, ValueError):
            return True  # unreadable: nobody can be relying on it

    def _try_take(self):
        """Write the lock, let it settle, read it back: `held` says whether it is ours; the value read
        back is returned (None: the server kept nothing)."""
        now = time.time()
        value = {
            "holder": holder_identity(),
            "token": self.token,
            "acquired": _iso(now),
            "expires": _iso(now + self.options.ttl_seconds),
        }
        # Kestra drops the entry itself a while after it expires; until then it shows who left it.
        self.kv.put(self.options.namespace, self.options.key, value, ttl_seconds=2 * self.options.ttl_seconds)
        settled = time.monotonic() + VERIFY_DELAY
        self.held = True  # perhaps: if anything fails before the read-back, release() looks and cleans up
        try:
            if self.meanwhile:
                self.meanwhile()
            self._wait(max(0.0, settled - time.monotonic()))
            current = self.kv.get(self.options.namespace, self.options.key)
        except BaseException:
            self.release()
            raise
        self.held = isinstance(current, dict) and current.get("token") == self.token
        return current

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Interrupted("Stopped while waiting for the apply lock; nothing was applied.")

    def release(self) -> None:
        """Give the lock back, unless it was taken over meanwhile. Best effort: a failure here must not
        hide what the apply did, and the lock expires anyway."""
        if not self.held:
            return
        self.held = False
        try:
            current = self.kv.get(self.options.namespace, self.options.key)
            if isinstance(current, dict) and current.get("token") == self.token:
                self.kv.delete(self.options.namespace, self.options.key)
        except KestraSyncError as error:
            self.warn(f"Warning: the apply lock {self.name} could not be released ({error}); it expires by itself.")

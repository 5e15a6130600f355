"""Running the emulator: in a background thread for tests (`EmulatorServer`) or in the foreground (`serve`).

`EmulatorServer` binds its own listening socket before uvicorn starts (so port 0 gives a free port whose
number is known at once), runs uvicorn on a private event loop in a thread, and on `stop()` releases stalled
requests, lets uvicorn shut down gracefully (the state file gets its last write) and joins the thread: no
thread or socket is left behind. Its hook helpers talk HTTP to `/__emulator/`, so they would work just as
well against an emulator in another process.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Callable

import httpx

from .config import EmulatorConfig


class EmulatorServer:
    """A Kestra stand-in on a real socket, usable as a context manager.

    Example:

        with EmulatorServer() as kestra:
            httpx.get(f"{kestra.url}/api/v1/main/flows/search", auth=("admin@kestra.io", "Admin1234"))
    """

    def __init__(self, config: EmulatorConfig = EmulatorConfig(), host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.url = ""
        self.app = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._hooks_client: httpx.Client | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> "EmulatorServer":
        import uvicorn

        from .app import create_app

        self._socket = _listen(self.host, self.port)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://{_url_host(self.host)}:{self.port}"
        self.app = create_app(self.config)
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, lifespan="on", log_config=None, log_level="warning", access_log=False,
            timeout_graceful_shutdown=2))  # log_config=None: leave the host application's logging alone
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"kestra-emulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The Kestra emulator did not start on {self.url}.")
            time.sleep(0.01)
        self._hooks_client = httpx.Client(base_url=f"{self.url}/__emulator/", timeout=10)
        return self

    def stop(self) -> None:
        if self._hooks_client is not None:
            self._hooks_client.close()
            self._hooks_client = None
        if self._server is not None:
            self.app.state.emulator.hooks.release_stalls()
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._server = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- test hooks (HTTP, see hooks_api.py) --------------------------------------------------------

    def request_counts(self) -> dict[str, int]:
        """Requests per route, keyed "METHOD /route/template" (e.g. "GET /api/v1/{tenant}/flows/search")."""
        return self._hook("GET", "requests").json()["routes"]

    def reset(self, *, store: bool = True, counters: bool = True, faults: bool = True) -> None:
        """Empty the store, zero the counters, drop the faults (and restore the configured latency)."""
        self._hook("POST", "reset", {"store": store, "counters": counters, "faults": faults})

    def add_fault(self, *, route: str | None = None, method: str | None = None, action: str = "status",
                  status: int = 503, count: int | None = None, fraction: float | None = None, seed: int | None = None,
                  retry_after: str | int | None = None, stall_seconds: float | None = None,
                  phase: str = "before") -> None:
        """Inject a fault on matching Kestra routes; see hooks.py for the actions and phases."""
        spec = {"route": route, "method": method, "action": action, "status": status, "count": count,
                "fraction": fraction, "seed": seed, "retry_after": retry_after, "stall_seconds": stall_seconds,
                "phase": phase}
        self._hook("POST", "faults", {key: value for key, value in spec.items() if value is not None})

    def clear_faults(self) -> None:
        self._hook("DELETE", "faults")

    def set_latency(self, ms: int) -> None:
        self._hook("PUT", "latency", {"ms": ms})

    def _hook(self, method: str, name: str, body: dict | None = None) -> httpx.Response:
        if self._hooks_client is None:
            raise RuntimeError("The emulator is not running; call start() first.")
        response = self._hooks_client.request(method, name, json=body)
        response.raise_for_status()
        return response


def serve(config: EmulatorConfig, *, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Blocking: run the emulator until Ctrl-C or SIGTERM, after announcing its URL and credentials."""
    server = EmulatorServer(config, host=host, port=port)
    try:
        server.start()
    except OSError as error:
        raise SystemExit(f"Cannot listen on {host}:{port}: {error.strerror or error}.") from None
    for line in describe(server):
        announce(line)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping.wait(0.2) and server.running:
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()


def describe(server: EmulatorServer) -> list[str]:
    """The lines `serve` announces: where it listens, how to authenticate, where state is kept."""
    config = server.config
    lines = [f"Kestra emulator (imitating Kestra {config.kestra_version}) listening on {server.url}"]
    if config.username is not None:
        lines.append(f"Basic auth: username {config.username} password {config.password}")
    if config.token is not None:
        lines.append(f"Bearer token: {config.token}")
    if not config.auth_enabled:
        lines.append("Authentication: none")
    if config.multi_tenant:
        lines.append("Tenants: any (each with its own store)")
    if config.state_file:
        lines.append(f"State file: {config.state_file}")
    lines.append("Press Ctrl-C to stop.")
    return lines


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP,
    # and without it every answer written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

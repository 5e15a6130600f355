"""A hostile proxy: a reverse proxy on loopback between kestra-sync and the emulator that corrupts,
delays and reshapes Kestra's answers, rule by rule, so that every way a server or a network can go
wrong is a test.

    with HostileProxy(emulator.url) as proxy:
        proxy.add("GET", r"/flows/search", edit_json(lambda page: ...), count=1)
        ... KESTRA_URL=proxy.url ...

A rule matches a method and a path (a regex searched in the path, query string left out) and answers
in its place, at most `count` times (None: always). Everything else is forwarded as it is.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import re
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass
class Request:
    method: str
    path: str  # with its query string
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Action = Callable[["_Handler", Request, "HostileProxy"], None]


@dataclass
class Rule:
    method: str | None
    pattern: re.Pattern
    action: Action
    count: int | None = None
    hits: int = 0

    def takes(self, request: Request) -> bool:
        path = request.path.split("?", 1)[0]
        return (self.method is None or self.method == request.method) and self.pattern.search(path) is not None and (
            self.count is None or self.hits < self.count
        )


class HostileProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str):
        self.upstream = httpx.Client(base_url=upstream, timeout=60)
        self.rules: list[Rule] = []
        self.seen: list[Request] = []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __enter__(self) -> HostileProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
        self.upstream.close()

    def add(self, method: str | None, path: str, action: Action, count: int | None = None) -> Rule:
        rule = Rule(method, re.compile(path), action, count)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _rule_for(self, request: Request) -> Rule | None:
        with self._lock:
            self.seen.append(request)
            for rule in self.rules:
                if rule.takes(request):
                    rule.hits += 1
                    return rule
        return None

    def forward(self, request: Request) -> Answer:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "accept-encoding", "connection")}
        upstream = self.upstream.request(request.method, request.path, content=request.body, headers=headers)
        kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")]
        return Answer(upstream.status_code, kept, upstream.content)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_one(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length) if length else b"")
        rule = self.server._rule_for(request)
        if rule is None:
            self.send(self.server.forward(request))
        else:
            rule.action(self, request, self.server)

    do_GET = do_POST = do_PUT = do_DELETE = handle_one

    def send(self, answer: Answer, *, length: int | None = None) -> None:
        """Write an answer whole (`length`: the Content-Length to claim, when it lies)."""
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body) if length is None else length))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, *args) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# Actions


def edit_json(edit: Callable[[object], object]) -> Action:
    """Forward, then answer with `edit(the JSON)` (which may change it in place and return None)."""

    def act(handler: _Handler, request: Request, proxy: HostileProxy) -> None:
        answer = proxy.forward(request)
        data = json.loads(answer.body)
        edited = edit(data)
        body = json.dumps(data if edited is None else edited).encode()  # NaN and Infinity as Python writes them
        handler.send(Answer(answer.status, _with_type(answer.headers, "application/json"), body))

    return act


def answer_with(status: int, body: bytes | str, content_type: str = "application/json", headers: dict | None = None) -> Action:
    """Answer without forwarding."""
    data = body.encode() if isinstance(body, str) else body

    def act(handler: _Handler, request: Request, proxy: HostileProxy) -> None:
        handler.send(Answer(status, [("Content-Type", content_type), *(headers or {}).items()], data))

    return act


def echo_request(status: int = 500) -> Action:
    """An error page that shows the request it got, headers and body (as some debug pages do)."""

    def act(handler: _Handler, request: Request, proxy: HostileProxy) -> None:
        page = "<html><body><h1>Internal error</h1><pre>" + "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        page += "\n\n" + request.body.decode(errors="replace") + "</pre></body></html>"
        handler.send(Answer(status, [("Content-Type", "text/html")], page.encode()))

    return act


def alter_request(edit: Callable[[bytes], bytes]) -> Action:
    """Forward another body than the one sent (a write altered on the way), answer what the server says."""

    def act(handler: _Handler, request: Request, proxy: HostileProxy) -> None:
        handler.send(proxy.forward(Request(request.method, request.path, request.headers, edit(request.body))))

    return act


def lose_write() -> Action:
    """Answer as if done, forward nothing (a write lost on the way)."""
    return answer_with(200, b"", "application/json")


def truncate(keep: int) -> Action:
    """Forward, then send `keep` bytes of the body while claiming all of it, and close."""

    def act(handler: _Handler, request: Request, proxy: HostileProxy) -> None:
        answer = proxy.forward(request)
        handler.send(Answer(answer.status, answer.headers, answer.body[:keep]), length=len(answer.body))
        handler.close_connection = True

    return act


def trickle(seconds_per_byte: float) -> Action:
    """Forward, then send the body one byte at a time, until done or the client goes away."""

    def act(handler: _Handler, request: Request, proxy: HostileProxy) -> None:
        answer = proxy.forward(request)
        handler.send_response(answer.status)
        for name, value in answer.headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        try:
            for byte in answer.body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(seconds_per_byte)
        except OSError:
            pass
        handler.close_connection = True

    return act


def encoded_as(encoding: str, body: bytes | None = None) -> Action:
    """Forward, then answer with a `Content-Encoding` header over `body` (default: the plain answer)."""

    def act(handler: _Handler, request: Request, proxy: HostileProxy) -> None:
        answer = proxy.forward(request)
        headers = [*_with_type(answer.headers, "application/json"), ("Content-Encoding", encoding)]
        handler.send(Answer(answer.status, headers, answer.body if body is None else body))

    return act


@functools.lru_cache(maxsize=None)
def gzip_bomb(gigabytes: int = 1) -> bytes:
    """gzip of that many GiB of spaces: about a megabyte."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    return b"".join(compressor.compress(chunk) for _ in range(gigabytes << 10)) + compressor.flush()


@functools.lru_cache(maxsize=None)
def zip_bomb(gigabytes: int = 1) -> bytes:
    """An export holding one flow of that many GiB of spaces: about a megabyte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("company-bomb.yml", "w", force_zip64=True) as member:
            member.write(b"id: bomb\nnamespace: company\n# ")
            chunk = b" " * (1 << 20)
            for _ in range(gigabytes << 10):
                member.write(chunk)
    return buffer.getvalue()


def _with_type(headers: list[tuple[str, str]], content_type: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() != "content-type"] + [("Content-Type", content_type)]

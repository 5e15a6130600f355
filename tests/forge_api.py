"""A stand-in for the parts of GitHub's and GitLab's REST APIs that `kestra-sync ci` uses: a pull
request's issue comments, a merge request's notes. Real sockets, pages of `per_page` items with the
`Link: rel="next"` header both APIs send, tokens checked, every request recorded."""

from __future__ import annotations

import http.server
import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

_GITHUB_LIST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_GITHUB_ONE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")
_GITLAB_LIST = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes$")
_GITLAB_ONE = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)$")


@dataclass
class Comment:
    id: int
    thread: tuple[str, int]  # (repository or project, request number)
    body: str
    author: str
    system: bool = False


@dataclass
class ForgeApi:
    """Comments by thread; `token` is the one accepted, `read_only` refuses writes with 403 (a
    fork's token)."""

    token: str = "ghs_forge-token-SECRET"
    read_only: bool = False
    author: str = "github-actions[bot]"
    comments: dict[int, Comment] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _next_id: int = 1000

    def add(self, thread: tuple[str, int], body: str, author: str = "someone", system: bool = False) -> Comment:
        self._next_id += 1
        comment = Comment(self._next_id, thread, body, author, system)
        self.comments[comment.id] = comment
        return comment

    def of(self, thread: tuple[str, int]) -> list[Comment]:
        return [c for c in self.comments.values() if c.thread == thread]

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


class _Handler(http.server.BaseHTTPRequestHandler):
    api: ForgeApi
    base: str

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: object = None, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "").removeprefix("Bearer ") or self.headers.get("PRIVATE-TOKEN", "")
        if given != self.api.token:
            self._send(401, {"message": "Bad credentials"})
            return False
        return True

    def _json(self) -> dict:
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        self.api.requests.append((method, url.path))
        if not self._authorized():
            return
        if method != "GET" and self.api.read_only:
            return self._send(403, {"message": "Resource not accessible by integration"})
        listing = _GITHUB_LIST.match(url.path) or _GITLAB_LIST.match(url.path)
        one = _GITHUB_ONE.match(url.path) or _GITLAB_ONE.match(url.path)
        if listing and method == "GET":
            return self._page(url, (listing[1], int(listing[2])))
        if listing and method == "POST":
            comment = self.api.add((listing[1], int(listing[2])), self._json()["body"], self.api.author)
            return self._send(201, self._shown(comment))
        if one and method in ("PATCH", "PUT"):
            comment = self.api.comments.get(int(one[one.lastindex]))
            if comment is None:
                return self._send(404, {"message": "Not Found"})
            comment.body = self._json()["body"]
            return self._send(200, self._shown(comment))
        self._send(404, {"message": "Not Found"})

    def _page(self, url, thread: tuple[str, int]) -> None:
        query = parse_qs(url.query)
        size, number = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
        items = self.api.of(thread)
        page = items[(number - 1) * size: number * size]
        headers = {}
        if number * size < len(items):
            headers["Link"] = f'<{self.base}{url.path}?per_page={size}&page={number + 1}>; rel="next"'
        self._send(200, [self._shown(c) for c in page], headers)

    @staticmethod
    def _shown(comment: Comment) -> dict:
        return {"id": comment.id, "body": comment.body, "user": {"login": comment.author}, "system": comment.system}

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")


class ForgeServer:
    """`with ForgeServer() as forge:` the stand-in on a free port; `forge.url`, `forge.api`."""

    def __init__(self, api: ForgeApi | None = None):
        self.api = api or ForgeApi()
        handler = type("Handler", (_Handler,), {"api": self.api})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        handler.base = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ForgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

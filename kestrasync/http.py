"""The only module that speaks HTTP (through httpx): one connection to a Kestra tenant.

It owns what every request shares: the base path `/api/v1/{tenant}`, credentials, TLS, Kestra's
error envelopes (1.x JSON and 2.x `application/problem+json`), the sentences that name the server
but never a credential, and the bounds that keep a hostile or broken server from making a command
hang or eat memory:

- a deadline for the whole request (`server.timeout`: connecting, sending, waiting, and every byte
  of the answer), watched between reads of at most a quarter of a second, which is also how often
  a stop (SIGINT, SIGTERM) is noticed inside a request;
- one retry loop with backoff for transient faults, within a total budget (`server.retry_budget`),
  obeying a server's `Retry-After` only while it fits the budget;
- a cap on the bytes of an answer, and on how far a `Content-Encoding` may expand them.

What a request means (which route, how to read its answer) belongs to the kind that makes it
(kestrasync.kinds) or to the lock. The httpx transport can be injected: unit tests give
`httpx.MockTransport` for answers the emulator would never give.
"""

from __future__ import annotations

import base64
import email.utils
import json
import math
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO, TypeVar
from urllib.parse import quote

import httpcore
import httpx

from kestrasync.errors import ApiError, AuthRejected, ConfigError, ErrorDetail, ForgeError, KestraSyncError, ServerUnreachable
from kestrasync.model import Tally

RETRY_STATUSES = frozenset({429, 502, 503, 504})
SLICE = 0.25  # longest a blocked read or write waits before it looks at the deadline and at `stop`
STOP_GRACE = 0.5  # how long a request in flight may go on once a stop is asked for
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # an answer's body, decoded, unless the route says otherwise (a search page of 1,000 flows is 1 MB)
MAX_EXPANSION = 100  # decoded bytes per received byte a Content-Encoding may give, beyond the first MiB
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    """Basic (username/password, Kestra OSS) or Bearer (API token, Enterprise). repr() hides secrets."""

    username: str | None = None
    password: str | None = None
    token: str | None = None
    origin: str = ""  # where they came from, for messages: `KESTRA_PASSWORD (.env)`, `--token`

    def __repr__(self) -> str:
        return f"Credentials({self.describe()})"

    def describe(self) -> str:
        """Which credentials, and from where; never the secret."""
        origin = f", from {self.origin}" if self.origin else ""
        if self.token:
            return f"an API token (Bearer{origin})"
        if self.username:
            return f"user '{self.username}' (Basic{origin})"
        return "a request without credentials (none were given: set KESTRA_USERNAME and KESTRA_PASSWORD, or KESTRA_API_TOKEN)"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the password, the token, and the Basic header they make."""
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode() if self.username and self.password else ""
        return tuple(secret for secret in (self.password, self.token, basic) if secret)

    def auth(self) -> httpx.Auth | None:
        return httpx.BasicAuth(self.username, self.password or "") if self.username and not self.token else None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # retries after the first try
    base_delay: float = 0.25  # seconds before the first retry; doubled each time, with jitter
    max_delay: float = 8.0
    budget: float = 120.0  # seconds a request may take, its retries and waits included

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it gave one."""
        if retry_after is not None:
            return retry_after
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass(frozen=True)
class ServerOptions:
    """Where the server is and how to talk to it."""

    url: str | None = None
    tenant: str = "main"
    credentials: Credentials = field(default_factory=Credentials)
    timeout: float = 30.0  # seconds for a whole request, from connecting to the last byte of its answer
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_tls: bool = True
    ca_cert: str | None = None
    kestra_version: str | None = None  # the server's version, when it must not be asked (kestrasync.server)


class Transient(Exception):
    """A failure that may pass: the server was unreachable, did not answer, or said 429/502/503/504.
    Raised by `send(..., retry=False)` and by the attempts given to `retrying`."""

    def __init__(self, error: KestraSyncError, retry_after: float | None = None, request: str = ""):
        self.error = error
        self.retry_after = retry_after
        self.request = request


class Connection:
    """A Kestra tenant's API over one pool of connections. Thread-safe: apply shares it between workers."""

    def __init__(
        self,
        options: ServerOptions,
        *,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
    ):
        if not options.url:
            raise ConfigError("no Kestra server URL: set KESTRA_URL, pass --url, or set server.url in kestra-sync.yaml")
        self.url = options.url.rstrip("/")
        self.tenant = options.tenant
        self.credentials = options.credentials
        self.retry = options.retry
        self.timeout = options.timeout
        self.sleep = sleep
        self.stop = stop  # once set, failed requests are not retried, and requests in flight end soon
        self.tally: Tally | None = None  # told how far the kinds' bulk reads are (a progress display)
        self.kestra = None  # the server's version and edition (kestrasync.server.Kestra), once known
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._verify = _verify(options)
        self._transport = transport
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._options = dict(
            base_url=f"{self.url}/api/v1/{quote(options.tenant, safe='')}",
            auth=options.credentials.auth(),
            headers={"User-Agent": "kestra-sync", **options.credentials.headers()},
            timeout=options.timeout,
            # httpx drops the Authorization header on a redirect to another origin.
            follow_redirects=True,
        )

    @property
    def http(self) -> httpx.Client:
        """The HTTP client, made on first use: loading the TLS trust store takes a tenth of a
        second, which plan spends in its reading thread while the files are scanned."""
        if self._http is None:
            with self._lock:
                if self._http is None:
                    transport = self._transport or _DeadlineTransport(httpx.create_ssl_context(verify=self._verify), self._limits)
                    self._http = httpx.Client(transport=transport, **self._options)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        allow: frozenset[int] | set[int] = frozenset(),
        retry: bool = True,
        route_must_exist: bool = False,
        max_bytes: int = MAX_ANSWER_BYTES,
        into: BinaryIO | None = None,
        **kwargs,
    ) -> httpx.Response:
        """A request; returns a 2xx answer (or one whose status is in `allow`), read whole, or raises a
        KestraSyncError. With `into`, a 2xx answer's body is written there instead (a large download
        need not be held in memory), from its start on each attempt.

        Transient failures are retried with backoff; with `retry=False` they raise Transient instead,
        for a caller that must settle them itself (a create whose answer was lost). With
        `route_must_exist`, a 404 means the URL or the tenant is wrong, and says so. An answer over
        `max_bytes` (decoded) is refused.
        """
        attempt = lambda: self._attempt(method, path, allow, route_must_exist, max_bytes, into, kwargs)  # noqa: E731
        return attempt() if not retry else self.retrying(attempt)

    def retrying(self, attempt: Callable[[], T], settle: Callable[[KestraSyncError], T | None] | None = None) -> T:
        """The retry loop: `attempt()` until it returns or fails for good.

        An attempt raises Transient for what may pass; the loop waits (backoff, or the server's
        Retry-After) and tries again, at most `retry.attempts` more times and within `retry.budget`
        seconds, and stops at once when `stop` is set. A write that may have happened despite a
        failure gives `settle`, which says what the server holds (None: nothing); it is asked before
        each new attempt and after the last failure.
        """
        started = time.monotonic()
        previous: KestraSyncError | None = None
        for number in range(self.retry.attempts + 1):
            if previous is not None and settle is not None and (settled := settle(previous)) is not None:
                return settled
            try:
                return attempt()
            except Transient as failure:
                previous = failure.error
                if number == self.retry.attempts or not self._pause(number, failure, started):
                    break
        if settle is not None and (settled := settle(previous)) is not None:
            return settled
        raise previous from None

    def json(self, response: httpx.Response, method: str, path: str):
        """The answer's JSON; an ApiError saying what came instead. (Python reads NaN and Infinity as
        numbers: Fields refuses them where a number is expected.)"""
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("Content-Type", "").split(";")[0].strip()
            what = "an HTML page (a login page, or a proxy in between?)" if kind == "text/html" else "an answer that is not JSON"
            raise self.unexpected(method, path, what) from None

    def unexpected(self, method: str, path: str, what: str) -> ApiError:
        """The error for an answer that no Kestra server would give."""
        return ApiError(
            f"The Kestra server at {self.url} sent {what} to {method} {path}; is it a Kestra server?",
            status=200, method=method, path=path,
        )

    # -----------------------------------------------------------------------------------------

    def _attempt(self, method: str, path: str, allow, route_must_exist: bool, max_bytes: int, into: BinaryIO | None,
                 kwargs: dict) -> httpx.Response:
        request = f"{method} {path}"
        try:
            with _bounded(time.monotonic() + self.timeout, self.stop):
                # A path under /api/ is the server's own (GET /api/v1/configs), not the tenant's.
                target = self.url + path if path.startswith("/api/") else path
                response = self._read(self.http.build_request(method, target, **kwargs), max_bytes, method, path, into)
        except _DeadlinePassed:
            raise Transient(ServerUnreachable(
                f"The Kestra server at {self.url} did not answer {request} within {self.timeout:g} s (server.timeout)."
            ), request=request) from None
        except _Stopped:
            raise ServerUnreachable(
                f"Stopped while waiting for the Kestra server at {self.url} to answer {request}; "
                "whether it did what was asked is not known (run the command again)."
            ) from None
        except httpx.ConnectError as error:
            certificate = _cause(error, ssl.SSLCertVerificationError)
            if certificate is not None:  # not transient: say what to do instead of retrying
                raise ServerUnreachable(
                    f"The TLS certificate of {self.url} could not be verified ({certificate.verify_message}); "
                    "pass --ca-cert FILE with the CA that signed it, or --insecure to skip verification."
                ) from None
            handshake = _cause(error, ssl.SSLError)
            if handshake is not None and "WRONG_VERSION_NUMBER" in str(handshake):  # TLS spoken to a plain-HTTP port
                raise ServerUnreachable(
                    f"The server at {self.url} does not speak TLS on that port: it looks like plain HTTP; "
                    f"use {'http://' + self.url.removeprefix('https://')} (or the server's TLS port)."
                ) from None
            raise Transient(ServerUnreachable(f"Cannot reach the Kestra server at {self.url}: {_reason(error)}."), request=request) from None
        except httpx.ConnectTimeout as error:
            raise Transient(ServerUnreachable(f"Cannot reach the Kestra server at {self.url}: {_reason(error)}."), request=request) from None
        except httpx.TooManyRedirects:
            raise ApiError(
                f"The Kestra server at {self.url} redirected {request} too many times; check the URL.",
                status=0, method=method, path=path,
            ) from None
        except httpx.DecodingError:
            raise self.unexpected(method, path, "an answer whose Content-Encoding does not match its bytes") from None
        except httpx.TransportError as error:
            raise Transient(
                ServerUnreachable(f"The Kestra server at {self.url} did not answer {request}: {_reason(error)}."), request=request
            ) from None
        status = response.status_code
        if status < 300 or status in allow:
            return response
        error = self._error(response, method, path, route_must_exist)
        if status in RETRY_STATUSES:  # still failing after the retries, the server is as good as unreachable
            raise Transient(ServerUnreachable(str(error)), retry_after(response.headers.get("Retry-After")), request)
        raise error

    def _read(self, request: httpx.Request, max_bytes: int, method: str, path: str, into: BinaryIO | None) -> httpx.Response:
        """Send, and read the answer whole, decoded, within `max_bytes` and MAX_EXPANSION (into `into`
        when the answer is a success and one is given)."""
        response = self.http.send(request, stream=True)
        try:
            chunks, size = [], 0
            sink = into if into is not None and response.status_code < 300 else None
            if sink is not None:
                sink.seek(0)
                sink.truncate()
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise self.unexpected(method, path, f"an answer of more than {max_bytes:,} bytes")
                if size > (1 << 20) + MAX_EXPANSION * response.num_bytes_downloaded:
                    raise self.unexpected(method, path, "an answer whose Content-Encoding expands without bound")
                if sink is None:
                    chunks.append(chunk)
                else:
                    sink.write(chunk)
        finally:
            response.close()
        headers = [(name, value) for name, value in response.headers.raw if name.lower() != b"content-encoding"]
        read = httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=response.request,
                              extensions=response.extensions, history=response.history)
        return read

    def _pause(self, attempt: int, failure: Transient, started: float) -> bool:
        """Wait before the next attempt; False when it must not come: stopped meanwhile (Ctrl-C), or
        out of budget. A Retry-After beyond the budget is a failure of its own, said so."""
        delay = self.retry.delay(attempt, failure.retry_after)
        remaining = self.retry.budget - (time.monotonic() - started)
        if delay > remaining:
            if failure.retry_after is None:
                return False
            raise ServerUnreachable(
                f"The Kestra server at {self.url} asks to wait {_seconds(delay)} before {failure.request} is tried again, "
                f"longer than the retries may take (server.retry_budget: {self.retry.budget:g} s); try again later."
            )
        if self.stop is None:
            self.sleep(delay)
            return True
        return not self.stop.wait(delay)

    def _error(self, response: httpx.Response, method: str, path: str, route_must_exist: bool) -> KestraSyncError:
        status = response.status_code
        where = self.url
        if response.history:  # the answer came from where a redirect led (without our credentials if elsewhere)
            where = f"{self.url} (redirected to {response.url.scheme}://{response.url.netloc.decode()})"
        if status == 401:
            kestra = self.kestra
            if kestra is not None and kestra.edition == "EE" and kestra.at_least(2) and not self.credentials.token:
                return AuthRejected(
                    f"The Kestra server at {where} ({kestra}) refused {self.credentials.describe()} (401 Unauthorized): "
                    "Kestra Enterprise 2.x takes API tokens only; set KESTRA_API_TOKEN (a token made in Kestra's UI)."
                )
            advice = "check them" if self.credentials.username or self.credentials.token else "it asks for credentials"
            return AuthRejected(f"The Kestra server at {where} refused {self.credentials.describe()} (401 Unauthorized); {advice}.")
        if status == 403:
            return AuthRejected(
                f"The Kestra server at {where} does not allow {self.credentials.describe()} to {method} {path} (403 Forbidden)."
            )
        messages = error_messages(response)
        detail = "; ".join(messages) if messages else response.reason_phrase
        details = dict(status=status, method=method, path=path, messages=messages, problem=problem_type(response),
                       details=error_details(response))
        if status == 400 and "tenant" in detail.lower():
            return ApiError(f"The Kestra server at {where} refused tenant '{self.tenant}': {detail}", **details)
        if status == 404 and route_must_exist:
            detail = f"{detail} (is {self.url} a Kestra server, and tenant '{self.tenant}' right?)"
        return ApiError(f"The Kestra server at {where} answered {status} to {method} {path}: {detail}", **details)


class Fields:
    """A JSON object of an answer, read field by field: a field missing, of another type or out of
    range is an ApiError naming the route and the field, never a wrong value let through."""

    def __init__(self, conn: Connection, method: str, path: str, value, what: str = "an answer"):
        self.conn, self.method, self.path, self.what = conn, method, path, what
        if not isinstance(value, dict):
            raise self._refuse(f"{what} that is {_shown(json.dumps(value, ensure_ascii=False))} (not an object)")
        self.value = value

    def _refuse(self, what: str) -> ApiError:
        return self.conn.unexpected(self.method, self.path, what)

    def _get(self, name: str, optional: bool):
        if name not in self.value or (optional and self.value[name] is None):
            if optional:
                return None
            raise self._refuse(f"{self.what} without `{name}`")
        return self.value[name]

    def _wrong(self, name: str, expected: str) -> ApiError:
        return self._refuse(f"{self.what} with `{name}`: {_shown(json.dumps(self.value[name], ensure_ascii=False))} (not {expected})")

    def text(self, name: str, *, optional: bool = False) -> str | None:
        value = self._get(name, optional)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self._wrong(name, "a text")
        return value

    def whole(self, name: str, low: int, high: int, *, optional: bool = False) -> int | None:
        """A whole number from `low` to `high` (not a boolean, not 1.5, not Infinity)."""
        value = self._get(name, optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._wrong(name, f"a whole number from {low:,} to {high:,}")
        return value

    def flag(self, name: str, *, optional: bool = False) -> bool | None:
        value = self._get(name, optional)
        if value is None and optional:
            return None
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def items(self, name: str, *, optional: bool = False) -> list:
        value = self._get(name, optional)
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise self._wrong(name, "a list")
        return value


MESSAGE_CHARS = 300  # of one error text a server sends


def _body(response: httpx.Response):
    """The JSON of an answer; None when it is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _error_items(body) -> list[dict]:
    """The error entries of a 1.x envelope (`_embedded.errors`, possibly one object) or a 2.x problem (`errors`)."""
    if not isinstance(body, dict):
        return []
    details = body.get("_embedded", {}).get("errors") if isinstance(body.get("_embedded"), dict) else None
    if details is None:
        details = body.get("errors")
    if isinstance(details, dict):
        details = [details]
    return [item for item in details if isinstance(item, dict)] if isinstance(details, list) else []


def error_messages(response: httpx.Response) -> tuple[str, ...]:
    """Kestra's own error texts from its 1.x JSON envelope or a 2.x application/problem+json body,
    whatever their shape (a server may send any JSON), each cut to MESSAGE_CHARS.

    1.x: {"message": "Invalid entity: ...", "_embedded": {"errors": [{"message", "path"}]}} (errors may be
    one object). 2.x: {"title", "detail", "errors": [{"message"|"detail", "path"|"pointer"}]}.
    """
    body = _body(response)
    if body is None:
        text = response.text.strip()
        return (_shown(text),) if text else ()
    if not isinstance(body, dict):
        return ()
    itemized = []
    for item in _error_items(body):
        text = _shown(item.get("message") or item.get("detail") or "")
        where = _shown(item.get("path") or item.get("pointer") or item.get("field") or "")
        itemized.append(f"{where}: {text}" if where and where not in text else text)
    if any(itemized):
        return tuple(m for m in itemized if m)
    headline = body.get("message") or body.get("detail") or body.get("title")
    return (_shown(headline),) if headline else ()


def error_details(response: httpx.Response) -> tuple[ErrorDetail, ...]:
    """Each error entry's whole text and where it says the error is (2.x `pointer` and `path`, 1.x `path`:
    a property path or Jackson's reference chain); a body without entries gives its headline, unplaced."""
    body = _body(response)
    found = []
    for item in _error_items(body):
        text = next((v for v in (item.get("message"), item.get("detail")) if isinstance(v, str)), "")
        paths = tuple(v for v in (item.get("pointer"), item.get("path"), item.get("field")) if isinstance(v, str) and v)
        found.append(ErrorDetail(text, paths))
    if not found and isinstance(body, dict):
        headline = next((v for v in (body.get("message"), body.get("detail")) if isinstance(v, str) and v), None)
        found = [ErrorDetail(headline, ())] if headline else []
    return tuple(found)


def problem_type(response: httpx.Response) -> str | None:
    """An RFC 9457 problem document's type (the last segment of its `type` URI: `entity-already-exists`),
    what 2.x callers branch on; None for any other body."""
    body = _body(response)
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return None
    return body["type"].rstrip("/").rsplit("/", 1)[-1]


def retry_after(value: str | None) -> float | None:
    """The seconds a server asks to wait (Retry-After: delta-seconds or an HTTP date); None when absent
    or unreadable, 0 for the past or a negative number."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def segment(value: str) -> str:
    """A value quoted to stand as one path segment."""
    return quote(value, safe="")


def _shown(value) -> str:
    """A server's value as text for a sentence: any JSON value, one line, at most MESSAGE_CHARS."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _seconds(value: float) -> str:
    return "forever" if math.isinf(value) else f"{value:,.0f} s"


def _verify(options: ServerOptions) -> bool | ssl.SSLContext:
    if not options.ca_cert:
        return options.verify_tls
    try:
        return ssl.create_default_context(cafile=options.ca_cert)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"the CA bundle {options.ca_cert} cannot be used: {error}") from None


def _cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in the chain of causes and contexts behind `error`."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _reason(error: httpx.HTTPError) -> str:
    text = str(error).strip()
    if isinstance(error, httpx.TimeoutException):
        return "timed out" + (f" ({text})" if text else "")
    return text or type(error).__name__


# ---------------------------------------------------------------------------------------------
# The deadline and the stop, inside a request.
#
# httpx's timeouts bound each read, not a request: a body trickling one byte a second never trips
# them. So the sockets are reached through a network backend of our own, whose reads and writes
# wait at most SLICE at a time and, between slices, look at the deadline of the request the thread
# is making and at the stop event. httpx hands the backend to httpcore's pool through its
# transport; this is the one place that knows how.


class _DeadlinePassed(Exception):
    pass


class _Stopped(Exception):
    pass


class _Bounds(threading.local):
    deadline: float | None = None
    stop: threading.Event | None = None
    stopped_at: float | None = None


_BOUNDS = _Bounds()


class _bounded:
    """Within this block, the thread's requests end by `deadline` and soon after `stop` is set."""

    def __init__(self, deadline: float, stop: threading.Event | None):
        self.bounds = (deadline, stop)

    def __enter__(self) -> None:
        _BOUNDS.deadline, _BOUNDS.stop = self.bounds
        _BOUNDS.stopped_at = None

    def __exit__(self, *exc) -> None:
        _BOUNDS.deadline = _BOUNDS.stop = _BOUNDS.stopped_at = None


def _check() -> float:
    """The seconds left before the thread's request must end; raises when it must end now."""
    now = time.monotonic()
    stop = _BOUNDS.stop
    if stop is not None and stop.is_set():
        if _BOUNDS.stopped_at is None:
            _BOUNDS.stopped_at = now
        if now - _BOUNDS.stopped_at >= STOP_GRACE:
            raise _Stopped()
    deadline = _BOUNDS.deadline
    if deadline is None:
        return math.inf
    if now >= deadline:
        raise _DeadlinePassed()
    return deadline - now


def _within(timeout: float | None) -> float | None:
    """An operation's own timeout, shortened to what is left of the request (None: no bound at all)."""
    bounded = min(math.inf if timeout is None else timeout, _check())
    return None if math.isinf(bounded) else bounded


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def _sliced(self, operation, timeout: float | None, timeout_error: type[Exception], *args):
        """`operation(*args, slice)` again and again, each waiting at most SLICE, until it is done,
        its own timeout passes, the request's deadline passes or a stop is asked for."""
        own_end = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            left = min(_check(), own_end - time.monotonic())
            if left <= 0:
                raise timeout_error("timed out")
            try:
                return operation(*args, min(SLICE, left))
            except timeout_error:
                continue

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._sliced(self._inner.read, timeout, httpcore.ReadTimeout, max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # a write that times out may have sent part of the buffer: it is not sliced, only bounded
        return self._inner.write(buffer, _within(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _within(timeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self):
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _within(timeout), local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, over httpcore's pool with the bounded network backend."""

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits):
        super().__init__(verify=ssl_context, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


# ---------------------------------------------------------------------------------------------
# Another JSON API: the code forge's (GitHub, GitLab), where `kestra-sync ci` keeps its comment.


class WebApi:
    """A JSON API over HTTPS with a token in a header; what its routes mean belongs to the caller
    (kestrasync.ci). Failures are ForgeError sentences naming the API and the request, never the
    token; a 403 says which permission to grant."""

    def __init__(self, name: str, base_url: str, headers: dict[str, str], *, permission: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self.name = name
        self.permission = permission
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers={"User-Agent": "kestra-sync", **headers},
                                    timeout=timeout, transport=transport, follow_redirects=True)

    def __enter__(self) -> WebApi:
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def send(self, method: str, path: str, *, json_body: object = None, params: dict | None = None):
        """The answer's JSON (None for an empty one)."""
        return self._answer(method, path, json_body, params)[0]

    def pages(self, path: str, params: dict | None = None):
        """Every item of a listing, page after page, following the `Link: rel="next"` header both
        GitHub and GitLab send."""
        target: str | None = path
        while target is not None:
            items, response = self._answer("GET", target, None, params)
            if not isinstance(items, list):
                raise ForgeError(f"{self.name} sent something other than a list to GET {path}.")
            yield from items
            following = response.links.get("next", {}).get("url")
            target, params = following, None  # the next page's URL carries the parameters
            if target is not None and not target.startswith(str(self._client.base_url)):
                raise ForgeError(f"{self.name} pointed the next page of GET {path} elsewhere ({httpx.URL(target).host}).")

    def _answer(self, method: str, path: str, json_body: object, params: dict | None) -> tuple[object, httpx.Response]:
        request = f"{method} {path.split('?')[0]}"
        try:
            target = path if "://" in path else path.lstrip("/")  # relative: under the API's base path
            response = self._client.request(method, target, json=json_body, params=params)
        except httpx.HTTPError as error:
            raise ForgeError(f"Cannot reach {self.name} for {request}: {_reason(error)}.") from None
        if response.status_code in (401, 403, 404):  # 404: what a token may not see is hidden, not forbidden
            raise ForgeError(f"{self.name} refused {request} ({response.status_code} {response.reason_phrase}): "
                             f"{self.permission}.", status=response.status_code)
        if response.status_code >= 300:
            messages = error_messages(response)
            detail = "; ".join(messages) if messages else response.reason_phrase
            raise ForgeError(f"{self.name} answered {response.status_code} to {request}: {detail}", status=response.status_code)
        try:
            return (json.loads(response.content) if response.content else None), response
        except (ValueError, UnicodeDecodeError):
            raise ForgeError(f"{self.name} sent an answer that is not JSON to {request}.") from None

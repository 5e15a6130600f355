"""The only module that speaks HTTP (through httpx): one connection to a Kestra tenant.

It owns what every request shares: the base path `/api/v1/{tenant}`, credentials, TLS, one retry
loop with backoff for transient faults, Kestra's error envelopes (1.x JSON and 2.x
`application/problem+json`) and the sentences that name the server but never a credential. What a
request means (which route, how to read its answer) belongs to the kind that makes it
(kestrasync.kinds) or to the lock. The httpx transport can be injected: unit tests give
`httpx.MockTransport` for answers the emulator would never give.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote

import httpx

from kestrasync.errors import ApiError, AuthRejected, ConfigError, KestraSyncError, ServerUnreachable

RETRY_STATUSES = frozenset({429, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    """Basic (username/password, Kestra OSS) or Bearer (API token, Enterprise). repr() hides secrets."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:
        return f"Credentials({self.describe()})"

    def describe(self) -> str:
        if self.token:
            return "an API token (Bearer)"
        if self.username:
            return f"user '{self.username}' (Basic)"
        return "no credentials"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def auth(self) -> httpx.Auth | None:
        return httpx.BasicAuth(self.username, self.password or "") if self.username and not self.token else None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # retries after the first try
    base_delay: float = 0.25  # seconds before the first retry; doubled each time, with jitter
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After (seconds) wins when given."""
        if retry_after:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass(frozen=True)
class ServerOptions:
    """Where the server is and how to talk to it."""

    url: str | None = None
    tenant: str = "main"
    credentials: Credentials = field(default_factory=Credentials)
    timeout: float = 30.0  # seconds per request
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_tls: bool = True
    ca_cert: str | None = None


class Transient(Exception):
    """A failure that may pass: the server was unreachable, did not answer, or said 429/502/503/504.
    Raised by `send(..., retry=False)` and by the attempts given to `retrying`."""

    def __init__(self, error: KestraSyncError, retry_after: str | None = None):
        self.error = error
        self.retry_after = retry_after


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
        self.sleep = sleep
        self.stop = stop  # once set, failed requests are not retried
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._options = dict(
            base_url=f"{self.url}/api/v1/{quote(options.tenant, safe='')}",
            auth=options.credentials.auth(),
            headers={"User-Agent": "kestra-sync", **options.credentials.headers()},
            timeout=options.timeout,
            verify=_verify(options),
            # httpx drops the Authorization header on a redirect to another origin.
            follow_redirects=True,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    @property
    def http(self) -> httpx.Client:
        """The HTTP client, made on first use: loading the TLS trust store takes a tenth of a
        second, which plan spends in its reading thread while the files are scanned."""
        if self._http is None:
            with self._lock:
                if self._http is None:
                    self._http = httpx.Client(**self._options)
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
        **kwargs,
    ) -> httpx.Response:
        """A request; returns a 2xx answer (or one whose status is in `allow`) or raises a KestraSyncError.

        Transient failures are retried with backoff; with `retry=False` they raise Transient instead,
        for a caller that must settle them itself (a create whose answer was lost). With
        `route_must_exist`, a 404 means the URL or the tenant is wrong, and says so.
        """
        if not retry:
            return self._attempt(method, path, allow, route_must_exist, kwargs)
        return self.retrying(lambda _previous: self._attempt(method, path, allow, route_must_exist, kwargs))

    def retrying(
        self,
        attempt: Callable[[KestraSyncError | None], T],
        settle: Callable[[KestraSyncError], T | None] | None = None,
    ) -> T:
        """The retry loop: `attempt(previous failure or None)` until it returns or fails for good.

        An attempt raises Transient for what may pass; the loop waits (backoff, or the server's
        Retry-After) and tries again, at most `retry.attempts` more times, and stops at once when
        `stop` is set. A write that may have happened despite a failure gives `settle`, which says
        what the server holds (None: nothing); it is asked after the last failure too.
        """
        previous: KestraSyncError | None = None
        for number in range(self.retry.attempts + 1):
            if previous is not None and settle is not None and (settled := settle(previous)) is not None:
                return settled
            try:
                return attempt(previous)
            except Transient as failure:
                previous = failure.error
                if number == self.retry.attempts or not self._pause(number, failure.retry_after):
                    break
        if settle is not None and (settled := settle(previous)) is not None:
            return settled
        raise previous from None

    def json(self, response: httpx.Response, method: str, path: str):
        """The answer's JSON; an ApiError saying so when it is not JSON."""
        try:
            return response.json()
        except ValueError:
            raise self.unexpected(method, path, "an answer that is not JSON") from None

    def unexpected(self, method: str, path: str, what: str) -> ApiError:
        """The error for an answer that no Kestra server would give."""
        return ApiError(
            f"The Kestra server at {self.url} sent {what} to {method} {path}; is it a Kestra server?",
            status=200, method=method, path=path,
        )

    # -----------------------------------------------------------------------------------------

    def _attempt(self, method: str, path: str, allow, route_must_exist: bool, kwargs: dict) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as error:
            certificate = _cause(error, ssl.SSLCertVerificationError)
            if certificate is not None:  # not transient: say what to do instead of retrying
                raise ServerUnreachable(
                    f"The TLS certificate of {self.url} could not be verified ({certificate.verify_message}); "
                    "pass --ca-cert FILE with the CA that signed it, or --insecure to skip verification."
                ) from None
            raise Transient(ServerUnreachable(f"Cannot reach the Kestra server at {self.url}: {_reason(error)}.")) from None
        except httpx.ConnectTimeout as error:
            raise Transient(ServerUnreachable(f"Cannot reach the Kestra server at {self.url}: {_reason(error)}.")) from None
        except httpx.TooManyRedirects:
            raise ApiError(
                f"The Kestra server at {self.url} redirected {method} {path} too many times; check the URL.",
                status=0, method=method, path=path,
            ) from None
        except httpx.TransportError as error:
            raise Transient(
                ServerUnreachable(f"The Kestra server at {self.url} did not answer {method} {path}: {_reason(error)}.")
            ) from None
        status = response.status_code
        if status < 300 or status in allow:
            return response
        error = self._error(response, method, path, route_must_exist)
        if status in RETRY_STATUSES:  # still failing after the retries, the server is as good as unreachable
            raise Transient(ServerUnreachable(str(error)), response.headers.get("Retry-After"))
        raise error

    def _pause(self, attempt: int, retry_after: str | None) -> bool:
        """Wait before the next attempt; False when stopped meanwhile (Ctrl-C): give up at once."""
        delay = self.retry.delay(attempt, retry_after)
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
            return AuthRejected(
                f"The Kestra server at {where} refused {self.credentials.describe()} (401 Unauthorized); "
                "check KESTRA_USERNAME / KESTRA_PASSWORD or KESTRA_API_TOKEN."
            )
        if status == 403:
            return AuthRejected(
                f"The Kestra server at {where} does not allow {self.credentials.describe()} to {method} {path} (403 Forbidden)."
            )
        messages = error_messages(response)
        detail = "; ".join(messages) if messages else response.reason_phrase
        if status == 400 and "tenant" in detail.lower():
            return ApiError(
                f"The Kestra server at {where} refused tenant '{self.tenant}': {detail}",
                status=status, method=method, path=path, messages=messages,
            )
        if status == 404 and route_must_exist:
            detail = f"{detail} (is {self.url} a Kestra server, and tenant '{self.tenant}' right?)"
        return ApiError(
            f"The Kestra server at {where} answered {status} to {method} {path}: {detail}",
            status=status, method=method, path=path, messages=messages,
        )


def error_messages(response: httpx.Response) -> tuple[str, ...]:
    """Kestra's own error texts from its 1.x JSON envelope or a 2.x application/problem+json body.

    1.x: {"message": "Invalid entity: ...", "_embedded": {"errors": [{"message", "path"}]}} (errors may be
    one object). 2.x: {"title", "detail", "errors": [{"message"|"detail", "path"|"pointer"}]}.
    """
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:300],) if text else ()
    if not isinstance(body, dict):
        return ()
    details = body.get("_embedded", {}).get("errors") if isinstance(body.get("_embedded"), dict) else None
    if details is None:
        details = body.get("errors")
    if isinstance(details, dict):
        details = [details]
    itemized = []
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict):
            text = item.get("message") or item.get("detail") or ""
            where = item.get("path") or item.get("pointer") or item.get("field")
            itemized.append(f"{where}: {text}" if where and where not in text else text)
    if itemized:
        return tuple(m for m in itemized if m)
    headline = body.get("message") or body.get("detail") or body.get("title")
    return (str(headline),) if headline else ()


def segment(value: str) -> str:
    """A value quoted to stand as one path segment."""
    return quote(value, safe="")


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

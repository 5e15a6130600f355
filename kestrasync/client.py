"""KestraClient: the only module that speaks HTTP, through httpx.

Reads are bulk: one export (a ZIP of sources) and a paged search (revisions) per namespace scope, never a
request per flow; the revisions are decoded only when a flow may change. Writes are one flow per request with the file's exact text as `application/x-yaml`:
Kestra's namespace bulk endpoint splits bodies on any `---` and deletes by default, so it is not used.
Transient faults are retried with backoff; a create whose outcome is unknown is settled by reading the
flow back, never by a blind retry. Every failure becomes a KestraSyncError with a sentence that names
the server but never a credential.
"""

from __future__ import annotations

import io
import json
import random
import struct
import ssl
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

import httpx

from kestrasync.differ import is_same_source
from kestrasync.errors import ApiError, AuthRejected, ServerUnreachable
from kestrasync.model import FlowKey, RemoteFlow
from kestrasync.yamltext import body_of, parse_source

YAML = "application/x-yaml"
SEARCH = "/flows/search"
EXPORT = "/flows/export/by-query"
SEARCH_PAGE_SIZE = 1000
SEARCH_ORDER = ["namespace:asc", "id:asc"]
RETRY_STATUSES = frozenset({429, 502, 503, 504})
VALIDATE_BATCH = 50
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
    base_delay: float = 0.25
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After (seconds) wins when given."""
        if retry_after:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class KestraClient:
    """A Kestra tenant's flow API. Thread-safe: apply shares one client between its workers."""

    def __init__(
        self,
        url: str,
        *,
        tenant: str = "main",
        credentials: Credentials = Credentials(),
        timeout: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
        verify: bool | str = True,
        max_connections: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
    ):
        self.url = url.rstrip("/")
        self.tenant = tenant
        self.credentials = credentials
        self.retry = retry
        self.sleep = sleep
        self.stop = stop  # once set, failed requests are not retried
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._options = dict(
            base_url=f"{self.url}/api/v1/{quote(tenant, safe='')}",
            auth=credentials.auth(),
            headers={"User-Agent": "kestra-sync", **credentials.headers()},
            timeout=timeout,
            verify=verify,
            # httpx drops the Authorization header on a redirect to another origin.
            follow_redirects=True,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
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

    def __enter__(self) -> KestraClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------
    # Reading

    def read_flows(self, scopes: Sequence[str], parallelism: int = 8) -> dict[FlowKey, RemoteFlow]:
        """Every live flow under the namespace prefixes `scopes`, with its revision."""
        return self.fetch_flows(scopes, parallelism).flows()

    def fetch_flows(self, scopes: Sequence[str], parallelism: int = 8) -> FetchedFlows:
        """Every live flow under the namespace prefixes `scopes`, as received: per scope a paged search
        for revisions, then an export of the sources. FetchedFlows.flows() decodes them."""
        return FetchedFlows(self, _per_scope(lambda scope: self._fetch_scope(scope, parallelism), scopes, parallelism))

    def _fetch_scope(self, scope: str, parallelism: int) -> _Fetched:
        # Every search page is received before the export is asked for: a flow saved in between then
        # shows a newer source with an older revision, which makes a saved plan look stale (safe), never
        # the reverse.
        revisions, pages = self._search(scope, parallelism)
        try:
            export = self._send("GET", EXPORT, params={"filters[namespace][PREFIX]": scope})
        except ApiError as error:
            if error.status not in (404, 405, 500, 501):
                raise
            return _Fetched(revisions, [], None, self._get_each(self._add_pages(revisions, pages), parallelism))
        return _Fetched(revisions, pages, export)

    def search_revisions(self, scope: str, parallelism: int = 8) -> dict[FlowKey, int]:
        """(namespace, id) -> latest revision of the live flows under the namespace prefix `scope`."""
        revisions, pages = self._search(scope, parallelism)
        return self._add_pages(revisions, pages)

    def _search(self, scope: str, parallelism: int) -> tuple[dict[FlowKey, int], list[httpx.Response]]:
        """The revisions on the first search page, and the other pages as received (not yet decoded).

        The first page tells how many there are; the others are then fetched together.
        """
        revisions, total = self._revisions_in(self._search_page(scope, 1))
        pages = -(-total // SEARCH_PAGE_SIZE)
        if pages <= 1:
            return revisions, []
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, pages - 1))) as pool:
            return revisions, list(pool.map(lambda page: self._search_page(scope, page), range(2, pages + 1)))

    def _search_page(self, scope: str, page: int) -> httpx.Response:
        # Kestra has no default order: without one, concurrent pages could skip or repeat flows.
        params = {"filters[namespace][PREFIX]": scope, "size": SEARCH_PAGE_SIZE, "page": page, "sort": SEARCH_ORDER}
        return self._send("GET", SEARCH, params=params)

    def _add_pages(self, revisions: dict[FlowKey, int], pages: list[httpx.Response]) -> dict[FlowKey, int]:
        """The revisions on `pages` added; each page is let go once decoded."""
        while pages:
            revisions.update(self._revisions_in(pages.pop())[0])
        return revisions

    def _revisions_in(self, page: httpx.Response) -> tuple[dict[FlowKey, int], int]:
        body = self._decoded(page, "GET", SEARCH)
        results = body.get("results") if isinstance(body, dict) else None
        total = body.get("total") if isinstance(body, dict) else None
        if not isinstance(results, list) or not isinstance(total, int):
            raise self._unexpected("GET", SEARCH, "a page without results/total")
        try:
            return {FlowKey(item["namespace"], item["id"]): int(item["revision"]) for item in results}, total
        except (KeyError, TypeError, ValueError):
            raise self._unexpected("GET", SEARCH, "a page whose flows lack a namespace, id or revision") from None

    def read_revisions(self, scopes: Sequence[str], parallelism: int = 8) -> dict[FlowKey, int]:
        """Revisions of every live flow under `scopes`: what a saved plan's freshness is checked against."""
        parts = _per_scope(lambda scope: self.search_revisions(scope, parallelism), scopes, parallelism)
        return {key: revision for part in parts for key, revision in part.items()}

    def _export_entries(self, export: httpx.Response) -> list[tuple[str, str]]:
        """(entry name without its extension, source) of each flow in an export ZIP."""
        try:
            return [(_stem(name), data.decode("utf-8")) for name, data in zip_entries(export.content)]
        except (zipfile.BadZipFile, UnicodeDecodeError, zlib.error, struct.error) as error:
            raise self._unexpected("GET", EXPORT, f"an unreadable export ({error})") from None

    def _get_each(self, revisions: dict[FlowKey, int], parallelism: int) -> dict[FlowKey, RemoteFlow]:
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            flows = pool.map(self.get_flow, revisions)
        return {flow.key: flow for flow in flows if flow is not None}

    def get_flow(self, key: FlowKey) -> RemoteFlow | None:
        """The latest live revision with its source, or None when there is none."""
        response = self._send("GET", _flow_path(key), params={"source": "true"}, allow={404})
        if response.status_code == 404:
            return None
        return self._remote(response, "GET", _flow_path(key))

    # -----------------------------------------------------------------------------------------
    # Writing

    def create_flow(self, key: FlowKey, source: str) -> RemoteFlow:
        """POST the exact text. After a failure that may have been stored anyway (a lost answer, a
        502), read the flow back: the same text there means done; never a blind second POST."""
        for attempt in range(self.retry.attempts + 1):
            try:
                response = self._send("POST", "/flows", content=source.encode("utf-8"), headers={"Content-Type": YAML}, retry=False)
                return self._remote(response, "POST", "/flows")
            except _Retryable as failure:
                stored = self.get_flow(key)
                if stored is not None and stored.source == source:
                    return stored
                if stored is not None or attempt == self.retry.attempts or not self._pause(attempt, failure.retry_after):
                    raise failure.error from None
        raise AssertionError("unreachable")

    def update_flow(self, key: FlowKey, source: str) -> RemoteFlow:
        path = _flow_path(key)
        response = self._send("PUT", path, content=source.encode("utf-8"), headers={"Content-Type": YAML})
        return self._remote(response, "PUT", path)

    def delete_flow(self, key: FlowKey) -> None:
        """Kestra deletes softly: a tombstone revision. An already-deleted flow is not an error."""
        self._send("DELETE", _flow_path(key), allow={404})

    def validate(self, sources: Sequence[str]) -> list[dict]:
        """Kestra's validation of each source, in order (one result per source), in batches.

        Kestra splits the body on `\n---` lines, so each source goes without its leading `---` lines.
        """
        results: list[dict] = []
        for start in range(0, len(sources), VALIDATE_BATCH):
            batch = [body_of(source) for source in sources[start : start + VALIDATE_BATCH]]
            body = "\n---\n".join(batch).encode("utf-8")
            answer = self._json("POST", "/flows/validate", content=body, headers={"Content-Type": YAML})
            if not isinstance(answer, list) or len(answer) != len(batch):
                raise self._unexpected("POST", "/flows/validate", "a validation answer that does not match the flows sent")
            results.extend(answer)
        return results

    # -----------------------------------------------------------------------------------------
    # KV store (the advisory apply lock)

    def kv_get(self, namespace: str, key: str):
        """The value of a KV entry, or None when absent (or expired)."""
        path = _kv_path(namespace, key)
        response = self._send("GET", path, allow={404})
        if response.status_code == 404:
            return None
        try:
            return response.json().get("value")
        except (ValueError, AttributeError):
            raise self._unexpected("GET", path, "a KV entry without a value") from None

    def kv_put(self, namespace: str, key: str, value, ttl_seconds: int | None = None) -> None:
        headers = {"Content-Type": "application/json"}
        if ttl_seconds is not None:
            headers["ttl"] = f"PT{int(ttl_seconds)}S"  # an ISO-8601 duration
        self._send("PUT", _kv_path(namespace, key), content=json.dumps(value).encode("utf-8"), headers=headers)

    def kv_delete(self, namespace: str, key: str) -> None:
        self._send("DELETE", _kv_path(namespace, key), allow={404})

    # -----------------------------------------------------------------------------------------
    # Transport

    def _json(self, method: str, path: str, **kwargs):
        return self._decoded(self._send(method, path, **kwargs), method, path)

    def _decoded(self, response: httpx.Response, method: str, path: str):
        try:
            return response.json()
        except ValueError:
            raise self._unexpected(method, path, "an answer that is not JSON") from None

    def _remote(self, response: httpx.Response, method: str, path: str) -> RemoteFlow:
        try:
            body = response.json()
            return RemoteFlow(FlowKey(body["namespace"], body["id"]), body["source"], int(body["revision"]))
        except (ValueError, KeyError, TypeError):
            raise self._unexpected(method, path, "a flow without namespace, id, source and revision") from None

    def _send(self, method: str, path: str, *, allow: frozenset[int] | set[int] = frozenset(), retry: bool = True, **kwargs) -> httpx.Response:
        """A request, retried with backoff on transient failures; returns a 2xx answer (or an allowed
        status) or raises a KestraSyncError. With retry=False a transient failure raises _Retryable."""
        for attempt in range(self.retry.attempts + 1):
            try:
                return self._attempt(method, path, allow, **kwargs)
            except _Retryable as failure:
                if not retry:
                    raise
                if attempt == self.retry.attempts or not self._pause(attempt, failure.retry_after):
                    raise failure.error from None
        raise AssertionError("unreachable")

    def _attempt(self, method: str, path: str, allow, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as error:
            certificate = _cause(error, ssl.SSLCertVerificationError)
            if certificate is not None:  # not transient: say what to do instead of retrying
                raise ServerUnreachable(
                    f"The TLS certificate of {self.url} could not be verified ({certificate.verify_message}); "
                    "pass --ca-cert FILE with the CA that signed it, or --insecure to skip verification."
                ) from None
            raise _Retryable(ServerUnreachable(f"Cannot reach the Kestra server at {self.url}: {_reason(error)}.")) from None
        except httpx.ConnectTimeout as error:
            raise _Retryable(ServerUnreachable(f"Cannot reach the Kestra server at {self.url}: {_reason(error)}.")) from None
        except httpx.TooManyRedirects:
            raise ApiError(
                f"The Kestra server at {self.url} redirected {method} {path} too many times; check the URL.",
                status=0, method=method, path=path,
            ) from None
        except httpx.TransportError as error:
            raise _Retryable(
                ServerUnreachable(f"The Kestra server at {self.url} did not answer {method} {path}: {_reason(error)}.")
            ) from None
        status = response.status_code
        if status < 300 or status in allow:
            return response
        error = self._error(response, method, path)
        if status in RETRY_STATUSES:  # still failing after the retries, the server is as good as unreachable
            raise _Retryable(ServerUnreachable(str(error)), response.headers.get("Retry-After"))
        raise error

    def _pause(self, attempt: int, retry_after: str | None) -> bool:
        """Wait before the next attempt; False when stopped meanwhile (Ctrl-C): give up at once."""
        delay = self.retry.delay(attempt, retry_after)
        if self.stop is None:
            self.sleep(delay)
            return True
        return not self.stop.wait(delay)

    def _error(self, response: httpx.Response, method: str, path: str) -> Exception:
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
        if status == 404 and path in (SEARCH, "/flows/validate"):
            detail = f"{detail} (is {self.url} a Kestra server, and tenant '{self.tenant}' right?)"
        return ApiError(
            f"The Kestra server at {where} answered {status} to {method} {path}: {detail}",
            status=status, method=method, path=path, messages=messages,
        )

    def _unexpected(self, method: str, path: str, what: str) -> ApiError:
        return ApiError(
            f"The Kestra server at {self.url} sent {what} to {method} {path}; is it a Kestra server?",
            status=200, method=method, path=path,
        )


@dataclass
class _Fetched:
    """One scope as received: the revisions of its first search page, its other pages (not yet
    decoded) and its export; or its flows, read one by one when the server refused the export."""

    revisions: dict[FlowKey, int]
    pages: list[httpx.Response]
    export: httpx.Response | None
    flows: dict[FlowKey, RemoteFlow] | None = None


class FetchedFlows:
    """The flows of a read, decoded by flows(): only what a plan needs of them."""

    def __init__(self, client: KestraClient, scopes: list[_Fetched]):
        self._client = client
        self._scopes: list[_Fetched] | None = scopes

    def flows(self, local: Mapping[FlowKey, str] | None = None) -> dict[FlowKey, RemoteFlow]:
        """(namespace, id) -> flow, with its revision.

        A revision only matters to a flow that will change. So when a scope's export holds only flows
        of `local` (key -> source), each with the same text, its search pages are not decoded (a tenth
        of a plan of 10,000 flows) and its flows get revision None. Equal texts name the same flow, so
        the entries' names only serve to find the text to compare with. A flow created between the
        search and the export then counts as the unchanged flow it is; when pages are decoded, it is
        left out (it has no revision), so a plan creates it and apply refuses that plan as stale.

        Called once: the answers are released as they are decoded (a second copy of every source).
        """
        if self._scopes is None:
            raise RuntimeError("FetchedFlows.flows() decodes once")
        scopes, self._scopes = self._scopes, None
        stems = _entry_stems(local) if local else {}
        flows: dict[FlowKey, RemoteFlow] = {}
        while scopes:
            flows.update(self._scope_flows(scopes.pop(), local or {}, stems))
        return flows

    def _scope_flows(self, scope: _Fetched, local: Mapping[FlowKey, str], stems: dict[str, FlowKey | None]) -> dict[FlowKey, RemoteFlow]:
        if scope.flows is not None:
            return scope.flows
        entries = self._client._export_entries(scope.export)
        scope.export = None  # its sources are in `entries` now: one copy while the pages are decoded
        unchanged = _unchanged(entries, local, stems)
        if unchanged is not None:
            return unchanged
        revisions = self._client._add_pages(scope.revisions, scope.pages)
        sources = _sources(entries, revisions.keys())
        return {key: RemoteFlow(key, sources[key], rev) for key, rev in revisions.items() if key in sources}


def _sources(entries: list[tuple[str, str]], keys: Iterable[FlowKey]) -> dict[FlowKey, str]:
    """Sources of the flows `keys` among the export's entries.

    Entries are named `<namespace>-<id>.yml` (`<namespace>.<id>.yml` before 0.24), names that
    can collide; an entry whose name fits no flow or several is matched by reading its id and namespace.
    """
    wanted = set(keys)
    stems = _entry_stems(wanted)
    sources: dict[FlowKey, str] = {}
    for stem, source in entries:
        key = stems.get(stem) or _key_of(source)
        if key in wanted:
            sources[key] = source
    return sources


def _unchanged(entries: list[tuple[str, str]], local: Mapping[FlowKey, str], stems: dict[str, FlowKey | None]) -> dict[FlowKey, RemoteFlow] | None:
    """The flows of export `entries` when each is a flow of `local` with the same text, else None."""
    flows: dict[FlowKey, RemoteFlow] = {}
    for stem, source in entries:
        key = stems.get(stem)
        if key is None or key in flows or not is_same_source(local[key], source):
            return None
        flows[key] = RemoteFlow(key, source, None)
    return flows


class _Retryable(Exception):
    """A failure that may pass: the server was unreachable, did not answer, or said 429/502/503/504."""

    def __init__(self, error: Exception, retry_after: str | None = None):
        self.error = error
        self.retry_after = retry_after


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


def zip_entries(archive: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, content) of each member of a ZIP held in memory, its CRC checked.

    Members are sliced out and inflated directly: going through zipfile costs several times more,
    which shows with 10,000 flows.
    """
    view = memoryview(archive)
    for name, offset, method, size, crc in _members(archive):
        name_length, extra_length = struct.unpack_from("<HH", archive, offset + 26)
        start = offset + 30 + name_length + extra_length
        raw = view[start : start + size]
        if method == zipfile.ZIP_STORED:
            data = bytes(raw)
        elif method == zipfile.ZIP_DEFLATED:
            data = zlib.decompress(raw, -zlib.MAX_WBITS)
        else:
            raise zipfile.BadZipFile(f"member {name} uses compression method {method}")
        if zlib.crc32(data) != crc:
            raise zipfile.BadZipFile(f"member {name} is damaged (CRC mismatch)")
        yield name, data


_END_OF_DIRECTORY = struct.Struct("<4sHHHHIIH")
_DIRECTORY_ENTRY = struct.Struct("<4sHHHHHHIIIHHHHHII")
_UTF8_NAME = 0x800


def _members(archive: bytes) -> Iterator[tuple[str, int, int, int, int]]:
    """(name, local header offset, compression method, compressed size, CRC) of each member, read from
    the central directory; zipfile reads a ZIP64 archive (65,535 members or more), which is rarer."""
    end = archive.rfind(b"PK\x05\x06", max(0, len(archive) - 22 - 0xFFFF))
    if end < 0:
        raise zipfile.BadZipFile("File is not a zip file")
    _, _, _, _, count, _, position, _ = _END_OF_DIRECTORY.unpack_from(archive, end)
    if count == 0xFFFF or position == 0xFFFFFFFF:
        for info in zipfile.ZipFile(io.BytesIO(archive)).infolist():
            yield info.filename, info.header_offset, info.compress_type, info.compress_size, info.CRC
        return
    for _ in range(count):
        (signature, _, _, flags, method, _, _, crc, size, _, name_length, extra_length, comment_length, _, _, _,
         offset) = _DIRECTORY_ENTRY.unpack_from(archive, position)
        if signature != b"PK\x01\x02":
            raise zipfile.BadZipFile("the central directory is damaged")
        raw_name = archive[position + 46 : position + 46 + name_length]
        yield raw_name.decode("utf-8" if flags & _UTF8_NAME else "cp437"), offset, method, size, crc
        position += 46 + name_length + extra_length + comment_length


def _stem(name: str) -> str:
    """An export entry's name without its extension (one only: `a.yaml.yml` is flow `a.yaml`)."""
    for extension in (".yml", ".yaml"):
        if name.endswith(extension):
            return name[: -len(extension)]
    return name


def _entry_stems(keys: Iterable[FlowKey]) -> dict[str, FlowKey | None]:
    """Export entry name (without .yml) -> the flow it names; None when it could name several.
    Entries are `<namespace>-<id>.yml` (`<namespace>.<id>.yml` before 0.24), and both parts may
    hold `-` and `.`."""
    stems: dict[str, FlowKey | None] = {}
    for key in keys:
        for stem in (f"{key.namespace}-{key.id}", f"{key.namespace}.{key.id}"):
            stems[stem] = key if stems.get(stem, key) == key else None
    return stems


def _key_of(source: str) -> FlowKey | None:
    value = parse_source(source)
    if isinstance(value, dict) and isinstance(value.get("namespace"), str) and value.get("id") is not None:
        return FlowKey(value["namespace"], str(value["id"]))
    return None


def _per_scope(read: Callable[[str], T], scopes: Sequence[str], parallelism: int) -> list[T]:
    """`read(scope)` of each scope, `parallelism` scopes at a time."""
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(scopes) or 1))) as pool:
        return list(pool.map(read, scopes))


def _cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in the chain of causes and contexts behind `error`."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _kv_path(namespace: str, key: str) -> str:
    return f"/namespaces/{quote(namespace, safe='')}/kv/{quote(key, safe='')}"


def _flow_path(key: FlowKey) -> str:
    return f"/flows/{quote(key.namespace, safe='')}/{quote(key.id, safe='')}"


def _reason(error: httpx.HTTPError) -> str:
    text = str(error).strip()
    if isinstance(error, httpx.TimeoutException):
        return "timed out" + (f" ({text})" if text else "")
    return text or type(error).__name__


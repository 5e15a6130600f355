"""Kestra's flow routes, over kestrasync.http: what the requests are and how their answers read.

Reads are bulk: per namespace scope one paged search (revisions) and one export (a ZIP of sources),
never a request per flow; the revisions are decoded only when a flow may change. Writes are one flow
per request with the file's exact text as `application/x-yaml`: Kestra's namespace bulk endpoint
splits bodies on any `---` and deletes by default, so it is not used. A create whose outcome is
unknown is settled by reading the flow back, never by a blind retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import httpx

from kestrasync.archive import DAMAGED, zip_entries
from kestrasync.errors import ApiError, KestraSyncError
from kestrasync.http import Connection, segment
from kestrasync.kinds.flows.diff import is_same_source, without_revision
from kestrasync.kinds.flows.refs import KIND, key_of
from kestrasync.model import Key, Local, Remote
from kestrasync.yamltext import body_of

YAML = "application/x-yaml"
SEARCH = "/flows/search"
EXPORT = "/flows/export/by-query"
VALIDATE = "/flows/validate"
SEARCH_PAGE_SIZE = 1000
SEARCH_ORDER = ["namespace:asc", "id:asc"]
VALIDATE_BATCH = 50
# Answers to the export that mean "not here": read the flows one by one instead.
EXPORT_MISSING = frozenset({404, 405, 500, 501})
T = TypeVar("T")


def fetch(conn: Connection, scopes: Sequence[str], parallelism: int) -> FetchedFlows:
    """Every live flow under the namespace prefixes `scopes`, as received; FetchedFlows.remotes decodes."""
    return FetchedFlows(conn, parallel(lambda scope: _fetch_scope(conn, scope, parallelism), scopes, parallelism), parallelism)


def versions(conn: Connection, scopes: Sequence[str], parallelism: int) -> dict[Key, int]:
    """The revision of every live flow under `scopes`: what a saved plan's freshness is checked against."""
    found: dict[Key, int] = {}
    for revisions, pages in parallel(lambda scope: _search(conn, scope, parallelism), scopes, parallelism):
        found.update(_add_pages(conn, revisions, pages))
    return found


def get(conn: Connection, key: Key) -> Remote | None:
    """The latest live revision with its source, or None when there is none."""
    path = _flow_path(key)
    response = conn.send("GET", path, params={"source": "true"}, allow={404})
    if response.status_code == 404:
        return None
    return _remote(conn, response, "GET", path)


def create(conn: Connection, local: Local) -> Remote:
    """POST the exact text. After a failure that may have been stored anyway (a lost answer, a 502),
    read the flow back: the same text there means done; never a blind second POST."""

    def settle(failure: KestraSyncError) -> Remote | None:
        stored = get(conn, local.key)
        if stored is None:
            return None
        if is_same_source(stored.content, local.content):
            return stored
        raise failure  # another text holds the id: not ours to overwrite

    def attempt(_previous: KestraSyncError | None) -> Remote:
        response = conn.send("POST", "/flows", content=_body(local), headers={"Content-Type": YAML}, retry=False)
        return _remote(conn, response, "POST", "/flows")

    return conn.retrying(attempt, settle)


def update(conn: Connection, local: Local) -> Remote:
    path = _flow_path(local.key)
    return _remote(conn, conn.send("PUT", path, content=_body(local), headers={"Content-Type": YAML}), "PUT", path)


def delete(conn: Connection, key: Key) -> None:
    """Kestra deletes softly: a tombstone revision. An already-deleted flow is not an error."""
    conn.send("DELETE", _flow_path(key), allow={404})


def validate(conn: Connection, sources: Sequence[str]) -> list[dict]:
    """Kestra's validation of each source, in order (one result per source), in batches.

    Kestra splits the body on `\\n---` lines, so each source goes without its leading `---` lines.
    """
    results: list[dict] = []
    for start in range(0, len(sources), VALIDATE_BATCH):
        batch = [body_of(source) for source in sources[start : start + VALIDATE_BATCH]]
        body = "\n---\n".join(batch).encode("utf-8")
        response = conn.send("POST", VALIDATE, content=body, headers={"Content-Type": YAML}, route_must_exist=True)
        answer = conn.json(response, "POST", VALIDATE)
        if not isinstance(answer, list) or len(answer) != len(batch):
            raise conn.unexpected("POST", VALIDATE, "a validation answer that does not match the flows sent")
        results.extend(answer)
    return results


def parallel(read: Callable[[str], T], items: Sequence[str], parallelism: int) -> list[T]:
    """`read(item)` of each item, `parallelism` at a time, in order."""
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(items) or 1))) as pool:
        return list(pool.map(read, items))


# ---------------------------------------------------------------------------------------------
# Reading in bulk


@dataclass
class _Scope:
    """One scope as received: the revisions of its first search page, its other pages (not yet
    decoded) and its export; or its flows, read one by one when the server refused the export."""

    revisions: dict[Key, int]
    pages: list[httpx.Response]
    export: httpx.Response | None
    flows: dict[Key, Remote] | None = None


def _fetch_scope(conn: Connection, scope: str, parallelism: int) -> _Scope:
    # Every search page is received before the export is asked for: a flow saved in between then
    # shows a newer source with an older revision, which makes a saved plan look stale (safe), never
    # the reverse.
    revisions, pages = _search(conn, scope, parallelism)
    try:
        export = conn.send("GET", EXPORT, params={"filters[namespace][PREFIX]": scope})
    except ApiError as error:
        if error.status not in EXPORT_MISSING:
            raise
        return _Scope(revisions, [], None, _get_each(conn, _add_pages(conn, revisions, pages), parallelism))
    return _Scope(revisions, pages, export)


def _get_each(conn: Connection, keys: Iterable[Key], parallelism: int) -> dict[Key, Remote]:
    """The flows `keys`, one GET each: only where the bulk read cannot serve."""
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return {flow.key: flow for flow in pool.map(lambda key: get(conn, key), keys) if flow is not None}


def _search(conn: Connection, scope: str, parallelism: int) -> tuple[dict[Key, int], list[httpx.Response]]:
    """The revisions on the first search page, and the other pages as received (not yet decoded).
    The first page tells how many there are; the others are then fetched together."""
    revisions, total = _revisions_in(conn, _search_page(conn, scope, 1))
    pages = -(-total // SEARCH_PAGE_SIZE)
    if pages <= 1:
        return revisions, []
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, pages - 1))) as pool:
        return revisions, list(pool.map(lambda page: _search_page(conn, scope, page), range(2, pages + 1)))


def _search_page(conn: Connection, scope: str, page: int) -> httpx.Response:
    # Kestra has no default order: without one, concurrent pages could skip or repeat flows.
    params = {"filters[namespace][PREFIX]": scope, "size": SEARCH_PAGE_SIZE, "page": page, "sort": SEARCH_ORDER}
    return conn.send("GET", SEARCH, params=params, route_must_exist=True)


def _add_pages(conn: Connection, revisions: dict[Key, int], pages: list[httpx.Response]) -> dict[Key, int]:
    """The revisions on `pages` added; each page is let go once decoded."""
    while pages:
        revisions.update(_revisions_in(conn, pages.pop())[0])
    return revisions


def _revisions_in(conn: Connection, page: httpx.Response) -> tuple[dict[Key, int], int]:
    body = conn.json(page, "GET", SEARCH)
    results = body.get("results") if isinstance(body, dict) else None
    total = body.get("total") if isinstance(body, dict) else None
    if not isinstance(results, list) or not isinstance(total, int):
        raise conn.unexpected("GET", SEARCH, "a page without results/total")
    try:
        return {Key(KIND, item["namespace"], item["id"]): int(item["revision"]) for item in results}, total
    except (KeyError, TypeError, ValueError):
        raise conn.unexpected("GET", SEARCH, "a page whose flows lack a namespace, id or revision") from None


class FetchedFlows:
    """The flows of a read, decoded by remotes(): only what a plan needs of them."""

    def __init__(self, conn: Connection, scopes: list[_Scope], parallelism: int):
        self._conn = conn
        self._scopes: list[_Scope] | None = scopes
        self._parallelism = parallelism

    def remotes(self, local: Mapping[Key, Local]) -> dict[Key, Remote]:
        """(key) -> flow, with its revision.

        Export entries are matched to flows by content: an entry with the text of a repository flow
        (by the no-op rule) is that flow, whatever the entry's name; only the other entries are
        parsed to learn which flow they hold. A revision only matters to a flow that will change, so
        when every entry of a scope is a repository flow with its text, the scope's search pages are
        not decoded (a tenth of a plan of 10,000 flows) and its flows get version None. A flow created
        between the search and the export then counts as the unchanged flow it is; when pages are
        decoded, it is left out (it has no revision), so a plan creates it and apply refuses that
        plan as stale. A listed flow with no readable export entry is read alone.

        Called once: the answers are released as they are decoded (a second copy of every source).
        """
        if self._scopes is None:
            raise RuntimeError("FetchedFlows.remotes() decodes once")
        scopes, self._scopes = self._scopes, None
        matcher = _Matcher(local)
        flows: dict[Key, Remote] = {}
        while scopes:
            flows.update(self._scope_flows(scopes.pop(), matcher))
        return flows

    def _scope_flows(self, scope: _Scope, matcher: _Matcher) -> dict[Key, Remote]:
        if scope.flows is not None:
            return scope.flows
        texts = _export_texts(self._conn, scope.export)
        scope.export = None  # its sources are in `texts` now: one copy while the pages are decoded
        matched, leftovers = matcher.match(texts)
        if not leftovers:
            return {key: Remote(key, text, None) for key, text in matched.items()}
        revisions = _add_pages(self._conn, scope.revisions, scope.pages)
        for text in leftovers:
            key = key_of(text)
            if key is not None:
                matched[key] = text
        flows = {key: Remote(key, matched[key], revision) for key, revision in revisions.items() if key in matched}
        # A listed flow whose text the export did not give (or gave in a form no key can be read from):
        # read it alone rather than lose it.
        return flows | _get_each(self._conn, [key for key in revisions if key not in flows], self._parallelism)


class _Matcher:
    """Finds which repository flow a text is, by the no-op rule: the exact text first (a hash), then
    the text without its revision line. Only repository texts that hold a `revision:` line can
    differ from their unrevised form, so only those are worked out, when first needed."""

    def __init__(self, local: Mapping[Key, Local]):
        self._local = local
        self._exact = {flow.content: key for key, flow in local.items()}
        self._unrevised: dict[str, Key] | None = None

    def match(self, texts: Iterable[str]) -> tuple[dict[Key, str], list[str]]:
        """(key -> text) of the texts that are repository flows, and the other texts."""
        matched: dict[Key, str] = {}
        leftovers: list[str] = []
        for text in texts:
            key = self._exact.get(text)
            if key is None:
                if self._unrevised is None:
                    self._unrevised = {
                        without_revision(flow.content): key
                        for key, flow in self._local.items()
                        if "revision:" in flow.content
                    }
                unrevised = without_revision(text)
                key = self._unrevised.get(unrevised) or self._exact.get(unrevised)
                if key is not None and not is_same_source(self._local[key].content, text):
                    key = None
            if key is None or key in matched:
                leftovers.append(text)
            else:
                matched[key] = text
        return matched, leftovers


def _export_texts(conn: Connection, export: httpx.Response) -> list[str]:
    """The source of each flow in an export ZIP (entry names do not matter: they changed across versions)."""
    try:
        return [data.decode("utf-8") for _, data in zip_entries(export.content)]
    except (*DAMAGED, UnicodeDecodeError) as error:
        raise conn.unexpected("GET", EXPORT, f"an unreadable export ({error})") from None


# ---------------------------------------------------------------------------------------------


def _remote(conn: Connection, response: httpx.Response, method: str, path: str) -> Remote:
    try:
        body = response.json()
        return Remote(Key(KIND, body["namespace"], body["id"]), body["source"], int(body["revision"]))
    except (ValueError, KeyError, TypeError):
        raise conn.unexpected(method, path, "a flow without namespace, id, source and revision") from None


def _body(local: Local) -> bytes:
    return local.content.encode("utf-8")


def _flow_path(key: Key) -> str:
    return f"/flows/{segment(key.namespace)}/{segment(key.name)}"


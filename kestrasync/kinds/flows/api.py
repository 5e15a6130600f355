"""Kestra's flow routes, over kestrasync.http: what the requests are and how their answers read.

Reads are bulk: per namespace scope one paged search (revisions) and one export (a ZIP of sources),
never a request per flow; the revisions are decoded only when a flow may change. Writes are one flow
per request with the file's exact text as `application/x-yaml`: Kestra's namespace bulk endpoint
splits bodies on any `---` and deletes by default, so it is not used. A create whose outcome is
unknown is settled by reading the flow back, never by a blind retry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import httpx

from kestrasync.archive import DAMAGED, zip_entries
from kestrasync.errors import ApiError, ErrorDetail, KestraSyncError, WriteNotKept
from kestrasync.http import Connection, Fields, segment
from kestrasync.kinds.base import parallel
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
MAX_FLOWS = 200_000  # per namespace scope: more than any real tenant holds, so a search's total is checked against it
MAX_REVISION = 2**31 - 1  # Kestra's revisions are Java ints
MAX_FLOW_BYTES = 16 * 1024 * 1024  # Kestra refuses a flow over 3,145,728 characters: at most 4 bytes each
MAX_EXPORT_BYTES = 512 * 1024 * 1024  # an export, received and inflated
# Answers to the export that mean "not here": read the flows one by one instead.
EXPORT_MISSING = frozenset({404, 405, 500, 501})
Listed = tuple[int, "str | None"]  # what a search says of a flow: its revision, and a note on its state (2.x)


def fetch(conn: Connection, scopes: Sequence[str], parallelism: int) -> FetchedFlows:
    """Every live flow under the namespace prefixes `scopes`, as received; FetchedFlows.remotes decodes."""
    return FetchedFlows(conn, parallel(conn, lambda scope: _fetch_scope(conn, scope, parallelism), scopes, parallelism), parallelism)


def versions(conn: Connection, scopes: Sequence[str], parallelism: int) -> dict[Key, int]:
    """The revision of every live flow under `scopes`: what a saved plan's freshness is checked against."""
    found: dict[Key, int] = {}
    for listed, pages in parallel(conn, lambda scope: _search(conn, scope, parallelism), scopes, parallelism):
        found.update((key, revision) for key, (revision, _) in _add_pages(conn, listed, pages).items())
    return found


def get(conn: Connection, key: Key) -> Remote | None:
    """The latest live revision with its source, or None when there is none."""
    path = _flow_path(key)
    response = conn.send("GET", path, params={"source": "true"}, allow={404}, max_bytes=MAX_FLOW_BYTES)
    if response.status_code == 404:
        return None
    return _remote(conn, response, "GET", path, key)


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

    def attempt() -> Remote:
        try:
            response = conn.send("POST", "/flows", content=_body(local), headers={"Content-Type": YAML}, params=_published(conn),
                                 retry=False, max_bytes=MAX_FLOW_BYTES)
        except ApiError as error:
            if _exists(error) and (stored := settle(error)) is not None:
                return stored  # an earlier try's answer was lost, but the flow is there, with this text
            raise
        return _kept(conn, _remote(conn, response, "POST", "/flows", local.key), local, "POST /flows")

    return conn.retrying(attempt, settle)


def update(conn: Connection, local: Local) -> Remote:
    path = _flow_path(local.key)
    response = conn.send("PUT", path, content=_body(local), headers={"Content-Type": YAML}, params=_published(conn),
                         max_bytes=MAX_FLOW_BYTES)
    return _kept(conn, _remote(conn, response, "PUT", path, local.key), local, f"PUT {path}")


def _published(conn: Connection) -> dict[str, str]:
    """2.x saves a write as a draft when asked: kestra-sync always writes what runs."""
    return {"draft": "false"} if _drafts(conn) else {}


def _drafts(conn: Connection) -> bool:
    """Whether the server may hold drafts (2.0 on): unknown counts as yes, the safe side."""
    return conn.kestra is None or conn.kestra.at_least(2)


def _exists(error: ApiError) -> bool:
    """Kestra's answer to creating a flow that exists: 409 `entity-already-exists` in 2.x (its type is
    what to branch on), 422 `Flow id already exists` in 1.x (which has no types)."""
    if error.problem is not None:
        return error.problem == "entity-already-exists"
    return error.status == 422 and any("already exists" in message for message in error.messages)


def _kept(conn: Connection, stored: Remote, sent: Local, request: str) -> Remote:
    """The flow a write's answer holds, which must be the text sent (by the no-op rule): Kestra answers
    a create or an update with the stored flow, so a write altered on the way shows here, at no
    extra request."""
    if not is_same_source(stored.content, sent.content):
        raise WriteNotKept(
            f"The Kestra server at {conn.url} answered {request} with another text than the one sent: the flow on the "
            f"server (revision {stored.version}) is not {sent.location.path} (a proxy in between may have changed it)",
            status=200, method=request.split()[0], path=request.split()[1],
        )
    return stored


def delete(conn: Connection, key: Key) -> None:
    """Kestra deletes softly: a tombstone revision. An already-deleted flow is not an error. A flow
    saved while it is deleted makes Kestra refuse: 409 `Illegal state` in 1.x, 500 `internal-error`
    in 2.x (which leaves that exception unmapped); said as such."""
    path = _flow_path(key)
    try:
        conn.send("DELETE", path, allow={404})
    except ApiError as error:
        if (error.status, error.problem) in ((409, None), (500, "internal-error")):
            raise ApiError(
                f"The Kestra server at {conn.url} did not delete flow {key}: it changed while being deleted "
                f"(answered {error.status} to DELETE {path}); plan and apply again.",
                status=error.status, method="DELETE", path=path, messages=error.messages, problem=error.problem,
            ) from None
        raise


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
        results.extend(_verdict(conn, item, start + n + 1) for n, item in enumerate(answer))
    return results


def _verdict(conn: Connection, item, number: int) -> dict:
    """One flow's validation: its refusals (`constraints`, one text; 2.x develop's `errors`, each
    `{detail, pointer, path}` as ErrorDetails) and warnings (texts)."""
    fields = Fields(conn, "POST", VALIDATE, item, f"the validation of flow {number}")
    warnings = fields.items("warnings", optional=True)
    if not all(isinstance(warning, str) for warning in warnings):
        raise conn.unexpected("POST", VALIDATE, f"the validation of flow {number} with `warnings` that are not all texts")
    errors = []
    for entry in fields.items("errors", optional=True):
        error = Fields(conn, "POST", VALIDATE, entry, f"an error in the validation of flow {number}")
        paths = (error.text("pointer", optional=True), error.text("path", optional=True))
        errors.append(ErrorDetail(error.text("detail"), tuple(path for path in paths if path)))
    return {"constraints": fields.text("constraints", optional=True), "warnings": warnings, "errors": errors}


# ---------------------------------------------------------------------------------------------
# Reading in bulk


@dataclass
class _Scope:
    """One scope as received: what its first search page lists, its other pages (not yet decoded)
    and its export; or its flows, read one by one when the server refused the export."""

    prefix: str
    listed: dict[Key, Listed]
    pages: list[httpx.Response]
    export: httpx.Response | None
    flows: dict[Key, Remote] | None = None


def _fetch_scope(conn: Connection, scope: str, parallelism: int) -> _Scope:
    # Every search page is received before the export is asked for: a flow saved in between then
    # shows a newer source with an older revision, which makes a saved plan look stale (safe), never
    # the reverse.
    listed, pages = _search(conn, scope, parallelism)
    try:
        export = conn.send("GET", EXPORT, params={"filters[namespace][PREFIX]": scope}, max_bytes=MAX_EXPORT_BYTES)
    except ApiError as error:
        if error.status not in EXPORT_MISSING:
            raise
        return _Scope(scope, listed, [], None, _get_each(conn, _add_pages(conn, listed, pages), parallelism))
    return _Scope(scope, listed, pages, export)


def _get_each(conn: Connection, listed: Mapping[Key, Listed], parallelism: int) -> dict[Key, Remote]:
    """The flows `listed`, one GET each, with what the search said of their state: only where the
    bulk read cannot serve (no export, or a flow the export leaves out: a 2.x flow Kestra cannot read)."""
    flows = [flow for flow in parallel(conn, lambda key: get(conn, key), list(listed), parallelism) if flow is not None]
    return {flow.key: replace(flow, note=listed[flow.key][1] or flow.note) for flow in flows}


def _search(conn: Connection, scope: str, parallelism: int) -> tuple[dict[Key, Listed], list[httpx.Response]]:
    """What the first search page lists, and the other pages as received (not yet decoded): the
    first page tells how many there are (at most MAX_FLOWS), the others are then fetched together."""
    listed, total = _listed_in(conn, _search_page(conn, scope, 1))
    pages = -(-total // SEARCH_PAGE_SIZE)
    if pages <= 1:
        return listed, []
    return listed, parallel(conn, lambda page: _search_page(conn, scope, page), range(2, pages + 1), parallelism)


def _search_page(conn: Connection, scope: str, page: int) -> httpx.Response:
    # Kestra has no default order: without one, concurrent pages could skip or repeat flows.
    params = {"filters[namespace][PREFIX]": scope, "size": SEARCH_PAGE_SIZE, "page": page, "sort": SEARCH_ORDER}
    return conn.send("GET", SEARCH, params=params, route_must_exist=True)


def _add_pages(conn: Connection, listed: dict[Key, Listed], pages: list[httpx.Response]) -> dict[Key, Listed]:
    """What `pages` list, added; each page is let go once decoded."""
    while pages:
        listed.update(_listed_in(conn, pages.pop())[0])
    return listed


def _disagree(conn: Connection, scope: str, how: str) -> ApiError:
    return ApiError(
        f"The Kestra server at {conn.url} gave answers that disagree about the flows under '{scope}' ({how}); "
        "nothing was planned from them.",
        status=200, method="GET", path=SEARCH,
    )


def _listed_in(conn: Connection, page: httpx.Response) -> tuple[dict[Key, Listed], int]:
    """What a search page lists (revisions, and 2.x's notes on drafts and flows it cannot read), and
    the total it says; every field checked."""
    fields = Fields(conn, "GET", SEARCH, conn.json(page, "GET", SEARCH), "a search page")
    results = fields.items("results")
    total = fields.whole("total", 0, MAX_FLOWS)
    if len(results) > SEARCH_PAGE_SIZE:
        raise conn.unexpected("GET", SEARCH, f"a search page of {len(results):,} results where at most {SEARCH_PAGE_SIZE:,} were asked for")
    listed = {}
    for number, item in enumerate(results, 1):
        flow = Fields(conn, "GET", SEARCH, item, f"result {number} of a search page")
        key = Key(KIND, flow.text("namespace"), flow.text("id"))
        if key in listed:
            raise conn.unexpected("GET", SEARCH, f"a search page listing flow {key} twice")
        revision = flow.whole("revision", 1, MAX_REVISION)
        listed[key] = revision, _state(flow, revision)
    return listed, total


def _state(flow: Fields, revision: int) -> str | None:
    """A note on a flow 2.x holds in a state the repository cannot leave as it is (None: no such state)."""
    exception = flow.text("exception", optional=True)
    if exception:
        return f"Kestra cannot read the flow it holds ({exception})"
    if flow.flag("draft", optional=True):
        return f"the server holds an unpublished draft at revision {revision}; apply publishes the repository's text and discards it"
    return None


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
        declared = _per_scope([scope.prefix for scope in scopes], local)
        flows: dict[Key, Remote] = {}
        while scopes:
            scope = scopes.pop()
            flows.update(self._scope_flows(scope, matcher, declared[scope.prefix]))
        return flows

    def _scope_flows(self, scope: _Scope, matcher: _Matcher, declared: int) -> dict[Key, Remote]:
        """The flows of one scope. Unchanged, they need no revision (the fast path): every export
        entry is a repository flow with its text, every repository flow of the scope is there, and
        the server has no drafts (before 2.0: the export leaves a draft-headed flow's draft out, so
        only the search tells). Otherwise the pages are decoded, and search and export are joined.
        What a moment's change explains is taken as such: a flow only the export holds was created
        after the search and is left out (a plan creating it is refused as stale by apply); a flow only
        the search lists is read alone (2.x leaves the flows it cannot read out of its export). What no
        change explains, two texts of one flow, refuses the plan."""
        if scope.flows is not None:
            return scope.flows
        texts = _export_texts(self._conn, scope.export)
        scope.export = None  # its sources are in `texts` now: one copy while the pages are decoded
        matched, leftovers = matcher.match(texts)
        if not leftovers and len(matched) == declared and not _drafts(self._conn):
            return {key: Remote(key, text, None) for key, text in matched.items()}
        listed = _add_pages(self._conn, scope.listed, scope.pages)
        for text in leftovers:
            key = key_of(text)
            if key is None:
                continue  # read alone below, if the search lists it
            if key in matched and not is_same_source(matched[key], text):
                raise _disagree(self._conn, scope.prefix, f"its export holds two texts of flow {key}")
            matched[key] = text
        flows = {key: Remote(key, text, *listed[key]) for key, text in matched.items() if key in listed}
        unread = {key: state for key, state in listed.items() if key not in flows}
        return flows | _get_each(self._conn, unread, self._parallelism)


def _per_scope(prefixes: list[str], local: Mapping[Key, Local]) -> dict[str, int]:
    """How many repository flows fall under each namespace prefix (the prefixes do not overlap)."""
    counts = dict.fromkeys(prefixes, 0)
    for key in local:
        parts = key.namespace.split(".")
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            if prefix in counts:
                counts[prefix] += 1
                break
    return counts


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
        return [data.decode("utf-8") for _, data in zip_entries(export.content, MAX_FLOW_BYTES, MAX_EXPORT_BYTES)]
    except (*DAMAGED, UnicodeDecodeError) as error:
        raise conn.unexpected("GET", EXPORT, f"an unreadable export ({error})") from None


# ---------------------------------------------------------------------------------------------


def _remote(conn: Connection, response: httpx.Response, method: str, path: str, key: Key) -> Remote:
    """The flow an answer holds, which must be flow `key`."""
    flow = Fields(conn, method, path, conn.json(response, method, path), "a flow")
    found = Key(KIND, flow.text("namespace"), flow.text("id"))
    if found != key:
        raise conn.unexpected(method, path, f"flow {found} instead of {key}")
    revision = flow.whole("revision", 1, MAX_REVISION)
    return Remote(key, flow.text("source"), revision, _state(flow, revision))


def _body(local: Local) -> bytes:
    return local.content.encode("utf-8")


def _flow_path(key: Key) -> str:
    return f"/flows/{segment(key.namespace)}/{segment(key.name)}"


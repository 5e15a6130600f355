"""What Kestra does with flows, for one tenant: FlowController + FlowService + the JDBC repository.

Every method takes plain values and returns JSON text (or bytes), raising `ApiError` with Kestra's status
and message; HTTP parsing stays in `flows_api.py`. The order of checks is Kestra's, because clients can see
it: an update of a missing flow is 404 *before* the body is parsed; create parses, then checks strictly,
then validates, then refuses a live duplicate; the namespace bulk checks namespaces and duplicate ids
first, then deletes, then creates/updates one by one without a transaction.

No method awaits, so each runs atomically on the event loop: concurrent requests cannot interleave inside
one (no duplicate revision numbers, no lost update).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Iterable

from . import checks
from .errors import ApiError, Violation, already_exists, internal, not_found, violation_error
from .filters import Query
from .flowdoc import FlowDoc, parse_flow
from .flowyaml import BULK_SEPARATOR, VALIDATE_SEPARATOR, java_trim, split_java
from .kvstore import iso
from .render import render_broken, render_flow, with_source
from .store import FlowKey, FlowStore, Revision
from .ziparchive import stored_zip

SUBFLOW_TYPES = frozenset(t.lower() for t in (
    "io.kestra.plugin.core.flow.Subflow", "io.kestra.core.tasks.flows.Subflow", "io.kestra.core.tasks.flows.Flow"))
FLOW_TRIGGER_TYPES = frozenset(t.lower() for t in (
    "io.kestra.plugin.core.trigger.Flow", "io.kestra.core.models.triggers.types.Flow"))


NATURAL_ORDER = [("namespace", False), ("id", False)]


class FlowService:
    def __init__(self, store: FlowStore, tenant: str, kestra_version: str) -> None:
        self.store = store
        self.tenant = tenant
        self.kestra_version = kestra_version
        self.two = kestra_version.startswith("2")

    # --- single flow --------------------------------------------------------------------------------

    def create(self, source: str, draft: bool = False) -> str:
        """POST /flows: strict parse, validation (skipped for a 2.x draft), then a refusal if a live flow has that id."""
        return self._json(self._create(parse_flow(source), draft), source=True)

    def update(self, namespace: str, flow_id: str, source: str, draft: bool = False) -> str:
        """PUT /flows/{ns}/{id}: 404 before parsing when not live; lenient parse (strict in 2.x); same text
        (and, in 2.x, same `draft`) = same revision."""
        if self.store.live(namespace, flow_id) is None:
            raise not_found()
        return self._json(self._update(parse_flow(source), namespace, flow_id, draft), source=True)

    def get(self, namespace: str, flow_id: str, *, source: bool, revision: int | None, allow_deleted: bool) -> str:
        """GET /flows/{ns}/{id}: `revision` returns that exact row (tombstone or not), ignoring allowDeleted."""
        if revision is not None:
            row = self.store.at(namespace, flow_id, revision)
        else:
            row = self.store.latest(namespace, flow_id) if allow_deleted else self.store.live(namespace, flow_id)
        if row is None:
            raise not_found()
        return self._json(((namespace, flow_id), row), source=source)

    def import_flow(self, source: str) -> None:
        """FlowService.importFlow: a lenient parse, then an update of whatever revision exists (a tombstone
        included) or a create."""
        doc = parse_flow(source)
        self._update(doc, doc.namespace, doc.id)

    def import_one(self, source: str) -> bool:
        """`import_flow` for POST /flows/import, where a failure only marks this piece as not imported."""
        try:
            self.import_flow(source)
        except ApiError:
            return False
        return True

    def delete(self, namespace: str, flow_id: str) -> None:
        """DELETE /flows/{ns}/{id}: a tombstone at revision + 1; 404 when not live."""
        if self.store.live(namespace, flow_id) is None:
            raise not_found()
        self.store.delete(namespace, flow_id)

    def revisions(self, namespace: str, flow_id: str, allow_delete: bool) -> str:
        """GET .../revisions, ascending. 0.24/1.0 list tombstones; later versions hide them unless asked."""
        rows = self.store.revisions(namespace, flow_id)
        if self.kestra_version.startswith("2") and not allow_delete:
            rows = [row for row in rows if not row.deleted]
        return _array(self._json(((namespace, flow_id), row), source=True) for row in rows)

    # --- many flows ---------------------------------------------------------------------------------

    def list_namespace(self, namespace: str) -> str:
        """GET /flows/{namespace}: live flows of exactly that namespace (children excluded), no source."""
        return _array(self._json(item, source=False) for item in self.store.scan(namespace=namespace))

    def search(self, query: Query, page: int, size: int, sort: list[tuple[str, bool]]) -> str:
        """GET /flows/search: `{results, total}`, 1-based pages, (namespace, id) order unless sorted."""
        offset = (page - 1) * size
        lookup = query.index_only()
        if lookup is not None and sort in ([], NATURAL_ORDER):  # the index is kept in (namespace, id) order
            total = self.store.count(**lookup)
            items = list(self.store.page(offset, size, **lookup))
        else:
            matched = list(query.rows(self.store, self.labels))
            for field, descending in reversed(sort):
                matched.sort(key=lambda item: self._sort_key(item, field), reverse=descending)
            total, items = len(matched), matched[offset:offset + size]
        results = _array(self._json(item, source=False) for item in items)
        return f'{{"results":{results},"total":{total}}}'

    def export_zip(self, rows: Iterable[tuple[FlowKey, Revision]], name: str) -> bytes:
        """A ZIP of stored sources, one `<ns>{sep}<id>.yml` entry each (Kestra's HasSource.asZipFile).

        In 2.x a flow is exported at its last non-draft revision (a draft-only flow not at all), and a flow
        the model can no longer read is left out (kestractl `flows_validate_by_query.go` relies on both).
        Kestra deflates the entries; they are stored here, an equally valid ZIP that any reader takes,
        because deflating 10,000 small entries one by one costs the emulator half a second per export.
        """
        entries, seen = [], set()
        for (namespace, flow_id), row in rows:
            if self.two:
                row = self.store.published(namespace, flow_id)
                if row is None or self.exception(row) is not None:
                    continue
            entry = name.format(namespace=namespace, id=flow_id)
            if entry in seen:  # java.util.zip refuses it and the request fails
                raise internal(f"duplicate entry: {entry}")
            seen.add(entry)
            entries.append((entry, row.source.encode("utf-8")))
        return stored_zip(entries)

    def live_rows(self, ids: list[dict]) -> list[tuple[FlowKey, Revision]]:
        """Rows for `[{namespace, id}]`, failing at the first missing one as `Optional.orElseThrow()` does."""
        found = []
        for item in ids:
            key = (item.get("namespace"), item.get("id"))
            row = self.store.live(*key)
            if row is None:
                raise not_found("No value present")
            found.append((key, row))
        return found

    def delete_rows(self, ids: list[dict]) -> int:
        """DELETE /flows/delete/by-ids: one at a time, so earlier ids stay deleted when a later one is missing."""
        for item in ids:
            key = (item.get("namespace"), item.get("id"))
            if self.store.live(*key) is None:
                raise not_found("No value present")
            self.store.delete(*key)
        return len(ids)

    def set_disabled(self, rows: list[tuple[FlowKey, Revision]], disabled: bool) -> int:
        """Disable/enable: Kestra edits the source text (`injectDisabled`) and saves a new revision."""
        changed = 0
        for (namespace, flow_id), row in rows:
            if row.disabled != disabled:
                doc = parse_flow(inject_disabled(row.source, disabled))
                self._update(doc, namespace, flow_id)
                changed += 1
        return changed

    def bulk(self, namespace: str | None, body: str | None, *, delete: bool, allow_child: bool, trim: bool) -> str:
        """POST /flows/{namespace} (trim=True) and POST /flows/bulk: Kestra's non-transactional sync.

        The body is cut on every literal `---`; namespaces and duplicate ids are checked before any write;
        then flows missing from the body are deleted (delete defaults to true!), then each flow is updated
        or created in body order. Deleted flows come first in the answer, as they were before deletion.
        """
        pieces = [] if body is None else split_java(body, BULK_SEPARATOR)
        return self.bulk_sources(namespace, [java_trim(piece) if trim else piece for piece in pieces],
                                 delete=delete, allow_child=allow_child)

    def bulk_sources(self, namespace: str | None, sources: list[str], *, delete: bool, allow_child: bool) -> str:
        """`bulkUpdateOrCreate` over already cut sources (the deprecated JSON route sends them one by one)."""
        docs = [parse_flow(source) for source in sources]
        self._check_bulk(namespace, docs, allow_child)
        ids = {doc.id for doc in docs}
        doomed = [(key, row) for key, row in self.store.scan(namespace=namespace) if key[1] not in ids] \
            if delete else []
        answers = [self._json(item, source=True) for item in doomed]
        for (ns, flow_id), _ in doomed:
            self.store.delete(ns, flow_id)
        for doc in docs:
            saved = self._update(doc, doc.namespace, doc.id) if self.store.live(doc.namespace, doc.id) \
                else self._create(doc)
            answers.append(self._json(saved, source=True))
        return _array(answers)

    def _check_bulk(self, namespace: str | None, docs: list[FlowDoc], allow_child: bool) -> None:
        if namespace is not None:
            invalid = []
            for doc in docs:
                if doc.namespace is None:
                    raise internal('Cannot invoke "String.equals(Object)" because the return value of '
                                   '"io.kestra.core.models.flows.GenericFlow.getNamespace()" is null')
                if doc.namespace != namespace and not (allow_child and doc.namespace.startswith(namespace)):
                    # The uid of a revision-less flow; its exact form is inferred (kestra-api.md §12).
                    uid = f"{self.tenant}_{doc.namespace}_{doc.id}_-1"
                    invalid.append(Violation(f"{uid} - flow namespace is invalid", "flow.namespace"))
            if invalid:
                raise violation_error(invalid)
        if len({doc.id for doc in docs}) < len(docs):
            raise violation_error([Violation("Duplicate flow id", "flow.id")])

    # --- validation ---------------------------------------------------------------------------------

    def validate(self, body: str) -> str:
        """POST /flows/validate: one result per document, always 200, strict, `Flow id exists` not checked."""
        pieces = split_java(java_trim(body), VALIDATE_SEPARATOR)
        return json.dumps([self._validate_one(index, piece) for index, piece in enumerate(pieces)], ensure_ascii=False)

    def _validate_one(self, index: int, source: str) -> dict:
        result: dict = {"index": index, "outdated": False}
        try:
            doc = parse_flow(source, resource="flow")
            checks.check_strict(doc, self.kestra_version)
            checks.check_types(doc, self.kestra_version)
        except ApiError as error:  # every failure becomes a `constraints` text
            unexpected = error.kind != "constraint"
            result["constraints"] = f"Unable to validate the flow: {error.detail}" if unexpected else error.detail
            return result
        if doc.revision is not None:
            last = self.store.last_revision(doc.namespace, doc.id) if doc.namespace and doc.id else 0
            result["outdated"] = doc.revision != last + 1
        result.update(deprecationPaths=[], warnings=self._warnings(doc), infos=[])
        result.update({k: v for k, v in (("flow", doc.id), ("namespace", doc.namespace)) if v is not None})
        violations = checks.bean_violations(doc, self.kestra_version)
        if violations:
            result["constraints"] = "".join(f"{v.display}: {v.message}\n" for v in violations)
        return result

    def _warnings(self, doc: FlowDoc) -> list[str]:
        """FlowService.warnings: missing/disabled static subflows of top-level tasks, unbounded Flow triggers."""
        warnings = []
        for task in doc.task_list("tasks"):
            if not isinstance(task, dict) or str(task.get("type", "")).lower() not in SUBFLOW_TYPES:
                continue
            namespace, flow_id = task.get("namespace"), task.get("flowId")
            if not isinstance(namespace, str) or not isinstance(flow_id, str) or "{{" in namespace + flow_id:
                continue
            target = self.store.live(namespace, flow_id)
            if target is None:
                warnings.append(f"The subflow '{flow_id}' not found in namespace '{namespace}'.")
            elif target.disabled:
                warnings.append(f"The subflow '{flow_id}' is disabled in namespace '{namespace}'.")
        v2 = self.kestra_version.startswith("2")
        for trigger in doc.task_list("triggers"):
            if not isinstance(trigger, dict) or str(trigger.get("type", "")).lower() not in FLOW_TRIGGER_TYPES:
                continue
            # 2.x (FlowService.warnings, develop c94e7743): unbounded without `dependsOn` and with no
            # `when` (or `when: "true"`); 1.x: without `conditions` and `preconditions`.
            if v2:
                unbounded = not trigger.get("dependsOn") and str(trigger.get("when", "true")) == "true"
            else:
                unbounded = not trigger.get("conditions") and trigger.get("preconditions") is None
            if unbounded:
                warnings.append("This flow will be triggered for EVERY execution of EVERY flow on your instance. "
                                f"We recommend adding the {'dependsOn' if v2 else 'preconditions'} property to the Flow trigger "
                                f"'{trigger.get('id')}'.")
        return warnings

    # --- internals ----------------------------------------------------------------------------------

    def _create(self, doc: FlowDoc, draft: bool = False) -> tuple[FlowKey, Revision]:
        """FlowService.create(strict=true) then repository.create."""
        checks.check_strict(doc, self.kestra_version)
        checks.check_types(doc, self.kestra_version)
        if not draft:  # "drafts are not validated for constraint violations" (2.0 spec, createFlow)
            checks.check_bean(doc, self.kestra_version)
        if self.store.live(doc.namespace, doc.id) is not None:
            raise already_exists(doc.namespace, doc.id)
        return self._save(doc, draft)

    def _update(self, doc: FlowDoc, namespace: str, flow_id: str, draft: bool = False) -> tuple[FlowKey, Revision]:
        """repository.update: validate, refuse an id/namespace change, then save (or keep the same revision)."""
        if self.two:
            checks.check_strict(doc, self.kestra_version)
        checks.check_types(doc, self.kestra_version)  # 1.x is lenient about unknown keys, but tasks must deserialize
        if not draft:
            checks.check_bean(doc, self.kestra_version)
        changes = []
        if doc.id != flow_id:
            changes.append(Violation("Illegal flow id update", "flow.id"))
        if doc.namespace != namespace:
            changes.append(Violation("Illegal namespace update", "flow.namespace"))
        if changes:
            raise violation_error(changes)
        return self._save(doc, draft)

    def _save(self, doc: FlowDoc, draft: bool = False) -> tuple[FlowKey, Revision]:
        row, is_new = self.store.save(doc.namespace, doc.id, doc.source, disabled=doc.disabled, deleted=doc.deleted,
                                      draft=draft and self.two)
        if is_new:
            row.rendered = self._render(doc, row)
        return (doc.namespace, doc.id), row

    def _json(self, item: tuple[FlowKey, Revision], source: bool) -> str:
        """The Flow (or FlowWithSource) JSON of a row, cached for the current row of each flow."""
        key, row = item
        text = row.rendered
        if text is None:
            text = self._render(None, row, key)
            if self.store.latest(*key) is row:
                row.rendered = text
        return with_source(text, row.source) if source else text

    def flow_json(self, namespace: str, flow_id: str, row: Revision) -> str:
        """The `Flow` JSON (no source) of one stored row."""
        return self._json(((namespace, flow_id), row), source=False)

    def _render(self, doc: FlowDoc | None, row: Revision, key: FlowKey | None = None) -> str:
        extra = {"updated": iso(row.updated), "draft": row.draft} if self.two else None
        exception = self.exception(row)
        if exception is not None:
            namespace, flow_id = key if key is not None else (doc.namespace, doc.id)
            return render_broken(namespace, flow_id, revision=row.revision, tenant=self.tenant, deleted=row.deleted,
                                 exception=exception, extra=extra)
        return render_flow(doc or parse_flow(row.source), revision=row.revision, tenant=self.tenant,
                           disabled=row.disabled, deleted=row.deleted, extra=extra)

    def exception(self, row: Revision) -> str | None:
        """Why this version's model cannot read a stored row (a 1.x source after an upgrade to 2.x), or None."""
        return _stored_exception(row.source, self.kestra_version) if self.two else None

    def labels(self, key: FlowKey, row: Revision) -> list[dict]:
        return json.loads(self._json((key, row), source=False)).get("labels", [])

    def _sort_key(self, item: tuple[FlowKey, Revision], field: str) -> object:
        (namespace, flow_id), row = item
        if field in ("namespace", "id", "revision"):
            return {"namespace": namespace, "id": flow_id, "revision": row.revision}[field]
        value = json.loads(self._json(item, source=False)).get(field)
        return "" if value is None else str(value)


def inject_disabled(source: str, disabled: bool) -> str:
    """FlowService.injectDisabled: rewrite an opposite `disabled:` line, or append one."""
    pattern = re.compile(r"^disabled\s*:\s*false\s*" if disabled else r"^disabled\s*:\s*true\s*", re.MULTILINE)
    if pattern.search(source):
        return pattern.sub(f"disabled: {'true' if disabled else 'false'}\n", source)
    return f"{source}\ndisabled: {'true' if disabled else 'false'}"


@lru_cache(maxsize=4096)
def _stored_exception(source: str, kestra_version: str) -> str | None:
    """The deserialization failure of a stored source (no bean validation: the repository only reads it)."""
    try:
        doc = parse_flow(source)
        checks.check_strict(doc, kestra_version)
        checks.check_types(doc, kestra_version)
    except ApiError as error:
        return error.detail
    return None


def _array(texts: Iterable[str]) -> str:
    return "[" + ",".join(texts) + "]"

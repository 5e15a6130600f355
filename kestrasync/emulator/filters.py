"""Flow queries: `filters[FIELD][OP]=value` and the legacy `q`/`namespace`/`labels`/`scope` parameters.

Kestra's `QueryFilterFormatBinder` reads `filters[<field>][<op>]` (labels: `filters[labels][EQUALS][<key>]`);
0.24/1.0 spell fields in upper snake case (`NAMESPACE`, `FLOW_ID`), 2.x and the SDK in lower camel case
(`namespace`, `flowId`, `q`), so both are accepted. When any `filters[...]` parameter is present the legacy
ones are ignored (`RequestUtils.getFiltersOrDefaultToLegacyMapping`).

`Query.rows()` drives the scan from the store's sorted index whenever a namespace filter allows it
(EQUALS, PREFIX, STARTS_WITH, IN), so a namespace-scoped query visits only that namespace's rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import chain
from typing import Callable, Iterable, Iterator

from .errors import http_status
from .store import FlowKey, FlowStore, Revision

_KEY = re.compile(r"^filters\[([^\]]+)\]\[([^\]]+)\](?:\[([^\]]*)\])?$")
_FIELDS = {"QUERY": "QUERY", "Q": "QUERY", "NAMESPACE": "NAMESPACE", "FLOW_ID": "FLOW_ID", "FLOWID": "FLOW_ID",
           "LABELS": "LABELS", "SCOPE": "SCOPE", "UPDATED": "UPDATED", "EXPIRATION_DATE": "EXPIRATION_DATE"}
SYSTEM_NAMESPACE = "system"
_ORDERED = {"GREATER_THAN": str.__gt__, "LESS_THAN": str.__lt__, "GREATER_THAN_OR_EQUAL_TO": str.__ge__,
            "LESS_THAN_OR_EQUAL_TO": str.__le__}  # kestra.system-flows.namespace default


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: object  # a string, a list of strings (IN/NOT_IN), or {key: value} for labels


@dataclass
class Query:
    """Filters over live flows; `labels_of(key, row)` supplies labels only when a labels filter needs them."""

    filters: list[Filter] = field(default_factory=list)

    def rows(self, store: FlowStore, labels_of: Callable[[FlowKey, Revision], list[dict]]) -> Iterator[tuple[FlowKey, Revision]]:
        driver, rest = self._driver()
        tests = [_predicate(f, labels_of) for f in rest]
        source = store.scan() if driver is None else chain.from_iterable(
            store.scan(**where) for where in _index_lookups(driver))
        for key, row in source:
            if all(test(key, row) for test in tests):
                yield key, row

    def index_only(self) -> dict | None:
        """The single index lookup answering this query outright (no other filter), for counting by bisection."""
        driver, rest = self._driver()
        if rest:
            return None
        lookups = [{}] if driver is None else _index_lookups(driver)
        return lookups[0] if len(lookups) == 1 else None

    def _driver(self) -> tuple[Filter | None, list[Filter]]:
        for candidate in self.filters:
            if candidate.field == "NAMESPACE" and candidate.op in ("EQUALS", "PREFIX", "STARTS_WITH", "IN"):
                return candidate, [f for f in self.filters if f is not candidate]
        return None, list(self.filters)


def _index_lookups(driver: Filter) -> list[dict]:
    if driver.op == "IN":
        return [{"namespace": value} for value in sorted(set(driver.value))]
    keyword = {"EQUALS": "namespace", "PREFIX": "prefix", "STARTS_WITH": "starts_with"}[driver.op]
    return [{keyword: driver.value}]


def parse_query(params: Iterable[tuple[str, str]]) -> Query:
    """Build a query from request parameters (a multi-valued list of pairs)."""
    params = list(params)
    filters = parse_filters(params, ("QUERY", "NAMESPACE", "FLOW_ID", "LABELS", "SCOPE"), "flows")
    if filters:
        return Query(filters)
    return Query(_legacy(params))


def parse_filters(params: Iterable[tuple[str, str]], fields: tuple[str, ...], resource: str) -> list[Filter]:
    """The `filters[...]` parameters, for a resource accepting `fields` (QueryFilter.Resource)."""
    return [_filter(match, value, fields, resource) for key, value in params if (match := _KEY.match(key))]


def _filter(match: re.Match, value: str, fields: tuple[str, ...], resource: str) -> Filter:
    raw_field, op, label_key = match.group(1), match.group(2).upper(), match.group(3)
    name = _FIELDS.get(raw_field.upper()) or _FIELDS.get(re.sub(r"(?<=[a-z])(?=[A-Z])", "_", raw_field).upper())
    if name is None or name not in fields:
        raise http_status(400, f"Invalid filter field '{raw_field}' for {resource}")
    if name == "LABELS":
        return Filter(name, op, _labels_value(label_key, value))
    if op in ("IN", "NOT_IN"):
        return Filter(name, op, [part.strip() for part in value.strip().strip("[]").split(",") if part.strip()])
    return Filter(name, op, value)


def _labels_value(label_key: str | None, value: str) -> dict:
    if label_key is not None:
        return {label_key: value}
    try:  # filters[labels][EQUALS]={"k":"v"} or k:v
        parsed = json.loads(value)
        if isinstance(parsed, dict):
            return {str(k): str(v) for k, v in parsed.items()}
    except ValueError:
        pass
    key, _, label_value = value.partition(":")
    return {key: label_value}


def _legacy(params: list[tuple[str, str]]) -> list[Filter]:
    """RequestUtils.mapLegacyParamsToFilters: q, namespace (a prefix), scope, labels (key:value)."""
    filters = []
    for key, value in params:
        if key == "q" and value:
            filters.append(Filter("QUERY", "EQUALS", value))
        elif key == "namespace" and value:
            filters.append(Filter("NAMESPACE", "PREFIX", value))
        elif key == "scope" and value:
            filters.append(Filter("SCOPE", "IN", [part for part in value.split(",") if part]))
        elif key == "labels" and value:
            label_key, _, label_value = value.partition(":")
            filters.append(Filter("LABELS", "EQUALS", {label_key: label_value}))
    return filters


def _predicate(f: Filter, labels_of: Callable) -> Callable[[FlowKey, Revision], bool]:
    if f.field == "QUERY":
        # Kestra matches full text over namespace and id; a case-insensitive substring is close enough,
        # and `*` matches every flow (FlowControllerTest.searchFlowsAll).
        needle = str(f.value).lower()
        hit = lambda key, row: needle == "*" or needle in key[0].lower() or needle in key[1].lower()  # noqa: E731
        return hit if f.op != "NOT_EQUALS" else (lambda key, row: not hit(key, row))
    if f.field == "NAMESPACE":
        return lambda key, row: compare(f.op, key[0], f.value, prefix=True)
    if f.field == "FLOW_ID":
        return lambda key, row: compare(f.op, key[1], f.value, prefix=False)
    if f.field == "SCOPE":
        wanted = {v.upper() for v in (f.value if isinstance(f.value, list) else [f.value])}
        in_scope = lambda key, row: ("SYSTEM" if key[0] == SYSTEM_NAMESPACE else "USER") in wanted  # noqa: E731
        return in_scope if f.op not in ("NOT_EQUALS", "NOT_IN") else (lambda key, row: not in_scope(key, row))
    expected = f.value.items()
    has_all = lambda key, row: all(  # noqa: E731
        any(label.get("key") == k and label.get("value") == v for label in labels_of(key, row)) for k, v in expected)
    return has_all if f.op != "NOT_EQUALS" else (lambda key, row: not has_all(key, row))


def compare(op: str, actual: str, value: object, prefix: bool) -> bool:
    if op == "EQUALS":
        return actual == value
    if op == "NOT_EQUALS":
        return actual != value
    if op == "PREFIX" and prefix:
        return actual == value or actual.startswith(f"{value}.")
    if op in ("STARTS_WITH", "PREFIX"):
        return actual.startswith(str(value))
    if op == "ENDS_WITH":
        return actual.endswith(str(value))
    if op == "CONTAINS":
        return str(value) in actual
    if op == "REGEX":
        return re.search(str(value), actual) is not None
    if op == "IN":
        return actual in value
    if op == "NOT_IN":
        return actual not in value
    if op in _ORDERED:
        return _ORDERED[op](actual, str(value))
    raise http_status(400, f"Operation {op} is not supported for this field")

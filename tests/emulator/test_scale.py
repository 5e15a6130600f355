"""Point 7 (scale): 100,000 flows; namespace listing, search and export visit only what they return.

Measured by the store's own `rows_visited` counter rather than by wall time, so the test stays meaningful on
any machine.
"""

from __future__ import annotations

import io
import json
import random
import zipfile

import pytest
from support import flow_yaml

from kestrasync.emulator.filters import parse_query
from kestrasync.emulator.flowservice import FlowService
from kestrasync.emulator.ziparchive import stored_zip
from kestrasync.emulator.store import FlowStore

BULK = 100_000


@pytest.fixture(scope="module")
def big():
    store = FlowStore()
    keys = [(f"bulk.ns{index % 1000:04d}", f"flow{index}") for index in range(BULK)]
    keys += [("small.team", f"s{index}") for index in range(7)] + [("small.team.child", f"c{index}") for index in range(3)]
    keys.append(("small.teams", "not-a-child"))  # shares the text prefix, not the namespace prefix
    random.Random(7).shuffle(keys)
    for namespace, flow_id in keys:
        store.save(namespace, flow_id, flow_yaml(flow_id=flow_id, namespace=namespace), disabled=False)
    return store, FlowService(store, "main", "1.0")


def _visits(store: FlowStore, action) -> tuple[object, int]:
    before = store.rows_visited
    result = action()
    return result, store.rows_visited - before


def test_the_store_holds_100k_flows(big):
    store, _ = big
    assert len(store) == BULK + 11


def test_search_by_namespace_prefix_visits_only_that_namespace(big):
    store, service = big
    body, visited = _visits(store, lambda: service.search(parse_query([("namespace", "small.team")]), 1, 50, []))
    result = json.loads(body)
    assert result["total"] == 10 and visited == 10
    assert {flow["namespace"] for flow in result["results"]} == {"small.team", "small.team.child"}


def test_a_search_page_visits_only_that_page(big):
    store, service = big
    body, visited = _visits(store, lambda: service.search(parse_query([]), 5, 20, []))
    assert json.loads(body)["total"] == BULK + 11 and visited == 20


def test_filters_within_a_namespace_visit_only_that_namespace(big):
    store, service = big
    query = parse_query([("filters[namespace][EQUALS]", "small.team"), ("filters[q][EQUALS]", "s3")])
    body, visited = _visits(store, lambda: service.search(query, 1, 10, []))
    assert [flow["id"] for flow in json.loads(body)["results"]] == ["s3"] and visited == 7


def test_list_by_namespace_visits_only_that_namespace(big):
    store, service = big
    body, visited = _visits(store, lambda: service.list_namespace("small.team"))
    assert len(json.loads(body)) == 7 and visited == 7


def test_export_by_namespace_visits_only_that_namespace(big):
    store, service = big
    query = parse_query([("filters[namespace][PREFIX]", "small.team")])
    data, visited = _visits(store, lambda: service.export_zip(query.rows(store, service.labels), "{namespace}-{id}.yml"))
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert len(names) == 10 and visited == 10


def test_export_archive_is_a_valid_zip_at_every_size():
    # Written directly up to 65,534 members; from 65,535 on the archive needs ZIP64, left to zipfile.
    for count in (0, 3, 0xFFFF):
        entries = [(f"company.team-flow{n:05d}.yml", f"id: flow{n:05d}\n# é ✓ {n}\n".encode()) for n in range(count)]
        archive = zipfile.ZipFile(io.BytesIO(stored_zip(entries)))
        assert archive.testzip() is None
        assert [(info.filename, archive.read(info)) for info in archive.infolist()] == entries

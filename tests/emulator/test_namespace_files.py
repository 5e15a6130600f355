"""Namespace files, `/api/v1/{tenant}/namespaces/{namespace}/files...`, in the 1.0 and the 2.0 mode.

Expected answers come from Kestra's code (NamespaceFileController, NamespaceFile, InternalNamespace, the JDBC
metadata repository and LocalStorage at v1.0.3 baa07dd02b8d and develop c94e774393c6), warts included; the
translated Java tests are in conformance/test_namespace_file_controller.py.
"""

from __future__ import annotations

import io
import os
import time
import zipfile

import httpx
import pytest
from support import AUTH, YAML, flow_yaml

from kestrasync.emulator import EmulatorConfig, EmulatorServer

NS = "company.team"
FILES = f"/api/v1/main/namespaces/{NS}/files"
TEMPLATE = "/api/v1/{tenant}/namespaces/{namespace}/files"
STORAGE = "/app/storage/main/company/team/_files"  # LocalStorage basePath + tenant + namespace prefix
P = "https://kestra.io/docs/api-reference/problems/"


def only(version: str):
    """Run a test in one mode only: the other version has no such behaviour."""
    def mark(test):
        test.kestra_versions = (version,)
        return test
    return mark


def pytest_generate_tests(metafunc):
    if "server" in metafunc.fixturenames:
        versions = getattr(metafunc.function, "kestra_versions", ("1.0", "2.0"))
        metafunc.parametrize("server", versions, indirect=True, scope="module", ids=lambda version: f"kestra{version}")


@pytest.fixture(scope="module")
def server(request):
    with EmulatorServer(EmulatorConfig(kestra_version=request.param)) as emulator:
        yield emulator


@pytest.fixture
def kestra(server):
    server.reset()
    return server


@pytest.fixture
def client(kestra):
    with httpx.Client(base_url=kestra.url, auth=AUTH, timeout=30) as http:
        yield http


@pytest.fixture
def two(kestra) -> bool:
    return kestra.config.kestra_version == "2.0"


def put(client, path: str, data: bytes, filename: str = "file", namespace: str = NS) -> httpx.Response:
    return client.post(f"/api/v1/main/namespaces/{namespace}/files", params={"path": path},
                       files={"fileContent": (filename, data)})


def upload(client, path: str, data: bytes, **options) -> None:
    response = put(client, path, data, **options)
    assert response.status_code == 200, response.text


def get(client, path: str, **params) -> httpx.Response:
    return client.get(FILES, params={"path": path, **params})


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["fileName"] for entry in response.json()]


def zipped(*entries: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def error(response: httpx.Response, two: bool) -> tuple[int, str]:
    """(status, text): the JsonError message in 1.x, `type slug: detail` of the problem in 2.x."""
    body = response.json()
    if two:
        assert response.headers["content-type"] == "application/problem+json"
        return response.status_code, f"{body['type'].removeprefix(P)}: {body['detail']}"
    return response.status_code, body["message"]


# --- content ----------------------------------------------------------------------------------------

def test_bytes_round_trip_exactly(client):
    samples = {"/all-bytes.bin": bytes(range(256)) * 4, "/empty.txt": b"", "/big.bin": os.urandom(3 * 1024 * 1024),
               "/crlf.txt": b"a\r\nb\r\n\xff\xfe"}
    for path, data in samples.items():
        upload(client, path, data)
    for path, data in samples.items():
        response = get(client, path)
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["cache-control"] == "no-cache"
        assert client.get(f"{FILES}/stats", params={"path": path}).json()["size"] == len(data)


def test_an_overwrite_replaces_in_1x_and_adds_a_revision_in_2x(client, two):
    upload(client, "/conf.yml", b"one")
    upload(client, "/conf.yml", b"two")
    upload(client, "/conf.yml", b"two")  # the same bytes again: a revision all the same (no dedup)
    assert get(client, "/conf.yml").content == b"two"
    revisions = client.get(f"{FILES}/revisions", params={"path": "/conf.yml"})
    if not two:  # v1.0.3 has no revisions: the route does not exist and `revision` is no parameter
        assert revisions.status_code == 404
        assert revisions.json()["_embedded"]["errors"] == [{"message": "Page Not Found"}]
        assert get(client, "/conf.yml", revision=1).content == b"two"
        return
    assert revisions.json() == [{"revision": 1}, {"revision": 2}, {"revision": 3}]
    assert get(client, "/conf.yml", revision=1).content == b"one"
    assert get(client, "/conf.yml", revision=3).content == b"two"
    assert error(get(client, "/conf.yml", revision=4), two) == (
        404, f"not-found: Revision 4 of file '/conf.yml' was not found in namespace '{NS}'.")
    assert error(get(client, "/conf.yml", revision="x"), two) == (422, "invalid-argument: Invalid argument")


@only("2.0")
def test_2x_revisions_go_on_after_a_delete_and_older_ones_stay_readable(client, two):
    upload(client, "/a.txt", b"v1")
    upload(client, "/a.txt", b"v2")
    client.delete(FILES, params={"path": "/a.txt"})
    assert error(get(client, "/a.txt"), two) == (404, f"not-found: File '/a.txt' was not found in namespace '{NS}'.")
    assert error(client.get(f"{FILES}/revisions", params={"path": "/a.txt"}), two) == (404, "not-found: File not found: /a.txt")
    assert get(client, "/a.txt", revision=1).content == b"v1"  # only the last row was marked deleted
    assert get(client, "/a.txt", revision=2).status_code == 404
    upload(client, "/a.txt", b"v3")
    assert client.get(f"{FILES}/revisions", params={"path": "/a.txt"}).json() == [
        {"revision": 1}, {"revision": 2}, {"revision": 3}]
    assert client.get(f"{FILES}/revisions", params={"path": "a.txt"}).status_code == 404  # exact path only


def test_missing_file_answers_per_version(client, two):
    if two:
        assert error(get(client, "/missing.txt"), two) == (
            404, f"not-found: File '/missing.txt' was not found in namespace '{NS}'.")
        assert error(client.get(f"{FILES}/stats", params={"path": "/missing.txt"}), two) == (
            404, f"not-found: File '/missing.txt' was not found in namespace '{NS}'.")
    else:  # the JDK's FileNotFoundException / NoSuchFileException, with the storage's absolute path
        assert error(get(client, "/missing.txt"), two) == (
            404, f"Not Found: {STORAGE}/missing.txt (No such file or directory)")
        assert error(client.get(f"{FILES}/stats", params={"path": "/missing.txt"}), two) == (
            404, f"Not Found: {STORAGE}/missing.txt")


def test_reading_a_directory_as_a_file(client, two):
    upload(client, "/dir/x", b"x")
    expected = "not-found: " if two else "Not Found: "
    assert error(get(client, "/dir"), two) == (404, f"{expected}{STORAGE}/dir (Is a directory)")


# --- stats and listings -----------------------------------------------------------------------------

def test_file_attributes_per_version(client, two):
    before = int(time.time() * 1000)
    upload(client, "/folder/f.txt", b"12345")
    time.sleep(0.01)
    upload(client, "/folder/f.txt", b"123")
    stats = client.get(f"{FILES}/stats", params={"path": "/folder/f.txt"}).json()
    folder = client.get(f"{FILES}/stats", params={"path": "/folder"}).json()
    assert list(stats)[:5] == ["fileName", "lastModifiedTime", "creationTime", "type", "size"]
    assert (stats["fileName"], stats["type"], stats["size"]) == ("f.txt", "File", 3)
    assert (folder["fileName"], folder["type"]) == ("folder", "Directory")
    if two:  # NamespaceFileAttributes: the row's created/updated, an empty metadata map, size 0 for a directory
        assert stats["metadata"] == {} and folder["size"] == 0
        assert before <= stats["creationTime"] < stats["lastModifiedTime"]
    else:  # LocalFileAttributes: no side file, so no metadata; Java 21 on Linux reports mtime as creation time
        assert "metadata" not in stats and folder["size"] == 4096
        assert stats["creationTime"] == stats["lastModifiedTime"] >= before


def test_root_stats_and_listing_create_the_root(client):
    assert client.get(f"{FILES}/stats", params={"path": "/"}).status_code == 404  # a path: nothing made
    assert client.get(f"{FILES}/directory").json() == []
    root = client.get(f"{FILES}/stats").json()
    assert (root["fileName"], root["type"]) == ("_files", "Directory")
    assert client.get(f"{FILES}/stats", params={"path": "/"}).status_code == 200


def test_listing_is_one_level_and_a_missing_directory_is_404(client, two):
    upload(client, "/a/b/c.txt", b"c")
    upload(client, "/a/d.txt", b"d")
    upload(client, "/top.txt", b"t")
    assert sorted(names(client.get(f"{FILES}/directory"))) == ["a", "top.txt"]
    assert sorted(names(client.get(f"{FILES}/directory", params={"path": "/a"}))) == ["b", "d.txt"]
    missing = client.get(f"{FILES}/directory", params={"path": "/nope"})
    if two:
        assert error(missing, two) == (404, "not-found: Directory not found: /nope")
        assert client.get(f"{FILES}/directory", params={"path": "/top.txt"}).json() == []  # a file has no children
    else:
        assert error(missing, two) == (404, f"Not Found: {STORAGE}/nope")
        assert error(client.get(f"{FILES}/directory", params={"path": "/top.txt"}), two) == (
            500, f"Internal server error: {STORAGE}/top.txt")  # NotDirectoryException


def test_1x_hides_metadata_side_file_names(client, two):
    upload(client, "/x.metadata", b"m")
    assert get(client, "/x.metadata").content == b"m"
    listed = names(client.get(f"{FILES}/directory"))
    searched = client.get(f"{FILES}/search", params={"q": "x"}).json()
    assert (listed, searched) == ((["x.metadata"], ["/x.metadata"]) if two else ([], []))


def test_make_directory_makes_parents_in_1x_only(client, two):
    assert client.post(f"{FILES}/directory", params={"path": "/a/b/c"}).status_code == 200
    assert client.get(f"{FILES}/stats", params={"path": "/a/b/c"}).json()["type"] == "Directory"
    if two:  # one row, no parent rows: invisible from the root
        assert names(client.get(f"{FILES}/directory")) == []
        assert error(client.get(f"{FILES}/directory", params={"path": "/a/b"}), two) == (
            404, "not-found: Directory not found: /a/b")
    else:
        assert names(client.get(f"{FILES}/directory")) == ["a"]
    upload(client, "/file", b"x")
    assert client.post(f"{FILES}/directory", params={"path": "/file"}).status_code == 200
    assert client.get(f"{FILES}/stats", params={"path": "/file"}).json()["type"] == ("Directory" if two else "File")


@only("2.0")
def test_2x_directory_revisions(client):
    upload(client, "/d/x.txt", b"x")
    assert client.get(f"{FILES}/revisions", params={"path": "/d/"}).json() == [{"revision": 1}]
    assert client.get(f"{FILES}/revisions", params={"path": "/d"}).status_code == 404
    assert client.get(f"{FILES}/revisions").json() == [{"revision": 1}]  # the root


# --- search -----------------------------------------------------------------------------------------

def test_search_matches_per_version(client, two):
    for path in ("/Report.csv", "/data/report-2024.txt", "/data/notes.md"):
        upload(client, path, b"")
    search = f"{FILES}/search"
    if two:  # H2 full text: every word of q, case-insensitive; `*` and `/` match all, punctuation alone nothing
        assert client.get(search, params={"q": "REPORT"}).json() == ["/Report.csv", "/data/report-2024.txt"]
        assert client.get(search, params={"q": "report 2024"}).json() == ["/data/report-2024.txt"]
        assert client.get(search, params={"q": "*"}).json() == ["/Report.csv", "/data/notes.md", "/data/report-2024.txt"]
        assert client.get(search, params={"q": "."}).json() == []
    else:  # `contains(q)` on the path, case-sensitive, in reverse URI order
        assert client.get(search, params={"q": "report"}).json() == ["/data/report-2024.txt"]
        assert client.get(search, params={"q": "/"}).json() == ["/data/report-2024.txt", "/data/notes.md", "/Report.csv"]
        assert client.get(search, params={"q": "*"}).json() == []
    assert client.get(search).status_code == 400


# --- upload: ZIP, _flows, forbidden paths -----------------------------------------------------------

def test_a_zip_file_name_means_extraction(client, two):
    flow = flow_yaml(namespace="somewhere.else", flow_id="zipped")
    archive = zipped(("dir/", b""), ("dir/a.txt", b"A"), ("b.bin", b"\x00\x01"), ("_flows/zipped.yml", flow.encode()))
    upload(client, "/ignored", archive, filename="BUNDLE.ZIP")  # the part's file name decides, not the path
    assert get(client, "/dir/a.txt").content == b"A" and get(client, "/b.bin").content == b"\x00\x01"
    assert get(client, "/ignored").status_code == 404
    imported = client.get(f"/api/v1/main/flows/{NS}/zipped", params={"source": "true"}).json()
    assert imported["source"] == flow.replace("namespace: somewhere.else", f"namespace: {NS}")
    upload(client, "/kept.zip", archive, filename="kept")  # any other name: stored as it is
    assert get(client, "/kept.zip").content == archive
    upload(client, "/junk.zip", b"not a zip", filename="junk.zip")  # java.util.zip finds no entry
    assert get(client, "/junk.zip").status_code == 404


def test_a_zip_entry_name_a_uri_refuses_stops_the_1x_extraction(client, two):
    archive = zipped(("first.txt", b"1"), ("a b.txt", b"2"), ("last.txt", b"3"))
    response = put(client, "/x", archive, filename="x.zip")
    if two:
        assert response.status_code == 200 and get(client, "/a b.txt").content == b"2"
    else:
        assert error(response, two) == (422, "Illegal argument: Illegal character in path at index 2: /a b.txt")
        assert get(client, "/first.txt").content == b"1" and get(client, "/last.txt").status_code == 404


def test_flows_folder_files_become_flows(client, two):
    source = "id: hello\nnamespace: elsewhere\n# namespace: not this one\ntasks:\n  - id: log\n" \
             "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    upload(client, "/_flows/hello.yml", source.encode())
    stored = client.get(f"/api/v1/main/flows/{NS}/hello", params={"source": "true"}).json()
    assert stored["source"] == source.replace("namespace: elsewhere", f"namespace: {NS}")
    assert client.get(f"{FILES}/search", params={"q": "hello"}).json() == []  # not kept as a file
    upload(client, "/_flows/hello.yml", source.replace("hi", "again").encode())  # an update of the same flow
    assert client.get(f"/api/v1/main/flows/{NS}/hello").json()["revision"] == 2
    nested = put(client, "/_flows/sub/x.yml", source.encode())
    assert error(nested, two)[0] == 422
    assert error(nested, two)[1].endswith("Invalid flow file path: /_flows/sub/x.yml")
    broken = put(client, "/_flows/broken.yml", b"id: [\n")
    assert broken.status_code == 422
    upload(client, "/_flowsX/a.txt", b"fine")  # only `_flows` itself is reserved


def test_a_relative_path_slips_past_the_flows_checks(client, two):
    """`_flows/x.yml` without its leading slash matches neither `/_flows/.*` nor the forbidden pattern, and
    the storage (1.x) or the normalization (2.x) then files it under `/_flows/`: a plain file there."""
    upload(client, "_flows/x.yml", b"not a flow")
    assert get(client, "_flows/x.yml").content == b"not a flow"
    assert get(client, "/_flows/x.yml").status_code == 422
    assert client.get(f"{FILES}/search", params={"q": "x.yml"}).json() == ["/_flows/x.yml"]


FORBIDDEN = [
    ("GET", "", {"path": "/_flows/test.yml"}, "/_flows/test.yml"),
    ("GET", "/stats", {"path": "/_flows"}, "/_flows"),
    ("GET", "/directory", {"path": "/_flows"}, "/_flows"),
    ("POST", "/directory", {"path": "/_flows/sub"}, "/_flows/sub"),
    ("POST", "", {"path": "/_flows"}, "/_flows"),
    ("PUT", "", {"from": "/_flows/a", "to": "/b"}, "/_flows/a"),
    ("PUT", "", {"from": "/a", "to": "/_flows/b"}, "/_flows/b"),
    ("DELETE", "", {"path": "_flows/old.yml"}, "/_flows/old.yml"),  # the delete adds the leading slash first
]


@pytest.mark.parametrize("method, route, params, path", FORBIDDEN)
def test_forbidden_paths_per_version(client, two, method, route, params, path):
    files = {"fileContent": ("f", b"x")} if method == "POST" and not route else None
    response = client.request(method, FILES + route, params=params, files=files)
    expected = f"invalid-argument: Forbidden path: {path}" if two else f"Illegal argument: Forbidden path: {path}"
    assert error(response, two) == (422, expected)


def test_path_rules_per_version(client, two):
    upload(client, "/a b.txt", b"space")
    upload(client, "/a+b.txt", b"plus")  # the query's `+` would be a space: httpx sends %2B
    if two:  # kept as given
        assert sorted(names(client.get(f"{FILES}/directory"))) == ["a b.txt", "a+b.txt"]
        assert get(client, "/a b.txt").content == b"space"
    else:  # URLEncoder turned the space into `+`: one file, overwritten
        assert names(client.get(f"{FILES}/directory")) == ["a+b.txt"]
        assert get(client, "/a b.txt").content == b"plus"
        assert error(get(client, "/x[1].txt"), two) == (
            422, "Illegal argument: Illegal character in path at index 31: kestra:///company/team/_files/x[1].txt")
    traversal = get(client, "/a/../a b.txt")
    assert error(traversal, two)[1].endswith("File should be accessed with their full path and not using relative '..' path.")
    upload(client, "/./dir//nested/./f.txt", b"n")
    assert get(client, "/dir/nested/f.txt").content == b"n"


def test_1x_a_name_a_uri_refuses_breaks_listing_the_whole_namespace(client, two):
    """A name holding `%20` (a local file named `a%20b`) goes through URI.create, which decodes it: the file
    is stored as `a b`, and then allByPrefix's `URI.create` of that path fails search, export and delete."""
    upload(client, "/a%20b", b"x")
    upload(client, "/fine.txt", b"y")
    search = client.get(f"{FILES}/search", params={"q": "fine"})
    if two:
        assert search.json() == ["/fine.txt"]
        return
    assert names(client.get(f"{FILES}/directory")) == ["a b", "fine.txt"]
    expected = (422, f"Illegal argument: Illegal character in path at index 39: {STORAGE}/a b")
    assert error(search, two) == expected
    assert error(client.get(f"{FILES}/export"), two) == expected
    assert error(client.delete(FILES, params={"path": "/fine.txt"}), two) == expected


def test_name_length_limits(client, two):
    response = put(client, "/" + "x" * 300 + ".txt", b"x")
    if two:
        assert error(response, two) == (
            422, "invalid-argument: A file or folder name exceeds the maximum length of 255 characters.")
    else:  # no check of its own: the file system refuses, and FileOutputStream says so as a FileNotFoundException
        assert error(response, two) == (404, f"Not Found: {STORAGE}/{'x' * 300}.txt (File name too long)")


# --- export -----------------------------------------------------------------------------------------

def test_export_holds_files_then_flows(client, two, kestra):
    upload(client, "/b.txt", b"B")
    upload(client, "/dir/a.bin", b"\x00A")
    upload(client, "/gone.txt", b"G")
    client.delete(FILES, params={"path": "/gone.txt"})
    client.post(f"{FILES}/directory", params={"path": "/empty"})
    source = flow_yaml(namespace=NS, flow_id="hello")
    assert client.post("/api/v1/main/flows", content=source, headers=YAML).status_code == 200
    client.post("/api/v1/main/flows", content=flow_yaml(namespace=f"{NS}.child", flow_id="child"), headers=YAML)
    response = client.get(f"{FILES}/export")
    assert response.headers["content-disposition"] == f'attachment; filename="{NS}_files.zip"'
    assert response.headers["content-type"] == "application/octet-stream"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    files = ["b.txt", "dir/a.bin"] if two else ["dir/a.bin", "b.txt"]  # 1.x: allByPrefix's reverse order
    assert archive.namelist() == [*files, "_flows/hello.yml"]
    assert archive.read("dir/a.bin") == b"\x00A" and archive.read("_flows/hello.yml") == source.encode()
    assert kestra.request_counts()[f"GET {TEMPLATE}/export"] == 1


def test_export_fails_on_a_name_twice(client, two):
    upload(client, "_flows/hello.yml", b"a stored file")
    client.post("/api/v1/main/flows", content=flow_yaml(namespace=NS, flow_id="hello"), headers=YAML)
    response = client.get(f"{FILES}/export")
    assert response.status_code == 500
    if not two:
        assert response.json()["message"] == "Internal server error: duplicate entry: _flows/hello.yml"


def test_export_of_large_files_is_streamed_and_quick(client):
    big = [os.urandom(5 * 1024 * 1024) for _ in range(3)]
    for index in range(100):
        upload(client, f"/small/{index}.txt", os.urandom(2048))
    for index, data in enumerate(big):
        upload(client, f"/big/{index}.bin", data)
    started = time.perf_counter()
    with client.stream("GET", f"{FILES}/export") as response:
        body = b"".join(response.iter_bytes())
        assert int(response.headers["content-length"]) == len(body)
    assert time.perf_counter() - started < 5
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert len(archive.namelist()) == 103 and archive.read("big/2.bin") == big[2]


# --- move and delete --------------------------------------------------------------------------------

def test_move_a_file_and_a_directory(client, two):
    upload(client, "/src/a.txt", b"a")
    upload(client, "/src/a.txt", b"a2")
    upload(client, "/src/sub/b.txt", b"b")
    assert client.put(FILES, params={"from": "/src/a.txt", "to": "/moved.txt"}).status_code == 200
    assert get(client, "/moved.txt").content == b"a2" and get(client, "/src/a.txt").status_code == 404
    assert client.put(FILES, params={"from": "/src", "to": "/dst"}).status_code == 200
    assert get(client, "/dst/sub/b.txt").content == b"b" and get(client, "/src/sub/b.txt").status_code == 404
    if two:  # every revision is copied, then the source's objects are dropped
        assert client.get(f"{FILES}/revisions", params={"path": "/moved.txt"}).json() == [{"revision": 1}, {"revision": 2}]
        assert get(client, "/src/a.txt", revision=1).status_code == 404


def test_move_conflicts_per_version(client, two):
    upload(client, "/one", b"1")
    upload(client, "/two", b"2")
    onto = client.put(FILES, params={"from": "/one", "to": "/two"})
    missing = client.put(FILES, params={"from": "/nope", "to": "/three"})
    spaced = client.put(FILES, params={"from": "/a b", "to": "/c"})
    if two:  # IOException "File '/two' already exists ..." is no mapped type: a 500
        assert onto.status_code == 500 and onto.json()["type"] == P + "internal-error"
        assert missing.status_code == 200  # nothing to copy
        assert error(spaced, two) == (422, "invalid-argument: Invalid argument")  # ConversionErrorException
    else:  # rename(2): the target is replaced; a missing source is NoSuchFileException "src -> dst"
        assert onto.status_code == 200 and get(client, "/two").content == b"1"
        assert error(missing, two) == (404, f"Not Found: {STORAGE}/nope -> {STORAGE}/three")
        assert error(spaced, two) == (422, "Internal server error: Failed to convert argument [from] for value "
                                           "[/a b] due to: Illegal character in path at index 2: /a b")


def test_delete_is_recursive_and_idempotent(client):
    upload(client, "/dir/a.txt", b"a")
    upload(client, "/dir/sub/b.txt", b"b")
    upload(client, "/keep.txt", b"k")
    assert client.delete(FILES, params={"path": "/dir"}).status_code == 200
    assert client.get(f"{FILES}/stats", params={"path": "/dir/sub/b.txt"}).status_code == 404
    assert names(client.get(f"{FILES}/directory")) == ["keep.txt"]
    assert client.delete(FILES, params={"path": "/dir"}).status_code == 200
    assert client.delete(FILES, params={"path": "keep.txt"}).status_code == 200  # the slash is added
    assert names(client.get(f"{FILES}/directory")) == []


def test_delete_takes_a_lone_sibling_and_its_folder_along(client):
    """The zombie-folder rule counts what the parent folder holds, not whether it is the path deleted."""
    upload(client, "/deep/dir/only.txt", b"o")
    assert client.delete(FILES, params={"path": "/deep/dir/missing.txt"}).status_code == 200
    assert client.get(f"{FILES}/stats", params={"path": "/deep/dir/only.txt"}).status_code == 404
    assert client.get(f"{FILES}/stats", params={"path": "/deep"}).status_code == 404


def test_2x_zombie_folders_are_counted_across_namespaces(client, two):
    upload(client, "/shared/a.txt", b"a")
    upload(client, "/shared/b.txt", b"b", namespace="other.ns")
    assert client.delete(FILES, params={"path": "/shared/a.txt"}).status_code == 200
    # 2.x: `/shared/` has one child in each namespace, two in all, so the folder stays; 1.x looks at one namespace
    assert (client.get(f"{FILES}/stats", params={"path": "/shared"}).status_code == 200) is two


# --- the machinery around the routes ----------------------------------------------------------------

def test_counters_name_route_templates(client, kestra, two):
    upload(client, "/a.txt", b"a")
    get(client, "/a.txt")
    client.get(f"{FILES}/stats", params={"path": "/a.txt"})
    client.get(f"{FILES}/directory")
    client.post(f"{FILES}/directory", params={"path": "/d"})
    client.get(f"{FILES}/search", params={"q": "a"})
    client.put(FILES, params={"from": "/a.txt", "to": "/b.txt"})
    client.delete(FILES, params={"path": "/b.txt"})
    expected = {f"POST {TEMPLATE}": 1, f"GET {TEMPLATE}": 1, f"GET {TEMPLATE}/stats": 1, f"GET {TEMPLATE}/directory": 1,
                f"POST {TEMPLATE}/directory": 1, f"GET {TEMPLATE}/search": 1, f"PUT {TEMPLATE}": 1,
                f"DELETE {TEMPLATE}": 1}
    if two:
        client.get(f"{FILES}/revisions", params={"path": "/d/"})
        expected[f"GET {TEMPLATE}/revisions"] = 1
    assert kestra.request_counts() == expected


def test_faults_and_latency_apply(client, kestra):
    kestra.add_fault(route=TEMPLATE, method="POST", status=503, count=1)
    assert put(client, "/a.txt", b"a").status_code == 503
    assert get(client, "/a.txt").status_code == 404  # refused before it was stored
    kestra.add_fault(route=TEMPLATE, method="POST", status=502, count=1, phase="after")
    assert put(client, "/a.txt", b"a").status_code == 502
    assert get(client, "/a.txt").content == b"a"  # stored, only the answer was lost


def test_reset_clears_files(client, kestra):
    upload(client, "/a.txt", b"a")
    kestra.reset()
    assert client.get(f"{FILES}/search", params={"q": "a"}).json() == []


def test_auth_tenant_and_the_legacy_alias(kestra, client, two):
    assert httpx.get(f"{kestra.url}{FILES}/stats").status_code == 401
    assert client.get(f"/api/v1/other/namespaces/{NS}/files/stats").status_code == 400
    upload(client, "/a.txt", b"a")
    assert client.get(f"/api/v1/namespaces/{NS}/files", params={"path": "/a.txt"}).content == b"a"


def test_missing_parameters(client, two):
    assert error(client.get(FILES), two) == (
        400, "invalid-query-parameter: Required QueryValue [path] not specified" if two
        else "Bad Request: Required QueryValue [path] not specified")
    assert client.put(FILES, params={"from": "/a"}).status_code == 400
    assert client.delete(FILES).status_code == 400
    assert error(client.post(FILES, params={"path": "/a"}, json={}), two)[0] == 415
    no_part = client.post(FILES, params={"path": "/a"}, files={"other": ("f", b"x")})
    assert error(no_part, two) == (400, "bad-request: Required Part [fileContent] not specified" if two
                                   else "Bad Request: Required Part [fileContent] not specified")


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_files_survive_a_restart(tmp_path, version):
    config = EmulatorConfig(state_file=str(tmp_path / "state.json"), kestra_version=version)
    data = bytes(range(256))
    with EmulatorServer(config) as first, httpx.Client(base_url=first.url, auth=AUTH) as client:
        upload(client, "/bin/data", data)
        upload(client, "/bin/data", data + b"!")
    with EmulatorServer(config) as second, httpx.Client(base_url=second.url, auth=AUTH) as client:
        assert get(client, "/bin/data").content == data + b"!"
        if version == "2.0":
            assert get(client, "/bin/data", revision=1).content == data

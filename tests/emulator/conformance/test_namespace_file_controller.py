"""NamespaceFileControllerTest, translated (1.x v1.0.3 and 2.x develop c94e7743, see conftest.py).

The Java tests write files with the storage (1.x `storageInterface.put`, 2.x `namespaceStorage.putFile`) and
read it back to check; here both go through the API (`POST /files`, `GET /files`, `GET /files/stats`), which
do the same in each version. `storage exists` becomes a stats call that creates nothing (`?path=/` for the
root: only an absent or empty path makes the root). 1.x uses the namespace `io.namespace`; 2.x a random one
per test (`TestsUtils.randomNamespace()`); `@LoadFlows` is a `POST /flows` of that version's
`flows/valids/task-flow.yaml`. Every Java case applies over HTTP: none is skipped.
"""

from __future__ import annotations

import re
import uuid

import pytest
from conftest import YAML, message

NAMESPACE = "io.namespace"  # 1.x NAMESPACE
TESTS = "io.kestra.tests"
TASK_FLOW_1X = """id: task-flow
namespace: io.kestra.tests

inputs:
  - id: string
    type: STRING

labels:
  mainFlowLabel: flowFoo
  overriding: parent

tasks:
  - id: launch
    type: io.kestra.plugin.core.flow.Subflow
    namespace: io.kestra.tests
    flowId: switch
    inputs:
      string: "{{ inputs.string }}"
    wait: true
    transmitFailed: true
    inheritLabels: true
    labels:
      launchTaskLabel: launchFoo
    outputs:
      extracted: "{{ outputs.default.value ?? outputs['error-t1'].value }}"

triggers:
  - id: schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *\""""
TASK_FLOW_2X = TASK_FLOW_1X.replace(
    """    outputs:
      extracted: "{{ outputs.default.value ?? outputs['error-t1'].value }}"
""", "") + "\n    inputs:\n      string: hello"


@pytest.fixture
def namespace(kestra) -> str:
    return NAMESPACE if kestra.config.kestra_version == "1.0" else f"namespacefilecontrollertest-{uuid.uuid4().hex[:10]}"


def files(namespace: str) -> str:
    return f"/api/v1/main/namespaces/{namespace}/files"


def put(client, namespace: str, path: str, content: bytes, filename: str = "file") -> None:
    response = client.post(f"{files(namespace)}?path={path}", files={"fileContent": (filename, content)})
    assert response.status_code == 200, response.text


def content(client, namespace: str, path: str) -> str:
    response = client.get(files(namespace), params={"path": path})
    assert response.status_code == 200, response.text
    return response.text


def exists(client, namespace: str, path: str) -> bool:
    return client.get(f"{files(namespace)}/stats", params={"path": path}).status_code == 200


def load_task_flow(client, kestra) -> str:
    source = TASK_FLOW_1X if kestra.config.kestra_version == "1.0" else TASK_FLOW_2X
    response = client.post("/api/v1/main/flows", content=source, headers=YAML)
    assert response.status_code == 200, response.text
    return source


def error_text(response) -> str:
    """What `HttpClientResponseException.getMessage()` carries: the JsonError message (1.x), or the problem
    document's detail (the 2.0 mode)."""
    body = response.json()
    return body.get("message") or body.get("detail")


@pytest.mark.kestra("1.0", "2.0")
def test_searchNamespaceFiles(client, namespace):
    for path in ("/file.txt", "/another_file.json", "/folder/file.txt", "/folder/some.yaml", "/folder/sub/script.py"):
        put(client, namespace, path, b"")
    search = f"{files(namespace)}/search"
    assert sorted(client.get(search, params={"q": "file"}).json()) == sorted(
        ["/file.txt", "/another_file.json", "/folder/file.txt"])
    assert sorted(client.get(search, params={"q": "file.txt"}).json()) == sorted(["/file.txt", "/folder/file.txt"])
    assert sorted(client.get(search, params={"q": "folder"}).json()) == sorted(
        ["/folder/file.txt", "/folder/some.yaml", "/folder/sub/script.py"])
    assert client.get(search, params={"q": ".py"}).json() == ["/folder/sub/script.py"]


@pytest.mark.kestra("1.0", "2.0")
def test_getFileContent(client, namespace):
    put(client, namespace, "/test.txt", b"Hello World")
    assert client.get(f"{files(namespace)}?path=/test.txt").text == "Hello World"


@pytest.mark.kestra("2.0")  # c94e7743; v1.0.3 has no revisions
def test_getFileContentWithRevision(client, namespace):
    put(client, namespace, "/test.txt", b"Hello World")
    put(client, namespace, "/test.txt", b"Hello World 2")
    assert client.get(f"{files(namespace)}?path=/test.txt&revision=1").text == "Hello World"
    assert client.get(f"{files(namespace)}?path=/test.txt&revision=2").text == "Hello World 2"
    assert client.get(f"{files(namespace)}?path=/test.txt").text == "Hello World 2"


@pytest.mark.kestra("1.0", "2.0")
def test_getFileMetadatas(client, namespace):
    put(client, namespace, "/test.txt", b"Hello World")
    res = client.get(f"{files(namespace)}/stats?path=/test.txt").json()
    assert res["fileName"] == "test.txt"
    assert res["type"] == "File"


@pytest.mark.kestra("2.0")  # c94e7743
def test_getRevisions(client, namespace):
    put(client, namespace, "/test.txt", b"Hello World")
    res = client.get(f"{files(namespace)}/revisions?path=/test.txt").json()
    assert res == [{"revision": 1}]
    put(client, namespace, "/test.txt", b"Hello World 2")
    res = client.get(f"{files(namespace)}/revisions?path=/test.txt").json()
    assert sorted(res, key=lambda r: r["revision"]) == [{"revision": 1}, {"revision": 2}]


@pytest.mark.kestra("1.0", "2.0")
def test_namespaceRootGetFileMetadatasWithoutPreCreation(client, namespace):
    res = client.get(f"{files(namespace)}/stats").json()
    assert res["fileName"] == "_files"
    assert res["type"] == "Directory"


@pytest.mark.kestra("1.0", "2.0")
def test_listNamespaceDirectoryFiles(client, namespace):
    put(client, namespace, "/test/test.txt", b"Hello World")
    put(client, namespace, "/test/test2.txt", b"Hello World")
    res = client.get(f"{files(namespace)}/directory").json()
    assert [entry["fileName"] for entry in res] == ["test"]
    res = client.get(f"{files(namespace)}/directory?path=/test").json()
    assert sorted(entry["fileName"] for entry in res) == ["test.txt", "test2.txt"]


@pytest.mark.kestra("1.0")  # v1.0.3
def test_listNamespaceDirectoryFilesWithoutPreCreation(client, namespace):
    assert not exists(client, namespace, "/")
    res = client.get(f"{files(namespace)}/directory").json()
    assert exists(client, namespace, "/")
    assert len(res) == 0


@pytest.mark.kestra("2.0")  # c94e7743
def test_listNamespaceDirectoryFilesNotExisting(client, namespace):
    # Root directory will be automatically created
    assert not exists(client, namespace, "/")
    res = client.get(f"{files(namespace)}/directory").json()
    assert exists(client, namespace, "/")
    assert len(res) == 0
    not_found = client.get(f"{files(namespace)}/directory?path=/not_existing_directory")
    assert not_found.status_code >= 400
    assert "Directory not found: /not_existing_directory" in error_text(not_found)


@pytest.mark.kestra("1.0", "2.0")
def test_createNamespaceDirectory(client, namespace):
    assert client.post(f"{files(namespace)}/directory?path=/test").status_code == 200
    assert client.post(f"{files(namespace)}/directory?path=/_flows2").status_code == 200
    res = client.get(f"{files(namespace)}/stats?path=/test").json()
    assert res["fileName"] == "test"
    assert res["type"] == "Directory"
    flows = client.get(f"{files(namespace)}/stats?path=/_flows2").json()
    assert flows["fileName"] == "_flows2"
    assert flows["type"] == "Directory"


@pytest.mark.kestra("1.0", "2.0")
def test_createNamespaceDirectoryException(client, namespace):
    assert client.post(f"{files(namespace)}/directory?path=/_flows").status_code >= 400


@pytest.mark.kestra("1.0", "2.0")
def test_createGetFileContent(client, namespace):
    put(client, namespace, "/test.txt", b"Hello", filename="test.txt")
    assert content(client, namespace, "/test.txt") == "Hello"
    put(client, namespace, "/_flowsFile", b"Hello", filename="_flowsFile")
    assert content(client, namespace, "/_flowsFile") == "Hello"


@pytest.mark.kestra("2.0")  # c94e7743
def test_createFileWithTooLongNameReturnsCleanError(client, namespace):
    long_name = "x" * 300 + ".txt"
    e = client.post(f"{files(namespace)}?path=/{long_name}", files={"fileContent": ("data", b"Hello")})
    # Clean 422 (not a 500), and the body must not leak the absolute internal-storage filesystem path
    assert e.status_code == 422
    response_body = e.text
    assert "maximum length" in response_body
    assert "_files" not in response_body
    assert "Internal server error" not in response_body


@pytest.mark.kestra("2.0")  # c94e7743
def test_createFileWithLongButValidComponentsSucceeds(client, namespace):
    segment = "a" * 150
    path = f"/{segment}/{segment}.txt"
    put(client, namespace, path, b"Hello", filename="data")
    assert content(client, namespace, path) == "Hello"


@pytest.mark.kestra("1.0", "2.0")
def test_createGetFileContentFlowException(client, namespace):
    response = client.post(f"{files(namespace)}?path=/_flows", files={"fileContent": ("_flows", b"Hello")})
    assert response.status_code >= 400


@pytest.mark.kestra("1.0", "2.0")
def test_createGetFileContent_AddFlow(client, kestra, namespace):
    flow_source = load_task_flow(client, kestra)
    assert client.get(f"/api/v1/main/flows/{namespace}/task-flow").status_code == 404
    put(client, namespace, "/_flows/task-flow.yml", flow_source.encode(), filename="task-flow.yml")
    imported = client.get(f"/api/v1/main/flows/{namespace}/task-flow", params={"source": "true"}).json()
    assert imported["source"] == re.sub(r"(?m)^namespace: .*$", f"namespace: {namespace}", flow_source, count=1)
    # `storage exists` of /_flows/task-flow.yml: GET refuses the path, so the search looks for it
    assert client.get(f"{files(namespace)}/search", params={"q": "task-flow"}).json() == []


@pytest.mark.kestra("1.0", "2.0")
def test_createGetFileContent_ExtractZip(client, kestra, namespace):
    load_task_flow(client, kestra)
    # 1.x writes the files into the exported namespace, 2.x (as its test does) into the target one
    written = TESTS if kestra.config.kestra_version == "1.0" else namespace
    put(client, written, "/file.txt", b"file")
    put(client, written, "/another_file.txt", b"another_file")
    put(client, written, "/folder/file.txt", b"folder_file")
    # 2.x creates it in the raw storage of io.kestra.tests, out of the index's sight; a directory row there is
    # not exported either (the export skips directories)
    assert client.post(f"{files(TESTS)}/directory?path=/empty_folder").status_code == 200

    archive = client.get(f"{files(TESTS)}/export")
    assert archive.status_code == 200
    assert client.get(f"/api/v1/main/flows/{namespace}/task-flow").status_code == 404

    put(client, namespace, "/files.zip", archive.content, filename="files.zip")

    assert content(client, namespace, "/file.txt") == "file"
    assert content(client, namespace, "/another_file.txt") == "another_file"
    assert exists(client, namespace, "/folder")
    assert content(client, namespace, "/folder/file.txt") == "folder_file"
    # Highlights the fact that we currently don't export / import empty folders
    assert not exists(client, namespace, "/empty_folder")

    retrieved = client.get(f"/api/v1/main/flows/{namespace}/task-flow").json()
    assert retrieved["namespace"] == namespace
    assert retrieved["tasks"][0]["namespace"] == TESTS


@pytest.mark.kestra("1.0", "2.0")
def test_moveFileDirectory(client, namespace):
    assert client.post(f"{files(namespace)}/directory?path=/test").status_code == 200
    assert client.put(f"{files(namespace)}?from=/test&to=/foo").status_code == 200
    res = client.get(f"{files(namespace)}/stats?path=/foo").json()
    assert res["fileName"] == "foo"
    assert res["type"] == "Directory"


@pytest.mark.kestra("1.0", "2.0")
def test_deleteFileDirectory(client, namespace):
    put(client, namespace, "/folder/file.txt", b"Hello")
    assert client.delete(f"{files(namespace)}?path=/folder/file.txt").status_code == 200
    assert not exists(client, namespace, "/folder/file.txt")
    # Zombie folders are deleted, but not the root folder
    assert not exists(client, namespace, "/folder")
    assert exists(client, namespace, "/")

    put(client, namespace, "/folderWithMultipleFiles/file1.txt", b"Hello")
    put(client, namespace, "/folderWithMultipleFiles/file2.txt", b"Hello")
    assert client.delete(f"{files(namespace)}?path=/folderWithMultipleFiles/file1.txt").status_code == 200
    assert not exists(client, namespace, "/folderWithMultipleFiles/file1.txt")
    assert exists(client, namespace, "/folderWithMultipleFiles/file2.txt")
    # Since there is still one file in the folder, it should not be deleted
    assert exists(client, namespace, "/folderWithMultipleFiles")
    assert exists(client, namespace, "/")

    assert client.delete(f"{files(namespace)}?path=/folderWithMultipleFiles").status_code == 200
    assert not exists(client, namespace, "/folderWithMultipleFiles/")
    assert exists(client, namespace, "/")


@pytest.mark.kestra("2.0")  # c94e7743
def test_shouldNotCollideSpaceAndPlusInFileName(client, namespace):
    put(client, namespace, "/c/a%20b.txt", b"SPACE-version", filename="a b.txt")
    put(client, namespace, "/c/a%2Bb.txt", b"PLUS-version", filename="a+b.txt")
    assert client.get(f"{files(namespace)}?path=/c/a%20b.txt").text == "SPACE-version"
    assert client.get(f"{files(namespace)}?path=/c/a%2Bb.txt").text == "PLUS-version"
    listing = client.get(f"{files(namespace)}/directory?path=/c").json()
    assert len(listing) == 2
    assert sorted(entry["fileName"] for entry in listing) == ["a b.txt", "a+b.txt"]


@pytest.mark.kestra("1.0")  # asserts the JsonError message (c94e7743 asserts the same one, replaced by problems later)
def test_forbiddenPaths(client, namespace):
    for response in (
        client.get(f"{files(namespace)}?path=/_flows/test.yml"),
        client.get(f"{files(namespace)}/stats?path=/_flows/test.yml"),
        client.get(f"{files(namespace)}/directory?path=/_flows"),
        client.put(f"{files(namespace)}?from=/_flows/test&to=/foo"),
        client.put(f"{files(namespace)}?from=/foo&to=/_flows/test"),
        client.delete(f"{files(namespace)}?path=/_flows/test.txt"),
    ):
        assert response.status_code >= 400
        assert message(response).startswith("Illegal argument: Forbidden path: ")


@pytest.mark.kestra("2.0")  # c94e7743
def test_pathTraversalShouldBeRejected(client, namespace):
    put(client, namespace, "/test.txt", b"Hello")
    # Path traversal via ".." should be rejected on all mutating / read endpoints
    for response in (
        client.get(f"{files(namespace)}?path=/foo/../../test.txt"),
        client.get(f"{files(namespace)}/stats?path=/foo/../../test.txt"),
        client.get(f"{files(namespace)}/directory?path=/foo/../.."),
        client.delete(f"{files(namespace)}?path=/foo/../../test.txt"),
        client.put(f"{files(namespace)}?from=/foo/../../test.txt&to=/bar"),
    ):
        assert response.status_code >= 400


@pytest.mark.kestra("2.0")  # c94e7743
def test_shouldRejectForwardSlashPathTraversalOnWriteAndDelete(client, namespace):
    put(client, namespace, "/safe.txt", b"safe")
    write = client.post(f"{files(namespace)}?path=/x/../../../escaped.txt",
                        files={"fileContent": ("x.txt", b"OWNED via path traversal")})
    assert write.status_code >= 400
    assert client.delete(f"{files(namespace)}?path=/x/../../../safe.txt").status_code >= 400
    # The legitimate file must be unaffected
    assert exists(client, namespace, "/safe.txt")

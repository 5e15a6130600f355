"""kestrasync.http and the flow kind's routes against answers the emulator would never give,
through httpx.MockTransport: error envelopes, retries, settling a create whose answer was lost."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from support import flow_yaml
from kestrasync.errors import ApiError, AuthRejected, ServerUnreachable
from kestrasync.http import Connection, Credentials, RetryPolicy, ServerOptions, error_messages
from kestrasync.kinds.flows import api
from kestrasync.model import Key, Local, SourceLocation
from kestrasync.server import Kestra

SECRET = "S3cret-Passw0rd!"
FLOW = Local(Key("flow", "company", "a"), flow_yaml("company", "a"), SourceLocation("flows/a.yml"))


def connection(handler, *, attempts: int = 3, stop: threading.Event | None = None, sleeps: list | None = None,
               kestra: str = "1.0.0") -> Connection:
    options = ServerOptions(url="http://kestra:8080", credentials=Credentials("admin@kestra.io", SECRET),
                            retry=RetryPolicy(attempts=attempts, base_delay=0.01))
    conn = Connection(options, transport=httpx.MockTransport(handler), sleep=(sleeps.append if sleeps is not None else lambda s: None), stop=stop)
    conn.kestra = Kestra(kestra, "OSS")
    return conn


def answer(status: int, body=None, content_type: str = "application/json", headers: dict | None = None):
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode() if body is not None else b""
    return httpx.Response(status, content=content, headers={"Content-Type": content_type, **(headers or {})})


def test_1x_and_2x_error_envelopes_become_kestras_own_messages():
    one = answer(422, {"message": "Invalid entity: flow.id: must match", "_embedded": {"errors": [{"message": "must match", "path": "flow.id"}]}})
    two = answer(422, {"type": "https://kestra.io/docs/api-reference/problems/validation-failed", "title": "Validation failed", "status": 422,
                       "errors": [{"detail": "must not be empty", "pointer": "/tasks"}]}, "application/problem+json")
    assert error_messages(one) == ("flow.id: must match",)
    assert error_messages(two) == ("/tasks: must not be empty",)
    assert error_messages(answer(500, "<html>Bad gateway</html>", "text/html")) == ("<html>Bad gateway</html>",)
    assert error_messages(answer(409, {"type": "x", "title": "Conflict", "detail": "A flow with id 'a' already exists"})) == ("A flow with id 'a' already exists",)
    assert error_messages(answer(400, [1, 2])) == ()


def test_an_error_is_a_sentence_naming_server_route_and_user_never_the_secret():
    conn = connection(lambda request: answer(401))
    with pytest.raises(AuthRejected) as refused:
        conn.send("GET", "/flows/search")
    assert str(refused.value) == "The Kestra server at http://kestra:8080 refused user 'admin@kestra.io' (Basic) (401 Unauthorized); check them."
    missing = connection(lambda request: answer(404, {"message": "Not Found"}))
    with pytest.raises(ApiError, match=r"answered 404 to GET /flows/search: Not Found \(is http://kestra:8080 a Kestra server"):
        missing.send("GET", "/flows/search", route_must_exist=True)
    tenant = connection(lambda request: answer(400, {"message": "Bad Request: Tenant must be 'main' for OSS version"}))
    with pytest.raises(ApiError, match="refused tenant 'main'"):
        tenant.send("GET", "/flows/search")


def test_transient_answers_are_retried_with_the_servers_retry_after():
    statuses = iter([503, 429, 200])
    sleeps: list[float] = []
    conn = connection(lambda request: answer(next(statuses), {}, headers={"Retry-After": "2"}), sleeps=sleeps)
    assert conn.send("GET", "/flows/search").status_code == 200
    assert sleeps == [2.0, 2.0]


def test_retries_end_in_one_sentence_and_stop_when_asked():
    def refuse(request):
        raise httpx.ConnectError("Connection refused", request=request)

    calls = []
    conn = connection(lambda request: (calls.append(1), refuse(request))[1], attempts=2)
    with pytest.raises(ServerUnreachable, match="Cannot reach the Kestra server at http://kestra:8080: Connection refused."):
        conn.send("GET", "/flows/search")
    assert len(calls) == 3
    stop = threading.Event()
    stop.set()
    calls.clear()
    with pytest.raises(ServerUnreachable):
        connection(lambda request: (calls.append(1), refuse(request))[1], stop=stop).send("GET", "/flows/search")
    assert len(calls) == 1  # stopped: no retry


def stored_flow(source: str, revision: int = 1):
    return answer(200, {"namespace": "company", "id": "a", "revision": revision, "source": source})


def test_a_create_whose_answer_was_lost_is_settled_by_reading_it_back():
    seen = []

    def server(request):
        seen.append(request.method)
        if request.method == "POST":
            raise httpx.ReadTimeout("timed out", request=request)
        return stored_flow(FLOW.content)

    created = api.create(connection(server), FLOW)
    assert (created.key, created.version) == (FLOW.key, 1)
    assert seen == ["POST", "GET"]  # never a second POST


def test_a_lost_create_is_sent_again_only_when_nothing_was_stored():
    seen = []

    def server(request):
        seen.append(request.method)
        if request.method == "POST" and seen.count("POST") == 1:
            return answer(502, {"message": "Bad gateway"})
        if request.method == "GET":
            return answer(404, {"message": "Not Found"})
        return stored_flow(FLOW.content)

    assert api.create(connection(server), FLOW).version == 1
    assert seen == ["POST", "GET", "POST"]


def test_a_lost_create_over_another_text_is_not_overwritten():
    def server(request):
        if request.method == "POST":
            raise httpx.ReadTimeout("timed out", request=request)
        return stored_flow(flow_yaml("company", "a", message="someone else's"))

    with pytest.raises(ServerUnreachable, match="did not answer POST /flows"):
        api.create(connection(server), FLOW)


@pytest.mark.parametrize(
    "page, problem",
    [
        ({"results": [{"id": "a", "namespace": "company"}], "total": 1}, "result 1 of a search page without `revision`"),
        ({"results": ["company/a"], "total": 1}, 'result 1 of a search page that is "company/a" (not an object)'),
        ({"results": [{"id": "a", "namespace": "company", "revision": "x"}], "total": 1}, "with `revision`: \"x\" (not a whole number"),
        ({"results": [{"id": "a", "namespace": None, "revision": 1}], "total": 1}, "result 1 of a search page with `namespace`: null (not a text)"),
        ({"results": [{"id": 7, "namespace": "company", "revision": 1}], "total": 1}, "with `id`: 7 (not a text)"),
        ({"results": [{"id": "a", "namespace": "company", "revision": float("inf")}], "total": 1}, "with `revision`: Infinity"),
        ({"results": [{"id": "a", "namespace": "company", "revision": True}], "total": 1}, "with `revision`: true"),
        ({"results": [{"id": "a", "namespace": "company", "revision": 0}], "total": 1}, "with `revision`: 0"),
        ({"results": [], "total": 10**12}, "a search page with `total`: 1000000000000 (not a whole number from 0 to 200,000)"),
        ({"results": {}, "total": 1}, "a search page with `results`: {} (not a list)"),
        ({"total": 1}, "a search page without `results`"),
        ([1, 2], "a search page that is [1, 2] (not an object)"),
        ({"results": [{"id": "a", "namespace": "company", "revision": 1}] * 2, "total": 2}, "a search page listing flow company/a twice"),
        ({"results": [{"id": f"f{n}", "namespace": "company", "revision": 1} for n in range(1001)], "total": 1001},
         "a search page of 1,001 results where at most 1,000 were asked for"),
    ],
)
def test_a_search_page_of_the_wrong_shape_is_a_sentence(page, problem):
    conn = connection(lambda request: answer(200, page))
    with pytest.raises(ApiError) as refused:
        api.versions(conn, ["company"], 1)
    assert problem in str(refused.value) and "to GET /flows/search" in str(refused.value), str(refused.value)


def test_export_entries_are_matched_by_content_whatever_their_names():
    """Entries named as in 2.x (`<namespace>/<id>.yaml`) or anything else: the text says which flow it is."""
    import io
    import zipfile

    changed = Local(Key("flow", "company", "b"), flow_yaml("company", "b", message="new"), SourceLocation("flows/b.yml"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("company/a.yaml", "revision: 3\n" + FLOW.content)
        zip_file.writestr("whatever.yml", flow_yaml("company", "b"))
        zip_file.writestr("x.yml", flow_yaml("company", "only-on-server"))
    revisions = [{"namespace": "company", "id": name, "revision": n} for n, name in enumerate(["a", "b", "only-on-server"], 3)]

    def server(request):
        if request.url.path.endswith("/export/by-query"):
            return httpx.Response(200, content=archive.getvalue())
        return answer(200, {"results": revisions, "total": 3})

    remotes = api.fetch(connection(server), ["company"], 1).remotes({FLOW.key: FLOW, changed.key: changed})
    assert {key.name: (remote.version, remote.content == FLOW.content) for key, remote in remotes.items()} == {
        "a": (3, False), "b": (4, False), "only-on-server": (5, False)}
    assert remotes[FLOW.key].content == "revision: 3\n" + FLOW.content
    assert remotes[changed.key].content == flow_yaml("company", "b")


def test_search_pages_are_decoded_only_when_a_flow_may_change():
    """When the export holds exactly the repository's flows, unchanged, revisions are not needed: the
    second search page is received but never decoded (here it is not even JSON)."""
    import io
    import zipfile

    def server_holding(text: str):
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zip_file:
            zip_file.writestr("company-a.yml", text)

        def server(request):
            if request.url.path.endswith("/export/by-query"):
                return httpx.Response(200, content=archive.getvalue())
            if request.url.params["page"] == "1":
                return answer(200, {"results": [{"namespace": "company", "id": "a", "revision": 2}], "total": 1500})
            return answer(200, "not json", "text/plain")

        return connection(server)

    [unchanged] = api.fetch(server_holding(FLOW.content), ["company"], 2).remotes({FLOW.key: FLOW}).values()
    assert unchanged.version is None
    with pytest.raises(ApiError, match="sent an answer that is not JSON to GET /flows/search"):
        api.fetch(server_holding(flow_yaml("company", "a", message="edited in the UI")), ["company"], 2).remotes({FLOW.key: FLOW})


def test_a_listed_flow_whose_export_entry_cannot_be_read_is_read_alone():
    """An entry no key can be read from (the server may hold any text) must not hide its flow."""
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("company-a.yml", FLOW.content)
        zip_file.writestr("company-weird.yml", "id: weird\nnamespace: company\ntasks: [\n")
    seen = []

    def server(request):
        seen.append(request.url.path)
        if request.url.path.endswith("/export/by-query"):
            return httpx.Response(200, content=archive.getvalue())
        if request.url.path.endswith("/flows/company/weird"):
            return answer(200, {"namespace": "company", "id": "weird", "revision": 3, "source": "id: weird\nnamespace: company\ntasks: [\n"})
        revisions = [{"namespace": "company", "id": "a", "revision": 1}, {"namespace": "company", "id": "weird", "revision": 3}]
        return answer(200, {"results": revisions, "total": 2})

    remotes = api.fetch(connection(server), ["company"], 1).remotes({})
    assert {key.name: remote.version for key, remote in remotes.items()} == {"a": 1, "weird": 3}
    assert seen.count("/api/v1/main/flows/company/weird") == 1 and not any(path.endswith("/flows/company/a") for path in seen)


@pytest.mark.parametrize(
    "value, seconds",
    [("3", 3.0), ("2.5", 2.5), ("-5", 0.0), ("NaN", None), ("soon", None), ("", None), (None, None), ("inf", float("inf")),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_in_every_form(value, seconds):
    from kestrasync.http import retry_after

    assert retry_after(value) == seconds


def test_retry_after_as_a_future_date():
    from email.utils import formatdate

    from kestrasync.http import retry_after

    assert 3590 < retry_after(formatdate(__import__("time").time() + 3600, usegmt=True)) <= 3600


def test_the_redaction_hides_every_form_of_a_secret():
    from kestrasync.redact import Redactor

    credentials = Credentials("admin@kestra.io", 'p"a ss/wörd')
    redact = Redactor(credentials.secrets())
    basic = credentials.secrets()[-1]
    text = f'p"a ss/wörd {json.dumps("p" + chr(34) + "a ss/wörd")} p%22a%20ss%2Fw%C3%B6rd p%22a+ss%2Fw%C3%B6rd Basic {basic}'
    assert redact(text) == 'p"a ss/wörd'.replace('p"a ss/wörd', "***") + ' "***" *** *** Basic ***'
    assert Redactor()("nothing to hide") == "nothing to hide"


def zip_of(entries: dict[str, str]) -> bytes:
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zip_file:
        for name, text in entries.items():
            zip_file.writestr(name, text)
    return archive.getvalue()


def test_2x_drafts_and_flows_kestra_cannot_read_are_noted():
    """2.x: the search says which flows are draft-headed and which it cannot read (those the export
    leaves out: they are read alone); a plan must never take them as they are."""
    broken = flow_yaml("company", "broken", extra="taskDefaults: []\n")
    listed = [{"namespace": "company", "id": "a", "revision": 4, "draft": True},
              {"namespace": "company", "id": "broken", "revision": 2, "exception": "Unrecognized field \"taskDefaults\""}]

    def server(request):
        if request.url.path.endswith("/export/by-query"):
            return httpx.Response(200, content=zip_of({"company/a.yaml": FLOW.content}))
        if request.url.path.endswith("/flows/company/broken"):
            return answer(200, {"namespace": "company", "id": "broken", "revision": 2, "source": broken, "draft": False})
        return answer(200, {"results": listed, "total": 2})

    remotes = api.fetch(connection(server, kestra="2.0.3"), ["company"], 1).remotes({FLOW.key: FLOW})
    assert remotes[FLOW.key].note.startswith("the server holds an unpublished draft at revision 4")
    assert remotes[FLOW.key].version == 4  # the search's: the pages were decoded, drafts being possible
    assert remotes[Key("flow", "company", "broken")].note == 'Kestra cannot read the flow it holds (Unrecognized field "taskDefaults")'


def test_2x_writes_are_published_and_a_create_that_exists_is_settled_by_its_type():
    seen = []

    def server(request):
        seen.append((request.method, dict(request.url.params)))
        if request.method == "POST":
            return answer(409, {"type": "https://kestra.io/docs/api-reference/problems/entity-already-exists", "title": "Entity already exists",
                                "status": 409, "detail": "A flow with id 'a' already exists in namespace 'company'."}, "application/problem+json")
        return stored_flow(FLOW.content, 3)

    created = api.create(connection(server, kestra="2.0.3"), FLOW)
    assert created.version == 3  # already there with this text: an earlier try's answer was lost
    assert seen[0] == ("POST", {"draft": "false"})
    assert api.update(connection(server, kestra="2.0.3"), FLOW).version == 3
    assert seen[-1] == ("PUT", {"draft": "false"})
    assert api.update(connection(server, kestra="1.0.0"), FLOW) and seen[-1] == ("PUT", {})


def test_a_create_over_another_text_that_exists_is_refused():
    def server(request):
        if request.method == "POST":
            return answer(422, {"message": "Invalid entity: flow.id: Flow id already exists", "_embedded": {"errors": [{"message": "Flow id already exists", "path": "flow.id"}]}})
        return stored_flow(flow_yaml("company", "a", message="someone else's"))

    with pytest.raises(ApiError, match="answered 422 to POST /flows: flow.id: Flow id already exists"):
        api.create(connection(server), FLOW)


@pytest.mark.parametrize("kestra, status, body", [
    ("1.0.0", 409, {"message": "Illegal state: Flow company.a has revision 3"}),
    ("2.0.3", 500, {"type": "https://kestra.io/docs/api-reference/problems/internal-error", "title": "Internal server error", "status": 500,
                    "detail": "An unexpected error occurred. Quote the traceId when contacting support.", "traceId": "4bf9"}),
])
def test_a_delete_race_is_a_sentence_in_both_versions(kestra, status, body):
    conn = connection(lambda request: answer(status, body, "application/problem+json" if "type" in body else "application/json"), kestra=kestra, attempts=0)
    with pytest.raises(ApiError, match=f"did not delete flow company/a: it changed while being deleted \\(answered {status} to DELETE"):
        api.delete(conn, FLOW.key)


def test_the_lock_writes_kv_as_text_and_an_expired_entry_is_absent():
    from kestrasync.lock import KvStore

    seen = []

    def server(request):
        seen.append((request.method, request.headers.get("Content-Type"), request.headers.get("ttl")))
        if request.method == "GET":
            return answer(410, {"type": "https://kestra.io/docs/api-reference/problems/resource-expired", "title": "Resource has expired",
                                "status": 410, "detail": "Resource has expired"}, "application/problem+json")
        return httpx.Response(200)

    kv = KvStore(connection(server, kestra="2.0.3"))
    assert kv.get("system", "kestra-sync-lock") is None
    kv.put("system", "kestra-sync-lock", {"holder": "me"}, ttl_seconds=60)
    assert seen[-1] == ("PUT", "text/plain", "PT60S")


def test_basic_credentials_refused_by_enterprise_2x_say_what_it_takes():
    conn = connection(lambda request: answer(401, {"type": "https://kestra.io/docs/api-reference/problems/unauthenticated",
                                                   "title": "Authentication required", "status": 401}, "application/problem+json"),
                      kestra="2.0.3")
    conn.kestra = Kestra("2.0.3", "EE")
    with pytest.raises(AuthRejected, match="Kestra Enterprise 2.x takes API tokens only; set KESTRA_API_TOKEN"):
        conn.send("GET", "/flows/search")
    conn.kestra = Kestra("2.0.3", "OSS")
    with pytest.raises(AuthRejected, match="check them"):
        conn.send("GET", "/flows/search")

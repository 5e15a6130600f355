"""Properties, with hypothesis, against the emulator on a real socket.

For small random repositories and server states (non-ASCII text, comments, blank lines, CRLF or LF,
sometimes no final newline; flows on the server with other text, extra owned flows, foreign flows):

1. apply converges: `apply --prune` then `plan --prune` shows no changes, and the server holds exactly
   the files' texts (foreign namespaces untouched, identical flows keep their revision);
2. plan never writes, whatever its flags;
3. the differ's "unchanged" verdict is exactly the emulator's no-op rule (a PUT that keeps the revision).
"""

from __future__ import annotations

import shutil

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import output_json
from kestrasync.kinds.flows.diff import is_same_source
from kestrasync.kinds.flows.parse import RESERVED_IDS

VALIDATE = "POST /api/v1/{tenant}/flows/validate"
OWNED = ("company", "company.team", "company.team.eu", "company.sales")
FOREIGN = ("other", "companyx", "system")

EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    database=None,  # the working directory is a fresh temporary repository: nothing to replay from
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ids = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True).filter(lambda i: i not in RESERVED_IDS)
# Inside a double-quoted YAML scalar: no quote, backslash or Pebble braces.
words = st.text(alphabet="abcxyz XYZ 019 éàüßçñø λπж ✓ 日本語 -_.,!?", min_size=1, max_size=16)


@st.composite
def flow_text(draw, namespace: str, flow_id: str) -> str:
    """A valid flow as people write them: optional comments and blank lines, LF or CRLF, maybe no final newline."""
    lines = [f"id: {flow_id}", f"namespace: {namespace}"]
    if draw(st.booleans()):
        lines.insert(0, f"# {draw(words)}")
    lines += ["tasks:", "  - id: log", "    type: io.kestra.plugin.core.log.Log", f'    message: "{draw(words)}"']
    if draw(st.booleans()):
        lines.append(f"# {draw(words)}")
    for position in draw(st.lists(st.integers(0, len(lines)), max_size=3)):
        lines.insert(position, "")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.integers(0, 3)) == 0:
        text = text.rstrip("\r\n")
    return text


@st.composite
def repositories(draw):
    """(files, server, foreign): the repository's flows, the owned flows on the server, foreign flows on the server.

    Each maps (namespace, id) to a text. The server holds some of the files' flows with the same text,
    some with another text, and some flows no file declares.
    """
    keys = draw(st.lists(st.tuples(st.sampled_from(OWNED), ids), max_size=6, unique=True))
    files = {key: draw(flow_text(*key)) for key in keys}
    server = {}
    for key in keys:
        kind = draw(st.sampled_from(["absent", "same", "other"]))
        if kind != "absent":
            server[key] = files[key] if kind == "same" else draw(flow_text(*key))
    for key in draw(st.lists(st.tuples(st.sampled_from(OWNED), ids), max_size=3, unique=True)):
        if key not in files:
            server[key] = draw(flow_text(*key))
    foreign = {key: draw(flow_text(*key)) for key in draw(st.lists(st.tuples(st.sampled_from(FOREIGN), ids), max_size=2, unique=True))}
    return files, server, foreign


def set_up(repo, server, probe, files: dict, on_server: dict) -> None:
    """A fresh emulator holding `on_server`, and a repository holding exactly `files`."""
    server.reset()
    shutil.rmtree(repo.root / "flows", ignore_errors=True)
    (repo.root / "flows").mkdir()
    (repo.root / "plan.json").unlink(missing_ok=True)
    for n, ((namespace, flow_id), text) in enumerate(sorted(files.items())):
        extension = ".yml" if n % 2 else ".yaml"
        (repo.root / "flows" / namespace).mkdir(exist_ok=True)
        (repo.root / "flows" / namespace / f"{flow_id}{extension}").write_bytes(text.encode("utf-8"))
    for text in on_server.values():
        probe.create(text)


def key_text(mapping: dict) -> dict[str, str]:
    return {f"{namespace}/{flow_id}": text for (namespace, flow_id), text in mapping.items()}


@EXAMPLES
@given(state=repositories())
def test_apply_converges_and_the_server_holds_the_files_texts(repo, cli, server, probe, state):
    files, owned, foreign = state
    set_up(repo, server, probe, files, {**owned, **foreign})
    before = probe.flows()

    applied = cli("apply", "--auto-approve", "--prune", "--allow-empty", "--max-deletes", "1000")
    assert applied.exit_code == 0, applied.output
    plan = output_json(cli("plan", "--prune", "--format", "json"))
    assert (plan["has_changes"], plan["changes"]) == (False, []), plan["changes"]

    after = probe.flows()
    assert {k: text for k, (_, text) in after.items() if k.split("/")[0].split(".")[0] == "company"} == key_text(files)
    assert {k: after.get(k) for k in key_text(foreign)} == {k: before[k] for k in key_text(foreign)}
    unchanged = [k for k, text in key_text(files).items() if k in before and before[k][1] == text]
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}  # same text: same revision


PLAN_COMMANDS = (
    ("plan",),
    ("plan", "--prune"),
    ("plan", "--prune", "--allow-empty", "--max-deletes", "1000", "--format", "json"),
    ("plan", "--format", "markdown", "--diff"),
    ("plan", "--ignore-cosmetic", "--detailed-exitcode"),
    ("plan", "--prune", "--out", "plan.json"),
    ("diff",),
    ("validate",),
)


@EXAMPLES
@given(state=repositories(), commands=st.lists(st.sampled_from(PLAN_COMMANDS), min_size=1, max_size=3))
def test_plan_never_writes(repo, cli, server, probe, state, commands):
    files, owned, foreign = state
    set_up(repo, server, probe, files, {**owned, **foreign})
    before = probe.flows()
    server.reset(store=False, counters=True, faults=True)

    for command in commands:
        result = cli(*command)
        # 1 is a refused prune (it would empty a namespace); never a traceback (catch_exceptions=False)
        assert result.exit_code in (0, 1, 2), result.output
        if result.exit_code == 1:
            assert "Prune would delete every flow of namespace" in result.stderr, result.output
    written = {
        route: n
        for route, n in server.request_counts().items()
        if route.split(" ")[0] in ("POST", "PUT", "PATCH", "DELETE") and route != VALIDATE
    }
    assert written == {}
    assert probe.flows() == before


# A variant of the server's current source, in the ways a file can differ from it.
VARIANTS = (
    "same",
    "revision line first",
    "revision line elsewhere",
    "comment",
    "trailing whitespace",
    "blank line at the end",
    "line endings",
    "semantic",
)


def variant(kind: str, source: str, draw) -> str:
    lines = source.splitlines(keepends=True)
    newline = "\r\n" if 2 * source.count("\r\n") > source.count("\n") else "\n"

    def insert(at: int, line: str) -> str:
        body = list(lines)
        if at == len(body) and body and not body[-1].endswith(("\n", "\r")):
            body[-1] += newline
        return "".join(body[:at] + [line] + body[at:])

    if kind == "same":
        return source
    if kind.startswith("revision line"):
        # At most one `revision` key (Kestra refuses duplicate keys): any earlier one moves.
        lines = [line for line in lines if not line.startswith("revision:")]
        line = f"revision: {draw(st.integers(1, 99))}" + draw(st.sampled_from(["\n", "\r\n"]))
        if kind == "revision line first":
            return insert(0, line)
        # Before another top-level key (a line starting at column 0), or at the end.
        return insert(draw(st.sampled_from([i for i, text in enumerate(lines) if text[:1].isalpha()][1:] + [len(lines)])), line)
    if kind == "comment":
        return insert(draw(st.integers(0, len(lines))), f"# {draw(words)}{newline}")
    if kind == "trailing whitespace":
        first = lines[0].rstrip("\r\n")
        return first + "  " + lines[0][len(first):] + "".join(lines[1:])
    if kind == "blank line at the end":
        return source + newline
    if kind == "line endings":
        unix = source.replace("\r\n", "\n")
        return unix if newline == "\r\n" else unix.replace("\n", "\r\n")
    assert kind == "semantic"
    return source.replace('message: "', 'message: "changed ', 1)


@EXAMPLES
@given(
    namespace=st.sampled_from(OWNED),
    flow_id=ids,
    data=st.data(),
    kinds=st.lists(st.sampled_from(VARIANTS), min_size=1, max_size=5),
)
def test_differ_agrees_with_the_servers_no_op_rule(server, probe, namespace, flow_id, data, kinds):
    server.reset()
    key = f"{namespace}/{flow_id}"
    probe.create(data.draw(flow_text(namespace, flow_id), label="created"))
    revision, source = probe.flows()[key]
    for kind in kinds:
        text = variant(kind, source, data.draw)
        answer = probe.update(namespace, flow_id, text)
        kept = answer["revision"] == revision
        assert is_same_source(text, source) is kept, (kind, text, source, answer["revision"], revision)
        revision, source = probe.flows()[key]
        assert revision == answer["revision"]
        if not kept:
            assert source == text  # a new revision stores the text exactly as sent

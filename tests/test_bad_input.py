"""Bad input through the CLI against the emulator: each refused with one located sentence, exit 1 and
nothing written to the server; and the odd inputs that are not errors (CRLF files, a directory named
`x.yaml`, an empty repository) handled as such.

The scanner's per-check messages are pinned offline in test_scanner.py and the config file's in
test_config.py; here each bad input goes through `plan` or `apply` against a real server, so what is
asserted as well is that the server saw no write.
"""

from __future__ import annotations

import errno
import os
import re

import pytest

from support import child_env, flow_yaml, output_json, run_measured

VALIDATE = "POST /api/v1/{tenant}/flows/validate"  # read-only: Kestra validates and stores nothing
GOOD = flow_yaml("company.team", "good")


def writes(server) -> dict[str, int]:
    """Requests that could have changed the server (validation excepted; the apply lock included)."""
    return {
        route: count
        for route, count in server.request_counts().items()
        if route.split(" ")[0] in ("POST", "PUT", "PATCH", "DELETE") and route != VALIDATE
    }


def refused(result, *expected: str) -> None:
    """Exit 1, every expected text on stderr, a final `Error:` verdict and no traceback."""
    assert result.exit_code == 1, result.output
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[-1].startswith("Error: "), result.stderr


def laughs(indent: str, levels: int = 9, width: int = 9) -> list[str]:
    """A "billion laughs": `levels` anchored lists, each aliasing the previous one `width` times (9**9 leaves)."""
    lines = [f"{indent}a0: &a0 [{', '.join(['lol'] * width)}]"]
    return lines + [f"{indent}a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]" for n in range(1, levels + 1)]


def sequence_bomb() -> str:
    """A flow whose `variables` hold a billion laughs."""
    lines = ["id: bomb", "namespace: company.team", "variables:", *laughs("  ")]
    lines += ["tasks:", "  - id: log", "    type: io.kestra.plugin.core.log.Log", "    message: '{{ vars.a9 }}'"]
    return "\n".join(lines) + "\n"



# ---------------------------------------------------------------------------------------------
# 1. YAML bombs


@pytest.mark.parametrize("where, command", [("flow", "validate"), ("flow", "plan"), ("config", "validate")])
def test_yaml_bomb_is_refused_fast_in_bounded_memory(repo, server, probe, where, command):
    if where == "flow":
        repo.write("flows/bomb.yml", sequence_bomb())
        repo.write("flows/good.yml", GOOD)
        shown = "flows/bomb.yml"
    else:
        repo.write("kestra-sync.yaml", "\n".join(["flows:", "  paths: [flows]", "  include:", *laughs("    "), "namespaces: [company]", ""]))
        repo.write("flows/good.yml", GOOD)
        shown = "kestra-sync.yaml"
    args = ["validate", "--offline"] if command == "validate" else ["plan"]
    code, out, err, seconds, peak_mb = run_measured(args, repo.root, child_env(server), address_space_mb=1024)
    assert code == 1, out + err
    assert re.search(rf"^(Error: )?{re.escape(shown)}:\d+:\d+: YAML alias of the value at line \d+: Kestra does not resolve aliases", err, re.MULTILINE), err
    assert "Traceback" not in err
    assert seconds < 3, f"took {seconds:.1f} s"
    assert peak_mb < 150, f"peak RSS {peak_mb:.0f} MB"
    assert writes(server) == {} and probe.flows() == {}


def test_yaml_bomb_stored_on_the_server_does_not_blow_up_plan(repo, server, probe):
    """Kestra reads an alias as its anchor's name and stores the text as sent: another client can store a bomb.
    Planning an update of that flow must stay as cheap as any other."""
    probe.create(sequence_bomb())
    repo.write("flows/bomb.yml", flow_yaml("company.team", "bomb"))
    # Killed after 3 s and capped at 768 MB: expanding the aliases would take minutes and gigabytes.
    code, out, err, seconds, peak_mb = run_measured(["plan", "--no-validate"], repo.root, child_env(server), timeout=3, address_space_mb=768)
    assert code == 0, err[-2000:]
    assert "~ company.team/bomb" in out
    assert seconds < 3 and peak_mb < 150, (seconds, peak_mb)


def test_nesting_deeper_than_the_parser_allows_is_located(repo, cli, server):
    depth = 1200
    repo.write("flows/deep.yml", GOOD.replace("tasks:", "variables:\n  x: " + "[" * depth + "]" * depth + "\ntasks:"))
    result = cli("plan")
    refused(result, "flows/deep.yml:4:1004: YAML syntax error: exceeded maximum nesting depth")
    assert writes(server) == {}


# ---------------------------------------------------------------------------------------------
# 2. Size limit


def padded(text: str, size: int) -> str:
    """`text` with a trailing comment making it exactly `size` bytes in UTF-8."""
    missing = size - len(text.encode()) - 3  # "# " and "\n"
    assert missing >= 0
    return text + "# " + "x" * missing + "\n"


def test_file_over_the_default_1_mib_limit_is_refused(repo, cli, server, probe):
    repo.write("flows/good.yml", GOOD)
    repo.write("flows/big.yml", padded(flow_yaml("company.team", "big"), int(1.1 * 1024 * 1024)))
    result = cli("apply", "--auto-approve")
    refused(result, "flows/big.yml:1:1: file is over the 1,048,576-byte limit (flows.max_file_size in kestra-sync.yaml)")
    assert writes(server) == {} and probe.flows() == {}


def test_configured_limit_counts_bytes_and_is_inclusive(repo, cli, server, probe):
    repo.config("flows:\n  paths: [flows]\n  max_file_size: 300\nnamespaces: [company]\n")
    repo.write("flows/exact.yml", padded(flow_yaml("company.team", "exact"), 300))
    assert cli("plan").exit_code == 0  # exactly at the limit: accepted

    repo.write("flows/over.yml", padded(flow_yaml("company.team", "over"), 301))
    # 230 characters, but 330 bytes in UTF-8: the limit is in bytes.
    wide = flow_yaml("company.team", "wide", message="é" * 100)
    assert len(wide) < 300 < len(wide.encode())
    repo.write("flows/wide.yml", wide)
    result = cli("plan")
    refused(
        result,
        "flows/over.yml:1:1: file is over the 300-byte limit (flows.max_file_size in kestra-sync.yaml)",
        "flows/wide.yml:1:1: file is over the 300-byte limit",
        "2 problems in flow files; nothing was sent to the server.",
    )
    assert writes(server) == {} and probe.flows() == {}


# ---------------------------------------------------------------------------------------------
# 3. Encodings, line endings, tabs


ENCODING_CASES = {
    "latin1_byte": (b"id: a\nnamespace: company\ntasks:\n  - id: t\n    type: x\n    message: caf\xe9\n", "flows/bad.yml:6:17: not UTF-8 text (byte 0xe9); save the file as UTF-8"),
    "utf16_with_bom": ("id: a\nnamespace: company\n".encode("utf-16"), "flows/bad.yml:1:1: not UTF-8 text (byte 0xff)"),
    "encoded_surrogate": (b"id: a\nnamespace: company\ndescription: \xed\xa0\x80\n", "flows/bad.yml:3:14: not UTF-8 text (byte 0xed)"),
    "truncated_at_end": (b"id: a\nnamespace: company\ndescription: caf\xc3", "flows/bad.yml:3:17: not UTF-8 text (byte 0xc3)"),
    "utf8_bom": (b"\xef\xbb\xbf" + GOOD.encode(), "flows/bad.yml:1:1: file starts with a UTF-8 byte-order mark (BOM)"),
    "tab_after_spaces": (b"id: a\nnamespace: company\ntasks:\n  - id: t\n  \t  type: x\n", "flows/bad.yml:5:3: YAML syntax error: a tab character cannot indent YAML; use spaces"),
    "tab_in_block_scalar": (
        b"id: a\nnamespace: company\ntasks:\n  - id: t\n    type: x\n    message: |\n\tindented\n",
        "flows/bad.yml:7:1: YAML syntax error: a tab character cannot indent YAML; use spaces",
    ),
}


@pytest.mark.parametrize("case", sorted(ENCODING_CASES))
def test_bad_bytes_are_located_and_nothing_is_sent(repo, cli, server, probe, case):
    data, expected = ENCODING_CASES[case]
    repo.write("flows/good.yml", GOOD)
    (repo.root / "flows/bad.yml").write_bytes(data)
    result = cli("apply", "--auto-approve")
    refused(result, expected, "1 problem in flow files; nothing was sent to the server.")
    assert writes(server) == {} and probe.flows() == {}


def test_control_character_is_located_at_its_line_and_column(repo, cli, server):
    repo.write("flows/bad.yml", GOOD.replace("message: hello", "message: déjà\x00b"))  # a column in characters
    result = cli("plan")
    refused(result, "flows/bad.yml:6:18: YAML syntax error: the control character U+0000 is not allowed")
    assert "<byte string>" not in result.stderr
    assert len(result.stderr.splitlines()) == 2, result.stderr  # the located problem, then the verdict
    assert writes(server) == {}


def test_crlf_mixed_and_multi_document_files_are_sent_byte_exact(repo, cli, server, probe):
    first = flow_yaml("company.crlf", "first", message="déjà vu ✓").replace("\n", "\r\n")
    second = "---\r\n# second flow\r\n" + flow_yaml("company.crlf", "second").replace("\n", "\r\n")
    (repo.root / "flows").mkdir()
    (repo.root / "flows/multi.yml").write_bytes((first + second + "---\r\n").encode())
    mixed = "id: mixed\r\nnamespace: company.crlf\ntasks:\r\n  - id: t\n    type: io.kestra.plugin.core.log.Log\r\n    message: hi"
    (repo.root / "flows/mixed.yml").write_bytes(mixed.encode())

    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert probe.flows() == {
        "company.crlf/first": (1, first),
        "company.crlf/second": (1, second),
        "company.crlf/mixed": (1, mixed),
    }
    again = cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes. 3 flow(s) match the server." in again.stdout

    # Converting the line endings is a real change (Kestra stores bytes): one cosmetic update, said so.
    (repo.root / "flows/mixed.yml").write_bytes(mixed.replace("\r\n", "\n").encode())
    [change] = output_json(cli("plan", "--format", "json"))["changes"]
    assert (change["address"], change["update_kind"], change["summary"]) == ("company.crlf/mixed", "cosmetic", ["line endings only: mixed → LF (3 lines)"])


# ---------------------------------------------------------------------------------------------
# 4-6. Symbolic links, unreadable files, a directory named like a flow file


def test_directory_symlink_to_an_ancestor_is_a_loop(repo, cli, server):
    repo.write("flows/team/a.yml", GOOD)
    os.symlink("..", repo.root / "flows/team/up")
    result = cli("plan")
    refused(result, "flows/team/up:1:1: symbolic link loop: this directory contains itself")
    assert writes(server) == {}


def test_self_referencing_file_symlink_is_a_loop(repo, cli, server):
    repo.write("flows/good.yml", GOOD)
    os.symlink("x.yml", repo.root / "flows/x.yml")
    result = cli("plan")
    refused(result, "flows/x.yml:1:1: symbolic link loop")
    assert writes(server) == {}


def test_broken_symlink_is_named(repo, cli, server):
    repo.write("flows/good.yml", GOOD)
    os.symlink("gone.yml", repo.root / "flows/link.yml")
    refused(cli("plan"), "flows/link.yml:1:1: broken symbolic link")
    assert writes(server) == {}


def make_unreadable(path) -> None:
    """A file this process cannot read. Root ignores permission bits, so as root the file is a link to
    /proc/self/mem, whose first page is never mapped: reading it fails with EIO."""
    if os.geteuid() != 0:
        path.write_text(GOOD)
        path.chmod(0)
        return
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        os.read(fd, 1)
    except OSError as error:
        if error.errno != errno.EIO:
            pytest.skip(f"reading /proc/self/mem fails with {error.strerror}, not EIO, on this machine")
    else:
        pytest.skip("/proc/self/mem is readable at offset 0 on this machine")
    finally:
        os.close(fd)
    os.symlink("/proc/self/mem", path)


def test_unreadable_file_is_named(repo, cli, server, probe):
    repo.write("flows/good.yml", GOOD)
    make_unreadable(repo.root / "flows/bad.yml")
    result = cli("apply", "--auto-approve")
    refused(result, "flows/bad.yml:1:1: cannot read file")
    assert writes(server) == {} and probe.flows() == {}


def test_directory_named_like_a_flow_file_is_walked(repo, cli, probe):
    repo.write("flows/x.yaml/inner.yml", flow_yaml("company.team", "inner"))
    (repo.root / "flows/empty.yml").mkdir()
    result = cli("plan", "--format", "json")
    assert result.exit_code == 0, result.output
    [change] = output_json(result)["changes"]
    assert (change["action"], change["address"], change["file"]) == ("create", "company.team/inner", "flows/x.yaml/inner.yml")
    assert cli("apply", "--auto-approve").exit_code == 0
    assert probe.flows() == {"company.team/inner": (1, flow_yaml("company.team", "inner"))}


# ---------------------------------------------------------------------------------------------
# 7. Empty repositories


def test_empty_flows_directory_plans_nothing(repo, cli, server):
    (repo.root / "flows").mkdir()
    result = cli("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout
    assert writes(server) == {}


def test_missing_flows_directory_is_a_located_error(repo, cli, server):
    result = cli("plan")
    refused(result, "flows:1:1: no such file or directory")
    assert writes(server) == {}


@pytest.mark.parametrize("flows_dir", ["empty", "missing"])
def test_prune_never_empties_owned_namespaces_from_an_empty_repository(repo, cli, server, probe, flows_dir):
    for key in ("company.team/a", "company.team/b", "company.sales/c"):
        namespace, flow_id = key.split("/")
        probe.create(flow_yaml(namespace, flow_id))
    before = probe.flows()
    if flows_dir == "empty":
        (repo.root / "flows").mkdir()
        result = cli("apply", "--auto-approve", "--prune", "--max-deletes", "100")
        refused(result, "Prune would delete every flow of namespace 'company.sales' (")
    else:  # a typo in flows.paths must not read as "the repository declares nothing"
        result = cli("apply", "--auto-approve", "--prune", "--allow-empty", "--max-deletes", "100")
        refused(result, "flows:1:1: no such file or directory")
    assert probe.flows() == before
    assert "DELETE /api/v1/{tenant}/flows/{namespace}/{id}" not in server.request_counts()


# ---------------------------------------------------------------------------------------------
# 8. Configuration values and flags (the rest is in test_config.py)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["plan", "--max-deletes", "-1"], "Invalid value for '--max-deletes': -1 is not in the range x>=0."),
        (["apply", "--auto-approve", "--max-deletes", "-1"], "Invalid value for '--max-deletes'"),
        (["plan", "--timeout", "0"], "Invalid value for '--timeout': 0.0 is not in the range x>0."),
        (["plan", "--timeout", "soon"], "Invalid value for '--timeout': 'soon' is not a valid float range."),
        (["plan", "--parallelism", "abc"], "Invalid value for '--parallelism': 'abc' is not a valid integer range."),
        (["plan", "--parallelism", "65"], "Invalid value for '--parallelism': 65 is not in the range 1<=x<=64."),
        (["plan", "--config", "missing.yaml"], "cannot read missing.yaml: No such file or directory"),
        (["plan", "--config", "."], "Invalid value for '--config'"),
        (["plan", "--ca-cert", "missing.pem"], "Invalid value for '--ca-cert': File 'missing.pem' does not exist."),
        (["plan", "--url", "ftp://kestra.example.com"], "the server URL must start with http:// or https:// and name a host"),
        (["plan", "--url", "http://"], "the server URL must start with http:// or https:// and name a host"),
        (["plan", "--namespace", "company", "--target", "company/"], "--target:"),
    ],
)
def test_bad_flag_values_exit_1_before_any_request(repo, cli, server, args, expected):
    repo.write("flows/good.yml", GOOD)
    result = cli(*args)
    refused(result, expected)
    assert server.request_counts() == {}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("flow:\n  paths: [flows]\n", "kestra-sync.yaml:1:1: unknown key 'flow' (expected one of: "),
        ("flows:\n  paths: [flows]\n  max_file_size: 1MB\n", "kestra-sync.yaml:3:18: 'flows.max_file_size' must be a whole number, not '1MB'"),
        ("server:\n  url: 8080\n", "kestra-sync.yaml:2:8: 'server.url' must be a text value, not 8080"),
        ("server:\n  verify_tls: 'no'\n", "kestra-sync.yaml:2:15: 'server.verify_tls' must be true or false, not 'no'"),
        ("namespaces: {company: true}\n", "kestra-sync.yaml:1:13: 'namespaces' must be a list of text values"),
        ("flows:\n  paths: [flows]\n---\nnamespaces: [company]\n", "kestra-sync.yaml:3:1: expected a single YAML document"),
        (b"# caf\xe9\nflows:\n  paths: [flows]\n", "kestra-sync.yaml:1:6: not UTF-8 text (byte 0xe9)"),
        ("flows:\n  paths: [flows]\n  max_file_size: 0\n", "kestra-sync.yaml:3:18: 'flows.max_file_size' must be greater than 0"),
        ("prune:\n  max_deletes: -1\n", "kestra-sync.yaml:2:16: 'prune.max_deletes' must be 0 or more"),
        ("server:\n  timeout: 0\n", "kestra-sync.yaml:2:12: 'server.timeout' must be greater than 0"),
        ("prune:\n  protected_namespaces: [System]\n", "kestra-sync.yaml:2:25: 'prune.protected_namespaces': namespace 'System' is not a valid"),
    ],
)
def test_bad_config_values_exit_1_before_any_request(repo, cli, server, text, expected):
    path = repo.root / "kestra-sync.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    repo.write("flows/good.yml", GOOD)
    result = cli("plan")
    refused(result, expected)
    assert server.request_counts() == {}

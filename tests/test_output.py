"""Output formats: text (colour only on a terminal, NO_COLOR honoured), JSON (versioned), Markdown (PR-ready)."""

from __future__ import annotations

import os
import re

from support import flow_yaml, output_json, run_on_terminal
from kestrasync.model import PLAN_FORMAT_VERSION


def changed_repo(repo, cli, probe):
    probe.create(flow_yaml("company.team", "etl", message="old"))
    probe.create(flow_yaml("company.team", "gone"))
    repo.write("flows/etl.yml", flow_yaml("company.team", "etl", message="new"))
    repo.write("flows/new.yml", flow_yaml("company.team", "new"))
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    probe.create(flow_yaml("company.team", "keep"))


def test_json_plan_is_versioned_and_complete(repo, cli, probe):
    changed_repo(repo, cli, probe)
    plan = output_json(cli("plan", "--prune", "--format", "json"))
    assert plan["format_version"] == PLAN_FORMAT_VERSION
    assert plan["type"] == "kestra-sync/plan"
    assert plan["summary"] == {"create": 1, "update": 1, "delete": 1, "unchanged": 1}
    assert plan["summary_line"] == "Plan: 1 to create, 1 to update, 1 to delete, 1 unchanged."
    assert plan["kinds"] == ["flow"] and plan["summary_by_kind"] == {"flow": plan["summary"]}
    by_flow = {c["address"]: c for c in plan["changes"]}
    assert {c["kind"] for c in plan["changes"]} == {"flow"}
    assert by_flow["company.team/etl"]["key"] == "flow:company.team/etl"
    assert by_flow["company.team/etl"]["version_before"] == 1
    assert by_flow["company.team/etl"]["file"] == "flows/etl.yml"
    assert by_flow["company.team/new"]["content"] == flow_yaml("company.team", "new")
    assert by_flow["company.team/gone"]["action"] == "delete"


def test_markdown_plan_has_table_and_collapsible_diffs(repo, cli, probe):
    changed_repo(repo, cli, probe)
    result = cli("plan", "--prune", "--format", "markdown")
    text = result.stdout
    assert text.startswith("### kestra-sync plan")
    assert "| | Flow | File | Server revision | What changes |" in text
    assert "| 🟡 update | `company.team/etl` | `flows/etl.yml` | 1 | semantic: task `log` changed (message) |" in text
    assert text.count("<details>") == 3 and text.count("</details>") == 3
    assert "```diff\n--- company.team/etl (server rev 1)" in text
    assert "deletes 1 flow(s)" in text


def test_markdown_is_cut_below_60000_characters(repo, cli):
    big = "\n".join(f"      line {n}: {'x' * 80}" for n in range(400))
    for n in range(12):
        repo.write(f"flows/f{n}.yml", flow_yaml("company", f"f{n}", message=f"|\n{big}"))
    text = cli("plan", "--format", "markdown").stdout
    assert len(text) < 60_000
    assert "diff(s) left out to keep this comment under 60,000 characters" in text
    assert "| 🟢 create | `company/f11` |" in text  # the table still lists every flow


def test_markdown_of_a_thousand_changes_stays_under_the_limit(repo, cli):
    for n in range(1000):
        repo.write(f"flows/f{n:04d}.yml", flow_yaml("company", f"f{n:04d}"))
    text = cli("plan", "--format", "markdown", "--no-validate").stdout
    assert len(text) < 60_000
    assert "| 🟢 create | `company/f0000` |" in text
    shown = text.count("| 🟢 create |")
    assert f"_… and {1000 - shown} more change(s): run `kestra-sync plan` to see them all._" in text
    assert "**Plan: 1000 to create, 0 to update, 0 to delete, 0 unchanged.**" in text


def test_text_has_no_colour_off_a_terminal_and_honours_no_color(repo, cli):
    repo.write("flows/etl.yml", flow_yaml("company", "etl"))
    plain = cli("plan").stdout
    assert "\x1b[" not in plain
    assert "Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged." in plain


def test_colour_on_a_terminal(repo, server):
    """Run the real program on a pseudo-terminal: colour appears, and NO_COLOR removes it."""
    repo.write("flows/etl.yml", flow_yaml("company", "etl"))
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(KESTRA_URL=server.url, KESTRA_USERNAME=server.config.username, KESTRA_PASSWORD=server.config.password)
    assert "\x1b[32m" in run_on_terminal(["plan"], env, repo.root)[1]
    assert "\x1b[" not in run_on_terminal(["plan"], {**env, "NO_COLOR": "1"}, repo.root)[1]


def test_apply_tells_each_result_as_a_line_then_the_verdict(repo, cli, probe):
    changed_repo(repo, cli, probe)
    result = cli("apply", "--auto-approve", "--prune")
    lines = result.stdout.splitlines()
    told = {line.split()[1]: line for line in lines if line.startswith(("created ", "updated ", "deleted "))}
    assert re.fullmatch(r"created company\.team/new rev – → 1 \(new flow\) \d+ ms", told["company.team/new"])
    assert re.match(r"updated company\.team/etl rev 1 → 2 \(", told["company.team/etl"])
    assert re.match(r"deleted company\.team/gone rev 1 → – ", told["company.team/gone"])
    assert lines[-1] == "Apply complete: 3 applied, 0 failed, 0 not attempted."
    assert "ACTION" not in result.stdout  # no table at the end: the lines said it as it happened


def test_json_apply_report(repo, cli, probe):
    changed_repo(repo, cli, probe)
    report = output_json(cli("apply", "--auto-approve", "--prune", "--format", "json"))
    assert report["type"] == "kestra-sync/apply-report" and report["ok"] is True
    assert report["summary"] == {"applied": 3, "failed": 0, "skipped": 0}
    assert {(r["address"], r["version_before"], r["version_after"]) for r in report["results"]} == {
        ("company.team/new", None, 1),
        ("company.team/etl", 1, 2),
        ("company.team/gone", 1, None),
    }


def test_json_errors_are_json_too(repo, cli):
    repo.write("flows/bad.yml", "id: [\n")
    result = cli("plan", "--format", "json")
    assert result.exit_code == 1
    assert output_json(result)["type"] == "kestra-sync/error"
    assert "flows/bad.yml:2:1" in output_json(result)["error"]


def test_a_flow_saved_with_crlf_endings_is_said_in_words_in_every_format(repo, cli):
    """Kestra keeps the bytes sent: the server's source has LF, the file saved by a Windows editor CRLF."""
    etl, load = flow_yaml("company.team", "etl"), flow_yaml("company.team", "load")
    repo.write("flows/etl.yml", etl)
    repo.write("flows/load.yml", load)
    assert cli("apply", "--auto-approve").exit_code == 0
    repo.write("flows/etl.yml", etl.replace("\n", "\r\n"))
    repo.write("flows/load.yml", load.replace("message: hello", "message: bye").replace("\n", "\r\n"))
    words = "line endings only: LF → CRLF (6 lines)"

    text = cli("plan", "--diff").stdout
    assert f"cosmetic: {words}\n" in text
    assert "company.team/etl (server rev 1)\n" not in text  # no diff for etl: the words say it
    assert "-    message: hello\n      +    message: bye\n" in text
    assert "semantic: task `log` changed (message); line endings changed too: LF → CRLF" in text

    markdown = cli("plan", "--format", "markdown").stdout
    assert f"| cosmetic: {words} |" in markdown
    assert f"<code>company.team/etl</code> (update, cosmetic)</summary>\n\ncosmetic: {words}\n</details>" in markdown
    assert "+    message: bye\n```" in markdown and "```diff\n```" not in markdown

    changes = {c["address"]: c for c in output_json(cli("plan", "--format", "json"))["changes"]}
    assert (changes["company.team/etl"]["summary"], changes["company.team/etl"]["diff"]) == ([words], "")
    assert changes["company.team/load"]["summary"] == ["task `log` changed (message)", "line endings changed too: LF → CRLF"]
    assert "\r" not in changes["company.team/load"]["diff"] and changes["company.team/load"]["diff"].count("\n-") == 1

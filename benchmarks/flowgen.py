"""A realistic flow repository for benchmarks: N flows over M namespaces.

Sizes follow real flows (median about 1 KB, a few near 50 KB: long embedded scripts), with
comments, Pebble expressions, schedules, and Subflow calls between flows of a namespace.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
from pathlib import Path

# Task types, each with the property that carries the step's text (Kestra refuses a core task's
# unknown properties, and a Request without its `uri`).
TASK_TYPES = {
    "io.kestra.plugin.core.log.Log": "message: \"{text}\"",
    "io.kestra.plugin.core.http.Request": "uri: \"https://example.com/{{{{ flow.id }}}}?step={text}\"",
    "io.kestra.plugin.scripts.shell.Commands": "commands: [\"echo '{text}'\"]",
    "io.kestra.plugin.jdbc.postgresql.Query": "sql: \"select '{text}'\"",
}


def namespace_of(n: int) -> str:
    return f"company.team{n:03d}"


def flow_text(index: int, namespace: str, rng: random.Random, *, big: bool = False, variant: int = 0) -> str:
    """One flow; `variant` changes a message so that a 1% edit is a real semantic change."""
    lines = [
        f"# Flow {index}: owned by {namespace.split('.')[-1]} — édité à la main ✓",
        f"id: flow{index:05d}",
        f"namespace: {namespace}",
        f"description: Loads batch {index} and reports on it.",
        "labels:",
        f"  owner: team-{index % 7}",
        "inputs:",
        "  - id: day",
        "    type: STRING",
        "    defaults: \"{{ now() | date('yyyy-MM-dd') }}\"",
        "tasks:",
    ]
    for t in range(rng.randint(2, 5)):
        kind = rng.choice(tuple(TASK_TYPES))
        lines += [
            f"  - id: step{t}",
            f"    type: {kind}",
            "    " + TASK_TYPES[kind].format(text=f"step {t} of {{{{ flow.id }}}} on {{{{ inputs.day }}}} (v{variant})"),
        ]
    if index % 10 == 1:  # a tenth of the flows call a neighbour as a subflow
        lines += [
            "  - id: call_child",
            "    type: io.kestra.plugin.core.flow.Subflow",
            f"    namespace: {namespace}",
            f"    flowId: flow{index - 1:05d}",
            "    wait: true",
        ]
    if big:
        lines += ["  - id: script", "    type: io.kestra.plugin.scripts.python.Script", "    script: |"]
        lines += [f"      value_{n} = compute({n}, 'x' * {n % 40})  # --- step {n}" for n in range(900)]
    lines += [
        "triggers:",
        "  - id: schedule",
        "    type: io.kestra.plugin.core.trigger.Schedule",
        f"    cron: \"{index % 60} {index % 24} * * *\"  # daily",
    ]
    return "\n".join(lines) + "\n"


def generate(root: Path, flows: int, namespaces: int, seed: int = 7) -> list[Path]:
    """Write the repository under `root/flows`; returns the files in flow order."""
    rng = random.Random(seed)
    paths = []
    for index in range(flows):
        namespace = namespace_of(index % namespaces)
        path = root / "flows" / namespace / f"flow{index:05d}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(flow_text(index, namespace, rng, big=index % 1000 == 999), encoding="utf-8")
        paths.append(path)
    (root / "kestra-sync.yaml").write_text("flows:\n  paths: [flows]\nnamespaces: [company]\n", encoding="utf-8")
    return paths

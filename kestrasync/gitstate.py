"""What Git says of the repository's files: which have changes not yet committed (pull must not lose them).

Git is asked through its command line, once per question; a repository outside Git (or a machine
without git) answers None, and callers fall back to showing every overwrite.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path


def uncommitted(root: Path, paths: Sequence[str]) -> dict[str, str] | None:
    """Of `paths` (absolute), those whose working copy differs from the last commit (modified, staged,
    untracked), by real path, each with what differs as a diff; None when `root` is not in a Git work tree."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    top_path = Path(top.strip())
    listed = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths) if paths else ""
    if listed is None:
        return None
    changed: dict[str, str] = {}
    entries = iter(listed.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        status, name = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            next(entries, None)  # a rename's second path: where it came from
        path = os.path.realpath(os.path.join(top_path, name))
        if status == "??":
            changed[path] = "(a file Git does not track yet: never committed)\n"
        else:
            changed[path] = _git(root, "diff", "HEAD", "--", path) or _git(root, "diff", "--cached", "--", path) or f"({status.strip()} in Git)\n"
    return changed


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None

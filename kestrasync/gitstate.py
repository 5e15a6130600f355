"""What Git says of the repository's files: which have changes not yet committed (pull must not lose them).

Git is asked through its command line. A repository outside Git (or a machine without git) answers
None, and callers fall back to showing every overwrite; a Git that fails to answer about a work tree
it is in is an error, never taken for "nothing uncommitted".
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kestrasync.errors import KestraSyncError

BATCH = 500  # paths per `git status`: well within any system's argument limit


class GitFailed(KestraSyncError):
    """Git did not say which files have uncommitted changes."""


def uncommitted(root: Path, paths: Sequence[str]) -> dict[str, str] | None:
    """Of `paths` (absolute), those whose working copy differs from the last commit (modified, staged,
    untracked), by real path, each with what differs as a diff; None when `root` is not in a Git work
    tree. Paths outside the work tree (a folder beside it) have no Git state: they are left out."""
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
    except GitFailed:
        return None
    top_path = os.path.realpath(top.strip())
    inside = [path for path in map(os.path.realpath, paths) if path.startswith(os.path.join(top_path, ""))]
    changed: dict[str, str] = {}
    for start in range(0, len(inside), BATCH):
        listed = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *inside[start:start + BATCH])
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
                changed[path] = _diff(root, path) or f"({status.strip()} in Git)\n"
    return changed


def _diff(root: Path, path: str) -> str:
    """The file's changes against the last commit (against nothing yet committed, in a new repository)."""
    try:
        return _git(root, "diff", "HEAD", "--", path)
    except GitFailed:  # no commit yet
        return _git(root, "diff", "--cached", "--", path)


def _git(root: Path, *args: str) -> str:
    """git's output (bytes that are not UTF-8 shown replaced: a diff of a Latin-1 file is still shown)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitFailed(f"git could not be asked which files have uncommitted changes ({error}); nothing was written") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(f"git {args[0]} failed ({said[-1] if said else f'exit {done.returncode}'}); nothing was written")
    return done.stdout.decode("utf-8", "replace")

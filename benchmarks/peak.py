"""A kestra-sync process's own peak memory.

The peak RSS that wait4 reports for a child is not the child's own on Linux: exec keeps the
high-water mark of the parent's memory it was forked (or vforked) from, so a child of a large test
or benchmark process reports at least that process's size. VmHWM, read in the child just before it
exits, is the high-water mark of the child's own address space, which is what is meant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_RUN_AND_REPORT = """\
import atexit, os, runpy, sys

def report():
    with open('/proc/self/status') as status:
        peak = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    with open(os.environ['KESTRA_SYNC_PEAK_FILE'], 'w') as out:
        out.write(peak)

atexit.register(report)
sys.argv[0] = 'kestra-sync'
runpy.run_module('kestrasync', run_name='__main__', alter_sys=True)
"""


def command(args: list[str]) -> list[str]:
    """`python -m kestrasync ARGS`, reporting its peak RSS to the file named by KESTRA_SYNC_PEAK_FILE."""
    return [sys.executable, "-c", _RUN_AND_REPORT, *args]


def environment(env: dict[str, str], report: Path) -> dict[str, str]:
    return {**env, "KESTRA_SYNC_PEAK_FILE": str(report)}


def peak_mb(report: Path) -> float | None:
    """The peak RSS the process reported, in MB; None when it did not get to (killed)."""
    try:
        return int(report.read_text()) / 1024
    except (OSError, ValueError):
        return None
    finally:
        if report.exists():
            os.unlink(report)

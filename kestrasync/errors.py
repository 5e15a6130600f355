"""Errors a user can cause or meet, each carrying one actionable sentence.

    KestraSyncError               base: str(error) is the message shown to the user
    ├── ConfigError               kestra-sync.yaml, environment or flag values
    ├── FileError                 one problem in one local file, with its location
    ├── ScanFailed                every FileError of a scan, collected
    ├── PlanFileError             a saved plan that cannot be read or used
    ├── PlanRefused               a plan the guardrails refuse (prune limits)
    ├── StalePlan                 a plan whose resources moved on the server since it was made
    ├── ValidationFailed          the server refused changed resources in validation
    ├── LockHeld                  another apply holds the advisory lock
    ├── LockFailed                the lock could not be taken: the server does not keep it
    ├── Interrupted               stopped by SIGINT/SIGTERM before anything was applied
    ├── ForgeError                the code forge's API (GitHub, GitLab) refused or failed a request (`ci`)
    └── ServerError               talking to Kestra failed
        ├── ServerUnreachable     no answer (connection refused, DNS, timeout)
        ├── AuthRejected          401 / 403
        └── ApiError              any other unexpected answer, with Kestra's own messages
            └── WriteNotKept      a write answered with another content than the one sent

The CLI turns any KestraSyncError into its message and exit code 1, so a traceback always means a bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from kestrasync.model import Diagnostic, Key, Severity, SourceLocation, Version, version_text


class KestraSyncError(Exception):
    """Base class: the message is a complete sentence for the user."""

    exit_code = 1

    def problems(self) -> tuple[Diagnostic, ...]:
        """The error as located problems (CI annotations): itself, where it says where."""
        location = getattr(self, "location", None)
        return (Diagnostic(Severity.ERROR, getattr(self, "problem", None) or str(self).splitlines()[-1], location=location),)


class ConfigError(KestraSyncError):
    """A bad configuration value; names the file and line when it comes from a file."""

    def __init__(self, message: str, location: SourceLocation | None = None):
        self.location = location
        self.problem = message
        super().__init__(f"{location}: {message}" if location else message)


class FileError(KestraSyncError):
    """One problem in one local file."""

    def __init__(self, location: SourceLocation, message: str):
        self.location = location
        self.problem = message
        super().__init__(f"{location}: {message}")

    def __reduce__(self):  # parallel scans send these between processes
        return FileError, (self.location, self.problem)


class ScanFailed(KestraSyncError):
    """The scan found problems; nothing may be written until every one is fixed."""

    def __init__(self, errors: Iterable[FileError], files: str = "flow files"):
        self.errors = tuple(errors)
        self.files = files
        lines = [str(e) for e in self.errors]
        noun = "problem" if len(lines) == 1 else "problems"
        super().__init__("\n".join(lines + [f"{len(lines)} {noun} in {files}; nothing was sent to the server."]))

    def problems(self) -> tuple[Diagnostic, ...]:
        return tuple(problem for error in self.errors for problem in error.problems())


class PlanFileError(KestraSyncError):
    """A saved plan file that cannot be read, or was made for another server or tenant."""


class PlanRefused(KestraSyncError):
    """The plan breaks a guardrail (too many deletes, an emptied namespace, ...); `plan`, when there is
    one, is what was refused (shown before the refusal)."""

    def __init__(self, message: str, plan=None):
        super().__init__(message)
        self.plan = plan


STALE_NAMED = 10  # a stale plan names this many resources: a whole-repository edit must not fill the screen


class UnmanagedFound(KestraSyncError):
    """Resources on the server that no file declares, where the settings say that fails (CI)."""


class StalePlan(KestraSyncError):
    """Resources of a plan changed on the server after the plan was made."""

    def __init__(self, moved: dict[Key, tuple[Version | None, Version | None]]):
        self.moved = moved
        named = sorted(moved.items())[:STALE_NAMED]
        details = ", ".join(f"{k} ({version_text(a)} -> {version_text(b)})" for k, (a, b) in named)
        if len(moved) > len(named):
            details += f" and {len(moved) - len(named)} more"
        kinds = sorted({k.kind for k in moved})
        super().__init__(
            f"The plan is stale: {len(moved)} {' or '.join(kinds)}(s) changed on the server since it was made: {details}. "
            "Nothing was applied; plan again."
        )


class ValidationFailed(KestraSyncError):
    """The server's validation refused some changed resources."""

    def __init__(self, diagnostics: Iterable[Diagnostic], applying: bool = True):
        self.diagnostics = tuple(diagnostics)
        lines = [str(d) for d in self.diagnostics]
        kinds = sorted({d.key.kind for d in self.diagnostics if d.key}) or ["resource"]
        verdict = "; nothing was applied." if applying else "."
        super().__init__("\n".join(lines + [f"The server refused {len(lines)} {' or '.join(kinds)}(s) in validation{verdict}"]))

    def problems(self) -> tuple[Diagnostic, ...]:
        return self.diagnostics


class LockHeld(KestraSyncError):
    """Another apply holds the advisory lock."""


class LockFailed(KestraSyncError):
    """The advisory lock could not be taken (the server does not keep it)."""


class PullRefused(KestraSyncError):
    """A pull that would overwrite uncommitted work (unless forced)."""


class Interrupted(KestraSyncError):
    """Stopped by a signal before anything was applied (the CLI exits 128 + the signal's number)."""


class ForgeError(KestraSyncError):
    """GitHub's or GitLab's API refused or failed a request of `kestra-sync ci`."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class ServerError(KestraSyncError):
    """Talking to the Kestra server failed."""


class ServerUnreachable(ServerError):
    """The server did not answer."""


class AuthRejected(ServerError):
    """The server refused the credentials (never included in the message)."""


class ErrorDetail(NamedTuple):
    """One error of a server's answer: its text and where in the resource it says the error is
    (JSON pointers, property paths or Jackson reference chains, as the server wrote them)."""

    text: str
    paths: tuple[str, ...] = ()


class ApiError(ServerError):
    """An unexpected answer; `messages` are Kestra's own error texts."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        path: str,
        messages: tuple[str, ...] = (),
        problem: str | None = None,
        details: tuple[ErrorDetail, ...] = (),
    ):
        self.status = status
        self.method = method
        self.path = path
        self.messages = messages
        self.problem = problem  # a 2.x problem document's type: `entity-already-exists`
        self.details = details  # its errors, with where in the resource each is
        self.location: SourceLocation | None = None  # where in a file, once a kind has found it
        super().__init__(message)


class WriteNotKept(ApiError):
    """The server's answer to a write holds another content than the one sent."""

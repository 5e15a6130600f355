"""The `kestra-sync` command: thin click commands over kestrasync.engine.

Each command turns its flags into settings (in one place, `settings_from`), makes one or two engine
calls, renders the result and returns an exit code. Exit codes: 0 success, 1 any error (bad input,
refused plan, failed apply), 2 changes present (`plan --detailed-exitcode`, `diff`), 130/143
interrupted by SIGINT/SIGTERM. Any KestraSyncError becomes one message on stderr: a traceback always
means a bug. The process pool that parses large repositories is made here, never in the library.
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click

from kestrasync import ci, engine, kinds, walk
from kestrasync.config import (CONFIG_NAME, Overrides, Settings, json_schema, load_settings, require_config, starter_config,
                               write_config)
from kestrasync.environments import ENVIRONMENT_VARIABLE
from kestrasync.errors import ConfigError, ForgeError, Interrupted, KestraSyncError, PlanRefused, PullRefused, ServerUnreachable, UnmanagedFound
from kestrasync.model import NAMESPACE, Action, ApplyReport, Diagnostic, Plan, ResultStatus, Severity
from kestrasync.planfile import load_plan, save_plan
from kestrasync.redact import Redactor
from kestrasync.server import Kestra
from kestrasync.render import json as json_render
from kestrasync.render import markdown as markdown_render
from kestrasync.render import text as text_render

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
FULL_COLLECTIONS_DEFERRED = 10_000  # young collections between full ones (Python's default: 10)
DEFAULTS = Settings()  # for the help texts: each default is defined where its option is


class KestraSyncGroup(click.Group):
    """Usage errors exit 1, not click's 2: exit code 2 means "changes" for plan and diff."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name or "kestra-sync", complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            emit("Aborted.", err=True)
            code = EXIT_ERROR
        except click.ClickException as error:
            error.show()
            code = EXIT_ERROR
        sys.exit(code if isinstance(code, int) else EXIT_OK)


_redact = Redactor()  # until the settings are read, nothing is known to hide


def emit(text: str = "", *, err: bool = False, nl: bool = True, color: bool | None = None) -> None:
    """The one way out to the terminal: every text passes through the redaction of the credentials."""
    click.echo(_redact(text), err=err, nl=nl, color=color)


_color = "auto"  # --color


def use_color() -> bool:
    """Colour when asked (--color always), never when asked not to; else on a terminal that can show
    it, unless NO_COLOR says otherwise (no-color.org)."""
    if _color != "auto":
        return _color == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def reports_errors(command: Callable) -> Callable:
    """Turn a KestraSyncError into its message (and a JSON error object with --format json), exit 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KestraSyncError as error:
            if kwargs.get("output_format") == "json":
                emit(json_render.render_error(str(error)), nl=False)
            elif kwargs.get("output_format") == "markdown":  # the comment a CI job posts must say why
                emit(markdown_render.render_error(command.__name__, str(error)), nl=False)
            elif isinstance(error, PlanRefused) and error.plan is not None:  # the plan first: what would have gone
                emit(render_plan(error.plan, kwargs.get("output_format") or "text"), nl=False, color=use_color())
            show_error(error)
            return error.exit_code

    return wrapper


def one_shot(command: Callable) -> Callable:
    """Defer Python's full garbage collections while the command runs. A plan of 10,000 flows builds
    hundreds of thousands of lasting objects, and each time they grow by a quarter the collector walks
    them all again (a tenth of the plan's time). Young collections still run, so the cycles each
    request leaves are freed; the few that live long die with the process. Not for `watch`."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], FULL_COLLECTIONS_DEFERRED)
        try:
            return command(*args, **kwargs)
        finally:
            gc.set_threshold(*thresholds)

    return wrapper


def show_error(error: KestraSyncError) -> None:
    """Located problems one per line (file:line:column first, as editors expect), then the verdict."""
    *details, verdict = str(error).splitlines() or [""]
    for line in details:
        emit(line, err=True)
    emit(f"Error: {verdict}", err=True)


def _options(*options: Callable) -> Callable:
    """Several click options as one decorator, in the order given."""

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


_CONFIG = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="kestra-sync.yaml to use (default: found upwards from here).")
_PARALLELISM = click.option("--parallelism", type=click.IntRange(min=1, max=64), help=f"Concurrent requests (default {DEFAULTS.parallelism}).")


def server_options(command: Callable) -> Callable:
    """Where the configuration and the server are; flags beat KESTRA_* variables, which beat the file.
    The command receives `config_file` and `overrides`."""

    @functools.wraps(command)
    def wrapper(*args, url, tenant, username, password, token, timeout, ca_cert, insecure, kestra_version, environment,
                namespace_prefix, overrides=Overrides(), **kwargs):
        flags = Overrides(url=url, tenant=tenant, username=username, password=password, token=token, timeout=timeout,
                          ca_cert=ca_cert, insecure=insecure, kestra_version=kestra_version, environment=environment,
                          namespace_prefix=namespace_prefix)
        return command(*args, overrides=overrides.merged(flags), **kwargs)

    return _options(
        _CONFIG,
        click.option("--env", "environment", metavar="NAME", help="One of the environments kestra-sync.yaml defines [env KESTRA_SYNC_ENV]."),
        click.option("--namespace-prefix", metavar="PREFIX", help="A preview: every namespace under PREFIX (pr-123.company.team), triggers off."),
        click.option("--url", help="Kestra server URL [env KESTRA_URL]."),
        click.option("--tenant", help=f"Tenant (default {DEFAULTS.server.tenant}) [env KESTRA_TENANT]."),
        click.option("--username", help="Basic-auth user [env KESTRA_USERNAME]."),
        click.option("--password", help="Basic-auth password [env KESTRA_PASSWORD]; prefer the variable."),
        click.option("--token", help="API token (Enterprise, Bearer) [env KESTRA_API_TOKEN]; prefer the variable."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help=f"Seconds per request (default {DEFAULTS.server.timeout:g})."),
        click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False), help="CA bundle to verify the server's TLS certificate."),
        click.option("--insecure", is_flag=True, default=None, help="Do not verify TLS certificates (prints a warning)."),
        click.option("--kestra-version", metavar="VERSION", help="The server's Kestra version (default: asked of the server); "
                     "`validate --kestra-version 2.0` checks the files for an upgrade."),
    )(wrapper)


def selection_options(command: Callable) -> Callable:
    """Which resources a plan covers, and how far it may go. The command receives `request`."""

    @functools.wraps(command)
    def wrapper(*args, prune, namespaces, targets, ignore_cosmetic, max_deletes, allow_empty, fail_on_unmanaged, parallelism,
                overrides=Overrides(), **kwargs):
        try:
            selected = engine.addressed(targets) if targets else None
        except ValueError as error:
            raise ConfigError(f"--target: {error}") from None
        request = engine.PlanRequest(prune=prune, selected_namespaces=namespaces, targets=selected, ignore_cosmetic=ignore_cosmetic)
        flags = Overrides(max_deletes=max_deletes, allow_empty=allow_empty, parallelism=parallelism, fail_on_unmanaged=fail_on_unmanaged)
        return command(*args, request=request, overrides=overrides.merged(flags), **kwargs)

    return _options(
        click.option("--prune", is_flag=True, help="Also delete owned flows (and mapped namespace files) that no file declares."),
        click.option("--namespace", "namespaces", multiple=True, metavar="NS", help="Only flows and files in this namespace (and below). Repeatable."),
        click.option("--target", "targets", multiple=True, metavar="NS/ID", help="Only this flow (or namespace file: NS/PATH). Repeatable."),
        click.option("--ignore-cosmetic", is_flag=True, help="Skip updates that change only comments or formatting."),
        click.option("--max-deletes", type=click.IntRange(min=0), help=f"Most flows, and most files, a prune may delete (default {DEFAULTS.prune.max_deletes} of each)."),
        click.option("--allow-empty", is_flag=True, default=None, help="Let a prune delete every flow (or file) of a namespace."),
        click.option("--fail-on-unmanaged", is_flag=True, default=None,
                     help="Fail (exit 1) when flows or files on the server in the owned namespaces have no file."),
        _PARALLELISM,
    )(wrapper)


def settings_from(config_file: Path | None, overrides: Overrides, search: bool = True, repository: bool = True,
                  secrets: tuple[str, ...] = ()) -> Settings:
    """The settings of this run: the one place flags, environment and file meet. A command that
    compares a `repository` with a server refuses to run without its kestra-sync.yaml. Its
    credentials, and other `secrets` (a CI token), are hidden from everything printed from then on."""
    global _redact
    settings = load_settings(config_file, overrides=overrides, search=search, environment=overrides.environment)
    if repository and search:
        require_config(settings)
    _redact = Redactor(settings.server.credentials.secrets() + secrets)
    if not settings.server.verify_tls:
        source = "--insecure" if overrides.insecure else "server.verify_tls: false"
        emit(f"Warning: TLS certificates are not verified ({source}).", err=True)
    return settings


def render_plan(plan: Plan, output_format: str, diffs: bool = False) -> str:
    if output_format == "json":
        return json_render.render_plan(plan)
    if output_format == "markdown":
        return markdown_render.render_plan(plan)
    return text_render.render_plan(plan, color=use_color(), diffs=diffs)


class ParsePool(Executor):
    """Processes that parse many files at once (walk), started on first use only, so that a command
    the scan cache answers pays nothing. They are forked from this process, the fastest start, when
    no other thread runs then; otherwise from a forkserver, a clean process, since forking while
    threads run (an HTTP pool, the server read) is unsafe. Neither re-runs the calling program's
    main module, as spawn does (a plain script without a main guard then breaks the pool)."""

    def __init__(self):
        self._pool: Executor | None = None

    def _started(self) -> Executor:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            methods = multiprocessing.get_all_start_methods()
            alone = threading.active_count() == 1
            method = next(m for m in (("fork",) if alone else ()) + ("forkserver", "spawn") if m in methods)
            context = multiprocessing.get_context(method)
            if method == "forkserver":
                context.set_forkserver_preload(["kestrasync.kinds"])
            self._pool = ProcessPoolExecutor(walk.WORKERS, mp_context=context)
        return self._pool

    def submit(self, fn, /, *args, **kwargs):
        return self._started().submit(fn, *args, **kwargs)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        return self._started().map(fn, *iterables, timeout=timeout, chunksize=chunksize)

    def shutdown(self, wait=True, *, cancel_futures=False):
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@click.group(name="kestra-sync", cls=KestraSyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kestra-sync", prog_name="kestra-sync")
@click.option("--color", "color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              envvar="KESTRA_SYNC_COLOR", help="Colours: on a terminal (auto; NO_COLOR and TERM=dumb turn them off), always (CI logs), never.")
def main(color: str) -> None:
    """GitOps for Kestra: plan and apply a repository of flows and namespace files against a Kestra server."""
    global _color
    _color = color


_FORMAT = click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)


@main.command()
@reports_errors
@server_options
@selection_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan to apply it later with `apply FILE`.")
@_FORMAT
@click.option("--diff", "diffs", is_flag=True, help="Show the full diff of every change.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes (0: none, 1: error).")
@click.option("--no-validate", is_flag=True, help="Skip the server's validation of changed flows.")
@one_shot
def plan(config_file, overrides, request, out, output_format, diffs, detailed_exitcode, no_validate) -> int:
    """Show what apply would change on the server.

    Example:

        kestra-sync plan --prune --format markdown > plan.md
    """
    settings = settings_from(config_file, overrides)
    with _stop_on_signals() as (stop, _), ParsePool() as pool, engine.connect(settings, stop) as conn:
        with _reading(conn):
            result = engine.plan(settings, replace(request, validate=not no_validate), conn, pool)
    if out:
        save_plan(result, out, _redact)
    emit(render_plan(result, output_format, diffs), nl=False, color=use_color())
    if out and output_format == "text":
        emit(f"Saved the plan to {out}; apply it with: kestra-sync apply {out}")
    engine.check_managed(result, settings)
    return EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK


@main.command()
@reports_errors
@server_options
@selection_options
@_FORMAT
@one_shot
def diff(config_file, overrides, request, output_format) -> int:
    """Show every difference with full diffs; exit 2 when there are any (for pre-merge checks).

    Example:

        kestra-sync diff || echo "the server differs from main"
    """
    settings = settings_from(config_file, overrides)
    with _stop_on_signals() as (stop, _), ParsePool() as pool, engine.connect(settings, stop) as conn:
        with _reading(conn):
            result = engine.plan(settings, request, conn, pool)
    emit(render_plan(result, output_format, diffs=True), nl=False, color=use_color())
    engine.check_managed(result, settings)
    return EXIT_CHANGES if result.has_changes else EXIT_OK


@main.command()
@reports_errors
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@server_options
@selection_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), help=f"Seconds to wait for another apply's lock (default {DEFAULTS.lock.timeout_seconds:g}).")
@click.option("--no-lock", is_flag=True, default=None, help="Do not take the advisory apply lock.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@one_shot
def apply(plan_file, config_file, overrides, request, auto_approve, lock_timeout, no_lock, output_format) -> int:
    """Make the server match the files (or apply exactly a saved plan).

    Without PLAN_FILE, plans, shows the plan and asks for confirmation (on a terminal) unless
    --auto-approve. Then, holding the apply lock, it refuses if any of the plan's flows changed on
    the server since the plan was made, and applies. Ctrl-C or SIGTERM stops it after the requests in
    flight (exit 130 or 143).

    Examples:

        kestra-sync apply --auto-approve

        kestra-sync plan --out plan.json && kestra-sync apply plan.json
    """
    settings = settings_from(config_file, overrides.merged(Overrides(lock_timeout=lock_timeout, no_lock=no_lock)))
    confirm = None if plan_file or auto_approve else lambda plan: _confirm(deletes=plan.count(Action.DELETE))
    _, report, received = _applied(plan_file, settings, request, output_format, confirm)
    if report is None:
        return EXIT_OK if not received else 128 + received[0]
    return _reported(report, output_format, received)


def _applied(plan_file: Path | None, settings: Settings, request: engine.PlanRequest, output_format: str,
             confirm: Callable[[Plan], None] | None) -> tuple[Plan | None, ApplyReport | None, list[int]]:
    """Plan (or load a saved plan), show it, have it confirmed, apply it: the plan, the report (None:
    nothing was applied, there being nothing to do or a stop while waiting for the lock) and the
    signals received."""
    if plan_file and (request.prune or request.selected_namespaces or request.targets or request.ignore_cosmetic):
        raise ConfigError("--prune, --namespace, --target and --ignore-cosmetic cannot change a saved plan; make a new plan")
    engine.require_environment(settings, "apply")
    # Planning only reads: a bad file, a bad plan file or a flow the server refuses ends here, before
    # anything (the lock included) is written.
    saved = load_plan(plan_file) if plan_file else None
    with _stop_on_signals() as (stop, received), ParsePool() as pool:
        workspace = None if saved else engine.scan(settings, pool)
        if workspace is not None:
            workspace.resources()  # a file's problems come first, before any question about the server
        with engine.connect(settings, stop) as conn:
            with _reading(conn):
                result = saved or engine.plan(settings, request, conn, pool, workspace)
            if output_format == "text":
                emit(render_plan(result, "text"), nl=False, color=use_color())
            engine.check_managed(result, settings)
            if not result.has_changes:
                if output_format == "json":
                    emit(json_render.render_report(ApplyReport()), nl=False)
                return result, None, received
            if confirm is not None:
                confirm(result)
            try:
                report = _applied_with_progress(result, conn, settings, stop, output_format)
            except Interrupted as error:  # while waiting for the lock: nothing was applied
                show_error(error)
                return result, None, received
    return result, report, received


def _applied_with_progress(plan: Plan, conn, settings: Settings, stop: threading.Event, output_format: str) -> ApplyReport:
    """engine.apply, each result told as it comes (text), with the progress shown."""
    if output_format == "text":
        emit()
    with Progress("applying", len(plan.changes), results=output_format == "text") as progress:
        return engine.apply(plan, conn, settings, warn=lambda text: emit(text, err=True), on_result=progress.result, stop=stop)


@main.command()
@reports_errors
@server_options
@click.option("--auto-approve", is_flag=True, help="Delete without asking for confirmation.")
@click.option("--max-deletes", type=click.IntRange(min=0), help=f"Most flows, and most files, it may delete (default {DEFAULTS.prune.max_deletes} of each).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@one_shot
def destroy(config_file, overrides, auto_approve, max_deletes, output_format) -> int:
    """Delete a preview: every flow and namespace file under its namespace prefix, nothing else.

    Shows the plan and asks (on a terminal) unless --auto-approve; --max-deletes bounds it.

    Example:

        kestra-sync destroy --env preview --namespace-prefix pr-123 --auto-approve --max-deletes 100
    """
    settings = settings_from(config_file, overrides.merged(Overrides(max_deletes=max_deletes)))
    engine.require_environment(settings, "destroy")
    with _stop_on_signals() as (stop, received), ParsePool() as pool, engine.connect(settings, stop) as conn:
        with _reading(conn):
            result = engine.destroy_plan(settings, conn, pool)
        if output_format == "text":
            emit(render_plan(result, "text"), nl=False, color=use_color())
        if not result.has_changes:
            if output_format == "json":
                emit(json_render.render_report(ApplyReport()), nl=False)
            return EXIT_OK
        if not auto_approve:
            _confirm("destroy", "Delete all of this preview?", deletes=result.count(Action.DELETE))
        report = _applied_with_progress(result, conn, settings, stop, output_format)
    return _reported(report, output_format, received)


def _reported(report: ApplyReport, output_format: str, received: list[int]) -> int:
    """An apply's report, and its exit code (128 + the signal's number when one stopped it)."""
    if output_format == "json":
        emit(json_render.render_report(report), nl=False)
    else:
        emit(text_render.render_outcome(report, color=use_color()), nl=False, color=use_color())
    return _reported_code(report, received)


def _reported_code(report: ApplyReport, received: list[int]) -> int:
    if received:
        return 128 + received[0]
    return EXIT_OK if report.ok else EXIT_ERROR


PROGRESS_SECONDS = 5.0  # between progress lines in a CI log (KESTRA_SYNC_PROGRESS_SECONDS)


class Progress:
    """How far a long step is, told as it goes. On a terminal: tqdm's bar (done/total, rate, time
    left) on stderr, shown after half a second and gone when done, with each result's line written
    above it. Elsewhere (a CI log): each result's line, and every few seconds a line saying how far.
    Counted from any thread (the reads' workers); the total may grow as the work becomes known."""

    def __init__(self, verb: str, total: int = 0, *, unit: str = "change", results: bool = False):
        self.verb, self.total, self.results = verb, total, results
        self.done, self.started = 0, time.monotonic()
        self.every = float(os.environ.get("KESTRA_SYNC_PROGRESS_SECONDS") or PROGRESS_SECONDS)
        self.told = self.started
        self.lock = threading.Lock()
        self.bar = None
        if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=verb, unit=unit, leave=False, file=sys.stderr, delay=0.5, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def expect(self, count: int) -> None:
        with self.lock:
            self.total += count
            if self.bar is not None:
                self.bar.total = self.total
                self.bar.refresh()

    def advance(self, count: int = 1) -> None:
        with self.lock:
            self.done += count
            if self.bar is not None:
                self.bar.update(count)
                return
            now = time.monotonic()
            if now - self.told >= self.every and self.done < self.total:
                self.told = now
                rate = self.done / (now - self.started)
                emit(f"{self.verb} {self.done}/{self.total} ({rate:.0f}/s, about {(self.total - self.done) / rate:.0f} s left)", err=True)

    def result(self, result) -> None:
        """One change done: its line (unless results are not for this output), then the count."""
        if self.results:
            line = text_render.render_result_line(result, color=use_color())
            if self.bar is None:
                emit(line, color=use_color())
            else:
                with self.bar.external_write_mode():
                    emit(line, color=use_color())
        self.advance()


@contextmanager
def _reading(conn) -> Iterator[None]:
    """The server's bulk reads counted on a progress display while they last."""
    with Progress("reading the server", unit="request") as progress:
        conn.tally = progress
        try:
            yield
        finally:
            conn.tally = None


def _confirm(command: str = "apply", question: str = "Apply these changes?", deletes: int = 0) -> None:
    """Ask on a terminal; what deletes takes the word `yes`, as Terraform asks, not a `y` typed by habit."""
    if not sys.stdin.isatty():
        raise ConfigError(f"{command} needs confirmation: run it on a terminal, or pass --auto-approve (e.g. in CI)")
    # At the prompt, Ctrl-C means "no" at once, not "finish what is in flight".
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if deletes:
            answer = click.prompt(f"{question} This deletes {deletes}; only 'yes' is accepted", default="", show_default=False)
            approved = answer.strip() == "yes"
        else:
            approved = click.confirm(question, default=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    if not approved:
        raise KestraSyncError(f"{command.capitalize()} cancelled; nothing was changed.")


@contextmanager
def _stop_on_signals(announce: bool = True) -> Iterator[tuple[threading.Event, list[int]]]:
    """SIGINT/SIGTERM set `stop`: no new request starts, those in flight end within a second or two,
    and an error the stop caused ends with the signal's exit code (128 + its number)."""
    stop, received = threading.Event(), []
    if threading.current_thread() is not threading.main_thread():
        yield stop, received
        return

    def handler(signum, _frame):
        if not received and announce:
            emit(f"\nReceived {signal.Signals(signum).name}: finishing requests in flight, starting no more.", err=True)
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop, received
    except KestraSyncError as error:
        if not received:
            raise
        interrupted = Interrupted(str(error))  # what the stop cut short, with the signal's exit code
        interrupted.exit_code = 128 + received[0]
        raise interrupted from None
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@main.command()
@reports_errors
@server_options
@click.option("--namespace", "namespaces", multiple=True, metavar="NS",
              help="A namespace the repository owns, with those below it (default: suggested from the server). Repeatable.")
@click.option("--flows-path", default="flows", show_default=True, help="The folder of flow files.")
@one_shot
def init(config_file, overrides, namespaces, flows_path) -> int:
    """Write a first kestra-sync.yaml here, every key explained; never overwrites one.

    With a server (--url or KESTRA_URL) and no --namespace, the namespaces it holds are suggested.

    Example:

        kestra-sync init --url http://localhost:8080 && kestra-sync pull
    """
    target = config_file or Path(CONFIG_NAME)
    existing = [path for path in (target, target.with_suffix(".yml")) if path.exists()]
    if existing:
        raise ConfigError(f"{existing[0]} already exists; init never overwrites it (edit it, or remove it first)")
    bad = [namespace for namespace in namespaces if not NAMESPACE.fullmatch(namespace)]
    if bad:
        raise ConfigError(f"--namespace: '{bad[0]}' is not a valid Kestra namespace")
    settings = settings_from(None, overrides, search=False)
    found: list[str] = []
    if settings.server.url and not namespaces:
        with _stop_on_signals() as (stop, _), engine.connect(settings, stop) as conn:
            found = engine.server_namespaces(conn)
    owned = list(namespaces) or engine.suggested_namespaces(found, settings.prune)
    write_config(target, starter_config(settings, owned, found, flows_path))
    Path(target.parent, flows_path).mkdir(parents=True, exist_ok=True)
    load_settings(target)  # what init writes, the next command reads
    where = f"namespaces {', '.join(owned)}" if owned else "no namespaces yet: list them under `namespaces`"
    emit(f"Wrote {target} ({where}). Next: kestra-sync pull, then kestra-sync plan.")
    return EXIT_OK


@main.command()
def schema() -> int:
    """Print the JSON Schema of kestra-sync.yaml, for editors' completion and checks.

    The same schema ships in the package (kestrasync/schema/kestra-sync.schema.json); point an editor
    at either with a `# yaml-language-server: $schema=...` line at the top of kestra-sync.yaml.

    Example:

        kestra-sync schema > .kestra-sync.schema.json
    """
    emit(json.dumps(json_schema(), indent=2))
    return EXIT_OK


_KINDS = {kind.info.name + "s": kind.info.name for kind in kinds.ranked()}  # --kind flows|files


@main.command()
@reports_errors
@server_options
@click.option("--namespace", "namespaces", multiple=True, metavar="NS", help="Only this namespace (and below). Repeatable.")
@click.option("--target", "targets", multiple=True, metavar="NS/ID", help="Only this flow (or namespace file: NS/PATH). Repeatable.")
@click.option("--kind", "kind_names", multiple=True, type=click.Choice(sorted(_KINDS)), help="Only flows, or only namespace files.")
@click.option("--prune", is_flag=True, help="Also remove from the files what the server no longer holds.")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--auto-approve", is_flag=True, help="Write without asking for confirmation.")
@click.option("--force", is_flag=True, help="Overwrite files with uncommitted changes too.")
@click.option("--skip-conflicts", is_flag=True, help="Write the files without uncommitted changes; leave the others.")
@click.option("--diff", "diffs", is_flag=True, help="Show the diff of new files too.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_PARALLELISM
@one_shot
def pull(config_file, overrides, namespaces, targets, kind_names, prune, dry_run, auto_approve, force, skip_conflicts, diffs,
         output_format, parallelism) -> int:
    """Write the server's flows and namespace files into the repository, byte for byte.

    A flow a file declares is updated in that file (in a file of several flows, only its part); a new
    one goes where `flows.layout` says. Files with uncommitted changes are not overwritten unless
    --force. Shows what it writes and asks first (on a terminal) unless --auto-approve.

    Example:

        kestra-sync pull --namespace company.team --dry-run
    """
    try:
        selected = engine.addressed(targets) if targets else None
    except ValueError as error:
        raise ConfigError(f"--target: {error}") from None
    settings = settings_from(config_file, overrides.merged(Overrides(parallelism=parallelism)))
    request = engine.PullRequest(namespaces, selected, tuple(_KINDS[name] for name in kind_names), prune)
    with _stop_on_signals() as (stop, _), ParsePool() as pool, engine.connect(settings, stop) as conn:
        with _reading(conn):
            result = engine.pull_plan(settings, request, conn, pool)
    if output_format == "text":
        emit(text_render.render_pull(result, color=use_color(), diffs=diffs), nl=False, color=use_color())
    conflicts = result.conflicts
    if conflicts and not (force or skip_conflicts):
        names = ", ".join(write.shown for write in conflicts)
        raise PullRefused(f"{len(conflicts)} file(s) have uncommitted changes the pull would overwrite ({names}); nothing was "
                          "written. Commit or stash them, or pass --force to overwrite them or --skip-conflicts to write only the others.")
    if dry_run or not result.writes or (skip_conflicts and len(conflicts) == len(result.writes)):
        if output_format == "json":
            emit(json_render.render_pull(result), nl=False)
        return EXIT_OK
    if not auto_approve:
        _confirm("pull", "Write these files?", deletes=sum(1 for write in result.writes if write.after is None))
    written = engine.write_pulled(result, force=force)
    if output_format == "json":
        emit(json_render.render_pull(result, written), nl=False)
    else:
        emit("\n" + text_render.render_pulled(written, color=use_color()), nl=False, color=use_color())
    return EXIT_OK


@main.command()
@reports_errors
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@server_options
@click.option("--offline", is_flag=True, help="Only the local checks, even when a server is configured.")
@click.option("--only-configured", is_flag=True, help="Of the PATHS named, skip those kestra-sync.yaml does not read (a pre-commit hook's staged files).")
@one_shot
def validate(paths, config_file, overrides, offline, only_configured) -> int:
    """Check flow and namespace files: locally, then by the server when one is configured.

    Example:

        kestra-sync validate flows/
    """
    settings = settings_from(config_file, overrides, repository=not paths or only_configured)
    if only_configured and paths:
        paths = tuple(path for path in paths if engine.read_by_repository(settings, path))
        if not paths:
            emit("No flow or namespace file among the files named.")
            return EXIT_OK
    verdicts, diagnostics = _validated(settings, paths, offline)
    emit(verdicts[0])
    for line in text_render.render_diagnostics(diagnostics, use_color()):
        emit(line, err=True)
    for line in verdicts[1:]:
        emit(line)
    return EXIT_OK


def _validated(settings: Settings, paths: tuple[Path, ...], offline: bool) -> tuple[list[str], tuple[Diagnostic, ...]]:
    """The local checks, then the server's unless `offline` or none is configured: the verdicts in
    words, and the server's warnings. A refusal is an error."""
    with ParsePool() as pool:
        local = engine.scan(settings, pool, list(paths) or None).resources()
    given = Kestra(settings.server.kestra_version) if settings.server.kestra_version else None
    engine.admit(local, settings, given)
    checked = f" for {given}" if given else ""
    verdicts = [f"{len(local)} flow(s) pass the local checks{checked}."]
    if offline or not settings.server.url:
        return verdicts, ()
    with _stop_on_signals() as (stop, _), engine.connect(settings, stop) as conn:
        try:
            diagnostics = engine.validate(local, conn, settings)
        except ServerUnreachable as error:
            raise ServerUnreachable(f"{error} The files pass the local checks; pass --offline to make only those.") from None
    return verdicts + [f"The server at {settings.server.url} validated {len(local)} flow(s)."], diagnostics


@main.command(name="ci")
@reports_errors
@click.argument("command", type=click.Choice(["plan", "apply", "validate"]))
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@server_options
@selection_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="plan: save the plan (the reviewed plan, to apply after merge).")
@click.option("--offline", is_flag=True, help="validate: only the local checks.")
@click.option("--no-comment", is_flag=True, help="Do not comment on the pull or merge request.")
@one_shot
def ci_command(command, plan_file, config_file, overrides, request, out, offline, no_comment) -> int:
    """Plan, apply or validate in CI, and say so where reviewers look.

    In GitHub Actions or GitLab CI, on a pull or merge request, the result becomes one comment that
    each later run updates in place; GitHub also gets the job summary and annotations on the files'
    lines. A request from a fork (no secrets) gets the offline checks only. apply never asks. The
    token: GITHUB_TOKEN (`permissions: pull-requests: write`) or GITLAB_TOKEN (a token with `api`).

    Examples:

        kestra-sync ci plan --env prod --out plan.json

        kestra-sync ci apply plan.json --env prod
    """
    job = ci.job(os.environ)
    root = Path(job.workspace).resolve() if job.workspace else Path.cwd()
    folder = os.path.relpath(Path.cwd().resolve(), root) if Path.cwd().resolve().is_relative_to(root) else "."
    slot = ci.slot(command, overrides.environment or os.environ.get(ENVIRONMENT_VARIABLE), folder)
    if plan_file and command != "apply":
        raise ConfigError(f"ci {command} takes no plan file; `kestra-sync ci apply {plan_file}` applies one")
    code, problems = EXIT_OK, ()
    try:
        settings = settings_from(config_file, overrides, secrets=job.secrets)
        body, problems, code = _ci_run(command, job, settings, request, plan_file, out, offline)
    except KestraSyncError as error:
        refused = error.plan if isinstance(error, PlanRefused) and error.plan is not None else None
        if refused is not None:
            emit(render_plan(refused, "text"), nl=False, color=use_color())
        show_error(error)
        body = (markdown_render.render_plan(refused) + "\n" if refused else "") + markdown_render.render_error(command, str(error))
        problems, code = error.problems(), error.exit_code
    if job.forge == "GitHub":
        for line in ci.annotations(problems, job.workspace):
            emit(line)
    ci.write_summary(job, body)
    if job.request is not None and not no_comment:
        if not job.token:
            variable = "GITLAB_TOKEN" if job.forge == "GitLab" else "GITHUB_TOKEN"
            emit(f"Warning: no {variable}, so the result was not posted on {job.noun} #{job.request}.", err=True)
        else:
            try:
                emit(ci.publish(job, slot, ci.comment(job, slot, body)), err=True)
            except ForgeError as error:
                if not job.fork:
                    raise
                emit(f"Warning: {error} (a fork's token cannot comment; the result is in the job's log)", err=True)
    return code


def _ci_run(command: str, job: ci.Job, settings: Settings, request: engine.PlanRequest, plan_file: Path | None,
            out: Path | None, offline: bool) -> tuple[str, tuple[Diagnostic, ...], int]:
    """The command itself, shown in the job's log: the Markdown body, the problems to annotate, the exit code."""
    if job.fork and command != "apply":
        verdicts, _ = _validated(settings, (), offline=True)
        emit(verdicts[0])
        return ci.offline_only(job, verdicts[0]), (), EXIT_OK
    if command == "validate":
        verdicts, diagnostics = _validated(settings, (), offline)
        emit("\n".join(verdicts))
        for line in text_render.render_diagnostics(diagnostics, use_color()):
            emit(line, err=True)
        listed = "".join(f"\n- ⚠️ {diagnostic}" for diagnostic in diagnostics)
        return "### kestra-sync validate\n\n" + " ".join(verdicts) + listed + "\n", diagnostics, EXIT_OK
    if command == "plan":
        with _stop_on_signals() as (stop, _), ParsePool() as pool, engine.connect(settings, stop) as conn:
            with _reading(conn):
                result = engine.plan(settings, request, conn, pool)
        if out:
            save_plan(result, out, _redact)
        emit(render_plan(result, "text"), nl=False, color=use_color())
        try:
            engine.check_managed(result, settings)
        except UnmanagedFound as error:  # the plan, and why it fails
            show_error(error)
            return markdown_render.render_plan(result) + "\n" + markdown_render.render_error(command, str(error)), error.problems(), error.exit_code
        return markdown_render.render_plan(result), result.diagnostics, EXIT_OK
    if job.fork:
        raise ConfigError(f"ci apply does not run for a {job.noun} from a fork: it has none of the repository's secrets")
    result, report, received = _applied(plan_file, settings, request, "text", confirm=None)
    if report is None:
        return markdown_render.render_report(ApplyReport()), (), 128 + received[0] if received else EXIT_OK
    emit(text_render.render_outcome(report, color=use_color()), nl=False, color=use_color())
    failures = tuple(Diagnostic(Severity.ERROR, r.message, r.change.key, r.change.after.location if r.change.after else None)
                     for r in report.with_status(ResultStatus.FAILED))
    return markdown_render.render_report(report), failures, _reported_code(report, received)


class TerminalView:
    """Renders watch events: results on stdout, problems and notices on stderr."""

    def __init__(self, color: bool):
        self.color = color

    def plan(self, plan: Plan) -> None:
        emit(text_render.render_plan(plan, color=self.color), nl=False, color=self.color)

    def report(self, report: ApplyReport) -> None:
        emit(text_render.render_report(report, color=self.color), nl=False, color=self.color)

    def result(self, result) -> None:
        emit(text_render.render_result_line(result, color=self.color), color=self.color)

    def would(self, change) -> None:
        emit(text_render.render_would(change))

    def problem(self, error: KestraSyncError) -> None:
        show_error(error)

    def notice(self, text: str) -> None:
        emit(text, err=True)


@main.command()
@reports_errors
@server_options
@click.option("--prune", is_flag=True, help="Delete the flow of a deleted file (or of a renamed id).")
@click.option("--dry-run", is_flag=True, help="Show what would be applied; write nothing.")
@click.option("--namespace", "namespaces", multiple=True, metavar="NS", help="Only flows and files in this namespace (and below). Repeatable.")
@_PARALLELISM
def watch(config_file, overrides, prune, dry_run, namespaces, parallelism) -> int:
    """Keep a development server in line with the files as you save them.

    First applies what differs (as `apply --auto-approve`), then applies each saved change within
    a second. Ctrl-C stops it.

    Example:

        kestra-sync watch --prune
    """
    from kestrasync.watcher import WatchOptions, Watcher

    settings = settings_from(config_file, overrides.merged(Overrides(parallelism=parallelism)))
    engine.require_environment(settings, "watch")
    engine.check_watchable(settings)
    options = WatchOptions(prune=prune, dry_run=dry_run, selected_namespaces=namespaces)
    with _stop_on_signals(announce=False) as (stop, _), ParsePool() as pool, engine.connect(settings, stop) as conn:
        Watcher(settings, conn, options, TerminalView(use_color()), stop, pool).run()
    emit("Stopped watching.", err=True)
    return EXIT_OK


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0 = a free one).")
@click.option("--username", default=None, help="Basic-auth username (an e-mail, as in Kestra).")
@click.option("--password", default=None, help="Basic-auth password.")
@click.option("--no-auth", is_flag=True, help="Serve without authentication (Kestra before 0.24).")
@click.option("--token", default=None, help="Also accept this Bearer API token (Enterprise-like).")
@click.option("--state", "state_file", type=click.Path(dir_okay=False), default=None, help="Keep the store in this file across restarts.")
@click.option("--latency-ms", default=0, type=click.IntRange(0), help="Added latency per request.")
@click.option("--multi-tenant", is_flag=True, help="Accept any tenant, each with its own store (Enterprise-like).")
@click.option("--kestra-version", default="1.0", type=click.Choice(["0.24", "1.0", "2.0"]), show_default=True, help="Behaviour to imitate (2.0 serves errors as application/problem+json).")
@reports_errors
def emulator(**options) -> None:
    """Run a stand-in Kestra server for tests and demos.

    Example:

        kestra-sync emulator --port 8080
    """
    _need_emulator()
    from kestrasync.emulator.server import EmulatorConfig, serve

    host, port = options.pop("host"), options.pop("port")
    try:
        config = EmulatorConfig.from_options(**options)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    serve(config, host=host, port=port, announce=emit)


EXAMPLE = Path(__file__).parent / "examples" / CONFIG_NAME  # the demo's repository, package data


def _need_emulator() -> None:
    """The emulator's server libraries come with the `emulator` extra."""
    try:
        for module in ("starlette", "uvicorn"):
            importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ConfigError(f"the built-in emulator needs the `emulator` extra ({error.name} is not installed): "
                          "pip install 'kestra-sync[emulator]'") from None


@main.command()
@_CONFIG
@reports_errors
def demo(config_file) -> int:
    """Try kestra-sync without a Kestra server: start the built-in emulator, then plan, apply and plan again.

    Runs on the example repository that ships with kestra-sync (or on --config's).

    Example:

        kestra-sync demo
    """
    _need_emulator()
    from kestrasync.emulator import EmulatorServer

    config_file = config_file or EXAMPLE
    with EmulatorServer() as emulator:
        config = emulator.config
        settings = load_settings(config_file, overrides=Overrides(url=emulator.url, username=config.username, password=config.password))
        emit(f"Started the Kestra emulator at {emulator.url} (user {config.username}).\n")
        with engine.connect(settings) as conn:

            def step(command: str) -> Plan:
                emit(click.style(f"$ kestra-sync {command}", bold=True), color=use_color())
                result = engine.plan(settings, engine.PlanRequest(), conn)
                emit(render_plan(result, "text"), nl=False, color=use_color())
                return result

            step("plan")
            emit()
            report = engine.apply(step("apply --auto-approve"), conn, settings, warn=lambda text: emit(text, err=True))
            emit("\n" + text_render.render_report(report, color=use_color()), color=use_color())
            if not report.ok or step("plan").has_changes:
                emit("Error: the server does not match the files after the apply.", err=True)
                return EXIT_ERROR
            emit()
    emit("Done: the second plan shows no changes, so the server matches the files.")
    return EXIT_OK

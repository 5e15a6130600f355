"""Flow files -> LocalFlows. The only module that reads flow files.

A scan refuses, with file:line:column, everything Kestra would refuse or read differently that can be
known without its plugins: YAML syntax, duplicate keys, aliases, documents that are not flows, bad
`id`/`namespace`, empty `tasks`, tasks or triggers without `id`/`type`, duplicate task ids, a flow
defined twice, bytes that are not UTF-8. It collects every problem before failing, so one run shows
them all. It keeps each document's exact text: that text is what Kestra stores and what the differ
compares.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kestrasync.errors import FlowFileError, ScanFailed
from kestrasync.model import FlowKey, LocalFlow, SourceLocation
from kestrasync.scancache import Result, ScanCache, digest, entry_for
from kestrasync.yamltext import YamlProblem, at, check_tree, compose_documents, decode_utf8

FLOW_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]*")
TASK_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]*")  # tasks and triggers: no dots
NAMESPACE = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH = 100, 150
# Kestra 1.0 refuses these ids (FlowValidator.RESERVED_FLOW_IDS; `text` per the 1.0 migration guide).
RESERVED_IDS = frozenset(
    "pause resume force-run change-status kill executions search source disable enable text".split()
)
# Top-level keys some Kestra version accepts (0.21 to 2.0). Kestra refuses unknown keys on create;
# which of these a given server accepts is left to its validation.
FLOW_KEYS = frozenset(
    "id namespace revision description labels inputs outputs variables tasks errors finally afterExecution "
    "triggers listeners taskDefaults pluginDefaults concurrency retry sla disabled deleted tenantId "
    "workerGroup workerSelector checks policyRefs quotas".split()
)
# SnakeYAML's default code-point limit per document, which Kestra's parser inherits.
MAX_DOCUMENT_CODE_POINTS = 3_145_728

# From this many files to parse on, a scan uses one process per core.
PARALLEL_SCAN_FILES = 2000
# Bump whenever a check changes what a scan returns for the same bytes: it invalidates scan caches.
SCAN_RULES = "1"

# Plugin types that make a flow depend on another, with their deprecated aliases; Kestra matches
# types case-insensitively.
SUBFLOW_TASKS = frozenset(
    t.lower()
    for t in (
        "io.kestra.plugin.core.flow.Subflow",
        "io.kestra.core.tasks.flows.Subflow",
        "io.kestra.core.tasks.flows.Flow",
        "io.kestra.plugin.core.flow.ForEachItem",
        "io.kestra.core.tasks.flows.ForEachItem",
    )
)
FLOW_TRIGGERS = frozenset(
    t.lower() for t in ("io.kestra.plugin.core.trigger.Flow", "io.kestra.core.models.triggers.types.Flow")
)
EXECUTION_FLOW_CONDITIONS = frozenset(
    t.lower()
    for t in (
        "io.kestra.plugin.core.condition.ExecutionFlow",
        "io.kestra.plugin.core.condition.ExecutionFlowCondition",
        "io.kestra.core.models.conditions.types.ExecutionFlowCondition",
    )
)
# Keys under which a flowable task holds child tasks (Sequential, Parallel, If, Switch, ...).
CHILD_TASK_KEYS = ("tasks", "then", "else", "errors", "finally", "afterExecution", "defaults")
TOP_TASK_KEYS = ("tasks", "errors", "finally", "afterExecution")


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Which files are flows, relative to `root` (the directory of kestra-sync.yaml)."""

    root: Path = Path(".")
    include: tuple[str, ...] = ("**/*.yml", "**/*.yaml")
    exclude: tuple[str, ...] = ()
    max_file_bytes: int = 1024 * 1024


def scan(paths: Sequence[Path], options: ScanOptions = ScanOptions(), cache: ScanCache | None = None) -> tuple[LocalFlow, ...]:
    """Every flow under `paths`, sorted by key; raises ScanFailed listing every problem found."""
    errors: list[FlowFileError] = []
    flows: list[LocalFlow] = []
    for file_flows, file_errors in _read_all(_find(paths, options, errors), options.max_file_bytes, cache):
        flows.extend(file_flows)
        errors.extend(file_errors)
    if cache is not None:
        cache.save()
    errors.extend(duplicate_errors(flows))
    if errors:
        raise ScanFailed(errors)
    return tuple(sorted(flows, key=lambda f: f.key))


def _read_all(files: list[str], max_bytes: int, cache: ScanCache | None) -> list[Result]:
    """Every file's result, in order, each file read once. Files the cache knows are not parsed;
    the others are parsed by one process per core when there are many (composing YAML holds the GIL)."""
    results: list[Result | None] = [None] * len(files)
    unknown: list[tuple[int, str | None, bytes, str]] = []  # index, digest, bytes, shown path
    here = os.path.join(os.getcwd(), "")
    for index, file in enumerate(files):
        if file.startswith(here):
            shown = file[len(here) :]
        else:
            shown = file if os.path.isabs(file) else display_path(file)
        try:
            data = _read_bytes(file, shown, max_bytes)
        except FlowFileError as error:
            results[index] = ([], [error])
            continue
        key = digest(data) if cache is not None else None
        results[index] = cache.lookup(key, data, shown) if cache is not None else None
        if results[index] is None:
            unknown.append((index, key, data, shown))
    parsed = _parse_all([(data, shown) for _, _, data, shown in unknown], with_entries=cache is not None)
    for (index, key, _, _), (result, entry) in zip(unknown, parsed):
        results[index] = result
        if cache is not None:
            cache.add(key, entry)
    return results


def _parse_all(items: list[tuple[bytes, str]], with_entries: bool) -> list[tuple[Result, list | None]]:
    workers = min(os.cpu_count() or 1, 8)
    if len(items) < PARALLEL_SCAN_FILES or workers < 2:
        return _parse_chunk(items, with_entries)
    size = -(-len(items) // (workers * 4))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    import multiprocessing  # here: a scan the cache answers should not pay for importing it
    from concurrent.futures import ProcessPoolExecutor

    # fork starts fastest, but is unsafe when other threads run (an HTTP pool, a test server): spawn then.
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        return [item for chunk in pool.map(_parse_chunk, chunks, [with_entries] * len(chunks)) for item in chunk]


def _parse_chunk(items: list[tuple[bytes, str]], with_entries: bool) -> list[tuple[Result, list | None]]:
    """Each file's result, with its scan-cache entry when asked."""
    parsed = []
    for data, shown in items:
        text, result = _scan_bytes(data, shown)
        parsed.append((result, entry_for(text, result) if with_entries else None))
    return parsed


def duplicate_errors(flows: Iterable[LocalFlow]) -> list[FlowFileError]:
    """One error per flow defined more than once, naming where it was first defined."""
    first: dict[FlowKey, LocalFlow] = {}
    errors = []
    for flow in flows:
        if flow.key in first:
            errors.append(
                FlowFileError(
                    flow.location, f"flow {flow.key} is defined twice (first at {first[flow.key].location})"
                )
            )
        else:
            first[flow.key] = flow
    return errors


def display_path(path: Path | str) -> str:
    """The path as the user should see it: relative to the working directory when inside it."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if absolute.startswith(cwd + os.sep):
        return absolute[len(cwd) + 1 :]
    return str(path)


# ---------------------------------------------------------------------------------------------
# Finding files


def _globs_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of the globs (none: a regex that matches nothing)."""
    return re.compile("|".join(f"(?:{_glob_regex(p)})" for p in patterns) or "(?!)")


def _glob_regex(pattern: str) -> str:
    """A glob with `**` (any directories), `*` and `?` (within one path segment)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


class FileFilter:
    """Include/exclude globs, matched against paths relative to the scan root."""

    def __init__(self, options: ScanOptions):
        self.root = os.path.abspath(options.root)
        self._prefix = os.path.join(self.root, "")
        self._include = _globs_regex(options.include).fullmatch
        self._exclude = _globs_regex(options.exclude).fullmatch

    def relative(self, path: Path | str) -> str:
        """Relative to the root with `/` separators ("" for the root itself); an absolute path when outside it."""
        path = os.path.abspath(path)
        if path == self.root:
            return ""
        if path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        return path if os.sep == "/" else path.replace(os.sep, "/")

    def wants(self, path: Path | str) -> bool:
        """A flow file: matched by an include, by no exclude, and in no hidden directory."""
        return self.accepts(self.relative(path))

    def accepts(self, rel: str) -> bool:
        """wants(), for a path already relative to the root."""
        hidden = not rel.startswith("/") and ("/." in rel or rel.startswith("."))
        return not hidden and self._include(rel) is not None and self._exclude(rel) is None

    def excludes(self, rel: str) -> bool:
        return self._exclude(rel) is not None


def find_files(paths: Sequence[Path], options: ScanOptions, errors: list[FlowFileError]) -> list[Path]:
    """The flow files under `paths`: a file named explicitly is always taken; directories are walked
    (hidden ones skipped, symbolic links followed, loops reported) and filtered by the globs."""
    return [Path(file) for file in _find(paths, options, errors)]


def _find(paths: Sequence[Path], options: ScanOptions, errors: list[FlowFileError]) -> list[str]:
    """find_files, as path strings (each path as given, joined with the names found below it): a Path
    per file would cost a large scan a tenth of its time."""
    wanted = FileFilter(options)
    files: list[str] = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            files.extend(_walk(path, wanted.relative(path), wanted, errors, ancestors=()))
        elif os.path.isfile(path):
            files.append(path)
        else:
            errors.append(FlowFileError(SourceLocation(display_path(path)), _missing_reason(Path(path))))
    return files


def _missing_reason(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop"
        if error.errno == errno.ENOENT:
            return "no such file or directory" if not path.is_symlink() else "broken symbolic link"
        return f"cannot read: {error.strerror}"
    return "not a regular file or directory"


def _walk(directory: str, relative: str, wanted: FileFilter, errors: list[FlowFileError], ancestors: tuple) -> Iterator[str]:
    """The wanted files below `directory`, whose path relative to the scan root is `relative` (absolute
    when the directory is not inside the root: then each entry's is worked out, as it may be inside)."""
    try:
        st = os.stat(directory)
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as error:
        errors.append(FlowFileError(SourceLocation(display_path(directory)), f"cannot read directory: {error.strerror}"))
        return
    identity = (st.st_dev, st.st_ino)
    if identity in ancestors:
        errors.append(
            FlowFileError(SourceLocation(display_path(directory)), "symbolic link loop: this directory contains itself")
        )
        return
    outside = os.path.isabs(relative)
    prefix = f"{relative}/" if relative else ""
    for entry in entries:
        if entry.name.startswith("."):
            continue
        child = wanted.relative(entry.path) if outside else prefix + entry.name
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError:  # a symbolic link to itself: following it fails
            is_dir = is_file = False
        if is_dir:
            if not wanted.excludes(child):
                yield from _walk(entry.path, child, wanted, errors, ancestors + (identity,))
        elif is_file:
            if wanted.accepts(child):
                yield entry.path
        elif entry.is_symlink() and wanted.accepts(child):
            errors.append(FlowFileError(SourceLocation(display_path(entry.path)), _missing_reason(Path(entry.path))))


# ---------------------------------------------------------------------------------------------
# Reading one file


def read_flow_file(path: Path, max_bytes: int) -> Result:
    """The flows of one file, and its problems (a file with problems gives no flows)."""
    shown = display_path(path)
    try:
        data = _read_bytes(path, shown, max_bytes)
    except FlowFileError as error:
        return [], [error]
    return _scan_bytes(data, shown)[1]


def _read_bytes(path: Path | str, shown: str, max_bytes: int) -> bytes:
    """The file's bytes, refused over `max_bytes`; never more than the limit in memory.

    os.read with the size from fstat is several times faster than open().read() on small files,
    which shows when a repository holds thousands of them.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, min(os.fstat(fd).st_size, max_bytes) + 1)
            while len(data) <= max_bytes and (more := os.read(fd, max_bytes + 1 - len(data))):
                data += more  # the file grew since fstat, or a file system answered in parts
        finally:
            os.close(fd)
    except OSError as error:
        raise FlowFileError(SourceLocation(shown), f"cannot read file: {error.strerror}") from None
    if len(data) > max_bytes:
        raise FlowFileError(
            SourceLocation(shown), f"file is over the {max_bytes:,}-byte limit (flows.max_file_size in kestra-sync.yaml)"
        )
    return data


def _scan_bytes(data: bytes, shown: str) -> tuple[str | None, Result]:
    """The text of a file's bytes and what it holds; the text is None when the bytes are refused."""
    try:
        text = _decode(data, shown)
        documents = compose_documents(text, data)
    except FlowFileError as error:
        return None, ([], [error])
    except YamlProblem as problem:
        return text, ([], [FlowFileError(SourceLocation(shown, problem.line, problem.column), problem.message)])
    if not documents:
        return text, ([], [FlowFileError(SourceLocation(shown), "no flow in this file (it is empty or only comments)")])
    flows, errors = [], []
    for document in documents:
        try:
            flows.append(_flow_from(document.node, document.text, SourceLocation(shown, document.line)))
        except YamlProblem as problem:
            errors.append(FlowFileError(SourceLocation(shown, problem.line, problem.column), problem.message))
    return text, ((flows, []) if not errors else ([], errors))


def _decode(data: bytes, shown: str) -> str:
    """UTF-8 text without a byte-order mark: what Kestra stores is what the user sees."""
    try:
        text = decode_utf8(data)
    except YamlProblem as problem:
        raise FlowFileError(SourceLocation(shown, problem.line, problem.column), problem.message) from None
    if text.startswith("\ufeff"):
        raise FlowFileError(
            SourceLocation(shown),
            "file starts with a UTF-8 byte-order mark (BOM), which Kestra would keep inside the flow's source; "
            "save it as UTF-8 without BOM",
        )
    return text


# ---------------------------------------------------------------------------------------------
# Checking one document


def read_flow_text(text: str, location: SourceLocation) -> LocalFlow:
    """The flow in a single-document text (e.g. a source read from the server); raises YamlProblem."""
    documents = compose_documents(text)
    if not documents:
        raise YamlProblem(1, 1, "no flow in this text")
    return _flow_from(documents[0].node, text, location)


Fields = dict[str, Node]  # a mapping's values by key (keys are checked unique by check_tree)
Task = tuple[MappingNode, Fields]


def _fields(node: MappingNode) -> Fields:
    return {key.value: value for key, value in node.value}


def _text(node: Node | None) -> str | None:
    return node.value if type(node) is ScalarNode else None


def _flow_from(node: Node, text: str, location: SourceLocation) -> LocalFlow:
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a single value"
        raise at(node, f"not a flow: the document is {kind}, a flow is a mapping with id, namespace and tasks")
    check_tree(node, may_alias="&" in text)
    if len(text) > MAX_DOCUMENT_CODE_POINTS:
        raise at(node, f"the document is over Kestra's limit of {MAX_DOCUMENT_CODE_POINTS:,} characters")
    top = _fields(node)
    flow_id = _identifier(node, top, "id", FLOW_ID, MAX_ID_LENGTH)
    _check_keys(node)
    if flow_id in RESERVED_IDS:
        raise at(top["id"], f"'{flow_id}' is a reserved flow id in Kestra; choose another")
    key = FlowKey(_identifier(node, top, "namespace", NAMESPACE, MAX_NAMESPACE_LENGTH), flow_id)
    if _text(top.get("deleted")) in ("true", "True", "TRUE"):
        # Kestra would store the flow as deleted: it could never be seen, and every plan would create it again.
        raise at(top["deleted"], "`deleted: true` hides a flow on Kestra; remove the file (and apply with --prune) instead")
    tasks = top.get("tasks")
    if type(tasks) is not SequenceNode or not tasks.value:
        raise at(tasks or node, "`tasks` must be a non-empty list of tasks")
    all_tasks = [task for name in TOP_TASK_KEYS if name in top for task in _tasks(top[name], "task")]
    _check_unique_ids(all_tasks)
    triggers = _tasks(top["triggers"], "trigger") if "triggers" in top else []
    return LocalFlow(key, text, location, tuple(sorted(set(_references(key, all_tasks, triggers)))))


def _check_keys(flow: MappingNode) -> None:
    for key, _ in flow.value:
        if key.value not in FLOW_KEYS:
            close = difflib.get_close_matches(key.value, FLOW_KEYS, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise at(key, f"unknown flow property `{key.value}` (Kestra refuses unknown top-level keys){hint}")


def _identifier(flow: MappingNode, top: Fields, name: str, pattern: re.Pattern[str], max_length: int) -> str:
    if name not in top:
        raise at(
            flow,
            f"not a flow: no `{name}` key (a flow needs id, namespace and tasks); "
            "exclude this file in kestra-sync.yaml if it is not a flow",
        )
    value = _text(top[name])
    if not value:
        raise at(top[name], f"`{name}` must be a non-empty text value")
    if not pattern.fullmatch(value):
        raise at(top[name], f"`{name}` '{value}' must match {pattern.pattern}")
    if len(value) > max_length:
        raise at(top[name], f"`{name}` is {len(value)} characters long; Kestra allows at most {max_length}")
    return value


def _tasks(node: Node, kind: str) -> list[Task]:
    """The tasks (or triggers) of a list, each checked for `id` and `type`, children included."""
    if type(node) is not SequenceNode:
        raise at(node, f"expected a list of {kind}s")
    found: list[Task] = []
    for item in node.value:
        fields = _fields(item) if type(item) is MappingNode else None
        if fields is not None and "type" not in fields and type(fields.get("task")) is MappingNode:
            item = fields["task"]  # a Dag entry: {task: {...}, dependsOn: [...]}
            fields = _fields(item)
        if fields is None:
            raise at(item, f"a {kind} must be a mapping with `id` and `type`")
        for required in ("id", "type"):
            if not _text(fields.get(required)):
                name = _text(fields.get("id"))
                raise at(item, f"{kind} '{name}' has no `{required}`" if name else f"this {kind} has no `{required}`")
        if not TASK_ID.fullmatch(fields["id"].value):
            raise at(fields["id"], f"{kind} id '{fields['id'].value}' must match {TASK_ID.pattern}")
        found.append((item, fields))
        if kind == "task":
            found += _child_tasks(fields)
    return found


def _child_tasks(fields: Fields) -> list[Task]:
    children: list[Task] = []
    for name in CHILD_TASK_KEYS:
        value = fields.get(name)
        if type(value) is SequenceNode and all(type(i) is MappingNode for i in value.value):
            children += _tasks(value, "task")
    cases = fields.get("cases")
    if type(cases) is MappingNode:
        for _, branch in cases.value:
            if type(branch) is SequenceNode:
                children += _tasks(branch, "task")
    return children


def _check_unique_ids(tasks: list[Task]) -> None:
    first: dict[str, MappingNode] = {}
    for node, fields in tasks:
        task_id = fields["id"].value
        if task_id in first:
            raise at(node, f"duplicate task id '{task_id}' (first at line {first[task_id].start_mark.line + 1})")
        first[task_id] = node


def _references(key: FlowKey, tasks: list[Task], triggers: list[Task]) -> Iterator[FlowKey]:
    """Flows this flow calls (Subflow, ForEachItem) or listens to (Flow trigger); dynamic ones skipped."""
    for node, fields in tasks:
        if fields["type"].value.lower() in SUBFLOW_TASKS:
            target = _static_key(fields)
            if target == key:
                raise at(node, f"task '{fields['id'].value}' calls its own flow; Kestra refuses recursive calls")
            if target:
                yield target
    for _, fields in triggers:
        if fields["type"].value.lower() not in FLOW_TRIGGERS:
            continue
        conditions = fields.get("conditions")
        for condition in _mappings(conditions):
            condition_fields = _fields(condition)
            if (_text(condition_fields.get("type")) or "").lower() in EXECUTION_FLOW_CONDITIONS:
                yield from _static_keys(condition_fields)
        preconditions = fields.get("preconditions")
        if type(preconditions) is MappingNode:
            for upstream in _mappings(_fields(preconditions).get("flows")):
                yield from _static_keys(_fields(upstream))


def _mappings(node: Node | None) -> list[MappingNode]:
    return [item for item in node.value if type(item) is MappingNode] if type(node) is SequenceNode else []


def _static_key(fields: Fields) -> FlowKey | None:
    namespace, flow_id = _text(fields.get("namespace")), _text(fields.get("flowId"))
    if not namespace or not flow_id or "{{" in namespace or "{{" in flow_id:
        return None
    return FlowKey(namespace, flow_id)


def _static_keys(fields: Fields) -> list[FlowKey]:
    key = _static_key(fields)
    return [key] if key else []

"""Flows: Kestra's YAML workflows, the first resource kind.

A flow's key is ("flow", namespace, id); its content is its exact text, its version its revision.
Its files are YAML documents (parse.py, the admission rules), its references the flows it calls or
listens to (refs.py), its updates summarised in its own terms (diff.py), its routes in api.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from kestrasync.errors import ApiError, FileError, ValidationFailed
from kestrasync.http import Connection
from kestrasync.kinds.base import Tree, Update
from kestrasync.kinds.flows import api
from kestrasync.environments import OWNER_LABEL
from kestrasync.kinds.flows.locate import in_file, split_constraint
from kestrasync.kinds.flows.diff import active_triggers, classify, is_same_source, label, without_id
from kestrasync.kinds.flows.parse import RULES, parse_file
from kestrasync.kinds.flows.refs import KIND, source_references
from kestrasync.kinds.flows.rewrite import FlowOverlay, rewrite
from kestrasync.model import Action, Change, Diagnostic, Key, KindInfo, Local, Remote, Severity, SourceLocation, Version
from kestrasync.textdiff import text_change
from kestrasync.walk import ScanOptions
from kestrasync.yamltext import YamlProblem

# Kestra's warning for a Subflow whose target does not exist (yet).
_MISSING_SUBFLOW = re.compile(r"The subflow '([^']+)' not found in namespace '([^']+)'")


class FlowKind:
    info = KindInfo(name=KIND, noun="flow", plural="flows", rank=20, files="flow files", version="revision", labelled=True)

    def trees(self, options: ScanOptions) -> tuple[Tree, ...]:
        return (Tree(options, parse_file, RULES),)

    def same(self, local: Local, remote: Remote) -> bool:
        return is_same_source(local.content, remote.content)

    def describe(self, local: Local, remote: Remote) -> Update:
        text = text_change(remote.content, local.content, f"{remote.key} (server rev {remote.version})", local.location.path)
        return Update(*classify(remote.content, local.content, text), text.diff)

    def references(self, remote: Remote) -> tuple[Key, ...]:
        return source_references(remote.content)

    def owner(self, remote: Remote) -> str | None:
        return label(remote.content, OWNER_LABEL)

    def renamed(self, local: Local, remote: Remote) -> bool:
        return is_same_source(without_id(local.content), without_id(remote.content))

    def active(self, remote: Remote) -> tuple[str, ...]:
        return active_triggers(remote.content)

    def in_environment(self, local: Local, namespace: Callable[[str], str | None], overlay) -> tuple[Local, tuple[str, ...]]:
        try:
            done = rewrite(local.content, namespace, overlay or FlowOverlay())
        except YamlProblem as problem:
            where = SourceLocation(local.location.path, local.location.line + problem.line - 1, problem.column)
            raise FileError(where, problem.message) from None

        def mapped(key: Key) -> Key:
            return key._replace(namespace=namespace(key.namespace) or key.namespace)

        return replace(local, key=mapped(local.key), content=done.text,
                       references=tuple(sorted(map(mapped, local.references)))), tuple(done.outside + done.dynamic)

    def on_server(self, options: ScanOptions, namespace: Callable[[str], str]) -> ScanOptions:
        return options  # flows are read by namespace prefix, the scopes already the server's

    def adopting(self, options: ScanOptions, namespaces: Sequence[str]) -> ScanOptions:
        return options  # flows are read by namespace prefix: every one under the scopes already

    def placement(self, key: Key, options: ScanOptions) -> Path | None:
        return options.roots[0] / options.layout.format(namespace=key.namespace, id=key.name)

    def fetch(self, conn: Connection, scopes: Sequence[str], options: ScanOptions, parallelism: int) -> api.FetchedFlows:
        return api.fetch(conn, scopes, parallelism)

    def get(self, conn: Connection, key: Key) -> Remote | None:
        return api.get(conn, key)

    def versions(self, conn: Connection, scopes: Sequence[str], options: ScanOptions, parallelism: int) -> dict[Key, int]:
        return api.versions(conn, scopes, parallelism)

    def write(self, conn: Connection, change: Change) -> Version | None:
        try:
            if change.action is Action.CREATE:
                return api.create(conn, change.after).version
            if change.action is Action.UPDATE:
                return api.update(conn, change.after).version
            api.delete(conn, change.key)
            return None
        except ApiError as error:
            if error.details and change.after is not None:
                error.location = _placed(change.after, error.details)
            raise

    def validate(self, conn: Connection, writes: Sequence[Local], created: frozenset[Key]) -> tuple[Diagnostic, ...]:
        """The server's warnings; ValidationFailed on any constraint violation. A warning that a
        subflow does not exist is dropped when the plan creates that subflow: apply writes it first."""
        if not writes:
            return ()
        errors, warnings = [], []
        for flow, result in zip(writes, api.validate(conn, [f.content for f in writes])):
            for line in (result.get("constraints") or "").splitlines():
                if line.strip():
                    path, message = split_constraint(line.strip())
                    text = line.strip() if path else message  # an empty path (a flow-level rule) is not shown
                    errors.append(Diagnostic(Severity.ERROR, text, flow.key, in_file(flow, message, [path] if path else [], True)))
            for error in result["errors"]:
                text = f"{error.paths[-1]}: {error.text}" if error.paths else error.text
                errors.append(Diagnostic(Severity.ERROR, text, flow.key, in_file(flow, error.text, error.paths, True)))
            for warning in result.get("warnings") or ():
                missing = _MISSING_SUBFLOW.search(str(warning))
                if missing and Key(KIND, missing.group(2), missing.group(1)) in created:
                    continue
                warnings.append(Diagnostic(Severity.WARNING, str(warning), flow.key, flow.location))
        if errors:
            raise ValidationFailed(errors)
        return tuple(warnings)


def _placed(flow: Local, details) -> SourceLocation:
    """Where a refused write's errors land: the first that lands anywhere better than the flow's first line."""
    places = (in_file(flow, detail.text, detail.paths) for detail in details)
    return next((where for where in places if where != flow.location), flow.location)


FLOWS = FlowKind()

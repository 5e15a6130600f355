"""kestra-sync.yaml + environment (+ .env) + flags -> Settings.

Settings are composed of the option objects each subsystem defines, with its defaults (the
server's in kestrasync.http, the flow files' in kestrasync.kinds.flows, pruning's in
kestrasync.planner, the lock's in kestrasync.lock); this module only fills them in. Precedence: flags
beat the environment, the environment beats the file. Credentials come only from the environment
or flags: a config file is committed to Git, so credentials found in it are refused. Every bad value
is reported with the file, line and key it came from.
"""

from __future__ import annotations

import functools
import json
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from dotenv import dotenv_values
from yaml.nodes import MappingNode, Node, SequenceNode

from kestrasync.applier import PARALLELISM
from kestrasync.errors import ConfigError
from kestrasync.http import Credentials, ServerOptions
from kestrasync.kinds.files.layout import CONVENTION, FileOptions, FolderMapping, remote_folder
from kestrasync.environments import ENVIRONMENT_VARIABLE, OWNER_LABEL, Environment, variable_prefix
from kestrasync.kinds.flows.parse import FLOW_FILES, LAYOUT_FIELDS
from kestrasync.kinds.flows.rewrite import FlowOverlay
from kestrasync.lock import LockOptions
from kestrasync.model import NAMESPACE, SourceLocation
from kestrasync.planner import PruneOptions
from kestrasync.server import release
from kestrasync.walk import ScanOptions, display_path
from kestrasync.yamltext import YamlProblem, decode_utf8, load_mapping, to_python

CONFIG_NAME = "kestra-sync.yaml"
CONFIG_NAMES = (CONFIG_NAME, "kestra-sync.yml")  # what is looked for, in this order
CREDENTIAL_KEYS = frozenset({"username", "password", "token", "api_token", "apiToken"})


@dataclass(frozen=True)
class Settings:
    """Everything a command needs, resolved. `owned_namespaces` are the prefixes this repository
    owns (empty: exactly the namespaces its files declare)."""

    server: ServerOptions = field(default_factory=ServerOptions)
    flow_files: ScanOptions = FLOW_FILES
    namespace_files: FileOptions = field(default_factory=FileOptions)
    owned_namespaces: tuple[str, ...] = ()
    prune: PruneOptions = field(default_factory=PruneOptions)
    parallelism: int = PARALLELISM
    lock: LockOptions = field(default_factory=LockOptions)
    fail_on_unmanaged: bool = False  # a plan that leaves resources on the server no file declares fails
    environment: Environment | None = None  # the one selected (--env, KESTRA_SYNC_ENV)
    environments: tuple[str, ...] = ()  # every one kestra-sync.yaml defines
    owner: str | None = None  # ownership by label: this repository's name (None: by namespace)
    overlays: Mapping[str, object] = field(default_factory=dict)  # kind name -> what it changes in each resource
    root: Path = Path(".")
    config_file: Path | None = None

    def of_kind(self, kind: str):
        """A resource kind's own section of the settings (what kestrasync.kinds.base.Kind.trees reads)."""
        return getattr(self, _KIND_SECTIONS[kind])

    def with_kind(self, kind: str, options) -> Settings:
        """These settings with a kind's section replaced."""
        return replace(self, **{_KIND_SECTIONS[kind]: options})


_KIND_SECTIONS = {"flow": "flow_files", "file": "namespace_files"}  # each kind's field of Settings


@dataclass(frozen=True)
class Overrides:
    """What flags say; None: not given."""

    url: str | None = None
    tenant: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float | None = None
    ca_cert: str | None = None
    insecure: bool | None = None
    kestra_version: str | None = None
    max_deletes: int | None = None
    allow_empty: bool | None = None
    parallelism: int | None = None
    lock_timeout: float | None = None
    no_lock: bool | None = None
    fail_on_unmanaged: bool | None = None
    environment: str | None = None
    namespace_prefix: str | None = None

    def merged(self, other: Overrides) -> Overrides:
        """These overrides, with `other`'s given values on top."""
        return replace(self, **{f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None})


class Key(NamedTuple):
    """One key of kestra-sync.yaml: where its value goes (a path in Settings), its type, what it means
    (the JSON Schema's description, for editors) and a bound. A bound of POSITIVE means "greater than
    0", a number "at least that", a pattern "every item matches it"."""

    target: tuple[str, ...]
    kind: type | str  # a Python type, or one of the structured kinds _read_section reads
    about: str
    bound: int | str | re.Pattern | None = None


class Section(dict):
    """A mapping of kestra-sync.yaml: its keys (name -> Key or Section), and what it is for."""

    def __init__(self, about: str, keys: dict):
        super().__init__(keys)
        self.about = about


POSITIVE = "positive"
LAYOUT = "layout"  # a template of LAYOUT_FIELDS, relative, with no `..`
OWNERSHIP = "ownership"  # one of OWNERSHIP_MODES
OWNERSHIP_MODES = ("namespace", "label")  # the first is the default
_SCHEMA = Section("kestra-sync configuration: this repository is the desired state of a Kestra server.", {
    "server": Section("The Kestra server and how to talk to it. Credentials never go here: KESTRA_USERNAME and "
                      "KESTRA_PASSWORD, or KESTRA_API_TOKEN, in the environment or .env.", {
        "url": Key(("server", "url"), str, "The server's own address, without /api/v1 (KESTRA_URL, KESTRA_HOST or --url override it)."),
        "tenant": Key(("server", "tenant"), str, "The tenant (main in open source; KESTRA_TENANT or --tenant)."),
        "timeout": Key(("server", "timeout"), float, "Seconds for a whole request, from connecting to the last byte of its answer.",
                       POSITIVE),
        "retries": Key(("server", "retry", "attempts"), int, "Retries after the first try, for connection errors, timeouts, "
                       "429 and 502-504.", 0),
        "retry_backoff": Key(("server", "retry", "base_delay"), float, "Seconds before the first retry, then doubled (with jitter).", 0),
        "retry_budget": Key(("server", "retry", "budget"), float, "Seconds a request may take, its retries and waits included.",
                            POSITIVE),
        "verify_tls": Key(("server", "verify_tls"), bool, "Check the server's TLS certificate (--insecure turns it off, with a warning)."),
        "ca_cert": Key(("server", "ca_cert"), str, "A CA bundle (PEM) for a private CA, relative to this file (or --ca-cert)."),
        "kestra_version": Key(("server", "kestra_version"), str, "The server's Kestra version (e.g. 1.0 or 2.0), when it must "
                              "not be asked (or --kestra-version)."),
    }),
    "flows": Section("Which files hold flows.", {
        "paths": Key(("flow_files", "paths"), list, "The folders of flow files, relative to this file (none: the whole repository)."),
        "include": Key(("flow_files", "include"), list, "Globs of the flow files in those folders."),
        "exclude": Key(("flow_files", "exclude"), list, "Globs of files that are not flows."),
        "max_file_size": Key(("flow_files", "max_file_bytes"), int, "The largest flow file, in bytes.", POSITIVE),
        "layout": Key(("flow_files", "layout"), str, "Where `pull` writes a flow no file declares, under the first path: a "
                      "relative template naming {id} and optionally {namespace}.", LAYOUT),
    }),
    "files": Section("Namespace files (scripts, queries, data that flows read): _files/<namespace>/<path> by default.", {
        "paths": Key(("namespace_files", "paths"), list, "Folders of one folder per namespace, relative to this file (none: _files)."),
        "include": Key(("namespace_files", "include"), list, "Globs of the files in the folders of `paths`."),
        "exclude": Key(("namespace_files", "exclude"), list, "Globs of files in the folders of `paths` that are never uploaded."),
        "max_file_size": Key(("namespace_files", "max_file_bytes"), int, "The largest namespace file, in bytes.", POSITIVE),
        "mappings": Key(("namespace_files", "mappings"), "mappings", "Explicit folders, each to a namespace and a remote folder."),
    }),
    "namespaces": Key(("owned_namespaces",), list, "The namespaces this repository owns, each with those below it (none: "
                      "exactly the namespaces its files declare).", NAMESPACE),
    "fail_on_unmanaged": Key(("fail_on_unmanaged",), bool, "Make plan, diff and apply fail when the server holds flows or files "
                             "in the owned namespaces that no file declares (or --fail-on-unmanaged)."),
    "environments": Key(("environments",), "environments", "Targets chosen with --env NAME (or KESTRA_SYNC_ENV); what one does "
                        "not set comes from the top level."),
    "ownership": Section("What this repository owns: the owned namespaces, or only the flows labelled with its name.", {
        "by": Key(("ownership", "by"), str, "`namespace`: everything in the owned namespaces; `label`: only the flows labelled "
                  f"{OWNER_LABEL}: <name>.", OWNERSHIP),
        "name": Key(("ownership", "name"), str, "With `by: label`: this repository's name, one no other repository uses."),
    }),
    "prune": Section("Deletes on the server of what no file declares, inside the owned namespaces only.", {
        "enabled": Key(("prune", "enabled"), bool, "Prune on every plan and apply (or --prune for one run)."),
        "max_deletes": Key(("prune", "max_deletes"), int, "The most deletes of each kind a plan may make (or --max-deletes).", 0),
        "allow_empty": Key(("prune", "allow_empty"), bool, "Allow a prune that empties a namespace (or --allow-empty)."),
        "protected_namespaces": Key(("prune", "protected"), list, "Namespaces never pruned, with those below them.", NAMESPACE),
    }),
    "apply": Section("How apply writes.", {
        "parallelism": Key(("parallelism",), int, "Concurrent writes (or --parallelism).", POSITIVE),
    }),
    "lock": Section("The advisory apply lock, in Kestra's KV store.", {
        "enabled": Key(("lock", "enabled"), bool, "Take the lock on apply (--no-lock skips it)."),
        "namespace": Key(("lock", "namespace"), str, "The namespace of the lock's KV entry."),
        "key": Key(("lock", "key"), str, "The key of the lock's KV entry."),
        "ttl": Key(("lock", "ttl_seconds"), int, "Seconds after which a held lock is taken over, with a warning.", POSITIVE),
        "timeout": Key(("lock", "timeout_seconds"), float, "Seconds to wait for another apply's lock (or --lock-timeout).", 0),
    }),
})


def starter_config(settings: Settings, namespaces: list[str], found: list[str], flows_path: str) -> str:
    """A first kestra-sync.yaml (kestra-sync init): every key it sets explained, the defaults shown."""
    url = f"url: {json.dumps(settings.server.url)}" if settings.server.url else "# url: https://kestra.example.com"
    owned = "".join(f"\n  - {namespace}" for namespace in namespaces) if namespaces else " []  # e.g. [company]: none yet"
    seen = f" On the server: {', '.join(found)}." if found else ""
    return f"""\
# kestra-sync.yaml: this repository is the desired state of a Kestra server. `kestra-sync plan`
# shows what differs, `kestra-sync apply` makes the server match, `kestra-sync pull` writes what
# the server holds into these files.

server:
  # The server (KESTRA_URL or --url override it). Credentials never go in this file: set
  # KESTRA_USERNAME and KESTRA_PASSWORD, or KESTRA_API_TOKEN, in the environment (or in .env).
  {url}
  # The tenant: main in open source.
  tenant: {json.dumps(settings.server.tenant)}

# The namespaces this repository owns, each with the namespaces below it: plans read them, --prune
# deletes only inside them, pull adopts what they hold.{seen}
namespaces:{owned}

flows:
  # The folders that hold flow files (YAML; one flow or several per file).
  paths: [{json.dumps(flows_path)}]
  # Where pull writes a flow that no file declares yet, under the first folder.
  layout: {json.dumps(FLOW_FILES.layout)}

files:
  # Namespace files (scripts, queries, data that flows read) live in {CONVENTION}/<namespace>/:
  # {CONVENTION}/company.team/etl/load.py is etl/load.py of namespace company.team. Other folders:
  # `paths`, or `mappings` (namespace, from, to); see the README.
  # paths: [{CONVENTION}]
  max_file_size: {settings.namespace_files.max_file_bytes}

prune:
  # Deletes on the server happen only with --prune (or enabled: true), at most this many of each kind.
  max_deletes: {settings.prune.max_deletes}

# Make plan, diff and apply fail when the server holds flows or files in these namespaces that no
# file declares (--fail-on-unmanaged does it for one run).
fail_on_unmanaged: {str(settings.fail_on_unmanaged).lower()}
"""


# An environment's keys: the top level's sections it may override, and its own (paths under
# "environment", gathered into an Environment rather than assigned to Settings).
_ENVIRONMENT_SCHEMA = Section("An environment: the top level's sections it overrides (what it does not set comes from the "
                              "top level), and its own keys.", {
    **{section: _SCHEMA[section] for section in ("server", "files", "prune", "apply", "lock")},
    "credentials": Section("The variables its credentials come from (defaults: KESTRA_<NAME>_USERNAME, KESTRA_<NAME>_PASSWORD, "
                           "KESTRA_<NAME>_API_TOKEN).", {
        "username_variable": Key(("environment", "username"), str, "The variable holding its username."),
        "password_variable": Key(("environment", "password"), str, "The variable holding its password."),
        "token_variable": Key(("environment", "token"), str, "The variable holding its API token."),
    }),
    "namespace_prefix": Key(("environment", "prefix"), str, "Put before every namespace: company.team becomes "
                            "<prefix>.company.team.", NAMESPACE),
    "namespace_rename": Key(("environment", "renames"), "renames", "Namespaces renamed, each with those below it "
                            "(company: company-staging)."),
    "triggers": Section("Triggers turned off in every flow.", {
        "disabled": Key(("environment", "disable_triggers"), bool, "Turn triggers off."),
        "types": Key(("environment", "trigger_types"), list, "Only triggers of these types (none: all of them)."),
    }),
    "variables": Key(("environment", "variables"), "strings", "Variables set in every flow."),
    "labels": Key(("environment", "labels"), "strings", "Labels set on every flow."),
    "watch": Key(("environment", "watch"), bool, "Let `watch --env` write to this environment's server even when it is not local."),
})

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}  # Python's types by their JSON names


def json_schema() -> dict:
    """kestra-sync.yaml's JSON Schema, for editors' completion and checks, made from the keys the loader
    reads and the defaults of the option objects. Draft-07: the newest that yaml-language-server
    (behind VS Code's YAML extension, and most editors' YAML support) fully implements."""
    settings = Settings()
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": CONFIG_NAME,
              **_object_schema(_SCHEMA, lambda target: functools.reduce(lambda value, name: getattr(value, name, None), target, settings))}
    # load_settings' rule across two keys: ownership by label needs the repository's name.
    schema["properties"]["ownership"].update({"if": {"properties": {"by": {"const": "label"}}, "required": ["by"]},
                                              "then": {"properties": {"name": {"minLength": 1}}, "required": ["name"]}})
    return schema


def _object_schema(section: Section, default: Callable[[tuple[str, ...]], object]) -> dict:
    """A section, each key's default being `default(its target)` (None: none)."""
    properties = {name: _object_schema(spec, default) if isinstance(spec, Section) else _key_schema(spec, default(spec.target))
                  for name, spec in section.items()}
    return {"description": section.about, "type": "object", "properties": properties, "additionalProperties": False}


def _key_schema(key: Key, default: object) -> dict:
    """One key: its type and bound as the loader checks them (_typed, _mappings, _environments, _strings)."""
    pattern = {"pattern": f"^(?:{key.bound.pattern})$"} if isinstance(key.bound, re.Pattern) else {}
    schema: dict = {"description": key.about}
    if key.kind is list:  # one text value stands for a list of it
        schema.update(type=["array", "string"], items={"type": "string", **pattern}, **pattern)
    elif key.kind in _JSON_TYPES:
        schema.update(type=_JSON_TYPES[key.kind], **pattern)
        if key.bound == POSITIVE:
            schema["exclusiveMinimum"] = 0
        elif isinstance(key.bound, int):
            schema["minimum"] = key.bound
        elif key.bound == OWNERSHIP:
            schema["enum"], default = list(OWNERSHIP_MODES), OWNERSHIP_MODES[0]
        elif key.bound == LAYOUT:  # _check_layout's rules
            schema["allOf"] = [{"pattern": _LAYOUT_TEMPLATE}, {"not": {"pattern": r"^/|(^|[/\\])\.\.([/\\]|$)"}}]
    elif key.kind == "mappings":
        folder = _field_defaults(FolderMapping)
        schema.update(type="array", items={**_object_schema(_MAPPING_KEYS, lambda target: folder.get(target[0])),
                                           "required": list(_MAPPING_REQUIRED)})
    elif key.kind == "environments":
        own = {**_field_defaults(Environment), **_field_defaults(FlowOverlay)}  # the rest: the top level's
        schema.update(type="object", propertyNames={"pattern": _ENVIRONMENT_NAME.pattern}, additionalProperties=_object_schema(
            _ENVIRONMENT_SCHEMA, lambda target: own.get(target[1]) if target[0] == "environment" else None))
    elif key.kind == "renames":
        namespace = {"type": "string", "pattern": f"^(?:{NAMESPACE.pattern})$"}
        schema.update(type="object", propertyNames=namespace, additionalProperties=namespace)
    elif key.kind == "strings":
        schema.update(type="object", additionalProperties={"type": ["string", "number", "boolean"]})
    if isinstance(default, tuple) and key.kind is list:
        schema["default"] = [str(item) for item in default]
    elif key.kind in _JSON_TYPES and isinstance(default, key.kind) and (not pattern or key.bound.fullmatch(default)):
        schema["default"] = default  # (not an empty namespace prefix: it means none)
    return schema


def _layout_template() -> str:
    """A pattern of the layouts string.Formatter reads as naming only LAYOUT_FIELDS, {id} among them."""
    def field(names: str) -> str:
        return r"\{(?:" + names + r")(?:![^{}:])?(?::[^{}]*)?\}"
    token = r"(?:[^{}]|\{\{|\}\}|" + field("|".join(LAYOUT_FIELDS)) + ")"
    return f"^{token}*{field('id')}{token}*$"


_LAYOUT_TEMPLATE = _layout_template()


def _field_defaults(cls) -> dict[str, object]:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def write_config(path: Path, text: str) -> None:
    """Write a new kestra-sync.yaml; never over an existing file (created exclusively)."""
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror}") from None


def find_config(start: Path) -> Path | None:
    """kestra-sync.yaml (or kestra-sync.yml) in `start` or the nearest directory above it."""
    for directory in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def require_config(settings: Settings, cwd: Path | None = None) -> None:
    """Commands that compare a repository with a server need its kestra-sync.yaml: without one, the
    files planned would be whatever lies in the working directory."""
    if settings.config_file is None:
        raise ConfigError(f"no {CONFIG_NAME} (or kestra-sync.yml) in {display_path(cwd or Path.cwd())} or above: run "
                          "kestra-sync init to write one, or pass --config FILE")


def load_settings(
    config: Path | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Overrides = Overrides(),
    search: bool = True,
    environment: str | None = None,
) -> Settings:
    """Resolve settings: the file (given, or found upwards from `cwd` unless not to `search`), then the
    environment, then flags. `environment` (or KESTRA_SYNC_ENV) selects one of the file's
    environments, whose values override the top level's."""
    cwd = cwd or Path.cwd()
    environ = dict(os.environ if environ is None else environ)
    config = config or (find_config(cwd) if search else None)
    # The repository is the config file's directory, wherever the command runs from: a scan of only
    # the working directory would make a prune delete the flows declared elsewhere.
    root = (config.parent if config is not None else cwd).absolute()
    settings = Settings(flow_files=replace(FLOW_FILES, root=root), namespace_files=FileOptions(root=root), root=root)
    defined: dict[str, dict] = {}
    if config is not None:
        values = read_config_file(config)
        defined = values.pop(("environments",), {})
        if values.pop(("ownership", "by"), OWNERSHIP_MODES[0]) == "label":
            if not values.get(("ownership", "name")):
                raise ConfigError(f"'ownership.name' is needed with `by: label`: the name this repository's flows are labelled "
                                  f"with ({OWNER_LABEL}), one no other repository uses", SourceLocation(display_path(config)))
            settings = replace(settings, owner=str(values[("ownership", "name")]))
        values.pop(("ownership", "name"), None)
        for path, value in values.items():
            settings = _assign(settings, path, value)
        settings = replace(settings, config_file=config, environments=tuple(defined))
    beside = {} if config is None or config.parent.absolute() == cwd.absolute() else read_dotenv(config.parent / ".env")
    here = read_dotenv(cwd / ".env")
    variables = {**beside, **here, **environ}
    where = {**dict.fromkeys(beside, display_path(config.parent / ".env") if config else ".env"),
             **dict.fromkeys(here, display_path(cwd / ".env")), **dict.fromkeys(environ, "the environment")}
    name = environment or variables.get(ENVIRONMENT_VARIABLE) or None
    own: dict[str, object] = {}
    if name is not None:
        if name not in defined:
            known = f"it defines: {', '.join(defined)}" if defined else "it defines none (`environments:`)"
            raise ConfigError(f"environment '{name}' (--env or {ENVIRONMENT_VARIABLE}) is not in {CONFIG_NAME}; {known}")
        for path, value in defined[name].items():
            if path[0] == "environment":
                own[path[1]] = value
            else:
                settings = _assign(settings, path, value)
        settings = replace(settings, environment=_environment(name, own), overlays={"flow": _overlay(own)})
    if overrides.namespace_prefix is not None:
        settings = _previewed(settings, overrides.namespace_prefix)
    if settings.owner is not None:
        flows = settings.overlays.get("flow") or FlowOverlay()
        settings = replace(settings, overlays={**settings.overlays, "flow": replace(flows, labels={**flows.labels, OWNER_LABEL: settings.owner})})
    settings = _without_namespace_files(settings)
    used: dict[str, str] = {}
    found = _from_environment(variables, name, own, ("server", "url") in defined.get(name, {}), used)
    settings = _with_server(settings, found, overrides, {target: (variable, where.get(variable, "the environment"))
                                                         for target, variable in used.items()})
    settings = _with_flags(settings, overrides)
    _check(settings)
    return settings


def _without_namespace_files(settings: Settings) -> Settings:
    """Flow files are looked for everywhere but in kestra-sync.yaml and the namespace files' folders
    (a YAML script there is a file to upload, not a flow)."""
    files = settings.namespace_files
    folders = [*(files.paths or (files.root / CONVENTION,)), *(mapping.local for mapping in files.mappings)]
    excluded = [] if settings.config_file is None else [settings.config_file.name]
    for folder in folders:
        relative = os.path.relpath(folder, settings.root).replace(os.sep, "/")
        if relative != "." and not relative.startswith("../"):
            excluded.append(f"{relative}/**")
    return replace(settings, flow_files=replace(settings.flow_files, exclude=settings.flow_files.exclude + tuple(excluded)))


def _assign(value, path: tuple[str, ...], new):
    """`value` with the field at `path` (attribute names, outermost first) replaced by `new`."""
    name, *rest = path
    return replace(value, **{name: _assign(getattr(value, name), tuple(rest), new) if rest else new})


def _with_server(settings: Settings, environment: dict[str, str], flags: Overrides,
                 origins: Mapping[str, tuple[str, str]] | None = None) -> Settings:
    """The server's URL, tenant and credentials: flags over the environment over the file.
    Credentials come as a kind (user and password, or a token): a kind given by flags wins whole.
    `origins` says where each environment value came from (variable, `.env`), for messages."""
    server = settings.server
    url = _first(flags.url, environment.get("url"), server.url)
    tenant = _first(flags.tenant, environment.get("tenant"), server.tenant)
    given = {"username": flags.username, "password": flags.password, "token": flags.token}
    source = {name: value for name, value in environment.items() if name in given}
    if flags.username is not None or flags.password is not None:
        source.pop("token", None)
    if flags.token is not None:
        source.pop("username", None)
        source.pop("password", None)
    source.update({name: value for name, value in given.items() if value is not None})
    came_from: dict[str, list[str]] = {}  # where -> the variables or flags
    for name in ("username", "password", "token"):
        if source.get(name):
            variable, place = (f"--{name}", "flags") if given[name] is not None else (origins or {}).get(name, (name, "the environment"))
            came_from.setdefault(place, []).append(variable)
    origin = "; ".join(f"{' and '.join(names)} ({place})" for place, names in came_from.items())
    credentials = Credentials(source.get("username"), source.get("password"), source.get("token"), origin)
    timeout = _first(flags.timeout, server.timeout)
    verify_tls = False if flags.insecure else server.verify_tls
    ca_cert = _first(flags.ca_cert, server.ca_cert)
    kestra_version = _first(flags.kestra_version, server.kestra_version)
    return replace(settings, server=replace(server, url=url, tenant=tenant, credentials=credentials, timeout=timeout,
                                            verify_tls=verify_tls, ca_cert=ca_cert, kestra_version=kestra_version))


def _with_flags(settings: Settings, flags: Overrides) -> Settings:
    prune, lock = settings.prune, settings.lock
    if flags.max_deletes is not None:
        prune = replace(prune, max_deletes=flags.max_deletes)
    if flags.allow_empty:
        prune = replace(prune, allow_empty=True)
    if flags.lock_timeout is not None:
        lock = replace(lock, timeout_seconds=flags.lock_timeout)
    if flags.no_lock:
        lock = replace(lock, enabled=False)
    parallelism = _first(flags.parallelism, settings.parallelism)
    fail_on_unmanaged = flags.fail_on_unmanaged or settings.fail_on_unmanaged
    return replace(settings, prune=prune, lock=lock, parallelism=parallelism, fail_on_unmanaged=fail_on_unmanaged)


def _first(*values):
    """The first value given (an empty flag counts: `--url ""` is refused, not ignored)."""
    return next((value for value in values if value is not None), None)


def read_config_file(path: Path) -> dict[tuple[str, ...], object]:
    """The file's values by their path in Settings."""
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {shown}: {error.strerror}") from None
    try:
        node, _ = load_mapping(decode_utf8(data))
    except YamlProblem as problem:
        raise ConfigError(problem.message, SourceLocation(shown, problem.line, problem.column)) from None
    if node is None:
        return {}
    values = _read_section(node, _SCHEMA, shown, "")
    base = path.parent.absolute()
    for named in values.get(("environments",), {}).values():
        _relative_to(named, base)
    return _relative_to(values, base)


def _relative_to(values: dict[tuple[str, ...], object], base: Path) -> dict[tuple[str, ...], object]:
    """Paths in the file are relative to the file, not to the working directory."""
    for key in (("flow_files", "paths"), ("namespace_files", "paths")):
        if key in values:
            values[key] = tuple(base / p for p in values[key])
    if ("server", "ca_cert") in values:
        values[("server", "ca_cert")] = str(base / values[("server", "ca_cert")])
    return values


def _read_section(node: MappingNode, schema: Section, shown: str, prefix: str) -> dict[tuple[str, ...], object]:
    values: dict[tuple[str, ...], object] = {}
    for key, value in node.value:
        name = key.value
        where = SourceLocation(shown, key.start_mark.line + 1, key.start_mark.column + 1)
        if name in CREDENTIAL_KEYS:
            raise ConfigError(
                f"'{prefix}{name}': credentials do not belong in {CONFIG_NAME} (it is committed); "
                "set KESTRA_USERNAME / KESTRA_PASSWORD or KESTRA_API_TOKEN in the environment",
                where,
            )
        if name not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"unknown key '{prefix}{name}' (expected one of: {known})", where)
        spec = schema[name]
        if isinstance(spec, Section):
            if not isinstance(value, MappingNode):
                raise ConfigError(f"'{prefix}{name}' must be a mapping", where)
            values.update(_read_section(value, spec, shown, f"{prefix}{name}."))
        elif spec.kind == "mappings":
            values[spec.target] = _mappings(value, f"{prefix}{name}", shown, Path(shown).parent.absolute())
        elif spec.kind == "environments":
            values[spec.target] = _environments(value, shown)
        elif spec.kind in ("renames", "strings"):
            values[spec.target] = _strings(value, f"{prefix}{name}", shown, namespaces=spec.kind == "renames")
        else:
            values[spec.target] = _typed(value, spec.kind, f"{prefix}{name}", shown, spec.bound)
    return values


_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _environments(node: Node, shown: str) -> dict[str, dict[tuple[str, ...], object]]:
    """`environments`: name -> its values, by their path (in Settings, or under "environment")."""
    if not isinstance(node, MappingNode):
        raise ConfigError("'environments' must be a mapping of names to environments", _where(node, shown))
    found = {}
    for key, value in node.value:
        name = str(key.value)
        if not _ENVIRONMENT_NAME.fullmatch(name):
            raise ConfigError(f"environment name '{name}' must be letters, digits, '-' or '_'", _where(key, shown))
        if not isinstance(value, MappingNode):
            raise ConfigError(f"'environments.{name}' must be a mapping", _where(value, shown))
        found[name] = _read_section(value, _ENVIRONMENT_SCHEMA, shown, f"environments.{name}.")
    return found


def _strings(node: Node, name: str, shown: str, namespaces: bool) -> dict[str, str]:
    """A mapping of text to text (labels, variables); of namespace to namespace for renames."""
    if not isinstance(node, MappingNode):
        raise ConfigError(f"'{name}' must be a mapping", _where(node, shown))
    found = {}
    for key, value in node.value:
        item = to_python(value)
        if isinstance(item, (dict, list)) or item is None:
            raise ConfigError(f"'{name}.{key.value}' must be a single value", _where(value, shown))
        text = str(item).lower() if isinstance(item, bool) else str(item)
        if namespaces and not (NAMESPACE.fullmatch(str(key.value)) and NAMESPACE.fullmatch(text)):
            raise ConfigError(f"'{name}': '{key.value}: {text}' must rename a namespace to a namespace", _where(key, shown))
        found[str(key.value)] = text
    return found


# An item of `files.mappings`: its keys, by the FolderMapping field each fills (whose defaults they have).
_MAPPING_KEYS = Section("A local folder whose files go to a namespace, under a remote folder.", {
    "namespace": Key(("namespace",), str, "The namespace its files go to.", NAMESPACE),
    "from": Key(("local",), str, "The local folder, relative to this file."),
    "to": Key(("remote",), str, "The remote folder in the namespace (none: its root)."),
    "include": Key(("include",), list, "Globs of the files in the folder."),
    "exclude": Key(("exclude",), list, "Globs of files in the folder that are never uploaded."),
})
_MAPPING_REQUIRED = ("namespace", "from")


def _mappings(node: Node, name: str, shown: str, base: Path) -> tuple[FolderMapping, ...]:
    """`files.mappings`: a list of {namespace, from (a local folder), to (a remote folder), include,
    exclude}; folders are relative to the config file."""
    if not isinstance(node, SequenceNode):
        raise ConfigError(f"'{name}' must be a list of mappings", _where(node, shown))
    mappings = []
    for number, item in enumerate(node.value, 1):
        label = f"{name}[{number}]"
        if not isinstance(item, MappingNode):
            raise ConfigError(f"'{label}' must be a mapping with namespace, from and to", _where(item, shown))
        given, values = set(), {}
        for key, value in item.value:
            if key.value not in _MAPPING_KEYS:
                raise ConfigError(f"unknown key '{label}.{key.value}' (expected one of: {', '.join(sorted(_MAPPING_KEYS))})",
                                  _where(key, shown))
            spec = _MAPPING_KEYS[key.value]
            given.add(key.value)
            values[spec.target[0]] = _typed(value, spec.kind, f"{label}.{key.value}", shown, spec.bound)
        for required in _MAPPING_REQUIRED:
            if required not in given:
                raise ConfigError(f"'{label}' needs `{required}`", _where(item, shown))
        try:
            values["remote"] = remote_folder(values.get("remote", ""))
        except ValueError as error:
            raise ConfigError(f"'{label}.to': {error}", _where(item, shown)) from None
        mappings.append(FolderMapping(local=base / values.pop("local"), where=_where(item, shown), **values))
    return tuple(mappings)


def _where(node: Node, shown: str) -> SourceLocation:
    return SourceLocation(shown, node.start_mark.line + 1, node.start_mark.column + 1)


def _typed(node: Node, kind: type, name: str, shown: str, bound: int | str | re.Pattern | None = None) -> object:
    where = SourceLocation(shown, node.start_mark.line + 1, node.start_mark.column + 1)
    value = to_python(node)
    if kind is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"'{name}' must be a list of text values", where)
        for item in value:
            if isinstance(bound, re.Pattern) and not bound.fullmatch(item):
                raise ConfigError(f"'{name}': namespace '{item}' is not a valid Kestra namespace", where)
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = {str: "a text value", int: "a whole number", float: "a number", bool: "true or false"}[kind]
        raise ConfigError(f"'{name}' must be {expected}, not {value!r}", where)
    if isinstance(bound, re.Pattern) and not bound.fullmatch(value):
        raise ConfigError(f"'{name}': '{value}' is not a valid Kestra namespace", where)
    if bound == POSITIVE and value <= 0:
        raise ConfigError(f"'{name}' must be greater than 0", where)
    if bound == LAYOUT:
        _check_layout(value, name, where)
    if bound == OWNERSHIP and value not in OWNERSHIP_MODES:
        raise ConfigError(f"'{name}' must be `namespace` (the owned namespaces are this repository's) or `label` "
                          f"(only flows labelled {OWNER_LABEL}: <name> are), not '{value}'", where)
    if isinstance(bound, int) and value < bound:
        raise ConfigError(f"'{name}' must be {bound} or more", where)
    return value


def _check_layout(template: str, name: str, where: SourceLocation) -> None:
    """A layout names only LAYOUT_FIELDS and stays below its folder."""
    try:
        named = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as error:
        raise ConfigError(f"'{name}': {error} in '{template}'", where) from None
    unknown = named - set(LAYOUT_FIELDS)
    if unknown or "id" not in named:  # named, not merely written: `{{id}}` is the text "{id}"
        fields = ", ".join("{" + f + "}" for f in LAYOUT_FIELDS)
        raise ConfigError(f"'{name}': a layout names {fields} (and {{id}} at least), not '{template}'", where)
    if template.startswith("/") or ".." in template.replace("\\", "/").split("/"):
        raise ConfigError(f"'{name}': '{template}' must be a relative path without '..'", where)


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a .env file (python-dotenv's reading: quotes, `export`, inline comments);
    a missing file is empty."""
    if not path.is_file():
        return {}
    try:
        return {key: value for key, value in dotenv_values(path, encoding="utf-8").items() if value is not None}
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {display_path(path)}: {error}") from None


_ENVIRONMENT = {
    "url": ("KESTRA_URL", "KESTRA_HOST"),
    "tenant": ("KESTRA_TENANT",),
    "username": ("KESTRA_USERNAME",),
    "password": ("KESTRA_PASSWORD",),
    "token": ("KESTRA_API_TOKEN",),
}


def _from_environment(environ: Mapping[str, str], name: str | None = None, own: Mapping[str, object] | None = None,
                      url_in_file: bool = False, used: dict[str, str] | None = None) -> dict[str, str]:
    """The server's URL, tenant and credentials from the environment. In an environment, its own
    variables (KESTRA_PROD_URL, KESTRA_PROD_PASSWORD, or the names its `credentials` give) come
    first; the plain ones serve only where it has none, and never for an environment whose section
    names its own server (the plain credentials are another server's)."""
    found = {}
    used = {} if used is None else used  # target -> the variable it came from
    for target, variables in _ENVIRONMENT.items():
        for variable in variables:
            if environ.get(variable):
                found[target] = environ[variable]
                used[target] = variable
                break
    if name is None:
        return found
    if url_in_file:
        found.pop("url", None)
    prefix = variable_prefix(name)
    named = {target: str((own or {}).get(target) or prefix + suffix)
             for target, suffix in (("url", "URL"), ("tenant", "TENANT"), ("username", "USERNAME"),
                                    ("password", "PASSWORD"), ("token", "API_TOKEN"))}
    chosen = {target: environ[variable] for target, variable in named.items() if environ.get(variable)}
    used.update((target, named[target]) for target in chosen)
    own_credentials = any(target in chosen for target in ("username", "password", "token")) or any(
        (own or {}).get(k) for k in ("username", "password", "token"))
    if own_credentials or url_in_file:  # a server of its own never gets the plain KESTRA_* credentials
        for target in ("username", "password", "token"):
            found.pop(target, None)
    return {**found, **chosen}


def _previewed(settings: Settings, prefix: str) -> Settings:
    """A preview (--namespace-prefix): the chosen environment (or one named `preview` when the file
    defines none) under `prefix`, every trigger off, so that the copy never runs on its own."""
    if not NAMESPACE.fullmatch(prefix):
        raise ConfigError(f"--namespace-prefix: '{prefix}' is not a valid start of a Kestra namespace (lower-case letters, digits, '.', '_', '-')")
    if settings.environment is None and settings.environments:
        raise ConfigError(f"--namespace-prefix makes a preview of an environment: choose one of {', '.join(settings.environments)} "
                          f"with --env (or {ENVIRONMENT_VARIABLE})")
    base = settings.environment or Environment("preview")
    flows = replace(settings.overlays.get("flow") or FlowOverlay(), disable_triggers=True, trigger_types=())
    return replace(settings, environment=replace(base, prefix=prefix, preview=prefix), overlays={**settings.overlays, "flow": flows})


def _environment(name: str, own: Mapping[str, object]) -> Environment:
    renames = tuple(sorted(dict(own.get("renames") or {}).items(), key=lambda item: -len(item[0])))
    return Environment(name, str(own.get("prefix") or ""), renames, bool(own.get("watch")))


def _overlay(own: Mapping[str, object]) -> FlowOverlay:
    """What an environment changes in each flow."""
    return FlowOverlay(bool(own.get("disable_triggers")), tuple(t.lower() for t in own.get("trigger_types") or ()),
                       dict(own.get("variables") or {}), dict(own.get("labels") or {}))


def _check(settings: Settings) -> None:
    """Rules across values, whatever their source (file values were range-checked where they were read;
    flags by click)."""
    server = settings.server
    if server.url is not None:
        try:
            parts = urlsplit(server.url)
            parts.port  # noqa: B018 - parses the port, raising ValueError when it is not a number
        except ValueError as error:
            raise ConfigError(f"the server URL is not a valid URL ({error})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the server URL must start with http:// or https:// and name a host")
        if parts.username or parts.password:
            raise ConfigError(
                "the server URL must not hold credentials; set KESTRA_USERNAME / KESTRA_PASSWORD instead"
            )
        if re.search(r"/api(/v1)?/?$", parts.path or ""):
            root = server.url[: server.url.rfind("/api")]
            raise ConfigError(f"the server URL is the server's own address ({root}), without Kestra's API path "
                              f"({parts.path}): kestra-sync adds /api/v1/<tenant> itself")
    if server.credentials.password and not server.credentials.username:
        raise ConfigError("a password was given without a username (KESTRA_USERNAME or --username)")
    for mapping in settings.namespace_files.mappings:
        if not mapping.local.absolute().is_relative_to(settings.root):
            raise ConfigError(f"files.mappings: {mapping.local} is outside the repository ({settings.root})",
                              mapping.where)
    if server.kestra_version is not None:
        try:
            release(server.kestra_version)
        except ConfigError as error:
            raise ConfigError(f"server.kestra_version / --kestra-version: {error}") from None

"""kestra-sync.yaml + environment (+ .env) + flags -> Settings.

Precedence: flags beat the environment, the environment beats the file. Credentials come only from
the environment or flags: a config file is committed to Git, so credentials found in it are refused.
Every bad value is reported with the file, line and key it came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node

from kestrasync.errors import ConfigError
from kestrasync.model import SourceLocation
from kestrasync.scanner import NAMESPACE, ScanOptions, display_path
from kestrasync.yamltext import YamlProblem, decode_utf8, load_mapping, to_python

CONFIG_NAME = "kestra-sync.yaml"
CREDENTIAL_KEYS = frozenset({"username", "password", "token", "api_token", "apiToken"})


@dataclass(frozen=True)
class Settings:
    """Everything a command needs, resolved. Credentials are kept out of repr()."""

    url: str | None = None
    tenant: str = "main"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    retries: int = 4
    retry_backoff: float = 0.25  # seconds before the first retry; doubled each time, with jitter
    verify_tls: bool = True
    ca_cert: str | None = None
    config_file: Path | None = None
    root: Path = Path(".")
    paths: tuple[Path, ...] = (Path("."),)
    include: tuple[str, ...] = ("**/*.yml", "**/*.yaml")
    exclude: tuple[str, ...] = ()
    max_file_size: int = 1024 * 1024
    namespaces: tuple[str, ...] = ()  # owned namespace prefixes; empty = those found in the files
    protected: tuple[str, ...] = ("system",)
    prune: bool = False
    max_deletes: int = 10
    allow_empty: bool = False
    parallelism: int = 8
    lock_namespace: str = "system"
    lock_key: str = "kestra-sync-lock"
    lock_ttl: int = 1800
    lock_timeout: float = 0.0
    lock: bool = True

    @property
    def scan_options(self) -> ScanOptions:
        excluded = self.exclude + ((self.config_file.name,) if self.config_file else ())
        return ScanOptions(root=self.root, include=self.include, exclude=excluded, max_file_bytes=self.max_file_size)


# The file's schema: key -> (Settings field, type[, bound]); nested mappings are dicts. A bound of
# POSITIVE means "greater than 0", a number "at least that", a pattern "every item matches it".
POSITIVE = "positive"
_SCHEMA: dict = {
    "server": {
        "url": ("url", str),
        "tenant": ("tenant", str),
        "timeout": ("timeout", float, POSITIVE),
        "retries": ("retries", int, 0),
        "retry_backoff": ("retry_backoff", float, 0),
        "verify_tls": ("verify_tls", bool),
        "ca_cert": ("ca_cert", str),
    },
    "flows": {
        "paths": ("paths", list),
        "include": ("include", list),
        "exclude": ("exclude", list),
        "max_file_size": ("max_file_size", int, POSITIVE),
    },
    "namespaces": ("namespaces", list, NAMESPACE),
    "prune": {
        "enabled": ("prune", bool),
        "max_deletes": ("max_deletes", int, 0),
        "allow_empty": ("allow_empty", bool),
        "protected_namespaces": ("protected", list, NAMESPACE),
    },
    "apply": {"parallelism": ("parallelism", int, POSITIVE)},
    "lock": {
        "enabled": ("lock", bool),
        "namespace": ("lock_namespace", str),
        "key": ("lock_key", str),
        "ttl": ("lock_ttl", int, POSITIVE),
        "timeout": ("lock_timeout", float, 0),
    },
}


def find_config(start: Path) -> Path | None:
    """kestra-sync.yaml in `start` or the nearest directory above it."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    config: Path | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Resolve settings: the file (given, or found upwards from `cwd`), then the environment, then flags.

    `overrides` holds flag values keyed by Settings field; None values are ignored.
    """
    cwd = cwd or Path.cwd()
    environ = dict(os.environ if environ is None else environ)
    config = config or find_config(cwd)
    root = (config.parent if config is not None else cwd).absolute()
    # The repository is the config file's directory, wherever the command runs from: a scan of only
    # the working directory would make a prune delete the flows declared elsewhere.
    values: dict[str, object] = {"root": root, "paths": (root,)}
    if config is not None:
        values.update(read_config_file(config), config_file=config)
    values.update(_from_environment({**read_dotenv(cwd / ".env"), **environ}))
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    if flags.keys() & {"username", "password"}:  # credentials come as a kind: a flag's kind wins whole
        values.pop("token", None)
    if "token" in flags:
        values.pop("username", None)
        values.pop("password", None)
    values.update(flags)
    settings = replace(Settings(), **values)
    _check(settings)
    return settings


def read_config_file(path: Path) -> dict[str, object]:
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
    if "paths" in values:  # paths in the file are relative to the file, not to the working directory
        values["paths"] = tuple(base / p for p in values["paths"])
    if "ca_cert" in values:
        values["ca_cert"] = str(base / values["ca_cert"])
    return values


def _read_section(node: MappingNode, schema: dict, shown: str, prefix: str) -> dict[str, object]:
    values: dict[str, object] = {}
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
        if isinstance(spec, dict):
            if not isinstance(value, MappingNode):
                raise ConfigError(f"'{prefix}{name}' must be a mapping", where)
            values.update(_read_section(value, spec, shown, f"{prefix}{name}."))
        else:
            target, kind, *bound = spec
            values[target] = _typed(value, kind, f"{prefix}{name}", shown, *bound)
    return values


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
    if bound == POSITIVE and value <= 0:
        raise ConfigError(f"'{name}' must be greater than 0", where)
    if isinstance(bound, int) and value < bound:
        raise ConfigError(f"'{name}' must be {bound} or more", where)
    return value


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, `export` and quotes allowed); missing file = empty."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    values = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _from_environment(environ: Mapping[str, str]) -> dict[str, object]:
    names = {
        "url": ("KESTRA_URL", "KESTRA_HOST"),
        "tenant": ("KESTRA_TENANT",),
        "username": ("KESTRA_USERNAME",),
        "password": ("KESTRA_PASSWORD",),
        "token": ("KESTRA_API_TOKEN",),
    }
    found = {}
    for target, variables in names.items():
        for variable in variables:
            if environ.get(variable):
                found[target] = environ[variable]
                break
    return found


def _check(settings: Settings) -> None:
    """Rules across values, whatever their source (file values were range-checked where they were read;
    flags by click)."""
    if settings.url is not None:
        try:
            parts = urlsplit(settings.url)
            parts.port  # noqa: B018 - parses the port, raising ValueError when it is not a number
        except ValueError as error:
            raise ConfigError(f"the server URL is not a valid URL ({error})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the server URL must start with http:// or https:// and name a host")
        if parts.username or parts.password:
            raise ConfigError(
                "the server URL must not hold credentials; set KESTRA_USERNAME / KESTRA_PASSWORD instead"
            )
    if settings.password and not settings.username:
        raise ConfigError("a password was given without a username (KESTRA_USERNAME or --username)")


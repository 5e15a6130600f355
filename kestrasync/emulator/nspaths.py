"""How Kestra reads a namespace-file path, per version: the Java string, URI and Path rules it goes through.

Clients see these rules, so they are imitated rather than tidied (NamespaceFileController, NamespaceFile,
LocalStorage at v1.0.3 and develop c94e7743):

- 1.x turns `?path=` into a URI with `URLEncoder`, whose only lasting effect is a space becoming `+`, then
  rebuilds `kestra:///<ns as dirs>/_files/<path>` with `URI.create`, so `#` and `?` cut the path there, `%XX`
  is decoded and a character a URI refuses is 422 `Illegal character in path at index N: kestra:///...`;
  the local storage refuses `../` or `/..` anywhere in that URI.
- 2.x keeps the path as given (`new URI(null, null, path, null)`) and normalizes it: backslashes become
  slashes, a leading slash is added, a `..` segment is refused, `.` segments drop out.
- Both refuse `_flows` and what is under it (`Forbidden path: ...`) before touching the storage.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from .errors import conversion_error, illegal_argument

STORAGE_BASE = "/app/storage"  # LocalStorage `basePath` in Kestra's docker-compose.yml; error messages show it
TERMINATORS = "\n\r\u0085\u2028\u2029"  # what Java's `.` and `$` treat as line ends
_LINE = f"[^{TERMINATORS}]*"
FORBIDDEN = re.compile(f"/_flows(?:/{_LINE})?")  # forbiddenPathPatterns, used with Matcher.matches()
TRAVERSAL = "File should be accessed with their full path and not using relative '..' path."

_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()")
_PATH_CHARS = _UNRESERVED | frozenset(":@&=+$,;/")
_QUERY_CHARS = _UNRESERVED | frozenset(";/?:@&=+$,[]")
_HEX = frozenset("0123456789abcdefABCDEF")
_PLAIN = re.compile(r"[A-Za-z0-9\-_.!~*'():@&=+$,;/]*")  # nothing to check nor decode: the common case


def namespace_prefix(namespace: str) -> str:
    """`StorageContext.namespaceFilePrefix`: `/company/team/_files` for `company.team`."""
    return "/" + namespace.replace(".", "/") + "/_files"


def guard_forbidden(path: str) -> None:
    if FORBIDDEN.fullmatch(path):
        raise illegal_argument(f"Forbidden path: {path}")


def java_path(text: str) -> str:
    """`Path.of(text).toString()` on Unix: repeated slashes collapse and a trailing one goes."""
    if "\0" in text:
        raise illegal_argument(f"Nul character not allowed: {text}")
    collapsed = re.sub("/+", "/", text)
    return collapsed[:-1] if len(collapsed) > 1 and collapsed.endswith("/") else collapsed


def uri_path(text: str, start: int = 0) -> str:
    """The decoded path of `URI.create(text)` (or of a `@QueryValue URI`), read from `start` (past a
    `scheme://`): cut at `?` or `#`, `%XX` decoded.

    Raises `ValueError` with java.net.URI's message (`Illegal character in path at index 2: /a b`).
    """
    if _PLAIN.fullmatch(text, start):
        return text[start:]
    ends = [index for index in (text.find("?", start), text.find("#", start)) if index != -1]
    path_end = min(ends, default=len(text))
    _check(text, start, path_end, _PATH_CHARS, "path")
    rest = path_end
    if rest < len(text) and text[rest] == "?":
        fragment = text.find("#", rest + 1)
        rest = len(text) if fragment == -1 else fragment
        _check(text, path_end + 1, rest, _QUERY_CHARS, "query")
    if rest < len(text):
        _check(text, rest + 1, len(text), _QUERY_CHARS, "fragment")
    return unquote(text[start:path_end], errors="replace")


def _check(text: str, start: int, stop: int, allowed: frozenset, part: str) -> None:
    index = start
    while index < stop:
        char = text[index]
        if char == "%":
            if index + 2 >= len(text) or text[index + 1] not in _HEX or text[index + 2] not in _HEX:
                raise ValueError(f"Malformed escape pair at index {index}: {text}")
            index += 3
            continue
        if char not in allowed and not _other(char):
            raise ValueError(f"Illegal character in {part} at index {index}: {text}")
        index += 1


def _other(char: str) -> bool:
    """java.net.URI lets through visible non-ASCII characters (not space separators, not controls)."""
    return ord(char) > 128 and unicodedata.category(char) not in ("Zs", "Zl", "Zp", "Cc")


def storage_uri(namespace: str, path: str) -> str:
    """1.x `NamespaceFile.of(namespace, Path.of(path)).uri()` as text: `kestra:///<prefix>/<path>`."""
    rest = java_path(path)
    rest = "" if rest == "/" else re.sub(r"^[.]*[\\|/]+", "", rest, count=1)
    return "kestra://" + (namespace_prefix(namespace) + ("/" + rest if rest else "")).replace("\\", "/")


def local_key(namespace: str, path: str) -> tuple[str, str]:
    """1.x: the storage file a path names, as `(key, shown)`: `key` is `/a/b` under the namespace root (`/`
    for the root itself), `shown` the absolute path the JDK puts in its error messages (without the tenant
    directory, which the caller adds). Raises Kestra's 422 for what `URI.create` or the storage refuse."""
    uri = storage_uri(namespace, path)
    try:
        decoded = uri_path(uri, start=len("kestra://"))
    except ValueError as error:
        raise illegal_argument(str(error)) from None
    if "../" in uri or "/.." in uri:
        raise illegal_argument(TRAVERSAL)
    parts = [part for part in decoded.split("/") if part not in ("", ".")]
    rest = parts[len(namespace_prefix(namespace).split("/")) - 1:]
    if ".." in rest:  # an escaped `%2E%2E`, which 1.0.3 follows out of the namespace: refused here instead
        raise illegal_argument(TRAVERSAL)
    return "/" + "/".join(rest), java_path(decoded)


def normalize(path: str) -> str:
    """2.x `NamespaceFile.normalize(Path.of(path))`: the metadata path, `/a/b` (`/` for the root)."""
    logical = java_path(path).replace("\\", "/")
    if not logical.startswith("/"):
        logical = "/" + logical
    if logical == ".." or logical.startswith("../") or logical.endswith("/..") or "/../" in logical:
        raise illegal_argument(TRAVERSAL)
    return "/" + "/".join(part for part in logical.split("/") if part not in ("", "."))


def parent_path(path: str) -> str | None:
    """`NamespaceFileMetadata.parentPath`: `/a/` for `/a/b` and `/a/b/`, `/` for `/a`, None for `/`."""
    bare = path[:-1] if path.endswith("/") else path
    return bare[:bare.rindex("/") + 1] if "/" in bare else None


def java_split(text: str, separator: str) -> list[str]:
    """`String.split`: trailing empty strings are removed."""
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def uri_argument(name: str, value: str) -> str:
    """A `@QueryValue URI` parameter: its decoded path, or Micronaut's conversion failure."""
    try:
        return uri_path(value)
    except ValueError as error:
        raise conversion_error(name, value, str(error)) from None

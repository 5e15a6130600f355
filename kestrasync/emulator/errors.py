"""Kestra's error answers, in one place, for both wire formats a client may meet.

Handlers raise `ApiError`; `render()` turns it into bytes. Kestra 0.24/1.x (Micronaut `JsonError` via Kestra's
`ErrorController`) answers `{"message", "_links": {"self": {"href", "templated"}}, "_embedded": {"errors": [...]}}`
where `message` carries a prefix naming the exception family (`Invalid entity: `, `Not Found: `, `Illegal state: `...).
Kestra 2.x answers RFC 9457 `application/problem+json` (`ProblemDetail`: type, title, status, detail, instance,
errors[], traceId), and maps a few cases to other statuses (an existing flow is 409 `entity-already-exists`).
Keeping the *kind* of failure apart from its text lets one raise site serve both.

Nothing here knows about HTTP frameworks; the app wraps the bytes in a response.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from http import HTTPStatus

PROBLEM_BASE = "https://kestra.io/docs/api-reference/problems/"


@dataclass(frozen=True)
class Violation:
    """One constraint violation: `_embedded.errors[]` in 1.x, `errors[]` in 2.x problems.

    `friendly` is 2.x's `path` (`ViolationPaths.toFriendlyPath`: `tasks[my-task].id`), when it differs from
    the raw property path that 1.x prints and from which 2.x derives the RFC 6901 `pointer`.
    """

    message: str
    path: str | None  # None: no path at all (Micronaut's "Page Not Found")
    friendly: str | None = None


class ApiError(Exception):
    """A failed request, described once and rendered per Kestra version.

    `kind` is the exception family Kestra maps (constraint, already_exists, not_found, illegal_state,
    illegal_argument, query_value, conversion, http_status, internal); `detail` is the exception's own
    message, without prefix.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str | None,
        violations: tuple[Violation, ...] = (),
        headers: dict[str, str] | None = None,
        problem_detail: str | None = None,
    ) -> None:
        super().__init__(detail or kind)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.violations = violations
        self.headers = headers or {}
        self.problem_detail = problem_detail  # 2.x words some failures differently

    @property
    def message(self) -> str:
        """The 1.x `message`: Kestra's ErrorController prefix plus the exception message."""
        prefix = _PREFIXES.get(self.kind) or HTTPStatus(self.status).phrase
        return prefix if self.detail is None else f"{prefix}: {self.detail}"


_PREFIXES = {
    "constraint": "Invalid entity",
    "already_exists": "Invalid entity",
    "illegal_argument": "Illegal argument",
    "illegal_state": "Illegal state",
    "conflict": "Illegal state",
    "resource_expired": "Resource has expired",
    "internal": "Internal server error",
    "invalid_json": "Invalid json",
    "conversion": "Internal server error",  # 1.x words a failed conversion so, at 422
}


def invalid_entity(detail: str, violations: tuple[Violation, ...] | list[Violation]) -> ApiError:
    """A ConstraintViolationException: 422 `Invalid entity: ...` with one error per violation."""
    return ApiError(422, "constraint", detail, tuple(violations))


def violation_error(violations: list[Violation]) -> ApiError:
    """A set of manual violations: the jakarta message is `path: message` joined with ", "."""
    return invalid_entity(", ".join(f"{v.path}: {v.message}" for v in violations), violations)


def already_exists(namespace: str, flow_id: str) -> ApiError:
    """Create on a live flow: 422 `flow.id: Flow id already exists` in 1.x, 409 `entity-already-exists` in 2.x."""
    return ApiError(
        422, "already_exists", "flow.id: Flow id already exists", (Violation("Flow id already exists", "flow.id"),),
        problem_detail=f"A flow with id '{flow_id}' already exists in namespace '{namespace}'.",
    )


def not_found(detail: str | None = None) -> ApiError:
    """404: a bare `Not Found` when a controller returns nothing, `Not Found: ...` for NoSuchElementException."""
    return ApiError(404, "not_found", detail)


def illegal_state(detail: str) -> ApiError:
    """An IllegalStateException: 409 `Illegal state` in 1.x; 2.x deliberately leaves it unmapped, so 500."""
    return ApiError(409, "illegal_state", detail)


def conflict(detail: str) -> ApiError:
    """An IllegalStateException in 1.x that 2.x raises as a ConflictException/FlowBlockedException (409 `conflict`)."""
    return ApiError(409, "conflict", detail)


def resource_expired(detail: str = "The requested value has expired") -> ApiError:
    """ResourceExpiredException (an expired KV entry, read once): 410 in both versions."""
    return ApiError(410, "resource_expired", detail)


def illegal_argument(detail: str) -> ApiError:
    return ApiError(422, "illegal_argument", detail)


def http_status(status: int, detail: str | None = None, headers: dict[str, str] | None = None) -> ApiError:
    """An HttpStatusException: the message is the reason phrase, then the detail."""
    return ApiError(status, "http_status", detail, headers=headers)


def missing_query_value(name: str) -> ApiError:
    """UnsatisfiedQueryValueRouteException: 400 `Bad Request: Required QueryValue [x] not specified`;
    2.x gives it its own type, `invalid-query-parameter`."""
    return ApiError(400, "query_value", f"Required QueryValue [{name}] not specified")


def conversion_error(name: str, value: str, cause: str) -> ApiError:
    """ConversionErrorException (a query value that does not convert): 1.x answers 422 with the
    `Internal server error` prefix; 2.x withholds the message (`responseWithoutMessage`)."""
    return ApiError(422, "conversion", f"Failed to convert argument [{name}] for value [{value}] due to: {cause}",
                    problem_detail="Invalid argument")


def internal(detail: str) -> ApiError:
    return ApiError(500, "internal", detail)


def invalid_json(detail: str) -> ApiError:
    return ApiError(422, "invalid_json", detail)


def render(error: ApiError, href: str, kestra_version: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of `error` as the imitated Kestra version serves it."""
    if kestra_version.startswith("2"):
        body, media_type = _problem(error, href), "application/problem+json"
        status = body["status"]
    else:
        body, media_type, status = _json_error(error, href), "application/json", error.status
    headers = {"content-type": media_type, **error.headers}
    return status, headers, json.dumps(body, ensure_ascii=False).encode()


def _json_error(error: ApiError, href: str) -> dict:
    body: dict = {"message": error.message, "_links": {"self": {"href": href, "templated": False}}}
    if error.violations:
        # Micronaut 4 serializes errors as a list even when there is one (kestra-api.md §6.2 recommends a list).
        body["_embedded"] = {"errors": [_drop_none({"message": v.message, "path": v.path}) for v in error.violations]}
    return body


# kind -> (slug, title, status) in Kestra 2.x's ProblemTypes catalogue.
_PROBLEM_TYPES = {
    "constraint": ("validation-failed", "Validation failed", 422),
    "already_exists": ("entity-already-exists", "Entity already exists", 409),
    "not_found": ("not-found", "Resource not found", 404),
    "illegal_state": ("internal-error", "Internal server error", 500),  # KestraProblemMappings omits it
    "conflict": ("conflict", "Conflict", 409),
    "resource_expired": ("resource-expired", "Resource has expired", 410),
    "illegal_argument": ("invalid-argument", "Invalid argument", 422),
    "invalid_json": ("invalid-json", "Invalid JSON", 422),
    "internal": ("internal-error", "Internal server error", 500),
    "query_value": ("invalid-query-parameter", "Invalid query parameter", 400),
    "conversion": ("invalid-argument", "Invalid argument", 422),
}
_BY_STATUS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Access denied"),
    404: ("not-found", "Resource not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    410: ("resource-expired", "Resource has expired"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-entity", "Invalid entity"),
    423: ("locked", "Resource is locked"),
    429: ("too-many-requests", "Too many requests"),
    503: ("service-unavailable", "Service unavailable"),
    504: ("timeout", "Operation timed out"),
}


def _problem(error: ApiError, href: str) -> dict:
    if error.kind in _PROBLEM_TYPES:
        slug, title, status = _PROBLEM_TYPES[error.kind]
    else:  # an explicit HTTP status wins over any type (ProblemFactory.statusOf)
        status = error.status
        slug, title = _BY_STATUS.get(status) or (("internal-error", "Internal server error") if status >= 500 else ("bad-request", "Bad request"))
    instance = href.split("?", 1)[0]
    problem: dict = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if status >= 500:
        # Server errors never echo the exception; a traceId ties them to the log (ProblemFactory).
        problem.update(detail="An unexpected error occurred. Quote the traceId when contacting support.",
                       instance=instance, traceId=secrets.token_hex(16))
        return problem
    problem.update(detail=error.problem_detail or error.detail or title, instance=instance)
    if error.violations and error.kind != "already_exists":  # the catch-all handler passes no errors
        entries = [(pointer(v.path), v) for v in error.violations]
        entries.sort(key=lambda item: (item[0] is None, item[0] or ""))  # ofViolations: by pointer, nulls last
        problem["errors"] = [_non_empty({"detail": v.message, "pointer": p, "path": v.friendly or v.path})
                             for p, v in entries]
    return problem


def pointer(path: str | None) -> str | None:
    """The RFC 6901 pointer Kestra 2.x derives from a violation's property path (`ViolationPaths.toJsonPointer`):
    `tasks[0].id` is `/tasks/0/id`, a manual `flow.id` is `/flow/id`, each segment escaped (`~0`, `~1`)."""
    if path is None:
        return None
    segments, current, depth = [], "", 0
    for char in path:
        if char == "[" and depth == 0 or char == "]" and depth > 0 or char == "." and depth == 0:
            if current:
                segments.append(current)
            current = ""
            depth += 1 if char == "[" else -1 if char == "]" else 0
        else:
            current += char
    if current:
        segments.append(current)
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


def _non_empty(item: dict) -> dict:
    """`@JsonInclude(NON_EMPTY)`: null and empty strings are left out."""
    return {key: value for key, value in item.items() if value not in (None, "")}


def _drop_none(item: dict) -> dict:
    return {key: value for key, value in item.items() if value is not None}

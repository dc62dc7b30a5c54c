"""RFC 7807 problem details: the typed errors of the platform and the one middleware rendering them.

The body is the union of the ETSI MEC ``ProblemDetails`` (type, title, status, detail, instance)
and the 3GPP TS 29.571 extension (``cause``, ``invalidParams``), so MEC and CAPIF clients both
parse it. ``invalidParams[].param`` follows TS 29.571 clause 5.2.4.15: a JSON Pointer for a body
attribute, ``query <name>`` for a query parameter, ``header <name>`` for a header and ``{name}``
for a path variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from mep.core import keys

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger("mep.problem")


@dataclass(frozen=True, slots=True)
class InvalidParam:
    param: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"param": self.param, "reason": self.reason}


class Problem(Exception):
    """An error the client caused or may handle; rendered as ``application/problem+json``."""

    status: int = 400

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        cause: str | None = None,
        invalid_params: Sequence[InvalidParam] = (),
        headers: Mapping[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        if status is not None:
            self.status = status
        self.detail = detail
        self.cause = cause
        self.invalid_params = tuple(invalid_params)
        self.headers = dict(headers or {})
        self.title = title or HTTPStatus(self.status).phrase

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.cause:
            body["cause"] = self.cause
        if self.invalid_params:
            body["invalidParams"] = [p.to_json() for p in self.invalid_params]
        return body


class BadRequest(Problem):
    status = 400


class Unauthorized(Problem):
    """401: no credentials, or credentials that do not verify (RFC 6750 ``invalid_token``)."""

    status = 401

    def __init__(self, detail: str, *, cause: str = "INVALID_TOKEN") -> None:
        escaped = detail.replace("\\", "\\\\").replace('"', '\\"')
        challenge = f'Bearer realm="mep", error="invalid_token", error_description="{escaped}"'
        super().__init__(detail, cause=cause, headers={"WWW-Authenticate": challenge})


class Forbidden(Problem):
    status = 403


class NotFound(Problem):
    status = 404


class Conflict(Problem):
    status = 409


class PreconditionFailed(Problem):
    status = 412


class UnsupportedMediaType(Problem):
    status = 415


class ServiceUnavailable(Problem):
    status = 503


def problem_response(problem: Problem, instance: str) -> web.Response:
    headers = dict(problem.headers)
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.body(instance), separators=(",", ":")),
        content_type=PROBLEM_JSON,
        headers=headers,
    )


def _from_http_exception(exc: web.HTTPException) -> Problem:
    detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
    if exc.status == 404:
        return NotFound(detail or "no resource at this URI")
    if exc.status == 405:
        allowed = getattr(exc, "allowed_methods", ())
        methods = ", ".join(sorted(allowed))
        return Problem(
            f"method not allowed here; allowed: {methods}",
            status=405,
            headers={"Allow": methods},
        )
    if exc.status == 413:
        return Problem("request body too large", status=413)
    return Problem(detail or HTTPStatus(exc.status).phrase, status=exc.status)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as ProblemDetails; an unexpected one as a logged 500."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem, request.rel_url.raw_path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(_from_http_exception(exc), request.rel_url.raw_path)
    except Exception:
        request_id = request.get(keys.REQUEST_ID, "")
        log.exception("unhandled error", path=request.path, method=request.method)
        internal = Problem(
            f"internal error; quote request id {request_id} to the operator", status=500
        )
        return problem_response(internal, request.rel_url.raw_path)

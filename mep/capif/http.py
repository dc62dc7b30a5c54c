"""What every CAPIF API shares over HTTP: its routes, the bearer credential of onboarding and
registration, merge-patch bodies, and the answer to a write."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from mep.core import keys
from mep.core.http import json_response, read_json_body
from mep.core.problem import BadRequest, InvalidParam
from mep.core.validation import invalid_params

M = TypeVar("M", bound=BaseModel)


def add_routes(app: web.Application, routes: Sequence[web.RouteDef]) -> None:
    """``routes``, and each again under ``/`` + its path: clients that join ``https://host/``
    and ``/api-...`` send ``//api-...``."""
    for prefix in ("", "/"):
        app.router.add_routes(
            [web.RouteDef(r.method, f"{prefix}{r.path}", r.handler, r.kwargs) for r in routes]
        )


def bearer_credential(request: web.Request) -> str | None:
    """The credential of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
    return credential.strip() or None if scheme.lower() == "bearer" else None


async def read_merge_patch(request: web.Request) -> dict[str, Any]:
    """The body of a PATCH: a JSON object (RFC 7396), else 400."""
    patch = await read_json_body(request)
    if not isinstance(patch, dict):
        raise BadRequest("the merge patch must be a JSON object")
    return patch


def answer(request: web.Request, body: BaseModel, *, created: bool, path: str) -> web.Response:
    """``body``: 201 with its ``Location`` (``path`` under the CCF's URL) when the request
    created it, else 200."""
    if not created:
        return json_response(body)
    location = f"{request.app[keys.SETTINGS].ccf_url}{path}"
    return json_response(body, status=201, headers={"Location": location})


def bad_query(name: str, reason: str) -> BadRequest:
    return BadRequest(
        f"invalid query parameter {name}: {reason}",
        invalid_params=[InvalidParam(f"query {name}", reason)],
    )


def json_query(name: str, raw: str, model: type[M]) -> M:
    """A query parameter whose value is JSON (``content: application/json`` in the OpenAPI
    file), as ``model``; 400 naming the parameter and the member otherwise."""
    try:
        decoded = json.loads(raw)
    except ValueError as error:
        raise bad_query(name, f"not JSON: {error}") from None
    try:
        return model.model_validate(decoded)
    except ValidationError as error:
        params = [
            InvalidParam(f"query {name}", f"{p.param}: {p.reason}" if p.param != "/" else p.reason)
            for p in invalid_params(error)
        ]
        raise BadRequest(f"invalid query parameter {name}", invalid_params=params) from None


_HEX = frozenset("0123456789abcdefABCDEF")


def check_features(request: web.Request, name: str) -> None:
    """400 naming the query parameter ``name`` when it is given and not a hexadecimal
    feature bitmask (TS 29.571 SupportedFeatures)."""
    value = request.query.get(name)
    if value is not None and not set(value) <= _HEX:
        raise bad_query(name, "must be a hexadecimal feature bitmask")


def date_time_query(request: web.Request, name: str) -> dt.datetime | None:
    """The query parameter ``name`` as an RFC 3339 date-time with an offset, if given; else
    400 naming it."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_query(name, "must be an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise bad_query(name, "must carry a time zone offset (RFC 3339)")
    return moment

"""What every CAPIF API shares over HTTP: its routes, the bearer credential of onboarding and
registration, merge-patch bodies, and the answer to a write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from mep.core import keys
from mep.core.http import json_response, read_json_body
from mep.core.problem import BadRequest


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

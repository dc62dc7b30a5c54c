"""``X-Request-ID``: accepted from the caller when sane, generated otherwise, echoed always."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from mep.core import keys

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:@+=/-]{1,128}$")

log = structlog.get_logger("mep.access")


def _request_id(request: web.Request) -> str:
    given = request.headers.get(HEADER, "")
    return given if _SANE.match(given) else uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the request id to the logs of this request and write one access line."""
    request_id = _request_id(request)
    request[keys.REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: every response, errors included, carries the id."""
    request_id = request.get(keys.REQUEST_ID)
    if request_id:
        response.headers[HEADER] = request_id

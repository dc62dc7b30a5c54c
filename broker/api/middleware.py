"""What every ``/v2`` request passes, in the order the OSB checkers and Cloud Foundry rely on:
authentication (401), then ``X-Broker-API-Version`` (412), then the handler (400, 422, ...).
Errors of any kind leave in the OSB shape."""

from __future__ import annotations

import base64
import binascii
import hmac
import re

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from broker.api import keys
from broker.api.responses import json
from broker.errors import OsbError
from broker.records import Audit

log = structlog.get_logger("broker.api")

#: Oldest version whose requests we understand; Kubernetes sends 2.14, Cloud Foundry 2.15.
MIN_MINOR = 11
SUPPORTED = "2.11 to 2.17 (any 2.x from 2.11)"
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)\s*$")


def _authorised(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    auth = request.app[keys.AUTH]
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        ok_user = hmac.compare_digest(user.encode(), auth.username.encode())
        ok_password = hmac.compare_digest(password.encode(), auth.password.encode())
        return bool(sep) and ok_user and ok_password
    if scheme.lower() == "bearer" and auth.bearer:
        return hmac.compare_digest(value.strip().encode(), auth.bearer.encode())
    return False


def _check_version(request: web.Request) -> None:
    raw = request.headers.get("X-Broker-API-Version", "")
    match = _VERSION.match(raw)
    if not match or int(match.group(1)) != 2 or int(match.group(2)) < MIN_MINOR:
        shown = repr(raw) if raw else "missing"
        raise OsbError(
            412,
            f"X-Broker-API-Version {shown} is not supported; this broker accepts {SUPPORTED}",
            error="PreconditionFailed",
        )


def audit_of(request: web.Request) -> Audit:
    """Who the platform says asked (``X-Broker-API-Originating-Identity``), for the record."""
    raw = request.headers.get("X-Broker-API-Originating-Identity", "").strip()
    request_identity = request.headers.get("X-Broker-API-Request-Identity") or None
    if not raw:
        return Audit(request_identity=request_identity)
    platform, _, encoded = raw.partition(" ")
    try:
        identity = orjson.loads(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise OsbError(
            400,
            "X-Broker-API-Originating-Identity must be '<platform> <base64 of a JSON object>'",
            error="BadRequest",
        ) from None
    if not isinstance(identity, dict) or not platform:
        raise OsbError(
            400,
            "X-Broker-API-Originating-Identity must be '<platform> <base64 of a JSON object>'",
            error="BadRequest",
        )
    return Audit(platform=platform, identity=identity, request_identity=request_identity)


@web.middleware
async def osb_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    echo = {}
    if identity := request.headers.get("X-Broker-API-Request-Identity"):
        echo["X-Broker-API-Request-Identity"] = identity
    try:
        if request.path.startswith("/v2/"):
            if not _authorised(request):
                raise OsbError(
                    401,
                    "Authentication required (HTTP Basic with the broker's credentials)",
                    error="Unauthorized",
                )
            _check_version(request)
        response = await handler(request)
    except OsbError as exc:
        headers = dict(echo)
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="mep-broker"'
        return json(exc.body(), exc.status, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = dict(echo)
        if exc.status == 405:
            headers["Allow"] = exc.headers.get("Allow", "")
        body = {"error": exc.reason.replace(" ", ""), "description": exc.reason}
        return json(body, exc.status, headers)
    except Exception:
        log.exception("unexpected error", path=request.path, method=request.method)
        body = {"error": "InternalError", "description": "The broker failed unexpectedly; retry."}
        return json(body, 500, echo)
    response.headers.update(echo)
    return response

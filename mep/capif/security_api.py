"""``/capif-security/v1/trustedInvokers``: the CAPIF Security API (TS 29.222 clause 8.5,
CAPIF-1e and CAPIF-3).

The invoker (its own certificate, the id in the path) creates its security context with PUT
(201, the spec's only answer, also when it replaces one) and renegotiates it with POST
``/update`` (200; 404 without a context, which the CAPIF SDK relies on to fall back to PUT).
An AEF (its certificate) reads the entries for its APIs, revokes all of them (DELETE) or some
(POST ``/delete``); each revocation notifies the invoker.
"""

from __future__ import annotations

from aiohttp import web

from mep.capif.http import add_routes, answer
from mep.capif.identity import CapifRole, require_identity
from mep.capif.security import PATH, SecurityContexts
from mep.capif.security_models import SecurityNotification, ServiceSecurity
from mep.core import keys
from mep.core.http import json_response, read_model
from mep.core.problem import BadRequest, Forbidden, InvalidParam, NotFound

ONE = f"{PATH}/{{apiInvokerId}}"
_BOOLEANS = {"true": True, "false": False}


def _service(request: web.Request) -> SecurityContexts:
    return request.app[keys.CAPIF_SECURITY]


def query_flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false`` in any case; absent is false."""
    raw = request.query.get(name)
    if raw is None:
        return False
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        raise BadRequest(
            f"invalid query parameter {name}: must be true or false",
            invalid_params=[InvalidParam(f"query {name}", "must be true or false")],
        )
    return value


async def _invoker(request: web.Request) -> str:
    invoker_id = request.match_info["apiInvokerId"]
    await require_identity(request, CapifRole.INVOKER, invoker_id)
    return invoker_id


async def put_context(request: web.Request) -> web.Response:
    invoker_id = await _invoker(request)
    body = await read_model(request, ServiceSecurity)
    context = await _service(request).establish(invoker_id, body)
    return answer(request, context.security, created=True, path=f"{PATH}/{invoker_id}")


async def update_context(request: web.Request) -> web.Response:
    invoker_id = await _invoker(request)
    body = await read_model(request, ServiceSecurity)
    context = await _service(request).establish(invoker_id, body, must_exist=True)
    return json_response(context.security)


async def get_context(request: web.Request) -> web.Response:
    aef = await require_identity(request, CapifRole.AEF)
    security = await _service(request).for_aef(
        request.match_info["apiInvokerId"],
        aef.id,
        authentication=query_flag(request, "authenticationInfo"),
        authorization=query_flag(request, "authorizationInfo"),
    )
    return json_response(security)


async def delete_context(request: web.Request) -> web.Response:
    aef = await require_identity(request, CapifRole.AEF)
    invoker_id = request.match_info["apiInvokerId"]
    if not await _service(request).revoke_all(invoker_id, aef.id):
        raise NotFound(f"API invoker {invoker_id} holds no security context at AEF {aef.id}")
    return web.Response(status=204)


async def revoke_some(request: web.Request) -> web.Response:
    aef = await require_identity(request, CapifRole.AEF)
    invoker_id = request.match_info["apiInvokerId"]
    body = await read_model(request, SecurityNotification)
    if body.api_invoker_id != invoker_id:
        raise BadRequest(
            "apiInvokerId does not match the resource",
            invalid_params=[InvalidParam("/apiInvokerId", f"must be {invoker_id}")],
        )
    if body.aef_id is not None and body.aef_id != aef.id:
        raise Forbidden(
            f"AEF {aef.id} cannot revoke authorizations at AEF {body.aef_id}",
            cause="IDENTITY_MISMATCH",
        )
    revoked = await _service(request).revoke(
        invoker_id, aef_id=aef.id, api_ids=body.api_ids, cause=body.cause
    )
    if not revoked:
        raise NotFound(f"API invoker {invoker_id} holds none of these APIs at AEF {aef.id}")
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    add_routes(
        app,
        [
            web.put(ONE, put_context),
            web.get(ONE, get_context),
            web.delete(ONE, delete_context),
            web.post(f"{ONE}/update", update_context),
            web.post(f"{ONE}/delete", revoke_some),
        ],
    )

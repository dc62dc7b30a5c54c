"""``/aef-security/v1``: the AEF Security API (TS 29.222, ``TS29222_AEF_Security_API.yaml``),
served by the platform's AEF, its API gateway.

``POST /check-authentication``: an invoker, by the access token the CCF issued it or by its
client certificate, asks whether the AEF accepts it: yes when the credential is that
apiInvokerId's and its security context covers an API of this AEF.

``POST /revoke-authorization``: the CCF withdraws an invoker's authorization for APIs at an AEF
(``revokeInfo.aefId``, this AEF when absent). Callers: the operator's token; an AEF's
certificate for that AEF; an AMF's certificate for an AEF of its provider domain. The invoker
is notified as for any revocation.

Both answer ``supportedFeatures: "0"``: the AEF supports no optional feature of the API.
"""

from __future__ import annotations

from aiohttp import web

from mep.auth.principal import Principal
from mep.capif.domains import ProviderDomains
from mep.capif.http import add_routes
from mep.capif.identity import CapifIdentity, CapifRole, require_identity
from mep.capif.security_models import (
    CheckAuthenticationReq,
    CheckAuthenticationRsp,
    RevokeAuthorizationReq,
    RevokeAuthorizationRsp,
)
from mep.core import keys
from mep.core.http import json_response, read_model
from mep.core.problem import Forbidden, NotFound
from mep.core.tokens import CallerKind

ROOT = "/aef-security/v1"
NO_FEATURES = "0"


async def _token_caller(request: web.Request) -> Principal | None:
    """The caller of an ``Authorization`` header (checked by the gateway, if it ran)."""
    if keys.PRINCIPAL in request:
        return request[keys.PRINCIPAL]
    header = request.headers.get("Authorization")
    if header is None:
        return None
    return await request.app[keys.AUTHENTICATOR].authenticate(header)


async def check_authentication(request: web.Request) -> web.Response:
    principal = await _token_caller(request)
    if principal is None:
        invoker_id = (await require_identity(request, CapifRole.INVOKER)).id
    elif principal.kind is CallerKind.INVOKER:
        invoker_id = principal.subject
    else:
        raise Forbidden("only API invokers check their authentication here")
    body = await read_model(request, CheckAuthenticationReq)
    if body.api_invoker_id != invoker_id:
        raise Forbidden(
            f"the credential belongs to {invoker_id}, not to {body.api_invoker_id}",
            cause="IDENTITY_MISMATCH",
        )
    aef_id = request.app[keys.CAPIF_PLATFORM].aef_id
    if not await request.app[keys.CAPIF_SECURITY].covers_aef(invoker_id, aef_id):
        raise Forbidden(
            f"API invoker {invoker_id} holds no security context at AEF {aef_id}",
            cause="API_INVOKER_NOT_AUTHORIZED",
        )
    return json_response(CheckAuthenticationRsp(supported_features=NO_FEATURES))


async def _may_revoke_at(request: web.Request, function: CapifIdentity, aef_id: str) -> None:
    if function.role is CapifRole.AEF and function.id == aef_id:
        return
    if function.role is CapifRole.AMF:
        domain = await ProviderDomains(request.app[keys.STORE]).of_function(function.id)
        if domain is not None and domain.has(aef_id, CapifRole.AEF):
            return
    raise Forbidden(
        f"{function.role.value.upper()} {function.id} cannot revoke authorizations at AEF {aef_id}",
        cause="IDENTITY_MISMATCH",
    )


async def revoke_authorization(request: web.Request) -> web.Response:
    principal = await _token_caller(request)
    function: CapifIdentity | None = None
    if principal is None:
        function = await require_identity(request, (CapifRole.AEF, CapifRole.AMF))
    elif not principal.is_operator:
        raise Forbidden("only the CAPIF core function revokes authorizations")
    body = await read_model(request, RevokeAuthorizationReq)
    info = body.revoke_info
    aef_id = info.aef_id or request.app[keys.CAPIF_PLATFORM].aef_id
    if function is not None:
        await _may_revoke_at(request, function, aef_id)
    revoked = await request.app[keys.CAPIF_SECURITY].revoke(
        info.api_invoker_id, aef_id=aef_id, api_ids=info.api_ids, cause=info.cause
    )
    if not revoked:
        raise NotFound(
            f"API invoker {info.api_invoker_id} holds none of these APIs at AEF {aef_id}"
        )
    return json_response(RevokeAuthorizationRsp(supported_features=NO_FEATURES))


def setup(app: web.Application) -> None:
    add_routes(
        app,
        [
            web.post(f"{ROOT}/check-authentication", check_authentication),
            web.post(f"{ROOT}/revoke-authorization", revoke_authorization),
        ],
    )

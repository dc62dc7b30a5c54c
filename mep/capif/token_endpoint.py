"""``POST /capif-security/v1/securities/{securityId}/token``: access tokens for API invokers
(TS 29.222 clause 8.5, TS 33.122 Annex C; OAuth 2.0 client credentials, RFC 6749 clause 4.4).

The client is authenticated by its certificate (mutual TLS): ``client_id`` and ``securityId``
must be the certificate's apiInvokerId, and ``client_secret`` is ignored (the CAPIF SDK sends a
placeholder). The scope (``3gpp#<aefId>:<apiName>,...;...``) must be covered by the invoker's
security context; without one, the token grants every API of the context. Errors are
AccessTokenErr bodies (``error``, ``error_description``), never ProblemDetails.
"""

from __future__ import annotations

from aiohttp import web

from mep.auth.oauth import NO_STORE, OAuthError, read_form, require_client_credentials
from mep.capif.http import add_routes
from mep.capif.identity import CapifRole, caller_identity
from mep.capif.security import ScopeRefused
from mep.core import keys
from mep.core.http import json_response
from mep.core.problem import NotFound, Problem
from mep.core.tokens import CallerKind

TOKEN = "/capif-security/v1/securities/{securityId}/token"  # noqa: S105 - a URL path
_CHALLENGE = 'Mutual-TLS realm="capif"'


def _invalid_client(description: str) -> OAuthError:
    error = OAuthError("invalid_client", description, status=401)
    error.headers["WWW-Authenticate"] = _CHALLENGE
    return error


async def _client(request: web.Request, client_id: str) -> str:
    """The invoker the certificate authenticates, when it is ``client_id`` and the path's."""
    try:
        identity = await caller_identity(request)
    except Problem as problem:
        raise _invalid_client(problem.detail) from None
    if identity.role is not CapifRole.INVOKER:
        raise _invalid_client(f"the client certificate is an {identity.role.value}'s")
    if identity.id != client_id:
        raise _invalid_client(f"client_id {client_id} is not the certificate's {identity.id}")
    security_id = request.match_info["securityId"]
    if security_id != client_id:
        raise _invalid_client(f"securityId {security_id} is not client_id {client_id}")
    try:
        await request.app[keys.CAPIF_INVOKERS].get(client_id)
    except NotFound:
        raise _invalid_client(f"no onboarded API invoker {client_id}") from None
    return client_id


async def token(request: web.Request) -> web.Response:
    try:
        form = await read_form(request)
        require_client_credentials(form)
        client_id = form.get("client_id")
        if not client_id:
            raise OAuthError("invalid_request", "client_id is required")
        invoker_id = await _client(request, client_id)
        try:
            scope = await request.app[keys.CAPIF_SECURITY].granted_scope(
                invoker_id, form.get("scope")
            )
        except ScopeRefused as refused:
            raise OAuthError("invalid_scope", str(refused)) from None
    except OAuthError as error:
        return error.response()
    issued = request.app[keys.TOKENS].issue(
        invoker_id,
        CallerKind.INVOKER,
        request.app[keys.SETTINGS].base_url,
        extra={"client_id": invoker_id, "scope": scope},
    )
    body = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope,
    }
    return json_response(body, headers=NO_STORE)


def setup(app: web.Application) -> None:
    add_routes(app, [web.post(TOKEN, token)])

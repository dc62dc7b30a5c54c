"""OAuth 2.0 token endpoint (client credentials, RFC 6749 clause 4.4) and the published keys.

MEC applications authenticate to Mp1 with the client credentials of their instance, as ETSI GS
MEC 009 clause 7.2 expects; the token's ``sub`` is the appInstanceId. Errors here use the RFC 6749
clause 5.2 body, not ProblemDetails, because OAuth client libraries parse that shape.
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol
from urllib.parse import unquote_plus

from aiohttp import web

from mep.auth.oauth import NO_STORE, OAuthError, read_form, require_client_credentials
from mep.core import keys
from mep.core.http import json_response
from mep.core.tokens import CallerKind

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"


class ClientVerifier(Protocol):
    async def verify_client(self, client_id: str, client_secret: str) -> str | None:
        """The subject these client credentials authenticate, or ``None``."""
        ...


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (IndexError, binascii.Error, UnicodeDecodeError):
        raise _invalid_client("malformed HTTP Basic credentials", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client("malformed HTTP Basic credentials", basic=True)
    # RFC 6749 clause 2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def _invalid_client(description: str, *, basic: bool) -> OAuthError:
    error = OAuthError("invalid_client", description, status=401)
    if basic:
        error.headers["WWW-Authenticate"] = 'Basic realm="mep"'
    return error


def _client(request: web.Request, form: dict[str, str]) -> tuple[str, str, bool]:
    header = request.headers.get("Authorization", "")
    in_form = "client_id" in form or "client_secret" in form
    if header.lower().startswith("basic "):
        if in_form:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        return (*_basic_credentials(header), True)
    if not form.get("client_id") or "client_secret" not in form:
        raise _invalid_client("client_id and client_secret are required", basic=False)
    return form["client_id"], form["client_secret"], False


async def token(request: web.Request) -> web.Response:
    try:
        form = await read_form(request)
        require_client_credentials(form)
        client_id, secret, basic = _client(request, form)
        subject = await request.app[keys.CLIENTS].verify_client(client_id, secret)
        if subject is None:
            raise _invalid_client("unknown client or wrong secret", basic=basic)
    except OAuthError as error:
        return error.response()
    settings = request.app[keys.SETTINGS]
    issued = request.app[keys.TOKENS].issue(subject, CallerKind.APP, settings.base_url)
    body = {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in}
    return json_response(body, headers=NO_STORE)


async def jwks(request: web.Request) -> web.Response:
    return json_response(
        request.app[keys.TOKENS].jwks(), headers={"Cache-Control": "public, max-age=300"}
    )


async def metadata(request: web.Request) -> web.Response:
    """RFC 8414 authorization server metadata, so clients can discover the token endpoint."""
    base = request.app[keys.SETTINGS].base_url
    return json_response(
        {
            "issuer": request.app[keys.TOKENS].issuer,
            "token_endpoint": f"{base}{TOKEN_PATH}",
            "jwks_uri": f"{base}{JWKS_PATH}",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_post(TOKEN_PATH, token)
    app.router.add_get(JWKS_PATH, jwks)
    app.router.add_get(METADATA_PATH, metadata)

"""The CAPIF token endpoint over real TLS (TS 29.222 clause 8.5, TS 33.122 Annex C): an invoker,
authenticated by its certificate, gets a signed token for the APIs its security context
covers, and every refusal is an AccessTokenErr."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fixtures.capif import INVOKERS, CapifPlatform, Holder, capif_on, official_check
from fixtures.capif_security import (
    SECURITY,
    SECURITY_API,
    Domain,
    context,
    domain,
    entry,
    platform_api,
    put_context,
    request_token,
    token_form,
)
from fixtures.openapi import OpenApiDocument

from mep.core import keys

SPEC = OpenApiDocument("capif-security.yaml")
TOKEN = "/securities/{securityId}/token"


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


async def _check(invoker_id: str, status: int, body: Any) -> None:
    SPEC.check(TOKEN, "post", status, body)
    path = f"/securities/{invoker_id}/token"
    await official_check(SECURITY_API, path, "POST", status, body)


async def _secured(capif: CapifPlatform) -> tuple[str, Holder, Domain, str]:
    """An invoker with a context for one API of a new domain and for the platform's location
    API: its id, holder, the domain, and the platform's AEF id."""
    provider = await domain(capif)
    api_id = await provider.publish(capif, "weather")
    platform_aef, location = platform_api(capif, "location")
    invoker_id, invoker, _ = await capif.onboard()
    body = context(entry(provider.aef_id, api_id), entry(platform_aef, location, "OAUTH", "PKI"))
    await put_context(capif, invoker_id, invoker, body)
    return invoker_id, invoker, provider, platform_aef


async def _refused(
    capif: CapifPlatform,
    holder: Holder | None,
    form: dict[str, str],
    status: int,
    error: str,
    **kwargs: str,
) -> dict[str, Any]:
    got, body, response = await request_token(capif, holder, form, **kwargs)
    assert (got, body["error"]) == (status, error), body
    assert response.headers["Cache-Control"] == "no-store"
    assert body["error_description"]
    await _check(form.get("client_id", "x"), status, body)
    return dict(body)


async def test_a_token_for_the_scope_asked(capif: CapifPlatform) -> None:
    invoker_id, invoker, provider, platform_aef = await _secured(capif)
    scope = f"3gpp#{provider.aef_id}:weather;{platform_aef}:location"
    before = time.time()
    status, body, response = await request_token(capif, invoker, token_form(invoker_id, scope))
    assert status == 200, body
    await _check(invoker_id, 200, body)
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == scope
    tokens = capif.runner.app[keys.TOKENS]
    assert body["expires_in"] == tokens.ttl
    keys_by_id = {k["kid"]: k for k in tokens.jwks()["keys"]}
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    public = jwt.PyJWK(keys_by_id[kid]).key
    claims = jwt.decode(
        body["access_token"], public, algorithms=["ES256"], audience=capif.settings.base_url
    )
    assert claims["iss"] == tokens.issuer
    assert claims["sub"] == claims["client_id"] == invoker_id
    assert claims["scope"] == scope
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["exp"] == int(claims["iat"]) + body["expires_in"]
    assert len(claims["jti"]) >= 16
    # The platform's authenticator accepts it as the invoker's.
    principal = await capif.runner.app[keys.AUTHENTICATOR].authenticate(
        f"Bearer {body['access_token']}"
    )
    assert (principal.kind.value, principal.subject) == ("invoker", invoker_id)

    # Without a scope: every API of the context; without the prefix: read the same.
    status, body, _ = await request_token(capif, invoker, token_form(invoker_id))
    assert status == 200, body
    assert body["scope"] == f"3gpp#{provider.aef_id}:weather;{platform_aef}:location"
    status, body, _ = await request_token(
        capif, invoker, token_form(invoker_id, f"{platform_aef}:location")
    )
    assert (status, body["scope"]) == (200, f"3gpp#{platform_aef}:location"), body
    # The same route under a doubled slash, as some clients join URLs.
    status, body, _ = await capif.call(
        "POST",
        f"/{SECURITY}/securities/{invoker_id}/token",
        holder=invoker,
        data=token_form(invoker_id),
    )
    assert status == 200, body


async def test_bad_requests_are_access_token_errors(capif: CapifPlatform) -> None:
    invoker_id, invoker, provider, _ = await _secured(capif)
    await _refused(
        capif, invoker, token_form(invoker_id, grant_type="password"), 400, "unsupported_grant_type"
    )
    no_grant = {"client_id": invoker_id}
    await _refused(capif, invoker, no_grant, 400, "invalid_request", security_id=invoker_id)
    no_client = {"grant_type": "client_credentials"}
    await _refused(capif, invoker, no_client, 400, "invalid_request", security_id=invoker_id)
    status, body, _ = await capif.call(
        "POST",
        f"{SECURITY}/securities/{invoker_id}/token",
        holder=invoker,
        json=token_form(invoker_id),
    )
    assert (status, body["error"]) == (400, "invalid_request"), body

    other = await domain(capif)
    await other.publish(capif, "weather")
    for scope in (
        f"3gpp#{other.aef_id}:weather",
        f"3gpp#{provider.aef_id}:weather,rain",
        "nonsense",
        "3gpp#",
        f"3gpp#{provider.aef_id}:",
    ):
        await _refused(capif, invoker, token_form(invoker_id, scope), 400, "invalid_scope")

    # An invoker without a security context gets no token at all.
    bare_id, bare, _ = await capif.onboard()
    await _refused(capif, bare, token_form(bare_id), 400, "invalid_scope")


async def test_only_the_certificates_invoker_is_a_client(capif: CapifPlatform) -> None:
    invoker_id, invoker, provider, _ = await _secured(capif)
    other_id, other, _ = await capif.onboard()
    # Another invoker's client_id, or securityId, with this certificate.
    body = await _refused(capif, invoker, token_form(other_id), 401, "invalid_client")
    assert other_id in body["error_description"]
    await _refused(
        capif, invoker, token_form(invoker_id), 401, "invalid_client", security_id=other_id
    )
    # No certificate, and a provider function's.
    got, body, response = await request_token(capif, None, token_form(invoker_id))
    assert (got, body["error"]) == (401, "invalid_client"), body
    assert response.headers["WWW-Authenticate"].startswith("Mutual-TLS")
    await _check(invoker_id, 401, body)
    await _refused(capif, provider.aef, token_form(invoker_id), 401, "invalid_client")
    # Offboarded: its certificate is revoked with it.
    status, _, _ = await capif.call("DELETE", f"{INVOKERS}/{invoker_id}", holder=invoker)
    assert status == 204
    await _refused(capif, invoker, token_form(invoker_id), 401, "invalid_client")
    status, body, _ = await request_token(capif, other, token_form(other_id))
    assert (status, body["error"]) == (400, "invalid_scope"), body

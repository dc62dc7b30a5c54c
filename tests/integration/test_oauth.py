"""OAuth 2.0 client credentials for app instances, and what the gateway makes of the tokens."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.auth import basic, bearer
from fixtures.openapi import OpenApiDocument

Client = TestClient[web.Request, web.Application]
SPEC = OpenApiDocument("mep-mgmt.yaml")
TOKEN = "/oauth2/token"
GRANT = {"grant_type": "client_credentials"}


async def instance(client: Client, operator: dict[str, str]) -> tuple[str, str]:
    response = await client.post(
        "/mep_mgmt/v1/app_instances", json={"appName": "app"}, headers=operator
    )
    body = await response.json()
    return body["appInstanceId"], body["clientSecret"]


async def test_basic_auth_token_names_the_instance(
    client: Client, operator: dict[str, str]
) -> None:
    instance_id, secret = await instance(client, operator)
    response = await client.post(TOKEN, data=GRANT, headers=basic(instance_id, secret))
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    SPEC.check(TOKEN, "post", 200, body)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600

    jwks = await (await client.get("/.well-known/jwks.json")).json()
    SPEC.check("/.well-known/jwks.json", "get", 200, jwks)
    header = jwt.get_unverified_header(body["access_token"])
    (key,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        body["access_token"],
        jwt.PyJWK(key).key,
        algorithms=["ES256"],
        audience="http://mep.test",
    )
    assert claims["sub"] == instance_id
    assert claims["kind"] == "app"
    assert claims["iss"] == "http://mep.test"
    assert {"exp", "iat", "jti"} <= claims.keys()

    who = await client.get("/test/whoami", headers=bearer(body["access_token"]))
    assert who.status == 200
    assert await who.json() == {"kind": "app", "subject": instance_id}


async def test_form_credentials_work_too(client: Client, operator: dict[str, str]) -> None:
    instance_id, secret = await instance(client, operator)
    form = {**GRANT, "client_id": instance_id, "client_secret": secret}
    assert (await client.post(TOKEN, data=form)).status == 200


async def test_basic_credentials_are_form_urlencoded_per_rfc6749(
    client: Client, operator: dict[str, str]
) -> None:
    instance_id, secret = await instance(client, operator)
    raw = base64.b64encode(f"{instance_id}:{secret}".replace("-", "%2D").encode()).decode()
    response = await client.post(TOKEN, data=GRANT, headers={"Authorization": f"Basic {raw}"})
    assert response.status == 200


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        pytest.param(GRANT, ("{id}", "wrong"), 401, "invalid_client", id="wrong-secret"),
        pytest.param(GRANT, ("nobody", "x"), 401, "invalid_client", id="unknown-client"),
        pytest.param(GRANT, None, 401, "invalid_client", id="no-credentials"),
        pytest.param({"grant_type": "password"}, ("{id}", "{secret}"), 400,
                     "unsupported_grant_type", id="password-grant"),
        pytest.param({}, ("{id}", "{secret}"), 400, "invalid_request", id="no-grant-type"),
        pytest.param({**GRANT, "client_id": "{id}", "client_secret": "{secret}"},
                     ("{id}", "{secret}"), 400, "invalid_request", id="two-auth-methods"),
    ],
)  # fmt: skip
async def test_token_errors_use_the_rfc6749_body(
    client: Client,
    operator: dict[str, str],
    form: dict[str, str],
    auth: tuple[str, str] | None,
    status: int,
    error: str,
) -> None:
    instance_id, secret = await instance(client, operator)

    def fill(value: str) -> str:
        return value.format(id=instance_id, secret=secret)

    headers = basic(fill(auth[0]), fill(auth[1])) if auth else {}
    response = await client.post(TOKEN, data={k: fill(v) for k, v in form.items()}, headers=headers)
    assert response.status == status
    body = await response.json()
    SPEC.check(TOKEN, "post", status, body)
    assert body["error"] == error
    if status == 401 and auth is not None:
        assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_token_endpoint_wants_a_form(client: Client, operator: dict[str, str]) -> None:
    instance_id, secret = await instance(client, operator)
    response = await client.post(
        TOKEN, json={"grant_type": "client_credentials"}, headers=basic(instance_id, secret)
    )
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_deleting_the_instance_revokes_its_tokens_at_once(
    client: Client, operator: dict[str, str]
) -> None:
    instance_id, secret = await instance(client, operator)
    token = (
        await (await client.post(TOKEN, data=GRANT, headers=basic(instance_id, secret))).json()
    )["access_token"]
    as_app = bearer(token)
    assert (await client.get("/test/whoami", headers=as_app)).status == 200

    await client.delete(f"/mep_mgmt/v1/app_instances/{instance_id}", headers=operator)
    refused = await client.get("/test/whoami", headers=as_app)
    assert refused.status == 401
    assert "revoked" in (await refused.json())["detail"]
    again = await client.post(TOKEN, data=GRANT, headers=basic(instance_id, secret))
    assert again.status == 401

    # The same id created anew gets new credentials, and its fresh tokens work.
    recreated = await client.put(
        f"/mep_mgmt/v1/app_instances/{instance_id}", json={"appName": "app"}, headers=operator
    )
    new_secret = (await recreated.json())["clientSecret"]
    fresh = await client.post(TOKEN, data=GRANT, headers=basic(instance_id, new_secret))
    fresh_token = (await fresh.json())["access_token"]
    ok = await client.get("/test/whoami", headers=bearer(fresh_token))
    assert ok.status == 200
    assert (await client.get("/test/whoami", headers=as_app)).status == 401


def _forge(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm="ES256", headers=header)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(
            lambda good: ".".join([
                base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode(),
                good.split(".")[1],
                "",
            ]),
            "algorithm 'none'",
            id="alg-none",
        ),
        pytest.param(
            lambda good: _forge(jwt.decode(good, options={"verify_signature": False}),
                                {"kid": "not-ours"}),
            "key id 'not-ours'",
            id="unknown-kid",
        ),
        pytest.param(
            lambda good: _forge(jwt.decode(good, options={"verify_signature": False}),
                                jwt.get_unverified_header(good)),
            "signature is invalid",
            id="bad-signature",
        ),
        pytest.param(lambda good: good[:-6] + ("AAAAAA" if good[-6:] != "AAAAAA" else "BBBBBB"),
                     "signature is invalid", id="tampered"),
        pytest.param(lambda good: "garbage", "not a well-formed", id="garbage"),
    ],
)  # fmt: skip
async def test_bad_tokens_are_refused_with_the_reason(
    client: Client, operator: dict[str, str], make: Any, reason: str
) -> None:
    instance_id, secret = await instance(client, operator)
    good = (
        await (await client.post(TOKEN, data=GRANT, headers=basic(instance_id, secret))).json()
    )["access_token"]
    response = await client.get("/test/whoami", headers=bearer(make(good)))
    assert response.status == 401
    problem = await response.json()
    assert reason in problem["detail"]
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="mep", error="invalid_token"'
    )

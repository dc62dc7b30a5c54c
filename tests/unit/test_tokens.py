"""The JWT issuer and verifier (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mep.core.tokens import CallerKind, SigningKey, TokenError, TokenService

AUD = "http://mep.test"


def new_key() -> SigningKey:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey.from_pem(pem)


@pytest.fixture
def key() -> SigningKey:
    return new_key()


@pytest.fixture
def service(key: SigningKey) -> TokenService:
    return TokenService(key, [key], issuer=AUD, ttl=600)


def sign(key: SigningKey, **overrides: Any) -> str:
    now = time.time()
    claims = {
        "iss": AUD, "sub": "app-1", "aud": AUD, "iat": now, "exp": now + 60,
        "jti": "j", "kind": "app", **overrides,
    }  # fmt: skip
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})


def test_issued_token_verifies_with_all_claims(service: TokenService) -> None:
    issued = service.issue("app-1", CallerKind.APP, AUD)
    claims = service.verify(issued.token, AUD)
    assert claims["sub"] == "app-1"
    assert claims["kind"] == "app"
    assert claims["exp"] - int(claims["iat"]) == 600 == issued.expires_in
    assert {"iss", "aud", "jti", "nbf"} <= claims.keys()
    assert jwt.get_unverified_header(issued.token)["kid"] == service.jwks()["keys"][0]["kid"]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": time.time() - 60}, "expired"),
        ({"nbf": time.time() + 600}, "not yet valid"),
        ({"iat": time.time() + 600}, "not yet valid"),
        ({"aud": "http://elsewhere"}, "another audience"),
        ({"iss": "http://elsewhere"}, "another issuer"),
        ({"jti": None}, "'jti'"),
        ({"kind": "root"}, "caller kind"),
    ],
)
def test_refusals_name_the_reason(
    service: TokenService, key: SigningKey, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenError, match=reason):
        service.verify(sign(key, **overrides), AUD)


def test_another_keys_signature_is_refused_even_with_our_kid(
    service: TokenService, key: SigningKey
) -> None:
    forged = SigningKey(key.kid, new_key().private_key)
    with pytest.raises(TokenError, match="signature is invalid"):
        service.verify(sign(forged), AUD)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hs256_keyed_with_the_public_key_is_refused(service: TokenService, key: SigningKey) -> None:
    """The classic algorithm-confusion attack: an HMAC whose secret is our public key."""
    public = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    payload = b64url(json.dumps({"sub": "app-1", "aud": AUD, "exp": time.time() + 60}).encode())
    mac = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError, match="'HS256' is not accepted"):
        service.verify(f"{header}.{payload}.{b64url(mac)}", AUD)


def test_rotated_keys_keep_verifying_old_tokens() -> None:
    old, new = new_key(), new_key()
    before = TokenService(old, [old], issuer=AUD, ttl=600).issue("a", CallerKind.APP, AUD)
    after = TokenService(new, [new, old], issuer=AUD, ttl=600)
    assert after.verify(before.token, AUD)["sub"] == "a"
    assert {k["kid"] for k in after.jwks()["keys"]} == {old.kid, new.kid}
    assert jwt.get_unverified_header(after.issue("b", CallerKind.APP, AUD).token)["kid"] == new.kid


def test_kid_is_the_rfc7638_thumbprint(key: SigningKey) -> None:
    jwk = key.public_jwk()
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    assert key.kid == b64url(hashlib.sha256(canonical).digest())


def test_a_repeated_token_is_not_verified_again_but_still_expires(
    service: TokenService, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sign(key, exp=time.time() + 60)
    assert service.verify(token, AUD)["sub"] == "app-1"
    with monkeypatch.context() as patched:
        # Were the signature checked again, this would refuse the token.
        patched.setattr(service, "_public", {})
        assert service.verify(token, AUD)["sub"] == "app-1"
        later = time.time() + 3600
        patched.setattr(time, "time", lambda: later)
        with pytest.raises(TokenError, match="expired"):
            service.verify(token, AUD)


def test_the_cache_is_per_audience_and_bounded(key: SigningKey) -> None:
    service = TokenService(key, [key], issuer=AUD, ttl=600, cache_size=3)
    token = service.issue("a", CallerKind.APP, AUD).token
    service.verify(token, AUD)
    with pytest.raises(TokenError, match="another audience"):
        service.verify(token, "http://elsewhere")
    for n in range(5):
        service.verify(service.issue(f"s{n}", CallerKind.APP, AUD).token, AUD)
    assert len(service._verified) == 3

"""JWT access tokens: ES256-signed by the platform, verified against its published JWKS.

Every token names its signing key in ``kid`` (the RFC 7638 thumbprint of the public key), so
verification never guesses a key and old keys can stay published while a new one signs.
``iat`` keeps millisecond precision (RFC 7519 NumericDate allows fractions) so that a revocation
recorded at time t rejects exactly the tokens issued before t, even within the same second.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mep.core.secrets_file import load_or_create

ALGORITHM = "ES256"
LEEWAY_SECONDS = 5.0


class CallerKind(StrEnum):
    APP = "app"
    INVOKER = "invoker"
    OPERATOR = "operator"


class TokenError(Exception):
    """A token that must be refused; the message names the reason for the client."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: dict[str, Any]
    expires_in: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("JWT signing keys must be EC P-256 private keys")
        return cls(_thumbprint(key.public_key()), key)

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }


def _thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _new_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_signing_keys(directory: Path) -> tuple[SigningKey, list[SigningKey]]:
    """The active key (``jwt-current.pem``, made on first start) and every key to verify with.

    Blocking: call it off the event loop. Retired keys stay valid for verification while their
    files (``jwt-*.pem``) remain, which is how a key is rotated without cutting live tokens.
    """
    active = SigningKey.from_pem(load_or_create(directory / "jwt-current.pem", _new_key_pem))
    keys = {active.kid: active}
    for path in sorted(directory.glob("jwt-*.pem")):
        key = SigningKey.from_pem(path.read_bytes())
        keys.setdefault(key.kid, key)
    return active, list(keys.values())


class TokenService:
    """Issues and verifies the platform's access tokens (TS 33.122 Annex C; RFC 9068 claims).

    Verifying an ES256 signature is the largest fixed cost of an API call, and an app presents
    the same token for its whole lifetime, so verified tokens are remembered (bounded, least
    recently used first out) and only their time claims are checked again on a repeat.
    Revocation is not cached here: the authenticator checks it on every call.
    """

    def __init__(
        self,
        active: SigningKey,
        keys: Sequence[SigningKey],
        *,
        issuer: str,
        ttl: int,
        cache_size: int = 10_000,
    ) -> None:
        self._active = active
        self._keys = {k.kid: k for k in keys}
        self._keys[active.kid] = active
        self._public = {kid: k.private_key.public_key() for kid, k in self._keys.items()}
        self.issuer = issuer
        self.ttl = ttl
        self._verified: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk() for k in self._keys.values()]}

    def issue(
        self,
        subject: str,
        kind: CallerKind,
        audience: str,
        *,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        lifetime = ttl or self.ttl
        now = round(time.time(), 3)
        claims: dict[str, Any] = {
            **(extra or {}),
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": int(now),
            "exp": int(now) + lifetime,
            "jti": uuid.uuid4().hex,
            "kind": kind.value,
        }
        token = jwt.encode(
            claims, self._active.private_key, algorithm=ALGORITHM, headers={"kid": self._active.kid}
        )
        return IssuedToken(token, claims, lifetime)

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The token's claims; :class:`TokenError` naming why it is refused otherwise."""
        cached = self._verified.get((token, audience))
        if cached is not None:
            now = time.time()
            if now > cached["exp"] + LEEWAY_SECONDS:
                del self._verified[(token, audience)]
                raise TokenError("token has expired")
            self._verified.move_to_end((token, audience))
            return cached
        claims = self._verify_signed(token, audience)
        self._verified[(token, audience)] = claims
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return claims

    def _verify_signed(self, token: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise TokenError("token is not a well-formed JWS") from None
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise TokenError(f"token algorithm {alg!r} is not accepted; use {ALGORITHM}")
        kid = header.get("kid")
        key = self._public.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError(f"token key id {kid!r} is unknown to this platform")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.InvalidSignatureError:
            raise TokenError("token signature is invalid") from None
        except jwt.ExpiredSignatureError:
            raise TokenError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token is not yet valid") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token was issued by another issuer") from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenError(f"token lacks the {error.claim!r} claim") from None
        except jwt.InvalidTokenError as error:
            raise TokenError(f"token is invalid: {error}") from None
        if claims.get("kind") not in set(CallerKind):
            raise TokenError("token does not name a caller kind")
        return claims

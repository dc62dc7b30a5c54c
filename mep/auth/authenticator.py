"""Bearer authentication (RFC 6750) for every API of the platform."""

from __future__ import annotations

import hmac

from mep.auth.principal import OPERATOR, Principal
from mep.auth.revocation import RevocationList
from mep.core.problem import Unauthorized
from mep.core.tokens import CallerKind, TokenError, TokenService


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal`, or refuses with 401."""

    def __init__(
        self,
        tokens: TokenService,
        revocations: RevocationList,
        *,
        admin_token: str,
        audience: str,
    ) -> None:
        self._tokens = tokens
        self._revocations = revocations
        self._admin_token = admin_token.encode()
        self._audience = audience

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("an Authorization: Bearer <token> header is required")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("the Authorization header must use the Bearer scheme")
        if hmac.compare_digest(credential.encode(), self._admin_token):
            return OPERATOR
        try:
            claims = self._tokens.verify(credential, self._audience)
        except TokenError as error:
            raise Unauthorized(str(error)) from None
        if await self._revocations.is_revoked(claims):
            raise Unauthorized("token has been revoked", cause="TOKEN_REVOKED")
        return Principal(CallerKind(claims["kind"]), claims["sub"], claims)

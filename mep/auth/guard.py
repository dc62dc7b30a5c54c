"""Route guards: which kinds of caller a handler admits."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from mep.auth.principal import Principal
from mep.core import keys
from mep.core.problem import Forbidden
from mep.core.tokens import CallerKind

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require(*kinds: CallerKind) -> Callable[[Handler], Handler]:
    """Authenticate the caller, then admit only ``kinds`` (401 without valid token, else 403)."""
    admitted = frozenset(kinds)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            authenticator = request.app[keys.AUTHENTICATOR]
            principal = await authenticator.authenticate(request.headers.get("Authorization"))
            if principal.kind not in admitted:
                names = ", ".join(sorted(k.value for k in admitted))
                raise Forbidden(f"this resource is for callers of kind: {names}")
            request[keys.PRINCIPAL] = principal
            return await handler(request)

        return guarded

    return decorate


def principal(request: web.Request) -> Principal:
    """The caller a guard admitted."""
    return request[keys.PRINCIPAL]

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
            # The API gateway, in front of the service APIs, has already authenticated the
            # caller (by token or by client certificate).
            principal = request.get(keys.PRINCIPAL)
            if principal is None:
                authenticator = request.app[keys.AUTHENTICATOR]
                principal = await authenticator.authenticate(request.headers.get("Authorization"))
            if principal.kind not in admitted:
                names = ", ".join(sorted(k.value for k in admitted))
                raise Forbidden(f"this resource is for callers of kind: {names}")
            request[keys.PRINCIPAL] = principal
            return await handler(request)

        return guarded

    return decorate


#: Callers of the platform's service APIs (RNIS, Location, BWM): MEC app instances, the
#: operator, and CAPIF invokers the gateway has admitted.
service_api_caller = require(CallerKind.APP, CallerKind.OPERATOR, CallerKind.INVOKER)


def principal(request: web.Request) -> Principal:
    """The caller a guard admitted."""
    return request[keys.PRINCIPAL]

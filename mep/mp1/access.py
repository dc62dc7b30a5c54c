"""Who may act under ``/applications/{appInstanceId}/...`` of the Mp1 APIs.

An app instance acts only under its own id; the operator acts under any. The id is looked up
first, so an unknown id is 404 for everyone and a known one that is not the caller's is 403.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from mep.auth.guard import principal, require
from mep.core import keys
from mep.core.problem import Forbidden
from mep.core.tokens import CallerKind

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Mp1 callers: MEC app instances and the operator.
mp1_caller = require(CallerKind.APP, CallerKind.OPERATOR)


def app_scoped(handler: Handler) -> Handler:
    """Admit the instance named in the path (or the operator); the instance is then
    ``request[keys.APP_INSTANCE]``."""

    @mp1_caller
    @functools.wraps(handler)
    async def scoped(request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["appInstanceId"]
        instance = await request.app[keys.APP_INSTANCES].get(instance_id)
        caller = principal(request)
        if caller.kind is CallerKind.APP and caller.subject != instance_id:
            raise Forbidden(
                f"application instance {caller.subject!r} may not act for {instance_id!r}"
            )
        request[keys.APP_INSTANCE] = instance
        return await handler(request)

    return scoped

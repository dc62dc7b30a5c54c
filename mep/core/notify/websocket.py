"""Notifications over a websocket (ETSI GS MEC 009 clause 6.12a, ``websockNotifConfig``).

A subscription that asks for ``requestWebsocketUri`` is answered with a ``websocketUri`` on this
hub; the app opens it with its bearer token and then receives on it the same notifications a
callback would get, in the same order, from the same durable queue. A socket lives on one
replica; the delivery worker runs a websocket subscription's lane only where its socket is
connected, and the hub wakes that lane when the app (re)connects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import structlog
from aiohttp import WSMsgType, web

from mep.auth.guard import principal, require
from mep.core import keys
from mep.core.problem import Forbidden, NotFound
from mep.core.store import Document
from mep.core.tokens import CallerKind

PATH = "/notifications/v1/websocket"

log = structlog.get_logger("mep.websocket")

OwnerOf = Callable[[Document], str | None]


def default_owner(subscription: Document) -> str | None:
    """Subscriptions name their owner as ``owner`` or, in Mp1, ``appInstanceId``."""
    owner = subscription.data.get("owner") or subscription.data.get("appInstanceId")
    return str(owner) if owner else None


def websocket_uri(base_url: str, target: str) -> str:
    """The ``websocketUri`` for a subscription's delivery queue ``target``."""
    scheme, _, rest = base_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{PATH}/{target}"


class WebSocketHub:
    """The sockets connected to this replica, by delivery target."""

    def __init__(self, owner_of: OwnerOf = default_owner) -> None:
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._owner_of = owner_of

    def connected(self, target: str) -> bool:
        socket = self._sockets.get(target)
        return socket is not None and not socket.closed

    async def send(self, target: str, body: str) -> bool:
        socket = self._sockets.get(target)
        if socket is None or socket.closed:
            return False
        try:
            await socket.send_str(body)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def close(self) -> None:
        for socket in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await socket.close()
        self._sockets.clear()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.match_info["target"]
        collection, _, subscription_id = target.partition("/")
        subscription = await request.app[keys.STORE].get(collection, subscription_id)
        if subscription is None:
            raise NotFound(f"no subscription behind {target!r}")
        caller = principal(request)
        if not caller.is_operator and self._owner_of(subscription) != caller.subject:
            raise Forbidden("this websocket belongs to another subscriber")
        socket = web.WebSocketResponse(heartbeat=30.0)
        await socket.prepare(request)
        previous = self._sockets.get(target)
        self._sockets[target] = socket
        if previous is not None:
            await previous.close(message=b"replaced by a newer connection")
        request.app[keys.DELIVERIES].wake(target)
        try:
            async for message in socket:
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            if self._sockets.get(target) is socket:
                del self._sockets[target]
        return socket

    def setup(self, app: web.Application) -> None:
        guarded = require(CallerKind.APP, CallerKind.OPERATOR)(self.handle)
        app.router.add_get(f"{PATH}/{{target:.+}}", guarded)

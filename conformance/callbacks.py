"""A small HTTP server on 127.0.0.1 that receives the notifications a scenario subscribes to."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Notification:
    path: str
    body: Any
    content_type: str
    received: float


class CallbackServer:
    """Answers every POST with 204 and keeps what it got, in arrival order."""

    def __init__(self) -> None:
        self.received: list[Notification] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        async with self._arrived:
            self.received.append(
                Notification(request.path, body, request.content_type, time.monotonic())
            )
            self._arrived.notify_all()
        return web.Response(status=204)

    async def wait_for(
        self, wanted: Callable[[Notification], bool], *, within: float, since: int = 0
    ) -> Notification | None:
        """The first notification from index ``since`` on that ``wanted`` accepts, waiting
        at most ``within`` seconds for it."""

        def found() -> Notification | None:
            return next((n for n in self.received[since:] if wanted(n)), None)

        async with self._arrived:
            try:
                async with asyncio.timeout(within):
                    await self._arrived.wait_for(lambda: found() is not None)
            except TimeoutError:
                return None
            return found()


def of_type(path: str, *notification_types: str) -> Callable[[Notification], bool]:
    """Matches a notification posted to ``path`` whose notificationType is one of those given."""

    def wanted(notification: Notification) -> bool:
        body = notification.body
        return (
            notification.path == "/" + path.lstrip("/")
            and isinstance(body, dict)
            and body.get("notificationType") in notification_types
        )

    return wanted

"""Graceful stop: requests already being handled finish before the server closes connections.

aiohttp's own shutdown stops reading from every connection at once, which cuts off a request
whose body is still arriving. So the server first stops listening, then waits here until the
requests in progress are done (or the shutdown timeout passes), and only then lets aiohttp close.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from aiohttp.typedefs import Handler

from mep.core import keys


class InFlight:
    """Counts requests between their first handler call and their response."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drain(self, within: float) -> bool:
        """Wait until no request is in progress; False if some still were after ``within`` s."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._idle.wait()
        return self.count == 0


@web.middleware
async def in_flight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    tracker = request.app[keys.IN_FLIGHT]
    tracker.enter()
    try:
        response = await handler(request)
        if tracker.draining:
            # Tell keep-alive clients to reconnect elsewhere rather than reuse this connection.
            response.force_close()
        return response
    finally:
        tracker.leave()

"""Following committed writes into a system outside the store, in commit order.

The store is the truth; ports (the data plane, the DNS responder) follow it. Rather than every
code path calling a port after its commit (an API call, an operator action, a timer firing), a
follower watches the committer: each committed write to its collections is queued here, after
the commit succeeded, and applied in order. A request that must answer only once the port was
told awaits :meth:`CommitFollower.flush`.

A port that fails is logged, not retried here: the store keeps the truth, and an enforcing
adapter resynchronises from the store when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from mep.core.commits import Committer
from mep.core.store import Operation

log = structlog.get_logger("mep.follow")

Apply = Callable[[Operation], Awaitable[None]]


class CommitFollower:
    def __init__(self, name: str, apply: Apply) -> None:
        self._name = name
        self._apply = apply
        self._pending: deque[Operation] = deque()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def watch(self, committer: Committer, *collections: str) -> None:
        for collection in collections:
            committer.watch(collection, self._on_commit)

    def _on_commit(self, op: Operation) -> None:
        self._pending.append(op)
        if self._task is None or self._task.done():
            # Commits made by background work (timers) have nobody awaiting flush().
            self._task = asyncio.get_running_loop().create_task(self.flush(), name=self._name)

    async def flush(self) -> None:
        """Apply every write queued so far, oldest first."""
        async with self._lock:
            while self._pending:
                op = self._pending.popleft()
                try:
                    await self._apply(op)
                except Exception:
                    log.exception("port failed", follower=self._name, collection=op.collection)

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

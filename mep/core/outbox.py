"""Transactional outbox: events are committed with the change that causes them, then relayed.

A service that changes state and must tell the rest of the platform adds :meth:`Outbox.entry`
operations to the commit of the change (made through :class:`~mep.core.commits.Committer`), so
an acknowledged change always has its event, even if the process dies before the event log has
it. The relay appends pending entries to the event log in
order and deletes them. Delivery is at least once (a crash between append and delete, or two
replicas relaying one entry, repeats it); every event carries ``eventId`` for consumers to dedupe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from typing import Any

import structlog

from mep.core.commits import Committer
from mep.core.events import EventLog, EventLogError
from mep.core.metrics import Metrics
from mep.core.store import ABSENT, Delete, Operation, Put, StoreError

COLLECTION = "outbox"

log = structlog.get_logger("mep.outbox")


class Outbox:
    def __init__(
        self,
        committer: Committer,
        events: EventLog,
        metrics: Metrics | None = None,
        *,
        batch: int = 200,
        interval: float = 1.0,
    ) -> None:
        self._store = committer.store
        self._events = events
        self._metrics = metrics
        self._batch = batch
        self._interval = interval
        self._wake = asyncio.Event()
        self._seq = 0
        committer.watch(COLLECTION, self._on_commit)
        if metrics is not None:
            metrics.add_probe(self._refresh_gauge)

    def entry(self, stream: str, payload: Mapping[str, Any]) -> Put:
        """The write that records one event; put it in the commit of the change."""
        # Ids sort in commit order within a process; the pid keeps replicas' ids apart.
        self._seq += 1
        event_id = f"{time.time_ns():020d}-{os.getpid():07d}-{self._seq:09d}"
        data = {"stream": stream, "payload": {**payload, "eventId": event_id}}
        return Put(COLLECTION, event_id, data, expected_version=ABSENT)

    def _on_commit(self, op: Operation) -> None:
        if isinstance(op, Put):
            self._wake.set()

    async def pending(self) -> int:
        return await self._store.count(COLLECTION)

    async def relay_once(self) -> int:
        """Relay one batch, oldest first; how many entries were relayed."""
        docs = await self._store.scan(COLLECTION, limit=self._batch)
        relayed: list[Delete] = []
        try:
            for doc in docs:
                await self._events.append(doc.data["stream"], doc.data["payload"])
                relayed.append(Delete(COLLECTION, doc.id))
        finally:
            if relayed:
                await self._store.commit(relayed)
                if self._metrics is not None:
                    self._metrics.outbox_relayed.inc(len(relayed))
        return len(relayed)

    async def flush(self) -> None:
        """Relay everything pending now (used at shutdown)."""
        while await self.relay_once():
            pass

    async def run(self) -> None:
        """Relay until cancelled; failures are logged and retried on the next round."""
        task = asyncio.current_task()
        # Checking for a pending cancellation guards against a driver that swallows one.
        while task is None or not task.cancelling():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                while await self.relay_once() == self._batch:
                    pass
            except (StoreError, EventLogError) as error:
                log.warning("outbox relay failed; retrying", error=str(error))
            except Exception:
                # A bug must not silently stop the relay: the outbox would only grow.
                log.exception("outbox relay crashed; retrying")

    async def _refresh_gauge(self) -> None:
        assert self._metrics is not None
        with contextlib.suppress(StoreError):
            self._metrics.outbox_pending.set(await self.pending())

"""Durable timers: "at time T, do X", surviving restarts, fired once across replicas.

A timer is a document whose id starts with its due time, zero-padded, so a scan of the collection
in id order yields the earliest timers first and stops at the first one not yet due. Firing a
timer is a commit that deletes it (at the version read) together with the writes its handler
returns: if another replica fired or rescheduled it meanwhile, the delete conflicts and nothing
of this firing is written. Handlers therefore describe their effect as store operations and must
not act on the outside world themselves (notifications go through the delivery outbox).

Used for subscription expiry, service liveness, and the wait for an app's termination confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from mep.core.commits import Committer
from mep.core.store import ABSENT, Delete, Document, Operation, Put, StoreError, VersionConflict

COLLECTION = "timers"
_SEP = "|"

log = structlog.get_logger("mep.timers")


@dataclass(frozen=True)
class Timer:
    id: str
    kind: str
    key: str
    due: float
    payload: dict[str, Any]
    version: int

    @classmethod
    def from_document(cls, doc: Document) -> Timer:
        return cls(
            doc.id,
            doc.data["kind"],
            doc.data["key"],
            doc.data["due"],
            doc.data["payload"],
            doc.version,
        )


Handler = Callable[[Timer], Awaitable[Sequence[Operation]]]


def timer_id(kind: str, key: str, due: float) -> str:
    if _SEP in kind:
        raise ValueError(f"timer kind {kind!r} must not contain {_SEP!r}")
    return f"{round(due * 1_000_000):017d}{_SEP}{kind}{_SEP}{key}"


def schedule(kind: str, key: str, due: float, payload: Mapping[str, Any] | None = None) -> Put:
    """The write that schedules a timer; commit it with the change that needs it."""
    data = {"kind": kind, "key": key, "due": due, "payload": dict(payload or {})}
    return Put(COLLECTION, timer_id(kind, key, due), data, expected_version=ABSENT)


def cancel(timer: str) -> Delete:
    """The write that cancels a timer by id (no error if it already fired)."""
    return Delete(COLLECTION, timer)


class Timers:
    """Fires due timers through handlers registered per kind."""

    def __init__(
        self,
        committer: Committer,
        *,
        interval: float = 0.5,
        batch: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._store = committer.store
        self._handlers: dict[str, Handler] = {}
        self._interval = interval
        self._batch = batch
        self._clock = clock
        self._wake = asyncio.Event()
        committer.watch(COLLECTION, lambda op: self._wake.set())

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    async def fire_due(self) -> int:
        """Fire every timer due now; how many fired here."""
        fired = 0
        after: str | None = None
        while True:
            docs = await self._store.scan(COLLECTION, after=after, limit=self._batch)
            now = self._clock()
            for doc in docs:
                if doc.data["due"] > now:
                    return fired
                fired += await self._fire(Timer.from_document(doc))
            if len(docs) < self._batch:
                return fired
            after = docs[-1].id

    async def _fire(self, timer: Timer) -> int:
        handler = self._handlers.get(timer.kind)
        if handler is None:
            # Left in place: a replica running a newer version may know the kind.
            log.warning("no handler for timer kind", kind=timer.kind, timer=timer.id)
            return 0
        try:
            ops = await handler(timer)
            await self._committer.commit([Delete(COLLECTION, timer.id, timer.version), *ops])
        except VersionConflict:
            return 0  # fired or rescheduled elsewhere; its handler's writes were not made
        except StoreError:
            raise
        except Exception:
            # One broken handler must not hold up every other timer; this one is retried.
            log.exception("timer handler failed; retrying later", kind=timer.kind, key=timer.key)
            return 0
        return 1

    async def next_due(self) -> float | None:
        docs = await self._store.scan(COLLECTION, limit=1)
        return float(docs[0].data["due"]) if docs else None

    async def run(self) -> None:
        """Fire timers as they fall due, until cancelled."""
        task = asyncio.current_task()
        while task is None or not task.cancelling():
            try:
                await self.fire_due()
                due = await self.next_due()
            except StoreError as error:
                log.warning("timers: store unavailable; retrying", error=str(error))
                due = None
            wait = self._interval if due is None else min(self._interval, due - self._clock())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))

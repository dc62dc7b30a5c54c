"""The CCF's reading of its own event streams into CAPIF event notifications (TS 29.222 clause
8.8.2.4.3), at least once in and exactly once out.

Every replica joins the consumer group ``capif-events`` on each stream of
``mep.capif.streams`` that a CAPIF event reports, so each stream event is handled by one
replica. Handling an event commits, in one commit, the notifications it causes (through the
delivery queue, which retries until delivered or expired) with a marker named after the event's
``eventId``; only then is the event acknowledged. A repeated event (the outbox relay or the log
delivers at least once) finds its marker, or conflicts on it, and queues nothing again. Markers
are kept a week, in hourly buckets each removed by a timer.

An event that cannot be read is logged and acknowledged, so it never blocks its stream; an event
whose writes fail (the store is unreachable) stays unacknowledged and comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Sequence

import structlog

from mep.capif import streams
from mep.capif.event_reports import EventReports, MalformedEvent
from mep.capif.events import EventSubscriptions
from mep.core.commits import Committer
from mep.core.events import Event, EventLog, EventLogError
from mep.core.optimistic import ATTEMPTS
from mep.core.store import ABSENT, Delete, Operation, Put, StoreError, VersionConflict
from mep.core.timers import Timer, Timers, schedule

GROUP = "capif-events"
STREAMS = (
    streams.INVOKERS,
    streams.SERVICE_APIS,
    streams.SECURITY,
    streams.ACCESS_CONTROL,
    streams.INVOCATIONS,
)
SEEN = "capif_event_seen"
BY_HOUR = "hour"
SWEEP = "capif.events.sweep"
#: How long an event is remembered as reported: far beyond any redelivery by the event log
#: (pending events are claimed again after seconds) or a relay repeating an outbox entry.
RETENTION = 7 * 24 * 3600.0
SWEEP_BATCH = 1000

log = structlog.get_logger("mep.capif.events")


class Contended(Exception):
    """The event's subscriptions kept changing while its notifications were being written."""


def _event_id(event: Event) -> str:
    event_id = event.payload.get("eventId")
    return event_id if isinstance(event_id, str) and event_id else event.id


class EventReporter:
    """Turns one stream event into the notifications it causes, committed once."""

    def __init__(
        self, committer: Committer, subscriptions: EventSubscriptions, reports: EventReports
    ) -> None:
        self._committer = committer
        self._store = committer.store
        self._subscriptions = subscriptions
        self._reports = reports

    def register(self, timers: Timers) -> None:
        timers.on(SWEEP, self._sweep)

    async def handle(self, event: Event) -> int:
        """How many notifications ``event`` queued (0 when it had been reported already).
        Raises :class:`MalformedEvent`, :class:`StoreError` and :class:`Contended`."""
        occurrence = await self._reports.occurrence(event)
        if occurrence is None:
            return 0
        subscribed = await self._subscriptions.subscribed_to(occurrence.event)
        if not subscribed:
            # The common case for invocations: nobody listens, so nothing to remember either.
            return 0
        marker = f"{event.stream}:{_event_id(event)}"
        if await self._store.get(SEEN, marker) is not None:
            return 0
        for attempt in range(ATTEMPTS):
            if attempt:
                subscribed = await self._subscriptions.subscribed_to(occurrence.event)
            ops: list[Operation] = []
            queued = 0
            for stored in subscribed:
                body = await self._reports.notification(stored, occurrence)
                if body is not None:
                    ops += self._subscriptions.report_ops(stored, body)
                    queued += 1
            if not ops:
                return 0
            try:
                await self._committer.commit([*self._marker_ops(marker), *ops])
            except VersionConflict as conflict:
                if conflict.collection == SEEN:
                    return 0  # another consumer reported it meanwhile
                continue  # a subscription counting its reports changed; read them again
            return queued
        raise Contended(f"{marker}: subscriptions kept changing")

    @staticmethod
    def _marker_ops(marker: str) -> list[Put]:
        now = time.time()
        hour = int(now // 3600)
        # The bucket's sweep timer is written with every marker, unconditionally: the same
        # document each time, and there again if the bucket outlives one sweep.
        sweep = schedule(SWEEP, str(hour), (hour + 1) * 3600 + RETENTION)
        return [
            Put(SEEN, marker, {"at": now}, ABSENT, indexes={BY_HOUR: [str(hour)]}),
            dataclasses.replace(sweep, expected_version=None),
        ]

    async def _sweep(self, timer: Timer) -> Sequence[Operation]:
        docs = await self._store.find(SEEN, BY_HOUR, timer.key)
        ops: list[Operation] = [Delete(SEEN, doc.id) for doc in docs[:SWEEP_BATCH]]
        if len(docs) > SWEEP_BATCH:
            ops.append(schedule(SWEEP, timer.key, time.time()))
        return ops


class EventConsumer:
    """Reads the streams as one member of the group and hands each event to the reporter."""

    def __init__(
        self,
        events: EventLog,
        reporter: EventReporter,
        name: str,
        *,
        stream_names: Sequence[str] = STREAMS,
        batch: int = 100,
        wait: float = 1.0,
        retry_cap: float = 5.0,
    ) -> None:
        """``name``: this replica in the group (the same across its restarts, so it resumes the
        events it had read)."""
        self._events = events
        self._reporter = reporter
        self._name = name
        self._streams = tuple(stream_names)
        self._batch = batch
        self._wait = wait
        self._retry_cap = retry_cap

    async def run(self) -> None:
        """Consume every stream until cancelled."""
        async with asyncio.TaskGroup() as group:
            for stream in self._streams:
                group.create_task(self._consume(stream), name=f"capif-events:{stream}")

    async def _consume(self, stream: str) -> None:
        task = asyncio.current_task()
        consumer = None
        delay = 0.0
        try:
            # Checking for a pending cancellation guards against a driver that swallows one.
            while task is None or not task.cancelling():
                if delay:
                    await asyncio.sleep(delay)
                try:
                    if consumer is None:
                        consumer = await self._events.consumer(stream, GROUP, self._name)
                    done, failed = await self._handle_batch(
                        await consumer.read(self._batch, self._wait)
                    )
                    if done:
                        await consumer.ack(*done)
                except EventLogError as error:
                    log.warning(
                        "event stream unavailable; retrying", stream=stream, error=str(error)
                    )
                    failed = True
                except Exception:
                    # A bug must not silently stop the reports of a stream.
                    log.exception("event consumer crashed; retrying", stream=stream)
                    failed = True
                delay = min(self._retry_cap, max(delay * 2, 0.25)) if failed else 0.0
        finally:
            if consumer is not None:
                with contextlib.suppress(EventLogError):
                    await consumer.close()

    async def _handle_batch(self, batch: Sequence[Event]) -> tuple[list[Event], bool]:
        """The events handled (to acknowledge), and whether one has to be tried again (it and
        those after it stay pending, and come back once the group's claim time has passed)."""
        done: list[Event] = []
        for event in batch:
            try:
                await self._reporter.handle(event)
            except (StoreError, Contended) as error:
                log.warning("event not reported yet; retrying", event_id=event.id, error=str(error))
                return done, True
            except MalformedEvent as error:
                log.warning(
                    "malformed event skipped",
                    stream=event.stream,
                    event_id=event.id,
                    error=str(error),
                )
            except Exception:
                # A bug must neither stop the stream nor bring the same event back forever.
                log.exception(
                    "event report failed; skipped", stream=event.stream, event_id=event.id
                )
            done.append(event)
        return done, False

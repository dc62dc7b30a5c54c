"""Delivers queued notifications: in order per subscription, retried until delivered or expired.

One *lane* per subscription delivers that subscription's queue head first; a failed attempt is
retried with exponential backoff and jitter while later notifications wait, which is what keeps
them in order. A lane runs on one replica at a time: it holds a lease document in the store,
renewed while it works and taken over by another replica once a dead holder's lease runs out.

Lanes start when this replica commits a notification (woken through the committer) and when a
periodic scan finds queued notifications (written by another replica, or left by a restart).
Callbacks get 2 s to connect and 5 s in all, redirects are not followed, and each lane is held to
a rate limit, so a slow or hostile callback costs a bounded amount of the platform's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import structlog

from mep.core.commits import Committer
from mep.core.metrics import Metrics
from mep.core.notify.deliveries import COLLECTION
from mep.core.store import ABSENT, Delete, Document, Operation, Put, StoreError, VersionConflict

LEASES = "delivery_leases"
#: Seconds a lane gets at shutdown to finish the notification it is sending; one still going
#: after that is cut off and delivered again (at least once) after the restart.
SHUTDOWN_GRACE = 2.0

log = structlog.get_logger("mep.notify")

Hook = Callable[[Document], Awaitable[Sequence[Operation]]]


class SocketSender(Protocol):
    def connected(self, target: str) -> bool:
        """Whether ``target`` has a websocket connected to this replica."""
        ...

    async def send(self, target: str, body: str) -> bool:
        """Send on a websocket of ``target`` connected to this replica; False if none is."""
        ...


@dataclass(frozen=True)
class DeliverySettings:
    poll: float = 1.0
    retry_base: float = 0.25
    retry_cap: float = 5.0
    #: Sustained notifications per second per subscription, and the burst allowed above it.
    rate: float = 50.0
    burst: float = 100.0
    #: A notification without its subscription's expiry is given up after this long.
    max_age: float = 24 * 3600.0
    lease: float = 30.0
    connect_timeout: float = 2.0
    total_timeout: float = 5.0


class _Bucket:
    """Token bucket: the per-subscription rate limit."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens, self._at = burst, clock()

    async def take(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self._rate)
            self._tokens, self._at = 1.0, self._clock()
        self._tokens -= 1


class DeliveryWorker:
    def __init__(
        self,
        committer: Committer,
        settings: DeliverySettings | None = None,
        *,
        sockets: SocketSender | None = None,
        metrics: Metrics | None = None,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``owner`` names this replica in delivery leases; give one that stays the same across
        restarts of the replica, so that a restarted process resumes its lanes at once instead of
        waiting out the leases its previous run held."""
        self._committer = committer
        self._store = committer.store
        self._settings = settings or DeliverySettings()
        self._sockets = sockets
        self._metrics = metrics
        self._clock = clock
        self._owner = owner or secrets.token_hex(8)
        self._jitter = random.Random()  # noqa: S311 - backoff jitter, not security
        self._hooks: dict[str, Hook] = {}
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        #: Set at shutdown: lanes finish the notification in hand (its send and its removal from
        #: the queue) and stop, so a clean restart does not deliver it a second time.
        self._stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        committer.watch(COLLECTION, self._on_commit)
        if metrics is not None:
            metrics.add_probe(self._refresh_gauge)

    async def _refresh_gauge(self) -> None:
        assert self._metrics is not None
        with contextlib.suppress(StoreError):
            self._metrics.notifications_queued.set(await self._store.count(COLLECTION))

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.notifications.labels(outcome).inc()

    def hook(self, name: str, hook: Hook) -> None:
        """Run ``hook`` after delivering a notification queued with ``then=name``; the writes it
        returns are committed with the removal of the notification."""
        self._hooks[name] = hook

    def _on_commit(self, op: Operation) -> None:
        if isinstance(op, Put):
            self.wake(str(op.data["target"]))

    def wake(self, target: str) -> None:
        self._dirty.add(target)
        if target not in self._lanes and self._session is not None:
            self._lanes[target] = asyncio.create_task(self._lane(target), name=f"lane:{target}")

    async def run(self) -> None:
        """Discover queued notifications and run their lanes, until cancelled."""
        timeout = aiohttp.ClientTimeout(
            total=self._settings.total_timeout, sock_connect=self._settings.connect_timeout
        )
        self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            task = asyncio.current_task()
            while task is None or not task.cancelling():
                try:
                    for target in await self._queued_targets():
                        self.wake(target)
                except StoreError as error:
                    log.warning("delivery scan failed; retrying", error=str(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll)
                self._wake.clear()
        finally:
            self._stopping.set()
            lanes = list(self._lanes.values())
            if lanes:
                await asyncio.wait(lanes, timeout=SHUTDOWN_GRACE)
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            await self._session.close()
            self._session = None

    async def _queued_targets(self) -> set[str]:
        targets: set[str] = set()
        after: str | None = None
        while page := await self._store.scan(COLLECTION, after=after, limit=1000):
            targets.update(str(doc.data["target"]) for doc in page)
            after = page[-1].id
        return targets

    async def _lane(self, target: str) -> None:
        finished = False
        try:
            lease = await self._take_lease(target, None)
            if lease is None:
                self._dirty.discard(target)  # another replica's lane delivers this queue
                return
            bucket = _Bucket(self._settings.rate, self._settings.burst, self._clock)
            while lease is not None:
                self._dirty.discard(target)
                queue = await self._store.find(COLLECTION, "target", target)
                if not queue or self._socket_elsewhere(queue[0]):
                    # A websocket queue is delivered by the replica holding its socket; the
                    # hub wakes the lane there when the app connects.
                    await self._release(target, lease)
                    finished = not queue
                    return
                for doc in queue:
                    if self._stopping.is_set():
                        return
                    lease = await self._deliver(doc, bucket, lease)
                    if lease is None:
                        break
        except StoreError as error:
            log.warning("delivery lane stopped; the next scan resumes it", error=str(error))
        except Exception:
            log.exception("delivery lane crashed; the next scan resumes it", target=target)
        finally:
            self._lanes.pop(target, None)
            if finished and target in self._dirty:
                self.wake(target)  # queued while the lane was letting go

    def _socket_elsewhere(self, doc: Document) -> bool:
        if not doc.data.get("websocket"):
            return False
        return self._sockets is None or not self._sockets.connected(str(doc.data["target"]))

    async def _deliver(self, doc: Document, bucket: _Bucket, lease: Document) -> Document | None:
        """Deliver one notification, retrying until done; the lease still held, or None."""
        attempts = 0
        while True:
            lease_or_none = await self._renew(lease)
            if lease_or_none is None:
                return None
            lease = lease_or_none
            if self._expired(doc):
                log.info("notification expired undelivered", target=doc.data["target"])
                await self._committer.commit([Delete(COLLECTION, doc.id)])
                self._count("expired")
                return lease
            await bucket.take()
            if await self._send(doc):
                hook = self._hooks.get(str(doc.data.get("then") or ""))
                ops = list(await hook(doc)) if hook is not None else []
                await self._committer.commit([Delete(COLLECTION, doc.id), *ops])
                self._count("delivered")
                return lease
            if self._socket_elsewhere(doc):
                await self._release(lease.id, lease)  # the app hung up; wait for it elsewhere
                return None
            self._count("retried")
            attempts += 1
            delay = min(self._settings.retry_cap, self._settings.retry_base * 2 ** (attempts - 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), delay * self._jitter.uniform(0.5, 1.0)
                )
            if self._stopping.is_set():
                return None  # the next start retries it

    def _expired(self, doc: Document) -> bool:
        now = self._clock()
        expires = doc.data.get("expires")
        too_old = now - float(doc.data["created"]) > self._settings.max_age
        return too_old or (expires is not None and now > float(expires))

    async def _send(self, doc: Document) -> bool:
        body = str(doc.data["body"])
        if doc.data.get("websocket"):
            sockets = self._sockets
            return sockets is not None and await sockets.send(str(doc.data["target"]), body)
        assert self._session is not None
        try:
            async with self._session.post(
                str(doc.data["url"]),
                data=body,
                headers={"Content-Type": "application/json"},
                allow_redirects=False,
            ) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.debug("notification not delivered", target=doc.data["target"], error=repr(error))
            return False

    async def _take_lease(self, target: str, held: Document | None) -> Document | None:
        """The lease on ``target``'s lane for this replica, or None if another replica has it."""
        now = self._clock()
        current = held or await self._store.get(LEASES, target)
        held_elsewhere = current is not None and current.data["owner"] != self._owner
        if held_elsewhere and current is not None and current.data["until"] > now:
            return None
        data = {"owner": self._owner, "until": now + self._settings.lease}
        expected = ABSENT if current is None else current.version
        try:
            (version,) = await self._store.commit([Put(LEASES, target, data, expected)])
        except VersionConflict:
            return None
        return Document(LEASES, target, version, data)

    async def _renew(self, lease: Document) -> Document | None:
        if lease.data["until"] - self._clock() > self._settings.lease / 2:
            return lease
        return await self._take_lease(lease.id, lease)

    async def _release(self, target: str, lease: Document) -> None:
        with contextlib.suppress(VersionConflict):
            await self._store.commit([Delete(LEASES, target, lease.version)])

"""Service liveness (GS MEC 011 V2.2.1 clause 8.2.10): heartbeats, and suspension when they stop.

A service registered with ``livenessInterval`` > 0 promises a heartbeat (PATCH of its liveness
resource with ``state: ACTIVE``) at least every interval. While the service is ACTIVE a durable
timer waits at *last heartbeat + 2 x interval*; each heartbeat cancels it and schedules the next
in the same commit. When the timer fires, the service becomes SUSPENDED and its subscribers get
STATE_CHANGED, all in the commit that removes the timer. A heartbeat on a SUSPENDED service makes
it ACTIVE again (STATE_CHANGED). INACTIVE services are not watched: their producer declared them
down, and only the producer's PUT, not a heartbeat, brings them back (409).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from mep.core.commits import Committer
from mep.core.notify.subscriptions import TimeStamp
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, Conflict, InvalidParam, NotFound
from mep.core.store import ABSENT, Delete, Document, Operation, Put
from mep.core.timers import Timer, cancel, schedule
from mep.mp1.service_mgmt.models import (
    ChangeType,
    ServiceInfo,
    ServiceLivenessInfo,
    ServiceLivenessUpdate,
    ServiceState,
)
from mep.mp1.service_mgmt.records import (
    LIVENESS,
    SERVICES,
    Change,
    StoredService,
    load_service,
    service_data,
    service_indexes,
)
from mep.mp1.service_mgmt.subscriptions import AvailabilitySubscriptions

#: Timer kind of a service's missed-heartbeat deadline; the timer key is the serInstanceId.
LAPSE = "mp1.service.liveness"


def liveness_ops(
    service_id: str, current: Document | None, info: ServiceInfo | None, now: float
) -> list[Operation]:
    """Writes bringing a service's liveness record in line with ``info``, the service as it is
    about to be (``None``: it is being deleted). ``current`` is the record as read."""
    interval = 0 if info is None else info.liveness_interval or 0
    old_timer = None if current is None else current.data.get("timer")
    if interval == 0:
        if current is None:
            return []
        ops: list[Operation] = [Delete(LIVENESS, service_id, current.version)]
        return ops + ([cancel(old_timer)] if old_timer else [])
    assert info is not None
    watched = info.state is ServiceState.ACTIVE
    if current is not None and watched == bool(old_timer) and current.data["interval"] == interval:
        return []  # watched as it should be: the next heartbeat is due as it was
    ops = [cancel(old_timer)] if old_timer else []
    last = now if current is None else float(current.data["last"])
    timer = None
    if watched:
        # Being (re)started, or a new interval: count from now, as a fresh heartbeat.
        last = now
        deadline = schedule(LAPSE, service_id, now + 2 * interval)
        ops.append(deadline)
        timer = deadline.id
    data = {"interval": interval, "last": last, "timer": timer}
    ops.append(Put(LIVENESS, service_id, data, ABSENT if current is None else current.version))
    return ops


class Liveness:
    def __init__(self, committer: Committer, subscriptions: AvailabilitySubscriptions) -> None:
        self._committer = committer
        self._store = committer.store
        self._subscriptions = subscriptions

    async def get(self, owner: str, service_id: str) -> ServiceLivenessInfo:
        """GS MEC 011 V2.2.1 8.2.10.3.1."""
        stored = await load_service(self._store, service_id, owner)
        record = await self._record(stored)
        return _view(stored, record)

    async def heartbeat(
        self, owner: str, service_id: str, update: ServiceLivenessUpdate
    ) -> ServiceLivenessInfo:
        """GS MEC 011 V2.2.1 8.2.10.3.4: ``state: ACTIVE`` is the only heartbeat."""
        if update.state is not ServiceState.ACTIVE:
            raise BadRequest(
                "a heartbeat sets state ACTIVE",
                invalid_params=[InvalidParam("/state", "must be ACTIVE")],
            )

        async def attempt() -> ServiceLivenessInfo:  # again if a lapse, a PUT or a heartbeat won
            stored = await load_service(self._store, service_id, owner)
            record = await self._record(stored)
            if stored.info.state is ServiceState.INACTIVE:
                raise Conflict(
                    f"service {service_id!r} is INACTIVE; its producer reactivates it with PUT"
                )
            now = time.time()
            deadline = schedule(LAPSE, service_id, now + 2 * stored.interval)
            data = {"interval": stored.interval, "last": now, "timer": deadline.id}
            ops: list[Operation] = []
            if record.data.get("timer"):
                ops.append(cancel(record.data["timer"]))  # first: the new id may be the same
            ops += [deadline, Put(LIVENESS, service_id, data, record.version)]
            revived = stored
            if stored.info.state is ServiceState.SUSPENDED:
                info = stored.info.model_copy(update={"state": ServiceState.ACTIVE})
                revived = StoredService(stored.owner, info, stored.version + 1)
                ops += await self._state_change(stored, info)
            await self._committer.commit(ops)
            return _view(revived, Document(LIVENESS, service_id, record.version + 1, data))

        return await optimistically(attempt, what=f"service {service_id!r}")

    async def on_lapse(self, timer: Timer) -> Sequence[Operation]:
        """The heartbeat deadline passed: suspend the service (committed with the timer's
        removal, so a heartbeat that came meanwhile wins and this firing writes nothing)."""
        record = await self._store.get(LIVENESS, timer.key)
        if record is None or record.data.get("timer") != timer.id:
            return []  # rescheduled or stopped: this timer is stale
        doc = await self._store.get(SERVICES, timer.key)
        if doc is None:
            return [Delete(LIVENESS, record.id, record.version)]
        stored = StoredService.from_document(doc)
        data = {**record.data, "timer": None}
        ops: list[Operation] = [Put(LIVENESS, record.id, data, record.version)]
        if stored.info.state is ServiceState.ACTIVE:
            suspended = stored.info.model_copy(update={"state": ServiceState.SUSPENDED})
            ops += await self._state_change(stored, suspended)
        return ops

    async def _state_change(self, stored: StoredService, info: ServiceInfo) -> list[Operation]:
        put = Put(
            SERVICES,
            stored.id,
            service_data(stored.owner, info),
            stored.version,
            service_indexes(stored.owner, info),
        )
        change = Change(info, ChangeType.STATE_CHANGED)
        return [put, *await self._subscriptions.notification_ops([change])]

    async def _record(self, stored: StoredService) -> Document:
        record = await self._store.get(LIVENESS, stored.id)
        if record is None or stored.interval == 0:
            raise NotFound(f"service {stored.id!r} has no liveness (livenessInterval is 0)")
        return record


def _view(stored: StoredService, record: Document) -> ServiceLivenessInfo:
    return ServiceLivenessInfo(
        state=stored.info.state,
        time_stamp=TimeStamp.at(float(record.data["last"])),
        interval=int(record.data["interval"]),
    )

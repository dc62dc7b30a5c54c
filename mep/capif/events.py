"""CAPIF event subscriptions (TS 29.222 clause 8.8): create, replace, patch and delete, and what
the reporter (``mep.capif.event_reports``) needs of them.

A subscription belongs to the subscriber in its path, an API invoker or an API provider domain
function, whose certificate the API checked. It is indexed under ``event`` by each CAPIF event
it lists, so an event finds its subscribers with one index look-up, never a scan.

``eventReq`` (TS 29.523 ReportingInformation): ``monDur`` is a timer that removes the
subscription when monitoring ends; ``maxReportNbr`` (or ``notifMethod`` ONE_TIME, one report) is
counted in the subscription document, in the commit of each report, and the commit of the last
one removes the subscription (its notifications still go out). A ``requestTestNotification``
queues a TS 29.122 TestNotification at creation, and again when the destination changes, ahead
of any event in the subscription's delivery queue.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mep.capif.event_models import (
    NOTIFICATION_METHODS,
    CAPIFEventFilter,
    EventSubscription,
    EventSubscriptionPatch,
    TestNotification,
)
from mep.capif.identity import CapifIdentity, CapifRole
from mep.capif.merge_patch import patch_changes, patched
from mep.core.commits import Committer
from mep.core.http import dump
from mep.core.notify import deliveries
from mep.core.notify.deliveries import Notifier, Target
from mep.core.notify.subscriptions import target_key
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, InvalidParam, NotFound
from mep.core.store import ABSENT, Delete, Document, Operation, Put
from mep.core.timers import Timer, Timers, cancel, schedule, timer_id

COLLECTION = "capif_event_subscriptions"
BY_EVENT = "event"
BY_SUBSCRIBER = "subscriber"
EXPIRY = "capif.events.expiry"
ROOT = "/capif-events/v1"

_SERVICE_API = frozenset({"apiIds", "aefIds"})
_INVOKER = frozenset({"apiInvokerIds"})
_ALL = frozenset({"apiIds", "apiInvokerIds", "aefIds"})
#: The CAPIFEventFilter members an event can be matched on (what the event names): a filter
#: member no occurrence of its event could ever carry is refused rather than never matching.
APPLICABLE_FILTERS: Mapping[str, frozenset[str]] = {
    "SERVICE_API_AVAILABLE": _SERVICE_API,
    "SERVICE_API_UNAVAILABLE": _SERVICE_API,
    "SERVICE_API_UPDATE": _SERVICE_API,
    "API_INVOKER_ONBOARDED": _INVOKER,
    "API_INVOKER_OFFBOARDED": _INVOKER,
    "API_INVOKER_UPDATED": _INVOKER,
    "SERVICE_API_INVOCATION_SUCCESS": _ALL,
    "SERVICE_API_INVOCATION_FAILURE": _ALL,
    "ACCESS_CONTROL_POLICY_UPDATE": frozenset({"apiIds", "apiInvokerIds"}),
    "ACCESS_CONTROL_POLICY_UNAVAILABLE": frozenset({"apiIds", "apiInvokerIds"}),
    "API_INVOKER_AUTHORIZATION_REVOKED": _ALL,
    "API_TOPOLOGY_HIDING_CREATED": _SERVICE_API,
    "API_TOPOLOGY_HIDING_REVOKED": _SERVICE_API,
}


def subscription_path(subscriber_id: str, subscription_id: str) -> str:
    return f"{ROOT}/{subscriber_id}/subscriptions/{subscription_id}"


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    id: str
    subscriber_id: str
    role: CapifRole
    body: EventSubscription
    version: int
    created_at: float
    #: Reports made so far under the current ``eventReq``.
    reports: int = 0
    created: bool = False

    @property
    def key(self) -> str:
        return target_key(COLLECTION, self.id)

    @property
    def path(self) -> str:
        return subscription_path(self.subscriber_id, self.id)

    @property
    def expires_at(self) -> float | None:
        request = self.body.event_req
        return None if request is None or request.mon_dur is None else request.mon_dur.timestamp()

    @property
    def expiry_timer(self) -> str | None:
        expires_at = self.expires_at
        return None if expires_at is None else timer_id(EXPIRY, self.key, expires_at)

    @property
    def max_reports(self) -> int | None:
        request = self.body.event_req
        if request is None:
            return None
        if request.notif_method == "ONE_TIME":
            return 1
        return request.max_report_nbr or None

    @property
    def target(self) -> Target:
        return Target(self.key, self.body.notification_destination, expires_at=self.expires_at)

    def filters_for(self, event: str) -> list[CAPIFEventFilter | None]:
        """The filters applying to ``event`` (``None``: it is subscribed to unfiltered)."""
        filters = self.body.event_filters
        return [
            filters[i] if filters else None
            for i, subscribed in enumerate(self.body.events)
            if subscribed == event
        ]

    def live(self, now: float) -> bool:
        expires_at, limit = self.expires_at, self.max_reports
        return (expires_at is None or expires_at > now) and (limit is None or self.reports < limit)

    def put(self, expected: int) -> Put:
        data = {
            "subscriberId": self.subscriber_id,
            "role": self.role.value,
            "subscription": dump(self.body),
            "createdAt": self.created_at,
            "reports": self.reports,
        }
        indexes = {BY_EVENT: sorted(set(self.body.events)), BY_SUBSCRIBER: [self.subscriber_id]}
        return Put(COLLECTION, self.id, data, expected, indexes=indexes)

    @classmethod
    def from_document(cls, doc: Document) -> StoredSubscription:
        data = doc.data
        return cls(
            doc.id,
            data["subscriberId"],
            CapifRole(data["role"]),
            EventSubscription.model_validate(data["subscription"]),
            doc.version,
            float(data["createdAt"]),
            int(data.get("reports", 0)),
        )


def _filter_members(event_filter: CAPIFEventFilter) -> list[str]:
    return list(dump(event_filter))


def check_subscription(body: EventSubscription) -> EventSubscription:
    """400 naming every member that breaks TS 29.222 clause 8.8 or asks for what this CCF does
    not offer; the body as kept (a client's ``websocketUri`` is not ours to keep)."""
    params: list[InvalidParam] = []
    filters = body.event_filters
    if filters is not None and len(filters) != len(body.events):
        reason = f"eventFilters[i] applies to events[i]: {len(body.events)} filters expected"
        params.append(InvalidParam("/eventFilters", reason))
    for i, event_filter in enumerate(filters or []):
        if i >= len(body.events):
            break
        event = body.events[i]
        for member in _filter_members(event_filter):
            if member not in APPLICABLE_FILTERS[event]:
                reason = f"{event} cannot be filtered by {member}"
                params.append(InvalidParam(f"/eventFilters/{i}/{member}", reason))
    config = body.websock_notif_config
    if config is not None and config.request_websocket_uri:
        reason = "notifications are delivered to notificationDestination only"
        params.append(InvalidParam("/websockNotifConfig/requestWebsocketUri", reason))
    request = body.event_req
    if request is not None:
        if request.notif_method is not None and request.notif_method not in NOTIFICATION_METHODS:
            reason = f"one of {', '.join(NOTIFICATION_METHODS)}"
            params.append(InvalidParam("/eventReq/notifMethod", reason))
        if request.mon_dur is not None and request.mon_dur.timestamp() <= time.time():
            params.append(InvalidParam("/eventReq/monDur", "not in the future"))
    if params:
        names = ", ".join(p.param for p in params[:5])
        raise BadRequest(f"invalid event subscription: {names}", invalid_params=params)
    if config is not None and config.websocket_uri is not None:
        body = body.model_copy(
            update={"websock_notif_config": config.model_copy(update={"websocket_uri": None})}
        )
    return body


class EventSubscriptions:
    def __init__(self, committer: Committer, notifier: Notifier, ccf_url: str) -> None:
        self._committer = committer
        self._store = committer.store
        self._notifier = notifier
        self._ccf_url = ccf_url

    def register(self, timers: Timers) -> None:
        timers.on(EXPIRY, self._expire)

    def uri(self, stored: StoredSubscription) -> str:
        return f"{self._ccf_url}{stored.path}"

    async def create(
        self, subscriber: CapifIdentity, body: EventSubscription
    ) -> StoredSubscription:
        """TS 29.222 clause 8.8.2.2.3.1 (POST): with its test notification and expiry timer."""
        body = check_subscription(body)
        stored = StoredSubscription(
            str(uuid.uuid4()),
            subscriber.id,
            subscriber.role,
            body,
            ABSENT,
            time.time(),
            created=True,
        )
        versions = await self._committer.commit(self._write_ops(None, stored))
        return dataclasses.replace(stored, version=versions[0])

    async def get(self, subscriber_id: str, subscription_id: str) -> StoredSubscription:
        doc = await self._store.get(COLLECTION, subscription_id)
        if doc is None or doc.data.get("subscriberId") != subscriber_id:
            raise NotFound(f"{subscriber_id} has no event subscription {subscription_id!r}")
        return StoredSubscription.from_document(doc)

    async def replace(
        self, subscriber_id: str, subscription_id: str, body: EventSubscription
    ) -> StoredSubscription:
        """TS 29.222 clause 8.8.2.3.3.2 (PUT)."""
        body = check_subscription(body)

        async def attempt() -> StoredSubscription:
            return await self._update(await self.get(subscriber_id, subscription_id), body)

        return await optimistically(attempt, what="the event subscription")

    async def patch(
        self, subscriber_id: str, subscription_id: str, patch: dict[str, Any]
    ) -> StoredSubscription:
        """TS 29.222 clause 8.8.2.3.3.3 (PATCH, JSON Merge Patch of EventSubscriptionPatch)."""
        changes = patch_changes(EventSubscriptionPatch, patch)

        async def attempt() -> StoredSubscription:
            current = await self.get(subscriber_id, subscription_id)
            body = patched(
                current.body,
                changes,
                EventSubscription,
                what="event subscription after the patch",
            )
            return await self._update(current, check_subscription(body))

        return await optimistically(attempt, what="the event subscription")

    async def delete(self, subscriber_id: str, subscription_id: str) -> None:
        """TS 29.222 clause 8.8.2.3.3.1 (DELETE); notifications still queued are dropped."""

        async def attempt() -> None:
            stored = await self.get(subscriber_id, subscription_id)
            ops: list[Operation] = [Delete(COLLECTION, stored.id, stored.version)]
            if stored.expiry_timer is not None:
                ops.append(cancel(stored.expiry_timer))
            queued = await self._store.find(deliveries.COLLECTION, "target", stored.key)
            ops += [Delete(deliveries.COLLECTION, doc.id) for doc in queued]
            await self._committer.commit(ops)

        await optimistically(attempt, what="the event subscription")

    async def subscribed_to(self, event: str) -> list[StoredSubscription]:
        """The subscriptions listing ``event``, still reporting."""
        now = time.time()
        found = [
            StoredSubscription.from_document(doc)
            for doc in await self._store.find(COLLECTION, BY_EVENT, event)
        ]
        return [s for s in found if s.live(now)]

    def report_ops(self, stored: StoredSubscription, body: Mapping[str, Any]) -> list[Operation]:
        """The writes reporting ``body`` to ``stored``: the notification and, under a maximum
        number of reports, the count (or the removal, with the last report)."""
        ops: list[Operation] = [self._notifier.queue(stored.target, body)]
        limit = stored.max_reports
        if limit is None:
            return ops
        if stored.reports + 1 < limit:
            counted = dataclasses.replace(stored, reports=stored.reports + 1)
            return [*ops, counted.put(stored.version)]
        ops.append(Delete(COLLECTION, stored.id, stored.version))
        if stored.expiry_timer is not None:
            ops.append(cancel(stored.expiry_timer))
        return ops

    async def _update(
        self, current: StoredSubscription, body: EventSubscription
    ) -> StoredSubscription:
        reports = current.reports if body.event_req == current.body.event_req else 0
        updated = dataclasses.replace(current, body=body, reports=reports)
        versions = await self._committer.commit(self._write_ops(current, updated))
        return dataclasses.replace(updated, version=versions[0])

    def _write_ops(
        self, current: StoredSubscription | None, stored: StoredSubscription
    ) -> list[Operation]:
        ops: list[Operation] = [stored.put(stored.version)]
        old_timer = None if current is None else current.expiry_timer
        if stored.expiry_timer != old_timer:
            if old_timer is not None:
                ops.append(cancel(old_timer))
            if stored.expires_at is not None:
                ops.append(schedule(EXPIRY, stored.key, stored.expires_at, {"id": stored.id}))
        destination = stored.body.notification_destination
        moved = current is None or current.body.notification_destination != destination
        if stored.body.request_test_notification and moved:
            test = TestNotification(subscription=self.uri(stored))
            ops.append(self._notifier.queue(stored.target, dump(test)))
        return ops

    async def _expire(self, timer: Timer) -> Sequence[Operation]:
        """``monDur`` has passed: the subscription ends. What is still queued for it is given
        up by the delivery worker at the same deadline."""
        doc = await self._store.get(COLLECTION, timer.payload["id"])
        if doc is None:
            return []
        return [Delete(COLLECTION, doc.id, doc.version)]

"""RNIS subscriptions (GS MEC 012 7.6, 7.7): create, read, list, update, delete, expire.

A subscription belongs to its subscriber: an application instance sees and changes only its
own, the operator all of them. Creating one commits, with it, its TestNotification (when asked
for) and its expiry timer; deleting one drops the notifications still queued for it. The
matching index (``mep.rnis.index``) follows these writes through the committer.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mep.core.commits import Committer
from mep.core.notify import deliveries
from mep.core.notify.deliveries import Notifier, Target, check_callback
from mep.core.notify.subscriptions import WebsockNotifConfig, creation_ops, target_key
from mep.core.notify.websocket import websocket_uri
from mep.core.optimistic import optimistically
from mep.core.problem import (
    BadRequest,
    Forbidden,
    InvalidParam,
    NotFound,
    PreconditionFailed,
    Problem,
)
from mep.core.store import ABSENT, Delete, Document, Operation, Put
from mep.core.timers import Timer, cancel, schedule, timer_id
from mep.rnis.models import (
    HO_COMPLETED,
    QUERY_TYPES,
    UE_IPV4_ADDRESS,
    CellChangeSubscription,
    LinkType,
    Subscription,
    SubscriptionLinkItem,
    SubscriptionLinkList,
    SubscriptionLinkListLinks,
    SubscriptionType,
)
from mep.rnis.params import QueryParams
from mep.rnis.radio import time_stamp
from mep.rnis.records import (
    COLLECTION,
    EXPIRY,
    Links,
    StoredSubscription,
    parse_subscription,
    type_of,
)


@dataclass(frozen=True)
class Subscriber:
    """Who calls: an application instance (``subject`` is its id) or the operator."""

    subject: str
    operator: bool = False


def check_filter(body: Subscription, subscriber: Subscriber) -> Subscription:
    """Rules beyond the schema; the body with the defaults GS MEC 012 gives filled in."""
    member, criteria = body.criteria_member(), body.criteria
    owner = getattr(criteria, "app_instance_id", None)
    if owner is not None and not subscriber.operator and owner != subscriber.subject:
        raise Forbidden(
            f"application instance {subscriber.subject!r} may not subscribe for {owner!r}",
            invalid_params=[InvalidParam(f"/{member}/appInstanceId", "not the caller")],
        )
    for i, associate in enumerate(getattr(criteria, "associate_id", None) or ()):
        if associate.type != UE_IPV4_ADDRESS:
            # The network identifies UEs by IPv4 address: any other identity would never match.
            raise Problem(
                "only associateId type 1 (UE_IPv4_ADDRESS) identifies UEs on this platform",
                status=422,
                invalid_params=[InvalidParam(f"/{member}/associateId/{i}/type", "must be 1")],
            )
    if isinstance(body, CellChangeSubscription) and not body.filter_criteria_assoc_ho.ho_status:
        # GS MEC 012 6.3.2: "the default value 3 = COMPLETED shall be used and included".
        ho = body.filter_criteria_assoc_ho.model_copy(update={"ho_status": [HO_COMPLETED]})
        return body.model_copy(update={"filter_criteria_assoc_ho": ho})
    return body


def listed_type(raw: Mapping[str, Sequence[str]]) -> SubscriptionType | None:
    """The ``subscription_type`` filter of ``GET /subscriptions`` (GS MEC 012 7.6.3.1)."""
    value = QueryParams(raw, ("subscription_type",)).string("subscription_type")
    if value is None:
        return None
    if value not in QUERY_TYPES:
        reason = f"one of {', '.join(QUERY_TYPES)}"
        raise BadRequest(
            f"subscription_type must be {reason}",
            invalid_params=[InvalidParam("query subscription_type", reason)],
        )
    return QUERY_TYPES[value]


class RnisSubscriptions:
    def __init__(self, committer: Committer, notifier: Notifier, links: Links) -> None:
        self._committer = committer
        self._store = committer.store
        self._notifier = notifier
        self.links = links

    async def create(self, subscriber: Subscriber, raw: Any) -> StoredSubscription:
        """GS MEC 012 7.6.3.4: a new subscription, with its test notification and expiry."""
        body = self._accept(subscriber, parse_subscription(raw))
        subscription_id = str(uuid.uuid4())
        body = self._with_websocket(body, subscription_id)
        test = bool(body.request_test_notification)
        expires_at = _deadline(body)
        stored = StoredSubscription(
            subscription_id,
            subscriber.subject,
            body,
            active=not test,
            version=1,
            expires_at=expires_at,
            expiry_timer=self._timer_id(subscription_id, expires_at),
        )
        href = self.links.subscription(subscription_id)
        ops: list[Operation] = [
            Put(COLLECTION, subscription_id, stored.data(), ABSENT, stored.indexes())
        ]
        ops += creation_ops(self._notifier, stored.target, href=href, test=test, expires_at=None)
        ops += self._expiry_ops(stored)
        await self._committer.commit(ops)
        return stored

    async def get(self, subscriber: Subscriber, subscription_id: str) -> StoredSubscription:
        doc = await self._store.get(COLLECTION, subscription_id)
        if doc is None or not _visible(doc, subscriber):
            raise NotFound(f"no subscription {subscription_id!r}")
        return StoredSubscription.from_document(doc)

    async def find(
        self, subscriber: Subscriber, kind: SubscriptionType | None
    ) -> list[StoredSubscription]:
        """GS MEC 012 7.6.3.1: the caller's subscriptions (all of them for the operator)."""
        if not subscriber.operator:
            docs = await self._store.find(COLLECTION, "owner", subscriber.subject)
        elif kind is not None:
            docs = await self._store.find(COLLECTION, "type", kind.value)
        else:
            docs = []
            while page := await self._store.scan(COLLECTION, after=docs[-1].id if docs else None):
                docs += page
        found = [StoredSubscription.from_document(d) for d in docs]
        return [s for s in found if kind is None or s.type is kind]

    async def update(
        self, subscriber: Subscriber, subscription_id: str, raw: Any, *, if_match: int | None
    ) -> StoredSubscription:
        """GS MEC 012 7.7.3.2: replace a subscription (its type cannot change); ``if_match``
        pins the version the client read (412 when stale)."""
        body = self._accept(subscriber, parse_subscription(raw))

        async def attempt() -> StoredSubscription:
            current = await self.get(subscriber, subscription_id)
            if if_match is not None and if_match != current.version:
                raise PreconditionFailed(f"subscription {subscription_id!r} has changed")
            if type_of(body) is not current.type:
                raise BadRequest(
                    f"subscriptionType cannot change (it is {current.type.value})",
                    invalid_params=[InvalidParam("/subscriptionType", "differs from the stored")],
                )
            new = self._with_websocket(body, subscription_id)
            expires_at = _deadline(new)
            updated = StoredSubscription(
                subscription_id,
                current.owner,
                new,
                current.active,
                current.version,
                expires_at,
                self._timer_id(subscription_id, expires_at),
            )
            ops: list[Operation] = [
                Put(COLLECTION, subscription_id, updated.data(), current.version, updated.indexes())
            ]
            if current.expiry_timer != updated.expiry_timer:
                if current.expiry_timer is not None:
                    ops.append(cancel(current.expiry_timer))
                ops += self._expiry_ops(updated)
            versions = await self._committer.commit(ops)
            return dataclasses.replace(updated, version=versions[0])

        what = f"subscription {subscription_id!r}"
        return await optimistically(attempt, what=what, pinned=if_match is not None)

    async def delete(self, subscriber: Subscriber, subscription_id: str) -> None:
        """GS MEC 012 7.7.3.5. Notifications still queued for it are dropped with it."""

        async def attempt() -> None:  # again if its test notification activated it meanwhile
            stored = await self.get(subscriber, subscription_id)
            await self._committer.commit(await self._deletion_ops(stored))

        await optimistically(attempt, what=f"subscription {subscription_id!r}")

    async def removal_ops(self, owner: str) -> list[Operation]:
        """Writes deleting every subscription of an application instance that terminates."""
        ops: list[Operation] = []
        for doc in await self._store.find(COLLECTION, "owner", owner):
            ops += await self._deletion_ops(StoredSubscription.from_document(doc))
        return ops

    async def expire(self, timer: Timer) -> Sequence[Operation]:
        """The expiry timer fired: delete the subscription and send its ExpiryNotification
        (GS MEC 012 6.4.9), in one commit."""
        doc = await self._store.get(COLLECTION, timer.payload["id"])
        if doc is None:
            return []
        stored = StoredSubscription.from_document(doc)
        href = self.links.subscription(doc.id)
        body = {
            "notificationType": "ExpiryNotification",
            # V2.1.1 ``Links2`` wants ``self`` as a string; ``subscription`` as GS MEC 009 has it.
            "_links": {"self": href, "subscription": {"href": href}},
            "expiryDeadline": time_stamp(timer.due),
            "timeStamp": time_stamp(time.time()),
        }
        # Not held to the deadline that has just passed, as the subscription's own queue is.
        target = Target(stored.key, stored.body.callback_reference, stored.websocket)
        return [Delete(COLLECTION, doc.id, doc.version), self._notifier.queue(target, body)]

    def link_list(self, found: Sequence[StoredSubscription]) -> SubscriptionLinkList:
        items = [
            SubscriptionLinkItem(href=self.links.subscription(s.id), subscription_type=s.type)
            for s in found
        ]
        links = SubscriptionLinkListLinks(
            self_=LinkType(href=self.links.subscriptions()), subscription=items
        )
        return SubscriptionLinkList(links=links)

    def _accept(self, subscriber: Subscriber, body: Subscription) -> Subscription:
        body = check_filter(body, subscriber)
        config = body.websock_notif_config
        websocket = bool(config and config.request_websocket_uri)
        if check_callback(body.callback_reference) is None and not websocket:
            raise BadRequest(
                "callbackReference is required unless websockNotifConfig.requestWebsocketUri",
                invalid_params=[InvalidParam("/callbackReference", "required")],
            )
        if body.expiry_deadline is not None and body.expiry_deadline.epoch() <= time.time():
            raise BadRequest(
                "expiryDeadline is in the past",
                invalid_params=[InvalidParam("/expiryDeadline", "not in the future")],
            )
        return body

    def _with_websocket(self, body: Subscription, subscription_id: str) -> Subscription:
        """The platform's hub serves the websocket; notifications wait queued until the app
        connects. ``_links`` is rebuilt on every answer, never stored."""
        config = body.websock_notif_config
        if config is not None and config.request_websocket_uri:
            uri = websocket_uri(self.links.base_url, target_key(COLLECTION, subscription_id))
            config = WebsockNotifConfig(websocket_uri=uri, request_websocket_uri=True)
        elif config is not None:
            config = config.model_copy(update={"websocket_uri": None})
        return body.model_copy(update={"links": None, "websock_notif_config": config})

    @staticmethod
    def _timer_id(subscription_id: str, expires_at: float | None) -> str | None:
        if expires_at is None:
            return None
        return timer_id(EXPIRY, target_key(COLLECTION, subscription_id), expires_at)

    def _expiry_ops(self, stored: StoredSubscription) -> list[Operation]:
        if stored.expires_at is None:
            return []
        return [schedule(EXPIRY, stored.key, stored.expires_at, {"id": stored.id})]

    async def _deletion_ops(self, stored: StoredSubscription) -> list[Operation]:
        ops: list[Operation] = [Delete(COLLECTION, stored.id, stored.version)]
        if stored.expiry_timer is not None:
            ops.append(cancel(stored.expiry_timer))
        queued = await self._store.find(deliveries.COLLECTION, "target", stored.key)
        ops += [Delete(deliveries.COLLECTION, doc.id) for doc in queued]
        return ops


def _visible(doc: Document, subscriber: Subscriber) -> bool:
    return subscriber.operator or doc.data.get("owner") == subscriber.subject


def _deadline(body: Subscription) -> float | None:
    return None if body.expiry_deadline is None else body.expiry_deadline.epoch()

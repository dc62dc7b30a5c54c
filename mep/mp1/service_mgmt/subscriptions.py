"""Service availability subscriptions (GS MEC 011 8.2.8, 8.2.9) and their notifications (8.1.4.2).

A subscription is indexed under ``match`` by the values its filter names (``id:<serInstanceId>``,
``name:<serName>``, ``cat:<category id>``), or under ``any`` when it names none, so a registry
change finds its subscribers with a few index look-ups, never a scan of all subscriptions. The
rest of the filter (``states``, ``isLocal``) is checked on the few documents found.

The notifications a change causes are returned as writes for the caller to commit with the change
itself: an acknowledged change always has its notifications. Expiry (ExpiryNotification, then
deletion) and test notifications are the shared ones of ``mep.core.notify.subscriptions``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mep.core.commits import Committer
from mep.core.notify import deliveries
from mep.core.notify.deliveries import Notifier, Target, check_callback
from mep.core.notify.subscriptions import EXPIRY, WebsockNotifConfig, creation_ops, target_key
from mep.core.notify.websocket import websocket_uri
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, InvalidParam, NotFound
from mep.core.store import ABSENT, Delete, Document, Operation, Put
from mep.core.timers import cancel, timer_id
from mep.mp1.service_mgmt.models import (
    FilteringCriteria,
    LinkType,
    MecServiceMgmtApiSubscriptionLinkList,
    Self,
    SerAvailabilityNotificationSubscription,
    ServiceAvailabilityNotification,
    ServiceInfo,
    ServiceReference,
    SubscriptionLink,
    SubscriptionLinkItem,
    SubscriptionLinkListLinks,
)
from mep.mp1.service_mgmt.records import (
    ANY,
    SUBSCRIPTIONS,
    Change,
    Links,
    effective_is_local,
    match_key,
)

#: Service references per notification: a large deregistration is reported in several bodies.
REFERENCES_PER_NOTIFICATION = 100


@dataclass(frozen=True)
class StoredSubscription:
    id: str
    owner: str
    body: SerAvailabilityNotificationSubscription
    active: bool
    version: int
    expires_at: float | None = None
    expiry_timer: str | None = None

    @property
    def key(self) -> str:
        return target_key(SUBSCRIPTIONS, self.id)

    @property
    def target(self) -> Target:
        config = self.body.websock_notif_config
        websocket = bool(config and config.request_websocket_uri)
        return Target(self.key, self.body.callback_reference, websocket, self.expires_at)

    @classmethod
    def from_document(cls, doc: Document) -> StoredSubscription:
        data = doc.data
        body = SerAvailabilityNotificationSubscription.model_validate(data["subscription"])
        return cls(
            doc.id,
            data["owner"],
            body,
            bool(data.get("active", True)),
            doc.version,
            data.get("expiresAt"),
            data.get("expiryTimer"),
        )

    def matches(self, info: ServiceInfo) -> bool:
        """The filter members an index cannot answer: ``states`` (the state after the change)
        and ``isLocal``. Identity members were matched by the index look-up."""
        criteria = self.body.filtering_criteria
        if criteria is None:
            return True
        if criteria.states and info.state not in criteria.states:
            return False
        return criteria.is_local is None or criteria.is_local == effective_is_local(info)


def check_criteria(criteria: FilteringCriteria | None) -> None:
    """GS MEC 011 8.1.3.2: serInstanceIds, serNames and serCategories are alternatives."""
    if criteria is None:
        return
    given = [
        name
        for name, values in (
            ("serInstanceIds", criteria.ser_instance_ids),
            ("serNames", criteria.ser_names),
            ("serCategories", criteria.ser_categories),
        )
        if values
    ]
    if len(given) > 1:
        reason = "at most one of serInstanceIds, serNames and serCategories may be given"
        raise BadRequest(
            reason,
            invalid_params=[InvalidParam(f"/filteringCriteria/{name}", reason) for name in given],
        )


def match_values(criteria: FilteringCriteria | None) -> list[str]:
    """The ``match`` index values of a subscription (see the module docstring)."""
    if criteria is not None:
        if criteria.ser_instance_ids:
            return sorted({match_key("id", v) for v in criteria.ser_instance_ids})
        if criteria.ser_names:
            return sorted({match_key("name", v) for v in criteria.ser_names})
        if criteria.ser_categories:
            return sorted({match_key("cat", c.id) for c in criteria.ser_categories})
    return [ANY]


class AvailabilitySubscriptions:
    def __init__(self, committer: Committer, notifier: Notifier, links: Links) -> None:
        self._committer = committer
        self._store = committer.store
        self._notifier = notifier
        self._links = links

    async def create(
        self, owner: str, request: SerAvailabilityNotificationSubscription
    ) -> StoredSubscription:
        """GS MEC 011 8.2.8.3.4: create, with its test notification and expiry timer."""
        check_criteria(request.filtering_criteria)
        config = request.websock_notif_config
        websocket = bool(config and config.request_websocket_uri)
        callback = check_callback(request.callback_reference)
        if callback is None and not websocket:
            raise BadRequest(
                "callbackReference is required unless websockNotifConfig.requestWebsocketUri",
                invalid_params=[InvalidParam("/callbackReference", "required")],
            )
        expires_at = None
        if request.expiry_deadline is not None:
            expires_at = request.expiry_deadline.epoch()
            if expires_at <= time.time():
                raise BadRequest(
                    "expiryDeadline is in the past",
                    invalid_params=[InvalidParam("/expiryDeadline", "not in the future")],
                )
        subscription_id = str(uuid.uuid4())
        key = target_key(SUBSCRIPTIONS, subscription_id)
        if websocket:
            # The platform's hub serves it; notifications wait queued until the app connects.
            config = WebsockNotifConfig(
                websocket_uri=websocket_uri(self._links.base_url, key), request_websocket_uri=True
            )
        elif config is not None:
            config = config.model_copy(update={"websocket_uri": None})
        body = request.model_copy(update={"links": None, "websock_notif_config": config})
        test = bool(request.request_test_notification)
        indexes = {"owner": [owner], "match": match_values(request.filtering_criteria)}
        stored = StoredSubscription(
            subscription_id,
            owner,
            body,
            active=not test,
            version=1,
            expires_at=expires_at,
            expiry_timer=None if expires_at is None else timer_id(EXPIRY, key, expires_at),
        )
        data: dict[str, Any] = {
            "owner": owner,
            "subscription": body.model_dump(mode="json", exclude_none=True),
            "active": stored.active,
            "expiresAt": expires_at,
            "expiryTimer": stored.expiry_timer,
            "_indexes": indexes,
        }
        href = self._links.subscription(owner, subscription_id)
        ops: list[Operation] = [Put(SUBSCRIPTIONS, subscription_id, data, ABSENT, indexes)]
        ops += creation_ops(
            self._notifier, stored.target, href=href, test=test, expires_at=expires_at
        )
        await self._committer.commit(ops)
        return stored

    async def get(self, owner: str, subscription_id: str) -> StoredSubscription:
        doc = await self._store.get(SUBSCRIPTIONS, subscription_id)
        if doc is None or doc.data["owner"] != owner:
            raise NotFound(f"no subscription {subscription_id!r} of {owner!r}")
        return StoredSubscription.from_document(doc)

    async def owned_by(self, owner: str) -> list[StoredSubscription]:
        docs = await self._store.find(SUBSCRIPTIONS, "owner", owner)
        return [StoredSubscription.from_document(d) for d in docs]

    async def delete(self, owner: str, subscription_id: str) -> None:
        """GS MEC 011 8.2.9.3.5. Notifications still queued for it are dropped with it."""

        async def attempt() -> None:  # again if its test notification activated it meanwhile
            stored = await self.get(owner, subscription_id)
            await self._committer.commit(await self._deletion_ops(stored))

        await optimistically(attempt, what=f"subscription {subscription_id!r}")

    async def owner_removal_ops(self, owner: str) -> list[Operation]:
        """Writes deleting every subscription of ``owner``, their timers and queues."""
        ops: list[Operation] = []
        for stored in await self.owned_by(owner):
            ops += await self._deletion_ops(stored)
        return ops

    async def notification_ops(
        self, changes: Sequence[Change], *, exclude_owner: str | None = None
    ) -> list[Operation]:
        """The writes queueing a ServiceAvailabilityNotification to every active subscriber
        whose filter matches, one body per subscriber for all of ``changes``."""
        found: dict[str, list[Document]] = {}
        matched: dict[str, tuple[StoredSubscription, list[ServiceReference]]] = {}
        now = time.time()
        for change in changes:
            seen: set[str] = set()
            for key in sorted(change.match_keys()):
                if key not in found:
                    found[key] = await self._store.find(SUBSCRIPTIONS, "match", key)
                for doc in found[key]:
                    if doc.id in seen:
                        continue
                    seen.add(doc.id)
                    stored = StoredSubscription.from_document(doc)
                    if (
                        not stored.active
                        or stored.owner == exclude_owner
                        or (stored.expires_at is not None and stored.expires_at <= now)
                        or not stored.matches(change.info)
                    ):
                        continue
                    entry = matched.setdefault(doc.id, (stored, []))
                    entry[1].append(self._reference(change))
        ops: list[Operation] = []
        for stored, references in matched.values():
            href = self._links.subscription(stored.owner, stored.id)
            for start in range(0, len(references), REFERENCES_PER_NOTIFICATION):
                body = ServiceAvailabilityNotification(
                    service_references=references[start : start + REFERENCES_PER_NOTIFICATION],
                    links=SubscriptionLink(subscription=LinkType(href=href)),
                )
                payload = body.model_dump(mode="json", exclude_none=True)
                ops.append(self._notifier.queue(stored.target, payload))
        return ops

    def render(self, stored: StoredSubscription) -> SerAvailabilityNotificationSubscription:
        href = self._links.subscription(stored.owner, stored.id)
        return stored.body.model_copy(update={"links": Self(self_=LinkType(href=href))})

    def link_list(
        self, owner: str, found: Sequence[StoredSubscription]
    ) -> MecServiceMgmtApiSubscriptionLinkList:
        """GS MEC 011 8.1.3.3 MecServiceMgmtApiSubscriptionLinkList."""
        items = [SubscriptionLinkItem(href=self._links.subscription(owner, s.id)) for s in found]
        links = SubscriptionLinkListLinks(
            self_=LinkType(href=self._links.subscriptions(owner)), subscriptions=items
        )
        return MecServiceMgmtApiSubscriptionLinkList(links=links)

    def _reference(self, change: Change) -> ServiceReference:
        info = change.info
        assert info.ser_instance_id is not None
        return ServiceReference(
            link=LinkType(href=self._links.service(info.ser_instance_id)),
            ser_name=info.ser_name,
            ser_instance_id=info.ser_instance_id,
            state=info.state,
            change_type=change.change_type,
        )

    async def _deletion_ops(self, stored: StoredSubscription) -> list[Operation]:
        ops: list[Operation] = [Delete(SUBSCRIPTIONS, stored.id, stored.version)]
        if stored.expiry_timer is not None:
            ops.append(cancel(stored.expiry_timer))
        queued = await self._store.find(deliveries.COLLECTION, "target", stored.key)
        ops += [Delete(deliveries.COLLECTION, doc.id) for doc in queued]
        return ops

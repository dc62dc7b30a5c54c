"""AppTermination subscriptions (ETSI GS MEC 011 clause 7.1.3.2, with the V2.2.1 additions).

An app subscribes to its own termination: the platform then tells it, before removing it, that it
is being terminated (``mep.mp1.app_support.termination``). Each subscription is a document with
its delivery queue ``app_termination_subscriptions/{id}``; ``expiryDeadline`` and
``requestTestNotification`` follow the shared lifecycle of ``mep.core.notify.subscriptions``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mep.core.commits import Committer
from mep.core.notify.deliveries import COLLECTION as DELIVERIES
from mep.core.notify.deliveries import Notifier, Target, check_callback
from mep.core.notify.subscriptions import TimeStamp, WebsockNotifConfig, creation_ops, target_key
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, InvalidParam, NotFound
from mep.core.store import ABSENT, Delete, Document, Operation, Put
from mep.core.timers import COLLECTION as TIMERS
from mep.core.timers import cancel
from mep.mgmt.service import AppInstanceService
from mep.mp1.app_support.links import Links
from mep.mp1.app_support.models import (
    APP_TERMINATION_SUBSCRIPTION,
    AppTerminationNotificationSubscription,
    AppTerminationSubscriptionRequest,
    Link,
    MecAppSuptApiSubscriptionLinkList,
    SelfLink,
    SubscriptionLink,
    SubscriptionLinks,
)

COLLECTION = "app_termination_subscriptions"
BY_INSTANCE = "instance"


@dataclass(frozen=True)
class StoredSubscription:
    id: str
    version: int
    data: dict[str, Any]

    @property
    def app_instance_id(self) -> str:
        return str(self.data["appInstanceId"])

    @property
    def active(self) -> bool:
        return bool(self.data.get("active", True))

    def target(self, expires_at: float | None = None) -> Target:
        return Target(
            target_key(COLLECTION, self.id),
            self.data.get("callbackReference"),
            bool(self.data.get("websocket")),
            expires_at,
        )

    @classmethod
    def from_document(cls, doc: Document) -> StoredSubscription:
        return cls(doc.id, doc.version, doc.data)


def _bad(pointer: str, reason: str) -> BadRequest:
    return BadRequest(
        f"invalid subscription: {reason}", invalid_params=[InvalidParam(pointer, reason)]
    )


class TerminationSubscriptions:
    def __init__(
        self,
        committer: Committer,
        instances: AppInstanceService,
        notifier: Notifier,
        links: Links,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._store = committer.store
        self._instances = instances
        self._notifier = notifier
        self._links = links
        self._clock = clock

    async def create(
        self, instance_id: str, body: AppTerminationSubscriptionRequest
    ) -> StoredSubscription:
        if body.app_instance_id != instance_id:
            raise _bad("/appInstanceId", f"must be {instance_id!r}, the instance of the URI")
        config = body.websock_notif_config
        websocket = bool(config and config.request_websocket_uri)
        callback = check_callback(body.callback_reference)
        if callback is None and not websocket:
            raise _bad(
                "/callbackReference",
                "required unless websockNotifConfig.requestWebsocketUri is true",
            )
        deadline = None if body.expiry_deadline is None else body.expiry_deadline.epoch()
        if deadline is not None and deadline <= self._clock():
            raise _bad("/expiryDeadline", "is in the past")
        subscription_id = str(uuid.uuid4())
        target = Target(target_key(COLLECTION, subscription_id), callback, websocket)
        test = bool(body.request_test_notification)
        ops = creation_ops(
            self._notifier,
            target,
            href=self._links.subscription(instance_id, subscription_id),
            test=test,
            expires_at=deadline,
        )
        timer = next((op.id for op in ops if op.collection == TIMERS), None)
        data: dict[str, Any] = {
            "appInstanceId": instance_id,
            "callbackReference": callback,
            "websocket": websocket,
            "expiryDeadline": body.expiry_deadline.model_dump() if body.expiry_deadline else None,
            "requestTestNotification": body.request_test_notification,
            # Inactive until its test notification is delivered (GS MEC 009); never notified
            # of a termination before then.
            "active": not test,
            "expiryTimer": timer,
            "_indexes": {BY_INSTANCE: [instance_id]},
        }
        put = Put(COLLECTION, subscription_id, data, ABSENT, indexes={BY_INSTANCE: [instance_id]})
        (version, *_) = await self._committer.commit([put, *ops])
        created = StoredSubscription(subscription_id, version, data)
        if await self._instances.find(instance_id) is None:
            # The instance was removed between the access check and this commit; its removal
            # could not see this subscription, so it is taken back here.
            await self._committer.commit(await self._deletion(created))
            raise NotFound(f"no application instance {instance_id!r}")
        return created

    async def of_instance(self, instance_id: str) -> list[StoredSubscription]:
        docs = await self._store.find(COLLECTION, BY_INSTANCE, instance_id)
        return [StoredSubscription.from_document(doc) for doc in docs]

    async def get(self, instance_id: str, subscription_id: str) -> StoredSubscription:
        doc = await self._store.get(COLLECTION, subscription_id)
        if doc is None or doc.data.get("appInstanceId") != instance_id:
            raise NotFound(f"no subscription {subscription_id!r} of {instance_id!r}")
        return StoredSubscription.from_document(doc)

    async def delete(self, instance_id: str, subscription_id: str) -> None:

        async def attempt() -> None:  # again if its test notification activated it meanwhile
            found = await self.get(instance_id, subscription_id)
            await self._committer.commit(await self._deletion(found, versioned=True))

        await optimistically(attempt, what="the subscription")

    async def removal_ops(self, instance_id: str) -> list[Operation]:
        """Deleting every subscription of the instance, their expiry timers and whatever is
        still queued for them."""
        ops: list[Operation] = []
        for found in await self.of_instance(instance_id):
            ops += await self._deletion(found)
        return ops

    async def _deletion(
        self, found: StoredSubscription, *, versioned: bool = False
    ) -> list[Operation]:
        ops: list[Operation] = [Delete(COLLECTION, found.id, found.version if versioned else None)]
        if found.data.get("expiryTimer"):
            ops.append(cancel(str(found.data["expiryTimer"])))
        queued = await self._store.find(DELIVERIES, "target", target_key(COLLECTION, found.id))
        ops += [Delete(DELIVERIES, doc.id) for doc in queued]
        return ops

    def render(self, found: StoredSubscription) -> AppTerminationNotificationSubscription:
        data = found.data
        websocket = None
        if data.get("websocket"):
            uri = self._links.websocket(target_key(COLLECTION, found.id))
            websocket = WebsockNotifConfig(websocket_uri=uri, request_websocket_uri=True)
        deadline = data.get("expiryDeadline")
        return AppTerminationNotificationSubscription(
            subscription_type=APP_TERMINATION_SUBSCRIPTION,
            callback_reference=data.get("callbackReference"),
            app_instance_id=found.app_instance_id,
            expiry_deadline=None if deadline is None else TimeStamp.model_validate(deadline),
            request_test_notification=data.get("requestTestNotification"),
            websock_notif_config=websocket,
            links=SelfLink(self_=Link(href=self.href(found))),
        )

    def href(self, found: StoredSubscription) -> str:
        return self._links.subscription(found.app_instance_id, found.id)

    def link_list(
        self, instance_id: str, found: Sequence[StoredSubscription]
    ) -> MecAppSuptApiSubscriptionLinkList:
        entries = [
            SubscriptionLink(
                href=self.href(s),
                subscription_type=APP_TERMINATION_SUBSCRIPTION,
                rel=APP_TERMINATION_SUBSCRIPTION,
            )
            for s in found
        ]
        links = SubscriptionLinks(
            self_=Link(href=self._links.subscriptions(instance_id)), subscriptions=entries
        )
        return MecAppSuptApiSubscriptionLinkList(links=links)

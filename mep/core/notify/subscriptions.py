"""What every MEC subscription shares (the ETSI GS MEC 009 patterns): expiry, test notification.

A subscription document that asked for ``requestTestNotification`` is stored with
``active: false``; a TestNotification is queued with the hook ``subscription.activate``, and the
subscription becomes active when that notification is delivered. Matching code must skip
subscriptions whose ``active`` is false.

A subscription with ``expiryDeadline`` gets a timer of kind ``subscription.expiry``; when it
fires, the subscription is deleted and an ExpiryNotification is queued, in one commit.

Subscription documents keep the index values they were written with under ``_indexes``
(index name to list of values), so that this shared code can rewrite a subscription without
knowing its API's indexes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from mep.core.models import ApiModel
from mep.core.notify.deliveries import Notifier, Target
from mep.core.notify.worker import DeliveryWorker
from mep.core.store import Delete, Document, Operation, Put, Store
from mep.core.timers import Timer, Timers, schedule

ACTIVATE = "subscription.activate"
EXPIRY = "subscription.expiry"


class TimeStamp(ApiModel):
    # Uint32, as the MEC data models define it: a bound also keeps epoch() a finite float.
    seconds: int = Field(ge=0, le=2**32 - 1)
    nano_seconds: int = Field(0, ge=0, le=999_999_999)

    @classmethod
    def at(cls, when: float) -> TimeStamp:
        return cls(seconds=int(when), nano_seconds=int((when % 1) * 1e9))

    def epoch(self) -> float:
        return self.seconds + self.nano_seconds / 1e9


class WebsockNotifConfig(ApiModel):
    websocket_uri: str | None = None
    request_websocket_uri: bool | None = None


def target_key(collection: str, subscription_id: str) -> str:
    """The delivery queue of a subscription: ``<collection>/<id>``."""
    return f"{collection}/{subscription_id}"


def test_notification(href: str) -> dict[str, Any]:
    return {"notificationType": "TestNotification", "_links": {"subscription": {"href": href}}}


def expiry_notification(href: str, deadline: float) -> dict[str, Any]:
    return {
        "notificationType": "ExpiryNotification",
        "_links": {"subscription": {"href": href}},
        "expiryDeadline": TimeStamp.at(deadline).model_dump(),
        "timeStamp": TimeStamp.at(time.time()).model_dump(),
    }


def creation_ops(
    notifier: Notifier,
    target: Target,
    *,
    href: str,
    test: bool,
    expires_at: float | None,
) -> list[Operation]:
    """Writes that go with creating a subscription: its test notification and expiry timer."""
    collection, _, subscription_id = target.key.partition("/")
    ops: list[Operation] = []
    if test:
        ops.append(notifier.queue(target, test_notification(href), then=ACTIVATE))
    if expires_at is not None:
        payload = {
            "collection": collection,
            "id": subscription_id,
            "href": href,
            "url": target.url,
            "websocket": target.websocket,
        }
        ops.append(schedule(EXPIRY, target.key, expires_at, payload))
    return ops


class SubscriptionLifecycle:
    """Registers the activation hook and the expiry timer handler shared by every API."""

    def __init__(self, store: Store, notifier: Notifier) -> None:
        self._store = store
        self._notifier = notifier

    def register(self, deliveries: DeliveryWorker, timers: Timers) -> None:
        deliveries.hook(ACTIVATE, self._activate)
        timers.on(EXPIRY, self._expire)

    async def _activate(self, delivery: Document) -> Sequence[Operation]:
        collection, _, subscription_id = str(delivery.data["target"]).partition("/")
        doc = await self._store.get(collection, subscription_id)
        if doc is None or doc.data.get("active", True):
            return []
        data = {**doc.data, "active": True}
        return [Put(collection, subscription_id, data, doc.version, indexes=_indexes(doc))]

    async def _expire(self, timer: Timer) -> Sequence[Operation]:
        payload: Mapping[str, Any] = timer.payload
        doc = await self._store.get(payload["collection"], payload["id"])
        if doc is None:
            return []
        target = Target(timer.key, payload["url"], bool(payload["websocket"]))
        body = expiry_notification(payload["href"], timer.due)
        return [
            Delete(doc.collection, doc.id, doc.version),
            self._notifier.queue(target, body),
        ]


def _indexes(doc: Document) -> dict[str, list[str]]:
    stored = doc.data.get("_indexes") or {}
    return {str(name): [str(v) for v in values] for name, values in stored.items()}

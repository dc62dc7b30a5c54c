"""How RNIS subscriptions are kept in the store, parsed, and linked.

Collection ``rnis_subscriptions`` (no ``:`` or ``/``: delivery target keys split on them): one
document per subscription, id = subscriptionId, holding

* ``owner``: the subscriber (an application instance id, or ``operator``);
* ``subscription``: the body as shown to clients, without ``_links`` (rebuilt from the id);
* ``active``: false until the TestNotification asked for is delivered (GS MEC 009);
* ``expiresAt`` and ``expiryTimer``: the expiryDeadline and the timer that enforces it;
* ``_indexes``: ``owner`` and ``type`` (subscriptionType), found with ``Store.find``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mep.core.notify.deliveries import Target
from mep.core.notify.subscriptions import target_key
from mep.core.problem import BadRequest, InvalidParam
from mep.core.store import Document
from mep.core.validation import validate
from mep.rnis.models import MODELS, Subscription, SubscriptionType

COLLECTION = "rnis_subscriptions"
API = "/rni/v2"
#: Timer kind of expiryDeadline. Not the shared ``subscription.expiry``: MEC 012 V2.1.1 shapes
#: its ExpiryNotification's ``_links`` differently from GS MEC 009 (``self`` is a string).
EXPIRY = "rnis.expiry"


class Links:
    """The absolute URIs the API writes into bodies and ``Location`` headers."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.root = f"{base_url}{API}"

    def subscriptions(self) -> str:
        return f"{self.root}/subscriptions"

    def subscription(self, subscription_id: str) -> str:
        return f"{self.root}/subscriptions/{subscription_id}"


def parse_subscription(data: Any) -> Subscription:
    """The subscription of a request body: its ``subscriptionType`` picks the model, so that a
    400 names the members of that type (``/filterCriteriaQci/qci``), not of the union."""
    kind = data.get("subscriptionType") if isinstance(data, dict) else None
    try:
        model = MODELS[SubscriptionType(str(kind))]
    except ValueError:
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object") from None
        reason = f"one of {', '.join(t.value for t in SubscriptionType)}"
        raise BadRequest(
            f"subscriptionType must be {reason}",
            invalid_params=[InvalidParam("/subscriptionType", reason)],
        ) from None
    return validate(model, data)


def type_of(body: Subscription) -> SubscriptionType:
    return SubscriptionType(body.subscription_type)


@dataclass(frozen=True)
class StoredSubscription:
    id: str
    owner: str
    body: Subscription
    active: bool
    version: int
    expires_at: float | None = None
    expiry_timer: str | None = None

    @property
    def key(self) -> str:
        return target_key(COLLECTION, self.id)

    @property
    def type(self) -> SubscriptionType:
        return type_of(self.body)

    @property
    def websocket(self) -> bool:
        config = self.body.websock_notif_config
        return bool(config and config.request_websocket_uri)

    @property
    def target(self) -> Target:
        return Target(self.key, self.body.callback_reference, self.websocket, self.expires_at)

    @classmethod
    def from_data(cls, id: str, data: Mapping[str, Any], version: int) -> StoredSubscription:
        raw = data["subscription"]
        body = MODELS[SubscriptionType(raw["subscriptionType"])].model_validate(raw)
        return cls(
            id,
            data["owner"],
            body,
            bool(data.get("active", True)),
            version,
            data.get("expiresAt"),
            data.get("expiryTimer"),
        )

    @classmethod
    def from_document(cls, doc: Document) -> StoredSubscription:
        return cls.from_data(doc.id, doc.data, doc.version)

    def data(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "subscription": self.body.model_dump(mode="json", exclude_none=True),
            "active": self.active,
            "expiresAt": self.expires_at,
            "expiryTimer": self.expiry_timer,
            "_indexes": self.indexes(),
        }

    def indexes(self) -> dict[str, list[str]]:
        return {"owner": [self.owner], "type": [self.type.value]}

    def render(self, links: Links) -> dict[str, Any]:
        """The subscription as clients see it: ``subscriptionType`` first, with ``_links``."""
        wire = self.body.model_dump(mode="json", exclude_none=True)
        kind = wire.pop("subscriptionType")
        href = links.subscription(self.id)
        return {"subscriptionType": kind, **wire, "_links": {"self": {"href": href}}}

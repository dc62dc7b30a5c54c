"""How the service registry keeps its state in the store, and the links it writes.

Collections (no ``:`` or ``/`` in their names: the Redis adapter and the delivery target keys
split on them):

* ``mp1_services``: one document per service instance (id = serInstanceId) holding its owner
  and its ServiceInfo as shown to clients (``transportInfo`` resolved, no ``transportId``), found
  by ``owner``, ``name`` (serName) and ``category`` (serCategory.id);
* ``mp1_service_names``: a guard document per ``{owner}/{serName}`` written with
  ``expected_version=ABSENT``, which makes a name unique per owner atomically;
* ``mp1_service_liveness``: per service with ``livenessInterval`` > 0, the last heartbeat and
  the id of the pending lapse timer. Apart from the service document, so that heartbeats leave
  the service's ETag alone;
* ``mp1_ser_subscriptions``: SerAvailabilityNotificationSubscriptions, found by ``owner`` and by
  ``match`` (``Change.match_keys`` here, ``match_values`` in ``subscriptions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mep.core.problem import NotFound
from mep.core.store import Document, Store
from mep.mp1.service_mgmt.models import (
    ChangeType,
    LinkType,
    LocalityType,
    ServiceInfo,
    ServiceLinks,
)

SERVICES = "mp1_services"
NAMES = "mp1_service_names"
LIVENESS = "mp1_service_liveness"
SUBSCRIPTIONS = "mp1_ser_subscriptions"

API = "/mec_service_mgmt/v1"

#: Index value under which subscriptions without an instance, name or category filter are found.
ANY = "any"


def match_key(kind: str, value: str) -> str:
    """``id:<serInstanceId>``, ``name:<serName>`` or ``cat:<category id>``."""
    return f"{kind}:{value}"


@dataclass(frozen=True)
class StoredService:
    owner: str
    info: ServiceInfo
    version: int
    created: bool = False

    @property
    def id(self) -> str:
        assert self.info.ser_instance_id is not None
        return self.info.ser_instance_id

    @property
    def interval(self) -> int:
        return self.info.liveness_interval or 0

    @classmethod
    def from_document(cls, doc: Document) -> StoredService:
        return cls(doc.data["owner"], ServiceInfo.model_validate(doc.data["info"]), doc.version)


async def load_service(store: Store, service_id: str, owner: str | None = None) -> StoredService:
    """The service, if it exists and (when ``owner`` is given) belongs to ``owner``; else 404."""
    doc = await store.get(SERVICES, service_id)
    if doc is None or (owner is not None and doc.data["owner"] != owner):
        where = "" if owner is None else f" of {owner!r}"
        raise NotFound(f"no service {service_id!r}{where}")
    return StoredService.from_document(doc)


def service_data(owner: str, info: ServiceInfo) -> dict[str, Any]:
    return {"owner": owner, "info": info.model_dump(mode="json", exclude_none=True)}


def service_indexes(owner: str, info: ServiceInfo) -> dict[str, list[str]]:
    indexes = {"owner": [owner], "name": [info.ser_name]}
    if info.ser_category is not None:
        indexes["category"] = [info.ser_category.id]
    return indexes


def name_guard(owner: str, ser_name: str) -> str:
    # Owners never contain "/" (app instance ids cannot; the registry checks other owners), so
    # the first "/" separates the two parts unambiguously.
    return f"{owner}/{ser_name}"


# The defaults GS MEC 011 gives, or that follow from one platform being one MEC host: a service
# registered here is local to every app of this host unless it says otherwise, and LocalityType
# "If absent, defaults to MEC_HOST".
IS_LOCAL_DEFAULT = True
CONSUMED_LOCAL_ONLY_DEFAULT = False
SCOPE_DEFAULT = LocalityType.MEC_HOST


def effective_is_local(info: ServiceInfo) -> bool:
    return IS_LOCAL_DEFAULT if info.is_local is None else info.is_local


@dataclass(frozen=True)
class Change:
    """A registry change to report: the service as it is now (as it was, for REMOVED), and
    before the change, so that subscribers of an old name or category hear of it too."""

    info: ServiceInfo
    change_type: ChangeType
    before: ServiceInfo | None = None

    def match_keys(self) -> set[str]:
        keys = {ANY}
        for info in (self.info, self.before):
            if info is None:
                continue
            if info.ser_instance_id:
                keys.add(match_key("id", info.ser_instance_id))
            keys.add(match_key("name", info.ser_name))
            if info.ser_category is not None:
                keys.add(match_key("cat", info.ser_category.id))
        return keys


def change_between(before: ServiceInfo, after: ServiceInfo) -> ChangeType | None:
    """GS MEC 011 8.1.4.2: STATE_CHANGED when only the state changed, ATTRIBUTES_CHANGED when
    anything else did (with or without the state), ``None`` when nothing did."""
    old = before.model_dump(mode="json", exclude={"state"})
    new = after.model_dump(mode="json", exclude={"state"})
    if old != new:
        return ChangeType.ATTRIBUTES_CHANGED
    if before.state != after.state:
        return ChangeType.STATE_CHANGED
    return None


class Links:
    """The absolute URIs the API writes into bodies and ``Location`` headers."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.root = f"{base_url}{API}"

    def service(self, service_id: str) -> str:
        return f"{self.root}/services/{service_id}"

    def app_service(self, owner: str, service_id: str) -> str:
        return f"{self.root}/applications/{owner}/services/{service_id}"

    def liveness(self, owner: str, service_id: str) -> str:
        return f"{self.app_service(owner, service_id)}/liveness"

    def subscriptions(self, owner: str) -> str:
        return f"{self.root}/applications/{owner}/subscriptions"

    def subscription(self, owner: str, subscription_id: str) -> str:
        return f"{self.subscriptions(owner)}/{subscription_id}"

    def wire(self, doc: Document) -> dict[str, Any]:
        """:meth:`render` straight from a stored document: the same body, built from the JSON
        that was validated when it was written, for answers listing many services."""
        owner, info = doc.data["owner"], doc.data["info"]
        links: dict[str, Any] = {"self": {"href": self.service(doc.id)}}
        if info.get("livenessInterval"):
            links["liveness"] = {"href": self.liveness(owner, doc.id)}
        return {**info, "_links": links}

    def render(self, stored: StoredService) -> ServiceInfo:
        """The ServiceInfo clients see. ``_links.self`` is the registry-wide URI, readable by
        every Mp1 caller; ``liveness`` is under the owner, present when liveness is on."""
        liveness = None
        if stored.interval > 0:
            liveness = LinkType(href=self.liveness(stored.owner, stored.id))
        links = ServiceLinks(self_=LinkType(href=self.service(stored.id)), liveness=liveness)
        return stored.info.model_copy(update={"links": links})

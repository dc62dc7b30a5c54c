"""The MEC service registry (GS MEC 011 clause 8): registration, discovery, update, removal.

Every change is one atomic commit holding the service document, its name guard, its liveness
record and timer, and the ServiceAvailabilityNotifications it causes, so an acknowledged change
always has its notifications and a refused one leaves nothing behind.

Usable from Python as well as over HTTP: the platform registers its own services (RNIS,
Location, BWM) with :meth:`ServiceRegistry.register` under an owner id of its choosing, and app
termination removes an instance's services and subscriptions with
:meth:`ServiceRegistry.removal_ops`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection

from mep.core.commits import Committer
from mep.core.notify.deliveries import Notifier
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, Conflict, InvalidParam, PreconditionFailed
from mep.core.store import ABSENT, Delete, Document, Operation, Put, VersionConflict
from mep.core.timers import Timers
from mep.mp1.service_mgmt.capif_exposure import check_capif_exposure
from mep.mp1.service_mgmt.liveness import LAPSE, Liveness, liveness_ops
from mep.mp1.service_mgmt.models import ChangeType, ServiceInfo, ServiceState, TransportInfo
from mep.mp1.service_mgmt.queries import ServiceQuery
from mep.mp1.service_mgmt.records import (
    LIVENESS,
    NAMES,
    SERVICES,
    Change,
    Links,
    StoredService,
    change_between,
    load_service,
    name_guard,
    service_data,
    service_indexes,
)
from mep.mp1.service_mgmt.subscriptions import AvailabilitySubscriptions
from mep.mp1.service_mgmt.transports import find_transport, platform_transports

_PAGE = 1000


class ServiceRegistry:
    """The registry, with its subscriptions (``.subscriptions``) and liveness (``.liveness``)."""

    def __init__(
        self,
        committer: Committer,
        notifier: Notifier,
        base_url: str,
        *,
        reserved_names: Collection[str] = (),
    ) -> None:
        """``reserved_names``: the names of the platform's own APIs, which no app service may
        take for its ``capifExposure``."""
        self._committer = committer
        self._store = committer.store
        self._base_url = base_url
        self._reserved_names = frozenset(reserved_names)
        self.links = Links(base_url)
        self.subscriptions = AvailabilitySubscriptions(committer, notifier, self.links)
        self.liveness = Liveness(committer, self.subscriptions)

    def register_timers(self, timers: Timers) -> None:
        timers.on(LAPSE, self.liveness.on_lapse)

    def transports(self) -> list[TransportInfo]:
        """GS MEC 011 8.2.4.3.1: the transports the platform offers."""
        return platform_transports(self._base_url)

    async def register(self, owner: str, info: ServiceInfo) -> StoredService:
        """Register ``info`` as a service of ``owner`` (GS MEC 011 8.2.5.3.4); subscribers get
        ADDED. ``serInstanceId`` is assigned here; 409 when ``owner`` has a service of that name.
        """
        if not owner or "/" in owner:
            raise ValueError(f"owner {owner!r} must be non-empty and without '/'")
        if info.state is ServiceState.SUSPENDED:
            raise BadRequest(
                "SUSPENDED is set by the platform when heartbeats stop",
                invalid_params=[InvalidParam("/state", "ACTIVE or INACTIVE")],
            )
        while True:
            service_id = str(uuid.uuid4())
            stored = StoredService(owner, self._normalise(info, service_id), 1, created=True)
            ops: list[Operation] = [
                Put(
                    SERVICES,
                    service_id,
                    service_data(owner, stored.info),
                    ABSENT,
                    service_indexes(owner, stored.info),
                ),
                Put(NAMES, name_guard(owner, info.ser_name), {"serviceId": service_id}, ABSENT),
                *liveness_ops(service_id, None, stored.info, time.time()),
                *await self.subscriptions.notification_ops([Change(stored.info, ChangeType.ADDED)]),
            ]
            try:
                await self._committer.commit(ops)
                return stored
            except VersionConflict as conflict:
                if conflict.collection == NAMES:
                    raise _name_taken(owner, info.ser_name) from None
                continue  # a serInstanceId collision: astronomically rare, never fatal

    async def get(self, service_id: str, owner: str | None = None) -> StoredService:
        """The service (of ``owner``, when given), else 404."""
        return await load_service(self._store, service_id, owner)

    async def query(self, query: ServiceQuery, owner: str | None = None) -> list[StoredService]:
        """GS MEC 011 8.2.2.3.1 / 8.2.5.3.1: services matching ``query`` (of ``owner``, when
        given)."""
        return [StoredService.from_document(d) for d in await self.query_documents(query, owner)]

    async def query_documents(
        self, query: ServiceQuery, owner: str | None = None
    ) -> list[Document]:
        """The stored documents of :meth:`query`, for answering without re-validating them.
        Instance ids, names, categories and owners are index look-ups."""
        if query.ser_instance_ids:
            docs = await self._store.get_many(SERVICES, query.ser_instance_ids)
        elif query.ser_names:
            docs = [doc for name in query.ser_names for doc in await self._find("name", name)]
        elif query.ser_category_id is not None:
            docs = await self._find("category", query.ser_category_id)
        elif owner is not None:
            docs = await self._find("owner", owner)
        else:
            docs = await self._all()
        return [
            d
            for d in docs
            if (owner is None or d.data["owner"] == owner) and query.admits(d.data["info"])
        ]

    async def update(
        self, owner: str, service_id: str, info: ServiceInfo, if_match: int | None = None
    ) -> StoredService:
        """GS MEC 011 8.2.6.3.2: replace the service; subscribers get STATE_CHANGED or
        ATTRIBUTES_CHANGED. 412 when ``if_match`` is not the current version."""
        if info.ser_instance_id not in (None, service_id):
            raise BadRequest(
                "serInstanceId cannot change",
                invalid_params=[InvalidParam("/serInstanceId", f"must be {service_id}")],
            )

        async def attempt() -> StoredService:
            current = await load_service(self._store, service_id, owner)
            if if_match is not None and if_match != current.version:
                raise PreconditionFailed(f"ETag does not match version {current.version}")
            if info.state is ServiceState.SUSPENDED and current.info.state != info.state:
                raise BadRequest(
                    "SUSPENDED is set by the platform when heartbeats stop",
                    invalid_params=[InvalidParam("/state", "ACTIVE or INACTIVE")],
                )
            new = self._normalise(info, service_id)
            change = change_between(current.info, new)
            if change is None:
                return current
            try:
                return await self._replace(current, new, change)
            except VersionConflict as conflict:
                if conflict.collection == NAMES and conflict.id == name_guard(owner, new.ser_name):
                    raise _name_taken(owner, new.ser_name) from None
                raise

        what = f"service {service_id!r}"
        return await optimistically(attempt, what=what, pinned=if_match is not None)

    async def deregister(self, owner: str, service_id: str) -> None:
        """GS MEC 011 8.2.6.3.5; subscribers get REMOVED."""

        async def attempt() -> None:
            current = await load_service(self._store, service_id, owner)
            ops = await self._removal(current)
            ops += await self.subscriptions.notification_ops(
                [Change(current.info, ChangeType.REMOVED)]
            )
            await self._committer.commit(ops)

        await optimistically(attempt, what=f"service {service_id!r}")

    async def removal_ops(self, app_instance_id: str) -> list[Operation]:
        """The writes that remove everything an application instance has here, for the caller
        to commit with its own (app termination, GS MEC 011 5.2.3 / 6.2.3):

        * every service it registered, with its name guard, liveness record and timer, and a
          ServiceAvailabilityNotification (REMOVED) queued to every matching subscriber of
          another instance;
        * every SerAvailabilityNotificationSubscription it holds, with its expiry timer and the
          notifications still queued for it.

        The writes carry the versions read now: on ``VersionConflict`` (something changed
        meanwhile), call again and commit the new list. An empty list: nothing to remove.
        """
        ops: list[Operation] = []
        changes: list[Change] = []
        for doc in await self._find("owner", app_instance_id):
            stored = StoredService.from_document(doc)
            ops += await self._removal(stored)
            changes.append(Change(stored.info, ChangeType.REMOVED))
        ops += await self.subscriptions.notification_ops(changes, exclude_owner=app_instance_id)
        ops += await self.subscriptions.owner_removal_ops(app_instance_id)
        return ops

    async def _replace(
        self, current: StoredService, new: ServiceInfo, change: ChangeType
    ) -> StoredService:
        owner, service_id = current.owner, current.id
        ops: list[Operation] = [
            Put(
                SERVICES,
                service_id,
                service_data(owner, new),
                current.version,
                service_indexes(owner, new),
            )
        ]
        if new.ser_name != current.info.ser_name:
            ops += [
                Delete(NAMES, name_guard(owner, current.info.ser_name)),
                Put(NAMES, name_guard(owner, new.ser_name), {"serviceId": service_id}, ABSENT),
            ]
        record = await self._store.get(LIVENESS, service_id)
        ops += liveness_ops(service_id, record, new, time.time())
        ops += await self.subscriptions.notification_ops([Change(new, change, before=current.info)])
        await self._committer.commit(ops)
        return StoredService(owner, new, current.version + 1)

    async def _removal(self, stored: StoredService) -> list[Operation]:
        record = await self._store.get(LIVENESS, stored.id)
        return [
            Delete(SERVICES, stored.id, stored.version),
            Delete(NAMES, name_guard(stored.owner, stored.info.ser_name)),
            *liveness_ops(stored.id, record, None, time.time()),
        ]

    def _normalise(self, info: ServiceInfo, service_id: str) -> ServiceInfo:
        """The service as stored: its id, exactly one transport resolved to a TransportInfo
        (GS MEC 011 V2.2.1 8.1.2.2: transportId "shall be absent otherwise"), no links."""
        if (info.transport_id is None) == (info.transport_info is None):
            reason = "exactly one of transportId and transportInfo is required"
            raise BadRequest(
                reason,
                invalid_params=[
                    InvalidParam("/transportId", reason),
                    InvalidParam("/transportInfo", reason),
                ],
            )
        transport = info.transport_info
        if info.transport_id is not None:
            transport = find_transport(self._base_url, info.transport_id)
            if transport is None:
                raise BadRequest(
                    f"no transport {info.transport_id!r}; see GET /transports",
                    invalid_params=[InvalidParam("/transportId", "not a platform transport")],
                )
        normalised = info.model_copy(
            update={
                "ser_instance_id": service_id,
                "transport_id": None,
                "transport_info": transport,
                "links": None,
            }
        )
        check_capif_exposure(
            normalised,
            platform_transport=info.transport_id is not None,
            reserved=self._reserved_names,
        )
        return normalised

    async def _find(self, index: str, value: str) -> list[Document]:
        return await self._store.find(SERVICES, index, value)

    async def _all(self) -> list[Document]:
        docs: list[Document] = []
        after: str | None = None
        while page := await self._store.scan(SERVICES, after=after, limit=_PAGE):
            docs += page
            after = page[-1].id
        return docs


def _name_taken(owner: str, ser_name: str) -> Conflict:
    return Conflict(f"{owner!r} already has a service named {ser_name!r}")

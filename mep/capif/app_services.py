"""Apps' services published to CAPIF: every Mp1 service registered with ``capifExposure`` is
published by the platform's APF, at the platform's AEF (its API gateway), under
``/aef/{serInstanceId}``, where the gateway forwards to the service's endpoint
(``mep.capif.aef_proxy``).

The registry is the truth and CAPIF follows it: each committed write to a service schedules a
reconcile of that service (published while it asks for exposure, unpublished once it no longer
does or is gone), and a start reconciles them all. Reconciling runs in one background task, never
in the Mp1 request that caused it, and is idempotent: each API has an id derived from the APF and
the service (so restarts and replicas converge on the same documents), and ``ServiceApis.ensure``
writes only what changed.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiohttp import web

from mep.capif.domains import PlatformProvider
from mep.capif.platform import SECURITY_METHODS, interfaces, platform_api_id
from mep.capif.publish import PublishedApi, ServiceApis
from mep.capif.service_api_models import (
    AefProfile,
    InterfaceDescription,
    Resource,
    ServiceAPIDescription,
    Version,
)
from mep.core import keys
from mep.core.commits import Committer
from mep.core.problem import NotFound
from mep.core.store import Operation
from mep.mp1.service_mgmt.capif_exposure import exposed
from mep.mp1.service_mgmt.models import ServiceInfo
from mep.mp1.service_mgmt.queries import ServiceQuery
from mep.mp1.service_mgmt.records import SERVICES
from mep.mp1.service_mgmt.service import ServiceRegistry

log = structlog.get_logger("mep.capif.app_services")

#: The path under which the gateway serves an app's service (the route template's root).
PREFIX = "/aef"
ROOT = f"{PREFIX}/{{serInstanceId}}"
OPERATIONS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: The one resource published for a service: the gateway forwards every path below its root.
RESOURCE = "all"
DEFAULT_VERSION = "v1"


def service_root(ser_instance_id: str) -> str:
    return f"{PREFIX}/{ser_instance_id}"


def service_api_id(apf_id: str, ser_instance_id: str) -> str:
    """The apiId of a service's published API: the same on every start and replica."""
    return platform_api_id(apf_id, f"aef/{ser_instance_id}")


def api_version(info: ServiceInfo) -> str:
    if info.ser_category is not None:
        return info.ser_category.version
    if info.transport_info is not None:
        return info.transport_info.version
    return DEFAULT_VERSION


def _description_text(info: ServiceInfo) -> str:
    text = f"MEC service {info.ser_name} {info.version}"
    if info.ser_category is not None:
        text += f" ({info.ser_category.name})"
    if info.transport_info is not None and info.transport_info.description:
        text += f": {info.transport_info.description}"
    return text


def service_description(
    info: ServiceInfo, aef_id: str, addresses: list[InterfaceDescription]
) -> ServiceAPIDescription:
    """The ServiceAPIDescription of an exposed service: the platform's interfaces with the
    service's root as their path prefix."""
    assert info.ser_instance_id is not None
    root = service_root(info.ser_instance_id)
    at_root = [
        a.model_copy(update={"api_prefix": f"{(a.api_prefix or '').rstrip('/')}{root}"})
        for a in addresses
    ]
    resource = Resource(
        resource_name=RESOURCE, comm_type="REQUEST_RESPONSE", uri="/", operations=OPERATIONS
    )
    profile = AefProfile(
        aef_id=aef_id,
        versions=[Version(api_version=api_version(info), resources=[resource])],
        protocol="HTTP_1_1",
        data_format=info.serializer.value,
        security_methods=SECURITY_METHODS,
        interface_descriptions=at_root,
    )
    return ServiceAPIDescription(
        api_name=info.ser_name,
        aef_profiles=[profile],
        description=_description_text(info),
        service_api_category=info.ser_category.name if info.ser_category else None,
    )


def served_instance(api: PublishedApi, apf_id: str) -> str | None:
    """The serInstanceId an API of the platform's APF was published for; ``None`` for the
    platform's own APIs."""
    for profile in api.description.aef_profiles or []:
        for address in profile.interface_descriptions or []:
            prefix = address.api_prefix or ""
            _, found, ser_instance_id = prefix.rpartition(f"{PREFIX}/")
            if found and ser_instance_id and service_api_id(apf_id, ser_instance_id) == api.api_id:
                return ser_instance_id
    return None


class AppServices:
    """Publishes the exposed services of ``registry`` as ``provider``'s APF."""

    def __init__(
        self,
        registry: ServiceRegistry,
        service_apis: ServiceApis,
        provider: PlatformProvider,
        addresses: list[InterfaceDescription],
    ) -> None:
        self._registry = registry
        self._apis = service_apis
        self._provider = provider
        self._addresses = addresses
        self._pending: dict[str, None] = {}  # insertion-ordered, each service once
        self._everything = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def follow(self, committer: Committer) -> None:
        """Reconcile each service this replica writes, and (once) every service."""
        committer.watch(SERVICES, self._on_commit)
        self._everything = True
        self._wake()

    def _on_commit(self, op: Operation) -> None:
        self._pending[op.id] = None
        self._wake()

    def _wake(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="capif-app-services")

    async def _run(self) -> None:
        while self._everything or self._pending:
            if self._everything:
                self._everything = False
                work, what = self.reconcile_all(), "every service"
            else:
                service_id = next(iter(self._pending))
                del self._pending[service_id]
                work, what = self.reconcile(service_id), service_id
            try:
                await work
            except Exception:
                # The registry keeps the truth: the next change of the service, or the next
                # start, reconciles it again.
                log.exception("app service not reconciled", service=what)

    async def settle(self) -> None:
        """Wait until every reconcile scheduled so far is done."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})  # cancelling the waiter leaves the task alone

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reconcile(self, service_id: str) -> None:
        """Publish the service if it asks for exposure, else make sure it is not published."""
        try:
            stored = await self._registry.get(service_id)
        except NotFound:
            await self._unpublish(service_id)
            return
        if exposed(stored.info):
            await self._publish(stored.info)
        else:
            await self._unpublish(service_id)

    async def reconcile_all(self) -> None:
        """Publish every exposed service; unpublish the APIs of services gone or withdrawn."""
        wanted: set[str] = set()
        for stored in await self._registry.query(ServiceQuery()):
            if exposed(stored.info):
                wanted.add(stored.id)
                await self._publish(stored.info)
        for api in await self._apis.published_by(self._provider.apf_id):
            service_id = served_instance(api, self._provider.apf_id)
            if service_id is not None and service_id not in wanted:
                # Read again: another replica may have registered it since the query (a
                # service is committed before its API is published).
                await self.reconcile(service_id)

    async def _publish(self, info: ServiceInfo) -> None:
        service_id = info.ser_instance_id
        assert service_id is not None
        api_id = service_api_id(self._provider.apf_id, service_id)
        while True:
            description = service_description(info, self._provider.aef_id, self._addresses)
            if not await self._apis.ensure(self._provider.apf_id, api_id, description):
                return
            log.info("app service published", service=service_id, apiId=api_id)
            # Another replica may have changed or removed the service (and published or
            # unpublished it) between our read and our write: read it again, now that the
            # write is done, and follow what it is now.
            try:
                current = await self._registry.get(service_id)
            except NotFound:
                await self._unpublish(service_id)
                return
            if not exposed(current.info):
                await self._unpublish(service_id)
                return
            if current.info == info:
                return
            info = current.info

    async def _unpublish(self, service_id: str) -> None:
        api_id = service_api_id(self._provider.apf_id, service_id)
        try:
            await self._apis.unpublish(self._provider.apf_id, api_id)
        except NotFound:
            return
        log.info("app service unpublished", service=service_id, apiId=api_id)


async def _start(app: web.Application) -> None:
    if not app[keys.GATEWAY_ENABLED]:
        return  # without the gateway nothing would answer at the published interfaces
    settings = app[keys.SETTINGS]
    publisher = AppServices(
        app[keys.SERVICE_REGISTRY],
        app[keys.CAPIF_SERVICE_APIS],
        app[keys.CAPIF_PLATFORM],
        interfaces(settings.base_url, settings.ccf_url),
    )
    app[keys.CAPIF_APP_SERVICES] = publisher
    publisher.follow(app[keys.COMMITTER])


async def _stop(app: web.Application) -> None:
    if keys.CAPIF_APP_SERVICES in app:
        await app[keys.CAPIF_APP_SERVICES].close()


def setup(app: web.Application) -> None:
    """Start after the platform's provider domain exists (``publish_platform``); stop at
    shutdown, before the store closes."""
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)

"""The platform's own service APIs, registered in the Mp1 registry at start.

Apps discover RNIS, Location and BWM as they discover any service (``GET /services?ser_name=
rni``), with their transport: REST over HTTP at the API's root, authorised with the platform's
OAuth 2.0 token endpoint. Registration is idempotent: a restart (or another replica) finds the
services registered and only updates what changed, such as the base URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from mep.core.problem import Conflict
from mep.mp1.service_mgmt.models import (
    CategoryRef,
    LocalityType,
    SerializerType,
    ServiceInfo,
    ServiceState,
)
from mep.mp1.service_mgmt.queries import ServiceQuery
from mep.mp1.service_mgmt.service import ServiceRegistry
from mep.mp1.service_mgmt.transports import platform_transports

#: The owner of the platform's services in the registry (not an app instance id: it has no
#: credentials, so no app can act as it).
PLATFORM_OWNER = "mep-platform"

log = structlog.get_logger("mep.platform_apis")


@dataclass(frozen=True)
class PlatformApi:
    ser_name: str
    root: str
    category: str
    version: str

    @property
    def api_name(self) -> str:
        """The ``{apiName}`` of the root ``/{apiName}/{apiVersion}`` (TS 29.122 clause 5.2.4)."""
        return self.root.strip("/").partition("/")[0]

    @property
    def api_version(self) -> str:
        return self.root.strip("/").partition("/")[2]


PLATFORM_APIS = (
    PlatformApi("rni", "/rni/v2", "RNI", "2.1.1"),
    PlatformApi("location", "/location/v2", "Location", "2.2.1"),
    PlatformApi("bwm", "/bwm/v1", "BWM", "2.1.1"),
)


def service_info(api: PlatformApi, base_url: str) -> ServiceInfo:
    (transport,) = platform_transports(base_url)
    endpoint = transport.endpoint.model_copy(update={"uris": [f"{base_url}{api.root}"]})
    return ServiceInfo(
        ser_name=api.ser_name,
        ser_category=CategoryRef(
            href=f"{base_url}/mec_service_mgmt/v1/services?ser_category_id={api.ser_name}",
            id=api.ser_name,
            name=api.category,
            version=api.version,
        ),
        version=api.version,
        state=ServiceState.ACTIVE,
        transport_info=transport.model_copy(update={"endpoint": endpoint}),
        serializer=SerializerType.JSON,
        scope_of_locality=LocalityType.MEC_HOST,
        consumed_local_only=True,
        is_local=True,
    )


async def register_platform_apis(
    registry: ServiceRegistry, base_url: str, apis: Sequence[PlatformApi] = PLATFORM_APIS
) -> None:
    registered = await registry.query(ServiceQuery(), owner=PLATFORM_OWNER)
    existing = {s.info.ser_name: s for s in registered}
    for api in apis:
        wanted = service_info(api, base_url)
        current = existing.get(api.ser_name)
        try:
            if current is None:
                await registry.register(PLATFORM_OWNER, wanted)
            else:
                await registry.update(PLATFORM_OWNER, current.id, wanted)
        except Conflict:
            log.info("platform API registered by another replica meanwhile", api=api.ser_name)

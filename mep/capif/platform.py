"""The platform's own service APIs, published at start by the platform's APF.

RNIS (``/rni/v2``), Location (``/location/v2``) and BWM (``/bwm/v1``) are exposed by the
platform's AEF (its API gateway), so invokers discover them like any published API: ``apiName``
and ``apiVersion`` are the two segments of the API's root (TS 29.122 clause 5.2.4:
``{apiRoot}/{apiName}/{apiVersion}/...``), every resource the platform routes under that root
is listed with its HTTP methods, and the interfaces are the platform's own addresses: the TLS
listener (certificates or tokens) and, when it is another address, the base URL (tokens).

Each API has an id derived from the APF and the API name, so a restart (or a replica starting
at the same time) finds the same documents and writes only what changed, such as the addresses.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from mep.capif.domains import PlatformProvider
from mep.capif.publish import ServiceApis
from mep.capif.service_api_models import (
    AefProfile,
    InterfaceDescription,
    Resource,
    ServiceAPIDescription,
    Version,
)
from mep.mp1.service_mgmt.platform import PLATFORM_APIS, PlatformApi

log = structlog.get_logger("mep.capif.platform")

OPERATIONS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SECURITY_METHODS = ["OAUTH", "PKI"]
DESCRIPTIONS = {
    "rni": "ETSI GS MEC 012 Radio Network Information API",
    "location": "ETSI GS MEC 013 Location API",
    "bwm": "ETSI GS MEC 015 Bandwidth Management API",
}


@dataclass(frozen=True, slots=True)
class Route:
    """A route of the platform: its path template (``/location/v2/queries/zones/{zoneId}``)
    and method."""

    path: str
    method: str


def platform_api_id(apf_id: str, api_name: str) -> str:
    """The same id on every start and every replica."""
    return hashlib.sha256(f"{apf_id}:{api_name}".encode()).hexdigest()[:30]


def resources(root: str, routes: Iterable[Route]) -> list[Resource]:
    """Every resource routed under ``root``, with its methods; a subscription resource is
    SUBSCRIBE_NOTIFY."""
    methods: dict[str, set[str]] = {}
    for route in routes:
        if route.path.startswith(f"{root}/") and route.method in OPERATIONS:
            methods.setdefault(route.path.removeprefix(root), set()).add(route.method)
    found = []
    for uri in sorted(methods):
        comm_type = "SUBSCRIBE_NOTIFY" if "/subscriptions" in uri else "REQUEST_RESPONSE"
        found.append(
            Resource(
                resource_name=uri.strip("/"),
                comm_type=comm_type,
                uri=uri,
                operations=[m for m in OPERATIONS if m in methods[uri]],
            )
        )
    return found


def interface(url: str, security_methods: list[str] | None = None) -> InterfaceDescription:
    """The interface at ``url``: its address (IPv4, IPv6 or name), port and path prefix."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    prefix = parts.path.rstrip("/") or None
    version: int
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        version = 0
    return InterfaceDescription(
        ipv4_addr=host if version == 4 else None,
        ipv6_addr=host if version == 6 else None,
        fqdn=None if version else host,
        port=port,
        api_prefix=prefix,
        security_methods=security_methods,
    )


def interfaces(base_url: str, ccf_url: str) -> list[InterfaceDescription]:
    """The TLS listener, and the base URL when it is another address (over plain HTTP a
    client certificate cannot be presented: tokens only)."""
    found = [interface(ccf_url)]
    if base_url.rstrip("/") != ccf_url.rstrip("/"):
        plain = urlsplit(base_url).scheme == "http"
        found.append(interface(base_url, ["OAUTH"] if plain else None))
    return found


def description(
    api: PlatformApi,
    aef_id: str,
    found: list[Resource],
    addresses: list[InterfaceDescription],
) -> ServiceAPIDescription:
    api_name = api.api_name
    profile = AefProfile(
        aef_id=aef_id,
        versions=[Version(api_version=api.api_version, resources=found)],
        protocol="HTTP_1_1",
        data_format="JSON",
        security_methods=SECURITY_METHODS,
        interface_descriptions=addresses,
    )
    return ServiceAPIDescription(
        api_name=api_name,
        aef_profiles=[profile],
        description=DESCRIPTIONS.get(api_name, api.category),
        service_api_category=api.category,
    )


async def publish_platform_apis(
    service_apis: ServiceApis,
    provider: PlatformProvider,
    routes: Iterable[Route],
    *,
    base_url: str,
    ccf_url: str,
    apis: Iterable[PlatformApi] = PLATFORM_APIS,
) -> None:
    """Publish the platform's APIs as they are now; unpublish those it no longer serves."""
    routes = list(routes)
    addresses = interfaces(base_url, ccf_url)
    wanted: set[str] = set()
    for api in apis:
        found = resources(api.root, routes)
        if not found:
            continue  # not served by this build
        wanted_description = description(api, provider.aef_id, found, addresses)
        api_id = platform_api_id(provider.apf_id, wanted_description.api_name)
        wanted.add(api_id)
        if await service_apis.ensure(provider.apf_id, api_id, wanted_description):
            log.info("platform API published", api=wanted_description.api_name, apiId=api_id)
    for published in await service_apis.published_by(provider.apf_id):
        # The APF publishes the apps' exposed services too (mep.capif.app_services): only
        # the platform's own APIs have their id derived from their name.
        own = published.api_id == platform_api_id(provider.apf_id, published.description.api_name)
        if own and published.api_id not in wanted:
            await service_apis.unpublish(provider.apf_id, published.api_id)

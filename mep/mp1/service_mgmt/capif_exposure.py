"""``capifExposure``: our extension of ``ServiceInfo`` by which an app asks that its service be
published to CAPIF and reached through the platform's API gateway at ``/aef/{serInstanceId}``.

The gateway forwards to the service's own HTTP endpoint, so only a REST_HTTP service whose
endpoint names one (an ``http``/``https`` URI, or an address) can be exposed. The platform's
transport (``transportId``) names the platform, not the service; and the names of the platform's
own APIs stay theirs, since the same AEF exposes them and a token scope names APIs by name.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from mep.core.problem import BadRequest, InvalidParam
from mep.mp1.service_mgmt.models import ServiceInfo, TransportInfo, TransportType

POINTER = "/capifExposure"
SCHEMES = ("http", "https")


def _http_uri(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme.lower() in SCHEMES and bool(parts.hostname) and port != 0


def endpoint_url(transport: TransportInfo | None) -> str | None:
    """Where a REST_HTTP service answers: its first URI, or ``http://host:port`` of its first
    address; ``None`` when it names no such endpoint."""
    if transport is None or transport.type is not TransportType.REST_HTTP:
        return None
    endpoint = transport.endpoint
    if endpoint.uris:
        first = endpoint.uris[0]
        return first if _http_uri(first) else None
    if endpoint.addresses:
        address = endpoint.addresses[0]
        if address.port == 0:
            return None
        host = f"[{address.host}]" if ":" in address.host else address.host
        url = f"http://{host}:{address.port}"
        return url if _http_uri(url) else None
    return None


def exposed(info: ServiceInfo) -> bool:
    """Whether the service asks for exposure and can have it."""
    return info.capif_exposure is True and endpoint_url(info.transport_info) is not None


def check_capif_exposure(
    info: ServiceInfo, *, platform_transport: bool, reserved: Collection[str] = ()
) -> None:
    """400 naming ``/capifExposure`` when ``info`` (its transport resolved) asks for an
    exposure it cannot have. ``platform_transport``: the transport came from ``transportId``;
    ``reserved``: the names of the platform's own APIs."""
    if info.capif_exposure is not True:
        return
    reason: str | None = None
    if platform_transport:
        reason = "the platform's transport (transportId) names no endpoint of the service"
    elif endpoint_url(info.transport_info) is None:
        reason = (
            "only a REST_HTTP service whose endpoint has an http or https URI, or an address, "
            "can be exposed through the API gateway"
        )
    elif info.ser_name in reserved:
        reason = f"{info.ser_name!r} is the name of a platform API at the same API gateway"
    if reason is not None:
        raise BadRequest(f"capifExposure: {reason}", invalid_params=[InvalidParam(POINTER, reason)])

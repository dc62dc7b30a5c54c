"""The transports the platform offers to service producers (GS MEC 011 8.2.4, ``/transports``).

A producer may register a service with ``transportId`` naming one of these instead of describing
its own ``transportInfo``; the registry then stores a copy of the platform's transport.
"""

from __future__ import annotations

from mep.mp1.service_mgmt.models import (
    EndPointInfo,
    GrantType,
    OAuth2Info,
    SecurityInfo,
    TransportInfo,
    TransportType,
)

REST_HTTP_ID = "mep-rest-http"


def platform_transports(base_url: str) -> list[TransportInfo]:
    """REST over HTTP through the platform, with the platform's OAuth 2.0 token endpoint (the
    client credentials grant an app instance already uses for Mp1)."""
    return [
        TransportInfo(
            id=REST_HTTP_ID,
            name="REST",
            description="REST API over HTTP, authorised with the platform's OAuth 2.0 tokens",
            type=TransportType.REST_HTTP,
            protocol="HTTP",
            version="1.1",
            endpoint=EndPointInfo(uris=[base_url]),
            security=SecurityInfo(
                o_auth2_info=OAuth2Info(
                    grant_types=[GrantType.OAUTH2_CLIENT_CREDENTIALS],
                    token_endpoint=f"{base_url}/oauth2/token",
                )
            ),
        )
    ]


def find_transport(base_url: str, transport_id: str) -> TransportInfo | None:
    return next((t for t in platform_transports(base_url) if t.id == transport_id), None)

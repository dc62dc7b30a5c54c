"""``/capif-routing-info/v1``: the Routing Info API of TS 29.222 (CAPIF-3): how an AEF reaches
a published API.

``GET /service-apis/{serviceApiId}?aef-id=...`` takes the client certificate of the AEF
``aef-id`` names, and answers one routing rule: that AEF's profile of the API, with the UE
address ranges it serves. 404 when the API is not published or not exposed by that AEF.
"""

from __future__ import annotations

from aiohttp import web

from mep.capif.http import add_routes, bad_query, check_features
from mep.capif.identity import CapifRole, caller_identity, require_identity
from mep.capif.publish import PublishedApi
from mep.capif.security_models import RoutingInfo, RoutingRule
from mep.core import keys
from mep.core.http import json_response
from mep.core.problem import NotFound

ROOT = "/capif-routing-info/v1"
ONE = f"{ROOT}/service-apis/{{serviceApiId}}"


def routing_info(api: PublishedApi, aef_id: str) -> RoutingInfo:
    """The routing rule of ``aef_id`` for ``api``; 404 when that AEF does not expose it."""
    for profile in api.description.aef_profiles or []:
        if profile.aef_id == aef_id:
            ranges = profile.ue_ip_range
            rule = RoutingRule(
                aef_profile=profile,
                ipv4_addr_ranges=ranges.ue_ipv4_addr_ranges if ranges else None,
                ipv6_addr_ranges=ranges.ue_ipv6_addr_ranges if ranges else None,
            )
            return RoutingInfo(routing_rules=[rule])
    raise NotFound(f"AEF {aef_id} does not expose service API {api.api_id}")


async def get_routing_info(request: web.Request) -> web.Response:
    await caller_identity(request)
    aef_id = request.query.get("aef-id", "").strip()
    if not aef_id:
        raise bad_query("aef-id", "the AEF's id is required")
    check_features(request, "supp-feat")
    await require_identity(request, CapifRole.AEF, aef_id)
    api_id = request.match_info["serviceApiId"]
    found = await request.app[keys.CAPIF_SERVICE_APIS].named([api_id], [])
    if not found:
        raise NotFound(f"no published service API {api_id!r}")
    return json_response(routing_info(found[0], aef_id))


def setup(app: web.Application) -> None:
    add_routes(app, [web.get(ONE, get_routing_info)])

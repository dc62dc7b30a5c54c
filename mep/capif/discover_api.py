"""``/service-apis/v1``: the Discover Service API (TS 29.222 clause 8.1, CAPIF-1/1e).

``GET /allServiceAPIs?api-invoker-id=...`` takes the client certificate of that invoker: none
(or a revoked one) 401, another invoker's or a provider function's 403. A bad query parameter
is a 400 naming it (``query preferred-aef-loc``). ``preferred-aef-loc``, ``ue-ip-addr`` and
``service-kpis`` are JSON (the Discover file gives ``preferred-aef-loc`` as
``content: application/json``; the other two are read the same way); ``ue-ip-addr`` may also be
a bare IPv4 or IPv6 address.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from mep.capif.discover import DiscoverQuery
from mep.capif.http import add_routes, bad_query, check_features, json_query
from mep.capif.identity import CapifRole, caller_identity, require_identity
from mep.capif.service_api_models import AefLocation, IpAddrInfo, ServiceKpis
from mep.core import keys
from mep.core.http import json_response

ROOT = "/service-apis/v1"
ALL = f"{ROOT}/allServiceAPIs"

#: Query parameter -> DiscoverQuery field, for the plain string filters.
TEXT_FILTERS = {
    "api-name": "api_name",
    "api-version": "api_version",
    "comm-type": "comm_type",
    "protocol": "protocol",
    "aef-id": "aef_id",
    "data-format": "data_format",
    "api-cat": "api_cat",
    "req-api-prov-name": "req_api_prov_name",
}
FEATURE_FILTERS = {
    "supported-features": "supported_features",
    "api-supported-features": "api_supported_features",
}
JSON_FILTERS: dict[str, tuple[str, type[BaseModel]]] = {
    "preferred-aef-loc": ("preferred_aef_loc", AefLocation),
    "ue-ip-addr": ("ue_ip_addr", IpAddrInfo),
    "service-kpis": ("service_kpis", ServiceKpis),
}

M = TypeVar("M", bound=BaseModel)


def _json_filter(name: str, raw: str, model: type[M]) -> M:
    if name == "ue-ip-addr" and not raw.lstrip().startswith("{"):
        raw = _bare_address(raw)
    return json_query(name, raw, model)


def _bare_address(raw: str) -> str:
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        raise _bad("ue-ip-addr", "must be a JSON IpAddrInfo or an IP address") from None
    member = "ipv4Addr" if address.version == 4 else "ipv6Addr"
    return json.dumps({member: str(address)})


_bad = bad_query


def parse_query(request: web.Request) -> DiscoverQuery:
    """The filters of the request, or a 400 naming the first bad one."""
    query = request.query
    invoker_id = query.get("api-invoker-id", "").strip()
    if not invoker_id:
        raise _bad("api-invoker-id", "the API invoker's id is required")
    values: dict[str, Any] = {"api_invoker_id": invoker_id}
    for name, field in TEXT_FILTERS.items():
        if name in query:
            values[field] = query[name]
    for name, field in FEATURE_FILTERS.items():
        check_features(request, name)
        if name in query:
            values[field] = query[name]
    if "api-supported-features" in query and "api-name" not in query:
        raise _bad("api-supported-features", "may only be present with api-name")
    for name, (field, model) in JSON_FILTERS.items():
        if name in query:
            values[field] = _json_filter(name, query[name], model)
    return DiscoverQuery(**values)


async def discover(request: web.Request) -> web.Response:
    await caller_identity(request)
    query = parse_query(request)
    await require_identity(request, CapifRole.INVOKER, query.api_invoker_id)
    return json_response(await request.app[keys.CAPIF_DISCOVERY].discover(query))


def setup(app: web.Application) -> None:
    add_routes(app, [web.get(ALL, discover)])

"""``/api-invocation-logs/v1`` (TS 29.222 clause 8.6, CAPIF-3: an AEF reports invocations) and
``/logs/v1`` (clause 8.16, CAPIF-5: an AMF audits them); both read and write the journal the
platform's gateway records into.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from mep.capif.auditing import Auditing, AuditQuery
from mep.capif.domains import ProviderDomains
from mep.capif.http import (
    add_routes,
    bad_query,
    check_features,
    date_time_query,
    json_query,
)
from mep.capif.identity import CapifRole, require_identity
from mep.capif.invocation_models import InvocationLog
from mep.capif.journal import Invocation, PayerKind
from mep.capif.service_api_models import InterfaceDescription
from mep.core import keys
from mep.core.http import dump, json_response, read_model
from mep.core.problem import BadRequest, Forbidden, InvalidParam, NotFound
from mep.core.tokens import CallerKind

LOGS = "/api-invocation-logs/v1/{aefId}/logs"
AUDIT = "/logs/v1/apiInvocationLogs"
_TEXT_FILTERS = {
    "aef-id": "aef_id",
    "api-invoker-id": "api_invoker_id",
    "api-id": "api_id",
    "api-name": "api_name",
    "api-version": "api_version",
    "protocol": "protocol",
    "operation": "operation",
    "result": "result",
    "resource-name": "resource_name",
}


async def _check_logs(request: web.Request, body: InvocationLog, aef_id: str) -> None:
    """The body names the path's AEF, an onboarded invoker, and APIs this AEF exposes."""
    if body.aef_id != aef_id:
        raise BadRequest(
            "aefId of the body differs from the path",
            invalid_params=[InvalidParam("/aefId", f"must be {aef_id}")],
        )
    try:
        await request.app[keys.CAPIF_INVOKERS].get(body.api_invoker_id)
    except NotFound:
        raise BadRequest(
            f"no onboarded API invoker {body.api_invoker_id}",
            invalid_params=[InvalidParam("/apiInvokerId", "not an onboarded API invoker")],
        ) from None
    api_ids = {log.api_id for log in body.logs}
    published = await request.app[keys.CAPIF_SERVICE_APIS].named(api_ids, ())
    exposed = {
        api.api_id
        for api in published
        if any(p.aef_id == aef_id for p in api.description.aef_profiles or [])
    }
    for index, log in enumerate(body.logs):
        if log.api_id not in exposed:
            raise BadRequest(
                f"AEF {aef_id} exposes no published API {log.api_id}",
                invalid_params=[InvalidParam(f"/logs/{index}/apiId", "not exposed by this AEF")],
            )


async def create_logs(request: web.Request) -> web.Response:
    aef_id = request.match_info["aefId"]
    await require_identity(request, CapifRole.AEF, aef_id)
    body = await read_model(request, InvocationLog)
    await _check_logs(request, body, aef_id)
    log_id = secrets.token_hex(15)
    invocations = [
        Invocation(
            aef_id=aef_id,
            api_invoker_id=body.api_invoker_id,
            log=dump(log),
            payer_kind=PayerKind.INVOKER,
            log_id=log_id,
        )
        for log in body.logs
    ]
    await request.app[keys.CAPIF_JOURNAL].append(invocations)
    location = f"{request.app[keys.SETTINGS].ccf_url}/api-invocation-logs/v1/{aef_id}/logs/{log_id}"
    return json_response(body, status=201, headers={"Location": location})


def parse_audit_query(request: web.Request) -> AuditQuery:
    query = request.query
    values: dict[str, Any] = {}
    for name, attribute in _TEXT_FILTERS.items():
        if name in query:
            if not query[name].strip():
                raise bad_query(name, "must not be empty")
            values[attribute] = query[name].strip()
    for name, attribute in (
        ("time-range-start", "time_range_start"),
        ("time-range-end", "time_range_end"),
    ):
        if (moment := date_time_query(request, name)) is not None:
            values[attribute] = moment
    for name, attribute in (
        ("src-interface", "src_interface"),
        ("dest-interface", "dest_interface"),
    ):
        if name in query:
            values[attribute] = dump(json_query(name, query[name], InterfaceDescription))
    check_features(request, "supported-features")
    start, end = values.get("time_range_start"), values.get("time_range_end")
    if start is not None and end is not None and end < start:
        raise bad_query("time-range-end", "must not be before time-range-start")
    return AuditQuery(**values)


async def _auditable_aefs(request: web.Request) -> set[str] | None:
    """The AEFs the caller may audit: its domain's (an AMF certificate), or all (``None``,
    the operator's token)."""
    if request.headers.get("Authorization"):
        authenticator = request.app[keys.AUTHENTICATOR]
        caller = await authenticator.authenticate(request.headers["Authorization"])
        if caller.kind is not CallerKind.OPERATOR:
            raise Forbidden("auditing is for AMFs (client certificate) and the operator")
        return None
    amf = await require_identity(request, CapifRole.AMF)
    domain = await ProviderDomains(request.app[keys.STORE]).of_function(amf.id)
    if domain is None:
        raise Forbidden(f"AMF {amf.id} belongs to no registered provider domain")
    return {fid for fid, role in domain.functions.items() if role is CapifRole.AEF}


async def audit(request: web.Request) -> web.Response:
    aefs = await _auditable_aefs(request)
    query = parse_audit_query(request)
    if aefs is not None and query.aef_id is not None and query.aef_id not in aefs:
        raise Forbidden(f"AEF {query.aef_id} is not of the caller's provider domain")
    found = await Auditing(request.app[keys.CAPIF_JOURNAL]).search(query, aef_ids=aefs)
    if not found:
        raise NotFound("no invocation logs match the query")
    if len(found) == 1:
        return json_response(found[0])
    return json_response({"multipleInvocationLogs": found})


def setup(app: web.Application) -> None:
    add_routes(app, [web.post(LOGS, create_logs), web.get(AUDIT, audit)])

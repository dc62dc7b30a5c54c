"""``/mep_mgmt/v1/app_instances``: the operator's API for application instances."""

from __future__ import annotations

from aiohttp import web

from mep.auth.guard import require
from mep.core import keys
from mep.core.http import etag, if_match_version, json_response, read_model
from mep.core.tokens import CallerKind
from mep.dataplane.support import refuse_unsupported
from mep.mgmt.models import AppInstance, AppInstanceLinks, AppInstanceSpec, Link
from mep.mgmt.service import StoredInstance

BASE = "/mep_mgmt/v1/app_instances"
DATAPLANE = "/mep_mgmt/v1/dataplane"
operator = require(CallerKind.OPERATOR)


def _render(request: web.Request, stored: StoredInstance) -> AppInstance:
    record = stored.record
    href = f"{request.app[keys.SETTINGS].base_url}{BASE}/{record.app_instance_id}"
    return AppInstance(
        **record.spec.model_dump(),
        app_instance_id=record.app_instance_id,
        state=record.state,
        client_id=record.app_instance_id,
        client_secret=stored.client_secret,
        created_at=record.created_at,
        links=AppInstanceLinks(self_=Link(href=href)),
    )


async def _ports_told(request: web.Request) -> None:
    """The data plane and the DNS responder have the instance's rules before the answer."""
    await request.app[keys.RULE_PORTS].flush()


def _respond(request: web.Request, stored: StoredInstance) -> web.Response:
    body = _render(request, stored)
    headers = {"ETag": etag(stored.version), "Cache-Control": "no-store"}
    if stored.created:
        headers["Location"] = body.links.self_.href
    return json_response(body, status=201 if stored.created else 200, headers=headers)


def _enforceable(request: web.Request, spec: AppInstanceSpec) -> None:
    """400 for a traffic rule the data plane cannot enforce, before anything is written."""
    rules = [(f"/trafficRules/{n}", rule) for n, rule in enumerate(spec.traffic_rules)]
    refuse_unsupported(request.app[keys.DATAPLANE].capabilities(), rules)


@operator
async def create_instance(request: web.Request) -> web.Response:
    spec = await read_model(request, AppInstanceSpec)
    _enforceable(request, spec)
    stored = await request.app[keys.APP_INSTANCES].create(spec)
    await _ports_told(request)
    return _respond(request, stored)


@operator
async def list_instances(request: web.Request) -> web.Response:
    found = await request.app[keys.APP_INSTANCES].list()
    return json_response([_render(request, s) for s in found])


@operator
async def get_instance(request: web.Request) -> web.Response:
    stored = await request.app[keys.APP_INSTANCES].get(request.match_info["appInstanceId"])
    return _respond(request, stored)


@operator
async def put_instance(request: web.Request) -> web.Response:
    spec = await read_model(request, AppInstanceSpec)
    _enforceable(request, spec)
    service = request.app[keys.APP_INSTANCES]
    stored = await service.put(
        request.match_info["appInstanceId"], spec, if_match=if_match_version(request)
    )
    await _ports_told(request)
    return _respond(request, stored)


@operator
async def delete_instance(request: web.Request) -> web.Response:
    """204 when the instance is gone at once; 202 (the instance, TERMINATING) while the app
    has its graceful timeout to confirm termination (``mep.mp1.app_support.termination``)."""
    terminations = request.app[keys.TERMINATIONS]
    outcome = await terminations.terminate(request.match_info["appInstanceId"])
    if outcome.instance is None:
        return web.Response(status=204)
    body = _render(request, outcome.instance)
    headers = {"ETag": etag(outcome.instance.version), "Content-Location": body.links.self_.href}
    return json_response(body, status=202, headers=headers)


@operator
async def get_dataplane(request: web.Request) -> web.Response:
    """The data plane's driver, its capabilities and the outcome of its last apply."""
    return json_response(request.app[keys.DATAPLANE].report())


def setup(app: web.Application) -> None:
    app.router.add_post(BASE, create_instance)
    app.router.add_get(BASE, list_instances)
    app.router.add_get(f"{BASE}/{{appInstanceId}}", get_instance)
    app.router.add_put(f"{BASE}/{{appInstanceId}}", put_instance)
    app.router.add_delete(f"{BASE}/{{appInstanceId}}", delete_instance)
    app.router.add_get(DATAPLANE, get_dataplane)

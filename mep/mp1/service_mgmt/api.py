"""Mp1 service management API handlers (ETSI GS MEC 011 clause 8, ``/mec_service_mgmt/v1``).

Every call needs a bearer token. Any app instance (and the operator) reads the registry and the
transports; under ``/applications/{appInstanceId}`` only that instance (or the operator) acts.
"""

from __future__ import annotations

from aiohttp import web

from mep.core import keys
from mep.core.http import etag, if_match_version, json_response, read_model
from mep.core.problem import Problem
from mep.mp1.access import app_scoped, mp1_caller
from mep.mp1.service_mgmt.models import (
    SerAvailabilityNotificationSubscription,
    ServiceInfo,
    ServiceLivenessUpdate,
)
from mep.mp1.service_mgmt.platform import PLATFORM_APIS, register_platform_apis
from mep.mp1.service_mgmt.queries import MAX_QUERY_LENGTH, ServiceQuery
from mep.mp1.service_mgmt.records import API, StoredService
from mep.mp1.service_mgmt.service import ServiceRegistry

APP = f"{API}/applications/{{appInstanceId}}"
SERVICE = f"{APP}/services/{{serviceId}}"
SUBSCRIPTION = f"{APP}/subscriptions/{{subscriptionId}}"


def _registry(request: web.Request) -> ServiceRegistry:
    return request.app[keys.SERVICE_REGISTRY]


def _owner(request: web.Request) -> str:
    return request.match_info["appInstanceId"]


def _query(request: web.Request) -> ServiceQuery:
    if len(request.query_string) > MAX_QUERY_LENGTH:
        raise Problem(f"the query is longer than {MAX_QUERY_LENGTH} characters", status=414)
    query = request.query
    return ServiceQuery.parse({name: query.getall(name) for name in set(query.keys())})


def _service(request: web.Request, stored: StoredService) -> web.Response:
    registry = _registry(request)
    headers = {"ETag": etag(stored.version)}
    if stored.created:
        headers["Location"] = registry.links.app_service(stored.owner, stored.id)
    status = 201 if stored.created else 200
    return json_response(registry.links.render(stored), status=status, headers=headers)


async def _services(request: web.Request, owner: str | None = None) -> web.Response:
    registry = _registry(request)
    found = await registry.query_documents(_query(request), owner=owner)
    return json_response([registry.links.wire(doc) for doc in found])


@mp1_caller
async def list_services(request: web.Request) -> web.Response:
    return await _services(request)


@mp1_caller
async def get_service(request: web.Request) -> web.Response:
    return _service(request, await _registry(request).get(request.match_info["serviceId"]))


@mp1_caller
async def list_transports(request: web.Request) -> web.Response:
    return json_response(_registry(request).transports())


@app_scoped
async def list_app_services(request: web.Request) -> web.Response:
    return await _services(request, owner=_owner(request))


@app_scoped
async def register_service(request: web.Request) -> web.Response:
    info = await read_model(request, ServiceInfo)
    return _service(request, await _registry(request).register(_owner(request), info))


@app_scoped
async def get_app_service(request: web.Request) -> web.Response:
    registry = _registry(request)
    return _service(request, await registry.get(request.match_info["serviceId"], _owner(request)))


@app_scoped
async def put_app_service(request: web.Request) -> web.Response:
    info = await read_model(request, ServiceInfo)
    stored = await _registry(request).update(
        _owner(request),
        request.match_info["serviceId"],
        info,
        if_match=if_match_version(request),
    )
    return _service(request, stored)


@app_scoped
async def delete_app_service(request: web.Request) -> web.Response:
    await _registry(request).deregister(_owner(request), request.match_info["serviceId"])
    return web.Response(status=204)


@app_scoped
async def get_liveness(request: web.Request) -> web.Response:
    liveness = _registry(request).liveness
    return json_response(await liveness.get(_owner(request), request.match_info["serviceId"]))


@app_scoped
async def patch_liveness(request: web.Request) -> web.Response:
    update = await read_model(request, ServiceLivenessUpdate)
    liveness = _registry(request).liveness
    info = await liveness.heartbeat(_owner(request), request.match_info["serviceId"], update)
    return json_response(info)


@app_scoped
async def list_subscriptions(request: web.Request) -> web.Response:
    subscriptions = _registry(request).subscriptions
    owner = _owner(request)
    return json_response(subscriptions.link_list(owner, await subscriptions.owned_by(owner)))


@app_scoped
async def create_subscription(request: web.Request) -> web.Response:
    body = await read_model(request, SerAvailabilityNotificationSubscription)
    subscriptions = _registry(request).subscriptions
    stored = await subscriptions.create(_owner(request), body)
    rendered = subscriptions.render(stored)
    assert rendered.links is not None
    return json_response(rendered, status=201, headers={"Location": rendered.links.self_.href})


@app_scoped
async def get_subscription(request: web.Request) -> web.Response:
    subscriptions = _registry(request).subscriptions
    stored = await subscriptions.get(_owner(request), request.match_info["subscriptionId"])
    return json_response(subscriptions.render(stored))


@app_scoped
async def delete_subscription(request: web.Request) -> web.Response:
    subscriptions = _registry(request).subscriptions
    await subscriptions.delete(_owner(request), request.match_info["subscriptionId"])
    return web.Response(status=204)


def _start(app: web.Application) -> None:
    registry = ServiceRegistry(
        app[keys.COMMITTER],
        app[keys.NOTIFIER],
        app[keys.SETTINGS].base_url,
        reserved_names=[api.ser_name for api in PLATFORM_APIS],
    )
    registry.register_timers(app[keys.TIMERS])
    app[keys.SERVICE_REGISTRY] = registry
    app[keys.INSTANCE_REMOVALS].append(registry.removal_ops)


async def _register_platform_apis(app: web.Application) -> None:
    await register_platform_apis(app[keys.SERVICE_REGISTRY], app[keys.SETTINGS].base_url)


def setup(app: web.Application) -> None:
    """Routes, and the startup wiring appended to ``app[keys.SERVICE_SETUPS]``."""
    router = app.router
    router.add_get(f"{API}/services", list_services)
    router.add_get(f"{API}/services/{{serviceId}}", get_service)
    router.add_get(f"{API}/transports", list_transports)
    router.add_get(f"{APP}/services", list_app_services)
    router.add_post(f"{APP}/services", register_service)
    router.add_get(SERVICE, get_app_service)
    router.add_put(SERVICE, put_app_service)
    router.add_delete(SERVICE, delete_app_service)
    router.add_get(f"{SERVICE}/liveness", get_liveness)
    router.add_patch(f"{SERVICE}/liveness", patch_liveness)
    router.add_get(f"{APP}/subscriptions", list_subscriptions)
    router.add_post(f"{APP}/subscriptions", create_subscription)
    router.add_get(SUBSCRIPTION, get_subscription)
    router.add_delete(SUBSCRIPTION, delete_subscription)
    app[keys.SERVICE_SETUPS].append(_start)
    # After the shared parts and every API's wiring exist (they start in the cleanup context).
    app.on_startup.append(_register_platform_apis)

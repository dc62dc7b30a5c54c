"""Location API handlers (ETSI GS MEC 013 V2.2.1, ``/location/v2``).

Every call needs a bearer token: an application instance's or the operator's. Bodies are
wrapped in one root key (``{"userList": {...}}``). Subscriptions belong to their creator; the
operator sees and manages every one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog
from aiohttp import web

from mep.auth.guard import principal, service_api_caller
from mep.core import keys
from mep.core.http import JSON, etag, if_match_version, json_response, read_json_body
from mep.core.validation import validate
from mep.location.kinds import KINDS, Kind, unwrap
from mep.location.queries import DistanceQuery, UsersQuery
from mep.location.records import API, Stored
from mep.location.service import Location
from mep.network.static import StaticNetworkSource

log = structlog.get_logger("mep.location")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _location(request: web.Request) -> Location:
    return request.app[keys.LOCATION]


def _query(request: web.Request) -> Mapping[str, Sequence[str]]:
    return {name: request.query.getall(name) for name in set(request.query.keys())}


def _owner(request: web.Request) -> str:
    return principal(request).subject


def _scope(request: web.Request) -> str | None:
    """Whose subscriptions the caller reaches: its own, or (operator) everyone's."""
    caller = principal(request)
    return None if caller.is_operator else caller.subject


@service_api_caller
async def distance(request: web.Request) -> web.Response:
    return json_response(_location(request).queries.distance(DistanceQuery.parse(_query(request))))


@service_api_caller
async def users(request: web.Request) -> web.Response:
    body = _location(request).queries.users(UsersQuery.parse(_query(request)))
    return web.Response(body=body, content_type=JSON, charset="utf-8")


@service_api_caller
async def zones(request: web.Request) -> web.Response:
    return json_response(_location(request).queries.zones())


@service_api_caller
async def zone(request: web.Request) -> web.Response:
    return json_response(_location(request).queries.zone(request.match_info["zoneId"]))


@service_api_caller
async def access_points(request: web.Request) -> web.Response:
    realm = request.query.get("interestRealm")
    queries = _location(request).queries
    return json_response(queries.access_points(request.match_info["zoneId"], realm))


@service_api_caller
async def access_point(request: web.Request) -> web.Response:
    info = request.match_info
    queries = _location(request).queries
    return json_response(queries.access_point(info["zoneId"], info["accessPointId"]))


def _one(request: web.Request, stored: Stored, status: int = 200) -> web.Response:
    subscriptions = _location(request).subscriptions
    body = subscriptions.render(stored)
    headers = {"ETag": etag(stored.version)}
    if status == 201:
        headers["Location"] = body[KINDS[stored.kind].root]["resourceURL"]
    return json_response(body, status=status, headers=headers)


def _handlers(kind: Kind) -> tuple[Handler, Handler, Handler, Handler, Handler]:
    """List, create, get, replace and delete for one subscription type."""
    info = KINDS[kind]

    @service_api_caller
    async def list_(request: web.Request) -> web.Response:
        subscriptions = _location(request).subscriptions
        found = await subscriptions.list_of(_scope(request), kind)
        return json_response(subscriptions.render_list(kind, found))

    @service_api_caller
    async def create(request: web.Request) -> web.Response:
        sub = unwrap(kind, validate(info.body, await read_json_body(request)))
        saved = await _location(request).subscriptions.create(_owner(request), kind, sub)
        # A repeated create (same clientCorrelator, same body) is answered as the first was.
        return _one(request, saved.stored, 201)

    @service_api_caller
    async def get(request: web.Request) -> web.Response:
        subscriptions = _location(request).subscriptions
        found = await subscriptions.get(_scope(request), kind, request.match_info["subscriptionId"])
        return _one(request, found)

    @service_api_caller
    async def put(request: web.Request) -> web.Response:
        sub = unwrap(kind, validate(info.body, await read_json_body(request)))
        stored = await _location(request).subscriptions.replace(
            _scope(request),
            kind,
            request.match_info["subscriptionId"],
            sub,
            if_match=if_match_version(request),
        )
        return _one(request, stored)

    @service_api_caller
    async def delete(request: web.Request) -> web.Response:
        subscriptions = _location(request).subscriptions
        await subscriptions.delete(_scope(request), kind, request.match_info["subscriptionId"])
        return web.Response(status=204)

    return list_, create, get, put, delete


def _start(app: web.Application) -> None:
    network = app.get(keys.NETWORK)
    if network is None:
        log.warning("no network source: Location answers for an empty network")
        network = StaticNetworkSource()
    location = Location(
        app[keys.COMMITTER],
        app[keys.NOTIFIER],
        app[keys.TIMERS],
        network,
        app[keys.SETTINGS].base_url,
    )
    app[keys.INSTANCE_REMOVALS].append(location.subscriptions.removal_ops)
    app[keys.LOCATION] = location


async def _load_index(app: web.Application) -> None:
    # on_startup handlers added here run after the platform's startup (and so after _start):
    # the subscriptions are in memory before the first network change.
    await app[keys.LOCATION].index.ready()


def setup(app: web.Application) -> None:
    """Routes, and the startup wiring appended to ``app[keys.SERVICE_SETUPS]``."""
    router = app.router
    router.add_get(f"{API}/queries/distance", distance)
    router.add_get(f"{API}/queries/users", users)
    router.add_get(f"{API}/queries/zones", zones)
    router.add_get(f"{API}/queries/zones/{{zoneId}}", zone)
    router.add_get(f"{API}/queries/zones/{{zoneId}}/accessPoints", access_points)
    router.add_get(f"{API}/queries/zones/{{zoneId}}/accessPoints/{{accessPointId}}", access_point)
    for kind, info in KINDS.items():
        list_, create, get, put, delete = _handlers(kind)
        collection = f"{API}/subscriptions/{info.path}"
        router.add_get(collection, list_)
        router.add_post(collection, create)
        router.add_get(f"{collection}/{{subscriptionId}}", get)
        router.add_put(f"{collection}/{{subscriptionId}}", put)
        router.add_delete(f"{collection}/{{subscriptionId}}", delete)
    app[keys.SERVICE_SETUPS].append(_start)
    app.on_startup.append(_load_index)

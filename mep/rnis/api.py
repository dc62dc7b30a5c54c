"""Radio Network Information API (ETSI GS MEC 012 clause 7), ``/rni/v2``.

Application instances and the operator may call it (the Mp1 callers). Queries read the network
source; subscriptions belong to their subscriber, who alone (with the operator) sees them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiohttp import web

from mep.auth.guard import principal, service_api_caller
from mep.core import keys
from mep.core.http import JSON, etag, if_match_version, json_response, read_json_body
from mep.network.static import StaticNetworkSource
from mep.rnis.records import API, StoredSubscription
from mep.rnis.service import Rnis
from mep.rnis.subscriptions import Subscriber, listed_type

SUBSCRIPTIONS = f"{API}/subscriptions"
SUBSCRIPTION = f"{SUBSCRIPTIONS}/{{subscriptionId}}"


def _rnis(request: web.Request) -> Rnis:
    return request.app[keys.RNIS]


def _query(request: web.Request) -> Mapping[str, Sequence[str]]:
    return {name: request.query.getall(name) for name in set(request.query.keys())}


def _encoded(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=JSON, charset="utf-8")


def _subscriber(request: web.Request) -> Subscriber:
    caller = principal(request)
    return Subscriber(caller.subject, operator=caller.is_operator)


def _subscription(request: web.Request, stored: StoredSubscription, status: int) -> web.Response:
    body = stored.render(_rnis(request).subscriptions.links)
    headers = {"ETag": etag(stored.version)}
    if status == 201:
        headers["Location"] = body["_links"]["self"]["href"]
    return json_response(body, status=status, headers=headers)


@service_api_caller
async def rab_info(request: web.Request) -> web.Response:
    return _encoded(_rnis(request).rab_info(_query(request), principal(request).subject))


@service_api_caller
async def plmn_info(request: web.Request) -> web.Response:
    return _encoded(await _rnis(request).plmn_info(_query(request)))


@service_api_caller
async def s1_bearer_info(request: web.Request) -> web.Response:
    return _encoded(_rnis(request).s1_bearer_info(_query(request)))


@service_api_caller
async def layer2_meas(request: web.Request) -> web.Response:
    return _encoded(_rnis(request).layer2_meas(_query(request)))


@service_api_caller
async def list_subscriptions(request: web.Request) -> web.Response:
    subscriptions = _rnis(request).subscriptions
    found = await subscriptions.find(_subscriber(request), listed_type(_query(request)))
    return json_response(subscriptions.link_list(found))


@service_api_caller
async def create_subscription(request: web.Request) -> web.Response:
    raw = await read_json_body(request)
    stored = await _rnis(request).subscriptions.create(_subscriber(request), raw)
    return _subscription(request, stored, 201)


@service_api_caller
async def get_subscription(request: web.Request) -> web.Response:
    subscriptions = _rnis(request).subscriptions
    stored = await subscriptions.get(_subscriber(request), request.match_info["subscriptionId"])
    return _subscription(request, stored, 200)


@service_api_caller
async def put_subscription(request: web.Request) -> web.Response:
    raw = await read_json_body(request)
    stored = await _rnis(request).subscriptions.update(
        _subscriber(request),
        request.match_info["subscriptionId"],
        raw,
        if_match=if_match_version(request),
    )
    return _subscription(request, stored, 200)


@service_api_caller
async def delete_subscription(request: web.Request) -> web.Response:
    subscriptions = _rnis(request).subscriptions
    await subscriptions.delete(_subscriber(request), request.match_info["subscriptionId"])
    return web.Response(status=204)


def _start(app: web.Application) -> None:
    # Without a network module providing one, RNIS answers for an empty network.
    network = app.get(keys.NETWORK) or StaticNetworkSource()
    rnis = Rnis(
        app[keys.COMMITTER],
        app[keys.NOTIFIER],
        network,
        app[keys.APP_INSTANCES],
        app[keys.SETTINGS].base_url,
    )
    rnis.register_timers(app[keys.TIMERS])
    rnis.listen()
    app[keys.INSTANCE_REMOVALS].append(rnis.subscriptions.removal_ops)
    app[keys.RNIS] = rnis


async def _load(app: web.Application) -> None:
    # on_startup handlers added here run after the platform's startup (and so after _start).
    await app[keys.RNIS].load()


def setup(app: web.Application) -> None:
    """Routes, and the startup wiring appended to ``app[keys.SERVICE_SETUPS]``."""
    router = app.router
    router.add_get(f"{API}/queries/rab_info", rab_info)
    router.add_get(f"{API}/queries/plmn_info", plmn_info)
    router.add_get(f"{API}/queries/s1_bearer_info", s1_bearer_info)
    router.add_get(f"{API}/queries/layer2_meas", layer2_meas)
    router.add_get(SUBSCRIPTIONS, list_subscriptions)
    router.add_post(SUBSCRIPTIONS, create_subscription)
    router.add_get(SUBSCRIPTION, get_subscription)
    router.add_put(SUBSCRIPTION, put_subscription)
    router.add_delete(SUBSCRIPTION, delete_subscription)
    app[keys.SERVICE_SETUPS].append(_start)
    app.on_startup.append(_load)

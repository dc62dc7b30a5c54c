"""``/capif-events/v1``: the CAPIF Events API (TS 29.222 clause 8.8, CAPIF-1/1e/3/4/5).

Every operation takes the client certificate of the subscriber named in the path: an API
invoker (its apiInvokerId) or an API provider domain function (its apiProvFuncId). None (or a
revoked one) 401, another identity's 403. The YAML defines no GET: none is served.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

from aiohttp import web

from mep.capif.event_consumer import EventConsumer, EventReporter
from mep.capif.event_models import EventSubscription
from mep.capif.event_reports import EventReports
from mep.capif.events import ROOT, EventSubscriptions, StoredSubscription
from mep.capif.http import add_routes, answer, read_merge_patch
from mep.capif.identity import CapifIdentity, CapifRole, require_identity
from mep.core import keys
from mep.core.http import read_model

MANY = f"{ROOT}/{{subscriberId}}/subscriptions"
ONE = f"{MANY}/{{subscriptionId}}"


def _service(request: web.Request) -> EventSubscriptions:
    return request.app[keys.CAPIF_EVENTS]


async def _subscriber(request: web.Request) -> CapifIdentity:
    """Any CAPIF role, holding the certificate of the subscriber in the path."""
    return await require_identity(request, tuple(CapifRole), request.match_info["subscriberId"])


def _answer(request: web.Request, stored: StoredSubscription) -> web.Response:
    return answer(request, stored.body, created=stored.created, path=stored.path)


async def subscribe(request: web.Request) -> web.Response:
    identity = await _subscriber(request)
    body = await read_model(request, EventSubscription)
    return _answer(request, await _service(request).create(identity, body))


async def put_subscription(request: web.Request) -> web.Response:
    subscriber = await _subscriber(request)
    body = await read_model(request, EventSubscription)
    subscription_id = request.match_info["subscriptionId"]
    return _answer(request, await _service(request).replace(subscriber.id, subscription_id, body))


async def patch_subscription(request: web.Request) -> web.Response:
    subscriber = await _subscriber(request)
    patch = await read_merge_patch(request)
    subscription_id = request.match_info["subscriptionId"]
    return _answer(request, await _service(request).patch(subscriber.id, subscription_id, patch))


async def delete_subscription(request: web.Request) -> web.Response:
    subscriber = await _subscriber(request)
    await _service(request).delete(subscriber.id, request.match_info["subscriptionId"])
    return web.Response(status=204)


def _start(app: web.Application) -> None:
    committer, timers = app[keys.COMMITTER], app[keys.TIMERS]
    subscriptions = EventSubscriptions(committer, app[keys.NOTIFIER], app[keys.SETTINGS].ccf_url)
    subscriptions.register(timers)
    reports = EventReports(
        committer.store,
        app[keys.CAPIF_INVOKERS],
        policies=lambda: app.get(keys.CAPIF_ACCESS_CONTROL),
    )
    reporter = EventReporter(committer, subscriptions, reports)
    reporter.register(timers)
    app[keys.CAPIF_EVENTS] = subscriptions
    app[keys.CAPIF_EVENT_REPORTER] = reporter


async def _consume(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # A replica is a host and port: the same member of the group after a restart.
    name = f"{socket.gethostname()}:{settings.port}"
    consumer = EventConsumer(app[keys.EVENTS], app[keys.CAPIF_EVENT_REPORTER], name)
    task = asyncio.create_task(consumer.run(), name="capif-events")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def setup(app: web.Application) -> None:
    """Routes; the wiring appended to ``app[keys.SERVICE_SETUPS]`` (after the CAPIF core's,
    whose invokers it reads); and the consumer, started once the platform is (and stopped
    before the event log closes)."""
    add_routes(
        app,
        [
            web.post(MANY, subscribe),
            web.put(ONE, put_subscription),
            web.patch(ONE, patch_subscription),
            web.delete(ONE, delete_subscription),
        ],
    )
    app[keys.SERVICE_SETUPS].append(_start)
    app.cleanup_ctx.append(_consume)

"""Liveness and readiness, as a kubelet or a load balancer probes them."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from mep.core import keys
from mep.core.http import json_response
from mep.core.problem import ServiceUnavailable
from mep.core.store import Store, StoreError

PROBE_TIMEOUT = 2.0


async def probe_store(store: Store) -> float:
    """Seconds the store took to answer; :class:`StoreError` when it did not within the limit."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(store.ping(), PROBE_TIMEOUT)
    except TimeoutError:
        raise StoreError(f"no answer within {PROBE_TIMEOUT:g} s") from None
    return time.perf_counter() - started


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: the store answers. 503 with the reason otherwise."""
    try:
        await probe_store(request.app[keys.STORE])
    except StoreError as error:
        raise ServiceUnavailable(f"store unreachable: {error}", cause="STORE_UNREACHABLE") from None
    return json_response({"status": "ready"})


def store_gauges(app: web.Application) -> None:
    """Register the store's up/latency gauges with the app's metrics."""
    metrics = app[keys.METRICS]

    async def refresh() -> None:
        try:
            metrics.store_ping.set(await probe_store(app[keys.STORE]))
            metrics.store_up.set(1)
        except StoreError:
            metrics.store_up.set(0)

    metrics.add_probe(refresh)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    store_gauges(app)

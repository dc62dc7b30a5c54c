"""Prometheus metrics: request count and latency by route template, plus store and outbox gauges.

Each application owns its registry (no process-wide default), so two apps in one process, or
many in one test session, never share counters.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from mep.core import keys
from mep.core.problem import Problem

Probe = Callable[[], Awaitable[None]]


class Metrics:
    def __init__(self, namespace: str = "mep") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled",
            labels,
            namespace=namespace,
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to produce the response",
            labels,
            namespace=namespace,
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.store_up = Gauge(
            "store_up",
            "1 when the store answered the last probe",
            namespace=namespace,
            registry=self.registry,
        )
        self.store_ping = Gauge(
            "store_ping_seconds",
            "Round trip of the last store probe",
            namespace=namespace,
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "outbox_pending",
            "Events committed but not yet relayed to the event log",
            namespace=namespace,
            registry=self.registry,
        )
        self.outbox_relayed = Counter(
            "outbox_relayed_total",
            "Events relayed from the outbox to the event log",
            namespace=namespace,
            registry=self.registry,
        )
        self.notifications = Counter(
            "notifications_total",
            "Notification delivery outcomes: delivered, retried (a failed attempt), expired",
            ["outcome"],
            namespace=namespace,
            registry=self.registry,
        )
        self.notifications_queued = Gauge(
            "notifications_queued",
            "Notifications committed and not yet delivered",
            namespace=namespace,
            registry=self.registry,
        )
        self._probes: list[Probe] = []

    def add_probe(self, probe: Probe) -> None:
        """An async refresh of gauges that need I/O, run before each scrape."""
        self._probes.append(probe)

    async def exposition(self) -> bytes:
        for probe in self._probes:
            await probe()
        return generate_latest(self.registry)


def _route(request: web.Request) -> str:
    # The template, never the raw path, so that ids in URLs do not explode label cardinality.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[keys.METRICS]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except Problem as problem:
        status = problem.status
        raise
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        labels = (request.method, _route(request), str(status))
        metrics.requests.labels(*labels).inc()
        metrics.latency.labels(*labels).observe(time.perf_counter() - started)


async def metrics_handler(request: web.Request) -> web.Response:
    body = await request.app[keys.METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

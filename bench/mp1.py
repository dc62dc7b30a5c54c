"""Mp1 service management at scale: registration, discovery queries, notification fan-out.

The platform runs as ``mep run`` in its own process (temp data dir, free ports, warning-level
logs), pinned to one CPU when there are two or more; this process and the load generator use the
others. In one run:

1. registry: 100 app instances (operator API, each with its token) register 100 services each,
   10,000 in all, 32 requests in flight. A serName is unique per app instance (else 409), so 100
   services per instance need at least 100 names: every instance registers ``svc-000`` to
   ``svc-099``, and a ``ser_name`` query matches 100 services. 20 categories (``cat-00`` to
   ``cat-19``) are spread evenly: a ``ser_category_id`` query matches 500;
2. queries: ``GET /mec_service_mgmt/v1/services?ser_name=...`` and ``?ser_category_id=...`` with
   an app's token, ``wrk -t2 -c64 --latency``, and ``?ser_instance_id=<one id>`` (1 match: the
   fixed cost of a request, apart from the cost per service returned); then the same wrk
   command against a bare aiohttp server (its own process, same CPU) answering the very bytes
   the platform answered. The figure that matters is the ratio of the two;
3. fan-out: 1,000 SerAvailabilityNotificationSubscriptions (10 per app, filter
   ``serNames: [fanout-target]``) to a callback server in this process, then rounds of register,
   update (state INACTIVE: STATE_CHANGED) and deregister of a ``fanout-target`` service. Per
   change: the time from the API's 2xx to the last subscriber's delivery, and from the 2xx to
   each delivery (a notification may even arrive before the 2xx reaches the client).

Figures only, never assertions. With a Redis store, the DB named in the URL is flushed before and
after: give a dedicated one.

Run: ``.venv/bin/python bench/mp1.py [--store sqlite|redis://127.0.0.1:6379/14] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import platform as pyplatform
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from _harness import (
    LoadResult,
    Placement,
    Platform,
    free_port,
    load,
    load_bare,
    load_tool,
    percentile,
    print_table,
)
from aiohttp import web
from redis.asyncio import Redis

API = "/mec_service_mgmt/v1"
APPS = 100
SERVICES_PER_APP = 100
CATEGORIES = 20
SUBSCRIPTIONS = 1_000
IN_FLIGHT = 32
CONNECTIONS = 64
QUERY_NAME = "svc-042"
QUERY_CATEGORY = "cat-07"
FANOUT_NAME = "fanout-target"
PRODUCER = "bench-producer"
#: How long one change may take to reach every subscriber before the bench moves on.
DELIVERY_TIMEOUT = 60.0


def app_id(n: int) -> str:
    return f"bench-app-{n:03d}"


def category(c: int) -> dict[str, str]:
    return {
        "href": f"http://catalogue.example/mec/categories/cat-{c:02d}",
        "id": f"cat-{c:02d}",
        "name": f"Category {c:02d}",
        "version": "1.0",
    }


def service_body(app: int, n: int, name: str, state: str = "ACTIVE") -> dict[str, Any]:
    """A ServiceInfo registration (GS MEC 011 8.1.2.2) with its own transportInfo."""
    return {
        "serName": name,
        "serCategory": category((app + n) % CATEGORIES),
        "version": "1.2.0",
        "state": state,
        "transportInfo": {
            "id": f"rest-{app}-{n}",
            "name": "REST",
            "type": "REST_HTTP",
            "protocol": "HTTP",
            "version": "2.0",
            "endpoint": {"uris": [f"http://10.{app % 250}.{n % 250}.10:8080/{name}/v1/"]},
            "security": {},
        },
        "serializer": "JSON",
        "scopeOfLocality": "MEC_HOST",
        "consumedLocalOnly": False,
        "isLocal": True,
    }


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class BenchError(RuntimeError):
    """The platform refused a setup request: the run cannot go on."""


async def expect(response: aiohttp.ClientResponse, status: int, what: str) -> Any:
    if response.status != status:
        raise BenchError(f"{what}: {response.status} {await response.text()}")
    return await response.json() if response.status != 204 else None


async def in_flight(jobs: Iterable[Callable[[], Awaitable[float]]], limit: int) -> list[float]:
    """Run ``jobs`` with at most ``limit`` at a time; each returns its latency (s)."""
    pending = iter(jobs)
    latencies: list[float] = []

    async def worker() -> None:
        for job in pending:
            latencies.append(await job())

    await asyncio.gather(*(worker() for _ in range(limit)))
    return latencies


# --- registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds


async def timed(jobs: list[Callable[[], Awaitable[float]]], limit: int) -> Phase:
    start = time.perf_counter()
    latencies = await in_flight(jobs, limit)
    return Phase(len(jobs), time.perf_counter() - start, latencies)


async def create_apps(
    http: aiohttp.ClientSession, operator: str, ids: list[str]
) -> tuple[dict[str, str], Phase]:
    """Each instance created with the operator token, then its access token: ``{id: token}``."""
    tokens: dict[str, str] = {}

    def job(instance_id: str) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            start = time.perf_counter()
            async with http.put(
                f"/mep_mgmt/v1/app_instances/{instance_id}",
                json={"appName": instance_id, "appProvider": "bench"},
                headers=bearer(operator),
            ) as created:
                secret = (await expect(created, 201, f"PUT {instance_id}"))["clientSecret"]
            async with http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic(instance_id, secret)},
            ) as issued:
                tokens[instance_id] = (await expect(issued, 200, "token"))["access_token"]
            return time.perf_counter() - start

        return run

    phase = await timed([job(i) for i in ids], 16)
    return tokens, phase


async def register_services(http: aiohttp.ClientSession, tokens: dict[str, str]) -> Phase:
    """APPS x SERVICES_PER_APP registrations, interleaved across the apps."""

    def job(app: int, n: int) -> Callable[[], Awaitable[float]]:
        instance = app_id(app)

        async def run() -> float:
            start = time.perf_counter()
            async with http.post(
                f"{API}/applications/{instance}/services",
                json=service_body(app, n, f"svc-{n:03d}"),
                headers=bearer(tokens[instance]),
            ) as response:
                await expect(response, 201, f"register svc-{n:03d} of {instance}")
            return time.perf_counter() - start

        return run

    jobs = [job(app, n) for n in range(SERVICES_PER_APP) for app in range(APPS)]
    return await timed(jobs, IN_FLIGHT)


# --- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryFigures:
    label: str
    matches: int
    body_bytes: int
    ours: LoadResult
    bare: LoadResult


async def measure_query(
    http: aiohttp.ClientSession,
    base_url: str,
    label: str,
    path: str,
    token: str,
    seconds: float,
    placement: Placement,
    tmp: Path,
) -> QueryFigures:
    headers = bearer(token)
    async with http.get(path, headers=headers) as response:
        body = await response.read()
        if response.status != 200:
            raise BenchError(f"GET {path}: {response.status} {body.decode()}")
        content_type = response.headers["Content-Type"]
    matches = len(json.loads(body))
    ours = await load(
        base_url + path, headers, connections=CONNECTIONS, seconds=seconds, placement=placement
    )
    bare_result = await load_bare(
        tmp,
        body,
        content_type,
        path,
        headers,
        connections=CONNECTIONS,
        seconds=seconds,
        placement=placement,
    )
    return QueryFigures(label, matches, len(body), ours, bare_result)


async def one_service_id(http: aiohttp.ClientSession, token: str) -> str:
    """The serInstanceId of one registered service (for the single-match query)."""
    path = f"{API}/services?ser_name={QUERY_NAME}"
    async with http.get(path, headers=bearer(token)) as response:
        found = await expect(response, 200, f"GET {path}")
    return str(found[0]["serInstanceId"])


# --- notification fan-out ------------------------------------------------------------------


class Callbacks:
    """Receives the notifications and records when each arrived, by (serInstanceId, change)."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.other = 0
        self.port = 0
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = await request.json()
        references = body.get("serviceReferences") or []
        async with self._arrived:
            for ref in references:
                self.arrivals[(ref["serInstanceId"], ref["changeType"])].append(arrived)
            if not references:
                self.other += 1  # test or expiry notifications: none are asked for
            self._arrived.notify_all()
        return web.Response(status=204)

    async def wait_for(self, key: tuple[str, str], count: int, within: float) -> list[float]:
        """The arrival times of ``key``'s notifications, once ``count`` came or ``within`` s
        passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._arrived:
                await self._arrived.wait_for(lambda: len(self.arrivals[key]) >= count)
        return list(self.arrivals[key])


@dataclass(frozen=True)
class Change:
    kind: str
    request_s: float
    delays: list[float]  # arrival - 2xx, per notification, seconds
    expected: int

    @property
    def complete(self) -> bool:
        return len(self.delays) >= self.expected

    @property
    def last(self) -> float:
        """2xx to the last delivery; the timeout when some never came."""
        return max(self.delays) if self.complete else DELIVERY_TIMEOUT


@dataclass
class FanOut:
    subscriptions: Phase
    changes: list[Change] = field(default_factory=list)


async def subscribe(
    http: aiohttp.ClientSession, tokens: dict[str, str], callbacks: Callbacks
) -> Phase:
    def job(k: int) -> Callable[[], Awaitable[float]]:
        instance = app_id(k % APPS)

        async def run() -> float:
            start = time.perf_counter()
            body = {
                "subscriptionType": "SerAvailabilityNotificationSubscription",
                "callbackReference": f"{callbacks.url}/notify/{k}",
                "filteringCriteria": {"serNames": [FANOUT_NAME]},
            }
            async with http.post(
                f"{API}/applications/{instance}/subscriptions",
                json=body,
                headers=bearer(tokens[instance]),
            ) as response:
                await expect(response, 201, f"subscription {k}")
            return time.perf_counter() - start

        return run

    return await timed([job(k) for k in range(SUBSCRIPTIONS)], IN_FLIGHT)


async def fan_out(
    http: aiohttp.ClientSession, tokens: dict[str, str], callbacks: Callbacks, rounds: int
) -> FanOut:
    result = FanOut(await subscribe(http, tokens, callbacks))
    print(f"  {SUBSCRIPTIONS:,} subscriptions created", flush=True)
    producer = bearer(tokens[PRODUCER])
    services = f"{API}/applications/{PRODUCER}/services"

    async def change(kind: str, send: Callable[[], Awaitable[tuple[int, Any]]], status: int) -> str:
        start = time.perf_counter()
        got, body = await send()
        done = time.perf_counter()
        if got != status:
            raise BenchError(f"{kind}: {got} {body}")
        service_id = body["serInstanceId"] if body else current
        arrivals = await callbacks.wait_for((service_id, kind), SUBSCRIPTIONS, DELIVERY_TIMEOUT)
        delays = [at - done for at in arrivals]
        result.changes.append(Change(kind, done - start, delays, SUBSCRIPTIONS))
        return str(service_id)

    def request(
        method: str, url: str, body: Any = None
    ) -> Callable[[], Awaitable[tuple[int, Any]]]:
        async def send() -> tuple[int, Any]:
            async with http.request(method, url, json=body, headers=producer) as response:
                data = await response.json() if response.status != 204 else None
                return response.status, data

        return send

    current = ""
    for r in range(rounds):
        registration = service_body(r, 0, FANOUT_NAME)
        current = str(await change("ADDED", request("POST", services, registration), 201))
        inactive = {**registration, "state": "INACTIVE"}
        await change("STATE_CHANGED", request("PUT", f"{services}/{current}", inactive), 200)
        await change("REMOVED", request("DELETE", f"{services}/{current}"), 204)
        print(f"  round {r + 1}/{rounds} delivered", flush=True)
    return result


# --- report --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def print_registry(apps: Phase, services: Phase, subscriptions: Phase) -> None:
    print("\nRegistry")
    header = ("", "count", "seconds", "per second", "p50 ms", "p99 ms")
    rows = [
        (
            name,
            f"{p.count:,}",
            f"{p.seconds:.1f}",
            f"{p.rate:,.0f}",
            ms(percentile(p.latencies, 50)),
            ms(percentile(p.latencies, 99)),
        )
        for name, p in (
            ("app instances (PUT + token)", apps),
            (f"service registrations ({IN_FLIGHT} in flight)", services),
            (f"subscriptions ({IN_FLIGHT} in flight)", subscriptions),
        )
    ]
    print_table(header, rows, indent="  ")


def _load_cells(result: LoadResult) -> tuple[str, str, str]:
    return f"{result.requests_per_s:,.0f}", f"{result.p50_ms:,.2f}", f"{result.p99_ms:,.2f}"


def print_queries(figures: list[QueryFigures], seconds: float) -> None:
    print(f"\nQueries: {CONNECTIONS} connections, {seconds:g} s each, app token")
    header = ("query", "matches", "body KB", "server", "req/s", "p50 ms", "p99 ms")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for f in figures:
        ours, bare = f.ours, f.bare
        rows += [
            (f.label, str(f.matches), f"{f.body_bytes / 1024:,.1f}", "mep", *_load_cells(ours)),
            ("", "", "", "bare aiohttp", *_load_cells(bare)),
            (
                "",
                "",
                "",
                "mep / bare",
                f"{ours.requests_per_s / bare.requests_per_s:.3f}x",
                f"{ours.p50_ms / bare.p50_ms:.1f}x",
                f"{ours.p99_ms / bare.p99_ms:.1f}x",
            ),
        ]
        for server, result in (("mep", ours), ("bare", bare)):
            if result.problems:
                notes.append(f"{f.label} on {server}: {result.problems}")
    print_table(header, rows, indent="  ")
    for note in notes:
        print(f"  warning: {note}")


def print_fan_out(result: FanOut, rounds: int) -> None:
    print(
        f"\nNotification fan-out: {SUBSCRIPTIONS:,} subscriptions (serNames: [{FANOUT_NAME}]),"
        f" {rounds} round{'s' * (rounds != 1)} of register / update / deregister"
    )
    print(
        "  API = the change's own request; last = its 2xx to the last subscriber's delivery;"
        " each = its 2xx to each delivery"
    )
    header = (
        "change",
        "changes",
        "delivered",
        "API p50 ms",
        "last p50 ms",
        "last p99 ms",
        "each p50 ms",
        "each p99 ms",
        "notif/s",
    )
    rows: list[tuple[str, ...]] = []
    for kind in ("ADDED", "STATE_CHANGED", "REMOVED", None):
        changes = [c for c in result.changes if kind is None or c.kind == kind]
        if not changes:
            continue
        delays = [d for c in changes for d in c.delays]
        delivered = sum(len(c.delays) for c in changes)
        lasts = [c.last for c in changes]
        rows.append(
            (
                kind or "all",
                str(len(changes)),
                f"{delivered:,}/{sum(c.expected for c in changes):,}",
                ms(percentile([c.request_s for c in changes], 50)),
                ms(percentile(lasts, 50)),
                ms(percentile(lasts, 99)),
                ms(percentile(delays, 50)),
                ms(percentile(delays, 99)),
                f"{delivered / sum(lasts):,.0f}",
            )
        )
    print_table(header, rows, indent="  ")
    if incomplete := [c for c in result.changes if not c.complete]:
        print(
            f"  warning: {len(incomplete)} changes not delivered to every subscriber within"
            f" {DELIVERY_TIMEOUT:g} s (their last counts as {DELIVERY_TIMEOUT:g} s)"
        )
    print("  (p99 of a handful of changes is their maximum; notif/s = delivered / sum of last)")


# --- main ----------------------------------------------------------------------------------


def redis_db_url(store: str) -> str | None:
    """The Redis URL to flush, or None for SQLite; refuses a URL without a dedicated DB."""
    if store == "sqlite" or store.startswith("sqlite:"):
        return None
    parts = urlsplit(store)
    db = parse_qs(parts.query).get("db", [parts.path.strip("/")])[0]
    if parts.scheme == "unix" and "db" not in parse_qs(parts.query):
        db = "0"  # a unix socket URL names its DB only as ?db=
    if not db.isdigit() or db == "0":
        raise SystemExit(
            f"--store {store}: name a dedicated Redis DB (not 0), e.g. redis://127.0.0.1:6379/14"
            " or unix:///run/redis.sock?db=14;"
            " the benchmark flushes it before and after"
        )
    return store


@contextlib.asynccontextmanager
async def flushed(url: str | None) -> AsyncIterator[None]:
    if url is None:
        yield
        return
    client = Redis.from_url(url)
    try:
        await client.flushdb()
        yield
    finally:
        await client.flushdb()
        await client.aclose()


async def main(store: str, seconds: float, rounds: int, pin: bool) -> None:
    redis_url = redis_db_url(store)
    placement = Placement.choose(pin)
    placement.pin_self()
    print(
        f"Mp1 benchmark: store {store} (events: memory), Python {pyplatform.python_version()},"
        f" {placement.describe()}"
    )
    if redis_url is not None and placement.pinned:
        print("redis-server is not pinned: it shares the CPUs with the others")
    print(f"load generator: {load_tool(CONNECTIONS, seconds)}", flush=True)
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mep-bench-mp1-"))
    platform = Platform(tmp / "var", store=store, placement=placement)
    callbacks = Callbacks()
    connector = aiohttp.TCPConnector(limit=2 * CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=120)
    try:
        async with flushed(redis_url):
            await platform.start()
            await callbacks.start()
            async with aiohttp.ClientSession(
                platform.url, connector=connector, timeout=timeout
            ) as http:
                ids = [app_id(n) for n in range(APPS)] + [PRODUCER]
                tokens, apps = await create_apps(http, platform.operator_token, ids)
                print(f"  {len(ids)} app instances created", flush=True)
                services = await register_services(http, tokens)
                print(f"  {services.count:,} services registered", flush=True)
                token = tokens[app_id(0)]
                one = await one_service_id(http, token)
                queries = []
                for label, query in (
                    (f"ser_instance_id={one[:8]}...", f"ser_instance_id={one}"),
                    (f"ser_name={QUERY_NAME}", f"ser_name={QUERY_NAME}"),
                    (f"ser_category_id={QUERY_CATEGORY}", f"ser_category_id={QUERY_CATEGORY}"),
                ):
                    path = f"{API}/services?{query}"
                    queries.append(
                        await measure_query(
                            http, platform.url, label, path, token, seconds, placement, tmp
                        )
                    )
                    print(f"  measured {label}", flush=True)
                fanned = await fan_out(http, tokens, callbacks, rounds)
    finally:
        await callbacks.stop()
        code = await platform.stop()
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)
    print_registry(apps, services, fanned.subscriptions)
    print_queries(queries, seconds)
    print_fan_out(fanned, rounds)
    if callbacks.other:
        print(f"  ({callbacks.other} other notifications received)")
    print(f"\nmep run stopped with status {code}", end="")
    if platform.logs:
        print(f"; it logged {len(platform.logs)} warning/error lines, the first:")
        for line in platform.logs[:3]:
            print(f"  {line}")
    else:
        print("; it logged no warnings")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", default="sqlite", help="sqlite, or redis://host:port/<dedicated db>"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run (6 runs)")
    parser.add_argument("--rounds", type=int, default=5, help="fan-out rounds (3 changes each)")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs"
    )
    args = parser.parse_args()
    asyncio.run(main(args.store, args.seconds, args.rounds, args.pin))

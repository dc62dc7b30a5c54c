"""Open Service Broker API: catalog throughput, and full instance cycles on each backend.

The platform runs as ``mep run`` in its own process (temp data dir, free ports, warning-level
logs, ``MEP_SCENARIO=none``) with the three broker backends configured (MariaDB, Redis,
RabbitMQ, by default the local servers), pinned to one CPU when there are two or more; this
process and the load generator use the others. The backend servers themselves are not pinned.
In one run:

1. catalog: ``GET /v2/catalog`` (HTTP Basic, ``X-Broker-API-Version: 2.17``) with
   ``wrk -t2 -c64 --latency``, then the same wrk command against a bare aiohttp server (its own
   process, same CPU) answering the very bytes the broker answered. The figure that matters is
   the ratio of the two;
2. cycles, per backend (mysql, redis, rabbitmq; the first plan of each offering): provision
   (synchronous, 201), bind (201), unbind (200), deprovision (200), each cycle on fresh ids,
   timed whole and step by step; first one at a time, then many at a time. A cycle whose step
   answers anything else is counted as failed (its status is shown), and is still deprovisioned
   (best effort) so that nothing is left on the backends.

Figures only, never assertions.

Run: ``.venv/bin/python bench/broker.py [--quick] [--seconds 10] [--cycles 20]
[--concurrent-cycles 100] [--concurrency 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform as pyplatform
import secrets
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from _harness import (
    LoadResult,
    Placement,
    Platform,
    load,
    load_bare,
    load_tool,
    percentile,
    print_table,
)

API_VERSION = "2.17"
CONNECTIONS = 64
USERNAME = "bench"
BACKENDS = ("mysql", "redis", "rabbitmq")
STEPS = ("provision", "bind", "unbind", "deprovision")
EXPECTED = {"provision": 201, "bind": 201, "unbind": 200, "deprovision": 200}
#: Cycles run (and not counted) before each backend's timed ones: pools, caches, first DDL.
WARMUP = 2
#: A step that takes longer than this is a failure (the broker's own step timeout is 45 s).
REQUEST_TIMEOUT = 120.0

_T = TypeVar("_T")

DEFAULT_BACKEND_ENV = {
    "OSB_MYSQL_URL": "mysql://root@127.0.0.1:3306",
    "OSB_REDIS_URL": "redis://127.0.0.1:6379/0",
    "OSB_RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672",
    "OSB_RABBITMQ_MANAGEMENT_URL": "http://guest:guest@127.0.0.1:15672",
}


def osb_headers(password: str) -> dict[str, str]:
    token = base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Broker-API-Version": API_VERSION}


class BenchError(RuntimeError):
    """The broker refused a setup request: the run cannot go on."""


@dataclass(frozen=True)
class Offering:
    """What a cycle needs of one catalog service: its id and the plan used."""

    name: str
    service_id: str
    plan_id: str
    plan_name: str


def offerings(catalog: Mapping[str, Any]) -> dict[str, Offering]:
    """The catalog's services by name, each with its first plan."""
    found: dict[str, Offering] = {}
    for service in catalog["services"]:
        plan = service["plans"][0]
        found[service["name"]] = Offering(service["name"], service["id"], plan["id"], plan["name"])
    return found


# --- catalog -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogFigures:
    body_bytes: int
    services: list[str]
    ours: LoadResult
    bare: LoadResult


async def fetch_catalog(http: aiohttp.ClientSession) -> tuple[bytes, str]:
    """The catalog's bytes and content type, as the broker answers them."""
    async with http.get("/v2/catalog") as response:
        body = await response.read()
        if response.status != 200:
            raise BenchError(f"GET /v2/catalog: {response.status} {body.decode()}")
        return body, response.headers["Content-Type"]


async def measure_catalog(
    broker_url: str,
    body: bytes,
    content_type: str,
    services: list[str],
    headers: dict[str, str],
    seconds: float,
    placement: Placement,
    tmp: Path,
) -> CatalogFigures:
    path = "/v2/catalog"
    ours = await load(
        broker_url + path, headers, connections=CONNECTIONS, seconds=seconds, placement=placement
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
    return CatalogFigures(len(body), services, ours, bare_result)


# --- cycles --------------------------------------------------------------------------------


@dataclass
class Cycles:
    """The figures of one backend at one concurrency."""

    backend: str
    concurrency: int
    attempted: int = 0
    seconds: float = 0.0
    #: CPU seconds ``mep run`` used over the phase (user + system), if known.
    server_cpu: float | None = None
    #: Whole-cycle times (s) of the cycles whose four steps all answered as expected.
    totals: list[float] = field(default_factory=list)
    #: Step → its times (s), for the steps that answered as expected.
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    #: "step: status" → how many times.
    failures: Counter[str] = field(default_factory=Counter)
    #: Instances whose best-effort clean-up after a failure did not answer 200 or 410.
    left_over: int = 0
    #: The first few unexpected answers, to show.
    samples: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.attempted - len(self.totals)

    @property
    def rate(self) -> float:
        return len(self.totals) / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_cycle(self) -> float | None:
        """Server CPU seconds per attempted cycle."""
        if self.server_cpu is None or not self.attempted:
            return None
        return self.server_cpu / self.attempted

    @property
    def cpu_busy(self) -> float | None:
        """The share of one CPU ``mep run`` kept busy over the phase."""
        if self.server_cpu is None or not self.seconds:
            return None
        return self.server_cpu / self.seconds


async def _request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int | str, str]:
    """The status (or the exception's name) and, when it matters, the body."""
    try:
        async with http.request(method, url, json=body, params=params) as response:
            text = await response.text()
            return response.status, text
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__, str(exc)


async def _step(
    http: aiohttp.ClientSession,
    result: Cycles,
    name: str,
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> bool:
    start = time.perf_counter()
    status, text = await _request(http, method, url, body=body, params=params)
    elapsed = time.perf_counter() - start
    if status == EXPECTED[name]:
        result.steps[name].append(elapsed)
        return True
    result.failures[f"{name}: {status}"] += 1
    if len(result.samples) < 3:
        result.samples.append(f"{name} {url}: {status} {text[:300]}")
    return False


async def cycle(http: aiohttp.ClientSession, offering: Offering, result: Cycles) -> None:
    """Provision, bind, unbind, deprovision, on fresh ids; recorded in ``result``."""
    instance = f"/v2/service_instances/{uuid.uuid4()}"
    binding = f"{instance}/service_bindings/{uuid.uuid4()}"
    ids = {"service_id": offering.service_id, "plan_id": offering.plan_id}
    provision = {
        **ids,
        "organization_guid": "bench-org",
        "space_guid": "bench-space",
        "context": {"platform": "bench"},
    }
    bind = {**ids, "bind_resource": {"app_guid": "bench-app"}}
    start = time.perf_counter()
    ok = (
        await _step(http, result, "provision", "PUT", instance, body=provision)
        and await _step(http, result, "bind", "PUT", binding, body=bind)
        and await _step(http, result, "unbind", "DELETE", binding, params=ids)
        and await _step(http, result, "deprovision", "DELETE", instance, params=ids)
    )
    elapsed = time.perf_counter() - start
    result.attempted += 1
    if ok:
        result.totals.append(elapsed)
        return
    # Whatever step failed, the instance goes (with any binding): nothing stays on the backend.
    status, _ = await _request(http, "DELETE", instance, params=ids)
    if status not in (200, 410):
        result.left_over += 1


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux ``/proc``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime and stime fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_cycles(
    http: aiohttp.ClientSession, offering: Offering, count: int, concurrency: int, server_pid: int
) -> Cycles:
    """``count`` cycles, at most ``concurrency`` at a time."""
    result = Cycles(offering.name, concurrency)
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            await cycle(http, offering, result)

    cpu_before = cpu_seconds(server_pid)
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    result.seconds = time.perf_counter() - start
    cpu_after = cpu_seconds(server_pid)
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu = cpu_after - cpu_before
    return result


async def warm_up(
    http: aiohttp.ClientSession, offering: Offering, count: int, server_pid: int
) -> None:
    if count:
        await run_cycles(http, offering, count, 1, server_pid)


# --- report --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def _load_cells(result: LoadResult) -> tuple[str, str, str]:
    return f"{result.requests_per_s:,.0f}", f"{result.p50_ms:,.2f}", f"{result.p99_ms:,.2f}"


def print_catalog(figures: CatalogFigures, seconds: float) -> None:
    print(
        f"\nCatalog: GET /v2/catalog, {figures.body_bytes / 1024:,.1f} KB"
        f" ({', '.join(figures.services)}), {CONNECTIONS} connections, {seconds:g} s each"
    )
    ours, bare = figures.ours, figures.bare
    header = ("server", "req/s", "p50 ms", "p99 ms")
    rows = [
        ("mep run (broker)", *_load_cells(ours)),
        ("bare aiohttp", *_load_cells(bare)),
        (
            "broker / bare",
            f"{ours.requests_per_s / bare.requests_per_s:.3f}x",
            f"{ours.p50_ms / bare.p50_ms:.1f}x",
            f"{ours.p99_ms / bare.p99_ms:.1f}x",
        ),
    ]
    print_table(header, rows, indent="  ")
    for server, result in (("broker", ours), ("bare", bare)):
        if result.problems:
            print(f"  warning: {server}: {result.problems}")


def _p50_p99(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))}"


def _dominant(r: Cycles) -> str:
    """The step with the largest share of the time, by mean, and that share."""
    means = {s: statistics.fmean(r.steps[s]) for s in STEPS if r.steps[s]}
    if not means:
        return "-"
    step = max(means, key=lambda s: means[s])
    return f"{step} {means[step] / sum(means.values()):.0%}"


def print_cycles(results: Sequence[Cycles], plans: Mapping[str, Offering]) -> None:
    print(
        "\nCycles: provision (201) -> bind (201) -> unbind (200) -> deprovision (200),"
        f" synchronous, {WARMUP} untimed warm-up cycles per backend first"
    )
    print("  plans: " + ", ".join(f"{name} {plans[name].plan_name}" for name in BACKENDS))
    header = (
        "backend",
        "in flight",
        "cycles",
        "failed",
        "cycles/s",
        "mean ms",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "CPU ms/cycle",
    )
    rows = [
        (
            r.backend,
            str(r.concurrency),
            str(r.attempted),
            str(r.failed),
            f"{r.rate:,.1f}",
            ms(statistics.fmean(r.totals)) if r.totals else "-",
            ms(percentile(r.totals, 50)) if r.totals else "-",
            ms(percentile(r.totals, 99)) if r.totals else "-",
            "-" if r.cpu_busy is None else f"{r.cpu_busy:.0%}",
            "-" if r.cpu_per_cycle is None else ms(r.cpu_per_cycle),
        )
        for r in results
    ]
    print_table(header, rows, indent="  ")
    print(
        "  (figures of the cycles whose four steps answered as expected; server CPU: the share"
        " of one CPU mep run used over the phase; CPU ms/cycle: its CPU time per cycle)"
    )
    print("\n  Steps: p50 / p99 ms")
    step_header = ("backend", "in flight", *STEPS, "largest share")
    step_rows = [
        (
            r.backend,
            str(r.concurrency),
            *(_p50_p99(r.steps[s]) for s in STEPS),
            _dominant(r),
        )
        for r in results
    ]
    print_table(step_header, step_rows, indent="  ")
    print("  (largest share: the step with the largest mean, as a share of the sum of the means)")
    for r in results:
        if r.failures:
            failures = ", ".join(f"{what} x{n}" for what, n in sorted(r.failures.items()))
            print(f"  failures: {r.backend} at {r.concurrency} in flight: {failures}")
            for sample in r.samples:
                print(f"    {sample}")
        if r.left_over:
            print(f"  warning: {r.backend}: {r.left_over} instances may be left on the backend")


# --- main ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: float
    cycles: int
    concurrent_cycles: int
    concurrency: int
    pin: bool
    backends: tuple[str, ...]


async def main(options: Options) -> None:
    placement = Placement.choose(options.pin)
    placement.pin_self()
    print(
        f"Broker benchmark: OSB API {API_VERSION}, Python {pyplatform.python_version()},"
        f" {placement.describe()}"
    )
    if placement.pinned:
        print("MariaDB, Redis and RabbitMQ are not pinned: they share the CPUs with the others")
    print(f"load generator: {load_tool(CONNECTIONS, options.seconds)}", flush=True)
    password = secrets.token_urlsafe(16)
    headers = osb_headers(password)
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mep-bench-broker-"))
    env = {
        **DEFAULT_BACKEND_ENV,
        "OSB_USERNAME": USERNAME,
        "OSB_PASSWORD": password,
        "MEP_SCENARIO": "none",
    }
    platform = Platform(tmp / "var", placement=placement, extra_env=env)
    broker_url = f"http://127.0.0.1:{platform.osb_port}"
    connector = aiohttp.TCPConnector(limit=2 * max(options.concurrency, 1))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    results: list[Cycles] = []
    try:
        await platform.start()
        async with aiohttp.ClientSession(
            broker_url, connector=connector, timeout=timeout, headers=headers
        ) as http:
            body, content_type = await fetch_catalog(http)
            plans = offerings(json.loads(body))
            missing = [name for name in options.backends if name not in plans]
            if missing:
                raise BenchError(f"not in the catalog: {', '.join(missing)} (backend down?)")
            catalog = await measure_catalog(
                broker_url,
                body,
                content_type,
                sorted(plans),
                headers,
                options.seconds,
                placement,
                tmp,
            )
            print("  measured the catalog", flush=True)
            for name in options.backends:
                offering = plans[name]
                await warm_up(http, offering, WARMUP, platform.pid)
                for count, concurrency in (
                    (options.cycles, 1),
                    (options.concurrent_cycles, options.concurrency),
                ):
                    if count <= 0:
                        continue
                    if exited_early(platform):
                        break
                    result = await run_cycles(http, offering, count, concurrency, platform.pid)
                    results.append(result)
                    print(
                        f"  {name}: {count} cycles, {concurrency} in flight,"
                        f" {result.seconds:.1f} s, {result.failed} failed",
                        flush=True,
                    )
    finally:
        early = exited_early(platform)
        code = await platform.stop()
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)
    print_catalog(catalog, options.seconds)
    print_cycles(results, plans)
    how = "had exited by itself, before the end, with" if early else "stopped with"
    print(f"\nmep run {how} status {code}", end="")
    if platform.logs:
        print(f"; it logged {len(platform.logs)} warning/error lines, the first:")
        for line in platform.logs[:3]:
            print(f"  {line}")
    else:
        print("; it logged no warnings")


def exited_early(platform: Platform) -> bool:
    """Whether ``mep run`` is gone though nobody stopped it (its requests then all fail)."""
    return platform.process is not None and platform.process.returncode is not None


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 s wrk runs, 10 and 60 cycles"
    )
    parser.add_argument("--seconds", type=float, help="per wrk run (2 runs); default 10")
    parser.add_argument("--cycles", type=int, help="cycles one at a time, per backend; default 20")
    parser.add_argument(
        "--concurrent-cycles", type=int, help="cycles many at a time, per backend; default 100"
    )
    parser.add_argument("--concurrency", type=int, default=20, help="cycles in flight at once")
    parser.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="only this backend (repeatable); default all three",
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs"
    )
    args = parser.parse_args()
    quick: bool = args.quick

    def pick(value: _T | None, full: _T, smoke: _T) -> _T:
        return value if value is not None else (smoke if quick else full)

    return Options(
        seconds=pick(args.seconds, 10.0, 2.0),
        cycles=pick(args.cycles, 20, 10),
        concurrent_cycles=pick(args.concurrent_cycles, 100, 60),
        concurrency=args.concurrency,
        pin=args.pin,
        backends=tuple(args.backend or BACKENDS),
    )


if __name__ == "__main__":
    asyncio.run(main(parse_options()))

"""The DNS responder under load, next to a bare asyncio UDP responder.

The platform runs as ``mep run`` in its own process (temp data dir, free ports, warning-level
logs), pinned to one CPU when there are two or more; the bare responder runs in its own process
on the same CPU, and this process (the load generator) on the others. In one run:

1. 200 app instances (operator API) with one ACTIVE DNS rule each (``app-NNN.edge.bench``), and
   one with the name the load asks for (``video.edge.bench``, IP_V4);
2. closed-loop clients, each a UDP socket sending the next query once the answer to the last one
   came back (a query unanswered within 1 s counts as lost and is sent anew), at 1 and at 64
   clients, against our responder and against the bare one, which answers every datagram with
   the very bytes our responder answered (its ID patched), alternating, three times each, the
   best run of each shown: queries/s, p50, p99, the server process's CPU time per query (from
   ``/proc``), and the ratios. The bare one does no DNS at all, so the ratio is what parsing,
   looking up and the platform around it cost;
3. two extra rows for our responder at 64 clients: the 200 names asked at random with random
   letter case (DNS 0x20, as recursive resolvers ask), 40,960 distinct queries, which mostly
   miss the rendered answers and exercise the parse-lookup-render path; and the latency of
   ``GET /healthz`` (the HTTP APIs share the event loop) probed every 10 ms by a process of its
   own, idle and during the 64-client flood.

The load generator is Python too, on one CPU: it may itself be the ceiling of a fast responder's
queries/s. On loopback the kernel charges delivering an answer, and waking the client, to the
server that sends it, so a server whose clients are asleep when it answers (a fast one, mostly)
spends more CPU per query than one that finds datagrams queued: the closed loop settles either
way, which makes the bare responder's figures swing between runs (best of three shown), and can
put ours ahead of it. Figures only. The queries are made by hand: this file's name would shadow
dnspython's package ``dns`` on the script's path.

Run: ``.venv/bin/python bench/dns_responder.py [--seconds 5] [--no-pin]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform as pyplatform
import random
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _harness import Placement, Platform, free_port, percentile, print_table, stop_process

NAME = "video.edge.bench"
INSTANCES = 200
#: How many rendered answers the responder keeps (``mep.dns.answer``).
RENDERED = 4096
QUERY_TIMEOUT = 1.0
#: Alternating runs of ours and the bare responder per client count; the best of each is shown.
ROUNDS = 3
HERE = str(Path(__file__).resolve())


def instance_name(n: int) -> str:
    return f"app-{n:03d}.edge.bench"


# --- the bare responder --------------------------------------------------------------------


class _Bare(asyncio.DatagramProtocol):
    def __init__(self, answer: bytes) -> None:
        self._tail = answer[2:]
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self._transport is not None and len(data) >= 2:
            self._transport.sendto(data[:2] + self._tail, addr)


async def serve_bare(port: int, answer: bytes) -> None:
    """The baseline's process: every datagram answered with one fixed answer, its ID patched."""
    # The garbage collector tuned as ``mep run`` tunes it, so that the two interpreters differ
    # only in what they do per query (mep.server.tune_garbage_collection, not imported: it
    # imports dnspython, whose package name this file's shadows).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: _Bare(answer), local_addr=("127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.Event().wait()


@dataclass
class BareResponder:
    answer_file: Path
    placement: Placement
    port: int = 0
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.port = free_port()
        self.process = await asyncio.create_subprocess_exec(
            *self.placement.server_prefix(),
            sys.executable,
            HERE,
            "bare",
            "--port",
            str(self.port),
            "--answer",
            str(self.answer_file),
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(15):
            await self.process.stdout.readline()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> None:
        if self.process is not None:
            await stop_process(self.process)


# --- the load ------------------------------------------------------------------------------


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: asyncio.Future[bytes] | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(data)


@dataclass
class Figures:
    queries: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: CPU time the server process spent meanwhile.
    server_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.queries / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_query(self) -> float:
        return self.server_cpu / self.queries if self.queries else math.nan


class _ClosedLoop(asyncio.DatagramProtocol):
    """One client: the next query goes out from the callback that receives the last answer (no
    task or future per query, so that the generator costs less than the servers it loads)."""

    def __init__(
        self, queries: Sequence[bytes], until: float, figures: Figures, rng: random.Random
    ) -> None:
        self._queries = queries
        self._until = until
        self._figures = figures
        self._rng = rng
        self._ident = b""
        self.sent_at = 0.0
        self.finished = asyncio.get_running_loop().create_future()
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        if self.sent_at >= self._until:
            if not self.finished.done():
                self.finished.set_result(None)
            return
        query = bytearray(self._rng.choice(self._queries))
        struct.pack_into("!H", query, 0, self._rng.randrange(65536))
        self._ident = bytes(query[:2])
        assert self._transport is not None
        self._transport.sendto(query)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data[:2] != self._ident:
            return  # a late answer to a query already counted as lost
        self._figures.latencies.append(time.perf_counter() - self.sent_at)
        self._figures.queries += 1
        self.send()

    def expire(self, now: float) -> None:
        """Count the query lost and send another when it went unanswered too long."""
        if not self.finished.done() and now - self.sent_at > QUERY_TIMEOUT:
            self._figures.lost += 1
            self.send()


async def load(
    port: int, pid: int, queries: Sequence[bytes], clients: int, seconds: float
) -> Figures:
    """``clients`` closed-loop clients for ``seconds`` against ``port``, served by ``pid``."""
    loop = asyncio.get_running_loop()
    figures = Figures()
    rng = random.Random(clients)
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    until = started + seconds
    endpoints = [
        await loop.create_datagram_endpoint(
            lambda: _ClosedLoop(queries, until, figures, rng), remote_addr=("127.0.0.1", port)
        )
        for _ in range(clients)
    ]
    try:
        while not all(protocol.finished.done() for _, protocol in endpoints):
            await asyncio.sleep(0.1)
            now = time.perf_counter()
            for _, protocol in endpoints:
                protocol.expire(now)
    finally:
        for transport, _ in endpoints:
            transport.close()
    figures.seconds = time.perf_counter() - started
    figures.server_cpu = cpu_seconds(pid) - cpu
    return figures


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def query_wire(name: str) -> bytes:
    """A recursive A query for ``name`` (RFC 1035 clause 4.1), ID 0."""
    header = struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


async def ask_once(port: int, query: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Client, remote_addr=("127.0.0.1", port)
    )
    try:
        protocol.waiting = loop.create_future()
        transport.sendto(query)
        return await asyncio.wait_for(protocol.waiting, 2.0)
    finally:
        transport.close()


def best(one: Figures, other: Figures) -> Figures:
    """The run with more queries/s: the other one was disturbed by something else."""
    return one if one.per_second >= other.per_second else other


def random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


# --- HTTP while flooded --------------------------------------------------------------------


async def run_probe(url: str, seconds: float) -> None:
    """The prober's process: ``GET url`` every 10 ms for ``seconds``; prints the latencies."""
    latencies = []
    until = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() < until:
            started = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
    print(json.dumps(latencies))


async def probe_http(url: str, seconds: float, placement: Placement) -> list[float]:
    """HTTP latencies seen by a process of its own (the load generator's loop is busy)."""
    process = await asyncio.create_subprocess_exec(
        *placement.load_prefix(),
        sys.executable,
        HERE,
        "probe",
        "--url",
        url,
        "--seconds",
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    latencies: list[float] = json.loads(out)
    return latencies


# --- setup and report ----------------------------------------------------------------------


def rule(rule_id: str, name: str, address: str) -> dict[str, Any]:
    return {
        "dnsRuleId": rule_id,
        "domainName": name,
        "ipAddressType": "IP_V4",
        "ipAddress": address,
        "ttl": 60,
        "state": "ACTIVE",
    }


async def create_instances(http: aiohttp.ClientSession) -> None:
    semaphore = asyncio.Semaphore(16)

    async def put(instance_id: str, name: str, address: str) -> None:
        body = {"appName": instance_id, "dnsRules": [rule("dns1", name, address)]}
        async with semaphore, http.put(f"/mep_mgmt/v1/app_instances/{instance_id}", json=body) as r:
            if r.status != 201:
                raise RuntimeError(f"{instance_id}: {r.status} {await r.text()}")

    jobs = [
        put(f"bench-{n:03d}", instance_name(n), f"10.1.{n // 250}.{n % 250 + 1}")
        for n in range(INSTANCES)
    ]
    jobs.append(put("bench-video", NAME, "10.0.0.5"))
    await asyncio.gather(*jobs)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def row(label: str, clients: int, figures: Figures) -> list[str]:
    return [
        label,
        str(clients),
        f"{figures.per_second:,.0f}",
        ms(percentile(figures.latencies, 50)),
        ms(percentile(figures.latencies, 99)),
        f"{figures.cpu_per_query * 1e6:.1f}",
        str(figures.lost),
    ]


async def main(seconds: float, pin: bool) -> None:
    placement = Placement.choose(pin)
    placement.pin_self()
    print(f"DNS benchmark: Python {pyplatform.python_version()}, {placement.describe()}")
    print(
        f"load: closed-loop UDP clients in this process, {seconds:g} s per measurement", flush=True
    )
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mep-bench-dns-"))
    # No simulated radio network: its ticks would stall the event loop the responder runs on.
    platform = Platform(tmp / "var", placement=placement, extra_env={"MEP_SCENARIO": "none"})
    answer_file = tmp / "answer.bin"
    bare = BareResponder(answer_file, placement)
    rows: list[list[str]] = []
    ratios: list[list[str]] = []
    try:
        await platform.start()
        headers = {"Authorization": f"Bearer {platform.operator_token}"}
        async with aiohttp.ClientSession(platform.url, headers=headers) as http:
            await create_instances(http)
            print(f"  {INSTANCES + 1} app instances with a DNS rule each", flush=True)
            query = query_wire(NAME)
            answer = await ask_once(platform.dns_port, query)
            rcode, answers = answer[3] & 0x0F, struct.unpack("!H", answer[6:8])[0]
            if rcode != 0 or answers != 1 or answer[-4:] != bytes([10, 0, 0, 5]):
                raise RuntimeError(f"unexpected answer for {NAME}: {answer.hex()}")
            await asyncio.to_thread(answer_file.write_bytes, answer)
            await bare.start()
            for clients in (1, 64):
                ours, baseline = Figures(), Figures()
                for _ in range(ROUNDS):
                    ours = best(
                        ours, await load(platform.dns_port, platform.pid, [query], clients, seconds)
                    )
                    baseline = best(
                        baseline, await load(bare.port, bare.pid, [query], clients, seconds)
                    )
                rows.append(row("ours", clients, ours))
                rows.append(row("bare asyncio UDP", clients, baseline))
                p99 = percentile(ours.latencies, 99) / percentile(baseline.latencies, 99)
                ratios.append(
                    [
                        str(clients),
                        f"{ours.per_second / baseline.per_second:.2f}",
                        f"{p99:.2f}",
                        f"{ours.cpu_per_query / baseline.cpu_per_query:.2f}",
                    ]
                )
                print(f"  measured {clients} client(s)", flush=True)
            rng = random.Random(7)
            names = [instance_name(n) for n in range(INSTANCES)]
            # Ten times more distinct queries than the responder keeps rendered answers for.
            mixed = [query_wire(random_case(rng.choice(names), rng)) for _ in range(RENDERED * 10)]
            uncached = await load(platform.dns_port, platform.pid, mixed, 64, seconds)
            rows.append(row("ours, 200 names, 0x20 case", 64, uncached))
            healthz = f"{platform.url}/healthz"
            idle = await probe_http(healthz, seconds, placement)
            flooded, during = await asyncio.gather(
                load(platform.dns_port, platform.pid, [query], 64, seconds),
                probe_http(healthz, seconds, placement),
            )
    finally:
        await bare.stop()
        code = await platform.stop()
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)
    print()
    header = ["responder", "clients", "queries/s", "p50 ms", "p99 ms", "server CPU µs/q", "lost"]
    print_table(header, rows, "  ")
    print()
    print_table(
        ["clients", "queries/s ours/bare", "p99 ours/bare", "CPU per query ours/bare"], ratios, "  "
    )
    print()
    print_table(
        ["GET /healthz", "probes", "p50 ms", "p99 ms"],
        [
            ["idle", str(len(idle)), ms(percentile(idle, 50)), ms(percentile(idle, 99))],
            [
                f"during 64-client DNS flood ({flooded.per_second:,.0f} q/s)",
                str(len(during)),
                ms(percentile(during, 50)),
                ms(percentile(during, 99)),
            ],
        ],
        "  ",
    )
    print(f"\nmep run stopped with status {code}", end="")
    if platform.logs:
        print(f"; it logged {len(platform.logs)} warning/error lines, the first:")
        for line in platform.logs[:3]:
            print(f"  {line}")
    else:
        print("; it logged no warnings")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    bare_command = commands.add_parser("bare", help="the baseline responder's process")
    bare_command.add_argument("--port", type=int, required=True)
    bare_command.add_argument("--answer", type=Path, required=True)
    probe_command = commands.add_parser("probe", help="the HTTP prober's process")
    probe_command.add_argument("--url", required=True)
    probe_command.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (15 in all)")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs"
    )
    args = parser.parse_args()
    if args.command == "bare":
        asyncio.run(serve_bare(args.port, args.answer.read_bytes()))
    elif args.command == "probe":
        asyncio.run(run_probe(args.url, args.seconds))
    else:
        asyncio.run(main(args.seconds, args.pin))

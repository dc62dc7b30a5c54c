"""Shared pieces of the HTTP benchmarks: processes, load generation, figures, tables.

* :class:`Platform`: ``mep run`` in its own process (temp data dir, free ports), stopped with
  SIGTERM and, past a timeout, SIGKILL;
* :class:`BareServer`: a bare aiohttp server in its own process answering every GET with one
  fixed body, the baseline an API's figures are set against;
* :class:`CallbackSink`: a notification receiver in its own process, answering every POST with
  204 and counting them (``GET /count``);
* :func:`load`: ``wrk --latency`` (requests/s, p50, p99), or, without wrk, an aiohttp load
  generator in its own process;
* CPU pinning (``taskset``): the server under test on one core, the load generator on the others.

Run as a script, this module is the entry point of the subprocesses it starts:
``python bench/_harness.py bare --port P --body FILE --content-type T``,
``python bench/_harness.py sink --port P`` and
``python bench/_harness.py load --url U --connections 64 --seconds 10 [--header H]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

MEP = str(Path(sys.executable).with_name("mep"))
HARNESS = str(Path(__file__).resolve())
WRK_PACKAGE = "wrk"  # the Debian package, as the tool
#: wrk's own default is 2 s, and it leaves requests slower than that out of its latency figures:
#: a slow API would look faster than it is.
WRK_TIMEOUT = "30s"


#: Ports handed out by this process: never the same one twice.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port nothing listens on now.

    Chosen below the kernel's ephemeral range (32768 and up on Linux): a port the kernel hands
    out is also what it gives outgoing connections, so between stopping a server and starting it
    again on the same port, a client socket could take it.
    """
    for _ in range(200):
        port = random.randint(20_000, 32_000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free TCP port between 20000 and 32000")


# --- CPU placement -------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which CPUs the server under test and the load side (this process, wrk) run on."""

    server: frozenset[int] = frozenset()
    load: frozenset[int] = frozenset()

    @classmethod
    def choose(cls, pin: bool) -> Placement:
        """With ``pin`` and at least 2 CPUs (and ``taskset``): the last CPU for the server,
        the rest for the load side. Else no pinning."""
        cpus = sorted(os.sched_getaffinity(0))
        if not pin or len(cpus) < 2 or shutil.which("taskset") is None:
            return cls()
        return cls(frozenset(cpus[-1:]), frozenset(cpus[:-1]))

    @property
    def pinned(self) -> bool:
        return bool(self.server)

    def server_prefix(self) -> list[str]:
        return _taskset(self.server)

    def load_prefix(self) -> list[str]:
        return _taskset(self.load)

    def pin_self(self) -> None:
        """Move this process (its threads started from now on) to the load CPUs."""
        if self.load:
            os.sched_setaffinity(0, self.load)

    def describe(self) -> str:
        total = len(os.sched_getaffinity(0) | self.server | self.load)
        if not self.pinned:
            return f"not pinned ({total} CPUs)"
        return (
            f"server pinned to CPU {_cpus(self.server)}, load generator and bench on CPU"
            f" {_cpus(self.load)}"
        )


def _taskset(cpus: frozenset[int]) -> list[str]:
    return ["taskset", "-c", _cpus(cpus)] if cpus else []


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


# --- processes -----------------------------------------------------------------------------


async def stop_process(process: asyncio.subprocess.Process, within: float = 15.0) -> int:
    """SIGTERM, then SIGKILL if it is still running ``within`` seconds later."""
    if process.returncode is not None:
        return process.returncode
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(within):
            return await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await process.wait()


async def wait_for_port(port: int, process: asyncio.subprocess.Process, within: float) -> None:
    """Until something accepts connections on ``port``; fails if ``process`` exits first."""
    async with asyncio.timeout(within):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"server process exited with status {process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


@dataclass
class Platform:
    """``mep run`` in its own process, on free ports, with its own data directory."""

    data_dir: Path
    store: str = "sqlite"
    placement: Placement = field(default_factory=Placement)
    log_level: str = "warning"
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    osb_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    banner: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def operator_token(self) -> str:
        line = next(line for line in self.banner if "Operator token" in line)
        return line.split()[2]

    async def start(self, within: float = 30.0) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MEP_", "OSB_"))}
        env = {
            **inherited,
            "MEP_HOST": "127.0.0.1",
            "MEP_PORT": str(self.port),
            "OSB_PORT": str(self.osb_port),
            "MEP_DNS_PORT": str(self.dns_port),
            "MEP_TLS_PORT": "0",  # any free port: never collides with another platform's 8443
            "MEP_DATA_DIR": str(self.data_dir),
            "MEP_STORE": self.store,
            "MEP_LOG_LEVEL": self.log_level,
            **self.extra_env,
        }
        self.process = await asyncio.create_subprocess_exec(
            *self.placement.server_prefix(),
            MEP,
            "run",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        async with asyncio.timeout(within):
            while not any("Operator token" in line for line in self.banner):
                if self.process.returncode is not None:
                    output = "\n".join(self.banner + self.logs)
                    raise RuntimeError(f"mep run exited:\n{output}")
                await asyncio.sleep(0.05)

    async def _read(self) -> None:
        # Always drained, so that a chatty server never blocks on a full pipe.
        assert self.process is not None
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            (self.logs if line.startswith("{") else self.banner).append(line)

    async def stop(self) -> int | None:
        if self.process is None:
            return None
        code = await stop_process(self.process)
        if self._reader is not None:
            await self._reader
        return code

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@dataclass
class BareServer:
    """The baseline: an aiohttp server in its own process, one handler, one fixed body."""

    body_file: Path
    content_type: str
    placement: Placement = field(default_factory=Placement)
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 15.0) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.placement.server_prefix(),
            sys.executable,
            HARNESS,
            "bare",
            "--port",
            str(self.port),
            "--body",
            str(self.body_file),
            "--content-type",
            self.content_type,
        )
        await wait_for_port(self.port, self.process, within)

    async def stop(self) -> None:
        if self.process is not None:
            await stop_process(self.process)


async def load_bare(
    tmp: Path,
    body: bytes,
    content_type: str,
    path: str,
    headers: dict[str, str],
    *,
    connections: int,
    seconds: float,
    placement: Placement,
) -> LoadResult:
    """The same load against a bare server answering ``body``: the baseline of a ratio. The
    request (path, headers) is the same; the bare server ignores what it does not need."""
    body_file = tmp / f"body-{time.monotonic_ns()}.bin"
    await asyncio.to_thread(body_file.write_bytes, body)
    bare = BareServer(body_file, content_type, placement)
    try:
        await bare.start()
        return await load(
            bare.url + path, headers, connections=connections, seconds=seconds, placement=placement
        )
    finally:
        await bare.stop()


def serve_bare(port: int, body_file: Path, content_type: str) -> None:
    """The bare server's process: answer every GET with the bytes of ``body_file``."""
    body = body_file.read_bytes()
    headers = {"Content-Type": content_type}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@dataclass
class CallbackSink:
    """Where notifications go: an aiohttp server in its own process that answers every POST with
    204 and counts them, so that delivering costs the platform what a real subscriber would."""

    placement: Placement = field(default_factory=Placement)
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 15.0) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.placement.load_prefix(), sys.executable, HARNESS, "sink", "--port", str(self.port)
        )
        await wait_for_port(self.port, self.process, within)

    async def received(self, http: aiohttp.ClientSession) -> int:
        """How many POSTs it has answered so far."""
        async with http.get(f"{self.url}/count") as response:
            response.raise_for_status()
            count: int = (await response.json())["received"]
            return count

    async def stop(self) -> None:
        if self.process is not None:
            await stop_process(self.process)


def serve_sink(port: int) -> None:
    """The callback sink's process: 204 to every POST, ``GET /count`` says how many."""
    received = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.Response(status=204)

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"received": received})

    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- load generation -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0

    @property
    def problems(self) -> str:
        """Anything that makes the figures suspect, or ``""``."""
        parts = []
        if self.non_2xx:
            parts.append(f"{self.non_2xx} non-2xx")
        if self.socket_errors:
            parts.append(f"{self.socket_errors} socket errors/timeouts")
        return ", ".join(parts)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def load_tool(connections: int, seconds: float, threads: int = 2) -> str:
    if have_wrk():
        return f"wrk -t{threads} -c{connections} -d{seconds:g}s --latency --timeout {WRK_TIMEOUT}"
    return (
        f"aiohttp load generator in its own process, {connections} connections, {seconds:g} s"
        f" (wrk is not installed: apt-get install {WRK_PACKAGE}; this generator is slower than"
        " wrk and may itself be the bottleneck)"
    )


async def load(
    url: str,
    headers: dict[str, str],
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    placement: Placement | None = None,
) -> LoadResult:
    """GET ``url`` as fast as ``connections`` connections allow for ``seconds``."""
    prefix = placement.load_prefix() if placement is not None else []
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    if have_wrk():
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            WRK_TIMEOUT,
            *header_args,
            url,
        ]
        return parse_wrk(await _output([*prefix, *command]))
    command = [
        sys.executable,
        HARNESS,
        "load",
        "--url",
        url,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
        *header_args,
    ]
    return LoadResult(**json.loads(await _output([*prefix, *command])))


async def _output(command: Sequence[str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            await stop_process(process, 2.0)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {stderr.decode()}")
    return stdout.decode()


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(output: str) -> LoadResult:
    """Requests/s, p50 and p99 (ms), and the error counts of ``wrk --latency`` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p50 and p99 and total):
        raise ValueError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return LoadResult(
        requests_per_s=float(rps[1]),
        p50_ms=_ms(p50[1]),
        p99_ms=_ms(p99[1]),
        requests=int(total[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


async def generate_load(
    url: str, headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    """The fallback load generator's process (used when wrk is missing)."""
    latencies: list[float] = []
    failures = {"non_2xx": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as s:
        deadline = loop.time() + seconds

        async def client() -> None:
            while loop.time() < deadline:
                start = time.perf_counter()
                try:
                    async with s.get(url) as response:
                        await response.read()
                        if not 200 <= response.status < 400:
                            failures["non_2xx"] += 1
                except (aiohttp.ClientError, TimeoutError):
                    failures["errors"] += 1
                    continue
                latencies.append((time.perf_counter() - start) * 1e3)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return LoadResult(
        requests_per_s=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        requests=len(latencies),
        non_2xx=failures["non_2xx"],
        socket_errors=failures["errors"],
    )


# --- figures and tables --------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values. For few values, p99 is
    the largest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    """Columns sized to fit; the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print((indent + "  ".join(cells)).rstrip())


def _main() -> None:
    parser = argparse.ArgumentParser(description="Subprocess entry points of the benchmarks.")
    commands = parser.add_subparsers(dest="command", required=True)
    bare = commands.add_parser("bare", help="serve one fixed body on every GET")
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--body", type=Path, required=True)
    bare.add_argument("--content-type", default="application/json")
    sink = commands.add_parser("sink", help="answer every POST with 204, count them")
    sink.add_argument("--port", type=int, required=True)
    gen = commands.add_parser("load", help="the fallback load generator (prints JSON)")
    gen.add_argument("--url", required=True)
    gen.add_argument("--connections", type=int, default=64)
    gen.add_argument("--seconds", type=float, default=10.0)
    gen.add_argument("-H", "--header", action="append", default=[])
    args = parser.parse_args()
    if args.command == "bare":
        serve_bare(args.port, args.body, args.content_type)
    elif args.command == "sink":
        serve_sink(args.port)
    else:
        headers = dict(h.split(": ", 1) for h in args.header)
        result = asyncio.run(generate_load(args.url, headers, args.connections, args.seconds))
        print(json.dumps(result.__dict__))


if __name__ == "__main__":
    _main()

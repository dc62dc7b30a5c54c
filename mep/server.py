"""``mep run``: the MEP and the broker in one process, stopped cleanly by SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import ssl
import sys

import structlog
from aiohttp import web

from broker import credentials as broker_credentials
from broker.app import create_broker_app
from broker.sealing import Sealer
from broker.settings import BrokerSettings
from mep.app import create_app
from mep.capif.tls import load_server_context
from mep.core import keys
from mep.core.deps import Deps, open_deps
from mep.core.settings import MepSettings

log = structlog.get_logger("mep.server")

MAX_REQUEST_LINE = 32 * 1024


def _banner(
    settings: MepSettings,
    broker: BrokerSettings,
    deps: Deps,
    osb: broker_credentials.Loaded,
    dns: str | None = None,
) -> str:
    base = settings.base_url
    broker_host = broker.host or settings.host
    token = (
        f"{deps.admin_token}   (kept in {settings.data_dir / 'admin-token'})"
        if deps.admin_token_generated
        else "(from MEP_ADMIN_TOKEN)"
    )
    osb_auth = (
        f"{osb.auth.username} / {osb.auth.password}   (kept in {osb.path})"
        if osb.generated
        else "(from OSB_USERNAME / OSB_PASSWORD)"
    )
    return "\n".join(
        [
            "MEP platform is up",
            f"  MEP and CAPIF APIs  {base}   (API docs: {base}/openapi/)",
            f"  CAPIF over TLS      {settings.ccf_url}   "
            f"(CA root: {(settings.data_dir / 'ca' / 'ca.pem').resolve()})",
            f"  Service broker      http://{broker_host}:{broker.port}   (OSB API 2.17)",
            f"  Broker credentials  {osb_auth}",
            *([f"  DNS responder       {dns}"] if dns else []),
            f"  Store               {settings.store}   events: {settings.events}",
            f"  Data directory      {settings.data_dir.resolve()}",
            f"  Operator token      {token}",
            "",
        ]
    )


def _dns_address(app: web.Application) -> str | None:
    server = app.get(keys.DNS_SERVER)
    if server is None:
        return None
    host, port = server.address
    upstream = app[keys.SETTINGS].dns_upstream
    others = f"forwarded to {upstream}" if upstream else "NXDOMAIN"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}   (UDP and TCP; names without an active rule: {others})"


def tune_garbage_collection() -> None:
    """Fewer, cheaper collections for a process holding a large network world.

    A simulator tick allocates hundreds of thousands of short-lived objects, so the default
    thresholds run young collections every 700 allocations and full ones that walk the whole
    long-lived heap (200-260 ms with 10,000 UEs), stalling every request. Measured on a
    10,000-UE world over 40 ticks: worst tick 258 ms with the defaults, 127-140 ms with these
    thresholds and the startup heap frozen, and no full collection at all.
    """
    gc.collect()
    gc.freeze()  # what startup built (the world, the app) is never scanned again
    gc.set_threshold(50_000, 20, 20)


async def _drain(runners: list[web.AppRunner], within: float) -> None:
    """Stop listening, then let the requests in progress finish (see :mod:`mep.core.drain`)."""
    for runner in runners:
        for site in list(runner.sites):
            await site.stop()
    drained = await asyncio.gather(
        *(runner.app[keys.IN_FLIGHT].drain(within) for runner in runners)
    )
    if not all(drained):
        log.warning("shutdown timeout reached with requests still in progress")


async def _tls_socket(host: str) -> socket.socket:
    """A socket bound to any free port of ``host`` (``MEP_TLS_PORT=0``), so that the port is
    known, and written into links, before the application is made."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock


async def _start_tls(
    runner: web.AppRunner,
    settings: MepSettings,
    context: ssl.SSLContext,
    sock: socket.socket | None,
) -> None:
    """The MEP app over TLS too (``MEP_TLS_PORT``): the CAPIF core function's address."""
    if sock is not None:
        await web.SockSite(runner, sock, ssl_context=context).start()
    else:
        await web.TCPSite(runner, settings.host, settings.tls_port, ssl_context=context).start()


async def serve(settings: MepSettings, broker: BrokerSettings) -> None:
    """Run until SIGTERM/SIGINT; then finish in-flight requests, flush, close."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    deps = await open_deps(settings)
    runners: list[web.AppRunner] = []
    try:
        osb = await broker_credentials.load(broker, settings.data_dir, bearer=deps.admin_token)
        sealer = await Sealer.load_or_create(settings.data_dir)
        tls_context = await load_server_context(settings.data_dir, deps.ca, settings.tls_names)
        tls_socket = await _tls_socket(settings.host) if settings.tls_port == 0 else None
        if tls_socket is not None:
            settings = settings.model_copy(update={"tls_port": tls_socket.getsockname()[1]})
        apps = [
            (
                create_app(settings, deps, dns=settings.dns_enabled),
                settings.host,
                settings.port,
                True,
            ),
            (
                create_broker_app(
                    broker,
                    deps,
                    osb.auth,
                    sealer=sealer,
                    shutdown_timeout=settings.shutdown_timeout,
                ),
                broker.host or settings.host,
                broker.port,
                False,
            ),
        ]
        for app, host, port, with_tls in apps:
            runner = web.AppRunner(
                app,
                access_log=None,
                shutdown_timeout=settings.shutdown_timeout,
                # Above aiohttp's 8 KiB default, so that an over-long query reaches the APIs,
                # which answer 414 ProblemDetails (MEC 011), not the parser's bare 400.
                max_line_size=MAX_REQUEST_LINE,
            )
            # Listed first: a startup that fails half way (a port taken) still gets cleaned up.
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            if with_tls:
                await _start_tls(runner, settings, tls_context, tls_socket)
        tune_garbage_collection()
        sys.stdout.write(_banner(settings, broker, deps, osb, _dns_address(apps[0][0])))
        sys.stdout.flush()
        await stop.wait()
        log.info("stopping: finishing in-flight requests")
    finally:
        await _drain(runners, settings.shutdown_timeout)
        for runner in reversed(runners):
            await runner.cleanup()
        await deps.close()
        log.info("stopped")

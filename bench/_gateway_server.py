"""The MEP app alone (no broker), with or without the API gateway, for ``bench/gateway.py``.

``python bench/_gateway_server.py --data-dir D --port P --tls-port T --admin-token X``
(``--no-gateway``: without the gateway) serves HTTP on P and TLS on T, prints ``ready``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from mep.app import create_app
from mep.capif.tls import load_server_context
from mep.core.deps import open_deps
from mep.core.logging import configure_logging
from mep.core.settings import MepSettings
from mep.server import tune_garbage_collection


async def serve(args: argparse.Namespace) -> None:
    settings = MepSettings(
        data_dir=args.data_dir,
        host="127.0.0.1",
        port=args.port,
        tls_port=args.tls_port,
        admin_token=args.admin_token,
        # One base URL for both runs: tokens name it as their audience.
        public_url="http://mep.bench",
        log_level="warning",
    )
    configure_logging("warning", sys.stderr)
    deps = await open_deps(settings)
    runner = web.AppRunner(create_app(settings, deps, gateway=args.gateway), access_log=None)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await runner.setup()
        context = await load_server_context(settings.data_dir, deps.ca, settings.tls_names)
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        await web.TCPSite(runner, "127.0.0.1", args.tls_port, ssl_context=context).start()
        tune_garbage_collection()
        print("ready", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        await deps.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int, required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--no-gateway", dest="gateway", action="store_false")
    asyncio.run(serve(parser.parse_args()))
    sys.exit(0)


if __name__ == "__main__":
    main()

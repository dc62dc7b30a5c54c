"""The DNS responder as a part of the MEP application: ``setup(app)`` makes the app serve the DNS
rules of its application instances on ``MEP_DNS_HOST``:``MEP_DNS_PORT`` (UDP and TCP).

The rule ports hand every committed DNS rule change to :class:`TableDnsRules` (it replaces the
recording adapter the app support API sets); at start the name table is built from the store,
then the sockets open; while the app runs, the table follows what other replicas commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from mep.core import keys
from mep.core.settings import MepSettings
from mep.dns.answer import Responder
from mep.dns.server import DnsServer
from mep.dns.table_rules import TableDnsRules
from mep.dns.upstream import Upstream


def setup(app: web.Application) -> None:
    """Serve DNS from ``app``; call after the app support API's setup (whose recording
    adapter it replaces) and after the platform's lifecycle is in ``app.cleanup_ctx``."""
    rules = TableDnsRules()
    app[keys.DNS_RULES] = rules

    def watch(app: web.Application) -> None:
        rules.watch(app[keys.COMMITTER])

    app[keys.SERVICE_SETUPS].append(watch)

    @contextlib.asynccontextmanager
    async def serving(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        store = app[keys.STORE]
        await rules.reload(store)
        following = asyncio.create_task(rules.follow(store), name="dns-follow")
        address = settings.dns_upstream_address
        upstream = None if address is None else Upstream(*address)
        server = DnsServer(Responder(rules.table, upstream))
        try:
            await _listen(server, settings)
            app[keys.DNS_SERVER] = server
            yield
        finally:
            await server.close()
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
            if upstream is not None:
                await upstream.close()

    app.cleanup_ctx.append(serving)


async def _listen(server: DnsServer, settings: MepSettings) -> None:
    try:
        await server.start(settings.dns_host, settings.dns_port)
    except OSError as error:
        where = f"{settings.dns_host}:{settings.dns_port}"
        raise OSError(
            f"the DNS responder cannot listen on {where} (MEP_DNS_HOST, MEP_DNS_PORT;"
            f" MEP_DNS_ENABLED=false turns it off): {error}"
        ) from error

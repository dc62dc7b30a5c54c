"""The composition root: ``create_app`` is the only place that wires the MEP together."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog
from aiohttp import web

from mep.auth import api as auth_api
from mep.auth.authenticator import Authenticator
from mep.auth.revocation import RevocationList
from mep.bwm import api as bwm_api
from mep.capif import api as capif_api
from mep.charging import api as charging_api
from mep.core import keys, openapi
from mep.core.commits import Committer
from mep.core.deps import Deps, open_deps
from mep.core.events import EventLogError
from mep.core.notify.deliveries import Notifier
from mep.core.notify.subscriptions import SubscriptionLifecycle
from mep.core.notify.websocket import WebSocketHub
from mep.core.notify.worker import DeliveryWorker
from mep.core.outbox import Outbox
from mep.core.settings import MepSettings
from mep.core.store import StoreError
from mep.core.timers import Timers
from mep.core.web import base_app
from mep.dns import responder as dns_responder
from mep.location import api as location_api
from mep.mgmt import api as mgmt_api
from mep.mgmt.service import AppInstanceService
from mep.mp1.app_support import api as app_support_api
from mep.mp1.service_mgmt import api as service_mgmt_api
from mep.network import api as network_api
from mep.network.port import NetworkSource
from mep.rnis import api as rnis_api

log = structlog.get_logger("mep.app")


def _lifecycle(
    given: Deps | None,
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def platform(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        deps = given or await open_deps(settings)
        app[keys.DEPS] = deps
        app[keys.STORE] = deps.store
        app[keys.EVENTS] = deps.events
        app[keys.CA] = deps.ca
        app[keys.TOKENS] = deps.tokens
        committer = Committer(deps.store)
        app[keys.COMMITTER] = committer
        outbox = Outbox(committer, deps.events, app[keys.METRICS])
        app[keys.OUTBOX] = outbox
        app[keys.AUTHENTICATOR] = Authenticator(
            deps.tokens,
            RevocationList(deps.store),
            admin_token=deps.admin_token,
            audience=settings.base_url,
        )
        instances = AppInstanceService(committer, outbox)
        app[keys.APP_INSTANCES] = instances
        app[keys.CLIENTS] = instances
        app[keys.NOTIFIER] = Notifier()
        app[keys.DELIVERIES] = DeliveryWorker(
            committer,
            sockets=app[keys.WEBSOCKETS],
            metrics=app[keys.METRICS],
            # A replica is a host and port; the same after a restart of its process.
            owner=f"{socket.gethostname()}:{settings.port}",
        )
        app[keys.TIMERS] = Timers(committer)
        SubscriptionLifecycle(deps.store, app[keys.NOTIFIER]).register(
            app[keys.DELIVERIES], app[keys.TIMERS]
        )
        for setup in app[keys.SERVICE_SETUPS]:
            setup(app)
        workers = [
            asyncio.create_task(outbox.run(), name="outbox-relay"),
            asyncio.create_task(app[keys.DELIVERIES].run(), name="deliveries"),
            asyncio.create_task(app[keys.TIMERS].run(), name="timers"),
        ]
        try:
            yield
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await app[keys.WEBSOCKETS].close()
            try:
                await outbox.flush()
            except (StoreError, EventLogError) as error:
                log.warning("outbox not flushed; entries stay for the next start", error=str(error))
            finally:
                if given is None:
                    await deps.close()

    return platform


def create_app(
    settings: MepSettings,
    deps: Deps | None = None,
    *,
    specs: Path | None = None,
    network: NetworkSource | None = None,
    gateway: bool = True,
    dns: bool = False,
) -> web.Application:
    """The MEP application. ``deps`` given: the caller owns and closes them; else the app does.
    ``network`` given: RNIS and Location read it instead of the scenario of the settings.
    ``gateway=False`` leaves the API gateway out (a benchmark's baseline only).
    ``dns=True`` serves the DNS rules on ``MEP_DNS_HOST``:``MEP_DNS_PORT`` while the app runs
    (``mep run`` unless ``MEP_DNS_ENABLED=false``); else they are only recorded."""
    app = base_app("mep")
    app[keys.SETTINGS] = settings
    if network is not None:
        app[keys.NETWORK] = network
    app[keys.SERVICE_SETUPS] = []
    app[keys.INSTANCE_REMOVALS] = []
    app[keys.WEBSOCKETS] = WebSocketHub()
    app[keys.WEBSOCKETS].setup(app)
    app.cleanup_ctx.append(_lifecycle(deps))
    openapi.setup(app, specs)
    auth_api.setup(app)
    mgmt_api.setup(app)
    service_mgmt_api.setup(app)
    app_support_api.setup(app)
    if dns:
        dns_responder.setup(app)
    network_api.setup(app)  # before its readers: its startup wiring provides keys.NETWORK
    rnis_api.setup(app)
    location_api.setup(app)
    bwm_api.setup(app)
    capif_api.setup(app, gateway=gateway)
    charging_api.setup(app)
    return app

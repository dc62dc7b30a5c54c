"""The broker's composition root. It shares the process's store with the MEP."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from broker import services
from broker.api import keys as api_keys
from broker.api import routes
from broker.api.keys import BrokerAuth
from broker.api.middleware import osb_middleware
from broker.catalog import Catalog
from broker.operations import OperationRunner
from broker.repository import Repository
from broker.sealing import Sealer
from broker.service import Broker
from broker.services.base import Provider
from broker.settings import BrokerSettings
from mep.core import keys
from mep.core.deps import Deps
from mep.core.web import base_app

BROKER_SETTINGS: web.AppKey[BrokerSettings] = web.AppKey("broker_settings", BrokerSettings)


def create_broker_app(
    settings: BrokerSettings,
    deps: Deps,
    auth: BrokerAuth,
    *,
    sealer: Sealer,
    providers: Sequence[Provider] | None = None,
    shutdown_timeout: float = 10.0,
) -> web.Application:
    """``providers``: the services to offer; by default those whose backend ``settings`` name.
    ``sealer`` seals binding secrets in the store (its key must be the same on every replica)."""
    app = base_app("osb", errors=osb_middleware)
    app[BROKER_SETTINGS] = settings
    app[keys.STORE] = deps.store
    app[api_keys.AUTH] = auth
    routes.setup(app)

    @contextlib.asynccontextmanager
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        offered = (
            list(providers)
            if providers is not None
            else await services.start(services.configured(settings))
        )
        catalog = Catalog(offered)
        repo = Repository(deps.store, sealer)
        runner = OperationRunner(
            repo,
            catalog,
            # A replica is a host and port; the same after a restart, so it resumes its own.
            owner=f"{socket.gethostname()}:{settings.port}",
            lease=settings.operation_lease,
            timeout=settings.operation_timeout,
            reapply_every=settings.reapply_interval,
        )
        app[api_keys.BROKER] = Broker(repo, catalog, runner, retry_after=settings.retry_after)
        app[api_keys.RUNNER] = runner
        runner.open()
        try:
            yield
        finally:
            await runner.close(within=shutdown_timeout)
            if providers is None:
                for provider in offered:
                    await provider.close()

    app.cleanup_ctx.append(lifecycle)
    return app

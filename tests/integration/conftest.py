"""The real MEP application on each store adapter, served by aiohttp's test server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.broker import (
    APP_OFFERING,
    BEARER,
    OFFERING,
    PASSWORD,
    USERNAME,
    BrokerUnderTest,
    FakeBackend,
    FakeProvider,
)
from fixtures.network import tiny_state

from broker.api.keys import BrokerAuth
from broker.app import create_broker_app
from broker.sealing import Sealer
from broker.settings import BrokerSettings
from mep.app import create_app
from mep.auth.guard import principal, require
from mep.core.deps import open_deps
from mep.core.settings import MepSettings
from mep.core.store.redis import RedisStore
from mep.core.tokens import CallerKind
from mep.network.static import StaticNetworkSource

OPERATOR_TOKEN = "operator-test-token"
PUBLIC_URL = "http://mep.test"
REDIS_URL = "redis://127.0.0.1:6379/0"

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


async def whoami(request: web.Request) -> web.Response:
    who = principal(request)
    return web.json_response({"kind": who.kind.value, "subject": who.subject})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


async def drop_prefix(store: RedisStore, prefix: str) -> None:
    keys = [k async for k in store.client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await store.client.unlink(*keys)


@pytest.fixture(params=["sqlite", "redis"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """A client of the real MEP app, plus two test routes: ``GET /test/whoami`` admits app
    callers only (what the gateway makes of a token), ``GET /test/boom`` raises."""
    settings = MepSettings(data_dir=tmp_path, admin_token=OPERATOR_TOKEN, public_url=PUBLIC_URL)
    redis_store: RedisStore | None = None
    prefix = f"test:{secrets.token_hex(6)}:"
    if request.param == "redis":
        redis_store = await RedisStore.open(REDIS_URL, prefix=prefix)
    deps = await open_deps(settings, store=redis_store)
    app = create_app(settings, deps)
    app.router.add_get("/test/whoami", require(CallerKind.APP)(whoami))
    app.router.add_get("/test/boom", boom)
    test_client = await aiohttp_client(app)
    try:
        yield test_client
    finally:
        await test_client.close()  # the app's cleanup flushes the outbox: before deps close
        if redis_store is not None:
            await drop_prefix(redis_store, prefix)
        await deps.close()


@pytest.fixture
def operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture(params=["sqlite", "redis"])
async def network_client(
    request: pytest.FixtureRequest, tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], StaticNetworkSource]]:
    """A client of the real MEP app reading a network the test drives: the source starts with
    ``fixtures.network.tiny_state()``; change it with ``TinyNetwork(source)``."""
    settings = MepSettings(data_dir=tmp_path, admin_token=OPERATOR_TOKEN, public_url=PUBLIC_URL)
    redis_store: RedisStore | None = None
    prefix = f"test:{secrets.token_hex(6)}:"
    if request.param == "redis":
        redis_store = await RedisStore.open(REDIS_URL, prefix=prefix)
    deps = await open_deps(settings, store=redis_store)
    source = StaticNetworkSource(tiny_state())
    test_client = await aiohttp_client(create_app(settings, deps, network=source))
    try:
        yield test_client, source
    finally:
        await test_client.close()  # the app's cleanup flushes the outbox: before deps close
        if redis_store is not None:
            await drop_prefix(redis_store, prefix)
        await deps.close()


@pytest.fixture(params=["sqlite", "redis"])
async def osb(
    request: pytest.FixtureRequest, tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[BrokerUnderTest]:
    settings = MepSettings(data_dir=tmp_path, admin_token=OPERATOR_TOKEN, public_url=PUBLIC_URL)
    redis_store: RedisStore | None = None
    prefix = f"test:{secrets.token_hex(6)}:"
    if request.param == "redis":
        redis_store = await RedisStore.open(REDIS_URL, prefix=prefix)
    deps = await open_deps(settings, store=redis_store)
    backend = FakeBackend()
    providers = [FakeProvider(OFFERING, backend), FakeProvider(APP_OFFERING, backend)]
    broker_settings = BrokerSettings(
        port=0, operation_lease=1.0, operation_timeout=2.0, retry_after=3
    )
    auth = BrokerAuth(USERNAME, PASSWORD, bearer=BEARER)
    sealer = await Sealer.load_or_create(tmp_path)

    async def make() -> TestClient[web.Request, web.Application]:
        app = create_broker_app(
            broker_settings, deps, auth, sealer=sealer, providers=providers, shutdown_timeout=0.2
        )
        return await aiohttp_client(app)

    under_test = BrokerUnderTest(await make(), backend, make)
    try:
        yield under_test
    finally:
        for gate in backend.gates.values():
            gate.set()
        await under_test.client.close()
        if redis_store is not None:
            await drop_prefix(redis_store, prefix)
        await deps.close()

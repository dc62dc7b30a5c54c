"""Schemathesis against the operator API (specs/mep-mgmt.yaml) of the real app on a TCP port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from fixtures.auth import basic
from fixtures.fuzz import fuzz

from mep.app import create_app
from mep.core.deps import open_deps
from mep.core.settings import MepSettings

OPERATOR_TOKEN = "operator-test-token"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    """The real MEP app (SQLite store) on 127.0.0.1 at a free port; yields its base URL."""
    settings = MepSettings(
        data_dir=tmp_path, admin_token=OPERATOR_TOKEN, public_url="http://mep.test"
    )
    deps = await open_deps(settings)
    runner = web.AppRunner(create_app(settings, deps), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()  # the app's cleanup flushes the outbox: before deps close
        await deps.close()


@pytest.mark.timeout(90)
async def test_the_operator_api_survives_fuzzing_and_keeps_to_its_spec(served: str) -> None:
    failures = await asyncio.to_thread(fuzz, "mep-mgmt.yaml", served, OPERATOR_TOKEN)
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("spec", ["mec011-service-mgmt.yaml", "mec011-app-support.yaml"])
async def test_mp1_survives_fuzzing_and_keeps_to_its_spec(served: str, spec: str) -> None:
    """With the path pinned to a real instance, so examples reach the operations themselves."""
    async with aiohttp.ClientSession(served) as http:
        operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        created = await http.put(
            "/mep_mgmt/v1/app_instances/fuzz-app", json={"appName": "fuzz"}, headers=operator
        )
        secret = (await created.json())["clientSecret"]
        issued = await http.post(
            "/oauth2/token", data={"grant_type": "client_credentials"},
            headers=basic("fuzz-app", secret),
        )  # fmt: skip
        token = (await issued.json())["access_token"]
    pin = {"appInstanceId": "fuzz-app"}
    failures = await asyncio.to_thread(fuzz, spec, served, token, pin=pin)
    assert not failures, "\n".join(map(str, failures))


BROKEN_SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "broken", "version": "1"},
    "paths": {
        "/boom": {"get": {"responses": {"200": {"description": "never"}}}},
        "/thing": {
            "get": {
                "responses": {
                    "200": {
                        "description": "a thing",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"type": "string"}},
                                }
                            }
                        },
                    }
                }
            }
        },
    },
}


async def test_the_harness_reports_server_errors_and_schema_violations(
    tmp_path: Path, aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]
) -> None:
    async def boom(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def thing(request: web.Request) -> web.Response:
        return web.json_response({"name": 42})

    app = web.Application()
    app.router.add_get("/boom", boom)
    app.router.add_get("/thing", thing)
    server = await aiohttp_server(app)
    spec = tmp_path / "broken.yaml"
    await asyncio.to_thread(spec.write_text, yaml.safe_dump(BROKEN_SPEC))
    failures = await asyncio.to_thread(
        fuzz, spec, str(server.make_url("")).rstrip("/"), "t", max_examples=2, negative=False
    )
    kinds = {(f.operation, f.kind) for f in failures}
    assert ("GET /boom", "Server error") in kinds
    assert ("GET /thing", "Response violates schema") in kinds

"""``mep run`` as an operator runs it: banner, health, tokens, crash and clean stop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from fixtures.auth import basic, bearer
from fixtures.platform import RunningPlatform

from mep.core.store import open_store

pytestmark = pytest.mark.e2e
INSTANCES = "/mep_mgmt/v1/app_instances"


async def test_serves_issues_tokens_and_keeps_acknowledged_writes_across_sigkill(
    platform: RunningPlatform,
) -> None:
    await platform.start()
    banner = "\n".join(platform.banner)
    assert platform.url in banner
    assert platform.broker_url in banner
    token_file = platform.data_dir / "admin-token"
    assert platform.operator_token == (await asyncio.to_thread(token_file.read_text)).strip()

    async with platform.session() as http:
        assert (await http.get("/healthz")).status == 200
        assert (await http.get("/readyz")).status == 200
        async with aiohttp.ClientSession() as anyone:
            assert (await anyone.get(f"{platform.broker_url}/healthz")).status == 200
        created = await http.put(f"{INSTANCES}/e2e-app", json={"appName": "e2e"})
        assert created.status == 201
        secret = (await created.json())["clientSecret"]
        issued = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic("e2e-app", secret),
        )
        assert issued.status == 200
        app_token = (await issued.json())["access_token"]
        # Acknowledged, then the process dies before anything else can run.
        burst = [await http.post(INSTANCES, json={"appName": f"b{n}"}) for n in range(20)]
        assert {r.status for r in burst} == {201}
        burst_ids = {(await r.json())["appInstanceId"] for r in burst}
    await platform.kill()

    await platform.start()
    async with platform.session() as http:
        assert (await http.get(f"{INSTANCES}/e2e-app")).status == 200
        listed = {i["appInstanceId"] for i in await (await http.get(INSTANCES)).json()}
        assert burst_ids | {"e2e-app"} == listed
        # Same operator token, same signing key: the app's token still verifies.
        deleted = await http.delete(f"{INSTANCES}/e2e-app", headers=bearer(platform.operator_token))
        assert deleted.status == 204
        again = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic("e2e-app", secret),
        )
        assert again.status == 401
    assert app_token


async def test_sigterm_finishes_the_request_in_flight_and_exits_cleanly(
    platform: RunningPlatform,
) -> None:
    await platform.start()
    body = json.dumps({"appName": "in-flight"}).encode()
    head = (
        f"PUT {INSTANCES}/late HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {platform.operator_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.port)
    writer.write(head + body[:5])
    await writer.drain()
    await asyncio.sleep(0.3)  # the handler is now waiting for the rest of the body
    assert platform.process is not None
    platform.process.send_signal(15)
    await asyncio.sleep(0.3)
    writer.write(body[5:])
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 201"), status_line
    assert await platform.wait() == 0
    assert any('"stopped"' in line for line in platform.output)

    if platform.store == "sqlite":
        store = await open_store("sqlite", platform.data_dir)
        try:
            assert await store.get("app_instances", "late") is not None
            assert await store.count("outbox") == 0, "the outbox is flushed at shutdown"
        finally:
            await store.close()


async def test_admin_token_from_environment_is_used_and_not_printed(tmp_path: Path) -> None:
    running = RunningPlatform(tmp_path / "var", extra_env={"MEP_ADMIN_TOKEN": "s3cret-operator"})
    try:
        await running.start()
        assert "s3cret-operator" not in "\n".join(running.output)
        async with aiohttp.ClientSession(running.url) as http:
            ok = await http.get(INSTANCES, headers=bearer("s3cret-operator"))
            assert ok.status == 200
    finally:
        await running.stop()


async def test_bad_setting_exits_with_a_message_naming_it(tmp_path: Path) -> None:
    running = RunningPlatform(tmp_path / "var", extra_env={"MEP_STORE": "mongodb://nope"})
    running.store = "mongodb://nope"
    with pytest.raises(AssertionError, match="invalid setting store"):
        await running.start()
    assert running.process is not None
    assert await running.wait() == 2

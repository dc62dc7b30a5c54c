"""``mep run`` killed in the middle of a broker operation, then started again.

The broker reaches MariaDB through a :class:`~fixtures.proxy.Proxy` that holds the provision's
``CREATE DATABASE``, so the operation is surely in progress when the process gets SIGKILL. The
process started again on the same data directory and broker port is the same replica (its owner
id is host:port): it resumes the operation at once, and ``last_operation`` says so. With the
backend back, the provision succeeds and the instance is then used for real, and removed; with
the backend still down, it fails cleanly and a later DELETE removes it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fixtures.broker import PASSWORD, USERNAME, headers
from fixtures.platform import RunningPlatform
from fixtures.providers import mysql as mysql_harness
from fixtures.proxy import Proxy

from broker.services.base import Credentials, InstanceSpec
from broker.services.mysql import OFFERING, OFFERING_ID, SMALL_PLAN_ID

pytestmark = pytest.mark.e2e

IDS = {"service_id": OFFERING_ID, "plan_id": SMALL_PLAN_ID}
#: Seconds any one wait of the test may last.
DEADLINE = 15.0


async def last_operation(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url + "/last_operation", params=IDS) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def settle(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with asyncio.timeout(DEADLINE):
        while True:
            body = await last_operation(http, url)
            if body["state"] != "in progress":
                return body
            await asyncio.sleep(0.1)


@dataclass
class Rig:
    proxy: Proxy
    running: RunningPlatform
    harness: mysql_harness.MySQLHarness
    instance: InstanceSpec

    @property
    def url(self) -> str:
        return f"/v2/service_instances/{self.instance.instance_id}"

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.running.broker_url, headers=headers())

    async def kill_mid_provision(self) -> None:
        """Start the platform, send an async provision, and SIGKILL the platform while the
        provision's ``CREATE DATABASE`` is held by the proxy."""
        await self.running.start()
        held = self.proxy.stall_on(b"\x03CREATE DATABASE")
        body = {
            **IDS,
            "organization_guid": "org-1",
            "space_guid": "space-1",
            "context": {"platform": "kubernetes", "namespace": "apps"},
        }
        async with self.session() as http:
            params = {"accepts_incomplete": "true"}
            async with http.put(self.url, json=body, params=params) as resp:
                assert resp.status == 202, await resp.text()
            async with asyncio.timeout(DEADLINE):
                await held.wait()
            assert (await last_operation(http, self.url))["state"] == "in progress"
        await self.running.kill()  # nothing of the outcome was stored


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    harness = await mysql_harness.open_harness()
    proxy = await Proxy("127.0.0.1", 3306).start()
    running = RunningPlatform(
        tmp_path / "var",
        extra_env={
            "OSB_MYSQL_URL": f"mysql://root@127.0.0.1:{proxy.port}",
            "OSB_USERNAME": USERNAME,
            "OSB_PASSWORD": PASSWORD,
            "OSB_RETRY_AFTER": "1",
        },
    )
    instance = InstanceSpec(f"e2e-restart-{secrets.token_hex(6)}", OFFERING.plans[0])
    try:
        yield Rig(proxy, running, harness, instance)
    finally:
        await running.stop()
        await proxy.close()
        # Whatever a failed run left on the server, removed directly.
        await harness.provider.open()
        try:
            await harness.provider.deprovision(instance)
        finally:
            await harness.provider.close()
            await harness.close()


@pytest.mark.timeout(60)
async def test_a_provision_cut_off_by_sigkill_is_resumed_after_the_restart(rig: Rig) -> None:
    await rig.kill_mid_provision()
    rig.proxy.resume()
    await rig.running.start()  # same data directory, same broker port: the same replica

    binding_url = f"{rig.url}/service_bindings/b-1"
    async with rig.session() as http:
        done = await settle(http, rig.url)
        assert done["state"] == "succeeded", done
        assert "resumed" in done["description"], done
        assert await rig.harness.exists(rig.instance)

        async with http.put(binding_url, json={**IDS, "bind_resource": {}}) as resp:
            assert resp.status == 201, await resp.text()
            credentials = Credentials((await resp.json())["credentials"])
        conn = await mysql_harness.connect(credentials)
        try:
            await mysql_harness.query(conn, "CREATE TABLE notes (v VARCHAR(32) NOT NULL)")
            await mysql_harness.query(conn, "INSERT INTO notes (v) VALUES (%s)", "kept")
            assert await mysql_harness.query(conn, "SELECT v FROM notes") == [("kept",)]
        finally:
            conn.close()

        async with http.delete(binding_url, params=IDS) as resp:
            assert resp.status == 200, await resp.text()
        assert await rig.harness.refused(credentials)
        assert await rig.harness.users(rig.instance) == []
        async with http.delete(rig.url, params=IDS) as resp:
            assert resp.status == 200, await resp.text()
    assert not await rig.harness.exists(rig.instance)
    assert await rig.harness.users(rig.instance) == []


@pytest.mark.timeout(60)
async def test_a_provision_cut_off_by_sigkill_fails_cleanly_when_the_backend_is_down(
    rig: Rig,
) -> None:
    await rig.kill_mid_provision()
    rig.proxy.cut()  # the held statement is dropped; the backend refuses connections
    await rig.running.start()

    async with rig.session() as http:
        done = await settle(http, rig.url)
        assert done["state"] == "failed", done
        assert "resumed" in done["description"], done
        # The undo could not reach the backend either: the platform is told to DELETE.
        assert "removing what was made failed too" in done["description"], done

        rig.proxy.restore()
        async with http.delete(rig.url, params=IDS) as resp:
            assert resp.status == 200, await resp.text()
    assert not await rig.harness.exists(rig.instance)
    assert await rig.harness.users(rig.instance) == []

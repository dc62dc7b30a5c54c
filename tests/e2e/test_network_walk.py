"""A scripted walk on the real simulator behind ``mep run``: one UE goes from zone A to zone B.

RNIS and Location read the same network: the subscriber hears, in order, that the UE left zone
A and entered zone B (Location zonal presence), that it was handed over from cell A to cell B
(RNIS CellChange), and that it entered a circle around B; a periodic subscription stops after
``count`` notifications, and an RNIS subscription past its ``expiryDeadline`` gets an
ExpiryNotification and is gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from fixtures.auth import basic, bearer
from fixtures.callbacks import CallbackServer
from fixtures.platform import RunningPlatform

pytestmark = pytest.mark.e2e

UE = "acr:10.0.0.1"
A = {"latitude": 43.6163, "longitude": 7.0500}
B = {"latitude": 43.6163, "longitude": 7.0600}  # 805 m east
SCENARIO = {
    "seed": 1,
    "tick": 1.0,
    "plmn": {"mcc": "001", "mnc": "01"},
    "cells": [
        {"cellId": "1000001", "position": A, "radius": 700},
        {"cellId": "1000002", "position": B, "radius": 700},
    ],
    "zones": [
        {"zoneId": "zoneA", "accessPoints": [
            {"accessPointId": "ap-a", "connectionType": "LTE-macro", "cellId": "1000001"}]},
        {"zoneId": "zoneB", "accessPoints": [
            {"accessPointId": "ap-b", "connectionType": "LTE-macro", "cellId": "1000002"}]},
    ],
    "ues": [{"address": UE, "position": A}],
}  # fmt: skip


@pytest.fixture
async def walk(tmp_path: Path) -> AsyncIterator[RunningPlatform]:
    scenario = tmp_path / "walk.yaml"
    await asyncio.to_thread(scenario.write_text, yaml.safe_dump(SCENARIO))
    platform = RunningPlatform(tmp_path / "var", extra_env={"MEP_SCENARIO": str(scenario)})
    try:
        yield platform
    finally:
        await platform.stop()


async def call(
    http: aiohttp.ClientSession, method: str, path: str, status: int, headers: dict[str, str],
    **kwargs: Any,
) -> Any:  # fmt: skip
    async with http.request(method, path, headers=headers, **kwargs) as response:
        text = await response.text()
        assert response.status == status, f"{method} {path}: {response.status} {text}"
        return await response.json() if text else None


@pytest.mark.timeout(90)
async def test_a_ue_walks_from_zone_a_to_zone_b(
    walk: RunningPlatform, server: CallbackServer
) -> None:
    await walk.start()
    operator = bearer(walk.operator_token)
    async with aiohttp.ClientSession(walk.url) as http:
        await call(http, "POST", "/mep_mgmt/v1/network/clock", 200, operator,
                   json={"action": "pause"})  # fmt: skip
        created = await call(http, "PUT", "/mep_mgmt/v1/app_instances/watcher", 201, operator,
                             json={"appName": "watcher"})  # fmt: skip
        issued = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                                 headers=basic("watcher", created["clientSecret"]))  # fmt: skip
        app = bearer((await issued.json())["access_token"])

        def notify(path: str) -> dict[str, str]:
            return {"notifyURL": f"{server.url}/{path}", "callbackData": path}

        tracking = {"checkImmediate": False, "frequency": 0, "trackingAccuracy": 10}
        await call(
            http,
            "POST",
            "/location/v2/subscriptions/userTracking",
            201,
            app,
            json={
                "userTrackingSubscription": {"callbackReference": notify("track"), "address": UE}
            },
        )
        await call(
            http,
            "POST",
            "/location/v2/subscriptions/area/circle",
            201,
            app,
            json={
                "circleNotificationSubscription": {
                    "callbackReference": notify("circle"),
                    "address": [UE],
                    "radius": 200,
                    "enteringLeavingCriteria": "Entering",
                    **B,
                    **tracking,
                }
            },
        )
        await call(
            http,
            "POST",
            "/location/v2/subscriptions/periodic",
            201,
            app,
            json={
                "periodicNotificationSubscription": {
                    "callbackReference": notify("periodic"),
                    "address": [UE],
                    "frequency": 1,
                    "requestedAccuracy": 10,
                    "count": 3,
                }
            },
        )
        who = [{"type": 1, "value": "10.0.0.1"}]
        await call(
            http,
            "POST",
            "/rni/v2/subscriptions",
            201,
            app,
            json={
                "subscriptionType": "CellChangeSubscription",
                "callbackReference": f"{server.url}/cell",
                "filterCriteriaAssocHo": {"appInstanceId": "watcher", "associateId": who},
            },
        )
        expiring = await call(
            http,
            "POST",
            "/rni/v2/subscriptions",
            201,
            app,
            json={
                "subscriptionType": "MeasTaSubscription",
                "callbackReference": f"{server.url}/expiry",
                "filterCriteriaAssoc": {"associateId": who},
                "expiryDeadline": {"seconds": int(time.time()) + 2, "nanoSeconds": 0},
            },
        )

        moved = await call(http, "POST", f"/mep_mgmt/v1/network/ues/{UE}/move", 200, operator,
                           json={"accessPointId": "ap-b"})  # fmt: skip
        assert moved["zoneId"] == "zoneB"

        await server.wait_for(1, path="/cell")
        await server.wait_for(1, path="/circle")
        await server.wait_for(3, path="/periodic", within=15)
        await server.wait_for(1, path="/expiry", within=15)
        await asyncio.sleep(2.5)  # room for a periodic notification too many
        expired = expiring["_links"]["self"]["href"]
        expired = expired if isinstance(expired, str) else expired["href"]
        await call(http, "GET", expired.removeprefix(walk.url), 404, app)

    presence = [n["zonalPresenceNotification"] for n in server.by_path["/track"]]
    zonal = [(n["userEventType"], n["zoneId"]) for n in presence]
    assert ("Leaving", "zoneA") in zonal
    assert ("Entering", "zoneB") in zonal
    assert zonal.index(("Leaving", "zoneA")) < zonal.index(("Entering", "zoneB"))

    (handover,) = server.by_path["/cell"]
    assert handover["notificationType"] == "CellChangeNotification"
    assert handover["srcEcgi"]["cellId"] == "1000001"
    assert [c["cellId"] for c in handover["trgEcgi"]] == ["1000002"]

    (circle,) = server.by_path["/circle"]
    assert circle["subscriptionNotification"]["enteringLeavingCriteria"] == "Entering"
    assert circle["subscriptionNotification"]["callbackData"] == "circle"

    periodic = [n["subscriptionNotification"] for n in server.by_path["/periodic"]]
    assert len(periodic) == 3, "count stops the periodic subscription after 3"
    assert [bool(n.get("isFinalNotification")) for n in periodic] == [False, False, True]

    (expiry,) = server.by_path["/expiry"]
    assert expiry["notificationType"] == "ExpiryNotification"


@pytest.mark.timeout(60)
async def test_rnis_and_location_agree_and_a_detached_ue_leaves_both(
    tmp_path: Path,
) -> None:
    leaving = {"address": "acr:10.0.0.2", "position": A, "detachAt": 3}
    scenario = tmp_path / "detach.yaml"
    document = {**SCENARIO, "ues": [*SCENARIO["ues"], leaving]}
    await asyncio.to_thread(scenario.write_text, yaml.safe_dump(document))
    platform = RunningPlatform(tmp_path / "var", extra_env={"MEP_SCENARIO": str(scenario)})
    try:
        await platform.start()
        operator = bearer(platform.operator_token)
        async with aiohttp.ClientSession(platform.url) as http:
            clock = "/mep_mgmt/v1/network/clock"
            await call(http, "POST", clock, 200, operator, json={"action": "pause"})

            async def seen() -> tuple[set[str], set[str]]:
                users = await call(http, "GET", "/location/v2/queries/users", 200, operator)
                located = {u["address"] for u in users["userList"].get("user", [])}
                rab = await call(http, "GET", "/rni/v2/queries/rab_info", 200, operator,
                                 params={"app_ins_id": "observer"})  # fmt: skip
                bearers = {
                    a["value"]
                    for cell in rab.get("cellUserInfo", [])
                    for ue in cell.get("ueInfo", [])
                    for a in ue["associateId"]
                }
                return located, bearers

            located, bearers = await seen()
            assert located == {UE, "acr:10.0.0.2"}
            assert bearers == {"10.0.0.1", "10.0.0.2"}, "the same UEs, by their IPv4 associateId"
            await call(http, "POST", clock, 200, operator, json={"action": "step", "ticks": 4})
            located, bearers = await seen()
            assert located == {UE}
            assert bearers == {"10.0.0.1"}
    finally:
        await platform.stop()

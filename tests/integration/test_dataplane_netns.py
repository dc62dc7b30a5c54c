"""The nftables data plane in a real kernel: a router namespace between a UE, a server and an app
(``fixtures.netns``), its rules driven through the operator and Mp1 APIs of the running platform.

Skipped where the machine does not allow it (not root, no nft, ip or tc, no namespaces).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.apps import new_app
from fixtures.dataplane import MGMT, OPERATOR, ClientFactory, Platform, traffic_rule_path
from fixtures.netns import APP, SERVER, UE, Topology, missing, run
from fixtures.openapi import OpenApiDocument

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

MGMT_SPEC = OpenApiDocument("mep-mgmt.yaml")
BLOCKED, STEERED, MIRRORED = 9000, 9100, 9200

BLOCK: dict[str, Any] = {
    "trafficRuleId": "block",
    "filterType": "FLOW",
    "priority": 1,
    "trafficFilter": [
        {"dstAddress": [SERVER], "dstPort": [str(BLOCKED)], "protocol": ["TCP", "UDP"]}
    ],
    "action": "DROP",
    "state": "ACTIVE",
}
STEER: dict[str, Any] = {
    "trafficRuleId": "steer",
    "filterType": "FLOW",
    "priority": 2,
    "trafficFilter": [{"dstAddress": [f"{SERVER}/32"], "dstPort": [str(STEERED)]}],
    "action": "FORWARD_DECAPSULATED",
    "dstInterface": {"interfaceType": "IP", "dstIpAddress": APP},
    "state": "ACTIVE",
}
MIRROR: dict[str, Any] = {
    "trafficRuleId": "mirror",
    "filterType": "PACKET",
    "priority": 3,
    "trafficFilter": [{"srcAddress": [UE], "dstPort": [str(MIRRORED)], "protocol": ["UDP"]}],
    "action": "DUPLICATE_DECAPSULATED",
    "dstInterface": {"interfaceType": "IP", "dstIpAddress": APP},
    "state": "ACTIVE",
}


@pytest.fixture
async def topology() -> AsyncIterator[Topology]:
    topology = Topology()
    try:
        try:
            await topology.create()
        except RuntimeError as error:
            pytest.skip(f"cannot create network namespaces here: {error}")
        yield topology
    finally:
        await topology.delete()


@pytest.fixture
async def platform(
    topology: Topology, tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[Platform]:
    settings = {
        "dataplane": "nftables",
        "dataplane_netns": topology.router,
        "dataplane_interface": "ue",
    }
    platform = Platform(tmp_path, aiohttp_client, settings)
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()


async def set_state(platform: Platform, app: Any, rule: dict[str, Any], state: str) -> None:
    assert platform.client is not None
    path = traffic_rule_path(app.instance_id, rule["trafficRuleId"])
    response = await platform.client.put(path, json={**rule, "state": state}, headers=app.headers)
    assert response.status == 200, await response.text()


async def test_drop_stops_tcp_and_udp_until_inactive(
    topology: Topology, platform: Platform
) -> None:
    server = await topology.server("srv", "server", [BLOCKED])
    ue = await topology.client()
    assert platform.client is not None
    app = await new_app(
        platform.client, OPERATOR, "blocker", trafficRules=[{**BLOCK, "state": "INACTIVE"}]
    )
    assert await ue.both(SERVER, BLOCKED) == ("server", "server")

    await set_state(platform, app, BLOCK, "ACTIVE")
    before = server.received()
    assert await ue.both(SERVER, BLOCKED) == (None, None)
    assert server.received() == before
    report = await platform.report()
    MGMT_SPEC.check("/mep_mgmt/v1/dataplane", "get", 200, report)
    assert report["driver"] == "nftables"
    assert report["target"]["netns"] == topology.router
    assert report["lastApply"]["ok"] is True
    assert report["lastApply"]["operation"] == "update"
    assert report["lastApply"]["ruleCount"] == 1
    assert report["rules"] == {"known": 1, "active": 1, "enforced": 1}

    await set_state(platform, app, BLOCK, "INACTIVE")
    assert await ue.both(SERVER, BLOCKED) == ("server", "server")
    await set_state(platform, app, BLOCK, "ACTIVE")
    assert await ue.both(SERVER, BLOCKED) == (None, None)
    # The instance's removal takes its rules out of the kernel too.
    removed = await platform.client.delete(f"{MGMT}/blocker", headers=OPERATOR)
    assert removed.status == 204, await removed.text()
    assert await ue.both(SERVER, BLOCKED) == ("server", "server")
    assert (await platform.report())["rules"] == {"known": 0, "active": 0, "enforced": 0}


async def test_forward_steers_the_ues_traffic_to_the_app(
    topology: Topology, platform: Platform
) -> None:
    server = await topology.server("srv", "server", [STEERED])
    edge = await topology.server("app", "app", [STEERED])
    ue = await topology.client()
    assert platform.client is not None
    assert await ue.both(SERVER, STEERED) == ("server", "server")

    app = await new_app(platform.client, OPERATOR, "edge", trafficRules=[STEER])
    served = server.received()
    assert await ue.both(SERVER, STEERED) == ("app", "app")
    assert server.received() == served
    assert edge.received("udp", STEERED) == 1
    assert edge.received("tcp", STEERED) == 1

    await set_state(platform, app, STEER, "INACTIVE")
    assert await ue.both(SERVER, STEERED) == ("server", "server")


async def test_duplicate_sends_the_app_a_copy(topology: Topology, platform: Platform) -> None:
    server = await topology.server("srv", "server", [MIRRORED])
    # A copy keeps its destination address: the app takes it as its own to receive it.
    await run("ip", "-n", topology.host("app"), "addr", "add", f"{SERVER}/32", "dev", "lo")
    edge = await topology.server("app", "app", [MIRRORED])
    ue = await topology.client()
    assert platform.client is not None
    await new_app(platform.client, OPERATOR, "tap", trafficRules=[MIRROR])

    assert await ue.ask("udp", SERVER, MIRRORED) is not None
    assert server.received("udp", MIRRORED) == 1
    assert edge.received("udp", MIRRORED) == 1


async def test_a_restart_reconciles_without_a_gap(topology: Topology, platform: Platform) -> None:
    server = await topology.server("srv", "server", [BLOCKED, STEERED])
    await topology.server("app", "app", [STEERED, BLOCKED])
    ue = await topology.client()
    assert platform.client is not None
    app = await new_app(platform.client, OPERATOR, "steady", trafficRules=[BLOCK, STEER])
    assert await ue.both(SERVER, BLOCKED) == (None, None)
    assert await ue.both(SERVER, STEERED) == ("app", "app")

    probe = await topology.probe(SERVER, BLOCKED)
    await platform.stop()
    # While the platform is down, the tables drift: the steering goes, a stray rule comes.
    await topology.nft("flush", "chain", "ip", "mep", "steer_nat")
    await topology.nft("insert", "rule", "ip", "mep", "steer", "ip", "daddr", APP, "drop")
    assert await ue.both(SERVER, STEERED) == ("server", "server")
    assert await ue.both(APP, BLOCKED) == (None, None)

    await platform.start()
    await probe.close_input()
    sent = json.loads(await probe.line(1))
    assert sent["udp"] > 100
    assert sent["tcp"] > 10
    # Not one probe packet got through, before, during or after the restart.
    assert server.received(port=BLOCKED) == 0
    assert await ue.both(SERVER, STEERED) == ("app", "app")
    assert await ue.both(APP, BLOCKED) == ("app", "app")
    report = await platform.report()
    assert report["lastApply"]["operation"] == "reconcile"
    assert report["lastApply"]["ok"] is True
    assert report["lastApply"]["ruleCount"] == 2

    # The probe could see a gap: with the rule off, its packets arrive.
    assert platform.client is not None
    await set_state(platform, app, BLOCK, "INACTIVE")
    assert await ue.both(SERVER, BLOCKED) == ("server", "server")
    assert server.received(port=BLOCKED) == 2


def class_stats(output: str) -> dict[str, tuple[int, int]]:
    """``tc -s class show``: class id -> (rate in bit/s, bytes sent)."""
    found = {}
    for block in output.split("class htb ")[1:]:
        classid = block.split()[0]
        rate = re.search(r" rate (\d+)([KMG]?)bit", block)
        sent = re.search(r"Sent (\d+) bytes", block)
        assert rate is not None, block
        assert sent is not None, block
        scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}[rate[2]]
        found[classid] = (int(rate[1]) * scale, int(sent[1]))
    return found


async def test_a_bandwidth_allocation_is_shaped_with_htb(
    topology: Topology, platform: Platform
) -> None:
    await topology.server("app", "app", [STEERED])
    ue = await topology.client()
    assert platform.client is not None
    app = await new_app(platform.client, OPERATOR, "video", trafficRules=[STEER])
    body = {"appInsId": "video", "requestType": 0, "fixedAllocation": "5000000",
            "allocationDirection": "00"}  # fmt: skip
    created = await platform.client.post("/bwm/v1/bw_allocations", json=body, headers=app.headers)
    assert created.status == 201, await created.text()
    allocation = await created.json()

    (stats,) = class_stats(await topology.tc("-s", "class", "show", "dev", "ue")).values()
    assert stats == (5_000_000, 0)
    # Downlink: what the app sends towards the UEs goes through the allocation's class.
    assert await ue.both(SERVER, STEERED) == ("app", "app")
    (stats,) = class_stats(await topology.tc("-s", "class", "show", "dev", "ue")).values()
    assert stats[1] > 0
    report = await platform.report()
    assert report["allocations"] == {"known": 1, "shaped": 1}
    assert report["capabilities"]["bandwidth"] is True

    url = f"/bwm/v1/bw_allocations/{allocation['allocationId']}"
    deleted = await platform.client.delete(url, headers=app.headers)
    assert deleted.status == 204
    assert class_stats(await topology.tc("-s", "class", "show", "dev", "ue")) == {}
    assert "meta priority" not in await topology.nft("list", "table", "ip", "mep")

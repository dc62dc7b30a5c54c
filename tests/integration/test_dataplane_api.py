"""The data plane seen through the APIs: ``GET /mep_mgmt/v1/dataplane``, the refusal (400) of
traffic rules the driver cannot enforce, the reconcile at start, and a data plane that fails
without taking the platform down. No kernel needed: the nftables driver here points at a
network namespace that does not exist (the netns tests use a real one)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.apps import new_app
from fixtures.dataplane import (
    DATAPLANE,
    MGMT,
    OPERATOR,
    ClientFactory,
    Platform,
    traffic_rule_path,
)
from fixtures.openapi import OpenApiDocument
from fixtures.problems import params, problem
from pydantic import ValidationError

from mep.core import keys
from mep.core.settings import MepSettings
from mep.dataplane.command import CommandError, Commands
from mep.dataplane.none import RecordingDataPlane

Client = TestClient[web.Request, web.Application]
MGMT_SPEC = OpenApiDocument("mep-mgmt.yaml")

DROP: dict[str, Any] = {
    "trafficRuleId": "drop",
    "filterType": "PACKET",
    "priority": 1,
    "trafficFilter": [{"dstAddress": ["192.0.2.0/24"], "protocol": ["UDP"]}],
    "action": "DROP",
    "state": "ACTIVE",
}
STEER: dict[str, Any] = {
    "trafficRuleId": "steer",
    "filterType": "FLOW",
    "priority": 2,
    "trafficFilter": [{"dstAddress": ["198.51.100.10"], "dstPort": ["443"]}],
    "action": "FORWARD_DECAPSULATED",
    "dstInterface": {"interfaceType": "IP", "dstIpAddress": "10.10.0.5"},
    "state": "INACTIVE",
}
GTP_FILTER = {"srcTunnelAddress": ["203.0.113.1"], "dstTunnelPort": ["2152"]}
TUNNEL = {"interfaceType": "TUNNEL", "tunnelInfo": {"tunnelType": "GTP_U"}}


async def report(client: Client) -> dict[str, Any]:
    response = await client.get(DATAPLANE, headers=OPERATOR)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    MGMT_SPEC.check(DATAPLANE, "get", 200, body)
    return body


@pytest.fixture
async def recording(tmp_path: Path, aiohttp_client: ClientFactory) -> AsyncIterator[Platform]:
    platform = Platform(tmp_path, aiohttp_client)
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()


@pytest.fixture
async def unreachable(tmp_path: Path, aiohttp_client: ClientFactory) -> AsyncIterator[Platform]:
    """The nftables driver, pointed at a network namespace that is not there."""
    settings = {"dataplane": "nftables", "dataplane_netns": f"mep-absent-{secrets.token_hex(4)}"}
    platform = Platform(tmp_path, aiohttp_client, settings)
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()


async def test_the_recording_data_plane_reports_what_it_recorded(recording: Platform) -> None:
    client = recording.client
    assert client is not None
    body = await report(client)
    assert body["driver"] == "none"
    assert "target" not in body
    assert body["capabilities"]["bandwidth"] is False
    assert set(body["capabilities"]["filterFields"]) >= {"srcTunnelAddress", "token", "qCI"}
    assert body["capabilities"]["interfaceTypes"] == ["IP", "MAC", "TUNNEL"]
    assert body["lastApply"]["operation"] == "reconcile"
    assert body["lastApply"]["ok"] is True

    # It records anything, tunnel members included.
    tunnel_rule = {**DROP, "trafficRuleId": "gtp", "trafficFilter": [GTP_FILTER]}
    await new_app(client, OPERATOR, "video", trafficRules=[DROP, STEER, tunnel_rule])
    body = await report(client)
    assert body["rules"] == {"known": 3, "active": 2, "enforced": 0}
    assert body["lastApply"]["operation"] == "add"
    assert body["lastApply"]["ruleCount"] == 2
    assert body["notApplied"] == []


async def test_the_report_is_for_the_operator_only(recording: Platform) -> None:
    client = recording.client
    assert client is not None
    app = await new_app(client, OPERATOR, "nosy")
    await problem(await client.get(DATAPLANE), 401)
    await problem(await client.get(DATAPLANE, headers={"Authorization": "Bearer x"}), 401)
    await problem(await client.get(DATAPLANE, headers=app.headers), 403)


async def test_each_start_reconciles_with_the_stored_rules(recording: Platform) -> None:
    assert recording.client is not None
    await new_app(recording.client, OPERATOR, "video", trafficRules=[DROP, STEER])
    await recording.stop()
    client = await recording.start()
    dataplane = cast(RecordingDataPlane, client.app[keys.DATAPLANE])
    (snapshot,) = dataplane.reconciled
    assert {(r.app_instance_id, r.rule.traffic_rule_id) for r in snapshot.rules} == {
        ("video", "drop"),
        ("video", "steer"),
    }
    assert dataplane.calls == []
    assert (await report(client))["rules"] == {"known": 2, "active": 1, "enforced": 0}


async def test_a_failing_data_plane_is_reported_and_the_platform_runs_on(
    unreachable: Platform,
) -> None:
    client = unreachable.client
    assert client is not None
    body = await report(client)
    assert body["driver"] == "nftables"
    assert body["lastApply"]["operation"] == "reconcile"
    assert body["lastApply"]["ok"] is False
    assert body["lastApply"]["error"]
    assert body["capabilities"]["bandwidth"] is False  # no interface to shape on

    # The store is the truth: the rule is kept and served, the failure reported.
    app = await new_app(client, OPERATOR, "video", trafficRules=[DROP])
    rules = "/mec_app_support/v1/applications/video/traffic_rules"
    listed = await client.get(rules, headers=app.headers)
    assert await listed.json() == [DROP]
    body = await report(client)
    assert body["lastApply"]["operation"] == "add"
    assert body["lastApply"]["ok"] is False
    assert body["rules"] == {"known": 1, "active": 1, "enforced": 0}


@pytest.mark.parametrize(
    ("rules", "pointers"),
    [
        (
            [DROP, {**DROP, "trafficRuleId": "gtp", "trafficFilter": [{}, GTP_FILTER]}],
            {"/trafficRules/1/trafficFilter/1/srcTunnelAddress",
             "/trafficRules/1/trafficFilter/1/dstTunnelPort"},
        ),
        (
            [{**STEER, "action": "FORWARD_ENCAPSULATED", "dstInterface": TUNNEL}],
            {"/trafficRules/0/dstInterface/interfaceType"},
        ),
        (
            [{**DROP, "trafficFilter": [{"protocol": ["udp", "QUIC"], "qCI": 9}]}],
            {"/trafficRules/0/trafficFilter/0/protocol/1", "/trafficRules/0/trafficFilter/0/qCI"},
        ),
    ],
    ids=["gtp-filter", "tunnel-interface", "protocol-and-qci"],
)  # fmt: skip
async def test_the_operator_cannot_declare_what_the_data_plane_cannot_enforce(
    unreachable: Platform, rules: list[dict[str, Any]], pointers: set[str]
) -> None:
    client = unreachable.client
    assert client is not None
    body = {"appName": "video", "trafficRules": rules}
    put = await client.put(f"{MGMT}/video", json=body, headers=OPERATOR)
    refused = await problem(put, 400)
    assert params(refused) == pointers
    assert all(p.rsplit("/", 1)[-1] in refused["detail"] for p in pointers)
    await problem(await client.get(f"{MGMT}/video", headers=OPERATOR), 404)
    await problem(await client.post(MGMT, json=body, headers=OPERATOR), 400)
    assert await (await client.get(MGMT, headers=OPERATOR)).json() == []
    # Nothing reached the data plane either.
    assert (await report(client))["rules"]["known"] == 0


async def test_an_app_cannot_put_what_the_data_plane_cannot_enforce(
    unreachable: Platform,
) -> None:
    client = unreachable.client
    assert client is not None
    app = await new_app(client, OPERATOR, "video", trafficRules=[STEER])
    url = traffic_rule_path("video", "steer")
    tunnelled = {
        **STEER,
        "state": "ACTIVE",
        "trafficFilter": [{"tgtTunnelAddress": ["203.0.113.9"]}],
    }
    refused = await problem(await client.put(url, json=tunnelled, headers=app.headers), 400)
    assert params(refused) == {"/trafficFilter/0/tgtTunnelAddress"}
    encapsulated = {**STEER, "action": "FORWARD_ENCAPSULATED", "dstInterface": TUNNEL}
    refused = await problem(await client.put(url, json=encapsulated, headers=app.headers), 400)
    assert params(refused) == {"/dstInterface/interfaceType"}
    # Unchanged, at its first version.
    current = await client.get(url, headers=app.headers)
    assert await current.json() == STEER
    assert current.headers["ETag"] == '"1"'
    # What it can enforce goes through.
    on = await client.put(url, json={**STEER, "state": "ACTIVE"}, headers=app.headers)
    assert on.status == 200, await on.text()


def test_the_data_plane_settings_are_checked() -> None:
    assert MepSettings().dataplane == "none"
    chosen = MepSettings(dataplane="nftables", dataplane_interface=" ue, app ,")
    assert chosen.dataplane_interfaces == ["ue", "app"]
    for bad in (
        {"dataplane": "iptables"},
        {"dataplane_netns": "../etc"},
        {"dataplane_table": "mep table"},
        {"dataplane_interface": "eth0,an-interface-name-too-long"},
        {"dataplane_timeout": 0},
    ):
        with pytest.raises(ValidationError):
            MepSettings(**bad)


async def test_commands_are_bounded_and_their_failures_are_errors() -> None:
    assert await Commands(prefix=("env",)).run("echo", "hello") == "hello\n"
    with pytest.raises(CommandError, match=r"did not finish within 0\.2 s"):
        await Commands(timeout=0.2).run("sleep", "30")
    with pytest.raises(CommandError, match="cannot run mep-no-such-tool"):
        await Commands().run("mep-no-such-tool")
    with pytest.raises(CommandError, match=r"^sh failed: oops$"):
        await Commands().run("sh", "-c", "echo oops >&2; exit 3")

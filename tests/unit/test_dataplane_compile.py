"""Traffic rules and bandwidth allocations compiled into nftables JSON (``mep.dataplane.compile``),
and what the nftables data plane refuses (``mep.dataplane.support``). No I/O: the netns tests
apply the same output to a real kernel."""

from __future__ import annotations

from typing import Any

import pytest

from mep.bwm.models import BwInfo
from mep.core.problem import BadRequest
from mep.dataplane.compile import NFTABLES_CAPABILITIES, Compiled, compile_ruleset, removal
from mep.dataplane.nft import PORT_PROTOCOLS
from mep.dataplane.port import AppTrafficRule
from mep.dataplane.shaping import Shaping
from mep.dataplane.status import NotAppliedKind
from mep.dataplane.support import refuse_unsupported, unsupported
from mep.mp1.app_support.models import TrafficRule

Expr = dict[str, Any]


def rule(rule_id: str, priority: int, action: str = "DROP", **fields: Any) -> TrafficRule:
    body: dict[str, Any] = {
        "trafficRuleId": rule_id,
        "filterType": "FLOW",
        "priority": priority,
        "trafficFilter": [{"dstAddress": ["192.0.2.10"]}],
        "action": action,
        "state": "ACTIVE",
    }
    if action.startswith(("FORWARD", "DUPLICATE")):
        body["dstInterface"] = {"interfaceType": "IP", "dstIpAddress": "10.10.0.5"}
    body.update(fields)
    return TrafficRule.model_validate(body)


def compiled(*rules: TrafficRule, app: str = "app", **options: Any) -> Compiled:
    return compile_ruleset([AppTrafficRule(app, r) for r in rules], table="mep", **options)


def named_sets(result: Compiled, family: str) -> dict[str, dict[str, Any]]:
    return {
        c["add"]["set"]["name"]: c["add"]["set"]
        for c in result.commands
        if "set" in c.get("add", {}) and c["add"]["set"]["family"] == family
    }


def chain(result: Compiled, family: str, name: str) -> list[list[Expr]]:
    """The statements of each rule of one chain, in order; a named set shown as its elements
    (``{"set": [...]}``, as nftables writes an anonymous one)."""
    sets = named_sets(result, family)

    def resolved(expr: Expr) -> Expr:
        right = expr.get("match", {}).get("right")
        if isinstance(right, str) and right.startswith("@"):
            elements = sets[right[1:]]["elem"]
            return {"match": {**expr["match"], "right": {"set": elements}}}
        return expr

    return [
        [resolved(e) for e in c["add"]["rule"]["expr"]]
        for c in result.commands
        if "rule" in c.get("add", {})
        and c["add"]["rule"]["family"] == family
        and c["add"]["rule"]["chain"] == name
    ]


def comments(result: Compiled, family: str, name: str) -> list[str]:
    return [
        c["add"]["rule"]["comment"]
        for c in result.commands
        if "rule" in c.get("add", {})
        and c["add"]["rule"]["family"] == family
        and c["add"]["rule"]["chain"] == name
    ]


def chains(result: Compiled, family: str) -> list[str]:
    return [
        c["add"]["chain"]["name"]
        for c in result.commands
        if "chain" in c.get("add", {}) and c["add"]["chain"]["family"] == family
    ]


def match(left: Expr, right: Any) -> Expr:
    return {"match": {"op": "==", "left": left, "right": right}}


def payload(protocol: str, field: str) -> Expr:
    return {"payload": {"protocol": protocol, "field": field}}


DADDR4 = payload("ip", "daddr")
SADDR4 = payload("ip", "saddr")
L4 = {"meta": {"key": "l4proto"}}


# --- the transaction


def test_each_family_table_is_replaced_in_one_transaction() -> None:
    result = compiled()
    for family in ("ip", "ip6"):
        ident = {"family": family, "name": "mep"}
        tables = [c for c in result.commands if "table" in next(iter(c.values()))]
        assert [c for c in tables if next(iter(c.values()))["table"] == ident] == [
            {"add": {"table": ident}},
            {"delete": {"table": ident}},
            {"add": {"table": ident}},
        ]
        # Always the steer chain, so the tables exist even with no rule; nat and shape only
        # when something needs them.
        assert chains(result, family) == ["steer"]
    assert result.document() == {"nftables": result.commands}
    assert result.enforced == 0


def test_a_list_of_elements_is_one_named_set_shared_by_every_rule_using_it() -> None:
    result = compiled(
        rule("a", 1, trafficFilter=[{"dstPort": ["80", "443-450"], "protocol": ["tcp", "udp"]}]),
        rule("b", 2, trafficFilter=[{"dstPort": ["80", "443-450"], "protocol": ["udp", "tcp"]}]),
        rule("c", 3, trafficFilter=[{"dstAddress": ["192.0.2.1", "192.0.2.3"]}]),
    )
    assert named_sets(result, "ip") == {
        "s0": {"family": "ip", "table": "mep", "name": "s0", "type": "inet_proto",
               "elem": [6, 17]},
        "s1": {"family": "ip", "table": "mep", "name": "s1", "type": "inet_service",
               "elem": [80, {"range": [443, 450]}], "flags": ["interval"]},
        "s2": {"family": "ip", "table": "mep", "name": "s2", "type": "ipv4_addr",
               "elem": ["192.0.2.1", "192.0.2.3"]},
    }  # fmt: skip
    raw = [c["add"]["rule"]["expr"] for c in result.commands if "rule" in c.get("add", {})]
    assert raw[0][:2] == raw[1][:2] == [match(L4, "@s0"), match(payload("th", "dport"), "@s1")]
    # Sets come before the chains whose rules refer to them, in the same transaction.
    kinds = [next(iter(c["add"])) for c in result.commands if "add" in c][:7]
    assert kinds == ["table", "table", "set", "set", "set", "chain", "rule"]


def test_removal_deletes_both_tables_even_if_absent() -> None:
    commands = removal("mep")["nftables"]
    assert commands == [
        {"add": {"table": {"family": "ip", "name": "mep"}}},
        {"delete": {"table": {"family": "ip", "name": "mep"}}},
        {"add": {"table": {"family": "ip6", "name": "mep"}}},
        {"delete": {"table": {"family": "ip6", "name": "mep"}}},
    ]


# --- order and actions


def test_priority_orders_rules_zero_first_and_inactive_rules_are_left_out() -> None:
    result = compiled(
        rule("low", 200),
        rule("top", 0),
        rule("off", 1, state="INACTIVE"),
        rule("b", 7),
        rule("a", 7),
    )
    assert comments(result, "ip", "steer") == ["app/top", "app/a", "app/b", "app/low"]
    assert result.enforced == 4


def test_actions_end_rules_as_the_data_plane_should() -> None:
    result = compiled(
        rule("drop", 1),
        rule("pass", 2, action="PASSTHROUGH"),
        rule("fwd", 3, action="FORWARD_DECAPSULATED"),
        rule("dup", 4, action="DUPLICATE_ENCAPSULATED"),
        rule("fwd2", 5, action="FORWARD_ENCAPSULATED"),
        rule("after", 6, action="PASSTHROUGH"),
    )
    match_dst = match(DADDR4, "192.0.2.10")
    assert chain(result, "ip", "steer") == [
        [match_dst, {"drop": None}],
        [match_dst, {"accept": None}],
        [match_dst, {"accept": None}],
        [match_dst, {"dup": {"addr": "10.10.0.5"}}, {"accept": None}],
        [match_dst, {"accept": None}],
        [match_dst, {"accept": None}],
    ]
    # No DROP in the nat chain (its packets never get there), and nothing after the last DNAT.
    assert comments(result, "ip", "steer_nat") == ["app/pass", "app/fwd", "app/dup", "app/fwd2"]
    assert chain(result, "ip", "steer_nat") == [
        [match_dst, {"accept": None}],
        [match_dst, {"dnat": {"addr": "10.10.0.5"}}],
        [match_dst, {"accept": None}],
        [match_dst, {"dnat": {"addr": "10.10.0.5"}}],
    ]
    assert chains(result, "ip") == ["steer", "steer_nat"]
    # The IPv4 target: nothing forwarded or duplicated for IPv6.
    assert chains(result, "ip6") == ["steer"]


def test_forwarding_to_an_ipv6_address_matches_ipv6_packets_only() -> None:
    forward = rule(
        "fwd6",
        1,
        action="FORWARD_DECAPSULATED",
        trafficFilter=[{"dstPort": ["443"]}],
        dstInterface={"interfaceType": "IP", "dstIpAddress": "2001:db8::5"},
    )
    result = compiled(forward)
    assert chain(result, "ip", "steer") == []
    assert chain(result, "ip6", "steer_nat") == [
        [
            match(L4, {"set": list(PORT_PROTOCOLS)}),
            match(payload("th", "dport"), 443),
            {"dnat": {"addr": "2001:db8::5"}},
        ]
    ]


def test_each_filter_of_a_rule_is_a_rule_of_its_own() -> None:
    two = rule("two", 1, trafficFilter=[{"dstAddress": ["192.0.2.1"]}, {"srcPort": ["53"]}])
    result = compiled(two)
    assert chain(result, "ip", "steer") == [
        [match(DADDR4, "192.0.2.1"), {"drop": None}],
        [
            match(L4, {"set": list(PORT_PROTOCOLS)}),
            match(payload("th", "sport"), 53),
            {"drop": None},
        ],
    ]
    assert len(chain(result, "ip6", "steer")) == 1
    # No filter at all matches no packet.
    assert chain(compiled(rule("none", 1, trafficFilter=[])), "ip", "steer") == []


# --- matches


def test_addresses_are_merged_into_the_fewest_prefixes_per_family() -> None:
    addresses = rule(
        "a",
        1,
        trafficFilter=[
            {
                "srcAddress": ["10.0.0.0/8", "10.1.2.3", "10.200.0.0/16", "192.0.2.7/24"],
                "dstAddress": ["198.51.100.4-198.51.100.7", "2001:db8::1", "2001:db8::/32"],
            }
        ],
    )
    result = compiled(addresses)
    source = {"set": [{"prefix": {"addr": "10.0.0.0", "len": 8}},
                      {"prefix": {"addr": "192.0.2.0", "len": 24}}]}  # fmt: skip
    assert chain(result, "ip", "steer") == [
        [
            match(SADDR4, source),
            match(DADDR4, {"prefix": {"addr": "198.51.100.4", "len": 30}}),
            {"drop": None},
        ]
    ]
    # No IPv6 source listed: the filter cannot match an IPv6 packet.
    assert chain(result, "ip6", "steer") == []


def test_a_filter_of_both_families_matches_each_with_its_own_addresses() -> None:
    mixed = rule("m", 1, trafficFilter=[{"srcAddress": ["192.0.2.9", "2001:db8::9"]}])
    result = compiled(mixed)
    assert chain(result, "ip", "steer") == [[match(SADDR4, "192.0.2.9"), {"drop": None}]]
    assert chain(result, "ip6", "steer") == [
        [match(payload("ip6", "saddr"), "2001:db8::9"), {"drop": None}]
    ]


def test_ports_are_merged_and_need_a_protocol_with_ports() -> None:
    ports = rule(
        "p",
        1,
        trafficFilter=[
            {"dstPort": ["80", "81", "8000-8080", "8050-9000", "7999"], "protocol": ["TCP", "17"]}
        ],
    )
    (exprs,) = chain(compiled(ports), "ip", "steer")
    assert exprs == [
        match(L4, {"set": [6, 17]}),
        match(payload("th", "dport"), {"set": [{"range": [80, 81]}, {"range": [7999, 9000]}]}),
        {"drop": None},
    ]
    # ICMP has no ports: a filter asking for both matches nothing.
    icmp = rule("i", 1, trafficFilter=[{"dstPort": ["80"], "protocol": ["icmp"]}])
    assert chain(compiled(icmp), "ip", "steer") == []
    # A protocol alone is matched by number.
    gre = rule("g", 1, trafficFilter=[{"protocol": ["GRE"]}])
    assert chain(compiled(gre), "ip", "steer") == [[match(L4, 47), {"drop": None}]]


def test_dscp_matches_ipv4_and_traffic_class_ipv6() -> None:
    dscp = rule("d", 1, trafficFilter=[{"dSCP": 46}])
    result = compiled(dscp)
    assert chain(result, "ip", "steer") == [[match(payload("ip", "dscp"), 46), {"drop": None}]]
    assert chain(result, "ip6", "steer") == []
    tc = rule("t", 1, trafficFilter=[{"tC": 0b10111001}])
    result = compiled(tc)
    assert chain(result, "ip", "steer") == []
    assert chain(result, "ip6", "steer") == [
        [match(payload("ip6", "dscp"), 0b101110), match(payload("ip6", "ecn"), 1), {"drop": None}]
    ]


def test_comments_name_the_instance_and_rule_within_nft_limit() -> None:
    assert comments(compiled(rule("r1", 1), app="video"), "ip", "steer") == ["video/r1"]
    # nftables takes at most 128 bytes.
    (comment,) = comments(compiled(rule("r" * 128, 1), app="é" * 64), "ip", "steer")
    assert comment == "é" * 64


# --- what the nftables data plane refuses


TUNNEL_FILTER = {
    "srcTunnelAddress": ["192.0.2.1"],
    "tgtTunnelAddress": ["192.0.2.2"],
    "srcTunnelPort": ["2152"],
    "dstTunnelPort": ["2152"],
    "token": ["t"],
    "qCI": 9,
}


def test_tunnel_token_and_qci_members_are_unsupported() -> None:
    tunnel = rule("gtp", 1, trafficFilter=[{"dstAddress": ["192.0.2.1"]}, TUNNEL_FILTER])
    params = [p.param for p in unsupported(NFTABLES_CAPABILITIES, tunnel)]
    assert params == [
        "/trafficFilter/1/token",
        "/trafficFilter/1/srcTunnelAddress",
        "/trafficFilter/1/tgtTunnelAddress",
        "/trafficFilter/1/srcTunnelPort",
        "/trafficFilter/1/dstTunnelPort",
        "/trafficFilter/1/qCI",
    ]
    # Empty lists ask for nothing.
    empty = rule("e", 1, trafficFilter=[{"srcTunnelAddress": [], "dstAddress": ["192.0.2.1"]}])
    assert unsupported(NFTABLES_CAPABILITIES, empty) == []


@pytest.mark.parametrize(
    "interface",
    [
        {"interfaceType": "TUNNEL", "tunnelInfo": {"tunnelType": "GTP_U"}},
        {"interfaceType": "MAC", "dstMacAddress": "02:00:00:00:00:01"},
    ],
    ids=["tunnel", "mac"],
)
def test_forwarding_to_anything_but_an_ip_address_is_unsupported(
    interface: dict[str, Any],
) -> None:
    forward = rule("f", 1, action="FORWARD_ENCAPSULATED", dstInterface=interface)
    assert [p.param for p in unsupported(NFTABLES_CAPABILITIES, forward)] == [
        "/dstInterface/interfaceType"
    ]
    # A DROP rule never uses its dstInterface.
    drop = rule("d", 1, dstInterface=interface)
    assert unsupported(NFTABLES_CAPABILITIES, drop) == []


def test_unknown_protocol_names_are_unsupported() -> None:
    odd = rule("o", 1, trafficFilter=[{"protocol": ["tcp", "QUIC", "300", "132"]}])
    problems = unsupported(NFTABLES_CAPABILITIES, odd)
    assert [p.param for p in problems] == [
        "/trafficFilter/0/protocol/1",
        "/trafficFilter/0/protocol/2",
    ]


def test_refusal_names_every_part_under_its_pointer_in_the_body() -> None:
    tunnel = rule("gtp", 1, trafficFilter=[{"srcTunnelAddress": ["192.0.2.1"]}])
    fine = rule("ok", 2)
    with pytest.raises(BadRequest) as raised:
        refuse_unsupported(
            NFTABLES_CAPABILITIES, [("/trafficRules/0", fine), ("/trafficRules/1", tunnel)]
        )
    assert [p.param for p in raised.value.invalid_params] == [
        "/trafficRules/1/trafficFilter/0/srcTunnelAddress"
    ]
    assert "srcTunnelAddress" in raised.value.detail
    refuse_unsupported(NFTABLES_CAPABILITIES, [("", fine)])


def test_a_stored_rule_the_data_plane_cannot_enforce_is_reported_not_applied() -> None:
    tunnel = rule("gtp", 1, trafficFilter=[{"srcTunnelAddress": ["192.0.2.1"]}])
    result = compiled(tunnel, rule("ok", 2))
    assert result.enforced == 1
    assert comments(result, "ip", "steer") == ["app/ok"]
    (note,) = result.not_applied
    assert (note.kind, note.app_instance_id, note.id) == (NotAppliedKind.TRAFFIC_RULE, "app", "gtp")
    assert "srcTunnelAddress" in note.reason


# --- bandwidth classifiers


def allocation(direction: str, **fields: Any) -> BwInfo:
    body = {
        "appInsId": "app",
        "requestType": 0,
        "fixedAllocation": "1000000",
        "allocationDirection": direction,
        **fields,
    }
    return BwInfo.model_validate(body)


STEERING = rule("fwd", 1, action="FORWARD_DECAPSULATED", state="INACTIVE")
OIF = match({"meta": {"key": "oifname"}}, "eth-ue")
CLASSIFY = [{"mangle": {"key": {"meta": {"key": "priority"}}, "value": "1:2a"}}, {"accept": None}]


@pytest.mark.parametrize(
    ("direction", "matches"),
    [
        ("00", [[match(SADDR4, "10.10.0.5")]]),
        ("01", [[match(DADDR4, "10.10.0.5")]]),
        ("10", [[match(DADDR4, "10.10.0.5")], [match(SADDR4, "10.10.0.5")]]),
    ],
    ids=["downlink", "uplink", "symmetrical"],
)
def test_an_application_allocation_classifies_by_the_apps_address(
    direction: str, matches: list[list[Expr]]
) -> None:
    shaping = [Shaping("a1", allocation(direction), "1:2a")]
    # The app's address is where its traffic rules (even INACTIVE ones) steer to.
    result = compiled(STEERING, shaping=shaping, interfaces=["eth-ue"])
    assert chain(result, "ip", "shape") == [[OIF, *m, *CLASSIFY] for m in matches]
    assert result.shaped == 1
    assert result.not_applied == []
    assert chains(result, "ip") == ["steer", "shape"]


def test_a_session_allocation_classifies_by_its_session_uplink_as_written() -> None:
    session = {"sourceIp": "10.71.1.2", "dstAddress": "10.71.2.2", "dstPort": ["443"],
               "protocol": "TCP"}  # fmt: skip
    shaping = [
        Shaping("s", allocation("10", requestType=1, sessionFilter=[session]), "1:2a"),
        Shaping("a", allocation("00"), "1:3"),
    ]
    result = compiled(STEERING, shaping=shaping, interfaces=["eth-ue"])
    up = [match(SADDR4, "10.71.1.2"), match(DADDR4, "10.71.2.2"), match(L4, 6),
          match(payload("th", "dport"), 443)]  # fmt: skip
    down = [match(SADDR4, "10.71.2.2"), match(DADDR4, "10.71.1.2"), match(L4, 6),
            match(payload("th", "sport"), 443)]  # fmt: skip
    other = [{"mangle": {"key": {"meta": {"key": "priority"}}, "value": "1:3"}}, {"accept": None}]
    # The session's classifiers first: the narrower allocation wins.
    assert chain(result, "ip", "shape") == [
        [OIF, *up, *CLASSIFY],
        [OIF, *down, *CLASSIFY],
        [OIF, match(SADDR4, "10.10.0.5"), *other],
    ]


def test_allocations_that_cannot_be_classified_are_reported() -> None:
    shaping = [Shaping("a1", allocation("00"), "1:2a")]
    no_address = compiled(rule("drop", 1), shaping=shaping, interfaces=["eth-ue"])
    (note,) = no_address.not_applied
    assert (note.kind, note.id) == (NotAppliedKind.BW_ALLOCATION, "a1")
    assert "address" in note.reason
    assert no_address.shaped == 0
    assert chains(no_address, "ip") == ["steer"]
    no_interface = compiled(STEERING, shaping=shaping)
    assert "interface" in no_interface.not_applied[0].reason


def test_a_session_of_an_unknown_protocol_is_reported() -> None:
    session = {"sourceIp": "10.71.1.2", "protocol": "QUIC"}
    odd = allocation("01", requestType=1, sessionFilter=[session])
    result = compiled(shaping=[Shaping("s", odd, "1:2a")], interfaces=["eth-ue"])
    (note,) = result.not_applied
    assert note.reason == "unknown protocol 'QUIC' in sessionFilter"
    assert result.shaped == 0

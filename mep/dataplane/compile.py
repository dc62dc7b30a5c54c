"""Traffic rules and bandwidth classifiers, compiled into one nftables transaction (JSON).

Pure: rules in, the ``nftables`` command list out; ``nft -j -f -`` applies it atomically.

The platform owns the tables ``ip <table>`` and ``ip6 <table>`` (one per family rather than one
``inet`` table: the kernel's ``dup`` statement exists for the ip and ip6 families only). Every
apply deletes and re-creates both in the same transaction, so packets see the old rule set or the
new one, never a gap, and whatever else is in them (strays) goes.

Each family's table has up to three chains:

* ``steer`` (filter, prerouting, priority mangle): the ACTIVE traffic rules, highest priority
  first (MEC 011: 0 is the highest); a packet takes the action of the first rule that matches.
  DROP drops; PASSTHROUGH and FORWARD_* accept (nothing further of the platform's applies);
  DUPLICATE_* send a copy to ``dstInterface.dstIpAddress`` (``dup to``) and accept;
* ``steer_nat`` (nat, prerouting, priority dstnat): FORWARD_* rewrite the destination to
  ``dstInterface.dstIpAddress`` (DNAT: the app receives the flow; its replies are rewritten back
  by conntrack). It holds the same matches in the same order, DROP rules left out: a packet that
  reaches it was not dropped, so its first match here is its first match in ``steer``;
* ``shape`` (filter, postrouting): bandwidth classifiers (ETSI GS MEC 015), which put a packet
  leaving a shaped interface into its allocation's HTB class (``meta priority``; see ``tc.py``).

A TrafficFilter's members all have to match (srcAddress, dstAddress: any of the listed
addresses, prefixes or ranges; srcPort, dstPort: any of the ports or ranges, TCP, UDP, SCTP,
DCCP or UDP-Lite only; protocol; dSCP, for IPv4; tC, for IPv6); a rule matches when any of its
filters does. FLOW and PACKET rules are compiled alike: every packet is matched, and a FORWARD
rule's DNAT, like any NAT, binds whole connections (those already established keep their path).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mep.bwm.models import AllocationDirection, BwInfo, RequestType, SessionFilter
from mep.dataplane.port import AppTrafficRule, DataPlaneCapabilities
from mep.dataplane.status import NotApplied, NotAppliedKind
from mep.dataplane.support import TO_INTERFACE, is_protocol_number, unsupported
from mep.mp1.app_support.models import (
    FilterType,
    InterfaceType,
    RuleState,
    TrafficFilter,
    TrafficRuleAction,
)

Expr = dict[str, Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FAMILIES = {4: "ip", 6: "ip6"}
_ADDRESS_TYPES = {4: "ipv4_addr", 6: "ipv6_addr"}
STEER, STEER_NAT, SHAPE = "steer", "steer_nat", "shape"
_CHAINS = {
    STEER: ("filter", "prerouting", -150),
    STEER_NAT: ("nat", "prerouting", -100),
    # Before srcnat (100): replies of a steered flow still carry the app's address here.
    SHAPE: ("filter", "postrouting", 0),
}
#: IANA protocol numbers of the names a traffic filter may use (case-insensitive).
PROTOCOLS: Mapping[str, int] = {
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "dccp": 33,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmpv6": 58,
    "ipv6-icmp": 58,
    "sctp": 132,
    "udplite": 136,
}
#: The protocols whose headers start with source and destination ports.
PORT_PROTOCOLS = (6, 17, 33, 132, 136)
#: nftables limits a rule's comment to 128 bytes.
_COMMENT_MAX = 128

NFTABLES_CAPABILITIES = DataPlaneCapabilities(
    actions=frozenset(TrafficRuleAction),
    filter_types=frozenset(FilterType),
    # No token, tunnel (GTP-U) or QCI matching: the packets here are plain IP.
    filter_fields=frozenset(
        {"srcAddress", "dstAddress", "srcPort", "dstPort", "protocol", "dSCP", "tC"}
    ),
    # Forwarding into a tunnel or to a MAC address would need encapsulation it does not do.
    interface_types=frozenset({InterfaceType.IP}),
    protocols=frozenset(PROTOCOLS),
    bandwidth=True,
)


@dataclass(frozen=True)
class Shaping:
    """A bandwidth allocation and the HTB class (``major:minor``, hex) its packets go to."""

    allocation_id: str
    allocation: BwInfo
    classid: str


@dataclass(frozen=True)
class Compiled:
    commands: list[Expr]
    #: ACTIVE traffic rules in the tables.
    enforced: int
    #: Allocations with a classifier.
    shaped: int
    not_applied: list[NotApplied] = field(default_factory=list)

    def document(self) -> dict[str, list[Expr]]:
        """What ``nft -j -f -`` reads."""
        return {"nftables": self.commands}


# --- matches


def _range(text: str) -> list[Network]:
    low, high = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
    if isinstance(low, ipaddress.IPv4Address) and isinstance(high, ipaddress.IPv4Address):
        return list(ipaddress.summarize_address_range(low, high))
    if isinstance(low, ipaddress.IPv6Address) and isinstance(high, ipaddress.IPv6Address):
        return list(ipaddress.summarize_address_range(low, high))
    raise ValueError(f"{text!r} mixes IP versions")


def _networks(values: Iterable[str]) -> dict[int, list[Network]]:
    """Addresses, prefixes and ``a-b`` ranges as the fewest prefixes, by IP version.

    Merged because nftables refuses overlapping intervals in one set.
    """
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for value in values:
        text = value.strip()
        networks = _range(text) if "-" in text else [ipaddress.ip_network(text, strict=False)]
        for network in networks:
            if isinstance(network, ipaddress.IPv4Network):
                v4.append(network)
            else:
                v6.append(network)
    found: dict[int, list[Network]] = {}
    if v4:
        found[4] = list(ipaddress.collapse_addresses(v4))
    if v6:
        found[6] = list(ipaddress.collapse_addresses(v6))
    return found


def _address(network: Network) -> str | Expr:
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}


def _ports(values: Iterable[str]) -> list[int | Expr]:
    spans = []
    for value in values:
        first, _, last = value.strip().partition("-")
        spans.append((int(first), int(last or first)))
    merged: list[list[int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [low if low == high else {"range": [low, high]} for low, high in merged]


def known_protocol(value: str) -> bool:
    return is_protocol_number(value) or value.strip().lower() in PROTOCOLS


def protocol_number(value: str) -> int:
    text = value.strip()
    return int(text) if is_protocol_number(text) else PROTOCOLS[text.lower()]


@dataclass
class Sets:
    """The named sets of each family's table: one per distinct list of elements, which every
    rule matching that list refers to (``@s0``).

    Rather than an anonymous set per rule: each is a set object in the kernel, and creating
    them took two thirds of the time of applying 1,000 rules.
    """

    #: Per IP version: (type, elements) -> the set's name.
    names: dict[int, dict[str, str]] = field(default_factory=dict)
    definitions: dict[int, list[tuple[str, str, list[Any]]]] = field(default_factory=dict)

    def match(self, version: int, left: Expr, kind: str, elements: Sequence[Any]) -> Expr:
        """``left`` equal to the one element, or in the set of them (``kind``: its nft type)."""
        if len(elements) == 1:
            return _match(left, elements[0])
        key = json.dumps([kind, elements], sort_keys=True)
        known = self.names.setdefault(version, {})
        name = known.get(key)
        if name is None:
            name = known[key] = f"s{len(known)}"
            self.definitions.setdefault(version, []).append((name, kind, list(elements)))
        return _match(left, f"@{name}")

    def commands(self, version: int, table: str) -> list[Expr]:
        commands = []
        for name, kind, elements in self.definitions.get(version, []):
            definition: Expr = {
                "family": FAMILIES[version],
                "table": table,
                "name": name,
                "type": kind,
                "elem": elements,
            }
            if any(isinstance(e, dict) for e in elements):
                definition["flags"] = ["interval"]
            commands.append({"add": {"set": definition}})
        return commands


def _match(left: Expr, right: Any) -> Expr:
    return {"match": {"op": "==", "left": left, "right": right}}


def _payload(protocol: str, name: str) -> Expr:
    return {"payload": {"protocol": protocol, "field": name}}


def _meta(key: str) -> Expr:
    return {"meta": {"key": key}}


def filter_matches(
    traffic_filter: TrafficFilter, sets: Sets, families: Iterable[int] = (4, 6)
) -> list[tuple[int, list[Expr]]]:
    """The matches of one TrafficFilter, per IP version it can match (none: it matches no
    packet, e.g. a source of one version and a destination of the other)."""
    f = traffic_filter
    src = _networks(f.src_address or ())
    dst = _networks(f.dst_address or ())
    versions = set(families)
    if f.src_address:
        versions &= src.keys()
    if f.dst_address:
        versions &= dst.keys()
    # MEC 011: dSCP matches IPv4 packets, tC IPv6 packets.
    if f.d_scp is not None and f.t_c is None:
        versions &= {4}
    if f.t_c is not None and f.d_scp is None:
        versions &= {6}
    protocols = sorted({protocol_number(p) for p in f.protocol or ()})
    if f.src_port or f.dst_port:
        protocols = [p for p in protocols or PORT_PROTOCOLS if p in PORT_PROTOCOLS]
        if not protocols:
            return []
    found = []
    for version in sorted(versions):
        family = FAMILIES[version]
        exprs: list[Expr] = []
        for name, networks in (("saddr", src), ("daddr", dst)):
            if version in networks:
                elements = [_address(n) for n in networks[version]]
                left = _payload(family, name)
                exprs.append(sets.match(version, left, _ADDRESS_TYPES[version], elements))
        if protocols:
            exprs.append(sets.match(version, _meta("l4proto"), "inet_proto", protocols))
        for name, ports in (("sport", f.src_port), ("dport", f.dst_port)):
            if ports:
                left = _payload("th", name)
                exprs.append(sets.match(version, left, "inet_service", _ports(ports)))
        if version == 4 and f.d_scp is not None:
            exprs.append(_match(_payload("ip", "dscp"), f.d_scp))
        if version == 6 and f.t_c is not None:
            # The Traffic Class octet is DSCP (6 bits) then ECN (2 bits).
            exprs.append(_match(_payload("ip6", "dscp"), f.t_c >> 2))
            exprs.append(_match(_payload("ip6", "ecn"), f.t_c & 3))
        found.append((version, exprs))
    return found


# --- traffic rules


_ACCEPT: Expr = {"accept": None}


def _verdicts(
    action: TrafficRuleAction, target: str | None
) -> tuple[list[Expr], list[Expr] | None]:
    """The statements ending a matching rule in ``steer`` and in ``steer_nat`` (None: not
    there)."""
    if action is TrafficRuleAction.DROP:
        return [{"drop": None}], None
    if action in (TrafficRuleAction.FORWARD_DECAPSULATED, TrafficRuleAction.FORWARD_ENCAPSULATED):
        return [_ACCEPT], [{"dnat": {"addr": target}}]
    if action in (
        TrafficRuleAction.DUPLICATE_DECAPSULATED,
        TrafficRuleAction.DUPLICATE_ENCAPSULATED,
    ):
        return [{"dup": {"addr": target}}, _ACCEPT], [_ACCEPT]
    return [_ACCEPT], [_ACCEPT]


def _comment(*parts: str) -> str:
    return "/".join(parts).encode()[:_COMMENT_MAX].decode(errors="ignore")


def _reason(rule: AppTrafficRule, caps: DataPlaneCapabilities) -> str | None:
    problems = unsupported(caps, rule.rule)
    return "; ".join(f"{p.param}: {p.reason}" for p in problems) or None


@dataclass
class _Chains:
    """The rules of each chain, per IP version: (comment, statements)."""

    rules: dict[tuple[int, str], list[tuple[str, list[Expr]]]] = field(default_factory=dict)
    sets: Sets = field(default_factory=Sets)

    def add(self, version: int, chain: str, comment: str, exprs: list[Expr]) -> None:
        self.rules.setdefault((version, chain), []).append((comment, exprs))

    def of(self, version: int, chain: str) -> list[tuple[str, list[Expr]]]:
        return self.rules.get((version, chain), [])


def _compile_rules(
    rules: Sequence[AppTrafficRule], caps: DataPlaneCapabilities, chains: _Chains
) -> tuple[int, list[NotApplied]]:
    active = sorted(
        (r for r in rules if r.rule.state is RuleState.ACTIVE),
        key=lambda r: (r.rule.priority, r.app_instance_id, r.rule.traffic_rule_id),
    )
    enforced, notes = 0, []
    # Per version: the nat rules so far, and how many of them up to the last DNAT.
    nat: dict[int, list[tuple[str, list[Expr]]]] = {4: [], 6: []}
    needed = {4: 0, 6: 0}
    for entry in active:
        rule = entry.rule
        reason = _reason(entry, caps)
        if reason is not None:
            notes.append(
                NotApplied(
                    kind=NotAppliedKind.TRAFFIC_RULE,
                    app_instance_id=entry.app_instance_id,
                    id=rule.traffic_rule_id,
                    reason=reason,
                )
            )
            continue
        enforced += 1
        target = None
        versions: tuple[int, ...] = (4, 6)
        if rule.action in TO_INTERFACE and rule.dst_interface is not None:
            target = rule.dst_interface.dst_ip_address
            assert target is not None  # interfaceType IP, checked above
            versions = (ipaddress.ip_address(target).version,)
        steer_end, nat_end = _verdicts(rule.action, target)
        comment = _comment(entry.app_instance_id, rule.traffic_rule_id)
        for traffic_filter in rule.traffic_filter:
            for version, exprs in filter_matches(traffic_filter, chains.sets, versions):
                chains.add(version, STEER, comment, exprs + steer_end)
                if nat_end is not None:
                    nat[version].append((comment, exprs + nat_end))
                    if "dnat" in nat_end[0]:
                        needed[version] = len(nat[version])
    for version, found in nat.items():
        # After the last DNAT, nothing in the nat chain would change a packet.
        for comment, exprs in found[: needed[version]]:
            chains.add(version, STEER_NAT, comment, exprs)
    return enforced, notes


# --- bandwidth classifiers


def app_addresses(rules: Iterable[AppTrafficRule]) -> dict[str, list[str]]:
    """Each instance's addresses in the data plane: the IP addresses its traffic rules (in any
    state) forward or duplicate to."""
    found: dict[str, set[str]] = {}
    for entry in rules:
        interface = entry.rule.dst_interface
        if (
            interface is not None
            and interface.interface_type is InterfaceType.IP
            and interface.dst_ip_address is not None
        ):
            found.setdefault(entry.app_instance_id, set()).add(interface.dst_ip_address)
    return {app: sorted(addresses) for app, addresses in found.items()}


def _session_filters(session: SessionFilter) -> tuple[TrafficFilter, TrafficFilter]:
    """The session's uplink packets (``sourceIp`` is the UE's side) and its downlink ones."""
    protocol = [session.protocol] if session.protocol else None
    up = TrafficFilter(
        src_address=[session.source_ip] if session.source_ip else None,
        src_port=session.source_port,
        dst_address=[session.dst_address] if session.dst_address else None,
        dst_port=session.dst_port,
        protocol=protocol,
    )
    down = TrafficFilter(
        src_address=up.dst_address,
        src_port=up.dst_port,
        dst_address=up.src_address,
        dst_port=up.src_port,
        protocol=protocol,
    )
    return up, down


def _directed(
    direction: AllocationDirection, up: TrafficFilter, down: TrafficFilter
) -> list[TrafficFilter]:
    if direction is AllocationDirection.UPLINK:
        return [up]
    if direction is AllocationDirection.DOWNLINK:
        return [down]
    return [up, down]


def _allocation_filters(
    allocation: BwInfo, addresses: Mapping[str, list[str]]
) -> list[TrafficFilter] | None:
    """What an allocation's packets look like; None when nothing identifies them."""
    direction = allocation.allocation_direction
    if allocation.request_type is RequestType.SESSION_SPECIFIC_BW_ALLOCATION:
        return [
            f
            for s in allocation.session_filter or ()
            for f in _directed(direction, *_session_filters(s))
        ]
    app = addresses.get(allocation.app_ins_id)
    if not app:
        return None
    return _directed(direction, TrafficFilter(dst_address=app), TrafficFilter(src_address=app))


def _compile_shaping(
    shaping: Sequence[Shaping],
    interfaces: Sequence[str],
    addresses: Mapping[str, list[str]],
    chains: _Chains,
) -> tuple[int, list[NotApplied]]:
    shaped, notes = 0, []
    # Session-specific allocations before application-specific ones: the narrower wins.
    ordered = sorted(shaping, key=lambda s: (-int(s.allocation.request_type), s.allocation_id))
    for entry in ordered:
        allocation = entry.allocation
        reason = None
        unknown = [
            s.protocol
            for s in allocation.session_filter or ()
            if s.protocol and not known_protocol(s.protocol)
        ]
        filters = None if unknown else _allocation_filters(allocation, addresses)
        if not interfaces:
            reason = "no interface to shape on is configured"
        elif unknown:
            reason = f"unknown protocol {unknown[0]!r} in sessionFilter"
        elif filters is None:
            reason = (
                "no address of the instance is known: none of its traffic rules names a"
                " dstInterface IP address"
            )
        if reason is not None:
            notes.append(
                NotApplied(
                    kind=NotAppliedKind.BW_ALLOCATION,
                    app_instance_id=allocation.app_ins_id,
                    id=entry.allocation_id,
                    reason=reason,
                )
            )
            continue
        assert filters is not None
        shaped += 1
        oifname = _meta("oifname")
        classify = [{"mangle": {"key": _meta("priority"), "value": entry.classid}}, _ACCEPT]
        comment = _comment(allocation.app_ins_id, entry.allocation_id)
        for traffic_filter in filters:
            for version, exprs in filter_matches(traffic_filter, chains.sets):
                on_interfaces = chains.sets.match(version, oifname, "ifname", list(interfaces))
                chains.add(version, SHAPE, comment, [on_interfaces, *exprs, *classify])
    return shaped, notes


# --- the transaction


def _table_commands(version: int, table: str, chains: _Chains) -> list[Expr]:
    family = FAMILIES[version]
    ident = {"family": family, "name": table}
    # add-then-delete: "delete" alone fails on a table that is not there yet.
    commands: list[Expr] = [
        {"add": {"table": ident}},
        {"delete": {"table": ident}},
        {"add": {"table": ident}},
        *chains.sets.commands(version, table),
    ]
    for chain, (kind, hook, priority) in _CHAINS.items():
        rules = chains.of(version, chain)
        if not rules and chain != STEER:
            continue
        commands.append(
            {
                "add": {
                    "chain": {
                        "family": family,
                        "table": table,
                        "name": chain,
                        "type": kind,
                        "hook": hook,
                        "prio": priority,
                        "policy": "accept",
                    }
                }
            }
        )
        for comment, exprs in rules:
            rule = {
                "family": family,
                "table": table,
                "chain": chain,
                "expr": exprs,
                "comment": comment,
            }
            commands.append({"add": {"rule": rule}})
    return commands


def compile_ruleset(
    rules: Sequence[AppTrafficRule],
    *,
    table: str,
    shaping: Sequence[Shaping] = (),
    interfaces: Sequence[str] = (),
    caps: DataPlaneCapabilities = NFTABLES_CAPABILITIES,
) -> Compiled:
    """The transaction that makes the platform's tables enforce ``rules`` (their ACTIVE ones)
    and classify the packets of ``shaping`` on ``interfaces``."""
    chains = _Chains()
    enforced, rule_notes = _compile_rules(rules, caps, chains)
    shaped, shaping_notes = _compile_shaping(shaping, interfaces, app_addresses(rules), chains)
    commands = [c for version in FAMILIES for c in _table_commands(version, table, chains)]
    return Compiled(commands, enforced, shaped, rule_notes + shaping_notes)


def removal(table: str) -> dict[str, list[Expr]]:
    """The transaction deleting the platform's tables, whether they exist or not."""
    commands: list[Expr] = []
    for family in FAMILIES.values():
        ident = {"family": family, "name": table}
        commands += [{"add": {"table": ident}}, {"delete": {"table": ident}}]
    return {"nftables": commands}

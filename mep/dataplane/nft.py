"""nftables JSON for the platform's tables: the matches of a MEC 011 TrafficFilter, the named
sets they share, and the rules of each chain as they are gathered.

A TrafficFilter's members all have to match (srcAddress, dstAddress: any of the listed
addresses, prefixes or ranges; srcPort, dstPort: any of the ports or ranges, TCP, UDP, SCTP,
DCCP or UDP-Lite only; protocol; dSCP, for IPv4; tC, for IPv6); a rule matches when any of its
filters does.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mep.dataplane.support import is_protocol_number
from mep.mp1.app_support.models import TrafficFilter

Expr = dict[str, Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FAMILIES = {4: "ip", 6: "ip6"}
_ADDRESS_TYPES = {4: "ipv4_addr", 6: "ipv6_addr"}
#: The chains of each family's table (see ``compile.py``).
STEER, STEER_NAT, SHAPE = "steer", "steer_nat", "shape"
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

ACCEPT: Expr = {"accept": None}


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
            return match(left, elements[0])
        key = json.dumps([kind, elements], sort_keys=True)
        known = self.names.setdefault(version, {})
        name = known.get(key)
        if name is None:
            name = known[key] = f"s{len(known)}"
            self.definitions.setdefault(version, []).append((name, kind, list(elements)))
        return match(left, f"@{name}")

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


def match(left: Expr, right: Any) -> Expr:
    return {"match": {"op": "==", "left": left, "right": right}}


def payload(protocol: str, name: str) -> Expr:
    return {"payload": {"protocol": protocol, "field": name}}


def meta(key: str) -> Expr:
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
                left = payload(family, name)
                exprs.append(sets.match(version, left, _ADDRESS_TYPES[version], elements))
        if protocols:
            exprs.append(sets.match(version, meta("l4proto"), "inet_proto", protocols))
        for name, ports in (("sport", f.src_port), ("dport", f.dst_port)):
            if ports:
                left = payload("th", name)
                exprs.append(sets.match(version, left, "inet_service", _ports(ports)))
        if version == 4 and f.d_scp is not None:
            exprs.append(match(payload("ip", "dscp"), f.d_scp))
        if version == 6 and f.t_c is not None:
            # The Traffic Class octet is DSCP (6 bits) then ECN (2 bits).
            exprs.append(match(payload("ip6", "dscp"), f.t_c >> 2))
            exprs.append(match(payload("ip6", "ecn"), f.t_c & 3))
        found.append((version, exprs))
    return found


def rule_comment(*parts: str) -> str:
    return "/".join(parts).encode()[:_COMMENT_MAX].decode(errors="ignore")


@dataclass
class Chains:
    """The rules of each chain, per IP version: (comment, statements)."""

    rules: dict[tuple[int, str], list[tuple[str, list[Expr]]]] = field(default_factory=dict)
    sets: Sets = field(default_factory=Sets)

    def add(self, version: int, chain: str, comment: str, exprs: list[Expr]) -> None:
        self.rules.setdefault((version, chain), []).append((comment, exprs))

    def of(self, version: int, chain: str) -> list[tuple[str, list[Expr]]]:
        return self.rules.get((version, chain), [])

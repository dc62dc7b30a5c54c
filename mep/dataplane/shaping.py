"""Bandwidth classifiers (ETSI GS MEC 015): each allocation's packets, leaving a shaped
interface, are put into its HTB class (``meta priority``; the classes are ``tc.py``'s) by the
``shape`` chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mep.bwm.models import AllocationDirection, BwInfo, RequestType, SessionFilter
from mep.dataplane.nft import (
    ACCEPT,
    SHAPE,
    Chains,
    filter_matches,
    known_protocol,
    meta,
    rule_comment,
)
from mep.dataplane.port import AppTrafficRule
from mep.dataplane.status import NotApplied, NotAppliedKind
from mep.mp1.app_support.models import InterfaceType, TrafficFilter


@dataclass(frozen=True)
class Shaping:
    """A bandwidth allocation and the HTB class (``major:minor``, hex) its packets go to."""

    allocation_id: str
    allocation: BwInfo
    classid: str


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


def compile_shaping(
    shaping: Sequence[Shaping],
    interfaces: Sequence[str],
    addresses: Mapping[str, list[str]],
    chains: Chains,
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
        oifname = meta("oifname")
        classify = [{"mangle": {"key": meta("priority"), "value": entry.classid}}, ACCEPT]
        comment = rule_comment(allocation.app_ins_id, entry.allocation_id)
        for traffic_filter in filters:
            for version, exprs in filter_matches(traffic_filter, chains.sets):
                on_interfaces = chains.sets.match(version, oifname, "ifname", list(interfaces))
                chains.add(version, SHAPE, comment, [on_interfaces, *exprs, *classify])
    return shaped, notes

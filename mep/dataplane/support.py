"""Whether a data plane can enforce a traffic rule, part by part.

A rule the data plane cannot enforce is refused when it is written (400, each unsupported part
named by a JSON Pointer), never stored and silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

from mep.core.problem import BadRequest, InvalidParam
from mep.dataplane.port import DataPlaneCapabilities
from mep.dataplane.status import CapabilitiesReport
from mep.mp1.app_support.models import TrafficFilter, TrafficRule, TrafficRuleAction

#: The actions that send the packet (or a copy) to ``dstInterface``.
TO_INTERFACE = frozenset(
    {
        TrafficRuleAction.FORWARD_DECAPSULATED,
        TrafficRuleAction.FORWARD_ENCAPSULATED,
        TrafficRuleAction.DUPLICATE_DECAPSULATED,
        TrafficRuleAction.DUPLICATE_ENCAPSULATED,
    }
)
_UNSUPPORTED = "not supported by this data plane"


def is_protocol_number(value: str) -> bool:
    text = value.strip()
    return text.isdigit() and int(text) <= 255


def _filter_problems(
    caps: DataPlaneCapabilities, index: int, traffic_filter: TrafficFilter
) -> list[InvalidParam]:
    problems: list[InvalidParam] = []
    for name, info in TrafficFilter.model_fields.items():
        value = getattr(traffic_filter, name)
        wire = info.alias or name
        if value is None or value == []:
            continue
        if wire not in caps.filter_fields:
            problems.append(InvalidParam(f"/trafficFilter/{index}/{wire}", _UNSUPPORTED))
    if caps.protocols is not None and "protocol" in caps.filter_fields:
        for n, protocol in enumerate(traffic_filter.protocol or ()):
            if not is_protocol_number(protocol) and protocol.strip().lower() not in caps.protocols:
                reason = f"unknown protocol {protocol!r}: a name this data plane knows or 0-255"
                problems.append(InvalidParam(f"/trafficFilter/{index}/protocol/{n}", reason))
    return problems


def unsupported(caps: DataPlaneCapabilities, rule: TrafficRule) -> list[InvalidParam]:
    """The parts of ``rule`` the data plane cannot enforce; pointers relative to the rule."""
    problems: list[InvalidParam] = []
    if rule.action not in caps.actions:
        problems.append(InvalidParam("/action", _UNSUPPORTED))
    if rule.filter_type not in caps.filter_types:
        problems.append(InvalidParam("/filterType", _UNSUPPORTED))
    for index, traffic_filter in enumerate(rule.traffic_filter):
        problems += _filter_problems(caps, index, traffic_filter)
    interface = rule.dst_interface
    if (
        rule.action in TO_INTERFACE
        and interface is not None
        and interface.interface_type not in caps.interface_types
    ):
        problems.append(InvalidParam("/dstInterface/interfaceType", _UNSUPPORTED))
    return problems


def refuse_unsupported(
    caps: DataPlaneCapabilities, rules: Iterable[tuple[str, TrafficRule]]
) -> None:
    """Raise 400 naming every part the data plane cannot enforce; ``rules`` pairs each rule
    with the pointer of the rule in the request body (``""`` for the body itself)."""
    problems = [
        InvalidParam(prefix + p.param, p.reason)
        for prefix, rule in rules
        for p in unsupported(caps, rule)
    ]
    if problems:
        names = ", ".join(p.param for p in problems)
        raise BadRequest(f"the data plane cannot enforce {names}", invalid_params=problems)


def describe(caps: DataPlaneCapabilities) -> CapabilitiesReport:
    return CapabilitiesReport(
        actions=sorted(caps.actions),
        filter_types=sorted(caps.filter_types),
        filter_fields=sorted(caps.filter_fields),
        interface_types=sorted(caps.interface_types),
        protocols=None if caps.protocols is None else sorted(caps.protocols),
        bandwidth=caps.bandwidth,
    )

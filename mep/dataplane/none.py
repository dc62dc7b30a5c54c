"""The default DataPlane: enforces nothing and records every call, in order.

A platform without a packet-filtering data plane still keeps and serves its apps' traffic rules;
this adapter lets tests (and operators, through the logs) see what a real data plane would have
been told.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from mep.bwm.models import BwInfo
from mep.dataplane.port import DataPlaneCapabilities
from mep.mp1.app_support.models import FilterType, TrafficRule, TrafficRuleAction

log = structlog.get_logger("mep.dataplane")


@dataclass(frozen=True)
class BandwidthCall:
    """One call: ``op`` is ``apply`` or ``remove``; ``allocation`` is absent on remove."""

    op: str
    allocation_id: str
    allocation: BwInfo | None = None


@dataclass(frozen=True)
class DataPlaneCall:
    """One call: ``op`` is ``add``, ``update`` or ``remove``; ``rule`` is absent on remove."""

    op: str
    app_instance_id: str
    traffic_rule_id: str
    rule: TrafficRule | None = None


@dataclass
class RecordingDataPlane:
    calls: list[DataPlaneCall] = field(default_factory=list)
    bandwidth: list[BandwidthCall] = field(default_factory=list)

    async def apply_bandwidth(self, allocation_id: str, allocation: BwInfo) -> None:
        self.bandwidth.append(BandwidthCall("apply", allocation_id, allocation))
        log.debug(
            "bandwidth", op="apply", allocation=allocation_id, bps=allocation.fixed_allocation
        )

    async def remove_bandwidth(self, allocation_id: str) -> None:
        self.bandwidth.append(BandwidthCall("remove", allocation_id))
        log.debug("bandwidth", op="remove", allocation=allocation_id)

    async def add_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        self._record(DataPlaneCall("add", app_instance_id, rule.traffic_rule_id, rule))

    async def update_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        self._record(DataPlaneCall("update", app_instance_id, rule.traffic_rule_id, rule))

    async def remove_traffic_rule(self, app_instance_id: str, traffic_rule_id: str) -> None:
        self._record(DataPlaneCall("remove", app_instance_id, traffic_rule_id))

    def capabilities(self) -> DataPlaneCapabilities:
        return DataPlaneCapabilities(frozenset(TrafficRuleAction), frozenset(FilterType))

    def _record(self, call: DataPlaneCall) -> None:
        self.calls.append(call)
        log.debug("traffic rule", op=call.op, app=call.app_instance_id, rule=call.traffic_rule_id)

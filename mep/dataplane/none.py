"""The default DataPlane: enforces nothing and records every call, in order.

A platform without a packet-filtering data plane still keeps and serves its apps' traffic rules;
this adapter lets tests (and operators, through the logs) see what a real data plane would have
been told.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from mep.bwm.models import BwInfo
from mep.dataplane.port import DataPlaneCapabilities, Snapshot, SnapshotLoader
from mep.dataplane.status import AllocationCounts, ApplyLog, DataPlaneReport, RuleCounts
from mep.dataplane.support import describe
from mep.mp1.app_support.models import FilterType, RuleState, TrafficRule, TrafficRuleAction

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
    #: What each reconcile (at start) was given.
    reconciled: list[Snapshot] = field(default_factory=list)
    _rules: dict[tuple[str, str], TrafficRule] = field(default_factory=dict)
    _allocations: dict[str, BwInfo] = field(default_factory=dict)
    _log: ApplyLog = field(default_factory=ApplyLog)

    async def apply_bandwidth(self, allocation_id: str, allocation: BwInfo) -> None:
        since = self._log.started()
        self.bandwidth.append(BandwidthCall("apply", allocation_id, allocation))
        self._allocations[allocation_id] = allocation
        self._log.record("bandwidth", since, rule_count=self._active())
        log.debug(
            "bandwidth", op="apply", allocation=allocation_id, bps=allocation.fixed_allocation
        )

    async def remove_bandwidth(self, allocation_id: str) -> None:
        since = self._log.started()
        self.bandwidth.append(BandwidthCall("remove", allocation_id))
        self._allocations.pop(allocation_id, None)
        self._log.record("bandwidth", since, rule_count=self._active())
        log.debug("bandwidth", op="remove", allocation=allocation_id)

    async def add_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        self._record(DataPlaneCall("add", app_instance_id, rule.traffic_rule_id, rule))

    async def update_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        self._record(DataPlaneCall("update", app_instance_id, rule.traffic_rule_id, rule))

    async def remove_traffic_rule(self, app_instance_id: str, traffic_rule_id: str) -> None:
        self._record(DataPlaneCall("remove", app_instance_id, traffic_rule_id))

    async def reconcile(self, load: SnapshotLoader) -> None:
        since = self._log.started()
        snapshot = await load()
        self.reconciled.append(snapshot)
        self._rules = {(r.app_instance_id, r.rule.traffic_rule_id): r.rule for r in snapshot.rules}
        self._allocations = dict(snapshot.allocations)
        self._log.record("reconcile", since, rule_count=self._active())

    def capabilities(self) -> DataPlaneCapabilities:
        return DataPlaneCapabilities(frozenset(TrafficRuleAction), frozenset(FilterType))

    def report(self) -> DataPlaneReport:
        """Recorded, never enforced: ``enforced`` is 0; ``ruleCount`` counts the ACTIVE rules
        recorded."""
        return DataPlaneReport(
            driver="none",
            capabilities=describe(self.capabilities()),
            rules=RuleCounts(known=len(self._rules), active=self._active(), enforced=0),
            allocations=AllocationCounts(known=len(self._allocations), shaped=0),
            last_apply=self._log.last,
            not_applied=[],
        )

    def _active(self) -> int:
        return sum(r.state is RuleState.ACTIVE for r in self._rules.values())

    def _record(self, call: DataPlaneCall) -> None:
        since = self._log.started()
        self.calls.append(call)
        key = (call.app_instance_id, call.traffic_rule_id)
        if call.rule is None:
            self._rules.pop(key, None)
        else:
            self._rules[key] = call.rule
        self._log.record(call.op, since, rule_count=self._active())
        log.debug("traffic rule", op=call.op, app=call.app_instance_id, rule=call.traffic_rule_id)

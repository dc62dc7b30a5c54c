"""What the operator sees of the data plane (``GET /mep_mgmt/v1/dataplane``).

The store is the truth and a data plane follows it; when the data plane cannot (a command fails,
times out, or is missing), the platform keeps running and says so here: the driver, what it can
enforce, the outcome of its last apply, and what it left out and why.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from enum import StrEnum

from mep.core.models import ApiModel


class CapabilitiesReport(ApiModel):
    actions: list[str]
    filter_types: list[str]
    filter_fields: list[str]
    interface_types: list[str]
    #: Protocol names a filter may use besides numbers; absent: any name.
    protocols: list[str] | None = None
    bandwidth: bool


class ApplyOutcome(ApiModel):
    """One apply: what triggered it, when, whether the data plane took it, and how many traffic
    rules it enforces afterwards."""

    time: dt.datetime
    operation: str
    ok: bool
    rule_count: int
    duration_ms: float
    error: str | None = None


class NotAppliedKind(StrEnum):
    TRAFFIC_RULE = "trafficRule"
    BW_ALLOCATION = "bwAllocation"


class NotApplied(ApiModel):
    kind: NotAppliedKind
    app_instance_id: str
    id: str
    reason: str


class Target(ApiModel):
    """Where the driver acts: a network namespace (absent: the platform's own), its nftables
    tables, and the interfaces bandwidth is shaped on."""

    netns: str | None = None
    tables: list[str]
    interfaces: list[str]


class RuleCounts(ApiModel):
    known: int
    active: int
    enforced: int


class AllocationCounts(ApiModel):
    known: int
    shaped: int


class DataPlaneReport(ApiModel):
    driver: str
    capabilities: CapabilitiesReport
    target: Target | None = None
    rules: RuleCounts
    allocations: AllocationCounts
    last_apply: ApplyOutcome | None = None
    not_applied: list[NotApplied]


@dataclass
class ApplyLog:
    """The last apply's outcome, kept by a driver for its report."""

    last: ApplyOutcome | None = None

    def started(self) -> float:
        return time.perf_counter()

    def record(
        self, operation: str, since: float, *, rule_count: int, error: str | None = None
    ) -> ApplyOutcome:
        self.last = ApplyOutcome(
            time=dt.datetime.now(dt.UTC),
            operation=operation,
            ok=error is None,
            rule_count=rule_count,
            duration_ms=round((time.perf_counter() - since) * 1e3, 3),
            error=error,
        )
        return self.last

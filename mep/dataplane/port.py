"""The DataPlane port: where the traffic rules of application instances take effect.

ETSI GS MEC 011 lets the MEC platform steer an application's traffic by its traffic rules
(clause 7.1.2.2 TrafficRule): the platform manager declares them with the instance, and the
application activates, deactivates or updates them over Mp1 (``PUT .../traffic_rules/{id}``).
The platform hands every such change to this port once it is committed; an adapter makes the
data plane follow (``none.py`` only records the calls, ``nftables.py`` enforces them).
Bandwidth allocations (ETSI GS MEC 015) reach the data plane the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mep.bwm.models import BwInfo
from mep.dataplane.status import DataPlaneReport
from mep.mp1.app_support.models import (
    FilterType,
    InterfaceType,
    TrafficFilter,
    TrafficRule,
    TrafficRuleAction,
)

#: Every member of MEC 011 TrafficFilter, by its name on the wire.
ALL_FILTER_FIELDS = frozenset(f.alias or name for name, f in TrafficFilter.model_fields.items())


@dataclass(frozen=True)
class DataPlaneCapabilities:
    """What an adapter can enforce; the platform refuses (400) a rule it cannot."""

    actions: frozenset[TrafficRuleAction]
    filter_types: frozenset[FilterType]
    #: The TrafficFilter members it can match on (wire names: ``srcAddress``, ``dSCP``...).
    filter_fields: frozenset[str] = ALL_FILTER_FIELDS
    #: The DestinationInterface types it can forward or duplicate to.
    interface_types: frozenset[InterfaceType] = frozenset(InterfaceType)
    #: The protocol names it knows (lower case), besides numbers 0-255; None: any name.
    protocols: frozenset[str] | None = None
    #: Whether it enforces bandwidth allocations (ETSI GS MEC 015), not only records them.
    bandwidth: bool = False


@dataclass(frozen=True)
class AppTrafficRule:
    """A traffic rule with the application instance it belongs to."""

    app_instance_id: str
    rule: TrafficRule


@dataclass(frozen=True)
class Snapshot:
    """Everything the data plane should enforce, as stored."""

    rules: Sequence[AppTrafficRule] = ()
    allocations: Mapping[str, BwInfo] = field(default_factory=dict)


#: Reads the stored rules and allocations. The adapter calls it under its own lock, so that no
#: change committed meanwhile is applied before the (older) snapshot and then overwritten.
SnapshotLoader = Callable[[], Awaitable[Snapshot]]


class DataPlane(Protocol):
    """Traffic rule enforcement for application instances (ETSI GS MEC 011, TrafficRule).

    An adapter never raises for a data plane that fails: the store stays the truth, and the
    failure is logged and shown by :meth:`report`.
    """

    async def add_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        """A rule the instance did not have: declared at instantiation or by the operator."""
        ...

    async def update_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        """A changed rule, ``state`` included: MEC 011 traffic rule activation/deactivation."""
        ...

    async def remove_traffic_rule(self, app_instance_id: str, traffic_rule_id: str) -> None:
        """A rule gone: dropped by the operator, or the instance terminated."""
        ...

    async def apply_bandwidth(self, allocation_id: str, allocation: BwInfo) -> None:
        """A bandwidth allocation created or changed (ETSI GS MEC 015 clause 7.2, BwInfo)."""
        ...

    async def remove_bandwidth(self, allocation_id: str) -> None:
        """A bandwidth allocation deleted, or its instance terminated."""
        ...

    async def reconcile(self, load: SnapshotLoader) -> None:
        """At start: enforce exactly what ``load()`` returns, strays removed, missing added."""
        ...

    def capabilities(self) -> DataPlaneCapabilities:
        """The actions, filter members and interfaces this data plane enforces."""
        ...

    def report(self) -> DataPlaneReport:
        """The driver, its capabilities and the outcome of its last apply."""
        ...

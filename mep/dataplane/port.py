"""The DataPlane port: where the traffic rules of application instances take effect.

ETSI GS MEC 011 lets the MEC platform steer an application's traffic by its traffic rules
(clause 7.1.2.2 TrafficRule): the platform manager declares them with the instance, and the
application activates, deactivates or updates them over Mp1 (``PUT .../traffic_rules/{id}``).
The platform hands every such change to this port once it is committed; an adapter makes the
data plane follow (``none.py`` only records the calls; a packet-filter adapter comes later).
Bandwidth allocations (ETSI GS MEC 015) reach the data plane the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mep.bwm.models import BwInfo
from mep.mp1.app_support.models import FilterType, TrafficRule, TrafficRuleAction


@dataclass(frozen=True)
class DataPlaneCapabilities:
    """What an adapter can enforce; the platform refuses (400) an app's change it cannot."""

    actions: frozenset[TrafficRuleAction]
    filter_types: frozenset[FilterType]


class DataPlane(Protocol):
    """Traffic rule enforcement for application instances (ETSI GS MEC 011, TrafficRule)."""

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

    def capabilities(self) -> DataPlaneCapabilities:
        """The actions and filter types this data plane enforces."""
        ...

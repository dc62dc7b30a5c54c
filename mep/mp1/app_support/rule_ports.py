"""Hands every committed change of a traffic or DNS rule to the DataPlane and DnsRules ports.

The rule documents (``mep.mgmt.rules``) are the truth; the ports follow them through a
:class:`~mep.core.follow.CommitFollower`, whatever path made the change (the app's PUT, the
operator's create and replace, a removal made by a termination timer).
"""

from __future__ import annotations

from mep.core.commits import Committer
from mep.core.follow import CommitFollower
from mep.core.store import ABSENT, Delete, Operation
from mep.dataplane.port import DataPlane
from mep.dns.port import DnsRules
from mep.mgmt.rules import DNS, TRAFFIC, split_doc_id
from mep.mp1.app_support.models import DnsRule, TrafficRule


class RulePorts:
    def __init__(self, dataplane: DataPlane, dns: DnsRules) -> None:
        self.dataplane = dataplane
        self.dns = dns
        self._follower = CommitFollower("rule-ports", self._apply)

    def watch(self, committer: Committer) -> None:
        self._follower.watch(committer, TRAFFIC.collection, DNS.collection)

    async def flush(self) -> None:
        """Apply every change committed so far, oldest first."""
        await self._follower.flush()

    async def close(self) -> None:
        await self._follower.close()

    async def _apply(self, op: Operation) -> None:
        instance_id, rule_id = split_doc_id(op.id)
        if op.collection == TRAFFIC.collection:
            if isinstance(op, Delete):
                await self.dataplane.remove_traffic_rule(instance_id, rule_id)
                return
            rule = TrafficRule.model_validate(op.data["rule"])
            if op.expected_version == ABSENT:
                await self.dataplane.add_traffic_rule(instance_id, rule)
            else:
                await self.dataplane.update_traffic_rule(instance_id, rule)
        elif isinstance(op, Delete):
            await self.dns.remove(instance_id, rule_id)
        else:
            await self.dns.apply(instance_id, DnsRule.model_validate(op.data["rule"]))

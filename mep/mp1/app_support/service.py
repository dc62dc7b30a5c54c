"""An application instance's side of MEC 011 application support: readiness and its rules.

The app reads the traffic and DNS rules the operator declared for it and may change a rule with
PUT (ETSI GS MEC 011 traffic and DNS rule activation/deactivation/update): for a DNS rule only its
``state``; for a traffic rule its ``state``, ``trafficFilter`` and ``action`` (with the
``dstInterface`` the action forwards to). Other members of the body are not the app's to change
and are ignored; a different rule id in the body is refused (400).
"""

from __future__ import annotations

from typing import Any

from mep.core.commits import Committer
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, Conflict, InvalidParam, NotFound, PreconditionFailed
from mep.dataplane.port import DataPlane
from mep.dataplane.support import refuse_unsupported
from mep.mgmt import dns_names, rules
from mep.mgmt.models import AppInstanceRecord, AppInstanceState
from mep.mgmt.rules import DNS, TRAFFIC, R, RuleKind, StoredRule
from mep.mgmt.service import AppInstanceService, StoredInstance
from mep.mp1.app_support.models import DnsRule, TrafficRule
from mep.mp1.app_support.rule_ports import RulePorts

#: The members of each kind of rule an app may change.
_APP_MAY_CHANGE: dict[str, tuple[str, ...]] = {
    TRAFFIC.collection: ("state", "traffic_filter", "action", "dst_interface"),
    DNS.collection: ("state",),
}
_ID_POINTER = {TRAFFIC.collection: "/trafficRuleId", DNS.collection: "/dnsRuleId"}


def _merge(kind: RuleKind[R], current: R, body: R) -> R:
    update: dict[str, Any] = {
        name: getattr(body, name) for name in _APP_MAY_CHANGE[kind.collection]
    }
    merged = current.model_copy(update=update)
    # Revalidated as a whole: the rule's cross-member checks hold for the merged rule too.
    return kind.model.model_validate(merged.model_dump())


class AppSupport:
    def __init__(
        self,
        committer: Committer,
        instances: AppInstanceService,
        ports: RulePorts,
        dataplane: DataPlane,
    ) -> None:
        self._committer = committer
        self._store = committer.store
        self._instances = instances
        self._ports = ports
        self._dataplane = dataplane

    async def confirm_ready(self, instance_id: str) -> None:
        """MEC 011 ``confirm_ready``: INSTANTIATED becomes READY; READY stays READY."""

        def ready(record: AppInstanceRecord) -> AppInstanceRecord:
            if record.state is AppInstanceState.TERMINATING:
                raise Conflict(f"application instance {instance_id!r} is being terminated")
            return record.model_copy(update={"state": AppInstanceState.READY})

        await self._instances.update(instance_id, ready, event="AppInstanceReady")

    async def traffic_rules(self, instance: StoredInstance) -> list[StoredRule[TrafficRule]]:
        return await rules.rules_of(self._store, TRAFFIC, _id(instance), instance.record.spec)

    async def dns_rules(self, instance: StoredInstance) -> list[StoredRule[DnsRule]]:
        return await rules.rules_of(self._store, DNS, _id(instance), instance.record.spec)

    async def traffic_rule(self, instance: StoredInstance, rule_id: str) -> StoredRule[TrafficRule]:
        return await self._rule(TRAFFIC, _id(instance), rule_id)

    async def dns_rule(self, instance: StoredInstance, rule_id: str) -> StoredRule[DnsRule]:
        return await self._rule(DNS, _id(instance), rule_id)

    async def put_traffic_rule(
        self, instance: StoredInstance, rule_id: str, body: TrafficRule, if_match: int | None
    ) -> StoredRule[TrafficRule]:
        refuse_unsupported(self._dataplane.capabilities(), [("", body)])
        return await self._put(TRAFFIC, _id(instance), rule_id, body, if_match)

    async def put_dns_rule(
        self, instance: StoredInstance, rule_id: str, body: DnsRule, if_match: int | None
    ) -> StoredRule[DnsRule]:
        return await self._put(DNS, _id(instance), rule_id, body, if_match)

    async def _rule(self, kind: RuleKind[R], instance_id: str, rule_id: str) -> StoredRule[R]:
        found = await rules.rule_of(self._store, kind, instance_id, rule_id)
        if found is None:
            raise NotFound(f"application instance {instance_id!r} has no rule {rule_id!r}")
        return found

    async def _put(
        self, kind: RuleKind[R], instance_id: str, rule_id: str, body: R, if_match: int | None
    ) -> StoredRule[R]:

        async def attempt() -> StoredRule[R]:
            current = await self._rule(kind, instance_id, rule_id)
            if kind.id_of(body) != rule_id:
                pointer = _ID_POINTER[kind.collection]
                raise BadRequest(
                    "the rule id cannot change",
                    invalid_params=[InvalidParam(pointer, f"must be {rule_id!r}, as in the URI")],
                )
            if if_match is not None and if_match != current.version:
                raise PreconditionFailed(f"ETag does not match version {current.version}")
            merged = _merge(kind, current.rule, body)
            if merged == current.rule:
                return current
            ops = [rules.write(kind, instance_id, merged, current.version)]
            version, *_ = await self._committer.commit(ops + dns_names.touched(ops))
            await self._ports.flush()
            return StoredRule(merged, version)

        return await optimistically(attempt, what="the rule", pinned=if_match is not None)


def _id(instance: StoredInstance) -> str:
    return instance.record.app_instance_id

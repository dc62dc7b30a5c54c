"""The default DnsRules adapter: serves nothing and records every call, in order."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from mep.mp1.app_support.models import DnsRule

log = structlog.get_logger("mep.dns")


@dataclass(frozen=True)
class DnsCall:
    """One call: ``op`` is ``apply`` or ``remove``; ``rule`` is absent on remove."""

    op: str
    app_instance_id: str
    dns_rule_id: str
    rule: DnsRule | None = None


@dataclass
class RecordingDnsRules:
    calls: list[DnsCall] = field(default_factory=list)

    async def apply(self, app_instance_id: str, rule: DnsRule) -> None:
        self._record(DnsCall("apply", app_instance_id, rule.dns_rule_id, rule))

    async def remove(self, app_instance_id: str, dns_rule_id: str) -> None:
        self._record(DnsCall("remove", app_instance_id, dns_rule_id))

    def _record(self, call: DnsCall) -> None:
        self.calls.append(call)
        log.debug("dns rule", op=call.op, app=call.app_instance_id, rule=call.dns_rule_id)

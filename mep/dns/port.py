"""The DnsRules port: where the DNS rules of application instances take effect.

ETSI GS MEC 011 DnsRule (clause 7.1.2.3): the platform answers ``domainName`` with
``ipAddress`` for the instance's clients while the rule is ACTIVE. The platform manager declares
the rules with the instance; the application activates or deactivates them over Mp1
(``PUT .../dns_rules/{id}``). Every committed change is handed to this port: ``table_rules.py``
keeps the DNS responder's name table in step (``create_app(dns=True)``, as ``mep run`` does);
``recording.py`` only records the calls.
"""

from __future__ import annotations

from typing import Protocol

from mep.mp1.app_support.models import DnsRule


class DnsRules(Protocol):
    """DNS rule enforcement for application instances (ETSI GS MEC 011, DnsRule)."""

    async def apply(self, app_instance_id: str, rule: DnsRule) -> None:
        """A new or changed rule, ``state`` included (MEC 011 DNS rule activation/deactivation)."""
        ...

    async def remove(self, app_instance_id: str, dns_rule_id: str) -> None:
        """A rule gone: dropped by the operator, or the instance terminated."""
        ...

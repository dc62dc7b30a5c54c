"""The name table the DNS responder answers from.

It holds every DNS rule of every application instance (ETSI GS MEC 011 DnsRule), ACTIVE or
not, and for a name that several instances share, the one the operator marked as preferred.
Lookups are the hot path and changes are rare, so a change recomputes the answer of the one name
it touches and a lookup is a single dictionary read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mep.mp1.app_support.models import DnsRule, IpAddressType, RuleState

#: The TTL of a rule that names none: short, so that resolvers forget a deactivated rule soon.
DEFAULT_TTL = 30

_RuleKey = tuple[str, str]  # (appInstanceId, dnsRuleId)


@dataclass(frozen=True, slots=True)
class Addresses:
    """One RRset: the addresses of one family, with one TTL (RFC 2181 clause 5.2 wants the
    records of an RRset to share it; rules that disagree get the smallest)."""

    addresses: tuple[str, ...]
    ttl: int


@dataclass(frozen=True, slots=True)
class Answer:
    """What a name resolves to: its ACTIVE addresses by family (empty when there are none)."""

    v4: Addresses | None
    v6: Addresses | None


class NameTable:
    def __init__(self) -> None:
        self._rules: dict[str, dict[_RuleKey, DnsRule]] = {}
        self._name_of: dict[_RuleKey, str] = {}
        self._preferred: dict[str, str] = {}
        self._answers: dict[str, Answer] = {}
        #: Grows with every change: what was rendered from an older table is stale.
        self.generation = 0

    def lookup(self, name: str) -> Answer | None:
        """The answer for ``name`` (lower case, no final dot); None when no ACTIVE rule names
        it."""
        return self._answers.get(name)

    def names(self) -> list[str]:
        """The names that resolve, sorted."""
        return sorted(self._answers)

    def apply(self, instance_id: str, rule: DnsRule) -> None:
        """A new or changed rule of ``instance_id``."""
        key = (instance_id, rule.dns_rule_id)
        previous = self._name_of.get(key)
        if previous is not None and previous != rule.domain_name:
            self._drop(key, previous)
            self._refresh(previous)
        self._rules.setdefault(rule.domain_name, {})[key] = rule
        self._name_of[key] = rule.domain_name
        self._refresh(rule.domain_name)

    def remove(self, instance_id: str, rule_id: str) -> None:
        key = (instance_id, rule_id)
        name = self._name_of.pop(key, None)
        if name is not None:
            self._drop(key, name)
            self._refresh(name)

    def prefer(self, name: str, instance_id: str | None) -> None:
        """Which instance answers ``name`` when several claim it (None: no preference)."""
        if self._preferred.get(name) == instance_id:
            return
        if instance_id is None:
            del self._preferred[name]
        else:
            self._preferred[name] = instance_id
        self._refresh(name)

    def replace(self, other: NameTable) -> None:
        """Take the content of ``other`` (a table rebuilt from the store), in one step."""
        self._rules = other._rules
        self._name_of = other._name_of
        self._preferred = other._preferred
        self._answers = other._answers
        self.generation += 1

    def _drop(self, key: _RuleKey, name: str) -> None:
        rules = self._rules.get(name, {})
        rules.pop(key, None)
        if not rules:
            self._rules.pop(name, None)

    def _refresh(self, name: str) -> None:
        self.generation += 1
        active = [
            (instance_id, rule)
            for (instance_id, _), rule in self._rules.get(name, {}).items()
            if rule.state is RuleState.ACTIVE
        ]
        preferred = self._preferred.get(name)
        # The preferred instance answers alone while it has an ACTIVE rule for the name; when
        # it has none, the others' ACTIVE rules still do.
        if any(instance_id == preferred for instance_id, _ in active):
            active = [(i, rule) for i, rule in active if i == preferred]
        rules = [rule for _, rule in active]
        v4 = _rrset(r for r in rules if r.ip_address_type is IpAddressType.IP_V4)
        v6 = _rrset(r for r in rules if r.ip_address_type is IpAddressType.IP_V6)
        if v4 is None and v6 is None:
            self._answers.pop(name, None)
        else:
            self._answers[name] = Answer(v4, v6)


def _rrset(rules: Iterable[DnsRule]) -> Addresses | None:
    addresses: dict[str, None] = {}
    ttl: int | None = None
    for rule in rules:
        addresses[rule.ip_address] = None
        rule_ttl = DEFAULT_TTL if rule.ttl is None else rule.ttl
        ttl = rule_ttl if ttl is None else min(ttl, rule_ttl)
    if ttl is None:
        return None
    return Addresses(tuple(addresses), ttl)

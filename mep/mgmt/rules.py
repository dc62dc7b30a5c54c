"""The current traffic and DNS rules of application instances: one document per rule.

The operator declares an instance's rules (``AppInstanceSpec``); the app may then change a rule
over Mp1 (ETSI GS MEC 011: its ``state``, and for a traffic rule its filter and action). Each rule
is a document of its own, ``{appInstanceId}|{ruleId}`` indexed by instance, so that an app's
change is a small write with its own ETag and two rules change independently of each other and of
the instance document.

When the operator replaces an instance (PUT), each rule is reconciled against the previous
declaration: a rule whose declaration is unchanged keeps its current value, whatever the app made
of it; a rule whose declaration changed is reset to the new declaration (the operator's newer
intent wins); a new rule is added and a dropped one removed. Listing follows the declaration's
order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mep.core.store import ABSENT, Delete, Document, Operation, Put, Store
from mep.mgmt.models import AppInstanceSpec
from mep.mp1.app_support.models import DnsRule, TrafficRule

BY_INSTANCE = "instance"
#: Instance ids cannot contain it (``check_instance_id``), so the first one splits a doc id.
_SEP = "|"

R = TypeVar("R", TrafficRule, DnsRule)


@dataclass(frozen=True)
class RuleKind(Generic[R]):
    collection: str
    model: type[R]
    id_of: Callable[[R], str]
    declared: Callable[[AppInstanceSpec], Sequence[R]]


TRAFFIC: RuleKind[TrafficRule] = RuleKind(
    "traffic_rules", TrafficRule, lambda r: r.traffic_rule_id, lambda s: s.traffic_rules
)
DNS: RuleKind[DnsRule] = RuleKind(
    "dns_rules", DnsRule, lambda r: r.dns_rule_id, lambda s: s.dns_rules
)


@dataclass(frozen=True)
class StoredRule(Generic[R]):
    rule: R
    version: int


def doc_id(instance_id: str, rule_id: str) -> str:
    return f"{instance_id}{_SEP}{rule_id}"


def split_doc_id(document_id: str) -> tuple[str, str]:
    """``(appInstanceId, ruleId)`` of a rule document."""
    instance_id, _, rule_id = document_id.partition(_SEP)
    return instance_id, rule_id


def _data(instance_id: str, rule: TrafficRule | DnsRule) -> dict[str, Any]:
    return {
        "appInstanceId": instance_id,
        "rule": rule.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def write(kind: RuleKind[R], instance_id: str, rule: R, expected_version: int) -> Put:
    """The write of one rule; ``ABSENT`` adds it, a version replaces that version."""
    return Put(
        kind.collection,
        doc_id(instance_id, kind.id_of(rule)),
        _data(instance_id, rule),
        expected_version,
        indexes={BY_INSTANCE: [instance_id]},
    )


def _stored(kind: RuleKind[R], doc: Document) -> StoredRule[R]:
    return StoredRule(kind.model.model_validate(doc.data["rule"]), doc.version)


async def rule_of(
    store: Store, kind: RuleKind[R], instance_id: str, rule_id: str
) -> StoredRule[R] | None:
    doc = await store.get(kind.collection, doc_id(instance_id, rule_id))
    return None if doc is None else _stored(kind, doc)


async def rules_of(
    store: Store, kind: RuleKind[R], instance_id: str, spec: AppInstanceSpec
) -> list[StoredRule[R]]:
    """The instance's current rules, in the order the operator declared them."""
    docs = await store.find(kind.collection, BY_INSTANCE, instance_id)
    order = {kind.id_of(rule): n for n, rule in enumerate(kind.declared(spec))}
    found = [_stored(kind, doc) for doc in docs]
    return sorted(found, key=lambda s: order.get(kind.id_of(s.rule), len(order)))


def seed_ops(instance_id: str, spec: AppInstanceSpec) -> list[Operation]:
    """The rules of a new instance, as declared."""
    ops: list[Operation] = [write(TRAFFIC, instance_id, r, ABSENT) for r in spec.traffic_rules]
    return ops + [write(DNS, instance_id, r, ABSENT) for r in spec.dns_rules]


async def _reconcile(
    store: Store,
    kind: RuleKind[R],
    instance_id: str,
    old: AppInstanceSpec,
    new: AppInstanceSpec,
) -> list[Operation]:
    current = {
        split_doc_id(doc.id)[1]: doc
        for doc in await store.find(kind.collection, BY_INSTANCE, instance_id)
    }
    before = {kind.id_of(rule): rule for rule in kind.declared(old)}
    ops: list[Operation] = []
    for rule in kind.declared(new):
        rule_id = kind.id_of(rule)
        doc = current.pop(rule_id, None)
        if doc is None:
            ops.append(write(kind, instance_id, rule, ABSENT))
        elif before.get(rule_id) != rule:
            ops.append(write(kind, instance_id, rule, doc.version))
    ops += [Delete(kind.collection, doc.id, doc.version) for doc in current.values()]
    return ops


async def reconcile_ops(
    store: Store, instance_id: str, old: AppInstanceSpec, new: AppInstanceSpec
) -> list[Operation]:
    """The rule writes that take an instance from declaration ``old`` to ``new``.

    Writes of existing rules are conditional on the version read, so an app's change made
    meanwhile makes the commit conflict (and the caller retry) rather than be lost.
    """
    return await _reconcile(store, TRAFFIC, instance_id, old, new) + await _reconcile(
        store, DNS, instance_id, old, new
    )


async def removal_ops(store: Store, instance_id: str) -> list[Operation]:
    """Deleting every rule of the instance."""
    ops: list[Operation] = []
    for collection in (TRAFFIC.collection, DNS.collection):
        docs = await store.find(collection, BY_INSTANCE, instance_id)
        ops += [Delete(collection, doc.id) for doc in docs]
    return ops

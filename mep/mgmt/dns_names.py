"""Who answers a domain name: one claim document per name that DNS rules declare.

Two application instances whose DNS rules name the same domain would each have the DNS responder
answer with their own addresses, so the operator's create or replace of an instance is refused
(409) when another instance claims one of its names already, unless exactly one of the claimants
is marked ``dnsPreferred``: that one answers (``mep.dns.table``). The claim document is written at
the version read, in the commit that writes the instance, so of two concurrent creations
claiming one name only one can win (the Store's guard documents).

Every commit that changes DNS rules or claims also writes a change counter: the DNS responders
of other replicas poll its version and reload their name table when it moved
(``mep.dns.table_rules``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mep.core.problem import Conflict, InvalidParam
from mep.core.store import ABSENT, Delete, Operation, Put, Store
from mep.mgmt.models import AppInstanceSpec
from mep.mgmt.rules import DNS

COLLECTION = "dns_names"
CHANGES = "dns_changes"
_COUNTER = "counter"


def claimed(spec: AppInstanceSpec | None) -> dict[str, int]:
    """The names the instance's DNS rules declare, each with the index of its first rule."""
    names: dict[str, int] = {}
    for index, rule in enumerate(spec.dns_rules if spec is not None else ()):
        names.setdefault(rule.domain_name, index)
    return names


def preferred_of(data: Mapping[str, Any]) -> str | None:
    """The claimant marked ``dnsPreferred`` in a claim document, if any."""
    return next((i for i, preferred in data["claimants"].items() if preferred), None)


async def claim_ops(
    store: Store,
    instance_id: str,
    before: AppInstanceSpec | None,
    after: AppInstanceSpec | None,
) -> list[Operation]:
    """The claim writes that take ``instance_id`` from declaration ``before`` to ``after``
    (None: the instance does not exist). Raises Conflict (409) naming the other instance when a
    name of ``after`` is claimed by another one and not exactly one of them is preferred."""
    wanted = claimed(after)
    preferred = after is not None and after.dns_preferred
    names = sorted(set(claimed(before)) | set(wanted))
    docs = {doc.id: doc for doc in await store.get_many(COLLECTION, names)}
    ops: list[Operation] = []
    problems: list[tuple[str, InvalidParam]] = []
    for name in names:
        doc = docs.get(name)
        claimants: dict[str, bool] = dict(doc.data["claimants"]) if doc is not None else {}
        updated = {i: p for i, p in claimants.items() if i != instance_id}
        if name in wanted:
            updated[instance_id] = preferred
        if updated == claimants:
            continue
        if name in wanted:
            refused = _refusal(name, instance_id, updated)
            if refused is not None:
                other, reason = refused
                pointer = f"/dnsRules/{wanted[name]}/domainName"
                problems.append((other, InvalidParam(pointer, reason)))
        if not updated:
            assert doc is not None
            ops.append(Delete(COLLECTION, name, doc.version))
        else:
            version = ABSENT if doc is None else doc.version
            ops.append(Put(COLLECTION, name, {"claimants": updated}, version))
    if problems:
        raise Conflict(problems[0][1].reason, invalid_params=[p for _, p in problems])
    return ops


def _refusal(name: str, instance_id: str, claimants: dict[str, bool]) -> tuple[str, str] | None:
    others = [i for i in claimants if i != instance_id]
    preferred = [i for i, p in claimants.items() if p]
    if not others or len(preferred) == 1:
        return None
    if preferred:
        other = next(i for i in preferred if i != instance_id)
        return other, (
            f"domain name {name!r} is claimed by application instance {other!r}, "
            "which is dnsPreferred already"
        )
    return others[0], (
        f"domain name {name!r} is claimed by application instance {others[0]!r}; "
        "mark one of them dnsPreferred to share it"
    )


def touched(ops: Sequence[Operation]) -> list[Operation]:
    """The change counter's write when ``ops`` change DNS rules or claims, else nothing.

    Unconditional: every such commit moves the counter's version by one, and concurrent
    writers never conflict on it.
    """
    if any(op.collection in (DNS.collection, COLLECTION) for op in ops):
        return [Put(CHANGES, _COUNTER, {})]
    return []


async def change_count(store: Store) -> int:
    """The version of the change counter (0 before the first change)."""
    doc = await store.get(CHANGES, _COUNTER)
    return 0 if doc is None else doc.version

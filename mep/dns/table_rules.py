"""The DnsRules adapter of the DNS responder: keeps the name table in step with the store.

Three paths lead into the table:

- on this replica, every committed rule change reaches :meth:`TableDnsRules.apply` and
  :meth:`~TableDnsRules.remove` through the rule ports' commit follower, and every committed
  claim (``mep.mgmt.dns_names``) is watched directly, so a change answers within milliseconds;
- at start, :meth:`~TableDnsRules.reload` builds the table from the store;
- changes made by other replicas sharing the store: :meth:`~TableDnsRules.follow` polls the
  version of the DNS change counter (one small read) and reloads when it moved.

A reload reads the store in pages while this replica keeps changing the table, so the changes
applied meanwhile are replayed onto the rebuilt table before it replaces the live one: a
deactivation is never undone by a reload that had read the rule before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import structlog
from pydantic import ValidationError

from mep.core.commits import Committer
from mep.core.store import Delete, Document, Operation, Store, StoreError
from mep.dns.table import NameTable
from mep.mgmt import dns_names
from mep.mgmt.rules import DNS
from mep.mp1.app_support.models import DnsRule

log = structlog.get_logger("mep.dns")

#: How often the change counter is read: changes made by other replicas answer within this
#: (plus one reload).
RECONCILE_INTERVAL = 0.25

Change = Callable[[NameTable], None]


class TableDnsRules:
    def __init__(self, table: NameTable | None = None) -> None:
        self.table = table or NameTable()
        self._replay: list[Change] | None = None
        self._loaded: int | None = None

    async def apply(self, app_instance_id: str, rule: DnsRule) -> None:
        self._change(lambda table: table.apply(app_instance_id, rule))

    async def remove(self, app_instance_id: str, dns_rule_id: str) -> None:
        self._change(lambda table: table.remove(app_instance_id, dns_rule_id))

    def watch(self, committer: Committer) -> None:
        """Follow the claims committed on this replica (which instance is preferred)."""
        committer.watch(dns_names.COLLECTION, self._on_claim)

    def _on_claim(self, op: Operation) -> None:
        preferred = None if isinstance(op, Delete) else dns_names.preferred_of(op.data)
        self._change(lambda table: table.prefer(op.id, preferred))

    def _change(self, change: Change) -> None:
        change(self.table)
        if self._replay is not None:
            self._replay.append(change)

    async def reload(self, store: Store) -> None:
        """Rebuild the table from the store."""
        # Read first: a change committed during the reload moves the counter past it, and the
        # next poll reloads again.
        counter = await dns_names.change_count(store)
        self._replay = []
        try:
            fresh = NameTable()
            async for doc in _scan(store, DNS.collection):
                rule = _rule(doc)
                if rule is not None:
                    fresh.apply(str(doc.data["appInstanceId"]), rule)
            async for doc in _scan(store, dns_names.COLLECTION):
                fresh.prefer(doc.id, dns_names.preferred_of(doc.data))
            for change in self._replay:
                change(fresh)
            self.table.replace(fresh)
            self._loaded = counter
        finally:
            self._replay = None

    async def follow(self, store: Store, interval: float = RECONCILE_INTERVAL) -> None:
        """Reload whenever the change counter moved, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                if await dns_names.change_count(store) != self._loaded:
                    await self.reload(store)
            except StoreError as error:
                log.warning("dns: store unavailable; the name table may be stale", error=str(error))
            except Exception:
                # Whatever broke this reload, the next change or poll tries again.
                log.exception("dns: reloading the name table failed")


async def _scan(store: Store, collection: str) -> AsyncIterator[Document]:
    after: str | None = None
    while page := await store.scan(collection, after=after):
        for doc in page:
            yield doc
        after = page[-1].id


def _rule(doc: Document) -> DnsRule | None:
    try:
        return DnsRule.model_validate(doc.data["rule"])
    except (KeyError, ValidationError):
        log.warning("dns: unreadable rule document skipped", id=doc.id)
        return None

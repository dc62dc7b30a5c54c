"""The active RNIS subscriptions, in memory, indexed the way network events look for them.

Loaded from the store at startup and kept current by watching the committer on the
subscriptions collection, so writes from the API, the activation hook and the expiry timer all
reach it. Per subscription type, a subscription is found

* under each UE it names (``associateId`` values, which are UE IPv4 addresses), else
* under each cell it names (``ecgi`` / ``nrcgi``), else
* under ``anywhere``,

so an event about one UE in one cell (or two, for a handover) looks up a handful of sets instead
of testing every subscription. The rest of each filter (cells when a UE is named, QCI, E-RAB,
triggers, handover status, S1 event types) is checked on those few candidates.

Only writes made on this replica are seen: another replica's API writes reach this index at the
next start (the network source is expected to run where its listeners run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog
from pydantic import ValidationError

from mep.core.commits import Committer
from mep.core.notify.deliveries import Target
from mep.core.store import Delete, Operation, Store
from mep.rnis.models import (
    CellChangeSubscription,
    Ecgi,
    MeasRepUeSubscription,
    NrMeasRepUeSubscription,
    RabEstSubscription,
    RabModSubscription,
    RabRelSubscription,
    S1BearerSubscription,
    Subscription,
    SubscriptionType,
)
from mep.rnis.radio import CellKey
from mep.rnis.records import COLLECTION, Links, StoredSubscription

log = structlog.get_logger("mep.rnis")


@dataclass(frozen=True, slots=True)
class Criteria:
    """A subscription's filter, flattened for matching; an empty set matches anything."""

    ues: frozenset[str] = frozenset()
    cells: frozenset[CellKey] = frozenset()
    qci: int | None = None
    erab_ids: frozenset[int] = frozenset()
    ho_status: frozenset[int] = frozenset()
    triggers: frozenset[int] = frozenset()
    events: frozenset[int] = frozenset()

    def accepts(self, ue: str, cells: Iterable[CellKey | None]) -> bool:
        if self.ues and ue not in self.ues:
            return False
        return not self.cells or any(c in self.cells for c in cells)


def _cells(ecgis: Iterable[Ecgi] | None) -> frozenset[CellKey]:
    return frozenset((e.plmn.mcc, e.plmn.mnc, e.cell_id) for e in ecgis or ())


def criteria_of(body: Subscription) -> Criteria:
    if isinstance(body, RabEstSubscription | RabModSubscription | RabRelSubscription):
        qci = body.filter_criteria_qci
        erab = getattr(qci, "erab_id", None)
        return Criteria(
            cells=_cells(qci.ecgi),
            qci=qci.qci,
            erab_ids=frozenset(() if erab is None else (erab,)),
        )
    if isinstance(body, S1BearerSubscription):
        s1 = body.s1_bearer_subscription_criteria
        return Criteria(
            ues=frozenset(a.value for a in s1.associate_id or ()),
            cells=_cells(s1.ecgi),
            erab_ids=frozenset(s1.erab_id or ()),
            events=frozenset(body.event_type),
        )
    if isinstance(body, NrMeasRepUeSubscription):
        nr = body.filter_criteria_nr_mrs
        return Criteria(
            ues=frozenset(a.value for a in nr.associate_id or ()),
            cells=frozenset((c.plmn.mcc, c.plmn.mnc, c.nrcell_id) for c in nr.nrcgi or ()),
            triggers=frozenset(nr.trigger_nr or ()),
        )
    if isinstance(body, CellChangeSubscription):
        ho = body.filter_criteria_assoc_ho
        return Criteria(
            ues=frozenset(a.value for a in ho.associate_id or ()),
            cells=_cells(ho.ecgi),
            ho_status=frozenset(ho.ho_status or ()),
        )
    if isinstance(body, MeasRepUeSubscription):
        tri = body.filter_criteria_assoc_tri
        return Criteria(
            ues=frozenset(a.value for a in tri.associate_id or ()),
            cells=_cells(tri.ecgi),
            triggers=frozenset(tri.trigger or ()),
        )
    assoc = body.filter_criteria_assoc
    ues = frozenset(a.value for a in assoc.associate_id or ())
    return Criteria(ues=ues, cells=_cells(assoc.ecgi))


@dataclass(frozen=True, slots=True)
class Entry:
    """One subscription as matching needs it."""

    id: str
    type: SubscriptionType
    criteria: Criteria
    target: Target
    href: str
    active: bool
    expires_at: float | None

    def live(self, now: float) -> bool:
        """Active (its test notification delivered, if asked for) and not past its deadline."""
        return self.active and (self.expires_at is None or self.expires_at > now)


@dataclass
class _TypeIndex:
    """The subscriptions of one type, by where an event finds them."""

    by_ue: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_cell: defaultdict[CellKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    anywhere: set[str] = field(default_factory=set)
    count: int = 0


class SubscriptionIndex:
    def __init__(self, links: Links) -> None:
        self._links = links
        self._entries: dict[str, Entry] = {}
        self._types: dict[SubscriptionType, _TypeIndex] = {}
        #: Ids written while the startup load was reading: the load must not undo those writes.
        self._touched: set[str] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def watch(self, committer: Committer) -> None:
        committer.watch(COLLECTION, self.apply)

    async def load(self, store: Store) -> None:
        """Read every stored subscription (at startup, after :meth:`watch`)."""
        self._touched = set()
        try:
            after: str | None = None
            while page := await store.scan(COLLECTION, after=after):
                for doc in page:
                    if doc.id not in self._touched:
                        self._put(doc.id, StoredSubscription.from_document(doc))
                after = page[-1].id
        finally:
            self._touched = None

    def apply(self, op: Operation) -> None:
        """A committed write to the collection (committer watcher)."""
        if self._touched is not None:
            self._touched.add(op.id)
        if isinstance(op, Delete):
            self._remove(op.id)
            return
        try:
            # The version only matters to the API; matching needs the content.
            stored = StoredSubscription.from_data(op.id, op.data, version=0)
        except (KeyError, ValueError, ValidationError):
            log.exception("unreadable RNIS subscription; not matched", id=op.id)
            self._remove(op.id)
            return
        self._put(op.id, stored)

    def entry(self, subscription_id: str) -> Entry | None:
        return self._entries.get(subscription_id)

    def has(self, kind: SubscriptionType) -> bool:
        index = self._types.get(kind)
        return index is not None and index.count > 0

    def candidates(
        self, kind: SubscriptionType, ue: str, cells: Iterable[CellKey | None]
    ) -> list[Entry]:
        """The subscriptions of ``kind`` that may match an event of UE ``ue`` (its associateId
        value) in ``cells``; the caller checks the rest of their filters."""
        index = self._types.get(kind)
        if index is None:
            return []
        ids = set(index.anywhere)
        ids.update(index.by_ue.get(ue, ()))
        for cell in cells:
            if cell is not None:
                ids.update(index.by_cell.get(cell, ()))
        entries = self._entries
        return [entries[i] for i in sorted(ids)]

    def _put(self, subscription_id: str, stored: StoredSubscription) -> None:
        self._remove(subscription_id)
        entry = Entry(
            subscription_id,
            stored.type,
            criteria_of(stored.body),
            stored.target,
            self._links.subscription(subscription_id),
            stored.active,
            stored.expires_at,
        )
        self._entries[subscription_id] = entry
        index = self._types.setdefault(entry.type, _TypeIndex())
        index.count += 1
        if entry.criteria.ues:
            for ue in entry.criteria.ues:
                index.by_ue[ue].add(subscription_id)
        elif entry.criteria.cells:
            for cell in entry.criteria.cells:
                index.by_cell[cell].add(subscription_id)
        else:
            index.anywhere.add(subscription_id)

    def _remove(self, subscription_id: str) -> None:
        entry = self._entries.pop(subscription_id, None)
        if entry is None:
            return
        index = self._types[entry.type]
        index.count -= 1
        index.anywhere.discard(subscription_id)
        for ue in entry.criteria.ues:
            if (ids := index.by_ue.get(ue)) is not None:
                ids.discard(subscription_id)
                if not ids:
                    del index.by_ue[ue]
        for cell in entry.criteria.cells:
            if (cell_ids := index.by_cell.get(cell)) is not None:
                cell_ids.discard(subscription_id)
                if not cell_ids:
                    del index.by_cell[cell]

"""The Store port: a small document store with versioned, atomic writes.

Every resource the platform keeps (app instances, services, subscriptions, outbox entries, ...) is
a JSON document addressed by ``(collection, id)``. Each document carries a version that starts at 1
and grows by one on every write, which is what ETag / If-Match and optimistic concurrency build on.

Writes go through :meth:`Store.commit`, which applies a list of :class:`Put` and :class:`Delete`
operations all-or-nothing: when any operation's ``expected_version`` does not match, nothing is
written and :class:`VersionConflict` names the first mismatch. Uniqueness constraints are built the
same way: a guard document whose id is the unique key, written with ``expected_version=0`` in the
same commit. When ``commit`` returns, the change is durable.

Secondary indexes are declared per write: each :class:`Put` lists the index values under which the
document can be found with :meth:`Store.find`. A later write replaces the document's index entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

#: ``expected_version`` value meaning "the document must not exist yet".
ABSENT = 0


@dataclass(frozen=True, slots=True)
class Document:
    collection: str
    id: str
    version: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Put:
    """Create or replace one document.

    ``expected_version``: ``None`` writes unconditionally, ``ABSENT`` (0) requires that the
    document does not exist, ``n > 0`` requires that it exists at version ``n``.
    ``indexes`` maps an index name to the values this document is found under.
    """

    collection: str
    id: str
    data: Mapping[str, Any]
    expected_version: int | None = None
    indexes: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove one document.

    ``expected_version``: ``None`` removes it if present (no error when absent); ``n > 0``
    requires that it exists at version ``n``.
    """

    collection: str
    id: str
    expected_version: int | None = None


Operation = Put | Delete


class StoreError(Exception):
    """The store could not be reached or failed; nothing can be assumed about the write."""


class VersionConflict(Exception):
    """A commit's precondition failed; nothing of that commit was written."""

    def __init__(self, collection: str, id: str, expected: int | None, actual: int) -> None:
        self.collection = collection
        self.id = id
        self.expected = expected
        self.actual = actual
        state = "absent" if actual == ABSENT else f"at version {actual}"
        super().__init__(f"{collection}/{id}: expected version {expected}, document is {state}")


class Store(Protocol):
    """Document storage shared by every API of the platform."""

    async def get(self, collection: str, id: str) -> Document | None:
        """The document, or ``None`` when absent."""
        ...

    async def get_many(self, collection: str, ids: Sequence[str]) -> list[Document]:
        """The documents that exist among ``ids``, in the order of ``ids``."""
        ...

    async def find(self, collection: str, index: str, value: str) -> list[Document]:
        """Documents whose last write listed ``value`` under ``index``, ordered by id."""
        ...

    async def count_found(self, collection: str, index: str, value: str) -> int:
        """How many documents :meth:`find` would return, without reading them."""
        ...

    async def scan(
        self, collection: str, *, after: str | None = None, limit: int = 1000
    ) -> list[Document]:
        """Up to ``limit`` documents ordered by id, starting after id ``after``."""
        ...

    async def count(self, collection: str) -> int:
        """How many documents the collection holds."""
        ...

    async def commit(self, ops: Sequence[Operation]) -> list[int]:
        """Apply ``ops`` atomically and durably; the new version of each op (0 for a delete).

        Raises :class:`VersionConflict` when any precondition fails (nothing is written), and
        :class:`StoreError` when the store is unreachable.
        """
        ...

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the store answers."""
        ...

    async def close(self) -> None:
        """Finish pending writes and release connections."""
        ...

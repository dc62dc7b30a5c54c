"""Commits, with in-process watchers told which documents a commit wrote.

Background workers (the outbox relay, the notification deliverer, the timers) poll the store so
that they pick up work written by other replicas, but on this replica they should start at once:
they watch their collection here and are woken after every commit that touches it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from mep.core.store import Operation, Store

Watcher = Callable[[Operation], None]


class Committer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._watchers: dict[str, list[Watcher]] = defaultdict(list)

    def watch(self, collection: str, watcher: Watcher) -> None:
        """Call ``watcher`` (synchronously, after the commit) for each op on ``collection``."""
        self._watchers[collection].append(watcher)

    async def commit(self, ops: Sequence[Operation]) -> list[int]:
        versions = await self.store.commit(ops)
        for op in ops:
            for watcher in self._watchers.get(op.collection, ()):
                watcher(op)
        return versions

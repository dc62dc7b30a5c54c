"""The Radio Network Information Service: queries over the network source, subscriptions, and
the listener that turns each network change into notifications.

All the notifications of one network change are queued in one commit: a tick of ten thousand
UEs is one write to the store, not one per notification.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence

import structlog

from mep.core.commits import Committer
from mep.core.notify.deliveries import Notifier
from mep.core.store import Operation, StoreError
from mep.core.timers import Timers
from mep.mgmt.service import AppInstanceService
from mep.network.port import NetworkEvent, NetworkSource, NetworkState
from mep.rnis import queries
from mep.rnis.index import SubscriptionIndex
from mep.rnis.matching import Evaluation
from mep.rnis.params import QueryParams
from mep.rnis.records import EXPIRY, Links
from mep.rnis.subscriptions import RnisSubscriptions
from mep.rnis.view import Views

log = structlog.get_logger("mep.rnis")

Query = Mapping[str, Sequence[str]]


class Rnis:
    def __init__(
        self,
        committer: Committer,
        notifier: Notifier,
        network: NetworkSource,
        instances: AppInstanceService,
        base_url: str,
    ) -> None:
        self._committer = committer
        self._notifier = notifier
        self._network = network
        self._instances = instances
        self._views = Views(network)
        links = Links(base_url)
        self.subscriptions = RnisSubscriptions(committer, notifier, links)
        self.index = SubscriptionIndex(links)
        self.index.watch(committer)
        self._loaded = asyncio.Event()

    def register_timers(self, timers: Timers) -> None:
        timers.on(EXPIRY, self.subscriptions.expire)

    def listen(self) -> None:
        """Follow the network from its first change on (at startup, before it ticks)."""
        self._network.listen(self.on_change)

    async def load(self) -> None:
        """Read the stored subscriptions; changes wait for it, so none is matched against a
        half-loaded index."""
        await self.index.load(self._committer.store)
        self._loaded.set()

    async def on_change(self, state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        """The network source's listener: queue what ``events`` cause, in one commit. A failure
        is logged, never raised into the source: the network goes on either way."""
        await self._loaded.wait()
        if not events or not len(self.index):
            return
        ops: list[Operation] = []
        try:
            for target, body in Evaluation(self.index, state, time.time()).run(events):
                try:
                    ops.append(self._notifier.queue(target, body))
                except ValueError as error:  # larger than a notification may be
                    log.warning("RNIS notification dropped", target=target.key, error=str(error))
            if ops:
                await self._committer.commit(ops)
        except StoreError as error:
            log.warning(
                "RNIS notifications of a network change lost", count=len(ops), error=str(error)
            )
        except Exception:
            log.exception("RNIS failed to evaluate a network change", events=len(events))

    def rab_info(self, raw: Query, requester: str) -> bytes:
        params = QueryParams(raw, queries.RAB_PARAMS)
        view = self._views.current()
        app = params.string("app_ins_id") or requester
        return queries.rab_info(view, params, app, uuid.uuid4().hex)

    async def plmn_info(self, raw: Query) -> bytes:
        params = QueryParams(raw, ("app_ins_id",))
        ids = params.strings("app_ins_id")
        return await queries.plmn_info(self._views.current(), ids, self._known_instance)

    def s1_bearer_info(self, raw: Query) -> bytes:
        return queries.s1_bearer_info(self._views.current(), QueryParams(raw, queries.S1_PARAMS))

    def layer2_meas(self, raw: Query) -> bytes:
        return queries.layer2_meas(self._views.current(), QueryParams(raw, queries.L2_PARAMS))

    async def _known_instance(self, instance_id: str) -> bool:
        return await self._instances.find(instance_id) is not None

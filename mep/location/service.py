"""The Location API's parts, wired together once the platform's shared services exist."""

from __future__ import annotations

from mep.core.commits import Committer
from mep.core.notify.deliveries import Notifier
from mep.core.timers import Timers
from mep.location.engine import LocationEngine
from mep.location.index import SubscriptionIndex
from mep.location.queries import LocationQueries
from mep.location.records import SUBSCRIPTIONS, Links
from mep.location.subscriptions import LocationSubscriptions
from mep.network.port import NetworkSource


class Location:
    """Queries, subscriptions, and the engine that matches network changes against them."""

    def __init__(
        self,
        committer: Committer,
        notifier: Notifier,
        timers: Timers,
        network: NetworkSource,
        base_url: str,
    ) -> None:
        self.links = Links(base_url)
        self.index = SubscriptionIndex(committer.store)
        committer.watch(SUBSCRIPTIONS, self.index.on_commit)
        self.engine = LocationEngine(committer, notifier, self.index, self.links, network)
        self.engine.register(timers)
        self.queries = LocationQueries(self.links, network)
        self.subscriptions = LocationSubscriptions(committer, self.engine, self.links, network)

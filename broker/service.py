"""The broker's rules, free of HTTP: instances and bindings over one commit-then-run flow."""

from __future__ import annotations

import time
from collections.abc import Callable

from broker.bindings import Bindings
from broker.catalog import Catalog
from broker.flow import Flow
from broker.instances import Instances
from broker.operations import OperationRunner
from broker.repository import Repository


class Broker:
    def __init__(
        self,
        repo: Repository,
        catalog: Catalog,
        runner: OperationRunner,
        *,
        retry_after: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        flow = Flow(repo, catalog, runner, retry_after=retry_after, clock=clock)
        self.catalog = catalog
        self.instances = Instances(flow)
        self.bindings = Bindings(flow)

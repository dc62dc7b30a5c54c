"""What provision, update, deprovision, bind and unbind share: the commit-then-run flow.

Every mutation first commits the resource with an operation ``in progress`` (at the version it
read, so two racing requests cannot both start one), then hands it to the
:class:`~broker.operations.OperationRunner`: awaited for a synchronous request, in the
background for a 202. A 4xx is decided before anything is written, so it leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from broker import errors
from broker.catalog import Catalog, Entry
from broker.operations import OperationRunner
from broker.records import (
    BindingRecord,
    InstanceRecord,
    Lifecycle,
    Operation,
    OpKind,
    OpState,
    new_operation_id,
)
from broker.repository import Repository, Target
from broker.requests import Answer, Caller, LastOperation, Outcome
from mep.core.optimistic import optimistically

#: A read-decide-commit step: an answer decided without writing (a re-send, a no-op), or the
#: operation it committed.
Attempt = Callable[[], Awaitable[Answer | Operation]]


class Flow:
    def __init__(
        self,
        repo: Repository,
        catalog: Catalog,
        runner: OperationRunner,
        *,
        retry_after: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.catalog = catalog
        self._runner = runner
        self._retry_after = retry_after
        self.clock = clock

    def entry(self, service_id: str, plan_id: str) -> Entry:
        """The catalog's plan, or a 400 naming the unknown id."""
        if self.catalog.offering(service_id) is None:
            raise errors.bad_request(f"service_id {service_id!r} is not in the catalog")
        entry = self.catalog.entry(service_id, plan_id)
        if entry is None:
            raise errors.bad_request(f"plan_id {plan_id!r} is not a plan of service {service_id!r}")
        return entry

    @staticmethod
    def check_maintenance(entry: Entry, asked: str | None) -> None:
        if asked is not None and asked != entry.plan.maintenance_version:
            raise errors.maintenance_info_conflict(entry.plan.maintenance_version, asked)

    def operation(self, kind: OpKind, caller: Caller, **extra: Any) -> Operation:
        """A new operation owned (and leased) by this replica."""
        return Operation(
            id=new_operation_id(kind),
            kind=kind,
            owner=self._runner.owner,
            lease_until=self._runner.lease_until(),
            audit=caller.audit,
            started=self.clock(),
            **extra,
        )

    @staticmethod
    def resent(record: InstanceRecord | BindingRecord, asked: str) -> Answer:
        """The answer to a PUT of something that exists: 409 when it asks for something else,
        else 202 with the same operation while it is being made, 200 once made."""
        if record.fingerprint != asked:
            what = "binding" if isinstance(record, BindingRecord) else "service instance"
            raise errors.conflict(f"a {what} with this id exists with different attributes")
        if record.state is Lifecycle.CREATING:
            op = record.in_flight
            return Answer(Outcome.ACCEPTED, op.id if op else None)
        if record.state is Lifecycle.DELETING:
            raise errors.concurrency_error()
        return Answer(Outcome.EXISTS, None, record if isinstance(record, BindingRecord) else None)

    async def begin_delete(
        self,
        record: InstanceRecord | BindingRecord,
        version: int,
        kind: OpKind,
        caller: Caller,
        *,
        busy: tuple[Lifecycle, ...],
    ) -> Answer | Operation:
        """Start deleting ``record``: a re-sent DELETE gets the running operation (202), one
        during another operation (``busy`` states) is a ConcurrencyError."""
        if record.state is Lifecycle.DELETING:
            running = record.in_flight
            return Answer(Outcome.ACCEPTED, running.id if running else None)
        if record.state in busy:
            raise errors.concurrency_error()
        op = self.operation(kind, caller, target={"from": record.state.value})
        record.state = Lifecycle.DELETING
        record.begin(op)
        await self.repo.commit([self.repo.put(record, version)])
        return op

    async def run(
        self,
        target: Target,
        attempt: Attempt,
        caller: Caller,
        *,
        done: Outcome,
        synchronous: bool = True,
    ) -> Answer:
        """Commit ``attempt``, then run its operation: in the background when the platform
        accepts a 202 (or the plan cannot answer in time), else waited for, answering ``done``
        when it succeeded and raising when it failed (the platform then cleans up with a
        DELETE, which answers 410 or 200)."""
        started = await optimistically(
            attempt, what="the resource", exhausted=errors.concurrency_error
        )
        if isinstance(started, Answer):
            return started
        if caller.accepts_incomplete or not synchronous:
            self._runner.start(target)
            return Answer(Outcome.ACCEPTED, started.id)
        await self._runner.run(target)
        found = await self.repo.load(target)
        finished = found.record.operation(started.id) if found else None
        if finished is None or finished.id != started.id or finished.state is OpState.IN_PROGRESS:
            return Answer(Outcome.ACCEPTED, started.id)
        if finished.state is OpState.FAILED:
            raise errors.OsbError(502, finished.description, error="BackendError")
        binding = found.record if found and isinstance(found.record, BindingRecord) else None
        return Answer(done, started.id, binding)

    def last_operation(
        self, record: InstanceRecord | BindingRecord | None, op_id: str | None, delete: OpKind
    ) -> LastOperation:
        if record is None:
            raise errors.not_found("no such resource")
        op = record.operation(op_id)
        if op is None:
            raise errors.not_found("no operation on this resource")
        if record.state is Lifecycle.GONE and (op.kind is delete or op is record.current):
            raise errors.gone()  # the platform reads 410 after a delete as success
        retry = self._retry_after if op.state is OpState.IN_PROGRESS else None
        return LastOperation(op.state, op.description, op.kind, retry)

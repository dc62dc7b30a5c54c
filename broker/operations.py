"""Runs provision, update, deprovision, bind and unbind against the providers, durably.

A handler first commits the resource with an operation ``in progress`` owned by this replica,
then hands it here: to await (a synchronous request) or to run in the background (202). Either
way the work runs in a task of its own, so a platform that hangs up does not cut it short.

Crash safety rests on three things: the operation is in the store before any backend work starts;
every provider step is idempotent and names its backend objects after the OSB ids; and a sweeper
resumes operations whose owner's lease lapsed, or that this replica owned before it restarted.
A creation that fails is undone (deprovision / unbind of whatever was made) before it is reported
``failed``, so a failed provision or bind leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from broker.catalog import Catalog, Entry
from broker.records import (
    TOMBSTONE_SECONDS,
    BindingRecord,
    InstanceRecord,
    Lifecycle,
    Operation,
    OpKind,
    OpState,
)
from broker.repository import Repository, Target
from broker.services.base import BackendError, BindingSpec, Credentials, InstanceSpec
from mep.core.store import Delete, Put, StoreError, VersionConflict

log = structlog.get_logger("broker.operations")

#: Times an operation is started (first run plus resumptions) before it is given up as failed:
#: an operation that crashes its replica every time must not crash every replica in turn.
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    description: str
    credentials: Credentials | None = None
    #: The backend did not answer in time: it may still carry out a statement it received.
    timed_out: bool = False


class OperationRunner:
    def __init__(
        self,
        repo: Repository,
        catalog: Catalog,
        *,
        owner: str,
        lease: float,
        timeout: float,
        reapply_every: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._catalog = catalog
        self.owner = owner
        self.lease = lease
        self._timeout = timeout
        self._clock = clock
        self._running: dict[Target, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._last_purge = 0.0
        self._reapply_every = reapply_every
        self._last_reapply = 0.0

    # -- entry points -----------------------------------------------------------------------

    def lease_until(self) -> float:
        return self._clock() + self.lease

    def start(self, target: Target) -> asyncio.Task[None]:
        """Run the target's operation in the background (idempotent while it runs)."""
        task = self._running.get(target)
        if task is None or task.done():
            task = asyncio.create_task(self._execute(target), name=f"osb-op {target}")
            self._running[target] = task
            task.add_done_callback(lambda t: self._forget(target, t))
        return task

    async def run(self, target: Target) -> None:
        """Run the target's operation and wait for it; a cancelled caller does not cancel it."""
        await asyncio.shield(self.start(target))

    def open(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="osb-op sweeper")

    async def close(self, within: float) -> None:
        """Let running operations finish for ``within`` seconds, then stop them. A stopped one
        stays ``in progress`` under this replica's name, and is resumed when it starts again."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        tasks = [t for t in self._running.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=within)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _forget(self, target: Target, task: asyncio.Task[None]) -> None:
        if self._running.get(target) is task:
            del self._running[target]
        if not task.cancelled() and task.exception() is not None:
            log.error("operation task failed", target=str(target), error=repr(task.exception()))

    # -- resuming ---------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Claim and resume operations left by a dead owner (or by this replica before a
        restart); purge old tombstones. Returns how many operations were resumed."""
        resumed = 0
        for target in await self._repo.in_flight():
            if target in self._running:
                continue
            if await self._claim(target):
                self.start(target)
                resumed += 1
        now = self._clock()
        if now - self._last_purge > 3600:
            self._last_purge = now
            await self._purge(now)
        if now - self._last_reapply > self._reapply_every:
            self._last_reapply = now
            await self.reapply_bindings()
        return resumed

    async def reapply_bindings(self) -> int:
        """Bind every live binding again on backends that may forget their users; how many.

        Binding is idempotent and converges on the stored password, so this restores what a
        backend restart lost and changes nothing otherwise."""
        services = {p.offering.id for p in self._catalog.providers if p.offering.reapply_bindings}
        if not services:
            return 0
        restored = 0
        for record in await self._repo.live_bindings(services):
            instance = await self._instance_spec(Target(record.instance_id, record.id), record)
            if isinstance(instance, Result):
                continue
            entry, spec = instance
            try:
                await asyncio.wait_for(
                    entry.provider.bind(spec, _binding_spec(record)), self._timeout
                )
                restored += 1
            except (BackendError, TimeoutError) as exc:
                log.warning(
                    "binding not re-applied", binding=record.id, error=str(exc) or "timeout"
                )
        return restored

    async def _sweep_forever(self) -> None:
        interval = max(0.5, min(self.lease / 2, 10.0))
        while True:
            try:
                await self.sweep()
            except (StoreError, VersionConflict) as exc:
                log.warning("operation sweep failed", error=str(exc))
            await asyncio.sleep(interval)

    async def _claim(self, target: Target) -> bool:
        found = await self._repo.load(target)
        if found is None or target in self._running:  # a handler started it meanwhile
            return False
        record, version = found.record, found.version
        op = record.in_flight
        if op is None:
            return False
        if op.owner != self.owner and op.lease_until > self._clock():
            return False
        op.owner = self.owner
        op.lease_until = self.lease_until()
        op.attempts += 1
        op.description = f"resumed after an interruption (attempt {op.attempts})"
        try:
            await self._repo.commit([self._repo.put(record, version)])
        except VersionConflict:
            return False  # another replica claimed it first
        log.info("operation resumed", target=str(target), operation=op.id, kind=op.kind)
        return True

    async def _purge(self, now: float) -> None:
        for collection, doc_id, version, deleted in await self._repo.tombstones():
            if deleted is not None and now - deleted > TOMBSTONE_SECONDS:
                with contextlib.suppress(VersionConflict):
                    await self._repo.commit([Delete(collection, doc_id, version)])

    # -- running one operation --------------------------------------------------------------

    async def _execute(self, target: Target) -> None:
        found = await self._repo.load(target)
        if found is None or found.record.in_flight is None:
            return
        op = found.record.in_flight
        renewing = asyncio.create_task(self._renew(target, op.id))
        try:
            if op.attempts > MAX_ATTEMPTS:
                result = Result(False, f"given up after {MAX_ATTEMPTS} interrupted attempts")
                result = await self._undo_creation(target, found.record, op, result)
            else:
                result = await self._perform(target, found.record, op)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        await self._finish(target, op.id, result)

    async def _perform(
        self, target: Target, record: InstanceRecord | BindingRecord, op: Operation
    ) -> Result:
        try:
            result = await asyncio.wait_for(self._step(target, record, op), self._timeout)
        except BackendError as exc:
            result = Result(False, str(exc))
        except TimeoutError:
            description = f"the backend did not finish within {self._timeout:g} s"
            result = Result(False, description, timed_out=True)
        if not result.ok:
            result = await self._undo_creation(target, record, op, result)
        log.info(
            "operation finished",
            target=str(target),
            operation=op.id,
            kind=op.kind,
            ok=result.ok,
            description=result.description,
            platform=op.audit.platform,
            identity=op.audit.identity,
            request_identity=op.audit.request_identity,
        )
        return result

    async def _step(
        self, target: Target, record: InstanceRecord | BindingRecord, op: Operation
    ) -> Result:
        instance = await self._instance_spec(target, record)
        if isinstance(instance, Result):
            return instance
        entry, spec = instance
        provider = entry.provider
        if op.kind is OpKind.PROVISION:
            await provider.provision(spec)
            return Result(True, "provisioned")
        if op.kind is OpKind.UPDATE:
            assert op.target is not None
            new_entry = self._catalog.entry(record.service_id, op.target["plan_id"])
            if new_entry is None:
                return Result(False, "the new plan is no longer offered")
            new_spec = InstanceSpec(spec.instance_id, new_entry.plan, op.target["parameters"])
            await provider.update(new_spec, spec)
            return Result(True, "updated")
        if op.kind is OpKind.DEPROVISION:
            await provider.deprovision(spec)
            return Result(True, "deprovisioned")
        assert isinstance(record, BindingRecord)
        binding = _binding_spec(record)
        if op.kind is OpKind.BIND:
            credentials = await provider.bind(spec, binding)
            return Result(True, "bound", credentials)
        await provider.unbind(spec, binding)
        return Result(True, "unbound")

    async def _instance_spec(
        self, target: Target, record: InstanceRecord | BindingRecord
    ) -> tuple[Entry, InstanceSpec] | Result:
        if isinstance(record, InstanceRecord):
            instance: InstanceRecord | None = record
        else:
            found = await self._repo.instance(target.instance_id)
            instance = found.record if found is not None else None
        if instance is None:
            return Result(False, "the service instance no longer exists")
        entry = self._catalog.entry(instance.service_id, instance.plan_id)
        if entry is None:
            return Result(False, "this service is not offered now (its backend is not configured)")
        return entry, InstanceSpec(instance.id, entry.plan, instance.parameters)

    async def _undo_creation(
        self, target: Target, record: InstanceRecord | BindingRecord, op: Operation, failed: Result
    ) -> Result:
        """After a failed provision or bind, remove whatever the attempt made."""
        if op.kind not in (OpKind.PROVISION, OpKind.BIND):
            return failed
        instance = await self._instance_spec(target, record)
        if isinstance(instance, Result):
            return failed
        entry, spec = instance
        undo = (
            entry.provider.unbind(spec, _binding_spec(record))
            if isinstance(record, BindingRecord)
            else entry.provider.deprovision(spec)
        )
        try:
            await asyncio.wait_for(undo, self._timeout)
        except (BackendError, TimeoutError) as exc:
            return Result(
                False,
                f"{failed.description}; removing what was made failed too ({exc or 'timeout'}): "
                "delete the resource to retry the clean-up",
            )
        if failed.timed_out:
            # A statement sent before the timeout may still be applied after the undo ran.
            return Result(
                False,
                f"{failed.description}; what it had made was removed, but the backend may still "
                "finish a step it received: delete the resource to be sure",
            )
        return Result(False, f"{failed.description}; nothing was left behind")

    async def _renew(self, target: Target, op_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            with contextlib.suppress(VersionConflict, StoreError):
                found = await self._repo.load(target)
                if found is None:
                    return
                op = found.record.in_flight
                if op is None or op.id != op_id or op.owner != self.owner:
                    return
                op.lease_until = self.lease_until()
                await self._repo.commit([self._repo.put(found.record, found.version)])

    async def _finish(self, target: Target, op_id: str, result: Result) -> None:
        for _ in range(20):
            found = await self._repo.load(target)
            if found is None:
                return
            record, version = found.record, found.version
            op = record.in_flight
            if op is None or op.id != op_id:
                return  # finished elsewhere (our lease lapsed and another replica took over)
            op.state = OpState.SUCCEEDED if result.ok else OpState.FAILED
            op.description = result.description
            if op.attempts > 1:
                op.description += f" (resumed after an interruption; attempt {op.attempts})"
            op.finished = self._clock()
            _transition(record, op, result, op.finished)
            extra: list[Put] = []
            if op.kind is OpKind.DEPROVISION and result.ok:
                extra = await self._bury_bindings(target.instance_id, op.finished)
            try:
                await self._repo.commit([self._repo.put(record, version), *extra])
                return
            except VersionConflict:
                continue
        log.error("operation result could not be stored", target=str(target), operation=op_id)

    async def _bury_bindings(self, instance_id: str, now: float) -> list[Put]:
        """Bindings of a deprovisioned instance are gone with it (their users were dropped)."""
        out: list[Put] = []
        for found in await self._repo.bindings_of(instance_id):
            if found.record.state is not Lifecycle.GONE:
                found.record.state = Lifecycle.GONE
                found.record.deleted = now
                found.record.credentials = None
                out.append(self._repo.put(found.record, found.version))
        return out


def _binding_spec(record: BindingRecord) -> BindingSpec:
    return BindingSpec(record.id, record.password, record.parameters, record.app_guid)


def _transition(
    record: InstanceRecord | BindingRecord, op: Operation, result: Result, now: float
) -> None:
    """The resource's state after its operation ended."""
    if op.kind in (OpKind.PROVISION, OpKind.BIND):
        record.state = Lifecycle.READY if result.ok else Lifecycle.FAILED
        if isinstance(record, BindingRecord) and result.credentials is not None:
            record.credentials = dict(result.credentials.values)
            record.endpoints = [e.to_json() for e in result.credentials.endpoints]
    elif op.kind is OpKind.UPDATE:
        record.state = Lifecycle.READY
        if result.ok and op.target is not None and isinstance(record, InstanceRecord):
            record.plan_id = op.target["plan_id"]
            record.parameters = op.target["parameters"]
            record.maintenance_version = op.target.get("maintenance_version")
            record.fingerprint = op.target["fingerprint"]
    elif result.ok:
        record.state = Lifecycle.GONE
        record.deleted = now
        if isinstance(record, BindingRecord):
            record.credentials = None
    else:
        # A failed delete leaves the resource as it was before (usable, or failed).
        before = (op.target or {}).get("from", Lifecycle.READY.value)
        record.state = Lifecycle(before)

"""The OSB rules, free of HTTP: idempotent re-sends, conflicts, concurrency, sync or async.

Every mutation first commits the resource with an operation ``in progress`` (at the version it
read, so two racing requests cannot both start one), then hands it to the
:class:`~broker.operations.OperationRunner`. A 4xx is decided before anything is written, so it
leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from broker import errors, parameters
from broker.catalog import Catalog, Entry
from broker.operations import OperationRunner
from broker.records import (
    Audit,
    BindingRecord,
    InstanceRecord,
    Lifecycle,
    Operation,
    OpKind,
    OpState,
    fingerprint,
    new_operation_id,
)
from broker.repository import Repository, Target
from broker.services.base import new_password
from mep.core.store import ABSENT, VersionConflict

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    accepts_incomplete: bool
    audit: Audit = field(default_factory=Audit)


@dataclass(frozen=True, slots=True)
class ProvisionRequest:
    service_id: str
    plan_id: str
    organization_guid: str
    space_guid: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    maintenance_version: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    service_id: str
    plan_id: str | None = None
    parameters: Mapping[str, Any] | None = None
    context: Mapping[str, Any] | None = None
    maintenance_version: str | None = None


@dataclass(frozen=True, slots=True)
class BindRequest:
    service_id: str | None
    plan_id: str | None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    app_guid: str | None = None
    bind_resource: Mapping[str, Any] = field(default_factory=dict)
    predecessor_binding_id: str | None = None


class Outcome(Enum):
    CREATED = "created"  # 201
    EXISTS = "exists"  # 200: identical re-send of something complete
    DONE = "done"  # 200: update or delete applied
    ACCEPTED = "accepted"  # 202 with an operation


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    operation: str | None = None
    binding: BindingRecord | None = None


@dataclass(frozen=True, slots=True)
class LastOperation:
    state: OpState
    description: str
    kind: OpKind
    retry_after: int | None = None


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Re-run a read-decide-commit ``attempt`` when another request committed in between; the
    re-read then sees that request's effect (an identical re-send becomes a 200 or 202)."""
    for _ in range(8):
        try:
            return await attempt()
        except VersionConflict:
            continue
    raise errors.concurrency_error()


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
        self._repo = repo
        self.catalog = catalog
        self._runner = runner
        self._retry_after = retry_after
        self._clock = clock

    # -- helpers ----------------------------------------------------------------------------

    def _entry(self, service_id: str, plan_id: str) -> Entry:
        if self.catalog.offering(service_id) is None:
            raise errors.bad_request(f"service_id {service_id!r} is not in the catalog")
        entry = self.catalog.entry(service_id, plan_id)
        if entry is None:
            raise errors.bad_request(f"plan_id {plan_id!r} is not a plan of service {service_id!r}")
        return entry

    @staticmethod
    def _check_maintenance(entry: Entry, asked: str | None) -> None:
        if asked is not None and asked != entry.plan.maintenance_version:
            raise errors.maintenance_info_conflict(entry.plan.maintenance_version, asked)

    def _operation(self, kind: OpKind, caller: Caller, **extra: Any) -> Operation:
        return Operation(
            id=new_operation_id(kind),
            kind=kind,
            owner=self._runner.owner,
            lease_until=self._runner.lease_until(),
            audit=caller.audit,
            started=self._clock(),
            **extra,
        )

    async def _launch(
        self, target: Target, op: Operation, caller: Caller, synchronous: bool
    ) -> Operation:
        """Start a committed operation; wait for it unless the platform accepts a 202."""
        if caller.accepts_incomplete or not synchronous:
            self._runner.start(target)
            return op
        await self._runner.run(target)
        return op

    # -- instances --------------------------------------------------------------------------

    async def provision(self, instance_id: str, req: ProvisionRequest, caller: Caller) -> Answer:
        entry = self._entry(req.service_id, req.plan_id)
        self._check_maintenance(entry, req.maintenance_version)
        parameters.check(req.parameters, entry.plan.provision_schema, "provision")
        if not entry.plan.synchronous and not caller.accepts_incomplete:
            raise errors.async_required()
        asked = fingerprint(
            service_id=req.service_id, plan_id=req.plan_id, parameters=dict(req.parameters)
        )

        async def attempt() -> Answer | Operation:
            found = await self._repo.instance(instance_id)
            expected = ABSENT
            if found is not None:
                record = found.record
                if record.state not in (Lifecycle.GONE, Lifecycle.FAILED):
                    return self._provision_resent(record, asked)
                expected = found.version  # a failed or deleted one is provisioned afresh
            op = self._operation(OpKind.PROVISION, caller)
            record = InstanceRecord(
                id=instance_id,
                state=Lifecycle.CREATING,
                fingerprint=asked,
                service_id=req.service_id,
                plan_id=req.plan_id,
                parameters=dict(req.parameters),
                context=dict(req.context),
                organization_guid=req.organization_guid,
                space_guid=req.space_guid,
                maintenance_version=entry.plan.maintenance_version,
                created=self._clock(),
            )
            record.begin(op)
            await self._repo.commit([self._repo.put(record, expected)])
            return op

        started = await _retrying(attempt)
        if isinstance(started, Answer):
            return started
        op = await self._launch(Target(instance_id), started, caller, entry.plan.synchronous)
        return await self._created_answer(Target(instance_id), op, caller)

    def _provision_resent(self, record: InstanceRecord, asked: str) -> Answer:
        if record.fingerprint != asked:
            raise errors.conflict(
                "a service instance with this id exists with different attributes"
            )
        if record.state is Lifecycle.CREATING:
            op = record.in_flight
            return Answer(Outcome.ACCEPTED, op.id if op else None)
        if record.state is Lifecycle.DELETING:
            raise errors.concurrency_error()
        return Answer(Outcome.EXISTS)

    async def _created_answer(self, target: Target, op: Operation, caller: Caller) -> Answer:
        """201 when a synchronous creation succeeded, 202 when it runs on; a failed synchronous
        one raises (the platform then cleans up with a DELETE, which answers 410 or 200)."""
        if caller.accepts_incomplete:
            return Answer(Outcome.ACCEPTED, op.id)
        if target.binding_id is None:
            found_i = await self._repo.instance(target.instance_id)
            done = found_i.record.operation(op.id) if found_i else None
            binding = None
        else:
            found_b = await self._repo.binding(target.instance_id, target.binding_id)
            done = found_b.record.operation(op.id) if found_b else None
            binding = found_b.record if found_b else None
        if done is None or done.id != op.id or done.state is OpState.IN_PROGRESS:
            return Answer(Outcome.ACCEPTED, op.id)
        if done.state is OpState.FAILED:
            raise errors.OsbError(502, done.description, error="BackendError")
        return Answer(Outcome.CREATED, op.id, binding)

    async def update(self, instance_id: str, req: UpdateRequest, caller: Caller) -> Answer:
        async def attempt() -> Answer | Operation:
            found = await self._repo.instance(instance_id)
            if found is None or found.record.state in (Lifecycle.GONE, Lifecycle.FAILED):
                raise errors.not_found(f"service instance {instance_id!r} does not exist")
            record = found.record
            if req.service_id != record.service_id:
                raise errors.bad_request(
                    f"service_id {req.service_id!r} is not the service of this instance"
                )
            plan_id = req.plan_id or record.plan_id
            entry = self._entry(record.service_id, plan_id)
            self._check_maintenance(entry, req.maintenance_version)
            if plan_id != record.plan_id and not entry.offering.plan_updateable:
                raise errors.unprocessable("this service does not support changing plans")
            new_params = {**record.parameters, **(req.parameters or {})}
            if req.parameters:
                parameters.check(req.parameters, entry.plan.update_schema, "update")
            target_fp = fingerprint(
                service_id=record.service_id, plan_id=plan_id, parameters=new_params
            )
            if record.state is Lifecycle.UPDATING:
                op = record.in_flight
                if op and op.target and op.target.get("fingerprint") == target_fp:
                    return Answer(Outcome.ACCEPTED, op.id)
                raise errors.concurrency_error()
            if record.state is not Lifecycle.READY:
                raise errors.concurrency_error()
            maintenance = req.maintenance_version or record.maintenance_version
            effective = target_fp != record.fingerprint or maintenance != record.maintenance_version
            if not effective:
                if req.context is not None and dict(req.context) != record.context:
                    record.context = dict(req.context)
                    await self._repo.commit([self._repo.put(record, found.version)])
                return Answer(Outcome.DONE)
            if not entry.plan.synchronous and not caller.accepts_incomplete:
                raise errors.async_required()
            op = self._operation(
                OpKind.UPDATE,
                caller,
                target={
                    "plan_id": plan_id,
                    "parameters": new_params,
                    "maintenance_version": maintenance,
                    "fingerprint": target_fp,
                },
            )
            record.state = Lifecycle.UPDATING
            if req.context is not None:
                record.context = dict(req.context)
            record.begin(op)
            await self._repo.commit([self._repo.put(record, found.version)])
            return op

        return await self._change(Target(instance_id), attempt, caller)

    async def _change(
        self,
        target: Target,
        attempt: Callable[[], Awaitable[Answer | Operation]],
        caller: Caller,
    ) -> Answer:
        """Run an update or delete ``attempt``; then its operation, waited for unless async."""
        started = await _retrying(attempt)
        if isinstance(started, Answer):
            return started
        await self._launch(target, started, caller, synchronous=True)
        return await self._changed_answer(target, started, caller)

    async def _begin_delete(
        self, record: InstanceRecord | BindingRecord, version: int, kind: OpKind, caller: Caller
    ) -> Operation:
        op = self._operation(kind, caller, target={"from": record.state.value})
        record.state = Lifecycle.DELETING
        record.begin(op)
        await self._repo.commit([self._repo.put(record, version)])
        return op

    async def _changed_answer(self, target: Target, op: Operation, caller: Caller) -> Answer:
        if caller.accepts_incomplete:
            return Answer(Outcome.ACCEPTED, op.id)
        found = await (
            self._repo.instance(target.instance_id)
            if target.binding_id is None
            else self._repo.binding(target.instance_id, target.binding_id)
        )
        done = found.record.operation(op.id) if found else None
        if done is None or done.id != op.id or done.state is OpState.IN_PROGRESS:
            return Answer(Outcome.ACCEPTED, op.id)
        if done.state is OpState.FAILED:
            raise errors.OsbError(502, done.description, error="BackendError")
        return Answer(Outcome.DONE, op.id)

    async def deprovision(
        self, instance_id: str, service_id: str, plan_id: str, caller: Caller
    ) -> Answer:
        async def attempt() -> Answer | Operation:
            found = await self._repo.instance(instance_id)
            if found is None or found.record.state is Lifecycle.GONE:
                raise errors.gone()
            record = found.record
            if service_id != record.service_id:
                raise errors.bad_request(f"service_id {service_id!r} is not this instance's")
            if record.state is Lifecycle.DELETING:
                op = record.in_flight
                return Answer(Outcome.ACCEPTED, op.id if op else None)
            if record.state in (Lifecycle.CREATING, Lifecycle.UPDATING):
                raise errors.concurrency_error()
            bindings = await self._repo.bindings_of(instance_id)
            if any(b.record.in_flight is not None for b in bindings):
                raise errors.concurrency_error()
            return await self._begin_delete(record, found.version, OpKind.DEPROVISION, caller)

        return await self._change(Target(instance_id), attempt, caller)

    async def fetch_instance(self, instance_id: str) -> InstanceRecord:
        found = await self._repo.instance(instance_id)
        if found is None or found.record.state not in (Lifecycle.READY, Lifecycle.UPDATING):
            raise errors.not_found(f"service instance {instance_id!r} does not exist")
        if found.record.state is Lifecycle.UPDATING:
            raise errors.concurrency_error()
        return found.record

    async def instance_last_operation(self, instance_id: str, op_id: str | None) -> LastOperation:
        found = await self._repo.instance(instance_id)
        return self._last_operation(found.record if found else None, op_id, OpKind.DEPROVISION)

    def _last_operation(
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

    # -- bindings ---------------------------------------------------------------------------

    async def bind(
        self, instance_id: str, binding_id: str, req: BindRequest, caller: Caller
    ) -> Answer:
        async def attempt() -> Answer | Operation:
            found_i = await self._repo.instance(instance_id)
            if found_i is None or found_i.record.state in (Lifecycle.GONE, Lifecycle.FAILED):
                raise errors.not_found(f"service instance {instance_id!r} does not exist")
            instance = found_i.record
            service_id = req.service_id or instance.service_id
            plan_id = req.plan_id or instance.plan_id
            if service_id != instance.service_id or plan_id != instance.plan_id:
                raise errors.bad_request(
                    "service_id and plan_id must be those of the service instance"
                )
            entry = self._entry(service_id, plan_id)
            if not entry.plan.bindable:
                raise errors.bad_request(f"plan {entry.plan.name!r} is not bindable")
            params, app_guid, bind_resource = (
                dict(req.parameters),
                req.app_guid or req.bind_resource.get("app_guid") or None,
                dict(req.bind_resource),
            )
            if req.predecessor_binding_id:
                predecessor = await self._predecessor(instance_id, req.predecessor_binding_id)
                if not entry.offering.binding_rotatable:
                    raise errors.bad_request("bindings of this plan cannot be rotated")
                params = predecessor.parameters
                app_guid = app_guid or predecessor.app_guid
                bind_resource = bind_resource or predecessor.bind_resource
            if entry.offering.requires_app and not app_guid:
                raise errors.requires_app()
            parameters.check(params, entry.plan.bind_schema, "binding")
            asked = fingerprint(
                service_id=service_id,
                plan_id=plan_id,
                parameters=params,
                app_guid=app_guid,
                predecessor=req.predecessor_binding_id,
            )
            found_b = await self._repo.binding(instance_id, binding_id)
            expected = ABSENT
            if found_b is not None:
                if found_b.record.state not in (Lifecycle.GONE, Lifecycle.FAILED):
                    return self._bind_resent(found_b.record, asked)
                expected = found_b.version
            if instance.state in (Lifecycle.CREATING, Lifecycle.DELETING):
                raise errors.concurrency_error()
            op = self._operation(OpKind.BIND, caller)
            binding = BindingRecord(
                id=binding_id,
                instance_id=instance_id,
                state=Lifecycle.CREATING,
                fingerprint=asked,
                service_id=service_id,
                plan_id=plan_id,
                parameters=params,
                context=dict(req.context),
                app_guid=app_guid,
                bind_resource=bind_resource,
                predecessor_binding_id=req.predecessor_binding_id,
                password=new_password(),
                created=self._clock(),
            )
            binding.begin(op)
            # The instance is re-written at the version read, so a deprovision that began
            # meanwhile makes this bind conflict rather than add a user to a dying instance.
            await self._repo.commit(
                [self._repo.put(binding, expected), self._repo.put(instance, found_i.version)]
            )
            return op

        started = await _retrying(attempt)
        if isinstance(started, Answer):
            return started
        target = Target(instance_id, binding_id)
        op = await self._launch(target, started, caller, synchronous=True)
        return await self._created_answer(target, op, caller)

    async def _predecessor(self, instance_id: str, binding_id: str) -> BindingRecord:
        found = await self._repo.binding(instance_id, binding_id)
        if found is None or found.record.state is not Lifecycle.READY:
            raise errors.bad_request(
                f"predecessor_binding_id {binding_id!r} is not a binding of this instance"
            )
        return found.record

    @staticmethod
    def _bind_resent(record: BindingRecord, asked: str) -> Answer:
        if record.fingerprint != asked:
            raise errors.conflict("a binding with this id exists with different attributes")
        if record.state is Lifecycle.CREATING:
            op = record.in_flight
            return Answer(Outcome.ACCEPTED, op.id if op else None)
        if record.state is Lifecycle.DELETING:
            raise errors.concurrency_error()
        return Answer(Outcome.EXISTS, None, record)

    async def unbind(
        self, instance_id: str, binding_id: str, service_id: str, plan_id: str, caller: Caller
    ) -> Answer:
        async def attempt() -> Answer | Operation:
            found = await self._repo.binding(instance_id, binding_id)
            if found is None or found.record.state is Lifecycle.GONE:
                raise errors.gone()
            record = found.record
            if service_id != record.service_id:
                raise errors.bad_request(f"service_id {service_id!r} is not this binding's")
            if record.state is Lifecycle.DELETING:
                op = record.in_flight
                return Answer(Outcome.ACCEPTED, op.id if op else None)
            if record.state is Lifecycle.CREATING:
                raise errors.concurrency_error()
            return await self._begin_delete(record, found.version, OpKind.UNBIND, caller)

        return await self._change(Target(instance_id, binding_id), attempt, caller)

    async def fetch_binding(self, instance_id: str, binding_id: str) -> BindingRecord:
        found = await self._repo.binding(instance_id, binding_id)
        if found is None or found.record.state is not Lifecycle.READY:
            raise errors.not_found(f"service binding {binding_id!r} does not exist")
        return found.record

    async def binding_last_operation(
        self, instance_id: str, binding_id: str, op_id: str | None
    ) -> LastOperation:
        found = await self._repo.binding(instance_id, binding_id)
        return self._last_operation(found.record if found else None, op_id, OpKind.UNBIND)

"""Service instances: provision, update, deprovision, fetch, last_operation."""

from __future__ import annotations

from broker import errors, parameters
from broker.flow import Flow
from broker.records import InstanceRecord, Lifecycle, Operation, OpKind, fingerprint
from broker.repository import Target
from broker.requests import Answer, Caller, LastOperation, Outcome, ProvisionRequest, UpdateRequest
from mep.core.store import ABSENT


class Instances:
    def __init__(self, flow: Flow) -> None:
        self._flow = flow
        self._repo = flow.repo

    async def provision(self, instance_id: str, req: ProvisionRequest, caller: Caller) -> Answer:
        flow = self._flow
        entry = flow.entry(req.service_id, req.plan_id)
        flow.check_maintenance(entry, req.maintenance_version)
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
                if found.record.state not in (Lifecycle.GONE, Lifecycle.FAILED):
                    return flow.resent(found.record, asked)
                expected = found.version  # a failed or deleted one is provisioned afresh
            op = flow.operation(OpKind.PROVISION, caller)
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
                created=flow.clock(),
            )
            record.begin(op)
            await self._repo.commit([self._repo.put(record, expected)])
            return op

        return await flow.run(
            Target(instance_id),
            attempt,
            caller,
            done=Outcome.CREATED,
            synchronous=entry.plan.synchronous,
        )

    async def update(self, instance_id: str, req: UpdateRequest, caller: Caller) -> Answer:
        flow = self._flow

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
            entry = flow.entry(record.service_id, plan_id)
            flow.check_maintenance(entry, req.maintenance_version)
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
            op = flow.operation(
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

        return await flow.run(Target(instance_id), attempt, caller, done=Outcome.DONE)

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
            if record.state is not Lifecycle.DELETING:
                bindings = await self._repo.bindings_of(instance_id)
                if any(b.record.in_flight is not None for b in bindings):
                    raise errors.concurrency_error()
            busy = (Lifecycle.CREATING, Lifecycle.UPDATING)
            return await self._flow.begin_delete(
                record, found.version, OpKind.DEPROVISION, caller, busy=busy
            )

        return await self._flow.run(Target(instance_id), attempt, caller, done=Outcome.DONE)

    async def fetch(self, instance_id: str) -> InstanceRecord:
        found = await self._repo.instance(instance_id)
        if found is None or found.record.state not in (Lifecycle.READY, Lifecycle.UPDATING):
            raise errors.not_found(f"service instance {instance_id!r} does not exist")
        if found.record.state is Lifecycle.UPDATING:
            raise errors.concurrency_error()
        return found.record

    async def last_operation(self, instance_id: str, op_id: str | None) -> LastOperation:
        found = await self._repo.instance(instance_id)
        record = found.record if found else None
        return self._flow.last_operation(record, op_id, OpKind.DEPROVISION)

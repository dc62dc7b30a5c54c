"""Service bindings: bind (and rotation), unbind, fetch, last_operation."""

from __future__ import annotations

from broker import errors, parameters
from broker.flow import Flow
from broker.records import BindingRecord, Lifecycle, Operation, OpKind, fingerprint
from broker.repository import Target
from broker.requests import Answer, BindRequest, Caller, LastOperation, Outcome
from broker.services.base import new_password
from mep.core.store import ABSENT


class Bindings:
    def __init__(self, flow: Flow) -> None:
        self._flow = flow
        self._repo = flow.repo

    async def bind(
        self, instance_id: str, binding_id: str, req: BindRequest, caller: Caller
    ) -> Answer:
        flow = self._flow

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
            entry = flow.entry(service_id, plan_id)
            if not entry.plan.bindable:
                raise errors.bad_request(f"plan {entry.plan.name!r} is not bindable")
            params = dict(req.parameters)
            app_guid = req.app_guid or req.bind_resource.get("app_guid") or None
            bind_resource = dict(req.bind_resource)
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
                    return flow.resent(found_b.record, asked)
                expected = found_b.version
            if instance.state in (Lifecycle.CREATING, Lifecycle.DELETING):
                raise errors.concurrency_error()
            op = flow.operation(OpKind.BIND, caller)
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
                created=flow.clock(),
            )
            binding.begin(op)
            # The instance is re-written at the version read, so a deprovision that began
            # meanwhile makes this bind conflict rather than add a user to a dying instance.
            await self._repo.commit(
                [self._repo.put(binding, expected), self._repo.put(instance, found_i.version)]
            )
            return op

        target = Target(instance_id, binding_id)
        return await flow.run(target, attempt, caller, done=Outcome.CREATED)

    async def _predecessor(self, instance_id: str, binding_id: str) -> BindingRecord:
        found = await self._repo.binding(instance_id, binding_id)
        if found is None or found.record.state is not Lifecycle.READY:
            raise errors.bad_request(
                f"predecessor_binding_id {binding_id!r} is not a binding of this instance"
            )
        return found.record

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
            return await self._flow.begin_delete(
                record, found.version, OpKind.UNBIND, caller, busy=(Lifecycle.CREATING,)
            )

        target = Target(instance_id, binding_id)
        return await self._flow.run(target, attempt, caller, done=Outcome.DONE)

    async def fetch(self, instance_id: str, binding_id: str) -> BindingRecord:
        found = await self._repo.binding(instance_id, binding_id)
        if found is None or found.record.state is not Lifecycle.READY:
            raise errors.not_found(f"service binding {binding_id!r} does not exist")
        return found.record

    async def last_operation(
        self, instance_id: str, binding_id: str, op_id: str | None
    ) -> LastOperation:
        found = await self._repo.binding(instance_id, binding_id)
        record = found.record if found else None
        return self._flow.last_operation(record, op_id, OpKind.UNBIND)

"""What the broker keeps per service instance and binding, and the operations run on them.

Each instance and binding is one store document holding its current state and its last few
operations (so ``last_operation?operation=<id>`` can answer about an older one). An operation in
progress names the replica that runs it and until when (its lease); a replica that dies leaves
the lease to lapse and another (or the same one, restarted) resumes the operation.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, Field

from mep.core.store import Put

INSTANCES = "osb_instances"
BINDINGS = "osb_bindings"

#: Operations kept per resource for ``last_operation``; terminal states stay at least 24 h
#: because the resource (or its tombstone) does.
KEPT_OPERATIONS = 8
#: How long a tombstone of a deleted resource answers 410 to polls before it is purged.
TOMBSTONE_SECONDS = 48 * 3600


class OpKind(StrEnum):
    PROVISION = "provision"
    UPDATE = "update"
    DEPROVISION = "deprovision"
    BIND = "bind"
    UNBIND = "unbind"


class OpState(StrEnum):
    IN_PROGRESS = "in progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Lifecycle(StrEnum):
    CREATING = "creating"  # provision or bind under way
    READY = "ready"
    UPDATING = "updating"
    DELETING = "deleting"  # deprovision or unbind under way
    FAILED = "failed"  # creation failed; what it made was removed
    GONE = "gone"  # deleted; kept as a tombstone for polls


class Audit(BaseModel):
    """Who asked, as the platform told us (``X-Broker-API-Originating-Identity``)."""

    platform: str | None = None
    identity: dict[str, Any] | None = None
    request_identity: str | None = None


class Operation(BaseModel):
    id: str
    kind: OpKind
    state: OpState = OpState.IN_PROGRESS
    description: str = ""
    started: float = Field(default_factory=time.time)
    finished: float | None = None
    owner: str = ""
    lease_until: float = 0.0
    attempts: int = 1
    audit: Audit = Field(default_factory=Audit)
    #: For an update: the plan, parameters and maintenance version being applied.
    target: dict[str, Any] | None = None


def new_operation_id(kind: OpKind) -> str:
    return f"{kind.value}-{secrets.token_hex(8)}"


def fingerprint(**attributes: Any) -> str:
    """A digest of what a request asked for, to tell an identical re-send from a different one."""
    canonical = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


class Resource(BaseModel):
    """What instances and bindings share: lifecycle, request fingerprint, operations."""

    id: str
    state: Lifecycle
    fingerprint: str
    service_id: str
    plan_id: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    operations: list[Operation] = Field(default_factory=list)
    created: float = Field(default_factory=time.time)
    deleted: float | None = None

    @property
    def current(self) -> Operation | None:
        return self.operations[-1] if self.operations else None

    @property
    def in_flight(self) -> Operation | None:
        op = self.current
        return op if op is not None and op.state is OpState.IN_PROGRESS else None

    def operation(self, op_id: str | None) -> Operation | None:
        """The named operation, else the latest: platforms also send ``operation=provision``
        or nothing at all."""
        if op_id:
            for op in reversed(self.operations):
                if op.id == op_id:
                    return op
        return self.current

    def begin(self, op: Operation) -> None:
        self.operations = [*self.operations[-(KEPT_OPERATIONS - 1) :], op]

    def base_indexes(self) -> dict[str, list[str]]:
        indexes: dict[str, list[str]] = {}
        if self.in_flight is not None:
            indexes["inflight"] = ["1"]
        if self.state is Lifecycle.GONE:
            indexes["tombstone"] = ["1"]
        return indexes


class InstanceRecord(Resource):
    organization_guid: str = ""
    space_guid: str = ""
    maintenance_version: str | None = None

    def put(self, expected_version: int | None) -> Put:
        return Put(
            INSTANCES,
            self.id,
            self.model_dump(mode="json"),
            expected_version=expected_version,
            indexes=self.base_indexes(),
        )


class BindingRecord(Resource):
    instance_id: str
    app_guid: str | None = None
    bind_resource: dict[str, Any] = Field(default_factory=dict)
    predecessor_binding_id: str | None = None
    #: Chosen before the first attempt so a retried or resumed bind gives the same credentials.
    password: str
    credentials: dict[str, str] | None = None
    endpoints: list[dict[str, Any]] = Field(default_factory=list)

    def put(self, expected_version: int | None) -> Put:
        indexes = self.base_indexes()
        indexes["instance"] = [self.instance_id]
        return Put(
            BINDINGS,
            binding_key(self.instance_id, self.id),
            self.model_dump(mode="json"),
            expected_version=expected_version,
            indexes=indexes,
        )


def binding_key(instance_id: str, binding_id: str) -> str:
    """Bindings are addressed under their instance: the same binding id under two instances is
    two bindings (the spec makes ids unique, but a broker need not trust that)."""
    return orjson.dumps([instance_id, binding_id]).decode()

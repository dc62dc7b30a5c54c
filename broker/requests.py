"""What the broker's rules take and give: the platform's requests and the answers, free of HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from broker.records import Audit, BindingRecord, OpKind, OpState


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

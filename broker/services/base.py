"""The Provider port: what the broker needs from one backing service (MySQL, Redis, RabbitMQ, ...).

The broker owns the OSB protocol (idempotency, async operations, persistence); a provider only
creates and removes real things. Every method is **idempotent** and must cope with half-made
state, because the broker re-runs an operation after a crash and runs the undo of a failed one:

- names of backend objects are derived from the OSB ids alone (:func:`backend_name`), so a
  retry or a clean-up finds what an earlier, interrupted attempt made without any stored state;
- ``provision`` of something that exists, ``deprovision`` or ``unbind`` of something absent,
  succeed;
- ``bind`` with the same binding id and password converges on the same user.

A provider raises :class:`BackendError` (with a message fit for a platform user) when the backend
refuses or cannot be reached; anything else is a bug.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class BackendError(Exception):
    """The backend refused or could not be reached; the message is shown to the platform user."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One plan of a service offering, as the catalog advertises it."""

    id: str
    name: str
    description: str
    #: JSON Schemas (draft-04 style objects) of the ``parameters`` accepted at each step.
    provision_schema: Mapping[str, Any] = field(default_factory=dict)
    update_schema: Mapping[str, Any] = field(default_factory=dict)
    bind_schema: Mapping[str, Any] = field(default_factory=dict)
    #: Plan-specific settings the provider reads (limits, quotas), never shown to platforms.
    settings: Mapping[str, Any] = field(default_factory=dict)
    free: bool = True
    bindable: bool = True
    #: ``False``: the work takes too long to answer within a platform's 60 s timeout, so the
    #: broker answers 422 AsyncRequired unless the platform accepts an asynchronous answer.
    synchronous: bool = True
    maintenance_version: str = "1.0.0"
    maintenance_description: str = ""
    display_name: str = ""
    bullets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Offering:
    """One service offering of the catalog."""

    id: str
    name: str
    description: str
    plans: tuple[Plan, ...]
    tags: tuple[str, ...] = ()
    display_name: str = ""
    long_description: str = ""
    provider_display_name: str = "MEP platform"
    documentation_url: str = ""
    plan_updateable: bool = True
    binding_rotatable: bool = True
    #: A binding must name an app (``bind_resource.app_guid``): 422 RequiresApp otherwise.
    requires_app: bool = False
    #: The backend may forget binding users (Redis keeps ACL users in memory unless it has an
    #: ACL file): the broker binds every live binding again at start and periodically.
    reapply_bindings: bool = False


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """What a provider needs to know about one service instance."""

    instance_id: str
    plan: Plan
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """One binding: its id, the parameters asked for, and the password chosen for it.

    The broker chooses the password before the first attempt and keeps it, so a retried or
    resumed bind converges on the same credentials.
    """

    binding_id: str
    password: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    app_guid: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    ports: tuple[str, ...]
    protocol: str = "tcp"

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "ports": list(self.ports), "protocol": self.protocol}


@dataclass(frozen=True, slots=True)
class Credentials:
    """A binding's credentials: flat, string-valued (each key becomes a Kubernetes Secret key)."""

    values: Mapping[str, str]
    endpoints: tuple[Endpoint, ...] = ()


class Provider(Protocol):
    """One backing service. See the module documentation for the idempotency rules."""

    @property
    def offering(self) -> Offering: ...

    async def open(self) -> None:
        """Connect; raise :class:`BackendError` when the backend does not answer."""
        ...

    async def close(self) -> None: ...

    async def provision(self, instance: InstanceSpec) -> None: ...

    async def update(self, instance: InstanceSpec, previous: InstanceSpec) -> None:
        """Apply a new plan and/or parameters; on failure nothing of the change remains."""
        ...

    async def deprovision(self, instance: InstanceSpec) -> None:
        """Remove the instance and every binding's user left in it."""
        ...

    async def bind(self, instance: InstanceSpec, binding: BindingSpec) -> Credentials: ...

    async def unbind(self, instance: InstanceSpec, binding: BindingSpec) -> None:
        """Remove the binding's user and cut its open sessions."""
        ...


def backend_name(prefix: str, osb_id: str, length: int = 24) -> str:
    """A backend object name derived from an OSB id: ``prefix`` + hex digest.

    OSB ids are any string; a digest keeps names short, of a safe alphabet (so they can never
    inject SQL or ACL syntax), and the same on every attempt.
    """
    return prefix + hashlib.sha256(osb_id.encode()).hexdigest()[:length]


def new_password() -> str:
    """A random password of URL-safe characters (no quoting needed in URIs)."""
    return secrets.token_urlsafe(24)


async def apply_or_restore(
    apply: Callable[[InstanceSpec], Awaitable[None]],
    instance: InstanceSpec,
    previous: InstanceSpec,
) -> None:
    """Apply ``instance``'s settings; when that fails part way, put ``previous``'s back as far
    as the backend lets us (DDL and admin APIs are not transactional) and raise the failure."""
    try:
        await apply(instance)
    except BackendError:
        with contextlib.suppress(BackendError):
            await apply(previous)
        raise

"""The RabbitMQ provider: an instance is a virtual host, a binding a user with permissions on it.

Everything goes through the management plugin's HTTP API, whose PUTs converge and whose DELETEs
answer 404 for what is already gone, so every step can simply be run again. Names come from the
OSB ids alone (:func:`backend_name`), so no state is stored:

* instance → vhost ``osb-<24 hex>``;
* binding → user ``osb-<10 hex of the instance>-<12 hex of the binding>``, so deprovision finds
  every user of an instance by listing the users.

Plans differ in the vhost limits RabbitMQ enforces (``max-connections``, ``max-queues``).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from broker.services.base import (
    BackendError,
    BindingSpec,
    Credentials,
    Endpoint,
    InstanceSpec,
    Offering,
    Plan,
    apply_or_restore,
    backend_name,
)

_SCHEMA = "http://json-schema.org/draft-04/schema#"
_LIMIT_SCHEMA: dict[str, Any] = {
    "$schema": _SCHEMA,
    "type": "object",
    "properties": {
        "max_queues": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "description": "How many queues the vhost may hold (the plan's default otherwise).",
        }
    },
    "additionalProperties": False,
}
_BIND_SCHEMA: dict[str, Any] = {
    "$schema": _SCHEMA,
    "type": "object",
    "properties": {
        "read_only": {
            "type": "boolean",
            "description": "Consume from existing queues only; no publishing, no declaring.",
        }
    },
    "additionalProperties": False,
}

#: The vhost limits a plan's settings may carry, by their RabbitMQ names.
_LIMITS = ("max-connections", "max-queues")


def _plan(plan_id: str, name: str, description: str, connections: int, queues: int) -> Plan:
    return Plan(
        id=plan_id,
        name=name,
        description=description,
        provision_schema=_LIMIT_SCHEMA,
        update_schema=_LIMIT_SCHEMA,
        bind_schema=_BIND_SCHEMA,
        settings={"max-connections": connections, "max-queues": queues},
        display_name=name.title(),
        bullets=(
            "Own virtual host on a shared server",
            f"Up to {connections} connections",
            f"Up to {queues} queues",
        ),
    )


OFFERING = Offering(
    id="8be5c942-33ba-4113-9064-080f95dc99ac",
    name="rabbitmq",
    description="A virtual host on a shared RabbitMQ server, with one user per binding.",
    display_name="RabbitMQ",
    long_description=(
        "Each instance is a virtual host of its own on the platform's RabbitMQ server, reached "
        "over AMQP 0-9-1; each binding gets its own user, allowed in that virtual host only."
    ),
    documentation_url="https://www.rabbitmq.com/docs/vhosts",
    tags=("rabbitmq", "amqp", "messaging", "queue"),
    plans=(
        _plan(
            "0d41bee3-7f63-4167-9950-3364f8d75347",
            "standard",
            "A virtual host for a few services exchanging messages.",
            connections=50,
            queues=100,
        ),
        _plan(
            "0bb04b85-b0d6-4a8a-8aee-20989d43eef3",
            "large",
            "A virtual host for many connections and queues.",
            connections=500,
            queues=1000,
        ),
    ),
)


def vhost_name(instance_id: str) -> str:
    return backend_name("osb-", instance_id)


def user_prefix(instance_id: str) -> str:
    """The start of the name of every user of an instance."""
    return backend_name("osb-", instance_id, 10) + "-"


def username(instance_id: str, binding_id: str) -> str:
    return user_prefix(instance_id) + hashlib.sha256(binding_id.encode()).hexdigest()[:12]


def _segment(name: str) -> str:
    """One path segment of the management API (a vhost may be ``/``, a connection name has
    spaces and ``>``)."""
    return quote(name, safe="")


def _limits(instance: InstanceSpec) -> dict[str, int]:
    limits = {name: int(instance.plan.settings[name]) for name in _LIMITS}
    if "max_queues" in instance.parameters:
        limits["max-queues"] = int(instance.parameters["max_queues"])
    return limits


def _port(url: URL, default: int) -> int:
    # yarl knows the default ports of http(s) only.
    return url.port if url.port is not None else default


class RabbitMQProvider:
    def __init__(self, amqp_url: str, management_url: str) -> None:
        amqp = URL(amqp_url)
        management = URL(management_url)
        self._amqp_scheme = amqp.scheme
        self._amqp_host = amqp.host or "localhost"
        self._amqp_port = _port(amqp, 5671 if amqp.scheme == "amqps" else 5672)
        self._admin = management.user or ""
        self._admin_password = management.password or ""
        # Without the credentials: they travel in the Authorization header only, never in a URL
        # that an exception or a log line could show.
        self._management = management.with_user(None).with_query(None).with_fragment(None)
        self._api = str(self._management.with_path(management.path.rstrip("/") + "/api"))
        self._session: aiohttp.ClientSession | None = None

    @property
    def offering(self) -> Offering:
        return OFFERING

    async def open(self) -> None:
        session = aiohttp.ClientSession(
            headers={"Authorization": aiohttp.encode_basic_auth(self._admin, self._admin_password)},
            timeout=aiohttp.ClientTimeout(total=20, connect=5),
        )
        self._session = session
        try:
            await self._call("GET", "/overview", "reach the management API")
        except BackendError:
            self._session = None
            await session.close()
            raise

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def provision(self, instance: InstanceSpec) -> None:
        vhost = _segment(vhost_name(instance.instance_id))
        await self._call("PUT", f"/vhosts/{vhost}", "create the vhost", body={})
        # The broker's own account may then inspect and empty the vhost, whoever created it.
        await self._call(
            "PUT",
            f"/permissions/{vhost}/{_segment(self._admin)}",
            "grant the broker access to the vhost",
            body={"configure": ".*", "write": ".*", "read": ".*"},
        )
        await self._apply_limits(instance)

    async def update(self, instance: InstanceSpec, previous: InstanceSpec) -> None:
        await apply_or_restore(self._apply_limits, instance, previous)

    async def deprovision(self, instance: InstanceSpec) -> None:
        prefix = user_prefix(instance.instance_id)
        users = await self._call("GET", "/users?columns=name", "list the users")
        for user in users:
            if user["name"].startswith(prefix):
                await self._remove_user(user["name"])
        # Deleting the vhost also deletes its queues and exchanges and closes its connections.
        await self._call(
            "DELETE",
            f"/vhosts/{_segment(vhost_name(instance.instance_id))}",
            "delete the vhost",
            missing_ok=True,
        )

    async def bind(self, instance: InstanceSpec, binding: BindingSpec) -> Credentials:
        vhost = vhost_name(instance.instance_id)
        user = username(instance.instance_id, binding.binding_id)
        # The `management` tag lets the user reach the HTTP API its credentials name
        # (`http_api_uri`); that API shows a management user only the vhosts it has rights on.
        await self._call(
            "PUT",
            f"/users/{_segment(user)}",
            "create the user",
            body={"password": binding.password, "tags": "management"},
        )
        if binding.parameters.get("read_only"):
            permissions = {"configure": "^$", "write": "^$", "read": ".*"}
        else:
            permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        await self._call(
            "PUT",
            f"/permissions/{_segment(vhost)}/{_segment(user)}",
            "grant the user access to the vhost",
            body=permissions,
        )
        return self._credentials(vhost, user, binding.password)

    async def unbind(self, instance: InstanceSpec, binding: BindingSpec) -> None:
        await self._remove_user(username(instance.instance_id, binding.binding_id))

    def _credentials(self, vhost: str, user: str, password: str) -> Credentials:
        amqp = URL.build(
            scheme=self._amqp_scheme,
            user=user,
            password=password,
            host=self._amqp_host,
            port=self._amqp_port,
            path="/" + _segment(vhost),
            encoded=False,
        )
        management_host = self._management.host or "localhost"
        management_port = _port(self._management, 80)
        http_api = self._management.with_user(user).with_password(password) / "api" / ""
        return Credentials(
            values={
                "uri": str(amqp),
                "host": self._amqp_host,
                "hostname": self._amqp_host,
                "port": str(self._amqp_port),
                "username": user,
                "password": password,
                "vhost": vhost,
                "http_api_uri": str(http_api),
            },
            endpoints=(
                Endpoint(self._amqp_host, (str(self._amqp_port),)),
                Endpoint(management_host, (str(management_port),)),
            ),
        )

    async def _remove_user(self, user: str) -> None:
        # The user goes first: once it is gone nobody can log in as it, so the connections
        # listed next are all there will be (a client reconnecting in between would otherwise
        # keep a session). RabbitMQ lists a user's connections after the user is deleted.
        await self._call("DELETE", f"/users/{_segment(user)}", "delete the user", missing_ok=True)
        # This listing reads the live connection registry; /api/connections lags by the
        # statistics interval (about 5 s) and would miss a connection just opened.
        connections = await self._call(
            "GET", f"/connections/username/{_segment(user)}", "list the user's connections"
        )
        for connection in connections:
            await self._call(
                "DELETE",
                f"/connections/{_segment(connection['name'])}",
                "close a connection of the user",
                missing_ok=True,
                headers={"X-Reason": "service binding removed"},
            )

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: dict[str, Any] | None = None,
        missing_ok: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One management API request; its JSON answer, or ``None`` for an empty one (or a 404
        when ``missing_ok``). ``path`` is already quoted."""
        if self._session is None:
            raise RuntimeError("RabbitMQProvider used before open()")
        # Quoted already: yarl must not decode %2F back into a path separator.
        url = URL(self._api + path, encoded=True)
        try:
            async with self._session.request(method, url, json=body, headers=headers) as response:
                if response.status == 404 and missing_ok:
                    return None
                if response.status in (401, 403):
                    raise BackendError(
                        f"RabbitMQ: cannot {what}: the management API refused the broker's "
                        f"credentials (HTTP {response.status})"
                    )
                if response.status >= 400:
                    reason = await _reason(response)
                    raise BackendError(f"RabbitMQ: cannot {what} (HTTP {response.status}{reason})")
                if response.status == 204 or method != "GET":
                    return None
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception's own text may name the URL; its kind is enough to tell the cause.
            raise BackendError(
                f"RabbitMQ: cannot {what}: no answer from the management API ({type(exc).__name__})"
            ) from exc

    async def _apply_limits(self, instance: InstanceSpec) -> None:
        vhost = _segment(vhost_name(instance.instance_id))
        for name, value in _limits(instance).items():
            await self._call(
                "PUT",
                f"/vhost-limits/{vhost}/{name}",
                f"set the vhost's {name} limit",
                body={"value": value},
            )


async def _reason(response: aiohttp.ClientResponse) -> str:
    """The first line of the management API's ``reason``, if its answer has one."""
    try:
        answer = await response.json(content_type=None)
    except (aiohttp.ClientError, ValueError):
        return ""
    reason = answer.get("reason") if isinstance(answer, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        return ""
    return ": " + reason.strip().splitlines()[0][:200]

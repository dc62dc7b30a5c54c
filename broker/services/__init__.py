"""The backing services, and which of them this process offers (those whose backend is set)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from broker.services.base import (
    BackendError,
    BindingSpec,
    Credentials,
    InstanceSpec,
    Offering,
    Provider,
)
from broker.settings import BrokerSettings

log = structlog.get_logger("broker.services")

#: Seconds a backend gets to answer at start before the broker starts without it.
OPEN_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    provider: Provider | None
    reason: str


def configured(settings: BrokerSettings) -> list[Choice]:
    """Each known service: its provider when its backend is configured, else why it is off."""
    from broker.services.mysql import MySQLProvider
    from broker.services.rabbitmq import RabbitMQProvider
    from broker.services.redis import RedisProvider

    out: list[Choice] = []
    if settings.mysql_url:
        out.append(Choice("mysql", MySQLProvider(settings.mysql_url.get_secret_value()), "on"))
    else:
        out.append(Choice("mysql", None, "off: OSB_MYSQL_URL is not set"))
    if settings.redis_url:
        out.append(Choice("redis", RedisProvider(settings.redis_url.get_secret_value()), "on"))
    else:
        out.append(Choice("redis", None, "off: OSB_REDIS_URL is not set"))
    if settings.rabbitmq_url and settings.rabbitmq_management_url:
        provider = RabbitMQProvider(
            settings.rabbitmq_url.get_secret_value(),
            settings.rabbitmq_management_url.get_secret_value(),
        )
        out.append(Choice("rabbitmq", provider, "on"))
    else:
        missing = [
            name
            for name, value in (
                ("OSB_RABBITMQ_URL", settings.rabbitmq_url),
                ("OSB_RABBITMQ_MANAGEMENT_URL", settings.rabbitmq_management_url),
            )
            if not value
        ]
        out.append(Choice("rabbitmq", None, f"off: {' and '.join(missing)} not set"))
    return out


class Connecting:
    """A provider that connects on first use and again after a failed connect: a backend that
    is down when the broker starts is offered anyway, and works once it answers."""

    def __init__(self, inner: Provider) -> None:
        self._inner = inner
        self._opened = False
        self._lock = asyncio.Lock()

    @property
    def offering(self) -> Offering:
        return self._inner.offering

    async def open(self) -> None:
        async with self._lock:
            if not self._opened:
                await self._inner.open()
                self._opened = True

    async def close(self) -> None:
        async with self._lock:
            if self._opened:
                self._opened = False
                await self._inner.close()

    async def provision(self, instance: InstanceSpec) -> None:
        await self.open()
        await self._inner.provision(instance)

    async def update(self, instance: InstanceSpec, previous: InstanceSpec) -> None:
        await self.open()
        await self._inner.update(instance, previous)

    async def deprovision(self, instance: InstanceSpec) -> None:
        await self.open()
        await self._inner.deprovision(instance)

    async def bind(self, instance: InstanceSpec, binding: BindingSpec) -> Credentials:
        await self.open()
        return await self._inner.bind(instance, binding)

    async def unbind(self, instance: InstanceSpec, binding: BindingSpec) -> None:
        await self.open()
        await self._inner.unbind(instance, binding)


async def start(choices: list[Choice]) -> list[Provider]:
    """Connect the configured providers, logging which services are offered and why not."""
    providers: list[Provider] = []
    for choice in choices:
        if choice.provider is None:
            log.info("broker service off", service=choice.name, reason=choice.reason)
            continue
        provider = Connecting(choice.provider)
        try:
            # A backend that accepts connections but never answers must not hold up the start.
            async with asyncio.timeout(OPEN_TIMEOUT):
                await provider.open()
            log.info("broker service on", service=choice.name)
        except (BackendError, TimeoutError) as exc:
            log.warning(
                "broker service on, backend not answering yet",
                service=choice.name,
                error=str(exc) or f"no answer within {OPEN_TIMEOUT:g} s",
            )
        providers.append(provider)
    return providers

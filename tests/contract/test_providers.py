"""One contract for every backing-service Provider, run against the real local servers.

What a platform user relies on: a binding's credentials really work inside their instance and
nowhere else, unbinding revokes them, deprovisioning leaves nothing behind, and every step can be
repeated (the broker re-runs operations after a crash and undoes failed ones).
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator

import pytest
from fixtures.providers import Harness

from broker.services.base import BindingSpec, InstanceSpec, new_password

pytestmark = pytest.mark.integration

BACKENDS = ["mysql", "redis", "rabbitmq"]


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    module = importlib.import_module(f"fixtures.providers.{request.param}")
    opened: Harness = await module.open_harness()
    await opened.provider.open()
    try:
        yield opened
    finally:
        await opened.provider.close()
        await opened.close()


def new_instance(harness: Harness, parameters: dict[str, object] | None = None) -> InstanceSpec:
    plan = harness.provider.offering.plans[0]
    return InstanceSpec(f"inst-{secrets.token_hex(6)}", plan, parameters or {})


def new_binding(parameters: dict[str, object] | None = None) -> BindingSpec:
    return BindingSpec(f"bind-{secrets.token_hex(6)}", new_password(), parameters or {})


async def test_credentials_work_inside_and_nowhere_else(harness: Harness) -> None:
    provider = harness.provider
    instance = new_instance(harness)
    await provider.provision(instance)
    try:
        binding = new_binding()
        credentials = await provider.bind(instance, binding)
        assert all(isinstance(v, str) for v in credentials.values.values())
        for key in ("uri", "host", "hostname", "port", "username", "password"):
            assert credentials.values.get(key), key
        assert credentials.endpoints
        await harness.use(credentials)
        assert await harness.refused_outside(credentials)
        await provider.unbind(instance, binding)
        assert await harness.refused(credentials)
        assert await harness.users(instance) == []
    finally:
        await provider.deprovision(instance)
    assert not await harness.exists(instance)


async def test_each_binding_has_its_own_user_and_unbind_revokes_only_it(harness: Harness) -> None:
    provider = harness.provider
    instance = new_instance(harness)
    await provider.provision(instance)
    try:
        first, second = new_binding(), new_binding()
        creds1 = await provider.bind(instance, first)
        creds2 = await provider.bind(instance, second)
        assert creds1.values["username"] != creds2.values["username"]
        assert creds1.values["password"] != creds2.values["password"]
        await provider.unbind(instance, first)
        assert await harness.refused(creds1)
        await harness.use(creds2)  # the other consumer keeps working
    finally:
        await provider.deprovision(instance)


async def test_deprovision_removes_users_left_bound(harness: Harness) -> None:
    provider = harness.provider
    instance = new_instance(harness)
    await provider.provision(instance)
    credentials = await provider.bind(instance, new_binding())
    await harness.use(credentials)
    await provider.deprovision(instance)
    assert not await harness.exists(instance)
    assert await harness.users(instance) == []
    assert await harness.refused(credentials)


async def test_every_step_can_be_repeated(harness: Harness) -> None:
    provider = harness.provider
    instance = new_instance(harness)
    await provider.provision(instance)
    await provider.provision(instance)
    binding = new_binding()
    creds_a = await provider.bind(instance, binding)
    creds_b = await provider.bind(instance, binding)
    assert creds_a == creds_b
    await harness.use(creds_b)
    await provider.unbind(instance, binding)
    await provider.unbind(instance, binding)
    await provider.deprovision(instance)
    await provider.deprovision(instance)
    assert not await harness.exists(instance)


async def test_removing_what_was_never_made_succeeds(harness: Harness) -> None:
    provider = harness.provider
    instance = new_instance(harness)
    await provider.unbind(instance, new_binding())
    await provider.deprovision(instance)
    assert not await harness.exists(instance)


async def test_hostile_ids_are_harmless(harness: Harness) -> None:
    provider = harness.provider
    plan = provider.offering.plans[0]
    instance = InstanceSpec("x`; DROP DATABASE mysql; -- ' \" \\ ~* &* %2F/", plan, {})
    await provider.provision(instance)
    try:
        binding = BindingSpec("' OR 1=1; ACL SETUSER default off; --", new_password(), {})
        credentials = await provider.bind(instance, binding)
        await harness.use(credentials)
        assert await harness.refused_outside(credentials)
    finally:
        await provider.deprovision(instance)
    assert not await harness.exists(instance)

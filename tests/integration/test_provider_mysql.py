"""What the MySQL provider does beyond the shared Provider contract, on the local MariaDB."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiomysql
import jsonschema
import pytest
from fixtures.providers.mysql import (
    ER_TABLEACCESS_DENIED,
    MySQLHarness,
    connect,
    error_code,
    open_harness,
    query,
    refuses,
)

from broker.services.base import BackendError, BindingSpec, InstanceSpec, Plan, new_password
from broker.services.mysql import OFFERING, MySQLProvider, database_name, user_name

pytestmark = pytest.mark.integration

ER_USER_LIMIT_REACHED = 1226

SMALL, MEDIUM = OFFERING.plans


@pytest.fixture
async def harness() -> AsyncIterator[MySQLHarness]:
    opened = await open_harness()
    await opened.provider.open()
    try:
        yield opened
    finally:
        await opened.provider.close()
        await opened.close()


@pytest.fixture
async def instances(harness: MySQLHarness) -> AsyncIterator[list[InstanceSpec]]:
    """Instances a test provisions; deprovisioned after it."""
    made: list[InstanceSpec] = []
    yield made
    for instance in made:
        await harness.provider.deprovision(instance)


async def provision(
    harness: MySQLHarness,
    instances: list[InstanceSpec],
    plan: Plan = SMALL,
    **parameters: Any,
) -> InstanceSpec:
    instance = InstanceSpec(f"inst-{secrets.token_hex(6)}", plan, parameters)
    instances.append(instance)
    await harness.provider.provision(instance)
    return instance


def binding(**parameters: Any) -> BindingSpec:
    return BindingSpec(f"bind-{secrets.token_hex(6)}", new_password(), parameters)


async def schema_of(harness: MySQLHarness, instance: InstanceSpec) -> tuple[str, str]:
    """The database's default character set and collation."""
    [row] = await query(
        harness.root,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME"
        " FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        database_name(instance.instance_id),
    )
    return row[0], row[1]


async def test_read_only_binding_reads_but_cannot_write(
    harness: MySQLHarness, instances: list[InstanceSpec]
) -> None:
    instance = await provision(harness, instances)
    writer = await harness.provider.bind(instance, binding())
    reader = await harness.provider.bind(instance, binding(read_only=True))
    await harness.use(writer)  # makes the table `contract` with one row
    conn = await connect(reader)
    try:
        assert len(await query(conn, "SELECT v FROM contract")) == 1
        with pytest.raises(aiomysql.MySQLError) as refused:
            await query(conn, "INSERT INTO contract (v) VALUES ('x')")
        assert error_code(refused.value) == ER_TABLEACCESS_DENIED
        assert await refuses(conn, "CREATE TABLE other (v INT)")
    finally:
        conn.close()


async def test_charset_and_collation_are_applied(
    harness: MySQLHarness, instances: list[InstanceSpec]
) -> None:
    chosen = await provision(harness, instances, charset="latin1", collation="latin1_bin")
    assert await schema_of(harness, chosen) == ("latin1", "latin1_bin")
    default = await provision(harness, instances)
    assert (await schema_of(harness, default))[0] == "utf8mb4"


@pytest.mark.parametrize(
    "parameters",
    [{"charset": "utf16"}, {"collation": "latin1_bin; DROP DATABASE mysql"}, {"collation": 7}],
)
async def test_unsafe_parameters_are_refused_before_sql(
    harness: MySQLHarness, parameters: dict[str, Any]
) -> None:
    instance = InstanceSpec(f"inst-{secrets.token_hex(6)}", SMALL, parameters)
    with pytest.raises(BackendError):
        await harness.provider.provision(instance)
    assert not await harness.exists(instance)


async def test_a_collation_unfit_for_the_charset_is_a_backend_error(
    harness: MySQLHarness,
) -> None:
    instance = InstanceSpec(
        f"inst-{secrets.token_hex(6)}", SMALL, {"charset": "latin1", "collation": "utf8mb4_bin"}
    )
    with pytest.raises(BackendError, match=r"^MySQL: .*utf8mb4_bin"):
        await harness.provider.provision(instance)
    assert not await harness.exists(instance)


async def test_connection_limit_of_the_plan_is_enforced(
    harness: MySQLHarness, instances: list[InstanceSpec]
) -> None:
    tiny = dataclasses.replace(SMALL, settings={"max_user_connections": 2})
    instance = await provision(harness, instances, plan=tiny)
    credentials = await harness.provider.bind(instance, binding())
    opened = [await connect(credentials), await connect(credentials)]
    try:
        with pytest.raises(aiomysql.OperationalError) as refused:
            opened.append(await connect(credentials))
        assert error_code(refused.value) == ER_USER_LIMIT_REACHED
    finally:
        for conn in opened:
            conn.close()


async def test_unbind_cuts_open_sessions(
    harness: MySQLHarness, instances: list[InstanceSpec]
) -> None:
    instance = await provision(harness, instances)
    spec = binding()
    credentials = await harness.provider.bind(instance, spec)
    conn = await connect(credentials)
    try:
        assert await query(conn, "SELECT 1") == [(1,)]
        await harness.provider.unbind(instance, spec)
        with pytest.raises(aiomysql.MySQLError):
            await query(conn, "SELECT 1")
    finally:
        conn.close()


async def test_deprovision_cuts_open_sessions(harness: MySQLHarness) -> None:
    instance = InstanceSpec(f"inst-{secrets.token_hex(6)}", SMALL, {})
    await harness.provider.provision(instance)
    conn = await connect(await harness.provider.bind(instance, binding()))
    try:
        await harness.provider.deprovision(instance)
        with pytest.raises(aiomysql.MySQLError):
            await query(conn, "SELECT 1")
    finally:
        conn.close()


async def test_update_changes_collation_and_connection_limit(
    harness: MySQLHarness, instances: list[InstanceSpec]
) -> None:
    before = await provision(harness, instances, collation="utf8mb4_general_ci")
    spec = binding()
    await harness.provider.bind(before, spec)
    after = dataclasses.replace(before, plan=MEDIUM, parameters={"collation": "utf8mb4_bin"})
    await harness.provider.update(after, before)
    assert await schema_of(harness, after) == ("utf8mb4", "utf8mb4_bin")
    rows = await query(
        harness.root,
        "SELECT max_user_connections FROM mysql.user WHERE User = %s",
        user_name(before.instance_id, spec.binding_id),
    )
    assert rows == [(MEDIUM.settings["max_user_connections"],)]


async def test_failed_update_changes_nothing(
    harness: MySQLHarness, instances: list[InstanceSpec]
) -> None:
    before = await provision(harness, instances, charset="latin1")
    after = dataclasses.replace(before, parameters={"charset": "ascii", "collation": "latin1_bin"})
    with pytest.raises(BackendError):
        await harness.provider.update(after, before)
    assert await schema_of(harness, before) == ("latin1", "latin1_swedish_ci")


async def test_grant_does_not_reach_databases_matching_the_name_as_a_pattern(
    harness: MySQLHarness, instances: list[InstanceSpec]
) -> None:
    instance = await provision(harness, instances)
    credentials = await harness.provider.bind(instance, binding())
    # `_` is a wildcard in GRANT: `osb_...` unescaped would also match `osbX...`.
    lookalike = database_name(instance.instance_id).replace("_", "X", 1)
    await query(harness.root, f"CREATE DATABASE `{lookalike}`")
    conn = await connect(credentials)
    try:
        assert await refuses(conn, f"CREATE TABLE `{lookalike}`.t (v INT)")
    finally:
        conn.close()
        await query(harness.root, f"DROP DATABASE `{lookalike}`")


async def test_open_fails_when_the_server_does_not_answer() -> None:
    provider = MySQLProvider("mysql://root@127.0.0.1:1")
    with pytest.raises(BackendError, match=r"^MySQL: "):
        await provider.open()


def test_parameter_schemas_are_valid_and_strict() -> None:
    for plan in OFFERING.plans:
        for schema in (plan.provision_schema, plan.update_schema, plan.bind_schema):
            jsonschema.Draft4Validator.check_schema(schema)
        provision_params = jsonschema.Draft4Validator(plan.provision_schema)
        assert provision_params.is_valid({"charset": "utf8mb4", "collation": "utf8mb4_bin"})
        assert not provision_params.is_valid({"charset": "utf16"})
        assert not provision_params.is_valid({"collation": "x'; --"})
        assert not provision_params.is_valid({"extra": 1})
        bind_params = jsonschema.Draft4Validator(plan.bind_schema)
        assert bind_params.is_valid({"read_only": True})
        assert not bind_params.is_valid({"read_only": "yes"})

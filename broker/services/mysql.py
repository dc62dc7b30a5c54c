"""The MySQL/MariaDB provider: an instance is a database, a binding a user with rights on it alone.

The broker's account needs, besides creating databases and users: ``SELECT`` on ``mysql.user``
(to find an instance's users), ``PROCESS`` and ``CONNECTION ADMIN``/``SUPER`` (to see and kill
their sessions) and every privilege it grants, ``WITH GRANT OPTION``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import aiomysql

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

# Catalog ids: platforms store them, so they must never change.
OFFERING_ID = "1c70c409-1945-48fe-991b-fc7bc3bd3ab3"
SMALL_PLAN_ID = "934fa4e7-2665-4d01-8851-12848e02af22"
MEDIUM_PLAN_ID = "decac225-2147-49b0-952d-2e55a12faf43"

CHARSETS = ("utf8mb4", "utf8mb3", "latin1", "ascii")
#: Used when a provision names neither charset nor collation, so the result does not depend on
#: the server's configuration.
DEFAULT_CHARSET = "utf8mb4"
COLLATION = re.compile(r"[a-z0-9_]{1,64}")

ER_NO_SUCH_THREAD = 1094  # KILL of a session that ended meanwhile

_SCHEMA = "http://json-schema.org/draft-04/schema#"
INSTANCE_SCHEMA: Mapping[str, Any] = {
    "$schema": _SCHEMA,
    "type": "object",
    "properties": {
        "charset": {
            "type": "string",
            "enum": list(CHARSETS),
            "description": f"Default character set of the database ({DEFAULT_CHARSET} if unset).",
        },
        "collation": {
            "type": "string",
            "pattern": "^[a-z0-9_]+$",
            "maxLength": 64,
            "description": "Default collation of the database; must suit the character set.",
        },
    },
    "additionalProperties": False,
}
BIND_SCHEMA: Mapping[str, Any] = {
    "$schema": _SCHEMA,
    "type": "object",
    "properties": {
        "read_only": {
            "type": "boolean",
            "default": False,
            "description": "Grant SELECT only instead of every right on the database.",
        },
    },
    "additionalProperties": False,
}


def _plan(plan_id: str, name: str, connections: int) -> Plan:
    return Plan(
        id=plan_id,
        name=name,
        description=f"A database; each binding may open {connections} connections.",
        provision_schema=INSTANCE_SCHEMA,
        update_schema=INSTANCE_SCHEMA,
        bind_schema=BIND_SCHEMA,
        settings={"max_user_connections": connections},
        display_name=name.capitalize(),
        bullets=("Dedicated database", f"{connections} connections per binding"),
    )


OFFERING = Offering(
    id=OFFERING_ID,
    name="mysql",
    description="A MySQL-compatible (MariaDB) database with one user per binding.",
    plans=(_plan(SMALL_PLAN_ID, "small", 10), _plan(MEDIUM_PLAN_ID, "medium", 50)),
    tags=("mysql", "mariadb", "sql", "relational"),
    display_name="MySQL",
    long_description=(
        "A database on the platform's MySQL-compatible server. Each binding gets its own user "
        "with rights on that database only (read-only on request); unbinding drops the user "
        "and cuts its open sessions."
    ),
)


def database_name(instance_id: str) -> str:
    return backend_name("osb_", instance_id)


def user_prefix(instance_id: str) -> str:
    """What the names of every user of an instance start with (hex: no LIKE wildcards)."""
    return backend_name("u", instance_id, 16)


def user_name(instance_id: str, binding_id: str) -> str:
    # 29 characters: within MySQL's limit of 32.
    return user_prefix(instance_id) + backend_name("", binding_id, 12)


class MySQLProvider:
    """Databases and users on one MySQL/MariaDB server, reached with an administrator's URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "mysql" or not parts.hostname:
            raise ValueError("expected mysql://user[:password]@host[:port]")
        self._host = parts.hostname
        self._port = parts.port or 3306
        self._user = unquote(parts.username or "")
        self._password = unquote(parts.password or "")
        self._pool: aiomysql.Pool | None = None

    @property
    def offering(self) -> Offering:
        return OFFERING

    async def open(self) -> None:
        try:
            # minsize=1 connects now, so a server that does not answer fails open().
            self._pool = await aiomysql.create_pool(
                host=self._host,
                port=self._port,
                user=self._user,
                password=self._password,
                charset="utf8mb4",
                autocommit=True,
                minsize=1,
                maxsize=4,
                connect_timeout=10,
                pool_recycle=3600,
                # IF [NOT] EXISTS on something that is (not) there is the norm here, not news:
                # without this aiomysql turns each such note into a Python warning.
                init_command="SET SESSION sql_notes = 0",
            )
        except (aiomysql.MySQLError, OSError) as exc:
            raise _backend_error(exc) from exc

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    async def provision(self, instance: InstanceSpec) -> None:
        options, args = _database_options(instance.parameters)
        async with self._session() as db:
            name = database_name(instance.instance_id)
            await db.run(f"CREATE DATABASE IF NOT EXISTS `{name}`{options}", *args)

    async def update(self, instance: InstanceSpec, previous: InstanceSpec) -> None:
        """Set the database's defaults (for tables made from now on) and the users' limit."""
        await apply_or_restore(self._apply, instance, previous)

    async def deprovision(self, instance: InstanceSpec) -> None:
        pattern = user_prefix(instance.instance_id) + "%"
        async with self._session() as db:
            # Users before the database, so an interrupted deprovision never orphans a user.
            for user, host in await db.run(
                "SELECT User, Host FROM mysql.user WHERE User LIKE %s", pattern
            ):
                await db.run("DROP USER IF EXISTS %s@%s", user, host)
            await db.kill_sessions(pattern)
            await db.run(f"DROP DATABASE IF EXISTS `{database_name(instance.instance_id)}`")

    async def bind(self, instance: InstanceSpec, binding: BindingSpec) -> Credentials:
        read_only = binding.parameters.get("read_only", False)
        if not isinstance(read_only, bool):
            raise BackendError("MySQL: read_only must be true or false")
        limit = _connection_limit(instance.plan)
        database = database_name(instance.instance_id)
        user = user_name(instance.instance_id, binding.binding_id)
        rights = "SELECT, SHOW VIEW" if read_only else "ALL PRIVILEGES"
        # In GRANT, `_` in a database name is a wildcard: escape it so the user gets this one
        # database, not every name matching it.
        pattern = database.replace("_", r"\_")
        async with self._session() as db:
            # The password from the start: the user never exists, even briefly, without it.
            await db.run(
                "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS %s",
                user,
                binding.password,
                limit,
            )
            # A retried bind finds the user an earlier attempt made: converge on the same
            # password, limit and rights.
            await db.run(
                "ALTER USER %s@'%%' IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS %s",
                user,
                binding.password,
                limit,
            )
            await db.run("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@'%%'", user)
            await db.run(f"GRANT {rights} ON `{pattern}`.* TO %s@'%%'", user)
        return self._credentials(database, user, binding.password)

    async def unbind(self, instance: InstanceSpec, binding: BindingSpec) -> None:
        user = user_name(instance.instance_id, binding.binding_id)
        async with self._session() as db:
            # Dropping first means no new session can start while the open ones are cut; the
            # server keeps sessions of a dropped user, and lists them under its name.
            await db.run("DROP USER IF EXISTS %s@'%%'", user)
            await db.kill_sessions(user)

    async def _apply(self, instance: InstanceSpec) -> None:
        """Make the database's defaults and the users' limit those of ``instance``."""
        options, args = _database_options(instance.parameters)
        limit = _connection_limit(instance.plan)
        pattern = user_prefix(instance.instance_id) + "%"
        async with self._session() as db:
            name = database_name(instance.instance_id)
            await db.run(f"ALTER DATABASE `{name}`{options}", *args)
            for user, host in await db.run(
                "SELECT User, Host FROM mysql.user WHERE User LIKE %s", pattern
            ):
                await db.run("ALTER USER %s@%s WITH MAX_USER_CONNECTIONS %s", user, host, limit)

    def _credentials(self, database: str, user: str, password: str) -> Credentials:
        host, port = self._host, str(self._port)
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        query = urlencode({"user": user, "password": password})
        values = {
            "uri": f"mysql://{quote(user, safe='')}:{quote(password, safe='')}@{netloc}/{database}",
            "jdbcUrl": f"jdbc:mysql://{netloc}/{database}?{query}",
            "host": host,
            "hostname": host,
            "port": port,
            "username": user,
            "password": password,
            "database": database,
            "name": database,
        }
        return Credentials(values, (Endpoint(host, (port,)),))

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[_Session]:
        """One pooled connection; any client or server error becomes a :class:`BackendError`."""
        if self._pool is None:
            raise RuntimeError("MySQLProvider.open() was not called")
        try:
            async with self._pool.acquire() as conn, conn.cursor() as cursor:
                yield _Session(cursor)
        except (aiomysql.MySQLError, OSError) as exc:
            raise _backend_error(exc) from exc


class _Session:
    """A typed face of an aiomysql cursor."""

    def __init__(self, cursor: aiomysql.Cursor) -> None:
        self._cursor = cursor

    async def run(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Run ``sql`` with ``%s`` placeholders; arguments are always given, so a literal ``%``
        is always written ``%%``."""
        await self._cursor.execute(sql, args)
        rows: list[tuple[Any, ...]] = list(await self._cursor.fetchall())
        return rows

    async def kill_sessions(self, user_pattern: str) -> None:
        """End the open sessions of the users whose name is LIKE ``user_pattern``."""
        for (session,) in await self.run(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER LIKE %s", user_pattern
        ):
            try:
                await self.run("KILL CONNECTION %s", session)
            except aiomysql.MySQLError as exc:
                if exc.args[:1] != (ER_NO_SUCH_THREAD,):
                    raise


def _database_options(parameters: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The CHARACTER SET/COLLATE clause for ``parameters``, and its arguments.

    The schema already restricts both; they are checked again here as they reach SQL.
    """
    charset, collation = parameters.get("charset"), parameters.get("collation")
    if charset is not None and charset not in CHARSETS:
        raise BackendError(f"MySQL: unsupported charset, use one of {', '.join(CHARSETS)}")
    if collation is not None and not (
        isinstance(collation, str) and COLLATION.fullmatch(collation)
    ):
        raise BackendError("MySQL: a collation is up to 64 of a-z, 0-9 and _")
    if charset is None and collation is None:
        charset = DEFAULT_CHARSET
    clause = ""
    args: tuple[str, ...] = ()
    if charset is not None:
        clause, args = " CHARACTER SET %s", (charset,)
    if collation is not None:
        clause, args = clause + " COLLATE %s", (*args, collation)
    return clause, args


def _connection_limit(plan: Plan) -> int:
    # int(): the limit reaches SQL, and a plan without one is a bug of the catalog.
    return int(plan.settings["max_user_connections"])


def _backend_error(exc: Exception) -> BackendError:
    # MySQL errors carry (code, message): the message alone is what a platform user can read.
    reason = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
    return BackendError(f"MySQL: {reason or type(exc).__name__}")

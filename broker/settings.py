"""Broker settings (``OSB_*`` variables or CLI options)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OSB_", extra="ignore")

    #: ``None`` binds the broker where the MEP binds (``MEP_HOST``).
    host: str | None = None
    port: Annotated[int, Field(ge=0, le=65535)] = 8081
    #: HTTP Basic credentials platforms use; generated, kept in the data directory and printed at
    #: start when unset.
    username: str | None = None
    password: SecretStr | None = None
    #: Backends. A service is in the catalog only when its backend is configured:
    #: ``mysql://user:password@host:3306`` (an account allowed to create databases and users),
    mysql_url: SecretStr | None = None
    #: ``redis://[user:password@]host:6379`` (an account allowed ACL SETUSER and SCAN/UNLINK),
    redis_url: SecretStr | None = None
    #: ``amqp://user:password@host:5672`` and the management API ``http://user:password@host:15672``.
    rabbitmq_url: SecretStr | None = None
    rabbitmq_management_url: SecretStr | None = None
    #: Seconds a platform is asked to wait between two ``last_operation`` polls.
    retry_after: Annotated[int, Field(ge=1, le=86_400)] = 2
    #: Seconds one backend step may take before the operation fails (and is undone).
    operation_timeout: Annotated[float, Field(gt=0, le=3600)] = 45.0
    #: Seconds a replica owns an operation it runs without renewing it; after that another
    #: replica (or this one, restarted) resumes it.
    operation_lease: Annotated[float, Field(gt=0, le=3600)] = 30.0
    #: Seconds between re-applying the bindings of backends that may forget their users (Redis
    #: without an ACL file); also done at start.
    reapply_interval: Annotated[float, Field(gt=0, le=86_400)] = 300.0

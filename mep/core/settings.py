"""Platform settings: one pydantic-settings class, read from ``MEP_*`` variables or CLI options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_STORE_FORMS = "'sqlite', 'sqlite:///path/to/file.db' or a redis://, rediss:// or unix:// URL"
_EVENT_FORMS = "'memory', 'redis' or 'kafka://host:port[,host:port]'"
_SCENARIO_FORMS = "'demo', 'none', or the path of a .yaml, .yml or .json scenario file"

Port = Annotated[int, Field(ge=0, le=65535)]


class MepSettings(BaseSettings):
    """Settings of the MEP process (Mp1, MEC service APIs, CAPIF, operator API)."""

    model_config = SettingsConfigDict(env_prefix="MEP_", extra="ignore")

    host: str = "127.0.0.1"
    port: Port = 8080
    dns_port: Port = 8053
    data_dir: Path = Path("./var")
    store: str = "sqlite"
    events: str = "memory"
    admin_token: SecretStr | None = None
    public_url: str | None = None
    token_ttl: Annotated[int, Field(ge=60, le=86_400)] = 3600
    log_level: str = "info"
    shutdown_timeout: Annotated[float, Field(gt=0)] = 10.0
    #: Apps the platform did not instantiate may register themselves (Mp1 /registrations).
    allow_self_registration: bool = False
    #: The radio network RNIS and Location read (``mep.network``): the demo city, none, or a
    #: scenario file; and how many times faster than real time its clock runs.
    scenario: str = "demo"
    tick_speed: Annotated[float, Field(gt=0, le=1000)] = 1.0

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        if value == "sqlite" or value.startswith(
            ("sqlite:///", "redis://", "rediss://", "unix://")
        ):
            return value
        raise ValueError(f"must be {_STORE_FORMS}")

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: str) -> str:
        if value in ("memory", "redis") or value.startswith("kafka://"):
            return value
        raise ValueError(f"must be {_EVENT_FORMS}")

    @field_validator("scenario")
    @classmethod
    def _check_scenario(cls, value: str) -> str:
        # The file itself is read and validated at start, off the event loop.
        if value in ("demo", "none") or value.endswith((".yaml", ".yml", ".json")):
            return value
        raise ValueError(f"must be {_SCENARIO_FORMS}")

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _events_need_redis_store(self) -> MepSettings:
        if self.events == "redis" and not self.store_is_redis:
            raise ValueError(
                "MEP_EVENTS=redis needs MEP_STORE=redis://... (the streams live there)"
            )
        return self

    @property
    def store_is_redis(self) -> bool:
        return self.store.startswith(("redis://", "rediss://", "unix://"))

    @property
    def base_url(self) -> str:
        """The URL written into links and Location headers."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):  # noqa: S104 - a bind-all address is not a link target
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

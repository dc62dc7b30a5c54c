"""Platform settings: one pydantic-settings class, read from ``MEP_*`` variables or CLI options."""

from __future__ import annotations

import functools
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_STORE_FORMS = "'sqlite', 'sqlite:///path/to/file.db' or a redis://, rediss:// or unix:// URL"
_EVENT_FORMS = "'memory', 'redis' or 'kafka://host:port[,host:port]'"
_SCENARIO_FORMS = "'demo', 'none', or the path of a .yaml, .yml or .json scenario file"
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

_NETNS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_NFT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")

_BIND_ALL = ("0.0.0.0", "::")  # noqa: S104 - addresses to bind, never names to link to

Port = Annotated[int, Field(ge=0, le=65535)]


class MepSettings(BaseSettings):
    """Settings of the MEP process (Mp1, MEC service APIs, CAPIF, operator API)."""

    model_config = SettingsConfigDict(env_prefix="MEP_", extra="ignore")

    host: str = "127.0.0.1"
    port: Port = 8080
    dns_port: Port = 8053
    #: The DNS responder (``mep.dns``): ``mep run`` serves the DNS rules unless disabled, on
    #: ``dns_host``:``dns_port`` (port 0: any free one, printed at start), and asks
    #: ``dns_upstream`` (``host[:port]``, an IP address) for the names no active rule answers.
    dns_enabled: bool = True
    dns_host: str = "127.0.0.1"
    dns_upstream: str | None = None
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
    #: CAPIF over TLS (``mep.capif.tls``): the port (0: any free one), extra names for the
    #: server certificate, and the proxies whose forwarded client certificates are believed.
    tls_port: Port = 8443
    tls_hostnames: str = ""
    trusted_proxies: str = ""
    #: Where traffic rules and bandwidth allocations take effect (``mep.dataplane``): ``none``
    #: records them; ``nftables`` enforces them with nft (tables ``ip``/``ip6`` named
    #: ``dataplane_table``) and tc (HTB on the comma-separated ``dataplane_interface``s), in
    #: network namespace ``dataplane_netns`` if given, each command within ``dataplane_timeout``.
    dataplane: Literal["none", "nftables"] = "none"
    dataplane_netns: str = ""
    dataplane_table: str = "mep"
    dataplane_interface: str = ""
    dataplane_timeout: Annotated[float, Field(gt=0, le=300)] = 5.0

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

    @field_validator("tls_hostnames")
    @classmethod
    def _check_tls_hostnames(cls, value: str) -> str:
        names = _items(value)
        for name in names:
            if not _HOSTNAME.match(name) and not _is_ip(name):
                raise ValueError(f"{name!r} is neither a host name nor an IP address")
        return ",".join(names)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        items = _items(value)
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR block") from None
        return ",".join(items)

    @field_validator("dataplane_netns")
    @classmethod
    def _check_dataplane_netns(cls, value: str) -> str:
        if value and not _NETNS.match(value):
            raise ValueError(f"{value!r} is not a network namespace name")
        return value

    @field_validator("dataplane_table")
    @classmethod
    def _check_dataplane_table(cls, value: str) -> str:
        if not _NFT_NAME.match(value):
            raise ValueError(f"{value!r} is not an nftables table name (letters, digits, _)")
        return value

    @field_validator("dataplane_interface")
    @classmethod
    def _check_dataplane_interface(cls, value: str) -> str:
        names = _items(value)
        for name in names:
            if not _IFNAME.match(name):
                raise ValueError(f"{name!r} is not a network interface name")
        return ",".join(names)

    @field_validator("dns_upstream")
    @classmethod
    def _check_dns_upstream(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        host, port = _host_port(value.strip(), default_port=53)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @model_validator(mode="after")
    def _events_need_redis_store(self) -> MepSettings:
        if self.events == "redis" and not self.store_is_redis:
            raise ValueError(
                "MEP_EVENTS=redis needs MEP_STORE=redis://... (the streams live there)"
            )
        return self

    @property
    def dns_upstream_address(self) -> tuple[str, int] | None:
        """``dns_upstream`` as (IP address, port)."""
        return None if self.dns_upstream is None else _host_port(self.dns_upstream, 53)

    @property
    def store_is_redis(self) -> bool:
        return self.store.startswith(("redis://", "rediss://", "unix://"))

    @property
    def base_url(self) -> str:
        """The URL written into links and Location headers."""
        if self.public_url:
            return self.public_url
        return f"http://{_link_host(self.host)}:{self.port}"

    @property
    def ccf_url(self) -> str:
        """The CAPIF core function's base URL (TLS): the public URL when it is https, else the
        TLS listener."""
        if self.public_url and self.public_url.startswith("https://"):
            return self.public_url
        return f"https://{_link_host(self.host)}:{self.tls_port}"

    @property
    def tls_names(self) -> list[str]:
        """The names the TLS server certificate is valid for (TS 33.122 clause 6: the CCF is
        authenticated by its certificate)."""
        host = self.host.strip("[]")
        names = [] if host in _BIND_ALL else [host]
        names += _items(self.tls_hostnames)
        if self.public_url:
            public = urlsplit(self.public_url).hostname
            if public:
                names.append(public)
        names += ["localhost", "127.0.0.1"]
        return list(dict.fromkeys(names))

    @property
    def dataplane_interfaces(self) -> list[str]:
        return _items(self.dataplane_interface)

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``trusted_proxies`` parsed (once: every CAPIF request that needs an identity asks)."""
        return _networks(self.trusted_proxies)


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@functools.lru_cache(maxsize=8)
def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in _items(value))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _link_host(host: str) -> str:
    """``host`` as a URL names it; a bind-all address is not a link target."""
    if host.strip("[]") in _BIND_ALL:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    """``ip``, ``ip:port``, ``ipv6`` or ``[ipv6]:port`` as (ip, port)."""
    host, port = value, str(default_port)
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") if rest else port
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not _is_ip(host):
        raise ValueError(f"{value!r}: {host!r} is not an IP address")
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"{value!r}: {port!r} is not a port")
    return host, int(port)

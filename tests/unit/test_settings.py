"""Settings: environment, validation messages, derived URLs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mep.core.settings import MepSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MEP_HOST", "MEP_PORT", "MEP_STORE", "MEP_EVENTS", "MEP_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = MepSettings()
    assert (settings.host, settings.port, settings.dns_port) == ("127.0.0.1", 8080, 8053)
    assert (settings.store, settings.events) == ("sqlite", "memory")
    assert settings.base_url == "http://127.0.0.1:8080"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEP_PORT", "9090")
    monkeypatch.setenv("MEP_STORE", "redis://127.0.0.1:6379/2")
    monkeypatch.setenv("MEP_EVENTS", "redis")
    monkeypatch.setenv("MEP_PUBLIC_URL", "https://mep.example.com/")
    settings = MepSettings()
    assert settings.port == 9090
    assert settings.store_is_redis
    assert settings.base_url == "https://mep.example.com"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"store": "mongodb://x"}, "store", "redis://"),
        ({"events": "rabbit"}, "events", "kafka://"),
        ({"events": "redis"}, "", "MEP_EVENTS=redis needs MEP_STORE=redis://"),
        ({"port": 70000}, "port", "less than or equal to 65535"),
        ({"public_url": "mep.example.com"}, "public_url", "http://"),
    ],
)
def test_bad_values_name_the_setting(values: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MepSettings(**values)  # type: ignore[arg-type]
    error = caught.value.errors()[0]
    assert ".".join(str(p) for p in error["loc"]) == field
    assert message in error["msg"]


def test_bind_all_address_is_not_a_link_target() -> None:
    assert MepSettings(host="0.0.0.0").base_url == "http://127.0.0.1:8080"
    assert MepSettings(host="::1", port=81).base_url == "http://[::1]:81"

"""The HTTP Basic credentials platforms use: from settings, else generated once and kept."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

import orjson

from broker.api.keys import BrokerAuth
from broker.settings import BrokerSettings
from mep.core.secrets_file import load_or_create


@dataclass(frozen=True, slots=True)
class Loaded:
    auth: BrokerAuth
    generated: bool
    path: Path


def _make() -> bytes:
    return orjson.dumps(
        {"username": "osb-" + secrets.token_hex(4), "password": secrets.token_urlsafe(24)}
    )


async def load(settings: BrokerSettings, data_dir: Path, bearer: str | None) -> Loaded:
    path = data_dir / "broker-credentials.json"
    if settings.username and settings.password:
        auth = BrokerAuth(settings.username, settings.password.get_secret_value(), bearer)
        return Loaded(auth, False, path)
    stored = orjson.loads(await asyncio.to_thread(load_or_create, path, _make))
    username = settings.username or stored["username"]
    password = settings.password.get_secret_value() if settings.password else stored["password"]
    return Loaded(BrokerAuth(username, password, bearer), True, path)

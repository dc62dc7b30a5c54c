"""The long-lived parts every service of one process shares: store, event log, CA, keys."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass

from mep.core.ca import CertificateAuthority
from mep.core.events import EventLog, open_event_log
from mep.core.secrets_file import load_or_create
from mep.core.settings import MepSettings
from mep.core.store import Store, open_store
from mep.core.store.redis import RedisStore
from mep.core.tokens import TokenService, load_signing_keys


@dataclass
class Deps:
    store: Store
    events: EventLog
    ca: CertificateAuthority
    tokens: TokenService
    admin_token: str
    admin_token_generated: bool

    async def close(self) -> None:
        await self.events.close()
        await self.store.close()


async def open_deps(settings: MepSettings, *, store: Store | None = None) -> Deps:
    """Open the store and event log, and load (or make, on first start) the CA and keys.

    A ``store`` passed in (already open) is used instead of ``settings.store``; the returned
    deps own it from then on.
    """
    data_dir = settings.data_dir
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as on_failure:
        store = store or await open_store(settings.store, data_dir)
        on_failure.push_async_callback(store.close)
        client = store.client if isinstance(store, RedisStore) else None
        events = await open_event_log(settings.events, redis_client=client)
        on_failure.push_async_callback(events.close)
        ca = await asyncio.to_thread(CertificateAuthority.load_or_create, data_dir / "ca")
        active, verifying = await asyncio.to_thread(load_signing_keys, data_dir / "keys")
        tokens = TokenService(active, verifying, issuer=settings.base_url, ttl=settings.token_ttl)
        if settings.admin_token is not None:
            admin_token, generated = settings.admin_token.get_secret_value(), False
        else:
            raw = await asyncio.to_thread(
                load_or_create, data_dir / "admin-token", lambda: secrets.token_urlsafe(32).encode()
            )
            admin_token, generated = raw.decode().strip(), True
        deps = Deps(store, events, ca, tokens, admin_token, generated)
        on_failure.pop_all()
    return deps

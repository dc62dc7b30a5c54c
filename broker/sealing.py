"""Binding secrets sealed at rest: the store never holds a binding's password or credentials in
clear, so a copy of the SQLite file or a read of the shared Redis does not give away every
database, cache and queue the broker made. AES-256-GCM with a key kept in the data directory
(replicas share it as they share the CA); the document id is the associated data, so a sealed
value cannot be moved to another binding."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mep.core.secrets_file import load_or_create

PREFIX = "sealed:v1:"


class SealError(Exception):
    """A sealed value does not open with this key (wrong key, or tampered with)."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    async def load_or_create(cls, data_dir: Path) -> Sealer:
        key = await asyncio.to_thread(
            load_or_create, data_dir / "broker-seal.key", lambda: AESGCM.generate_key(256)
        )
        return cls(key)

    def seal(self, plain: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain, context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, value: str, context: str) -> bytes:
        if not value.startswith(PREFIX):
            raise SealError("not a sealed value")
        raw = base64.urlsafe_b64decode(value[len(PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag:
            raise SealError("the sealed value does not open with this key") from None

"""Notifications waiting for delivery: documents in the store, one queue per subscription.

A notification is recorded in the same commit as the change that causes it, so an acknowledged
change always has its notifications, whatever happens to the process afterwards. Each queue is
keyed by its subscription (``Target.key``); ids sort in creation order within a queue, and the
worker delivers a queue strictly in that order.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from mep.core.problem import BadRequest, InvalidParam
from mep.core.store import ABSENT, Put

COLLECTION = "deliveries"
#: Larger bodies are refused at enqueue: the worker must never become a bulk relay.
MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class Target:
    """Where the notifications of one subscription go."""

    key: str
    url: str | None
    websocket: bool = False
    expires_at: float | None = None


class Notifier:
    """Makes the writes that queue notifications; ids strictly increase within a process."""

    def __init__(self) -> None:
        self._last_ns = 0
        # Keeps two replicas' ids apart should their clocks ever give the same nanosecond.
        self._replica = secrets.token_hex(4)

    def queue(self, target: Target, body: Mapping[str, Any], *, then: str | None = None) -> Put:
        """The write that queues ``body`` for ``target``; commit it with the change it reports.

        ``then`` names a hook the worker runs once this notification is delivered (for
        instance, activating a subscription after its test notification).
        """
        encoded = orjson.dumps(body).decode()
        if len(encoded) > MAX_BODY_BYTES:
            raise ValueError(f"notification body of {len(encoded)} bytes exceeds {MAX_BODY_BYTES}")
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        delivery_id = f"{target.key}|{self._last_ns:020d}-{self._replica}"
        data = {
            "target": target.key,
            "url": target.url,
            "websocket": target.websocket,
            "expires": target.expires_at,
            "created": time.time(),
            "body": encoded,
            "then": then,
        }
        return Put(
            COLLECTION, delivery_id, data, expected_version=ABSENT, indexes={"target": [target.key]}
        )


def check_callback(url: str | None, param: str = "/callbackReference") -> str | None:
    """A callback URL the platform will POST to: absolute http(s) with a host, else 400."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(
            "callbackReference must be an absolute http:// or https:// URL",
            invalid_params=[InvalidParam(param, "not an absolute http(s) URL")],
        )
    return url

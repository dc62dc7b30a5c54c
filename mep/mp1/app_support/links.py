"""The URIs the application support API writes into bodies and ``Location`` headers."""

from __future__ import annotations

from dataclasses import dataclass

BASE = "/mec_app_support/v1"
#: Where the platform's websocket hub serves a subscription's delivery queue (GS MEC 009 6.12a).
WEBSOCKET_PATH = "/notifications/v1/websocket"


@dataclass(frozen=True)
class Links:
    base_url: str

    def api(self, path: str) -> str:
        return f"{self.base_url}{BASE}{path}"

    def subscriptions(self, instance_id: str) -> str:
        return self.api(f"/applications/{instance_id}/subscriptions")

    def subscription(self, instance_id: str, subscription_id: str) -> str:
        return f"{self.subscriptions(instance_id)}/{subscription_id}"

    def confirm_termination(self, instance_id: str) -> str:
        return self.api(f"/applications/{instance_id}/confirm_termination")

    def registration(self, instance_id: str) -> str:
        return self.api(f"/registrations/{instance_id}")

    def websocket(self, target: str) -> str:
        """``ws://`` (or ``wss://`` behind https) on the same host as the API."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{WEBSOCKET_PATH}/{target}"

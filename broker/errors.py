"""The broker's errors, in the OSB shape: ``{"error": "<Code>", "description": "..."}``.

The four 422 codes carry the exact descriptions go-open-service-broker-client compares against
(``IsAsyncRequiredError`` and friends need both fields to match), which Cloud Foundry's brokerapi
uses as well.
"""

from __future__ import annotations

from typing import Any

ASYNC_REQUIRED = "This service plan requires client support for asynchronous service operations."
CONCURRENCY = (
    "The Service Broker does not support concurrent requests that mutate the same resource."
)
REQUIRES_APP = (
    "This service supports generation of credentials through binding an application only."
)


class OsbError(Exception):
    """A request the broker refuses; ``status`` and body as the OSB specification names them."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.error = error
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description}
        if self.error:
            out["error"] = self.error
        out.update(self.extra)
        return out


def bad_request(description: str) -> OsbError:
    return OsbError(400, description, error="BadRequest")


def not_found(description: str) -> OsbError:
    return OsbError(404, description, error="NotFound")


def conflict(description: str) -> OsbError:
    return OsbError(409, description, error="Conflict")


def gone() -> OsbError:
    return OsbError(410, "The resource does not exist (or no longer exists).", error="Gone")


def async_required() -> OsbError:
    return OsbError(422, ASYNC_REQUIRED, error="AsyncRequired")


def concurrency_error() -> OsbError:
    return OsbError(422, CONCURRENCY, error="ConcurrencyError")


def requires_app() -> OsbError:
    return OsbError(422, REQUIRES_APP, error="RequiresApp")


def maintenance_info_conflict(plan_version: str, asked: str) -> OsbError:
    return OsbError(
        422,
        f"maintenance_info.version {asked!r} does not match the plan's version {plan_version!r}; "
        "fetch the catalog again.",
        error="MaintenanceInfoConflict",
    )


def unprocessable(description: str) -> OsbError:
    """A change the broker cannot make (CF shows 'ServiceBrokerBadResponse' for unknown codes,
    so the description must say why)."""
    return OsbError(422, description, error="UnprocessableEntity")

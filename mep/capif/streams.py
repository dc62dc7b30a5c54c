"""The event-log streams the CAPIF core function writes (through the outbox), and what their
events carry. Consumers (the events API, charging, external Kafka readers) read these names.
"""

from __future__ import annotations

#: ``{"type": API_INVOKER_ONBOARDED|API_INVOKER_OFFBOARDED|API_INVOKER_UPDATED, "apiInvokerId"}``
INVOKERS = "capif.invokers"
#: ``{"type": API_PROVIDER_REGISTERED|..._DEREGISTERED|..._UPDATED, "apiProvDomId"}``
PROVIDERS = "capif.providers"
#: ``{"type": SERVICE_API_AVAILABLE|SERVICE_API_UNAVAILABLE|SERVICE_API_UPDATE, "apiId", ...}``
SERVICE_APIS = "capif.service_apis"
#: ``{"type": "API_INVOKER_AUTHORIZATION_REVOKED", "apiInvokerId", "aefId", "apiIds", "cause"}``
SECURITY = "capif.security"
#: ``{"type": "ACCESS_CONTROL_POLICY_UPDATE", "apiId", "apiInvokerId"}``
ACCESS_CONTROL = "capif.access_control"
#: ``{"type": "SERVICE_API_INVOCATION", "invocationLog": InvocationLog}``: one record per call
#: (``logs`` holds one Log); the events API turns it into SERVICE_API_INVOCATION_SUCCESS or
#: _FAILURE by its ``result``.
INVOCATIONS = "capif.invocations"
#: Hourly charging aggregates, one event per payer, API and hour once the hour is closed.
CHARGING = "charging.records"

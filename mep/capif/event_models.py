"""Bodies of the CAPIF Events API (TS 29.222 clause 8.8.4, ``TS29222_CAPIF_Events_API.yaml``),
with ``eventReq`` (TS 29.523 ReportingInformation), named as in the OpenAPI files.

``CAPIFEvent`` is extensible in the YAML (``anyOf: [enum, string]``), but a subscription to a
value this release does not define could never be reported: such a value is refused, naming
``/events/{i}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field

from mep.capif.models import HttpUri, SupportedFeatures, WebsockNotifConfig
from mep.core.models import ApiModel

#: TS 29.222 clause 8.8.4.3.3, in the order of the YAML.
CAPIF_EVENTS = (
    "SERVICE_API_AVAILABLE",
    "SERVICE_API_UNAVAILABLE",
    "SERVICE_API_UPDATE",
    "API_INVOKER_ONBOARDED",
    "API_INVOKER_OFFBOARDED",
    "SERVICE_API_INVOCATION_SUCCESS",
    "SERVICE_API_INVOCATION_FAILURE",
    "ACCESS_CONTROL_POLICY_UPDATE",
    "ACCESS_CONTROL_POLICY_UNAVAILABLE",
    "API_INVOKER_AUTHORIZATION_REVOKED",
    "API_INVOKER_UPDATED",
    "API_TOPOLOGY_HIDING_CREATED",
    "API_TOPOLOGY_HIDING_REVOKED",
)
_KNOWN = frozenset(CAPIF_EVENTS)

#: TS 29.508 NotificationMethod values this CCF honours: events are reported as they happen
#: (PERIODIC reporting would need buffering the CAPIF events do not define).
NOTIFICATION_METHODS = ("ON_EVENT_DETECTION", "ONE_TIME")


def _capif_event(value: str) -> str:
    if value not in _KNOWN:
        raise ValueError(f"{value!r} is not a CAPIFEvent; one of {', '.join(CAPIF_EVENTS)}")
    return value


CapifEvent = Annotated[str, AfterValidator(_capif_event)]
Id = Annotated[str, Field(min_length=1, max_length=256)]
Ids = Annotated[list[Id], Field(min_length=1, max_length=1000)]
EnumText = Annotated[str, Field(min_length=1, max_length=64)]
Events = Annotated[list[CapifEvent], Field(min_length=1, max_length=64)]
JsonObject = dict[str, Any]


class CAPIFEventFilter(ApiModel):
    """TS 29.222 clause 8.8.4.2.4. Each member given must match the event (any of its ids)."""

    api_ids: Ids | None = None
    api_invoker_ids: Ids | None = None
    aef_ids: Ids | None = None


EventFilters = Annotated[list[CAPIFEventFilter], Field(min_length=1, max_length=64)]


class MutingExceptionInstructions(ApiModel):
    """TS 29.571 MutingExceptionInstructions."""

    buffered_notifs: EnumText | None = None
    subscription: EnumText | None = None


class MutingNotificationsSettings(ApiModel):
    """TS 29.571 MutingNotificationsSettings."""

    max_no_of_notif: int | None = None
    duration_buffered_notif: int | None = None


class ReportingInformation(ApiModel):
    """TS 29.523 clause 5.6.2.6 (``eventReq``). This CCF acts on ``notifMethod``,
    ``maxReportNbr`` (0: no limit) and ``monDur`` (the subscription ends then); the other
    members are kept as given."""

    imm_rep: bool | None = None
    notif_method: EnumText | None = None
    max_report_nbr: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    mon_dur: AwareDatetime | None = None
    rep_period: int | None = None
    samp_ratio: Annotated[int, Field(ge=1, le=100)] | None = None
    partition_criteria: Annotated[list[EnumText], Field(min_length=1, max_length=16)] | None = None
    grp_rep_time: int | None = None
    notif_flag: EnumText | None = None
    notif_flag_instruct: MutingExceptionInstructions | None = None
    muting_setting: MutingNotificationsSettings | None = None


class EventSubscription(ApiModel):
    """TS 29.222 clause 8.8.4.2.2. ``eventFilters[i]`` applies to ``events[i]``."""

    events: Events
    event_filters: EventFilters | None = None
    event_req: ReportingInformation | None = None
    notification_destination: HttpUri
    request_test_notification: bool | None = None
    websock_notif_config: WebsockNotifConfig | None = None
    supported_features: SupportedFeatures | None = None


class EventSubscriptionPatch(ApiModel):
    """TS 29.222 clause 8.8.4.2.8 (sent as ``application/merge-patch+json``)."""

    events: Events | None = None
    event_filters: EventFilters | None = None
    event_req: ReportingInformation | None = None
    notification_destination: HttpUri | None = None


class CAPIFEventDetail(ApiModel):
    """TS 29.222 clause 8.8.4.2.5. Published descriptions, policies and invocation logs are
    passed on as the CCF holds them."""

    service_api_descriptions: list[JsonObject] | None = Field(
        default=None, alias="serviceAPIDescriptions"
    )
    api_ids: list[str] | None = None
    api_invoker_ids: list[str] | None = None
    acc_ctrl_pol_list: JsonObject | None = None
    invocation_logs: list[JsonObject] | None = None


class EventNotification(ApiModel):
    """TS 29.222 clause 8.8.4.2.3: one CAPIF event of one subscription."""

    subscription_id: str
    events: str
    event_detail: CAPIFEventDetail | None = None


class TestNotification(ApiModel):
    """TS 29.122 clause 5.2.1.2.13: ``subscription`` is the subscription resource's URI."""

    subscription: str

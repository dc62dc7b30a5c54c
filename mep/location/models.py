"""ETSI GS MEC 013 V2.2.1 data types (clause 6), named as in ``MEC013_LocationAPI.yaml``.

Requests (the six subscription types) are pydantic models: strict booleans and integers,
finite numbers in range, bounded lists (each address or zone is an index entry). Members a
client may not set (``resourceURL``, ``link``) are accepted and ignored. Every body travels
wrapped in one root key (``{"circleNotificationSubscription": {...}}``): the ``*Body`` models
are those wrappers, so a bad member is reported as ``/circleNotificationSubscription/radius``.

Responses and notifications are built as plain JSON (``TypedDict``s below) on the hot paths,
from the network snapshot, without a validation pass per user.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypedDict

from pydantic import Field, StrictBool, StrictInt

from mep.core.models import ApiModel

Text = Annotated[str, Field(min_length=1, max_length=256)]
Uri = Annotated[str, Field(min_length=1, max_length=2048)]
Address = Annotated[str, Field(min_length=1, max_length=256)]
#: Each address is an index entry of the subscription: a bound keeps one request cheap.
Addresses = Annotated[list[Address], Field(min_length=1, max_length=100)]
Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
#: Metres; half the Earth's circumference bounds any meaningful distance.
Metres = Annotated[float, Field(strict=True, ge=0, le=20_037_509, allow_inf_nan=False)]
UnsignedInt = Annotated[StrictInt, Field(ge=0, le=2**32 - 1)]
#: Seconds between notifications; a day at most.
Frequency = Annotated[StrictInt, Field(ge=0, le=86_400)]


class ConnectionType(StrEnum):
    FEMTO = "Femto"
    LTE_FEMTO = "LTE-femto"
    SMALLCELL = "Smallcell"
    LTE_SMALLCELL = "LTE-smallcell"
    WIFI = "Wifi"
    PICO = "Pico"
    MICRO = "Micro"
    MACRO = "Macro"
    WIMAX = "Wimax"
    UNKNOWN = "Unknown"


class OperationStatus(StrEnum):
    SERVICEABLE = "Serviceable"
    UNSERVICEABLE = "Unserviceable"
    UNKNOWN = "Unknown"


class DistanceCriteria(StrEnum):
    ALL_WITHIN_DISTANCE = "AllWithinDistance"
    ANY_WITHIN_DISTANCE = "AnyWithinDistance"
    ALL_BEYOND_DISTANCE = "AllBeyondDistance"
    ANY_BEYOND_DISTANCE = "AnyBeyondDistance"


class EnteringLeavingCriteria(StrEnum):
    ENTERING = "Entering"
    LEAVING = "Leaving"


class UserEventType(StrEnum):
    ENTERING = "Entering"
    LEAVING = "Leaving"
    TRANSFERRING = "Transferring"


class RetrievalStatus(StrEnum):
    RETRIEVED = "Retrieved"
    NOT_RETRIEVED = "NotRetrieved"
    ERROR = "Error"


class NotificationFormat(StrEnum):
    XML = "XML"
    JSON = "JSON"


class CallbackReference(ApiModel):
    """MEC 013 6.7.2 (OMA REST_NetAPI_Common): where notifications go, and data echoed back."""

    callback_data: Annotated[str, Field(max_length=2048)] | None = None
    notification_format: NotificationFormat | None = None
    notify_url: Uri = Field(alias="notifyURL")


class _Subscription(ApiModel):
    """Members every Location subscription has. ``resourceURL`` and ``link`` are the server's."""

    callback_reference: CallbackReference
    client_correlator: Text | None = None
    # Read-only: whatever a client sends here (a stale URL, an object) is ignored, never a 400.
    resource_url: Any = Field(default=None, alias="resourceURL")
    link: Any = None


class CircleNotificationSubscription(_Subscription):
    """MEC 013 6.3.7: entering or leaving a circle."""

    address: Addresses
    check_immediate: StrictBool
    count: UnsignedInt | None = None
    duration: UnsignedInt | None = None
    entering_leaving_criteria: EnteringLeavingCriteria
    frequency: Frequency
    latitude: Latitude
    longitude: Longitude
    radius: Annotated[float, Field(strict=True, gt=0, le=20_037_509, allow_inf_nan=False)]
    requester: Text | None = None
    tracking_accuracy: Metres


class DistanceNotificationSubscription(_Subscription):
    """MEC 013 6.3.6: distance between monitored devices, or to reference devices."""

    check_immediate: StrictBool
    count: UnsignedInt | None = None
    criteria: DistanceCriteria
    distance: Annotated[float, Field(strict=True, gt=0, le=20_037_509, allow_inf_nan=False)]
    duration: UnsignedInt | None = None
    frequency: Frequency
    monitored_address: Addresses
    reference_address: Annotated[list[Address], Field(max_length=100)] | None = None
    requester: Text | None = None
    tracking_accuracy: Metres


class PeriodicNotificationSubscription(_Subscription):
    """MEC 013 6.3.8: the location of the addresses every ``frequency`` seconds.

    ``count`` is not a member of V2.2.1 here (circle and distance have it); it is accepted as
    an extension, with the same meaning: stop after that many notifications."""

    address: Addresses
    count: UnsignedInt | None = None
    duration: UnsignedInt | None = None
    frequency: Annotated[StrictInt, Field(ge=1, le=86_400)]
    requested_accuracy: UnsignedInt
    requester: Text | None = None


class UserTrackingSubscription(_Subscription):
    """MEC 013 6.3.2: one user entering, leaving or moving within zones."""

    address: Address
    user_event_criteria: Annotated[list[UserEventType], Field(max_length=3)] | None = None


class ZonalTrafficSubscription(_Subscription):
    """MEC 013 6.3.3: users entering, leaving or moving within one zone."""

    duration: UnsignedInt | None = None
    interest_realm: Annotated[list[Text], Field(max_length=100)] | None = None
    user_event_criteria: Annotated[list[UserEventType], Field(max_length=3)] | None = None
    zone_id: Text


class ZoneStatusSubscription(_Subscription):
    """MEC 013 6.3.4: user-count thresholds and access point status of one zone."""

    number_of_users_ap_threshold: UnsignedInt | None = Field(
        default=None, alias="numberOfUsersAPThreshold"
    )
    number_of_users_zone_threshold: UnsignedInt | None = None
    operation_status: Annotated[list[OperationStatus], Field(max_length=3)] | None = None
    zone_id: Text


AnySubscription = (
    CircleNotificationSubscription
    | DistanceNotificationSubscription
    | PeriodicNotificationSubscription
    | UserTrackingSubscription
    | ZonalTrafficSubscription
    | ZoneStatusSubscription
)


class CircleBody(ApiModel):
    circle_notification_subscription: CircleNotificationSubscription


class DistanceBody(ApiModel):
    distance_notification_subscription: DistanceNotificationSubscription


class PeriodicBody(ApiModel):
    periodic_notification_subscription: PeriodicNotificationSubscription


class UserTrackingBody(ApiModel):
    user_tracking_subscription: UserTrackingSubscription


class ZonalTrafficBody(ApiModel):
    zonal_traffic_subscription: ZonalTrafficSubscription


class ZoneStatusBody(ApiModel):
    zone_status_subscription: ZoneStatusSubscription


# Response and notification shapes (built as JSON).


class TimeStamp(TypedDict):
    seconds: int
    nanoSeconds: int


class LocationInfo(TypedDict, total=False):
    latitude: list[float]
    longitude: list[float]
    altitude: float
    shape: int
    timestamp: TimeStamp


class Link(TypedDict):
    rel: str
    href: str


class TerminalLocation(TypedDict, total=False):
    address: str
    locationRetrievalStatus: str
    currentLocation: LocationInfo


def timestamp(at: float) -> TimeStamp:
    """A MEC TimeStamp for ``at`` (seconds since the epoch)."""
    seconds = int(at)
    return {"seconds": seconds, "nanoSeconds": int((at - seconds) * 1e9)}

"""The six subscription types of MEC 013 V2.2.1 (clause 7.3.3 to 7.3.14) and what differs
between them: resource path, root key of bodies, model, notification, duration support."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mep.core.models import ApiModel
from mep.location import models as m


class Kind(StrEnum):
    CIRCLE = "circle"
    DISTANCE = "distance"
    PERIODIC = "periodic"
    USER_TRACKING = "userTracking"
    ZONAL_TRAFFIC = "zonalTraffic"
    ZONE_STATUS = "zoneStatus"


class NotificationRoot(StrEnum):
    SUBSCRIPTION = "subscriptionNotification"
    ZONAL_PRESENCE = "zonalPresenceNotification"
    ZONE_STATUS = "zoneStatusNotification"


@dataclass(frozen=True)
class KindInfo:
    kind: Kind
    #: Under ``/location/v2/subscriptions/``.
    path: str
    #: The one member every request and response body is wrapped in.
    root: str
    model: type[m.AnySubscription]
    body: type[ApiModel]
    #: ``Link.rel`` of the notifications (the subscription's data type name).
    rel: str
    notification: NotificationRoot

    @property
    def has_duration(self) -> bool:
        return "duration" in self.model.model_fields

    @property
    def final_notification(self) -> bool:
        """Whether its notification type has ``isFinalNotification`` (SubscriptionNotification)."""
        return self.notification is NotificationRoot.SUBSCRIPTION


KINDS: dict[Kind, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(
            Kind.CIRCLE,
            "area/circle",
            "circleNotificationSubscription",
            m.CircleNotificationSubscription,
            m.CircleBody,
            "CircleNotificationSubscription",
            NotificationRoot.SUBSCRIPTION,
        ),
        KindInfo(
            Kind.DISTANCE,
            "distance",
            "distanceNotificationSubscription",
            m.DistanceNotificationSubscription,
            m.DistanceBody,
            "DistanceNotificationSubscription",
            NotificationRoot.SUBSCRIPTION,
        ),
        KindInfo(
            Kind.PERIODIC,
            "periodic",
            "periodicNotificationSubscription",
            m.PeriodicNotificationSubscription,
            m.PeriodicBody,
            "PeriodicNotificationSubscription",
            NotificationRoot.SUBSCRIPTION,
        ),
        KindInfo(
            Kind.USER_TRACKING,
            "userTracking",
            "userTrackingSubscription",
            m.UserTrackingSubscription,
            m.UserTrackingBody,
            "UserTrackingSubscription",
            NotificationRoot.ZONAL_PRESENCE,
        ),
        KindInfo(
            Kind.ZONAL_TRAFFIC,
            "zonalTraffic",
            "zonalTrafficSubscription",
            m.ZonalTrafficSubscription,
            m.ZonalTrafficBody,
            "ZonalTrafficSubscription",
            NotificationRoot.ZONAL_PRESENCE,
        ),
        KindInfo(
            Kind.ZONE_STATUS,
            "zoneStatus",
            "zoneStatusSubscription",
            m.ZoneStatusSubscription,
            m.ZoneStatusBody,
            "ZoneStatusSubscription",
            NotificationRoot.ZONE_STATUS,
        ),
    )
}


def unwrap(kind: Kind, body: ApiModel) -> m.AnySubscription:
    """The subscription inside a validated ``*Body`` wrapper."""
    found = next(iter(body.__dict__.values()))
    assert isinstance(found, KINDS[kind].model)
    return found

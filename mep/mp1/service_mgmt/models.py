"""ETSI GS MEC 011 service management data types (clause 8.1), with the V2.2.1 additions.

Names and enumerations are those of ``MEC011_ServiceMgmtAPI.yaml`` (V2.1.1); V2.2.1 adds
``ServiceInfo.transportId``, ``livenessInterval`` and ``_links``, the ``SUSPENDED`` state, the
liveness types (clauses 8.1.2.5 and 8.1.2.6), and ``expiryDeadline``, ``requestTestNotification``
and ``websockNotifConfig`` on the subscription (the GS MEC 009 patterns).

Booleans and integers are strict: ``"yes"`` is not a boolean and ``"5"`` is not an interval.
Members a client may not set (``serInstanceId`` on create, ``_links``, ``websocketUri``) are
accepted and ignored, as the ETSI read-only convention asks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from mep.core.models import ApiModel
from mep.core.notify.subscriptions import TimeStamp, WebsockNotifConfig

Text = Annotated[str, Field(min_length=1, max_length=256)]
Uri = Annotated[str, Field(min_length=1, max_length=2048)]
#: Filter lists are index fan-out: each value is one index entry of the subscription.
FilterValues = Annotated[list[Text], Field(max_length=100)]
#: One day: a longer heartbeat interval would make the liveness check meaningless.
MAX_LIVENESS_INTERVAL = 86_400

SUBSCRIPTION_TYPE = "SerAvailabilityNotificationSubscription"


class ServiceState(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    #: V2.2.1: set by the platform when the producer misses its liveness heartbeats.
    SUSPENDED = "SUSPENDED"


class SerializerType(StrEnum):
    JSON = "JSON"
    XML = "XML"
    PROTOBUF3 = "PROTOBUF3"


class LocalityType(StrEnum):
    MEC_SYSTEM = "MEC_SYSTEM"
    MEC_HOST = "MEC_HOST"
    NFVI_POP = "NFVI_POP"
    ZONE = "ZONE"
    ZONE_GROUP = "ZONE_GROUP"
    NFVI_NODE = "NFVI_NODE"


class TransportType(StrEnum):
    REST_HTTP = "REST_HTTP"
    MB_TOPIC_BASED = "MB_TOPIC_BASED"
    MB_ROUTING = "MB_ROUTING"
    MB_PUBSUB = "MB_PUBSUB"
    RPC = "RPC"
    RPC_STREAMING = "RPC_STREAMING"
    WEBSOCKET = "WEBSOCKET"


class GrantType(StrEnum):
    OAUTH2_AUTHORIZATION_CODE = "OAUTH2_AUTHORIZATION_CODE"
    OAUTH2_IMPLICIT_GRANT = "OAUTH2_IMPLICIT_GRANT"
    OAUTH2_RESOURCE_OWNER = "OAUTH2_RESOURCE_OWNER"
    OAUTH2_CLIENT_CREDENTIALS = "OAUTH2_CLIENT_CREDENTIALS"


class ChangeType(StrEnum):
    ADDED = "ADDED"
    REMOVED = "REMOVED"
    STATE_CHANGED = "STATE_CHANGED"
    ATTRIBUTES_CHANGED = "ATTRIBUTES_CHANGED"


class LinkType(ApiModel):
    href: str


class Self(ApiModel):
    self_: LinkType = Field(alias="self")


class SubscriptionLink(ApiModel):
    subscription: LinkType


class CategoryRef(ApiModel):
    """GS MEC 011 8.1.5.2."""

    href: Uri
    id: Text
    name: Text
    version: Text


class Address(ApiModel):
    host: Text
    port: Annotated[StrictInt, Field(ge=0, le=65535)]


class EndPointInfo(ApiModel):
    """GS MEC 011 8.1.5.3: exactly one of ``uris``, ``addresses``, ``alternative``."""

    uris: list[Uri] | None = Field(default=None, max_length=100)
    addresses: list[Address] | None = Field(default=None, max_length=100)
    alternative: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> EndPointInfo:
        given = [f for f in (self.uris, self.addresses, self.alternative) if f is not None]
        if len(given) != 1:
            raise ValueError("exactly one of uris, addresses or alternative is required")
        return self


class OAuth2Info(ApiModel):
    grant_types: list[GrantType] = Field(min_length=1, max_length=4)
    token_endpoint: Uri


class SecurityInfo(ApiModel):
    """GS MEC 011 8.1.5.4."""

    o_auth2_info: OAuth2Info | None = None


class TransportInfo(ApiModel):
    """GS MEC 011 8.1.2.3."""

    id: Text
    name: Text
    description: str | None = Field(default=None, max_length=1024)
    type: TransportType
    protocol: Text
    version: Text
    endpoint: EndPointInfo
    security: SecurityInfo
    impl_specific_info: dict[str, Any] | None = None


class ServiceLinks(ApiModel):
    self_: LinkType = Field(alias="self")
    liveness: LinkType | None = None


class ServiceInfo(ApiModel):
    """GS MEC 011 8.1.2.2. In a request exactly one of ``transportId`` and ``transportInfo``
    (checked by the registry, which can name both members in one error)."""

    ser_instance_id: str | None = None
    ser_name: Text
    ser_category: CategoryRef | None = None
    version: Text
    state: ServiceState
    transport_id: Text | None = None
    transport_info: TransportInfo | None = None
    serializer: SerializerType
    scope_of_locality: LocalityType | None = None
    consumed_local_only: StrictBool | None = None
    is_local: StrictBool | None = None
    liveness_interval: Annotated[StrictInt, Field(ge=0, le=MAX_LIVENESS_INTERVAL)] | None = None
    links: ServiceLinks | None = Field(default=None, alias="_links")
    #: Our extension: publish the service to CAPIF behind the API gateway
    #: (``mep.mp1.service_mgmt.capif_exposure``); absent means false.
    capif_exposure: StrictBool | None = None


class ServiceLivenessInfo(ApiModel):
    """GS MEC 011 V2.2.1 8.1.2.5."""

    state: ServiceState
    time_stamp: TimeStamp
    interval: int


class ServiceLivenessUpdate(ApiModel):
    """GS MEC 011 V2.2.1 8.1.2.6: a heartbeat of the producer."""

    state: ServiceState


class FilteringCriteria(ApiModel):
    """At most one of ``serInstanceIds``, ``serNames`` and ``serCategories`` (checked by the
    subscriptions service, which names the members in its error); AND of the rest."""

    ser_instance_ids: FilterValues | None = None
    ser_names: FilterValues | None = None
    ser_categories: Annotated[list[CategoryRef], Field(max_length=100)] | None = None
    states: list[ServiceState] | None = Field(default=None, max_length=3)
    is_local: StrictBool | None = None


class SerAvailabilityNotificationSubscription(ApiModel):
    """GS MEC 011 8.1.3.2, with the V2.2.1 members."""

    subscription_type: Literal["SerAvailabilityNotificationSubscription"]
    callback_reference: Uri | None = None
    links: Self | None = Field(default=None, alias="_links")
    filtering_criteria: FilteringCriteria | None = None
    expiry_deadline: TimeStamp | None = None
    request_test_notification: StrictBool | None = None
    websock_notif_config: WebsockNotifConfig | None = None


class SubscriptionLinkItem(ApiModel):
    """``subscriptionType`` as the text of GS MEC 011 names it, ``rel`` as the V2.1.1 YAML does."""

    href: str
    subscription_type: str = SUBSCRIPTION_TYPE
    rel: str = SUBSCRIPTION_TYPE


class SubscriptionLinkListLinks(ApiModel):
    self_: LinkType = Field(alias="self")
    subscriptions: list[SubscriptionLinkItem]


class MecServiceMgmtApiSubscriptionLinkList(ApiModel):
    links: SubscriptionLinkListLinks = Field(alias="_links")


class ServiceReference(ApiModel):
    link: LinkType | None = None
    ser_name: str
    ser_instance_id: str
    state: ServiceState
    change_type: ChangeType


class ServiceAvailabilityNotification(ApiModel):
    """GS MEC 011 8.1.4.2."""

    notification_type: Literal["SerAvailabilityNotification"] = "SerAvailabilityNotification"
    service_references: list[ServiceReference]
    links: SubscriptionLink = Field(alias="_links")

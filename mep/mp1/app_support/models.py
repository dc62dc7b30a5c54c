"""ETSI GS MEC 011 V2.1.1 application support data types (clause 7.1.2): traffic and DNS rules.

Field names and enumerations are those of ``MEC011_AppSupportAPI.yaml``. Beyond the schema, the
values are checked where the data plane and the DNS responder will rely on them: addresses,
port ranges, DSCP, and a destination interface for the actions that forward or duplicate.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from mep.core.models import ApiModel
from mep.core.notify.subscriptions import TimeStamp, WebsockNotifConfig

Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]


class FilterType(StrEnum):
    FLOW = "FLOW"
    PACKET = "PACKET"


class TrafficRuleAction(StrEnum):
    DROP = "DROP"
    FORWARD_DECAPSULATED = "FORWARD_DECAPSULATED"
    FORWARD_ENCAPSULATED = "FORWARD_ENCAPSULATED"
    PASSTHROUGH = "PASSTHROUGH"
    DUPLICATE_DECAPSULATED = "DUPLICATE_DECAPSULATED"
    DUPLICATE_ENCAPSULATED = "DUPLICATE_ENCAPSULATED"


class RuleState(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class InterfaceType(StrEnum):
    TUNNEL = "TUNNEL"
    MAC = "MAC"
    IP = "IP"


class TunnelType(StrEnum):
    GTP_U = "GTP_U"
    GRE = "GRE"


class IpAddressType(StrEnum):
    IP_V6 = "IP_V6"
    IP_V4 = "IP_V4"


_MAC = re.compile(r"^[0-9A-Fa-f]{2}([-:])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def check_address(value: str) -> str:
    """An address, a prefix, or a range ``a-b`` of addresses (MEC 011 TrafficFilter)."""
    text = value.strip()
    try:
        if "-" in text:
            low, high = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            if low.version != high.version or int(low) > int(high):
                raise ValueError
        else:
            ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address, prefix or address range") from None
    return text


def check_port(value: str) -> str:
    """A port or a range ``a-b`` of ports."""
    parts = value.strip().split("-", 1)
    if not all(p.strip().isdigit() and 0 <= int(p) <= 65535 for p in parts) or (
        len(parts) == 2 and int(parts[0]) > int(parts[1])
    ):
        raise ValueError(f"{value!r} is not a port (0-65535) or a port range")
    return value.strip()


def check_domain_name(value: str) -> str:
    name = value.rstrip(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a valid domain name")
    return name.lower()


class TunnelInfo(ApiModel):
    tunnel_type: TunnelType
    tunnel_dst_address: str | None = None
    tunnel_src_address: str | None = None


_INTERFACE_FIELD = {
    InterfaceType.TUNNEL: "tunnel_info",
    InterfaceType.MAC: "dst_mac_address",
    InterfaceType.IP: "dst_ip_address",
}


class DestinationInterface(ApiModel):
    interface_type: InterfaceType
    tunnel_info: TunnelInfo | None = Field(None, validate_default=True)
    src_mac_address: str | None = None
    dst_mac_address: str | None = Field(None, validate_default=True)
    dst_ip_address: str | None = Field(None, validate_default=True)

    @field_validator("tunnel_info", "dst_mac_address", "dst_ip_address")
    @classmethod
    def _required_by_type(cls, value: object, info: ValidationInfo) -> object:
        wanted = _INTERFACE_FIELD.get(info.data.get("interface_type"))  # type: ignore[arg-type]
        if value is None and wanted == info.field_name:
            raise ValueError(f"required when interfaceType is {info.data['interface_type']}")
        return value

    @field_validator("src_mac_address", "dst_mac_address")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None and not _MAC.match(value):
            raise ValueError(f"{value!r} is not a MAC address")
        return value

    @field_validator("dst_ip_address")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value


class TrafficFilter(ApiModel):
    src_address: list[str] | None = None
    dst_address: list[str] | None = None
    src_port: list[str] | None = None
    dst_port: list[str] | None = None
    protocol: list[str] | None = None
    token: list[str] | None = None
    src_tunnel_address: list[str] | None = None
    tgt_tunnel_address: list[str] | None = None
    src_tunnel_port: list[str] | None = None
    dst_tunnel_port: list[str] | None = None
    q_ci: Annotated[int, Field(ge=0, le=255)] | None = Field(None, alias="qCI")
    d_scp: Annotated[int, Field(ge=0, le=63)] | None = Field(None, alias="dSCP")
    t_c: Annotated[int, Field(ge=0, le=255)] | None = Field(None, alias="tC")

    @field_validator("src_address", "dst_address", "src_tunnel_address", "tgt_tunnel_address")
    @classmethod
    def _addresses(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [check_address(v) for v in values]

    @field_validator("src_port", "dst_port", "src_tunnel_port", "dst_tunnel_port")
    @classmethod
    def _ports(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [check_port(v) for v in values]


_NEEDS_INTERFACE = {
    TrafficRuleAction.FORWARD_DECAPSULATED,
    TrafficRuleAction.FORWARD_ENCAPSULATED,
    TrafficRuleAction.DUPLICATE_DECAPSULATED,
    TrafficRuleAction.DUPLICATE_ENCAPSULATED,
}


class TrafficRule(ApiModel):
    traffic_rule_id: Annotated[str, Field(min_length=1, max_length=128)]
    filter_type: FilterType
    priority: Int32
    traffic_filter: list[TrafficFilter]
    action: TrafficRuleAction
    dst_interface: DestinationInterface | None = Field(None, validate_default=True)
    state: RuleState

    @field_validator("dst_interface")
    @classmethod
    def _interface_for_action(
        cls, value: DestinationInterface | None, info: ValidationInfo
    ) -> DestinationInterface | None:
        action = info.data.get("action")
        if value is None and action in _NEEDS_INTERFACE:
            raise ValueError(f"required when action is {action}")
        return value


class DnsRule(ApiModel):
    dns_rule_id: Annotated[str, Field(min_length=1, max_length=128)]
    domain_name: str
    ip_address_type: IpAddressType
    ip_address: str
    ttl: Int32 | None = None
    state: RuleState

    @field_validator("domain_name")
    @classmethod
    def _domain(cls, value: str) -> str:
        return check_domain_name(value)

    @field_validator("ip_address")
    @classmethod
    def _address_matches_type(cls, value: str, info: ValidationInfo) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        kind = info.data.get("ip_address_type")
        if kind is not None and address.version != (4 if kind is IpAddressType.IP_V4 else 6):
            raise ValueError(f"{value} is not an address of ipAddressType {kind}")
        return str(address)


# --- The rest of the MEC 011 application support API: confirmations, AppTermination
# subscriptions and notifications, timing (clauses 7.1.2.4 to 7.1.4.2), and [V3] AppInfo.

Text = Annotated[str, Field(min_length=1, max_length=256)]


class OperationActionType(StrEnum):
    STOPPING = "STOPPING"
    TERMINATING = "TERMINATING"


class AppReadyConfirmation(ApiModel):
    """Clause 7.1.2.7: the instance is up and running."""

    indication: Literal["READY"]


class AppTerminationConfirmation(ApiModel):
    """Clause 7.1.2.6: the instance finished its stop or terminate actions."""

    operation_action: OperationActionType


class Link(ApiModel):
    href: str


class SelfLink(ApiModel):
    self_: Link = Field(alias="self")


APP_TERMINATION_SUBSCRIPTION = "AppTerminationNotificationSubscription"


class AppTerminationSubscriptionRequest(ApiModel):
    """Clause 7.1.3.2 as the app sends it; ``_links`` (the server's) is ignored.

    V2.2.1 (GS MEC 009 patterns) adds ``expiryDeadline``, ``requestTestNotification`` and
    ``websockNotifConfig``; ``callbackReference`` may then be left out for websocket delivery.
    """

    subscription_type: Literal["AppTerminationNotificationSubscription"]
    callback_reference: Annotated[str, Field(max_length=2048)] | None = None
    app_instance_id: Annotated[str, Field(min_length=1, max_length=128)]
    expiry_deadline: TimeStamp | None = None
    request_test_notification: bool | None = None
    websock_notif_config: WebsockNotifConfig | None = None


class AppTerminationNotificationSubscription(AppTerminationSubscriptionRequest):
    links: SelfLink = Field(alias="_links")


class SubscriptionLink(ApiModel):
    """One entry of MecAppSuptApiSubscriptionLinkList: the V2.1.1 file names the type ``rel``,
    the specification text ``subscriptionType``; both are sent."""

    href: str
    subscription_type: str
    rel: str


class SubscriptionLinks(ApiModel):
    self_: Link = Field(alias="self")
    subscriptions: list[SubscriptionLink]


class MecAppSuptApiSubscriptionLinkList(ApiModel):
    links: SubscriptionLinks = Field(alias="_links")


class TimeSourceStatus(StrEnum):
    TRACEABLE = "TRACEABLE"
    NONTRACEABLE = "NONTRACEABLE"


class CurrentTime(ApiModel):
    """Clause 7.1.2.5."""

    seconds: int
    nano_seconds: int
    time_source_status: TimeSourceStatus


class TimingCaps(ApiModel):
    """Clause 7.1.2.4. The platform advertises no NTP servers or PTP masters of its own."""

    time_stamp: TimeStamp


class ServiceDependency(ApiModel):
    ser_name: Text
    ser_category: dict[str, Any] | None = None
    version: Annotated[str, Field(max_length=64)] | None = None
    ser_transport_dependencies: list[dict[str, Any]] | None = Field(None, max_length=100)
    requested_permissions: list[Text] | None = Field(None, max_length=100)


class FeatureDependency(ApiModel):
    feature_name: Text
    version: Annotated[str, Field(max_length=64)] | None = None


class AppInfo(ApiModel):
    """[V3] What an application instance registers about itself (``/registrations``).

    ``appInstanceId`` and ``isInsByMec`` are the platform's to say: the instance of the caller
    and whether the platform instantiated it.
    """

    app_name: Text
    app_provider: Text | None = None
    app_category: dict[str, Any] | None = None
    app_d_id: Text | None = None
    app_instance_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    endpoint: dict[str, Any] | None = None
    app_service_required: list[ServiceDependency] | None = Field(None, max_length=100)
    app_service_optional: list[ServiceDependency] | None = Field(None, max_length=100)
    app_feature_required: list[FeatureDependency] | None = Field(None, max_length=100)
    app_feature_optional: list[FeatureDependency] | None = Field(None, max_length=100)
    is_ins_by_mec: bool | None = None
    app_profile: dict[str, Any] | None = None


class SelfRegistered(AppInfo):
    """The answer to a self-registration: AppInfo plus the instance's OAuth 2.0 client
    credentials, as the operator API answers a creation (the secret only this once)."""

    client_id: str
    client_secret: str

"""ETSI GS MEC 012 subscription data types (clause 6.3), with the V2.2.1 additions.

Names and enumerations are those of ``MEC012_RniAPI.yaml`` (V2.1.1): bodies are flat, with a
``subscriptionType`` discriminator and a string ``callbackReference``. V2.2.1 adds
``requestTestNotification`` and ``websockNotifConfig`` (the GS MEC 009 patterns); with websocket
delivery requested, ``callbackReference`` may be left out.

Integers are strict (``"5"`` is not a QCI). Filter lists are bounded: every value is an entry
of the in-memory matching index. ``_links`` and ``websocketUri`` are the platform's to set: they
are accepted in requests (PUT bodies carry ``_links``) and ignored.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt

from mep.core.models import ApiModel
from mep.core.notify.subscriptions import TimeStamp, WebsockNotifConfig

Text = Annotated[str, Field(min_length=1, max_length=256)]
Uri = Annotated[str, Field(min_length=1, max_length=2048)]
#: Upper bound of each filter list (associateId, ecgi, nrcgi, erabId, trigger...).
MAX_FILTER_VALUES = 100

#: TS 36.331 measurement report triggers (MEC 012 ``Trigger``).
TRIGGERS = frozenset(
    {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 30, 31, 40, 41, 42, 50, 51, 60, 61}
)
#: TS 38.331 5G measurement report triggers (MEC 012 ``TriggerNr``).
TRIGGERS_NR = frozenset({0, 1, 2, 10, 11, 12, 13, 14, 15, 20, 21, 30, 31})
#: Handover status: 1 IN_PREPARATION, 2 IN_EXECUTION, 3 COMPLETED, 4 REJECTED, 5 CANCELLED.
HO_STATUSES = frozenset({1, 2, 3, 4, 5})
HO_COMPLETED = 3
#: S1 bearer events: 1 S1_BEARER_ESTABLISH, 2 S1_BEARER_MODIFY, 3 S1_BEARER_RELEASE (0 reserved).
S1_EVENTS = frozenset({1, 2, 3})
#: AssociateId types: 1 UE_IPv4_ADDRESS, 2 UE_IPV6_ADDRESS, 3 NATED_IP_ADDRESS, 4 GTP_TEID.
ASSOCIATE_ID_TYPES = frozenset({0, 1, 2, 3, 4})
UE_IPV4_ADDRESS = 1


def _one_of(allowed: frozenset[int], name: str) -> AfterValidator:
    def check(value: int) -> int:
        if value not in allowed:
            raise ValueError(f"{value} is not a {name} ({', '.join(map(str, sorted(allowed)))})")
        return value

    return AfterValidator(check)


Trigger = Annotated[StrictInt, _one_of(TRIGGERS, "Trigger")]
TriggerNr = Annotated[StrictInt, _one_of(TRIGGERS_NR, "TriggerNr")]
HoStatus = Annotated[StrictInt, _one_of(HO_STATUSES, "HoStatus")]
S1Event = Annotated[StrictInt, _one_of(S1_EVENTS, "S1 bearer event type")]
AssociateIdType = Annotated[StrictInt, _one_of(ASSOCIATE_ID_TYPES, "AssociateId type")]
Int32 = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]


class SubscriptionType(StrEnum):
    CELL_CHANGE = "CellChangeSubscription"
    RAB_EST = "RabEstSubscription"
    RAB_MOD = "RabModSubscription"
    RAB_REL = "RabRelSubscription"
    MEAS_REP_UE = "MeasRepUeSubscription"
    NR_MEAS_REP_UE = "NrMeasRepUeSubscription"
    MEAS_TA = "MeasTaSubscription"
    CA_RECONF = "CaReconfSubscription"
    S1_BEARER = "S1BearerSubscription"


#: ``GET /subscriptions?subscription_type=`` values (GS MEC 012 7.6.3.1).
QUERY_TYPES: dict[str, SubscriptionType] = {
    "cell_change": SubscriptionType.CELL_CHANGE,
    "rab_est": SubscriptionType.RAB_EST,
    "rab_mod": SubscriptionType.RAB_MOD,
    "rab_rel": SubscriptionType.RAB_REL,
    "meas_rep_ue": SubscriptionType.MEAS_REP_UE,
    "nr_meas_rep_ue": SubscriptionType.NR_MEAS_REP_UE,
    "timing_advance_ue": SubscriptionType.MEAS_TA,
    "ca_reconf": SubscriptionType.CA_RECONF,
    "s1_bearer": SubscriptionType.S1_BEARER,
}


class LinkType(ApiModel):
    href: str


class Links(ApiModel):
    self_: LinkType = Field(alias="self")


class AssociateId(ApiModel):
    type: AssociateIdType
    value: Text


class Plmn(ApiModel):
    mcc: Annotated[str, Field(min_length=1, max_length=3)]
    mnc: Annotated[str, Field(min_length=1, max_length=3)]


class Ecgi(ApiModel):
    cell_id: Text
    plmn: Plmn


class NRcgi(ApiModel):
    nrcell_id: Text
    plmn: Plmn


AssociateIds = Annotated[list[AssociateId], Field(max_length=MAX_FILTER_VALUES)]
Ecgis = Annotated[list[Ecgi], Field(max_length=MAX_FILTER_VALUES)]


class FilterCriteriaAssoc(ApiModel):
    """GS MEC 012 6.3.6 / 6.3.8 (MeasTa, CaReconf)."""

    app_instance_id: Text | None = None
    associate_id: AssociateIds | None = None
    ecgi: Ecgis | None = None


class FilterCriteriaAssocHo(FilterCriteriaAssoc):
    """GS MEC 012 6.3.2 (CellChange). ``hoStatus`` defaults to [3] (COMPLETED)."""

    ho_status: Annotated[list[HoStatus], Field(max_length=5)] | None = None


class FilterCriteriaAssocTri(FilterCriteriaAssoc):
    """GS MEC 012 6.3.5 (MeasRepUe)."""

    trigger: Annotated[list[Trigger], Field(max_length=len(TRIGGERS))] | None = None


class FilterCriteriaNrMrs(ApiModel):
    """GS MEC 012 6.3.10 (NrMeasRepUe)."""

    app_instance_id: Text | None = None
    associate_id: AssociateIds | None = None
    nrcgi: Annotated[list[NRcgi], Field(max_length=MAX_FILTER_VALUES)] | None = None
    trigger_nr: Annotated[list[TriggerNr], Field(max_length=len(TRIGGERS_NR))] | None = None


class FilterCriteriaQci(ApiModel):
    """GS MEC 012 6.3.3 (RabEst): ``qci`` is required."""

    app_instance_id: Text | None = None
    ecgi: Ecgis | None = None
    qci: Int32


class FilterCriteriaQci1(FilterCriteriaQci):
    """GS MEC 012 6.3.4 / 6.3.7 (RabMod, RabRel): ``erabId`` and ``qci`` are required."""

    erab_id: Int32


class S1BearerSubscriptionCriteria(ApiModel):
    """GS MEC 012 6.3.9."""

    associate_id: AssociateIds | None = None
    ecgi: Ecgis | None = None
    erab_id: Annotated[list[Int32], Field(max_length=MAX_FILTER_VALUES)] | None = None


Criteria = (
    FilterCriteriaAssoc | FilterCriteriaNrMrs | FilterCriteriaQci | S1BearerSubscriptionCriteria
)


class _Subscription(ApiModel):
    """What every RNIS subscription has, V2.2.1 members included."""

    #: The (Python) name of the type's filter member.
    FILTER: ClassVar[str]

    callback_reference: Uri | None = None
    links: Links | None = Field(default=None, alias="_links")
    expiry_deadline: TimeStamp | None = None
    request_test_notification: StrictBool | None = None
    websock_notif_config: WebsockNotifConfig | None = None

    @property
    def criteria(self) -> Criteria:
        found: Criteria = getattr(self, self.FILTER)
        return found

    @classmethod
    def criteria_member(cls) -> str:
        """The wire name of the filter member, for the pointers of error reports."""
        return cls.model_fields[cls.FILTER].alias or cls.FILTER


class CellChangeSubscription(_Subscription):
    FILTER = "filter_criteria_assoc_ho"
    subscription_type: Literal["CellChangeSubscription"]
    filter_criteria_assoc_ho: FilterCriteriaAssocHo


class RabEstSubscription(_Subscription):
    FILTER = "filter_criteria_qci"
    subscription_type: Literal["RabEstSubscription"]
    filter_criteria_qci: FilterCriteriaQci


class RabModSubscription(_Subscription):
    FILTER = "filter_criteria_qci"
    subscription_type: Literal["RabModSubscription"]
    filter_criteria_qci: FilterCriteriaQci1


class RabRelSubscription(_Subscription):
    FILTER = "filter_criteria_qci"
    subscription_type: Literal["RabRelSubscription"]
    filter_criteria_qci: FilterCriteriaQci1


class MeasRepUeSubscription(_Subscription):
    FILTER = "filter_criteria_assoc_tri"
    subscription_type: Literal["MeasRepUeSubscription"]
    filter_criteria_assoc_tri: FilterCriteriaAssocTri


class NrMeasRepUeSubscription(_Subscription):
    FILTER = "filter_criteria_nr_mrs"
    subscription_type: Literal["NrMeasRepUeSubscription"]
    filter_criteria_nr_mrs: FilterCriteriaNrMrs


class MeasTaSubscription(_Subscription):
    FILTER = "filter_criteria_assoc"
    subscription_type: Literal["MeasTaSubscription"]
    filter_criteria_assoc: FilterCriteriaAssoc


class CaReconfSubscription(_Subscription):
    FILTER = "filter_criteria_assoc"
    subscription_type: Literal["CaReconfSubscription"]
    filter_criteria_assoc: FilterCriteriaAssoc


class S1BearerSubscription(_Subscription):
    FILTER = "s1_bearer_subscription_criteria"
    subscription_type: Literal["S1BearerSubscription"]
    s1_bearer_subscription_criteria: S1BearerSubscriptionCriteria = Field(
        alias="S1BearerSubscriptionCriteria"
    )
    event_type: Annotated[list[S1Event], Field(min_length=1, max_length=3)]


Subscription = (
    CellChangeSubscription
    | RabEstSubscription
    | RabModSubscription
    | RabRelSubscription
    | MeasRepUeSubscription
    | NrMeasRepUeSubscription
    | MeasTaSubscription
    | CaReconfSubscription
    | S1BearerSubscription
)

MODELS: dict[SubscriptionType, type[Subscription]] = {
    SubscriptionType.CELL_CHANGE: CellChangeSubscription,
    SubscriptionType.RAB_EST: RabEstSubscription,
    SubscriptionType.RAB_MOD: RabModSubscription,
    SubscriptionType.RAB_REL: RabRelSubscription,
    SubscriptionType.MEAS_REP_UE: MeasRepUeSubscription,
    SubscriptionType.NR_MEAS_REP_UE: NrMeasRepUeSubscription,
    SubscriptionType.MEAS_TA: MeasTaSubscription,
    SubscriptionType.CA_RECONF: CaReconfSubscription,
    SubscriptionType.S1_BEARER: S1BearerSubscription,
}


class SubscriptionLinkItem(ApiModel):
    """GS MEC 012 6.3.x ``Subscription``: a link and the type of the subscription."""

    href: str
    subscription_type: SubscriptionType


class SubscriptionLinkListLinks(ApiModel):
    self_: LinkType = Field(alias="self")
    subscription: list[SubscriptionLinkItem]


class SubscriptionLinkList(ApiModel):
    links: SubscriptionLinkListLinks = Field(alias="_links")

"""Operator API bodies for application instances (``/mep_mgmt/v1/app_instances``).

The instance carries what the MEC platform manager learns from the AppD and the instantiation
(ETSI GS MEC 010-2): the app's identity, its traffic and DNS rules (MEC 011 TrafficRule and
DnsRule), the services it requires and produces, and its graceful termination timeout.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from mep.core.models import ApiModel, StrictApiModel
from mep.mp1.app_support.models import AppInfo, DnsRule, OperationActionType, TrafficRule

Name = Annotated[str, Field(min_length=1, max_length=256)]


class AppInstanceState(StrEnum):
    """INSTANTIATED until the app confirms ready (Mp1 ``confirm_ready``), then READY;
    TERMINATING from the operator's DELETE until the removal (ETSI GS MEC 011 graceful
    termination: the app is notified and has ``maxGracefulTimeout`` to confirm)."""

    INSTANTIATED = "INSTANTIATED"
    READY = "READY"
    TERMINATING = "TERMINATING"


class AppInstanceSpec(StrictApiModel):
    """What the operator sends on POST and PUT."""

    app_name: Name
    app_provider: Name | None = None
    app_d_id: Name | None = None
    traffic_rules: list[TrafficRule] = Field(default_factory=list, max_length=1000)
    dns_rules: list[DnsRule] = Field(default_factory=list, max_length=1000)
    app_service_required: list[Name] = Field(default_factory=list, max_length=100)
    app_service_produced: list[Name] = Field(default_factory=list, max_length=100)
    graceful_termination_timeout: Annotated[int, Field(ge=0, le=3600)] = 30
    #: This instance answers the names of its DNS rules that other instances claim too
    #: (``mep.mgmt.dns_names``); at most one claimant of a name may be preferred.
    dns_preferred: bool = False


class Termination(ApiModel):
    """A termination under way: the durable timer that ends the wait, and what was notified."""

    timer: str
    operation_action: OperationActionType = OperationActionType.TERMINATING
    deadline: float


class AppInstanceRecord(ApiModel):
    """An instance as stored (the secret only as its SHA-256).

    ``spec`` is what the operator declared. The instance's current traffic and DNS rules, which
    the app may change over Mp1, are documents of their own (``mep.mgmt.rules``).
    """

    app_instance_id: str
    spec: AppInstanceSpec
    state: AppInstanceState = AppInstanceState.INSTANTIATED
    client_secret_sha256: str
    created_at: dt.datetime
    termination: Termination | None = None
    #: False for an app that registered itself (Mp1 ``/registrations``, isInsByMec false).
    is_ins_by_mec: bool = True
    registration: AppInfo | None = None


class Link(ApiModel):
    href: str


class AppInstanceLinks(ApiModel):
    self_: Link = Field(alias="self")


class AppInstance(AppInstanceSpec):
    """What the operator API answers. ``clientSecret`` appears once, in the creating response."""

    app_instance_id: str
    state: AppInstanceState
    client_id: str
    client_secret: str | None = None
    created_at: dt.datetime
    links: AppInstanceLinks = Field(alias="_links")

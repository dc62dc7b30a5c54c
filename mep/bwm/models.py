"""ETSI GS MEC 015 V2.1.1 Bandwidth Management data types (clause 7.2): BwInfo, BwInfoDeltas.

Field names are those of ``MEC015_BwManagementAPI.yaml``. ``allocationId`` is ours: the
specification names an allocation only by its resource URI (the ``Location`` of the POST); the
body repeats the id so a client listing allocations can address each one.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from mep.core.models import ApiModel
from mep.core.notify.subscriptions import TimeStamp
from mep.mp1.app_support.models import check_address, check_port

#: 1 Tbit/s: far above any access link, low enough to catch a unit mistake.
MAX_BPS = 10**12


class AllocationDirection(StrEnum):
    DOWNLINK = "00"
    UPLINK = "01"
    SYMMETRICAL = "10"


class RequestType(IntEnum):
    APPLICATION_SPECIFIC_BW_ALLOCATION = 0
    SESSION_SPECIFIC_BW_ALLOCATION = 1


class SessionFilter(ApiModel):
    """One session: "Any filtering criteria shall define a single session only"."""

    source_ip: str | None = Field(None, alias="sourceIp")
    source_port: list[str] | None = None
    dst_address: str | None = None
    dst_port: list[str] | None = None
    protocol: str | None = None

    @field_validator("source_ip", "dst_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)

    @field_validator("source_port", "dst_port")
    @classmethod
    def _ports(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [check_port(v) for v in values]


def _check_bps(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_BPS:
        raise ValueError(f"{value!r} is not a bit rate in bps (a whole number, 1 to {MAX_BPS})")
    return str(int(text))


class BwInfo(ApiModel):
    allocation_id: str | None = None
    time_stamp: TimeStamp | None = None
    app_ins_id: Annotated[str, Field(min_length=1, max_length=128)]
    request_type: RequestType
    session_filter: list[SessionFilter] | None = Field(None, validate_default=True)
    fixed_bw_priority: str | None = Field(None, alias="fixedBWPriority")
    fixed_allocation: str
    allocation_direction: AllocationDirection

    @field_validator("fixed_allocation")
    @classmethod
    def _bps(cls, value: str) -> str:
        checked = _check_bps(value)
        assert checked is not None
        return checked

    @field_validator("session_filter")
    @classmethod
    def _sessions(
        cls, value: list[SessionFilter] | None, info: ValidationInfo
    ) -> list[SessionFilter] | None:
        specific = info.data.get("request_type") is RequestType.SESSION_SPECIFIC_BW_ALLOCATION
        if specific and not value:
            raise ValueError("required when requestType is 1 (SESSION_SPECIFIC_BW_ALLOCATION)")
        if not specific and value:
            raise ValueError("only for requestType 1 (SESSION_SPECIFIC_BW_ALLOCATION)")
        return value


class BwInfoDeltas(ApiModel):
    """A PATCH: ``appInsId`` and ``requestType`` identify, the other members change."""

    app_ins_id: Annotated[str, Field(min_length=1, max_length=128)]
    request_type: RequestType
    session_filter: list[SessionFilter] | None = None
    fixed_bw_priority: str | None = Field(None, alias="fixedBWPriority")
    fixed_allocation: str | None = None
    allocation_direction: AllocationDirection | None = None

    @field_validator("fixed_allocation")
    @classmethod
    def _bps(cls, value: str | None) -> str | None:
        return _check_bps(value)

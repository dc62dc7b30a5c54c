"""Bodies of the Logging API Invocation and Auditing APIs (TS 29.222 clauses 8.6.4 and 8.7.4),
named as in ``TS29222_CAPIF_Logging_API_Invocation_API.yaml`` and ``..._Auditing_API.yaml``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field

from mep.capif.models import SupportedFeatures
from mep.capif.service_api_models import EnumText, InterfaceDescription, Name
from mep.core.models import ApiModel

#: Bounds what one POST may append: an AEF batches its logs, it does not bulk-load.
MAX_LOGS = 1000


def _date_time_text(value: Any) -> Any:
    # TS 29.122 DateTime is an RFC 3339 date-time: text, with a time and an offset (checked
    # next by AwareDatetime); not a bare date, not a number of seconds.
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError("must be an RFC 3339 date-time with a time zone offset")
    return value


DateTime = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


class Log(ApiModel):
    """One service API invocation: the record auditing and charging read."""

    api_id: Name
    api_name: Name
    api_version: Name
    resource_name: Annotated[str, Field(min_length=1, max_length=2048)]
    uri: Annotated[str, Field(max_length=8192)] | None = None
    protocol: EnumText
    operation: EnumText | None = None
    result: Annotated[str, Field(min_length=1, max_length=256)]
    invocation_time: DateTime | None = None
    invocation_latency: Annotated[int, Field(ge=0)] | None = None
    input_parameters: Any = None
    output_parameters: Any = None
    src_interface: InterfaceDescription | None = None
    dest_interface: InterfaceDescription | None = None
    fwd_interface: Annotated[str, Field(max_length=2048)] | None = None


class InvocationLog(ApiModel):
    aef_id: Name
    api_invoker_id: Name
    logs: Annotated[list[Log], Field(min_length=1, max_length=MAX_LOGS)]
    supported_features: SupportedFeatures | None = None


class InvocationLogs(ApiModel):
    multiple_invocation_logs: list[InvocationLog]
    supported_features: SupportedFeatures | None = None

"""What a CAPIF stream event reports (TS 29.222 clause 8.8.4.3.3), and to which subscription.

An event of the streams of ``mep.capif.streams`` becomes one :class:`Occurrence` of a CAPIF
event: the ids it concerns (APIs, invokers, AEFs) and what its ``eventDetail`` carries. A
subscription gets it when a filter of that event lets it through (``eventFilters[i]`` applies
to ``events[i]``; each member given must share an id with the occurrence), narrowed to the ids
the filter names. A subscription never reports what happened before it was created (a new
consumer group starts at the beginning of the retained streams).

An API invoker learns only what concerns it: events about service APIs it may discover (its
onboarding ``apiList``), and invoker, authorization, policy and invocation events about itself
(its own policy only). Provider domain functions see every event they subscribe to.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from mep.capif import streams
from mep.capif.discover import Visible
from mep.capif.event_models import CAPIFEventDetail, CAPIFEventFilter, EventNotification
from mep.capif.events import StoredSubscription
from mep.capif.identity import CapifRole
from mep.capif.invokers import Invokers
from mep.capif.publish import COLLECTION as PUBLISHED
from mep.capif.publish import from_document
from mep.core.events import Event
from mep.core.http import dump
from mep.core.problem import NotFound
from mep.core.store import Store, StoreError

log = structlog.get_logger("mep.capif.events")

JsonObject = dict[str, Any]

SERVICE_API_EVENTS = frozenset(
    {"SERVICE_API_AVAILABLE", "SERVICE_API_UNAVAILABLE", "SERVICE_API_UPDATE"}
)
INVOKER_EVENTS = frozenset(
    {"API_INVOKER_ONBOARDED", "API_INVOKER_OFFBOARDED", "API_INVOKER_UPDATED"}
)
REVOKED = "API_INVOKER_AUTHORIZATION_REVOKED"
POLICY_EVENTS = frozenset({"ACCESS_CONTROL_POLICY_UPDATE", "ACCESS_CONTROL_POLICY_UNAVAILABLE"})
INVOCATION = "SERVICE_API_INVOCATION"
SUCCESS, FAILURE = "SERVICE_API_INVOCATION_SUCCESS", "SERVICE_API_INVOCATION_FAILURE"
#: The outbox's event ids start with the commit time in nanoseconds (``mep.core.outbox``).
_EVENT_TIME = re.compile(r"^(\d{19,20})-")
_STATUS = re.compile(r"^\s*(\d{3})\b")


class MalformedEvent(ValueError):
    """A stream event this reporter cannot read; the message says what is wrong."""


class PolicyReader(Protocol):
    """The access control policies of published APIs (TS 29.222 clause 8.16)."""

    async def policy_list(self, api_id: str) -> dict[str, Any]:
        """The AccessControlPolicyList of ``api_id`` (``apiInvokerPolicies``)."""
        ...


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One CAPIF event, and the ids a filter or an audience may narrow it to."""

    event: str
    api_ids: tuple[str, ...] = ()
    invoker_ids: tuple[str, ...] = ()
    #: ``None``: not known (the event of an unpublished API names none), so an ``aefIds``
    #: filter cannot exclude it: telling too much of a removal beats never telling it.
    aef_ids: tuple[str, ...] | None = ()
    api_names: tuple[str, ...] = ()
    descriptions: tuple[JsonObject, ...] = ()
    policy: JsonObject | None = None
    invocation_log: JsonObject | None = None
    occurred_at: float | None = None
    #: Whether ``invoker_ids`` was narrowed (a policy list is then cut to those invokers).
    invoker_scoped: bool = False


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{name} is not a non-empty string")
    return value


def _optional_texts(payload: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedEvent(f"{name} is not a list of strings")
    return tuple(value)


def occurred_at(payload: Mapping[str, Any]) -> float | None:
    match = _EVENT_TIME.match(str(payload.get("eventId", "")))
    return int(match.group(1)) / 1e9 if match else None


def invocation_outcome(log_record: Mapping[str, Any]) -> str:
    """SUCCESS when every Log's ``result`` is an HTTP 2xx or 3xx status, else FAILURE."""
    for entry in log_record["logs"]:
        status = _STATUS.match(str(entry.get("result", "")))
        if status is None or not 200 <= int(status.group(1)) < 400:
            return FAILURE
    return SUCCESS


def _kept(have: tuple[str, ...], wanted: Collection[str]) -> tuple[str, ...]:
    return tuple(value for value in have if value in wanted)


def apply_filter(
    occurrence: Occurrence, event_filter: CAPIFEventFilter | None
) -> Occurrence | None:
    """``occurrence`` narrowed to the ids the filter names; ``None`` when it does not pass."""
    if event_filter is None:
        return occurrence
    changes: dict[str, Any] = {}
    if event_filter.api_ids is not None:
        changes["api_ids"] = _kept(occurrence.api_ids, event_filter.api_ids)
        if not changes["api_ids"]:
            return None
    if event_filter.api_invoker_ids is not None:
        changes["invoker_ids"] = _kept(occurrence.invoker_ids, event_filter.api_invoker_ids)
        changes["invoker_scoped"] = True
        if not changes["invoker_ids"]:
            return None
    aef_ids = occurrence.aef_ids
    if (
        event_filter.aef_ids is not None
        and aef_ids is not None
        and not _kept(aef_ids, event_filter.aef_ids)
    ):
        return None
    return dataclasses.replace(occurrence, **changes)


def detail(occurrence: Occurrence) -> CAPIFEventDetail:
    """The ``eventDetail`` TS 29.222 clause 8.8.4.2.5 gives each CAPIF event."""
    event = occurrence.event
    if event in SERVICE_API_EVENTS:
        descriptions = [d for d in occurrence.descriptions if d.get("apiId") in occurrence.api_ids]
        return CAPIFEventDetail(
            service_api_descriptions=descriptions or None, api_ids=list(occurrence.api_ids)
        )
    if event in INVOKER_EVENTS:
        return CAPIFEventDetail(api_invoker_ids=list(occurrence.invoker_ids))
    if event == REVOKED:
        return CAPIFEventDetail(
            api_invoker_ids=list(occurrence.invoker_ids), api_ids=list(occurrence.api_ids) or None
        )
    if event in POLICY_EVENTS:
        if occurrence.policy is None:
            return CAPIFEventDetail(api_ids=list(occurrence.api_ids))
        policies = occurrence.policy.get("apiInvokerPolicies") or []
        if occurrence.invoker_scoped:
            policies = [p for p in policies if p.get("apiInvokerId") in occurrence.invoker_ids]
        policy_list = {**occurrence.policy, "apiInvokerPolicies": policies}
        return CAPIFEventDetail(acc_ctrl_pol_list={**policy_list, "apiId": occurrence.api_ids[0]})
    assert occurrence.invocation_log is not None
    return CAPIFEventDetail(invocation_logs=[occurrence.invocation_log])


class EventReports:
    """Reads stream events into occurrences, and an occurrence into each subscription's
    EventNotification."""

    def __init__(
        self,
        store: Store,
        invokers: Invokers,
        policies: Callable[[], PolicyReader | None] = lambda: None,
    ) -> None:
        """``policies``: the access control policy reader, when the platform has one (looked
        up per event, so it may be wired after this)."""
        self._store = store
        self._invokers = invokers
        self._policies = policies

    async def occurrence(self, event: Event) -> Occurrence | None:
        """The CAPIF event ``event`` reports; ``None`` for kinds no CAPIF event reports.
        :class:`MalformedEvent` when it cannot be read."""
        payload = event.payload
        kind = payload.get("type")
        if not isinstance(kind, str):
            raise MalformedEvent("type is not a string")
        at = occurred_at(payload)
        if event.stream == streams.SERVICE_APIS and kind in SERVICE_API_EVENTS:
            return await self._service_api(kind, payload, at)
        if event.stream == streams.INVOKERS and kind in INVOKER_EVENTS:
            invoker = _text(payload, "apiInvokerId")
            return Occurrence(kind, invoker_ids=(invoker,), occurred_at=at)
        if event.stream == streams.SECURITY and kind == REVOKED:
            aef_id = payload.get("aefId")
            return Occurrence(
                kind,
                api_ids=_optional_texts(payload, "apiIds") or (),
                invoker_ids=(_text(payload, "apiInvokerId"),),
                aef_ids=(aef_id,) if isinstance(aef_id, str) else (),
                occurred_at=at,
            )
        if event.stream == streams.ACCESS_CONTROL and kind in POLICY_EVENTS:
            return await self._policy(kind, payload, at)
        if event.stream == streams.INVOCATIONS and kind == INVOCATION:
            return _invocation(payload, at)
        return None

    async def notification(
        self, stored: StoredSubscription, occurrence: Occurrence
    ) -> JsonObject | None:
        """The EventNotification of ``occurrence`` for ``stored``, or ``None`` when its filters
        or its subscriber's rights keep it out."""
        if occurrence.occurred_at is not None and occurrence.occurred_at < stored.created_at:
            return None
        passed = None
        for event_filter in stored.filters_for(occurrence.event):
            passed = apply_filter(occurrence, event_filter)
            if passed is not None:
                break
        if passed is not None and stored.role is CapifRole.INVOKER:
            passed = await self._for_invoker(stored.subscriber_id, passed)
        if passed is None:
            return None
        body = EventNotification(
            subscription_id=stored.id, events=occurrence.event, event_detail=detail(passed)
        )
        return dump(body)

    async def _for_invoker(self, invoker_id: str, occurrence: Occurrence) -> Occurrence | None:
        if occurrence.event not in SERVICE_API_EVENTS:
            if invoker_id not in occurrence.invoker_ids:
                return None
            return dataclasses.replace(occurrence, invoker_ids=(invoker_id,), invoker_scoped=True)
        try:
            invoker = await self._invokers.get(invoker_id)
        except NotFound:
            return None
        api_list = invoker.details.api_list
        visible = Visible.of(api_list.service_api_descriptions or [] if api_list else [])
        if visible.everything or set(occurrence.api_names) & visible.names:
            return occurrence
        kept = _kept(occurrence.api_ids, visible.ids)
        return dataclasses.replace(occurrence, api_ids=kept) if kept else None

    async def _service_api(
        self, kind: str, payload: Mapping[str, Any], at: float | None
    ) -> Occurrence:
        api_id = _text(payload, "apiId")
        aef_ids = _optional_texts(payload, "aefIds")
        name = payload.get("apiName")
        names: tuple[str, ...] = (name,) if isinstance(name, str) else ()
        descriptions: tuple[JsonObject, ...] = ()
        if kind != "SERVICE_API_UNAVAILABLE":
            doc = await self._store.get(PUBLISHED, api_id)
            if doc is not None:
                api = from_document(doc)
                descriptions = (api.description_json(),)
                aef_ids = tuple(p.aef_id for p in api.description.aef_profiles or [])
                names = (api.description.api_name,)
        return Occurrence(
            kind,
            api_ids=(api_id,),
            aef_ids=aef_ids,
            api_names=names,
            descriptions=descriptions,
            occurred_at=at,
        )

    async def _policy(self, kind: str, payload: Mapping[str, Any], at: float | None) -> Occurrence:
        api_id = _text(payload, "apiId")
        invoker = payload.get("apiInvokerId")
        policy = None
        reader = self._policies()
        if reader is not None and kind == "ACCESS_CONTROL_POLICY_UPDATE":
            try:
                found = await reader.policy_list(api_id)
            except StoreError:
                raise
            except Exception as error:  # the report goes out with apiIds alone
                log.warning("access control policy not read", api_id=api_id, error=repr(error))
            else:
                if isinstance(found, dict) and isinstance(found.get("apiInvokerPolicies"), list):
                    policy = {k: v for k, v in found.items() if k != "apiId"}
        return Occurrence(
            kind,
            api_ids=(api_id,),
            invoker_ids=(invoker,) if isinstance(invoker, str) else (),
            policy=policy,
            occurred_at=at,
        )


def _invocation(payload: Mapping[str, Any], at: float | None) -> Occurrence:
    record = payload.get("invocationLog")
    if not isinstance(record, dict):
        raise MalformedEvent("invocationLog is not an object")
    aef_id, invoker_id = _text(record, "aefId"), _text(record, "apiInvokerId")
    entries = record.get("logs")
    if (
        not isinstance(entries, list)
        or not entries
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise MalformedEvent("invocationLog.logs is not a non-empty list of Log objects")
    api_ids = tuple(dict.fromkeys(e["apiId"] for e in entries if isinstance(e.get("apiId"), str)))
    return Occurrence(
        invocation_outcome(record),
        api_ids=api_ids,
        invoker_ids=(invoker_id,),
        aef_ids=(aef_id,),
        invocation_log=record,
        occurred_at=at,
    )

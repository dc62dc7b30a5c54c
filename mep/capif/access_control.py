"""Access control policies (TS 29.222 clause 8.11): per API and invoker, how many invocations
in total, how many per second, and in which time ranges.

The operator sets a policy per API and invoker (``/mep_mgmt/v1/capif/access-control-policies``);
AEFs read them as ``AccessControlPolicyList`` (``/access-control-policy/v1``); the platform's
gateway enforces them on every call. The total counts the admitted invocations recorded in
the journal (exact across replicas: it is an index count in the shared store). The per-second
rate is a token bucket in each replica: with n replicas behind a balancer, an invoker may get up
to n times its rate; a shared counter per call would cost a store write for every call.

The gateway reads a policy on every call, and most invokers have none: a policy (or its absence)
is remembered for ``CACHE_SECONDS``, so a change made on another replica applies within that.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, model_validator

from mep.capif import streams
from mep.capif.journal import InvocationJournal
from mep.core.commits import Committer
from mep.core.models import StrictApiModel
from mep.core.outbox import Outbox
from mep.core.store import Delete, Put

COLLECTION = "capif_access_policies"
BY_API = "api"
CACHE_SECONDS = 1.0


class TimeRangeList(StrictApiModel):
    start_time: dt.datetime | None = None
    stop_time: dt.datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeList:
        for name in ("start_time", "stop_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone offset (RFC 3339)")
        if self.start_time and self.stop_time and self.stop_time <= self.start_time:
            raise ValueError("stopTime must be after startTime")
        return self


class AccessPolicyRequest(StrictApiModel):
    """The operator's policy for one invoker on one API; ``revokeOnOverlimit`` makes the
    gateway revoke the invoker's authorization (cause ``OVERLIMIT_USAGE``) once over a quota."""

    allowed_total_invocations: Annotated[int, Field(ge=0)] | None = None
    allowed_invocations_per_second: Annotated[int, Field(ge=1)] | None = None
    allowed_invocation_time_range_list: (
        Annotated[list[TimeRangeList], Field(min_length=1, max_length=100)] | None
    ) = None
    revoke_on_overlimit: bool = False


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    api_id: str
    api_invoker_id: str
    rules: AccessPolicyRequest
    version: int

    def invoker_policy(self) -> dict[str, Any]:
        """The ``ApiInvokerPolicy`` of TS 29.222."""
        body = self.rules.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"revoke_on_overlimit"}
        )
        return {"apiInvokerId": self.api_invoker_id, **body}

    def to_json(self) -> dict[str, Any]:
        return {
            "apiId": self.api_id,
            "apiInvokerId": self.api_invoker_id,
            "rules": self.rules.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


def _key(api_id: str, api_invoker_id: str) -> str:
    return f"{api_id}|{api_invoker_id}"


def _policy(data: dict[str, Any], version: int) -> AccessPolicy:
    rules = AccessPolicyRequest.model_validate(data["rules"])
    return AccessPolicy(data["apiId"], data["apiInvokerId"], rules, version)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the policy refuses a call: ``status`` 403 (outside the time ranges) or 429 (over a
    quota); ``revoke`` when the policy asks for the authorization to go."""

    status: int
    detail: str
    revoke: bool


class _Bucket:
    def __init__(self, rate: int, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate)
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.rate), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class AccessPolicies:
    def __init__(
        self,
        committer: Committer,
        outbox: Outbox,
        journal: InvocationJournal,
        *,
        authorised: Callable[[str], Awaitable[list[str]]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``authorised(api_id)``: the invokers whose security context covers the API (they
        are listed with the policies even without one of their own)."""
        self._committer = committer
        self._store = committer.store
        self._outbox = outbox
        self._journal = journal
        self._authorised = authorised
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._cached: dict[str, tuple[float, AccessPolicy | None]] = {}

    async def get(self, api_id: str, api_invoker_id: str) -> AccessPolicy | None:
        doc = await self._store.get(COLLECTION, _key(api_id, api_invoker_id))
        return None if doc is None else _policy(doc.data, doc.version)

    async def _current(self, api_id: str, api_invoker_id: str) -> AccessPolicy | None:
        key, now = _key(api_id, api_invoker_id), self._clock()
        cached = self._cached.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        policy = await self.get(api_id, api_invoker_id)
        if len(self._cached) > 100_000:
            self._cached.clear()
        self._cached[key] = (now + CACHE_SECONDS, policy)
        return policy

    async def for_api(self, api_id: str) -> list[AccessPolicy]:
        return [
            _policy(d.data, d.version) for d in await self._store.find(COLLECTION, BY_API, api_id)
        ]

    async def put(
        self, api_id: str, api_invoker_id: str, rules: AccessPolicyRequest
    ) -> tuple[AccessPolicy, bool]:
        """The policy as stored, and whether it is new."""
        key = _key(api_id, api_invoker_id)
        policy = AccessPolicy(api_id, api_invoker_id, rules, 0)
        put = Put(COLLECTION, key, policy.to_json(), indexes={BY_API: [api_id]})
        (version, _) = await self._committer.commit([put, self._event(api_id, api_invoker_id)])
        self._buckets.pop(key, None)
        self._cached.pop(key, None)
        # A document's version starts at 1: version 1 is the write that made it.
        return AccessPolicy(api_id, api_invoker_id, rules, version), version == 1

    async def delete(self, api_id: str, api_invoker_id: str) -> bool:
        key = _key(api_id, api_invoker_id)
        if await self._store.get(COLLECTION, key) is None:
            return False
        await self._committer.commit([Delete(COLLECTION, key), self._event(api_id, api_invoker_id)])
        self._buckets.pop(key, None)
        self._cached.pop(key, None)
        return True

    def _event(self, api_id: str, api_invoker_id: str) -> Put:
        payload = {
            "type": "ACCESS_CONTROL_POLICY_UPDATE",
            "apiId": api_id,
            "apiInvokerId": api_invoker_id,
        }
        return self._outbox.entry(streams.ACCESS_CONTROL, payload)

    async def policy_list(self, api_id: str, *, only: str | None = None) -> dict[str, Any]:
        """The ``AccessControlPolicyList`` of ``api_id``: every invoker with a policy or
        authorised for the API; ``only`` keeps one invoker."""
        policies = {p.api_invoker_id: p.invoker_policy() for p in await self.for_api(api_id)}
        invokers = await self._authorised(api_id) if self._authorised is not None else []
        for invoker in invokers:
            policies.setdefault(invoker, {"apiInvokerId": invoker})
        listed = [policies[i] for i in sorted(policies) if only is None or i == only]
        return {"apiInvokerPolicies": listed}

    async def check(
        self, api_id: str, api_invoker_id: str, *, now: dt.datetime | None = None
    ) -> Refusal | None:
        """``None`` when the policy admits one more invocation now (and counts it against the
        rate), else why not."""
        policy = await self._current(api_id, api_invoker_id)
        if policy is None:
            return None
        rules = policy.rules
        revoke = rules.revoke_on_overlimit
        ranges = rules.allowed_invocation_time_range_list
        if ranges is not None and not _within(ranges, now or dt.datetime.now(dt.UTC)):
            return Refusal(403, "outside the invocation time ranges the policy allows", False)
        total = rules.allowed_total_invocations
        if total is not None and await self._journal.usage(api_id, api_invoker_id) >= total:
            return Refusal(429, f"the policy allows {total} invocations in total", revoke)
        rate = rules.allowed_invocations_per_second
        if rate is not None:
            key = _key(api_id, api_invoker_id)
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate:
                bucket = self._buckets[key] = _Bucket(rate, self._clock())
            if not bucket.take(self._clock()):
                return Refusal(429, f"the policy allows {rate} invocations per second", revoke)
        return None


def _within(ranges: Iterable[TimeRangeList], now: dt.datetime) -> bool:
    return any(
        (r.start_time is None or r.start_time <= now) and (r.stop_time is None or now < r.stop_time)
        for r in ranges
    )

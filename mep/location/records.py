"""How Location subscriptions live in the store, and the links the API writes.

Collections (no ``:`` or ``/`` in their names, see ``mep.core.store.redis``):

* ``loc_subscriptions``: one document per subscription of any of the six types::

    {"kind": "circle", "owner": "<appInstanceId>|operator",
     "subscription": {...},   # the request as accepted: wire names, no resourceURL/link/duration
     "expiresAt": 1700000000.0 | null, "durationTimer": "<timer id>" | null,
     "run": {...}}            # the running state, see Run

  found by ``owner`` (``<kind>|<owner>``) and ``kind``. The running state is written in the
  same commit as the notifications it accounts for, so a restart resumes where it stopped: a
  circle remembers which addresses it reported inside, a count what it sent.
* ``loc_correlators``: a guard per (kind, owner, clientCorrelator), written with
  ``expected_version=ABSENT`` in the subscription's commit, so a repeated create with the same
  clientCorrelator finds the first subscription instead of making a second (OMA
  REST_NetAPI_Common idempotency).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from mep.core.notify.deliveries import Target
from mep.core.notify.subscriptions import target_key
from mep.core.store import Delete, Document, Operation, Put
from mep.core.timers import cancel
from mep.location.kinds import KINDS, Kind
from mep.location.models import AnySubscription

SUBSCRIPTIONS = "loc_subscriptions"
CORRELATORS = "loc_correlators"
API = "/location/v2"

#: Timer kinds: the next periodic notification, a re-check after a frequency hold-off, and the
#: end of a subscription's ``duration``.
PERIODIC = "location.periodic"
RECHECK = "location.recheck"
DURATION = "location.duration"

#: Service policy (MEC 013: "If set to 0, a default duration time, which is specified by the
#: service policy, will be used"): one day. Omitted: no limit, until deleted.
DEFAULT_DURATION = 86_400

#: ``Run.sent`` key of a count that is per subscription (distance, periodic), not per address.
WHOLE = ""


@dataclass(frozen=True)
class Run:
    """The running state of a subscription; reset by a PUT.

    ``inside``: circle, per address, whether it was last reported (or recorded) inside.
    ``met``: distance, whether the criteria were last reported (or recorded) met.
    ``sent``: notifications sent, per address (circle) or under ``WHOLE``.
    ``last``: when the last notification was queued (``frequency`` hold-off).
    ``timer``: periodic: the next firing; circle and distance: a pending re-check.
    """

    inside: Mapping[str, bool] = field(default_factory=dict)
    met: bool | None = None
    sent: Mapping[str, int] = field(default_factory=dict)
    last: float | None = None
    timer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "inside": dict(self.inside),
            "met": self.met,
            "sent": dict(self.sent),
            "last": self.last,
            "timer": self.timer,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Run:
        if not data:
            return cls()
        return cls(
            inside=dict(data.get("inside") or {}),
            met=data.get("met"),
            sent=dict(data.get("sent") or {}),
            last=data.get("last"),
            timer=data.get("timer"),
        )


@dataclass(frozen=True)
class Stored:
    id: str
    kind: Kind
    owner: str
    version: int
    subscription: AnySubscription
    run: Run = field(default_factory=Run)
    expires_at: float | None = None
    duration_timer: str | None = None

    @property
    def key(self) -> str:
        """The delivery queue of this subscription."""
        return target_key(SUBSCRIPTIONS, self.id)

    @property
    def target(self) -> Target:
        return Target(self.key, self.subscription.callback_reference.notify_url)

    @property
    def callback_data(self) -> str | None:
        return self.subscription.callback_reference.callback_data

    def with_run(self, run: Run) -> Stored:
        return replace(self, run=run)

    def data(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "owner": self.owner,
            "subscription": subscription_json(self.subscription),
            "expiresAt": self.expires_at,
            "durationTimer": self.duration_timer,
            "run": self.run.to_json(),
        }

    def indexes(self) -> dict[str, list[str]]:
        return {"owner": [owner_key(self.kind, self.owner)], "kind": [self.kind.value]}

    def put(self, run: Run | None = None, *, expected: int | None = None) -> Put:
        """The write of this subscription (with ``run``, if given) at its version."""
        stored = self if run is None else self.with_run(run)
        version = self.version if expected is None else expected
        return Put(SUBSCRIPTIONS, self.id, stored.data(), version, stored.indexes())

    @classmethod
    def from_data(
        cls, id: str, version: int, data: Mapping[str, Any], parsed: AnySubscription | None = None
    ) -> Stored:
        kind = Kind(data["kind"])
        subscription = parsed or KINDS[kind].model.model_validate(data["subscription"])
        return cls(
            id,
            kind,
            str(data["owner"]),
            version,
            subscription,
            Run.from_json(data.get("run")),
            data.get("expiresAt"),
            data.get("durationTimer"),
        )

    @classmethod
    def from_document(cls, doc: Document) -> Stored:
        return cls.from_data(doc.id, doc.version, doc.data)


def subscription_json(subscription: AnySubscription) -> dict[str, Any]:
    """The request as stored: wire names, without the members the server owns."""
    return subscription.model_dump(
        mode="json",
        by_alias=True,
        exclude_none=True,
        exclude={"resource_url", "link", "duration"},
    )


def owner_key(kind: Kind, owner: str) -> str:
    return f"{kind.value}|{owner}"


def correlator_guard(kind: Kind, owner: str, correlator: str) -> str:
    """Guard id: a digest, so that any correlator text makes a short, safe id."""
    raw = "\x00".join((kind.value, owner, correlator)).encode()
    return hashlib.sha256(raw).hexdigest()


def removal_ops(stored: Stored, *, firing: str | None = None) -> list[Operation]:
    """The writes that end a subscription: the document (at its version), its timers (but the
    ``firing`` one, which the timer service deletes itself) and its clientCorrelator guard.
    Queued notifications stay: a final one must still go out."""
    ops: list[Operation] = [Delete(SUBSCRIPTIONS, stored.id, stored.version)]
    for timer in (stored.duration_timer, stored.run.timer):
        if timer is not None and timer != firing:
            ops.append(cancel(timer))
    correlator = stored.subscription.client_correlator
    if correlator is not None:
        ops.append(Delete(CORRELATORS, correlator_guard(stored.kind, stored.owner, correlator)))
    return ops


class Links:
    """The absolute URIs of the API (``resourceURL`` members, ``Location`` headers, links)."""

    def __init__(self, base_url: str) -> None:
        self.root = f"{base_url}{API}"

    def subscriptions(self, kind: Kind) -> str:
        return f"{self.root}/subscriptions/{KINDS[kind].path}"

    def subscription(self, kind: Kind, subscription_id: str) -> str:
        return f"{self.subscriptions(kind)}/{subscription_id}"

    def users(self, query: str = "") -> str:
        return f"{self.root}/queries/users" + (f"?{query}" if query else "")

    def user(self, address: str) -> str:
        return f"{self.root}/queries/users?address={quote(address, safe=':')}"

    def zones(self) -> str:
        return f"{self.root}/queries/zones"

    def zone(self, zone_id: str) -> str:
        return f"{self.zones()}/{quote(zone_id, safe='')}"

    def access_points(self, zone_id: str) -> str:
        return f"{self.zone(zone_id)}/accessPoints"

    def access_point(self, zone_id: str, access_point_id: str) -> str:
        return f"{self.access_points(zone_id)}/{quote(access_point_id, safe='')}"

    def distance(self) -> str:
        return f"{self.root}/queries/distance"

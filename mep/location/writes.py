"""The store writes an :class:`~mep.location.matching.Outcome` stands for, in one list for one
commit: its notifications, then the subscription's running state or its removal, and the timer
of a pending re-check. Notifications are queued in the order given, which is the order in which
each subscription's queue delivers them."""

from __future__ import annotations

from dataclasses import replace

from mep.core.notify.deliveries import Notifier
from mep.core.store import Operation
from mep.core.timers import cancel, schedule, timer_id
from mep.location.matching import Outcome
from mep.location.records import RECHECK, removal_ops


def outcome_ops(
    notifier: Notifier, outcome: Outcome, *, write: bool = False, firing: str | None = None
) -> list[Operation]:
    """``write``: store the running state even if the outcome did not change it (a re-check
    clears its timer). ``firing``: the timer being fired, which its own commit deletes."""
    stored = outcome.stored
    ops: list[Operation] = [notifier.queue(stored.target, body) for body in outcome.notifications]
    if outcome.final:
        return ops + removal_ops(stored, firing=firing)
    run = outcome.run or stored.run
    write = write or outcome.run is not None
    if outcome.recheck_at is not None:
        pending = timer_id(RECHECK, stored.id, outcome.recheck_at)
        if run.timer != pending:
            if run.timer is not None and run.timer != firing:
                ops.append(cancel(run.timer))
            ops.append(schedule(RECHECK, stored.id, outcome.recheck_at))
            run, write = replace(run, timer=pending), True
    if write:
        ops.append(stored.put(run))
    return ops

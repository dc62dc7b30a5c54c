"""Graceful termination of an application instance (ETSI GS MEC 011, AppTermination).

The operator's DELETE starts it. An instance with an active AppTermination subscription is moved
to TERMINATING, in one commit with: an AppTerminationNotification (``operationAction:
TERMINATING``, ``maxGracefulTimeout`` = the instance's ``gracefulTerminationTimeout``) queued for
each such subscription, and a durable timer due when that timeout runs out. The instance is then
removed by whichever comes first: its ``confirm_termination`` (which cancels the timer in the
removal's commit) or the timer (whose firing commits the removal with the timer's deletion). The
timer is a document in the store, so a restart during the wait resumes it. Without a subscription,
or with a timeout of 0, the removal is made at once.

The removal is one commit: the instance at the version read (so a concurrent change makes it
retry rather than leave anything behind), its rules, its AppTermination subscriptions, its
services and service subscriptions (the service registry's ``removal_ops``, which also queues
the REMOVED notifications), the revocation of its tokens and the ``AppInstanceDeleted`` event.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from mep.core.commits import Committer
from mep.core.notify.deliveries import Notifier
from mep.core.optimistic import optimistically
from mep.core.problem import Conflict
from mep.core.store import Operation
from mep.core.timers import Timer, cancel, schedule
from mep.mgmt.models import AppInstanceState, Termination
from mep.mgmt.service import AppInstanceService, StoredInstance
from mep.mp1.app_support.links import Links
from mep.mp1.app_support.models import OperationActionType
from mep.mp1.app_support.rule_ports import RulePorts
from mep.mp1.app_support.subscriptions import StoredSubscription, TerminationSubscriptions

TIMER_KIND = "app.termination"

#: The writes removing an app's services and service subscriptions (with their notifications).
InstanceRemoval = Callable[[str], Awaitable[Sequence[Operation]]]


@dataclass(frozen=True)
class Outcome:
    """``instance`` None: removed at once. Else it waits, TERMINATING, as ``instance``."""

    instance: StoredInstance | None = None


class Terminations:
    def __init__(
        self,
        committer: Committer,
        instances: AppInstanceService,
        subscriptions: TerminationSubscriptions,
        notifier: Notifier,
        ports: RulePorts,
        removals: Sequence[InstanceRemoval],
        links: Links,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._instances = instances
        self._subscriptions = subscriptions
        self._notifier = notifier
        self._ports = ports
        self._removals = removals
        self._links = links
        self._clock = clock

    async def terminate(self, instance_id: str) -> Outcome:
        """The operator's DELETE; a second call during the wait changes nothing."""

        async def attempt() -> Outcome:
            current = await self._instances.get(instance_id)
            if current.record.state is AppInstanceState.TERMINATING:
                return Outcome(current)
            subscribed = [s for s in await self._subscriptions.of_instance(instance_id) if s.active]
            timeout = current.record.spec.graceful_termination_timeout
            if not subscribed or timeout == 0:
                await self._committer.commit(await self._removal_ops(current))
                await self._ports.flush()
                return Outcome()
            return Outcome(await self._begin(current, subscribed))

        return await optimistically(attempt, what="the instance")

    async def _begin(
        self, current: StoredInstance, subscribed: Sequence[StoredSubscription]
    ) -> StoredInstance:
        record = current.record
        instance_id = record.app_instance_id
        timeout = record.spec.graceful_termination_timeout
        deadline = self._clock() + timeout
        timer = schedule(TIMER_KIND, instance_id, deadline)
        action = OperationActionType.TERMINATING
        terminating = record.model_copy(
            update={
                "state": AppInstanceState.TERMINATING,
                "termination": Termination(
                    timer=timer.id, operation_action=action, deadline=deadline
                ),
            }
        )
        notifications: list[Operation] = []
        for found in subscribed:
            body = {
                "notificationType": "AppTerminationNotification",
                "operationAction": action.value,
                "maxGracefulTimeout": timeout,
                "_links": {
                    "subscription": {"href": self._subscriptions.href(found)},
                    "confirmTermination": {"href": self._links.confirm_termination(instance_id)},
                },
            }
            # Past the deadline the notification is moot: the instance is gone.
            notifications.append(self._notifier.queue(found.target(deadline), body))
        ops = [
            self._instances.write(current, terminating),
            timer,
            *notifications,
            self._instances.event("AppInstanceTerminating", instance_id),
        ]
        versions = await self._committer.commit(ops)
        return StoredInstance(terminating, versions[0])

    async def confirm(self, instance_id: str, action: OperationActionType | None) -> None:
        """The app's ``confirm_termination``: the removal, at once. 409 when none is under way
        or ``action`` is not the one notified."""

        async def attempt() -> None:
            current = await self._instances.get(instance_id)
            termination = current.record.termination
            if current.record.state is not AppInstanceState.TERMINATING or termination is None:
                raise Conflict(f"no termination of {instance_id!r} is under way")
            if action is not None and action is not termination.operation_action:
                raise Conflict(
                    f"the operation under way is {termination.operation_action}, not {action}"
                )
            ops = [*await self._removal_ops(current), cancel(termination.timer)]
            await self._committer.commit(ops)
            await self._ports.flush()

        await optimistically(attempt, what="the instance")

    async def remove_now(self, instance_id: str) -> None:
        """Remove at once, without notifying: the app itself asked (it deregistered)."""

        async def attempt() -> None:
            current = await self._instances.get(instance_id)
            ops = list(await self._removal_ops(current))
            if current.record.termination is not None:
                ops.append(cancel(current.record.termination.timer))
            await self._committer.commit(ops)
            await self._ports.flush()

        await optimistically(attempt, what="the instance")

    async def on_timer(self, timer: Timer) -> Sequence[Operation]:
        """The graceful timeout ran out: the removal, committed with the timer's deletion."""
        current = await self._instances.find(timer.key)
        if current is None:
            return []
        termination = current.record.termination
        if termination is None or termination.timer != timer.id:
            return []
        return await self._removal_ops(current)

    async def _removal_ops(self, current: StoredInstance) -> list[Operation]:
        instance_id = current.record.app_instance_id
        ops = [
            *await self._instances.removal_ops(current),
            *await self._subscriptions.removal_ops(instance_id),
        ]
        for removal in self._removals:  # what the other APIs hold of the instance
            ops += await removal(instance_id)
        return ops

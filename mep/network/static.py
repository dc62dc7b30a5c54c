"""A NetworkSource whose state is set from outside: the empty network of ``MEP_SCENARIO=none``,
and the source tests drive to make RNIS and Location events happen exactly when they want."""

from __future__ import annotations

from collections.abc import Sequence

from mep.network.port import Listener, NetworkEvent, NetworkState


def empty_state(at: float = 0.0) -> NetworkState:
    return NetworkState(plmns=(), cells={}, zones={}, access_points={}, ues={}, at=at)


class StaticNetworkSource:
    def __init__(self, state: NetworkState | None = None) -> None:
        self._state = state or empty_state()
        self._listeners: list[Listener] = []

    @property
    def state(self) -> NetworkState:
        return self._state

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def change(self, state: NetworkState, events: Sequence[NetworkEvent] = ()) -> None:
        """Replace the state and tell every listener, in order, before returning."""
        self._state = state
        for listener in self._listeners:
            await listener(state, events)

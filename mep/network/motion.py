"""How simulated UEs move, on the local plane of :class:`mep.network.radio.Projection` (metres).

- :class:`PathMover`: along waypoints at a constant speed; at the last one it stops, loops back
  to the first, or walks the path in reverse.
- :class:`WalkMover`: the random-waypoint model: walk in a straight line to a random point of
  the bounding box at a random speed within [min, max], then draw the next point and speed.
  Draws come from the UE's own seeded generator, so the same seed gives the same walk, and
  adding a UE to a scenario does not change the others' walks.
- :class:`Still`: does not move.

A mover keeps its plan (next waypoint or destination) when the operator puts the UE elsewhere,
and goes on from the new position.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Protocol

from mep.network.scenario import PathEnd

Point = tuple[float, float]
# A UE passes at most this many waypoints or destinations in one tick (a fast UE on a dense
# path); the cap only guards against a degenerate path looping forever.
_MAX_LEGS_PER_TICK = 10_000


class Mover(Protocol):
    speed: float

    def advance(self, x: float, y: float, dt: float) -> Point: ...


class Still:
    __slots__ = ("speed",)

    def __init__(self) -> None:
        self.speed = 0.0

    def advance(self, x: float, y: float, dt: float) -> Point:
        return x, y


class PathMover:
    __slots__ = ("_direction", "_end", "_points", "_target", "speed")

    def __init__(self, points: Sequence[Point], speed: float, end: PathEnd, *, target: int) -> None:
        self._points = tuple(points)
        self._target = min(target, len(self._points) - 1)
        self._direction = 1
        self._end = end
        self.speed = speed
        if end is not PathEnd.STOP and _cycle_length(self._points, end) == 0.0:
            self._end = PathEnd.STOP  # nowhere to go round: a loop would spin in place

    def advance(self, x: float, y: float, dt: float) -> Point:
        remaining = self.speed * dt
        points = self._points
        for _ in range(_MAX_LEGS_PER_TICK):
            if remaining <= 0.0:
                break
            tx, ty = points[self._target]
            dx, dy = tx - x, ty - y
            distance = math.hypot(dx, dy)
            if distance > remaining:
                share = remaining / distance
                return x + dx * share, y + dy * share
            x, y = tx, ty
            remaining -= distance
            if not self._next_target():
                self.speed = 0.0
                break
        return x, y

    def _next_target(self) -> bool:
        following = self._target + self._direction
        if 0 <= following < len(self._points):
            self._target = following
        elif self._end is PathEnd.LOOP:
            self._target = 0
        elif self._end is PathEnd.REVERSE and len(self._points) > 1:
            self._direction = -self._direction
            self._target += self._direction
        else:
            return False
        return True


def _cycle_length(points: Sequence[Point], end: PathEnd) -> float:
    legs = list(itertools.pairwise(points))
    if end is PathEnd.LOOP:
        legs.append((points[-1], points[0]))
    return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in legs)


class WalkMover:
    __slots__ = ("_box", "_rng", "_speeds", "_tx", "_ty", "speed")

    def __init__(
        self,
        rng: random.Random,
        box: tuple[float, float, float, float],
        speeds: tuple[float, float],
    ) -> None:
        """``box``: (west x, south y, east x, north y) in metres."""
        self._rng = rng
        self._box = box
        self._speeds = speeds
        self._tx, self._ty, self.speed = 0.0, 0.0, 0.0
        self._draw()

    def start(self) -> Point:
        """A random starting point in the box, for a UE given no position."""
        west, south, east, north = self._box
        return self._rng.uniform(west, east), self._rng.uniform(south, north)

    def _draw(self) -> None:
        west, south, east, north = self._box
        self._tx = self._rng.uniform(west, east)
        self._ty = self._rng.uniform(south, north)
        self.speed = self._rng.uniform(*self._speeds)

    def advance(self, x: float, y: float, dt: float) -> Point:
        remaining = self.speed * dt
        for _ in range(_MAX_LEGS_PER_TICK):
            if remaining <= 0.0:
                break
            dx, dy = self._tx - x, self._ty - y
            distance = math.hypot(dx, dy)
            if distance > remaining:
                share = remaining / distance
                return x + dx * share, y + dy * share
            x, y = self._tx, self._ty
            # The leftover of this tick continues at the new speed, prorated.
            left = remaining - distance
            speed = self.speed
            self._draw()
            remaining = left * self.speed / speed if speed > 0 else 0.0
        return x, y

"""The circuit breaker: a run of the venue's rejections refuses new orders for a while."""

from __future__ import annotations

from collections.abc import Callable

from thunes.engine.venue.limits import BrokerLimits


class Breaker:
    """`breaker_after` rejections in a row trip it for `breaker_pause_s`; a success resets
    the count, so once a pause is over one more refusal trips it again."""

    def __init__(self, limits: BrokerLimits, clock: Callable[[], float]) -> None:
        self.limits, self.clock = limits, clock
        self.rejections, self.last = 0, ""
        self.tripped_until = 0.0

    @property
    def why(self) -> str:
        """Why sending is paused, or ''."""
        if self.clock() >= self.tripped_until:
            return ""
        return (
            f"circuit breaker: {self.rejections} rejections in a row (last: "
            f"{self.last}); no orders for {self.limits.breaker_pause_s:g} s"
        )

    def rejected(self, why: str) -> None:
        self.rejections += 1
        self.last = why
        if self.rejections >= self.limits.breaker_after:
            self.tripped_until = self.clock() + self.limits.breaker_pause_s

    def placed(self) -> None:
        self.rejections = 0

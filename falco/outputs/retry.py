"""Retry bookkeeping for output channels: how often a failing channel is
tried again, for how long it is left alone, and what was lost.

One alert is tried up to `attempts` times on a channel, waiting `backoff`
seconds before the first retry and twice as long before each next one, and
never past `budget` seconds in all: a dead sink costs the output thread a
bounded time per alert.  A channel that used up its tries is *suspended*:
the next alerts skip it (counted as dropped) until the suspension ends, then
one alert probes it with a single try.  Each failed probe doubles the
suspension, up to `max_backoff`; a success ends it.  So a dead sink costs
almost nothing after the first failure, and the queue in front of the output
thread keeps draining for the healthy channels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .base import Channel

__all__ = ["RetryPolicy", "ChannelHealth"]


@dataclass(frozen=True)
class RetryPolicy:
    """falco.yaml's `outputs_retry` (not a Falco key)."""
    attempts: int = 3               # tries of one alert on one channel (1: no retry)
    backoff: float = 0.1            # seconds before the first retry, doubling
    max_backoff: float = 30.0       # longest wait: retry delay and suspension
    budget: float = 5.0             # seconds one alert may spend on retries
    alert_interval: float = 60.0    # at most one internal alert per channel per interval

    @classmethod
    def from_config(cls, cfg) -> "RetryPolicy":
        r = cfg.outputs_retry
        return cls(r.attempts, r.backoff, r.max_backoff, r.budget, r.alert_interval)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        return min(self.max_backoff, self.backoff * 2 ** (retry - 1))


class ChannelHealth:
    """Counters and suspension state of one channel.  Written by the output
    thread only; other threads read the counters (ints: no torn reads)."""

    def __init__(self, channel: Channel, policy: RetryPolicy,
                 clock: Callable[[], float]):
        self.channel = channel
        self.policy = policy
        self.clock = clock
        self.failures = 0           # tries that raised
        self.retries = 0            # tries after the first of an alert
        self.dropped = 0            # alerts this channel did not deliver
        self.skipped = 0            # ... of which skipped while suspended
        self.internal_alerts = 0    # "output channel failure" alerts raised
        self.last_error = ""
        self.suspended_until: float | None = None
        # The suspension continues the retry delays' doubling.
        self._next_suspension = policy.delay(max(1, policy.attempts))
        self._lost_since_ok = 0
        self._next_alert = clock()  # internal alerts: one per alert_interval

    @property
    def name(self) -> str:
        return self.channel.name

    @property
    def suspended(self) -> bool:
        return self.suspended_until is not None

    def available(self) -> bool:
        """False while suspended (the caller then `skip()`s the alert)."""
        return self.suspended_until is None or self.clock() >= self.suspended_until

    def tries(self) -> int:
        """How many tries the next alert gets: one while probing."""
        return 1 if self.suspended else max(1, self.policy.attempts)

    def skip(self) -> None:
        self.dropped += 1
        self.skipped += 1
        self._lost_since_ok += 1

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__

    def succeeded(self) -> int | None:
        """A delivery worked.  If it ended a suspension, the number of alerts
        lost meanwhile (for the "works again" log line), else None."""
        lost = self._lost_since_ok if self.suspended else None
        self.suspended_until = None
        self._next_suspension = self.policy.delay(max(1, self.policy.attempts))
        self._lost_since_ok = 0
        return lost

    def paused(self, exc: BaseException) -> None:
        """The channel paused itself (ChannelPaused): this alert is lost,
        the channel skips the next ones on its own."""
        self.failed(exc)
        self.dropped += 1

    def gave_up(self) -> None:
        """An alert is lost on this channel: suspend it, longer each time."""
        self.dropped += 1
        self._lost_since_ok += 1
        self.suspended_until = self.clock() + self._next_suspension
        self._next_suspension = min(self.policy.max_backoff, self._next_suspension * 2)

    def claim_alert(self) -> bool:
        """May an internal alert be raised now?  (A dead sink must not
        flood the healthy ones.)"""
        now = self.clock()
        if now < self._next_alert:
            return False
        self._next_alert = now + self.policy.alert_interval
        self.internal_alerts += 1
        return True

    def counters(self) -> dict:
        return {"failures": self.failures, "retries": self.retries,
                "dropped": self.dropped + int(getattr(self.channel, "skipped", 0)),
                "skipped": self.skipped + int(getattr(self.channel, "skipped", 0)),
                "internal_alerts": self.internal_alerts,
                "restarts": int(getattr(self.channel, "restarts", 0)),
                "suspended": self.suspended}

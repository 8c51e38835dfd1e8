"""What every output channel is: a named sink for formatted lines."""
from __future__ import annotations


class ChannelError(Exception):
    """A channel could not deliver one line (the dispatcher counts it and
    retries)."""


class ChannelPaused(ChannelError):
    """The sink is unreachable and the channel itself skips (and counts in
    `skipped`) alerts until it is back, as syslog does with no daemon
    listening: counted and logged once, not retried, no internal alert (a
    host without a syslog daemon is a setup, not an outage)."""


class Channel:
    """One sink.  `emit` gets the formatted line (no newline) and the
    `Message` it came from; it runs on the output thread only."""
    name = "channel"
    #: alerts the channel itself let go while its sink was unreachable
    skipped = 0
    #: times a kept-alive process behind the channel died and was restarted
    restarts = 0

    def emit(self, line: str, msg) -> None:     # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> None:
        """Push buffered lines out (called per alert unless buffered_outputs)."""

    def reopen(self) -> None:
        """SIGUSR1: let go of files/processes and take them again."""

    def close(self) -> None:
        """Shut down; called once, after the last `emit`."""

"""What every output channel is: a named sink for formatted lines."""
from __future__ import annotations


class ChannelError(Exception):
    """A channel could not deliver one line (the dispatcher counts it)."""


class Channel:
    """One sink.  `emit` gets the formatted line (no newline) and the
    `Message` it came from; it runs on the output thread only."""
    name = "channel"

    def emit(self, line: str, msg) -> None:     # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> None:
        """Push buffered lines out (called per alert unless buffered_outputs)."""

    def reopen(self) -> None:
        """SIGUSR1: let go of files/processes and take them again."""

    def close(self) -> None:
        """Shut down; called once, after the last `emit`."""

"""stdout_output: one line per alert on standard output."""
from __future__ import annotations

import sys

from .base import Channel


class StdoutChannel(Channel):
    name = "stdout"

    def __init__(self, stream=None):
        self._stream = stream

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    def emit(self, line: str, msg) -> None:
        self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()

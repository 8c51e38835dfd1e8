"""syslog_output: each alert as one syslog record (facility user, severity
= the rule's priority, which uses the syslog scale) sent to the local
syslog socket, `/dev/log` by default, in the format libc's syslog(3)
writes: `<PRI>Mmm dd hh:mm:ss falco[pid]: message`."""
from __future__ import annotations

import logging
import os
import socket
import time

from .base import Channel, ChannelError, ChannelPaused

LOG_USER = 1

log = logging.getLogger("falco.outputs.syslog")


class SyslogChannel(Channel):
    name = "syslog"

    #: after a failed connect, seconds before trying the socket again
    RETRY = 30.0

    def __init__(self, address: str = "/dev/log", ident: str = "falco",
                 facility: int = LOG_USER, clock=time.monotonic):
        self.address = address
        self.ident = ident
        self.facility = facility
        self.clock = clock
        self._sock: socket.socket | None = None
        self._down_since: float | None = None
        self.skipped = 0        # alerts not sent while the socket was unreachable

    def _connect(self) -> socket.socket:
        last: OSError | None = None
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_UNIX, kind)
            try:
                s.connect(self.address)
                return s
            except OSError as exc:
                s.close()
                last = exc
        raise ChannelError(f"cannot reach syslog at {self.address}: "
                           f"{last.strerror or last}")

    def record(self, line: str, severity: int) -> bytes:
        stamp = time.strftime("%b %e %H:%M:%S")
        pri = self.facility * 8 + max(0, min(7, int(severity)))
        return f"<{pri}>{stamp} {self.ident}[{os.getpid()}]: {line}".encode(
            "utf-8", "replace")

    def emit(self, line: str, msg) -> None:
        """Send one record.  No syslog daemon listening is reported once
        (ChannelError); then alerts are skipped, and counted in `skipped`,
        until a retry every RETRY seconds finds the socket again."""
        if self._sock is None and self._down_since is not None:
            if self.clock() - self._down_since < self.RETRY:
                self.skipped += 1
                return
        data = self.record(line, msg.priority)
        for attempt in (0, 1):
            if self._sock is None:
                try:
                    self._sock = self._connect()
                except ChannelError as exc:
                    first = self._down_since is None
                    self._down_since = self.clock()
                    if first:
                        raise ChannelPaused(f"{exc}; syslog output paused, retrying "
                                            f"every {self.RETRY:g}s") from None
                    self.skipped += 1
                    return
                if self._down_since is not None:
                    log.warning("syslog output: %s reachable again (%d alerts "
                                "skipped meanwhile)", self.address, self.skipped)
                self._down_since = None
            try:
                if self._sock.type == socket.SOCK_STREAM:
                    self._sock.sendall(data + b"\0")
                else:
                    self._sock.send(data)
                return
            except OSError as exc:
                self._drop()
                if attempt:
                    raise ChannelError(f"cannot write to syslog at {self.address}: "
                                       f"{exc.strerror or exc}") from exc

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def reopen(self) -> None:
        self._drop()

    def close(self) -> None:
        self._drop()

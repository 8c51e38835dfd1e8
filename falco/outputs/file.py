"""file_output: append each alert to a file.

keep_alive: false opens, appends and closes per alert (so a rotated file is
picked up at once); keep_alive: true keeps the file open, and `reopen()`
(SIGUSR1, as logrotate's postrotate sends) closes it and opens the path
again.
"""
from __future__ import annotations

from .base import Channel, ChannelError

class FileChannel(Channel):
    name = "file"

    def __init__(self, filename: str, keep_alive: bool = False):
        self.filename = filename
        self.keep_alive = keep_alive
        self._fh = None

    def _open(self):
        try:
            return open(self.filename, "a", encoding="utf-8")
        except OSError as exc:
            raise ChannelError(f"cannot open {self.filename}: "
                               f"{exc.strerror or exc}") from exc

    def emit(self, line: str, msg) -> None:
        if not self.keep_alive:
            with self._open() as fh:
                fh.write(line + "\n")
            return
        if self._fh is None:
            self._fh = self._open()
        try:
            self._fh.write(line + "\n")
        except OSError as exc:
            self._drop()
            raise ChannelError(f"cannot write {self.filename}: {exc.strerror or exc}") from exc

    def flush(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
            except OSError as exc:
                self._drop()
                raise ChannelError(f"cannot write {self.filename}: "
                                   f"{exc.strerror or exc}") from exc

    def _drop(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:
                pass

    def reopen(self) -> None:
        self.flush()
        self._drop()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._drop()


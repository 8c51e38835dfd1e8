"""program_output: alerts on the standard input of a program.

`program` is the command line from falco.yaml (Falco runs it with the
shell, e.g. `jq '{text: .output}' | curl -d @- ...`), and only that trusted
configuration text reaches `/bin/sh -c`.  Alert data never becomes part of a
command line: it is written to the program's stdin, one line per alert.

keep_alive: true spawns the program once and keeps writing to it (it is
spawned again if it exits, and on `reopen()`); keep_alive: false runs it
once per alert with that alert as its whole input, as Falco does.
"""
from __future__ import annotations

import logging
import subprocess

from .base import Channel, ChannelError

log = logging.getLogger("falco.outputs.program")


class ProgramChannel(Channel):
    name = "program"

    def __init__(self, program: str, keep_alive: bool = False,
                 timeout: float = 30.0):
        self.program = program
        self.keep_alive = keep_alive
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None

    def _spawn(self) -> subprocess.Popen:
        try:
            return subprocess.Popen(["/bin/sh", "-c", self.program],
                                    stdin=subprocess.PIPE, close_fds=True)
        except OSError as exc:
            raise ChannelError(f"cannot start program: {exc.strerror or exc}") from exc

    def emit(self, line: str, msg) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        if not self.keep_alive:
            proc = self._spawn()
            try:
                proc.communicate(data, timeout=self.timeout)
            except subprocess.TimeoutExpired as exc:
                proc.kill()
                proc.wait()
                raise ChannelError(f"program did not finish in {self.timeout:g}s "
                                   "(killed)") from exc
            except BrokenPipeError:
                proc.wait()
            if proc.returncode:
                raise ChannelError(f"program exited with status {proc.returncode}")
            return
        if self._proc is not None and self._proc.poll() is not None:
            log.warning("program_output: the program exited (status %s); "
                        "starting it again", self._proc.returncode)
            self._stop()
        if self._proc is None:
            self._proc = self._spawn()
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError) as exc:
            self._stop()
            raise ChannelError(f"program closed its input: {exc.strerror or exc}") from exc

    def flush(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self._stop()
                raise ChannelError(f"program closed its input: "
                                   f"{exc.strerror or exc}") from exc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def reopen(self) -> None:
        self._stop()

    def close(self) -> None:
        self._stop()

"""program_output: alerts on the standard input of a program.

`program` is the command line from falco.yaml (Falco runs it with the
shell, e.g. `jq '{text: .output}' | curl -d @- ...`), and only that trusted
configuration text reaches `/bin/sh -c`.  Alert data never becomes part of a
command line: it is written to the program's stdin, one line per alert.

keep_alive: true spawns the program once and keeps writing to it (it is
spawned again if it exits, and on `reopen()`); keep_alive: false runs it
once per alert with that alert as its whole input, as Falco does.  A
kept-alive program found dead (exited, or its input closed) is started again
for the next alert and counted in `restarts`; a write that failed raises
ChannelError, and the dispatcher's retry then goes to the new process.
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
        self.restarts = 0
        self._died = False          # the next spawn replaces a dead program

    def _spawn(self) -> subprocess.Popen:
        try:
            # Unbuffered: a dead program shows up in emit(), where the
            # dispatcher retries, not later in a flush nobody retries.
            proc = subprocess.Popen(["/bin/sh", "-c", self.program], bufsize=0,
                                    stdin=subprocess.PIPE, close_fds=True)
        except OSError as exc:
            raise ChannelError(f"cannot start program: {exc.strerror or exc}") from exc
        if self._died:
            self._died = False
            self.restarts += 1
        return proc

    @property
    def process(self) -> subprocess.Popen | None:
        """The kept-alive program, if running (tests wait on it)."""
        return self._proc

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
            self._stop(died=True)
        if self._proc is None:
            self._proc = self._spawn()
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError) as exc:
            self._stop(died=True)
            raise ChannelError(f"program closed its input: {exc.strerror or exc}") from exc

    def flush(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self._stop(died=True)
                raise ChannelError(f"program closed its input: "
                                   f"{exc.strerror or exc}") from exc

    def _stop(self, died: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._died = self._died or died
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

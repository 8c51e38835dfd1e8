"""LiveCapture drains on a clock: a source that always has records pending
is drained at most once per `drain_interval`, unless a drain comes near
`max_bytes` (a backlog, drained again at once); nothing is lost at stop."""
from __future__ import annotations

import struct
import threading
import time

from falco.live.live_capture import LiveCapture


def _rec(ts: int) -> bytes:
    return struct.pack("<QQIHI", ts, 1, 26, 2, 0)


class _AlwaysBusy:
    """A source that always has `per_drain` records ready."""

    def __init__(self, per_drain: int) -> None:
        self.per_drain = per_drain
        self.drains: list[float] = []
        self.stopped = False
        self.ts = 0

    def wait(self, timeout: float) -> bool:
        return not self.stopped

    def drain(self, max_bytes: int) -> bytes:
        if self.stopped and self.drains and self.drains[-1] < 0:
            return b""
        self.drains.append(-1.0 if self.stopped else time.monotonic())
        out = []
        for _ in range(self.per_drain):
            self.ts += 1
            out.append(_rec(self.ts))
        return b"".join(out)

    def stop(self) -> None:
        self.stopped = True


def _capture(source, interval: float) -> LiveCapture:
    live = LiveCapture.__new__(LiveCapture)
    live.source = source
    live.poll_interval = 0.02
    live.drain_interval = interval
    live._stopped = False
    return live


def test_drains_no_faster_than_the_interval():
    src = _AlwaysBusy(10)
    live = _capture(src, 0.02)
    n = sum(len(b) for b in live.batches(duration=0.2, max_bytes=1 << 20))
    clocked = [t for t in src.drains if t >= 0]
    assert 5 <= len(clocked) <= 12
    gaps = [b - a for a, b in zip(clocked, clocked[1:])]
    assert min(gaps) >= 0.019
    assert n == src.ts                  # every record drained, final included


def test_a_drain_near_the_cap_is_followed_at_once():
    src = _AlwaysBusy(10)
    live = _capture(src, 10.0)          # the clock alone: one drain
    cap = 10 * 26                       # each drain fills the cap
    batches = live.batches(duration=0.1, max_bytes=cap)
    got = [len(next(batches)) for _ in range(50)]
    assert got == [10] * 50


def test_stop_ends_the_wait_between_drains():
    src = _AlwaysBusy(1)
    live = _capture(src, 5.0)
    t0 = time.monotonic()
    threading.Timer(0.1, live.stop).start()
    list(live.batches())
    assert time.monotonic() - t0 < 2.0


_SIGNAL_STORM = """
import signal, time
from falco.live.live_capture import LiveCapture

class Idle:
    def wait(self, timeout):
        time.sleep(0.0001)
        return True
    def drain(self, max_bytes):
        return b""
    def stop(self):
        pass

live = LiveCapture.__new__(LiveCapture)
live.source = Idle()
live.poll_interval = 0.001
live.drain_interval = 0.0005          # naps all the time
ticks = 0

def on_alarm(*_):
    global ticks
    ticks += 1
    if ticks % 50 == 0:
        live.stop()                    # what falco's SIGINT handler does

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
stops = 0
end = time.monotonic() + 20
while stops < 200 and time.monotonic() < end:
    live._stopped = False
    for _ in live.batches():
        pass
    stops += 1
signal.setitimer(signal.ITIMER_REAL, 0, 0)
print(stops)
"""


def test_a_stop_from_a_signal_handler_never_deadlocks():
    """falco stops on SIGINT by calling stop() from the handler, which runs
    on the main thread wherever it was.  A signal every 100 us, each 50th
    stopping the loop, until 200 stops (or 20 s on a slow machine, which
    delivers fewer signals): every stop ends the loop.  (With a
    threading.Event the handler could wait forever for the lock its own
    thread held inside Event.wait: CI saw falco ignore SIGINT that way.)"""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_STORM], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout) >= 20

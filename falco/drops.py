"""syscall_event_drops: Falco's policy for events the driver lost.

Once a second the driver's counters are read and compared with the last
reading.  If events were dropped and the drop ratio (drops / events seen by
the driver, drops included) is above `threshold`, and the token bucket
(`rate`, `max_burst`) has a token, the configured actions run in order:

* `ignore` - nothing;
* `log`    - one log line: "Falco internal: syscall event drop. N system
  calls dropped in last second.";
* `alert`  - the internal alert of rule "Falco internal: syscall event drop"
  with Falco's output fields (counter deltas as strings);
* `exit`   - log it, then ask the caller to stop (`exit_requested`, and the
  `on_exit` callback); the CLI exits non-zero.

Counters come from a callable returning the live source's counters
(`BpfSource.counters()`: events, drops, drops_buffer, drops_max_size,
drops_scratch, faults, filtered).  That driver's `events` counts records
written, so Falco's n_evts (which includes the drops) is events + drops.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable, Iterator

from falco.outputs.dispatcher import TokenBucket, internal_message

log = logging.getLogger("falco.drops")

RULE = "Falco internal: syscall event drop"
PRIORITY_DEBUG = 7          # Falco (0.37+) raises this alert at Debug

# Falco's output fields, in its order; the per-syscall-category buffer drops
# are not tracked by this driver and read 0.
_CATEGORY_FIELDS = ("n_drops_buffer_clone_fork_exit", "n_drops_buffer_execve_exit",
                    "n_drops_buffer_connect_exit", "n_drops_buffer_open_exit",
                    "n_drops_buffer_dir_file_exit", "n_drops_buffer_other_interest_exit",
                    "n_drops_buffer_close_exit", "n_drops_buffer_proc_exit")


def scap_stats(raw: dict) -> dict:
    """The driver's counters in Falco's (scap_stats) terms."""
    drops = int(raw.get("drops", raw.get("drops_buffer", 0) + raw.get("drops_max_size", 0)
                        + raw.get("drops_scratch", 0)))
    out = {
        "n_evts": int(raw.get("events", 0)) + drops,
        "n_drops": drops,
        "n_drops_buffer": int(raw.get("drops_buffer", 0)),
        "n_drops_scratch_map": int(raw.get("drops_scratch", 0)),
        "n_drops_pf": int(raw.get("drops_pf", 0)),
        "n_drops_bug": int(raw.get("drops_bug", 0)),
    }
    for name in _CATEGORY_FIELDS:
        out[name] = int(raw.get(name, 0))
    return out


class DropMonitor:
    """Periodic check of driver counters with Falco's actions.

    Either call `poll()` from the capture loop (it checks at most once per
    `interval` seconds of `clock`), or `start()` a background thread that
    does.  `exit_requested` turns True when the `exit` action fired.
    """

    def __init__(self, cfg, counters: Callable[[], dict], dispatcher=None, *,
                 ebpf: bool = True, on_exit: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], int] = time.time_ns,
                 interval: float = 1.0):
        self.actions = list(cfg.actions) or ["ignore"]
        self.simulate = cfg.simulate_drops
        self.threshold = 0.0 if self.simulate else cfg.threshold
        self.bucket = TokenBucket(cfg.rate, cfg.max_burst, clock)
        self.counters = counters
        self.dispatcher = dispatcher
        self.ebpf = ebpf
        self.on_exit = on_exit
        self.clock = clock
        self.wallclock = wallclock
        self.interval = interval
        self.last = scap_stats(counters())
        self.next_check = clock() + interval
        self.drop_events = 0        # seconds with drops above the threshold
        self.actions_taken = 0
        self.exit_requested = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def poll(self) -> bool:
        """Check if a second has passed since the last check.  False once
        the exit action has fired."""
        now = self.clock()
        if now >= self.next_check:
            self.next_check = now + self.interval
            self.check(now)
        return not self.exit_requested

    def check(self, now: float | None = None) -> dict:
        """Read the counters now and act on the delta; returns the delta."""
        now = self.clock() if now is None else now
        cur = scap_stats(self.counters())
        delta = {k: max(0, cur[k] - self.last.get(k, 0)) for k in cur}
        self.last = cur
        if self.simulate:
            log.info("Simulating syscall event drop")
            delta["n_drops"] += 1
        if delta["n_drops"] > 0:
            ratio = delta["n_drops"] / delta["n_evts"] if delta["n_evts"] else float("inf")
            if ratio > self.threshold:
                self.drop_events += 1
                if self.bucket.claim(1, now):
                    self.actions_taken += 1
                    self._perform(delta)
                else:
                    log.debug("Syscall event drop but token bucket depleted, "
                              "skipping actions")
        return delta

    def alert_fields(self, delta: dict) -> dict:
        fields = {
            "n_evts": str(delta["n_evts"]),
            "n_drops": str(delta["n_drops"]),
            "n_drops_buffer_total": str(delta["n_drops_buffer"]),
        }
        for name in _CATEGORY_FIELDS:
            fields[name] = str(delta[name])
        fields["n_drops_scratch_map"] = str(delta["n_drops_scratch_map"])
        fields["n_drops_page_faults"] = str(delta["n_drops_pf"])
        fields["n_drops_bug"] = str(delta["n_drops_bug"])
        fields["ebpf_enabled"] = "1" if self.ebpf else "0"
        return fields

    def _perform(self, delta: dict) -> None:
        msg = f"{RULE}. {delta['n_drops']} system calls dropped in last second."
        for act in self.actions:
            if act == "ignore":
                continue
            if act == "log":
                log.critical("%s", msg)
            elif act == "alert":
                if self.dispatcher is not None:
                    self.dispatcher.submit_internal(internal_message(
                        RULE, PRIORITY_DEBUG, msg, self.alert_fields(delta),
                        self.wallclock()))
            elif act == "exit":
                log.critical("%s", msg)
                log.critical("Exiting.")
                self.exit_requested = True
                if self.on_exit is not None:
                    self.on_exit()

    # -- background mode --

    def start(self) -> "DropMonitor":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="falco-drops",
                                            daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:   # noqa: BLE001 - counters unreadable: say so, go on
                log.error("syscall event drops: cannot read driver counters: %s", exc)
            if self.exit_requested:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def summary(self) -> str:
        """Falco's end-of-run lines."""
        return (f"Syscall event drop monitoring:\n"
                f"   - event drop detected: {self.drop_events} occurrences\n"
                f"   - num times actions taken: {self.actions_taken}")


class ReplayDrops:
    """syscall_event_drops on a capture replay (`falco run -e`), as Falco
    does it: the check runs on event time, a second after the first event
    and then a second after the event that ran the last check.  A capture
    has no driver counters, so only `simulate_drops` (a test switch that
    adds one drop per check) ever makes the actions run.

    `watch(batches)` passes the batches through, reading their event times
    only when simulating; after the `exit` action it stops at the end of
    the batch being judged (`exit_requested`)."""

    def __init__(self, cfg, dispatcher=None, wallclock: Callable[[], int] = time.time_ns):
        self.cfg = cfg
        self.dispatcher = dispatcher
        self.wallclock = wallclock
        self.monitor: DropMonitor | None = None
        self._now = 0.0
        self._next_ns = 0

    @property
    def active(self) -> bool:
        return bool(self.cfg.simulate_drops)

    @property
    def exit_requested(self) -> bool:
        return self.monitor is not None and self.monitor.exit_requested

    def watch(self, batches: Iterable) -> Iterator:
        if not self.active:
            yield from batches
            return
        for batch in batches:
            for i in range(len(batch)):
                if not self._event(batch.event(i).ts):
                    break
            yield batch
            if self.exit_requested:
                return

    def _event(self, ts_ns: int) -> bool:
        """One event's time; False once the exit action has fired.  Times
        stay integer ns: ping-like captures have events exactly a second
        apart, and Falco checks only once an event is *past* the mark."""
        self._now = ts_ns / 1e9
        if self.monitor is None:
            self.monitor = DropMonitor(self.cfg, _no_counters, self.dispatcher,
                                       ebpf=False, clock=lambda: self._now,
                                       wallclock=self.wallclock)
            self._next_ns = ts_ns + _SECOND_NS
        elif self._next_ns < ts_ns:
            self._next_ns = ts_ns + _SECOND_NS
            self.monitor.check(self._now)
        return not self.monitor.exit_requested

    def summary(self) -> str | None:
        return self.monitor.summary() if self.monitor is not None else None


_SECOND_NS = 1_000_000_000


def _no_counters() -> dict:
    return {}

"""The host, live, as a stream of event batches (the eBPF driver).

`LiveCapture` loads the probe with the syscalls the rules and the state
engine need, polls the ring on a timer (the probe never wakes us), and
turns every drain into one `EventBatch`.  Its `tables` are a /proc
snapshot taken just after the probe starts, so processes older than falco
are known and nothing that starts in between is missed.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator

from falco.live.bpf_source import BpfSource, BpfUnavailable
from falco.live.proc_scan import snapshot
from falco_engine import table as _table
from falco_engine.decoder import EventBatch, scan_records

# Longest sleep between two looks at the stop flag.
_NAP = 0.05

# Syscalls the state engine follows whatever the rules ask for: process
# lifecycle, fd creation/duplication/closing, sockets, credentials, cwd.
STATE_SYSCALLS = frozenset((
    "clone", "clone3", "fork", "vfork", "execve", "execveat", "exit",
    "exit_group", "open", "openat", "openat2", "creat", "open_by_handle_at",
    "close", "close_range", "dup", "dup2", "dup3", "fcntl", "socket",
    "socketpair", "connect", "accept", "accept4", "bind", "listen", "pipe",
    "pipe2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
    "inotify_init", "inotify_init1", "memfd_create", "userfaultfd", "bpf",
    "io_uring_setup", "pidfd_open", "pidfd_getfd", "epoll_create",
    "epoll_create1", "chdir", "fchdir", "chroot", "setuid", "setgid",
    "setresuid", "setresgid", "setreuid", "setregid", "setsid", "setpgid",
    "prctl", "capset", "unshare", "setns",
))

# Least time between two drains of the rings (LiveCapture.batches): 10 ms
# of records at 2 M/s is ~1 MB, far below a ring (8 MiB) and a drain's
# cap, and 10 ms is nothing next to an alert's path to its output.
DRAIN_INTERVAL = 0.01


def interest_codes(evttypes: Iterable[set[str] | None]) -> set[int] | None:
    """PPM_SC codes for rules with these event-type sets (None = all)."""
    names = set(STATE_SYSCALLS)
    for ts in evttypes:
        if ts is None:
            return None
        names |= ts
    return {i for i, n in enumerate(_table.SYSCALL_NAMES) if n in names}


class LiveCapture:
    """One live session; iterate `batches()` until `stop()`."""

    def __init__(self, interest: set[int] | None = None,
                 ring_bytes: int = 8 << 20, poll_interval: float = 0.02,
                 driver: str = "ebpf", cpus_per_ring: int = 1,
                 drain_interval: float = DRAIN_INTERVAL) -> None:
        """`ring_bytes`: each eBPF ring (one per `cpus_per_ring` CPUs).
        `drain_interval`: the least time between two drains that were not
        cut short by `max_bytes` (see `batches`)."""
        if driver == "kmod":
            from falco.live.kmod_source import KmodSource
            self.source = KmodSource()
        else:
            self.source = BpfSource(ring_bytes=ring_bytes,
                                    cpus_per_ring=cpus_per_ring)
        self.poll_interval = poll_interval
        self.drain_interval = drain_interval
        self._stopped = False
        self.source.open(interest)
        self.source.start()
        self.tables = snapshot()

    def stop(self) -> None:
        # Called from the SIGINT/SIGTERM handler, which runs on the main
        # thread between two bytecodes of whatever it was doing: it must
        # take no lock.  (It set a threading.Event: when the signal came
        # while batches() was inside that Event's wait, holding its lock,
        # the handler waited for the lock forever and falco never stopped.)
        self._stopped = True

    def counters(self) -> dict[str, int]:
        return self.source.counters()

    def batches(self, duration: float | None = None,
                max_bytes: int = 4 << 20) -> Iterator[EventBatch]:
        """Drain on a clock: at most one drain per `drain_interval`, unless
        the last one came near `max_bytes` (a backlog: drain again now).

        Draining whenever a record is pending looks more responsive but a
        busy host always has one: the reader then spins on batches of a few
        dozen records and pays the per-batch cost (Python calls, the scan
        set-up, the ring positions it shares with the producer) for every
        few records.  Measured with `falco bench live` (getppid, 2 M
        records/s): ~33 records per batch and the consumer's core at
        ~55 % without the clock, ~18 000 per batch and ~13 % with it."""
        deadline = None if duration is None else time.monotonic() + duration
        num = 1
        next_drain = 0.0
        while not self._stopped:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now < next_drain:
                # In short naps, so a stop() is seen within one.
                time.sleep(min(min(next_drain, deadline or next_drain) - now, _NAP))
                continue
            if not self.source.wait(self.poll_interval):
                continue
            next_drain = time.monotonic() + self.drain_interval
            data = self.source.drain(max_bytes)
            if len(data) > max_bytes // 2:      # near the cap: more is waiting
                next_drain = 0.0
            if data:
                batch = scan_records(data, num)
                num = batch.last_num + 1
                yield batch
        # What was captured before the stop is still delivered.
        self.source.stop()
        while True:
            data = self.source.drain(max_bytes)
            if not data:
                break
            batch = scan_records(data, num)
            num = batch.last_num + 1
            yield batch

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "LiveCapture":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pick_driver(requested: str) -> str:
    """auto: the kernel module when its rings exist, else the eBPF probe
    when the kernel has BTF; otherwise a one-line error saying what to do."""
    from pathlib import Path

    from falco.live.kmod_source import devices

    if requested in ("kmod", "ebpf"):
        return requested
    if devices():
        return "kmod"
    if Path("/sys/kernel/btf/vmlinux").exists():
        return "ebpf"
    raise BpfUnavailable("no driver: load the kernel module (scripts/falco-driver-loader) "
                         "or use a kernel with BTF (/sys/kernel/btf/vmlinux) for the eBPF probe")


__all__ = ["BpfUnavailable", "LiveCapture", "interest_codes", "pick_driver"]

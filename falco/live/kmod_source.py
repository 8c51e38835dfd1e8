"""Live capture from the kernel module (driver/kmod): one ring per CPU.

Each /dev/falco<N> is opened once and mapped: a control page (head written
by the kernel, tail by us) and the data area mapped twice back to back,
so the unread span [tail, head) is always contiguous.  `drain()` copies
every ring's ready records, merges them in timestamp order (as libscap
interleaves CPUs) and hands the span back to the kernel.  The interface
is BpfSource's, so LiveCapture takes either driver.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import mmap
import os
import struct
import time
from typing import Iterable, Optional

from falco.live.bpf_source import BpfUnavailable

API_VERSION = 1
CTRL_SIZE = 4096
DATA_OFFSET = 4096
SYSCALL_NR_MAX = 512
DEFAULT_SNAPLEN = 80

_HEAD = 0
_API = 8
_DATA_SIZE = 16
_COUNTERS = 32
_TAIL = 128
_COUNTER_FIELDS = ("events", "drops_buffer", "drops_max_size", "faults",
                   "preemptions", "filtered")

# ioctl numbers: _IOC(dir, 0xfa, nr, size) as in driver/kmod/falco_kmod.h.
_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (0xFA << 8) | nr


IOC_GET_API_VERSION = _ioc(_IOC_READ, 0x01, 4)
IOC_ENABLE = _ioc(0, 0x02, 0)
IOC_DISABLE = _ioc(0, 0x03, 0)
IOC_SET_MASK = _ioc(_IOC_WRITE, 0x04, 16)
IOC_SET_SNAPLEN = _ioc(_IOC_WRITE, 0x05, 4)
IOC_GET_COUNTERS = _ioc(_IOC_READ, 0x06, 8 * len(_COUNTER_FIELDS))


def devices() -> list[str]:
    return sorted(glob.glob("/dev/falco[0-9]*"),
                  key=lambda p: int(p[len("/dev/falco"):]))


class Ring:
    """One CPU's ring over its two mappings (any buffer-protocol objects:
    mmaps in production, bytearrays in tests)."""

    def __init__(self, ctrl, data, cpu: int) -> None:
        self.ctrl = ctrl
        self.data = data
        self.cpu = cpu
        self.size, = struct.unpack_from("<Q", ctrl, _DATA_SIZE)
        if self.size == 0 or self.size & (self.size - 1):
            raise BpfUnavailable(f"/dev/falco{cpu}: bad ring size {self.size}")

    def pending(self) -> int:
        head, = struct.unpack_from("<Q", self.ctrl, _HEAD)
        tail, = struct.unpack_from("<Q", self.ctrl, _TAIL)
        return head - tail

    def take(self, max_bytes: int) -> bytes:
        """Copy [tail, head) (whole records, up to about max_bytes) and
        release it.  x86 loads and stores are ordered as the ring needs
        (acquire head, release tail)."""
        head, = struct.unpack_from("<Q", self.ctrl, _HEAD)
        tail, = struct.unpack_from("<Q", self.ctrl, _TAIL)
        if head <= tail or head - tail > self.size:
            return b""
        start = tail & (self.size - 1)
        span = head - tail
        if span > max_bytes:
            span = self._whole_records(start, span, max_bytes)
        out = bytes(self.data[start:start + span])
        struct.pack_into("<Q", self.ctrl, _TAIL, tail + span)
        return out

    def _whole_records(self, start: int, span: int, limit: int) -> int:
        pos = 0
        while pos + 26 <= span:
            length, = struct.unpack_from("<I", self.data, start + pos + 16)
            if length < 26 or pos + length > span or (pos and pos + length > limit):
                break
            pos += length
        return pos

    def counters(self) -> dict[str, int]:
        vals = struct.unpack_from("<%dQ" % len(_COUNTER_FIELDS), self.ctrl, _COUNTERS)
        return dict(zip(_COUNTER_FIELDS, vals))


class KmodSource:
    """The kernel module's rings, read like BpfSource."""

    mode = "kmod"

    def __init__(self, snaplen: int = DEFAULT_SNAPLEN) -> None:
        self.snaplen = snaplen
        self._fds: list[int] = []
        self._maps: list[mmap.mmap] = []
        self.rings: list[Ring] = []
        self._bitmap = None

    def __enter__(self) -> "KmodSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self, interest: Optional[set[int]] = None) -> None:
        devs = devices()
        if not devs:
            raise BpfUnavailable("the kernel module is not loaded (no /dev/falco0): "
                                 "run scripts/falco-driver-loader")
        try:
            for path in devs:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
                self._fds.append(fd)
                api = struct.unpack("<I", fcntl.ioctl(fd, IOC_GET_API_VERSION, b"\0" * 4))[0]
                if api != API_VERSION:
                    raise BpfUnavailable(f"{path}: module API {api}, this falco speaks "
                                         f"{API_VERSION}: reinstall the module")
                ctrl = mmap.mmap(fd, CTRL_SIZE, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
                size, = struct.unpack_from("<Q", ctrl, _DATA_SIZE)
                data = mmap.mmap(fd, 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                                 offset=DATA_OFFSET)
                self._maps += [ctrl, data]
                self.rings.append(Ring(ctrl, data, int(path[len("/dev/falco"):])))
        except OSError as exc:
            self.close()
            if exc.errno == errno.EBUSY:
                raise BpfUnavailable(f"{exc.filename}: already in use by another "
                                     "consumer") from None
            raise BpfUnavailable(f"cannot open the kernel module's rings: {exc}") from None
        self.set_interest(interest)
        for fd in self._fds:
            fcntl.ioctl(fd, IOC_SET_SNAPLEN, struct.pack("<I", self.snaplen))

    def set_interest(self, interest: Optional[set[int]]) -> None:
        from falco_engine import table

        bits = bytearray(SYSCALL_NR_MAX // 8)
        for nr, (enter, ppm_sc) in enumerate(table.X86_64_SYSCALLS[:SYSCALL_NR_MAX]):
            if enter >= 0 and (interest is None or ppm_sc in interest):
                bits[nr // 8] |= 1 << (nr % 8)
        self._bitmap = ctypes.create_string_buffer(bytes(bits), len(bits))
        arg = struct.pack("<IIQ", SYSCALL_NR_MAX, 0, ctypes.addressof(self._bitmap))
        for fd in self._fds:
            fcntl.ioctl(fd, IOC_SET_MASK, arg)

    def start(self) -> None:
        for fd in self._fds:
            fcntl.ioctl(fd, IOC_ENABLE)

    def stop(self) -> None:
        for fd in self._fds:
            try:
                fcntl.ioctl(fd, IOC_DISABLE)
            except OSError:
                pass

    def close(self) -> None:
        self.stop()
        self.rings = []
        for m in self._maps:
            m.close()
        self._maps = []
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def pending(self) -> int:
        return sum(r.pending() for r in self.rings)

    def wait(self, timeout: float, interval: float = 0.005) -> bool:
        deadline = time.monotonic() + timeout
        while not self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)
        return True

    def drain(self, max_bytes: int = 1 << 20) -> bytes:
        """Every ring's ready records, merged in time order."""
        return drain_rings(self.rings, max_bytes)

    def counters(self) -> dict[str, int]:
        total = dict.fromkeys(_COUNTER_FIELDS, 0)
        for r in self.rings:
            for k, v in r.counters().items():
                total[k] += v
        total["drops"] = total["drops_buffer"] + total["drops_max_size"]
        total.setdefault("drops_scratch", 0)
        return total


def drain_rings(rings: Iterable[Ring], max_bytes: int) -> bytes:
    from falco_engine.decoder import merge_by_time

    rings = list(rings)
    share = max(max_bytes // max(len(rings), 1), 64 * 1024)
    chunks = [c for c in (r.take(share) for r in rings) if c]
    if not chunks:
        return b""
    if len(chunks) == 1:
        return chunks[0]
    merged, _ = merge_by_time(chunks)
    return merged

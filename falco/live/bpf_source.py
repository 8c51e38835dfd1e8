"""Live capture from the CO-RE eBPF probe (driver/bpf/falco.bpf.c).

`BpfSource` opens the probe object shipped in ``falco/data/falco.bpf.o``,
fills its read-only config from the event table (syscall routes, params per
event), loads it (``tp_btf`` programs, or ``raw_tracepoint`` ones where BTF
tracing is refused), sets the syscall-interest map and attaches.

Rings: one BPF ring buffer per CPU (``cpus_per_ring=1``) or per group of
CPUs; CPU c writes only into ring ``c // cpus_per_ring``, so producers on
different CPUs never contend for one ring's lock.  The loader creates the
rings (``ring_bytes`` each) and puts them in the probe's
``BPF_MAP_TYPE_ARRAY_OF_MAPS``.

The probe writes with ``BPF_RB_NO_WAKEUP``: nobody is woken per record, the
reader drains on its own clock.  `drain()` is one C call
(``falco_engine.ringbuf.BpfRings``): it finds every ready record of each
mapped ring, copies them once into one bytes object (records end to end,
the ring's own 8-byte framing removed) merged in timestamp order (as the
kernel module's reader does; a plain copy when one ring had records), and
hands the space back to the kernel.

    with BpfSource() as src:
        src.open(interest={PPM_SC codes} or None for all)
        src.start()
        buf = src.drain(1 << 20)      # feed to falco_engine.decoder
"""
from __future__ import annotations

import mmap
import os
import struct
import time
from pathlib import Path
from typing import Iterable, Optional

from falco.live import libbpf
from falco.live.libbpf import BpfError, ffi

# Mirrors of driver/bpf/falco_bpf.h.
SYSCALL_NR_MAX = 512
EVENT_MAX = 512
ARGV_CAP = 16384
DEFAULT_ARGV_MAX = 4096
DEFAULT_SNAPLEN = 80
DEFAULT_RING_BYTES = 8 * 1024 * 1024
_CONFIG_HEAD = struct.Struct("<QIIII")        # boot_time_ns .. cpus_per_ring
_COUNTER_FIELDS = ("events", "drops_buffer", "drops_max_size", "faults",
                   "drops_scratch", "filtered")
_COUNTERS = struct.Struct("<%dQ" % len(_COUNTER_FIELDS))

_PROGS = {
    "btf": ("fb_sys_enter_btf", "fb_sys_exit_btf", "fb_proc_exit_btf",
            "fb_proc_fork_btf", "fb_proc_exec_btf"),
    "raw": ("fb_sys_enter_raw", "fb_sys_exit_raw", "fb_proc_exit_raw",
            "fb_proc_fork_raw", "fb_proc_exec_raw"),
}


class BpfUnavailable(RuntimeError):
    """Live capture cannot run here; the message says why, in one line."""


def default_object() -> Path:
    """Where the package ships the probe object."""
    return Path(__file__).resolve().parent.parent / "data" / "falco.bpf.o"


def _table():
    try:
        from falco_engine import table
    except ImportError as exc:
        raise BpfUnavailable(
            f"the event table (falco_engine.table) is not built: {exc}"
        ) from None
    return table


def syscall_codes(names: Iterable[str]) -> set[int]:
    """PPM_SC codes of syscalls given by name (for `open(interest=...)`)."""
    index = {n: i for i, n in enumerate(_table().SYSCALL_NAMES) if n}
    out = set()
    for name in names:
        if name not in index:
            raise ValueError(f"unknown syscall {name!r}")
        out.add(index[name])
    return out


class _Ring:
    """One mapped BPF ring buffer: its consumer page (read-write) and its
    producer page + data pages mapped twice (read-only)."""

    def __init__(self, fd: int, size: int, page: int) -> None:
        self.fd = fd
        self.cons = mmap.mmap(fd, page, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self.prod = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED,
                              mmap.PROT_READ, offset=page)

    def close(self) -> None:
        self.cons.close()
        self.prod.close()
        os.close(self.fd)


class BpfSource:
    """One loaded probe and its ring buffers (one per CPU or CPU group)."""

    def __init__(self, obj_path: Optional[os.PathLike] = None, *,
                 ring_bytes: int = DEFAULT_RING_BYTES,
                 argv_max: int = DEFAULT_ARGV_MAX,
                 snaplen: int = DEFAULT_SNAPLEN,
                 attach: str = "auto",
                 cpus_per_ring: int = 1) -> None:
        if ring_bytes < 4096 or ring_bytes & (ring_bytes - 1):
            raise ValueError("ring_bytes must be a power of two >= 4096")
        if cpus_per_ring < 1:
            raise ValueError("cpus_per_ring must be >= 1")
        if not 0 < argv_max <= ARGV_CAP:
            raise ValueError(f"argv_max must be in 1..{ARGV_CAP}")
        if attach not in ("auto", "btf", "raw"):
            raise ValueError("attach must be 'auto', 'btf' or 'raw'")
        self.obj_path = Path(obj_path) if obj_path else default_object()
        self.ring_bytes = ring_bytes
        self.argv_max = argv_max
        self.snaplen = min(max(snaplen, 0), ARGV_CAP)
        self.attach_mode = attach
        self.cpus_per_ring = cpus_per_ring
        self.mode: Optional[str] = None     # "btf" or "raw" once loaded
        self._obj = ffi.NULL
        self._links: list = []
        self._routes: list[tuple[int, int]] = []
        self._ncpus = 0
        self._ring_fds: list[int] = []      # created, not yet mapped
        self._rings: list[_Ring] = []
        self._drainer = None                # BpfRings over self._rings
        self._page = mmap.PAGESIZE

    @property
    def nrings(self) -> int:
        """Rings in use: ceil(possible CPUs / cpus_per_ring)."""
        return -(-self._ncpus // self.cpus_per_ring)

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "BpfSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self, interest: Optional[set[int]] = None) -> None:
        """Load the probe.  `interest`: PPM_SC codes to capture, None = all."""
        if self._obj != ffi.NULL:
            raise RuntimeError("BpfSource already open")
        if os.geteuid() != 0:
            raise BpfUnavailable("live capture needs root (CAP_BPF, CAP_PERFMON)")
        if not self.obj_path.is_file():
            raise BpfUnavailable(
                f"probe object {self.obj_path} missing: run make -C driver/bpf")
        if not Path("/sys/kernel/btf/vmlinux").exists():
            raise BpfUnavailable("kernel has no BTF (/sys/kernel/btf/vmlinux)")
        table = _table()
        lib = libbpf.lib()
        self._ncpus = libbpf.check(lib.libbpf_num_possible_cpus(),
                                   "libbpf_num_possible_cpus")
        self._routes = self._build_routes(table)
        modes = ("btf", "raw") if self.attach_mode == "auto" else (self.attach_mode,)
        errors = []
        for mode in modes:
            try:
                self._load(lib, table, mode)
                break
            except BpfError as exc:
                errors.append(f"{mode}: {exc}")
                self._close_obj()
        else:
            raise BpfUnavailable("cannot load the BPF probe: " + "; ".join(errors))
        self.set_interest(interest)
        self._map_rings()

    def start(self) -> None:
        """Attach the programs: records start flowing."""
        if self._obj == ffi.NULL:
            raise RuntimeError("BpfSource not open")
        if self._links:
            return
        lib = libbpf.lib()
        try:
            for name in _PROGS[self.mode]:
                prog = self._prog(name)
                link = lib.bpf_program__attach(prog)
                self._links.append(libbpf.check_ptr(link, f"attach {name}"))
        except BpfError as exc:
            self.stop()
            raise BpfUnavailable(f"cannot attach the BPF probe: {exc}") from None

    def stop(self) -> None:
        """Detach: no new records (those in the ring can still be drained)."""
        lib = libbpf.lib() if self._links else None
        while self._links:
            lib.bpf_link__destroy(self._links.pop())

    def close(self) -> None:
        self.stop()
        if self._drainer is not None:      # the mmaps are exported until then
            self._drainer.release()
            self._drainer = None
        while self._rings:
            self._rings.pop().close()
        self._close_ring_fds()
        self._close_obj()

    # -- configuration ---------------------------------------------------

    def set_interest(self, interest: Optional[set[int]]) -> None:
        """Capture only these PPM_SC codes (None: every routed syscall)."""
        fd = self._map_fd("fb_interest")
        lib = libbpf.lib()
        key = ffi.new("uint32_t *")
        val = ffi.new("uint8_t *")
        for nr, (enter, ppm_sc) in enumerate(self._routes):
            on = enter >= 0 and (interest is None or ppm_sc in interest)
            key[0] = nr
            val[0] = 1 if on else 0
            libbpf.check(lib.bpf_map_update_elem(fd, key, val, 0),
                         "update fb_interest")

    def counters(self) -> dict[str, int]:
        """Counters summed over CPUs: events, drops by reason, faults."""
        totals = dict.fromkeys(_COUNTER_FIELDS + ("drops",), 0)
        for per_cpu in self.counters_per_cpu():
            for k, v in per_cpu.items():
                totals[k] += v
        return totals

    def counters_per_cpu(self) -> list[dict[str, int]]:
        """Each CPU's counters (CPU c's records are in ring_of_cpu(c))."""
        fd = self._map_fd("fb_counters")
        buf = ffi.new("uint8_t[]", _COUNTERS.size * self._ncpus)
        key = ffi.new("uint32_t *", 0)
        libbpf.check(libbpf.lib().bpf_map_lookup_elem(fd, key, buf),
                     "lookup fb_counters")
        raw = bytes(ffi.buffer(buf))
        out = []
        for cpu in range(self._ncpus):
            c = dict(zip(_COUNTER_FIELDS,
                         _COUNTERS.unpack_from(raw, cpu * _COUNTERS.size)))
            c["drops"] = (c["drops_buffer"] + c["drops_max_size"]
                          + c["drops_scratch"])
            out.append(c)
        return out

    def ring_of_cpu(self, cpu: int) -> int:
        return cpu // self.cpus_per_ring

    # -- reading ---------------------------------------------------------

    def pending(self) -> int:
        """Bytes the kernel has committed and we have not drained."""
        if self._drainer is None:
            return 0
        return self._drainer.pending()

    def wait(self, timeout: float, interval: float = 0.005) -> bool:
        """Timed polling (the probe never wakes us): True once data is ready."""
        deadline = time.monotonic() + timeout
        while not self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)
        return True

    def drain(self, max_bytes: int = 1 << 20) -> bytes:
        """Every ready record (up to about max_bytes per ring), laid end to
        end in timestamp order across the rings."""
        if self._drainer is None:
            raise RuntimeError("BpfSource not open")
        # The walk, the copy and the merge run in C without the GIL, with
        # acquire/release accesses to the positions the kernel shares; the
        # data pages follow the producer page and are mapped twice, so a
        # record never wraps.
        return self._drainer.drain(max_bytes)

    def drain_ring(self, index: int, max_bytes: int = 1 << 20) -> bytes:
        """Ring `index`'s ready records (in time order: one ring is written
        by its CPUs with migration disabled), laid end to end."""
        if self._drainer is None:
            raise RuntimeError("BpfSource not open")
        return self._drainer.drain_ring(index, max_bytes)

    # -- internals -------------------------------------------------------

    def _build_routes(self, table) -> list[tuple[int, int]]:
        routes = []
        for nr in range(SYSCALL_NR_MAX):
            if nr < len(table.X86_64_SYSCALLS):
                enter, ppm_sc = table.X86_64_SYSCALLS[nr]
            else:
                enter, ppm_sc = -1, 0
            routes.append((enter, ppm_sc))
        return routes

    def _config(self, table) -> bytes:
        boot = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        head = _CONFIG_HEAD.pack(boot, os.getpid(), self.argv_max,
                                 self.snaplen, self.cpus_per_ring)
        routes = b"".join(struct.pack("<HH", max(e, 0), sc)
                          for e, sc in self._routes)
        nparams = bytearray(EVENT_MAX)
        for ev in table.EVENTS[:EVENT_MAX]:
            nparams[ev.id] = len(ev.params)
        return head + routes + bytes(nparams)

    def _load(self, lib, table, mode: str) -> None:
        libbpf.clear_log()
        obj = lib.bpf_object__open_file(str(self.obj_path).encode(), ffi.NULL)
        self._obj = libbpf.check_ptr(obj, f"open {self.obj_path}")
        self.mode = mode
        for m, names in _PROGS.items():
            for name in names:
                lib.bpf_program__set_autoload(self._prog(name), m == mode)
        rodata = self._map(".rodata")
        cfg = self._config(table)
        size = ffi.new("size_t *")
        lib.bpf_map__initial_value(rodata, size)
        if size[0] != len(cfg):
            raise BpfError(0, f"probe config is {size[0]} bytes, loader "
                              f"expects {len(cfg)}: object and loader differ")
        libbpf.check(lib.bpf_map__set_initial_value(rodata, cfg, len(cfg)),
                     "set .rodata")
        libbpf.check(lib.bpf_map__set_max_entries(self._map("fb_scratch"),
                                                  self._ncpus),
                     "size fb_scratch")
        # The rings: created here, the first one doubling as the
        # template the kernel checks every slot of fb_rings against.
        self._create_rings(lib)
        rings = self._map("fb_rings")
        libbpf.check(lib.bpf_map__set_max_entries(rings, self.nrings),
                     "size fb_rings")
        libbpf.check(lib.bpf_map__set_inner_map_fd(rings, self._ring_fds[0]),
                     "fb_rings template")
        rc = lib.bpf_object__load(self._obj)
        if rc < 0:
            raise BpfError(-rc, f"load: {os.strerror(-rc)} "
                                f"[{libbpf.log_tail(4)}]")
        fd = self._map_fd("fb_rings")
        key = ffi.new("uint32_t *")
        val = ffi.new("uint32_t *")
        for i, ring_fd in enumerate(self._ring_fds):
            key[0], val[0] = i, ring_fd
            libbpf.check(lib.bpf_map_update_elem(fd, key, val, 0),
                         "update fb_rings")

    def _create_rings(self, lib) -> None:
        self._close_ring_fds()
        for i in range(self.nrings):
            fd = lib.bpf_map_create(libbpf.BPF_MAP_TYPE_RINGBUF,
                                    f"fb_ring{i}".encode()[:15], 0, 0,
                                    self.ring_bytes, ffi.NULL)
            self._ring_fds.append(libbpf.check(fd, f"create ring {i}"))

    def _close_ring_fds(self) -> None:
        while self._ring_fds:
            os.close(self._ring_fds.pop())

    def _map_rings(self) -> None:
        from falco_engine.ringbuf import BpfRings

        # the mappings own the fds from here on
        fds, self._ring_fds = self._ring_fds, []
        try:
            while fds:
                self._rings.append(_Ring(fds[0], self.ring_bytes, self._page))
                fds.pop(0)
        finally:
            for fd in fds:
                os.close(fd)
        self._drainer = BpfRings([(r.prod, r.cons) for r in self._rings],
                                 self._page, self.ring_bytes)

    def _close_obj(self) -> None:
        self._close_ring_fds()
        if self._obj != ffi.NULL:
            libbpf.lib().bpf_object__close(self._obj)
            self._obj = ffi.NULL

    def _prog(self, name: str):
        prog = libbpf.lib().bpf_object__find_program_by_name(self._obj,
                                                             name.encode())
        return libbpf.check_ptr(prog, f"program {name}")

    def _map(self, name: str):
        m = libbpf.lib().bpf_object__find_map_by_name(self._obj, name.encode())
        return libbpf.check_ptr(m, f"map {name}")

    def _map_fd(self, name: str) -> int:
        if self._obj == ffi.NULL:
            raise RuntimeError("BpfSource not open")
        return libbpf.check(libbpf.lib().bpf_map__fd(self._map(name)),
                            f"fd of {name}")

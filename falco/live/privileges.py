"""Drop the capabilities `falco run` no longer needs once its driver is
attached (issue #10).

Loading the eBPF probe needs CAP_SYS_ADMIN or CAP_BPF + CAP_PERFMON (and
CAP_SYS_RESOURCE for the rings' locked memory on old kernels); opening the
kernel module's devices needs root's file access.  Once the programs are
attached and the rings mapped, what is left to do is:

- read the mapped rings (plain memory: no capability);
- read the probe's counters and update its interest map (the ``bpf()``
  syscall on maps we hold: CAP_BPF, which kernels with
  ``unprivileged_bpf_disabled`` ask for on every command);
- read /proc of every process (``/proc/PID/fd``, ``exe``, ``cwd``,
  ``environ`` of processes with more capabilities than ours:
  CAP_SYS_PTRACE) and files whatever their mode (CAP_DAC_READ_SEARCH);
- detach (closing fds: no capability).

So the kept set is CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE and, for the eBPF
driver, CAP_BPF.  Everything else leaves the bounding set (so no program
falco starts later can get it back, even as root), the ambient set, the
permitted and the effective sets; the inheritable set is emptied.

Linux keeps capabilities per thread: the drop applies to the calling thread
and to every thread it starts afterwards.
"""
from __future__ import annotations

import ctypes
import os
import re
from typing import Callable, Iterable

CAP_DAC_READ_SEARCH = 2
CAP_SETPCAP = 8
CAP_SYS_PTRACE = 19
CAP_BPF = 39

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_capget, _SYS_capset = 125, 126

KEEP_COMMON = frozenset((CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE))


class PrivilegeError(OSError):
    """A capability call failed; the message is one line."""


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong, ctypes.c_ulong]


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise PrivilegeError(err, f"{what}: {os.strerror(err)}")
    return rc


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40


def _mask(caps: Iterable[int]) -> int:
    m = 0
    for c in caps:
        m |= 1 << c
    return m


def get_caps() -> dict[str, int]:
    """This thread's effective, permitted, inheritable sets (bit masks)."""
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    _check(_libc.syscall(_SYS_capget, ctypes.byref(hdr), data), "capget")
    return {k: getattr(data[0], k) | getattr(data[1], k) << 32
            for k in ("effective", "permitted", "inheritable")}


def keep_for(driver: str) -> frozenset[int]:
    """The capabilities a running `falco run` keeps with this driver."""
    return KEEP_COMMON | ({CAP_BPF} if driver == "ebpf" else set())


def drop_capabilities(keep: Iterable[int]) -> dict[str, int]:
    """Keep only `keep` (those we have) in this thread's bounding,
    permitted and effective sets; empty the inheritable and ambient sets.
    Returns the sets after the drop."""
    keep = frozenset(keep)
    have = get_caps()
    want = _mask(keep) & have["permitted"]
    # The bounding set first: dropping from it needs CAP_SETPCAP, which
    # goes away with the capset below.
    if have["effective"] & (1 << CAP_SETPCAP):
        for cap in range(last_cap() + 1):
            if cap not in keep and _libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1:
                _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0),
                       f"drop capability {cap} from the bounding set")
    # Ambient capabilities would survive an execve: none.
    if _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 \
            and ctypes.get_errno() != 22:   # EINVAL: kernel without ambient
        _check(-1, "clear the ambient capabilities")
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in (0, 1):
        part = (want >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = part
        data[i].inheritable = 0
    _check(_libc.syscall(_SYS_capset, ctypes.byref(hdr), data), "capset")
    return get_caps()


def cap_names(mask: int) -> str:
    names = {CAP_DAC_READ_SEARCH: "CAP_DAC_READ_SEARCH",
             CAP_SYS_PTRACE: "CAP_SYS_PTRACE", CAP_BPF: "CAP_BPF"}
    return ",".join(names.get(c, str(c)) for c in range(64) if mask >> c & 1) or "none"


def drop_after_attach(driver: str, log: Callable[[str], None],
                      other_threads: Iterable[Callable[[Callable[[], object]], object]] = ()
                      ) -> None:
    """`falco run`'s call, once the driver is attached: drop, and say what
    is kept.  Capabilities belong to threads: each of `other_threads` (a
    function that runs a callable on a thread started before the attach,
    such as the output thread) drops its own too.  A failure is logged,
    never fatal (falco keeps watching)."""
    if os.geteuid() != 0 and not get_caps()["effective"]:
        return
    keep = keep_for(driver)
    try:
        after = drop_capabilities(keep)
        for run_there in other_threads:
            run_there(lambda: drop_capabilities(keep))
    except (PrivilegeError, TimeoutError) as exc:
        log(f"falco: warning: capabilities not dropped: {exc}")
        return
    log(f"falco: capabilities dropped after attach; kept "
        f"{cap_names(after['effective'])}")


def status_caps(pid: int | str = "self") -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    return {k: int(v, 16) for k, v in
            re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", text, re.M)}

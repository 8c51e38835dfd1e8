"""Snapshot of the host from /proc: the tables a live run starts from.

Processes that started before falco are known only from /proc: their
threads, command lines, working directories, credentials, cgroups and open
file descriptors.  The snapshot has the same shape as a capture's metadata
(`CaptureTables`), so the state engine seeds from either, and `falco
capture` writes it as the capture's process and fd lists.
"""
from __future__ import annotations

import os
import socket
import struct
from pathlib import Path
from typing import Callable

from falco.capture.tables import (
    FD_DIRECTORY, FD_EVENT, FD_EVENTPOLL, FD_FIFO, FD_FILE_V2, FD_INOTIFY,
    FD_IPV4_SERVSOCK, FD_IPV4_SOCK, FD_IPV6_SERVSOCK, FD_IPV6_SOCK,
    FD_MEMFD, FD_NETLINK, FD_SIGNALFD, FD_TIMERFD, FD_UNIX_SOCK,
    FD_UNSUPPORTED, FD_BPF, FD_PIDFD, FD_USERFAULTFD, FD_IOURING,
    CaptureTables, FdInfo, GroupInfo, MachineInfo, ThreadInfo, UserInfo,
)

# anon_inode:[name] -> fd type
_ANON = {"eventfd": FD_EVENT, "eventpoll": FD_EVENTPOLL, "inotify": FD_INOTIFY,
         "signalfd": FD_SIGNALFD, "timerfd": FD_TIMERFD, "bpf-map": FD_BPF,
         "bpf-prog": FD_BPF, "bpf_link": FD_BPF, "[userfaultfd]": FD_USERFAULTFD,
         "[io_uring]": FD_IOURING, "[pidfd]": FD_PIDFD}

_L4_TCP, _L4_UDP = 2, 3


def _read(path: Path, limit: int = 1 << 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return b""


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _status(pid_dir: Path) -> dict[str, str]:
    out = {}
    for line in _text(_read(pid_dir / "status")).splitlines():
        key, _, val = line.partition(":")
        out[key] = val.strip()
    return out


def _inet_sockets() -> dict[int, tuple]:
    """inode -> (type, sip, sport, dip, dport, l4proto) from /proc/net."""
    out: dict[int, tuple] = {}
    for name, l4, v6 in (("tcp", _L4_TCP, False), ("udp", _L4_UDP, False),
                         ("tcp6", _L4_TCP, True), ("udp6", _L4_UDP, True)):
        lines = _text(_read(Path("/proc/net") / name, 1 << 24)).splitlines()[1:]
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            try:
                inode = int(parts[9])
                local, remote = parts[1], parts[2]
                state = int(parts[3], 16)
            except ValueError:
                continue
            sip, sport = _addr(local, v6)
            dip, dport = _addr(remote, v6)
            listening = (l4 == _L4_TCP and state == 0x0A) or (l4 == _L4_UDP and not dport)
            if listening:
                ftype = FD_IPV6_SERVSOCK if v6 else FD_IPV4_SERVSOCK
            else:
                ftype = FD_IPV6_SOCK if v6 else FD_IPV4_SOCK
            out[inode] = (ftype, sip, sport, dip, dport, l4)
    return out


def _addr(text: str, v6: bool) -> tuple[bytes, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    # /proc/net prints each 32-bit word in host (little-endian) order.
    words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
    return b"".join(words), int(port, 16)


def _fd_entry(fd: int, target: str, ino: int, flags: int,
              sockets: dict[int, tuple]) -> FdInfo:
    if target.startswith("socket:["):
        inode = int(target[8:-1]) if target[8:-1].isdigit() else 0
        sk = sockets.get(inode)
        if sk is None:
            return FdInfo(fd, inode, FD_UNIX_SOCK, name="")
        ftype, sip, sport, dip, dport, l4 = sk
        return FdInfo(fd, inode, ftype, sip=sip, dip=dip, sport=sport,
                      dport=dport, l4proto=l4)
    if target.startswith("pipe:["):
        return FdInfo(fd, ino, FD_FIFO, name=target)
    if target.startswith("anon_inode:"):
        kind = target[len("anon_inode:"):]
        return FdInfo(fd, ino, _ANON.get(kind, FD_UNSUPPORTED), name=target)
    if target.startswith("/memfd:"):
        return FdInfo(fd, ino, FD_MEMFD, name=target)
    if target.startswith("/"):
        try:
            is_dir = os.path.isdir(target)
        except OSError:
            is_dir = False
        return FdInfo(fd, ino, FD_DIRECTORY if is_dir else FD_FILE_V2,
                      name=target, open_flags=flags)
    return FdInfo(fd, ino, FD_UNSUPPORTED, name=target)


def _fds(pid_dir: Path, sockets: dict[int, tuple], max_fds: int) -> dict[int, FdInfo]:
    out: dict[int, FdInfo] = {}
    try:
        names = os.listdir(pid_dir / "fd")
    except OSError:
        return out
    for name in names[:max_fds]:
        if not name.isdigit():
            continue
        fd = int(name)
        try:
            target = os.readlink(pid_dir / "fd" / name)
            st = os.stat(pid_dir / "fd" / name)
        except OSError:
            continue
        flags = 0
        for line in _text(_read(pid_dir / "fdinfo" / name, 4096)).splitlines():
            if line.startswith("flags:"):
                flags = _ppm_open_flags(int(line.split()[1], 8))
        out[fd] = _fd_entry(fd, target, st.st_ino, flags, sockets)
    return out


def _ppm_open_flags(kflags: int) -> int:
    """Kernel O_* bits to the drivers' PPM_O_* encoding (the common ones)."""
    acc = kflags & 3
    out = {0: 1, 1: 2, 2: 3}.get(acc, 0)
    for kbit, pbit in ((0o100, 4), (0o1000, 256), (0o2000, 8), (0o4000, 64),
                       (0o200, 32), (0o2000000, 4096), (0o200000, 1024)):
        if kflags & kbit:
            out |= pbit
    return out


def _thread(pid_dir: Path, tid: int, pid: int) -> ThreadInfo | None:
    st = _status(pid_dir)
    if not st:
        return None
    uids = st.get("Uid", "0 0").split()
    gids = st.get("Gid", "0 0").split()
    nstgid = st.get("NStgid", "").split()
    nspid = st.get("NSpid", "").split()
    cmdline = _read(pid_dir / "cmdline").split(b"\0")
    if cmdline and cmdline[-1] == b"":
        cmdline.pop()
    t = ThreadInfo(tid=tid, pid=pid, ptid=int(st.get("PPid", "0") or 0))
    t.comm = st.get("Name", "")
    t.exe = _text(cmdline[0]) if cmdline else t.comm
    t.args = [_text(a) for a in cmdline[1:]]
    try:
        t.exepath = os.readlink(pid_dir / "exe")
    except OSError:
        t.exepath = ""
    try:
        t.cwd = os.readlink(pid_dir / "cwd")
    except OSError:
        t.cwd = ""
    t.uid, t.gid = int(uids[1]), int(gids[1])       # effective ids
    t.vpid = int(nstgid[-1]) if nstgid else pid
    t.vtid = int(nspid[-1]) if nspid else tid
    t.cgroups = [_cgroup_entry(line) for line in
                 _text(_read(pid_dir / "cgroup")).splitlines() if line]
    login = _text(_read(pid_dir / "loginuid")).strip()
    t.loginuid = int(login) if login.isdigit() else 0xFFFFFFFF
    stat = _text(_read(pid_dir / "stat"))
    fields = stat[stat.rfind(")") + 2:].split()
    if len(fields) > 5:
        t.vpgid = int(fields[2])
        t.sid = int(fields[3])
        t.tty = int(fields[4])
    t.fdlimit = 1024
    for line in _text(_read(pid_dir / "limits")).splitlines():
        if line.startswith("Max open files"):
            parts = line.split()
            if parts[3].isdigit():
                t.fdlimit = int(parts[3])
    t.vmsize_kb = int(st.get("VmSize", "0 kB").split()[0] or 0)
    t.vmrss_kb = int(st.get("VmRSS", "0 kB").split()[0] or 0)
    t.vmswap_kb = int(st.get("VmSwap", "0 kB").split()[0] or 0)
    for cap, name in (("CapInh", "cap_inheritable"), ("CapPrm", "cap_permitted"),
                      ("CapEff", "cap_effective")):
        setattr(t, name, int(st.get(cap, "0"), 16))
    return t


def _cgroup_entry(line: str) -> str:
    """'3:cpu,cpuacct:/docker/x' -> 'cpu,cpuacct=/docker/x' (scap's form);
    cgroup v2's '0::/x' -> '=/x'... written as 'cpuset=/x' like libscap."""
    _, ctrl, path = line.split(":", 2)
    return f"{ctrl or 'cpuset'}={path}"


def users_and_groups(tables: CaptureTables, root: Path = Path("/")) -> None:
    for line in _text(_read(root / "etc/passwd", 1 << 22)).splitlines():
        p = line.split(":")
        if len(p) >= 7 and p[2].isdigit() and p[3].isdigit():
            tables.users.append(UserInfo(int(p[2]), int(p[3]), p[0], p[5], p[6]))
    for line in _text(_read(root / "etc/group", 1 << 22)).splitlines():
        p = line.split(":")
        if len(p) >= 3 and p[2].isdigit():
            tables.groups.append(GroupInfo(int(p[2]), p[0]))


def machine_info() -> MachineInfo:
    mem = 0
    for line in _text(_read(Path("/proc/meminfo"))).splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    max_pid = int(_text(_read(Path("/proc/sys/kernel/pid_max"))).strip() or 0)
    uptime = float(_text(_read(Path("/proc/uptime"))).split()[0] or 0)
    import time
    boot = int((time.time() - uptime) * 1e9)
    return MachineInfo(os.cpu_count() or 1, mem, max_pid, socket.gethostname(), boot)


def snapshot(keep: Callable[[int], bool] | None = None, with_env: bool = False,
             max_fds: int = 4096) -> CaptureTables:
    """Scan /proc once.  `keep(pid)` limits the processes taken; env is
    left out unless asked for (it holds secrets and is rarely needed)."""
    tables = CaptureTables(machine=machine_info())
    sockets = _inet_sockets()
    proc = Path("/proc")
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if keep is not None and not keep(pid):
            continue
        pid_dir = proc / entry
        try:
            tids = [int(t) for t in os.listdir(pid_dir / "task") if t.isdigit()]
        except OSError:
            continue
        fds = _fds(pid_dir, sockets, max_fds)
        for tid in tids:
            t = _thread(pid_dir / "task" / str(tid), tid, pid)
            if t is None:
                continue
            if with_env:
                t.env = [_text(e) for e in _read(pid_dir / "environ").split(b"\0") if e]
            if tid == pid:
                t.fds = fds
            tables.threads[tid] = t
    users_and_groups(tables)
    return tables

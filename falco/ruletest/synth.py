"""A compact test case -> the state tables and libscap records it stands for.

The process context becomes `CaptureTables` threads (the process, then its
parent chain, each with the container's cgroup), users and groups; each
syscall becomes its enter and exit records with every parameter of the
event table, in table order: the values the case names, converted from
PPM flag names, errno names, addresses and argument lists; sensible
defaults for the rest (the process's own tid/pid/cwd/cgroups, fd numbers
handed out from 3 up, res = 0, AT_FDCWD for directory fds).
"""
from __future__ import annotations

import dataclasses
import errno as _errno
import hashlib
import ipaddress
import json
import os
import shlex
import struct
from dataclasses import dataclass, field
from typing import Any

from falco.capture.tables import (
    FD_FILE_V2, FD_IPV4_SOCK, FD_IPV6_SOCK, FD_UNIX_SOCK, CaptureTables, FdInfo,
    GroupInfo, ThreadInfo, UserInfo,
)
from falco_engine import table as _table

from .format import EventSpec, TestCase, syscall_events

__all__ = ["SynthError", "Synthesized", "synthesize", "encode_param", "record"]

PPM_AT_FDCWD = -100
PPM_AF_UNIX, PPM_AF_INET, PPM_AF_INET6 = 1, 2, 10
BASE_TS = 1_700_000_000_000_000_000
FIRST_TID = 4242

_EVENTS = syscall_events()
_SYSCALL_CODE = {n: i for i, n in enumerate(_table.SYSCALL_NAMES) if n}
_GENERIC_E = next(e for e in _table.EVENTS if e.name == "syscall" and e.id % 2 == 0)
_NATIVE: dict[int, int] = {}                # ppm syscall code -> x86_64 syscall number
for _native, (_enter, _code) in enumerate(_table.X86_64_SYSCALLS):
    if _code:
        _NATIVE.setdefault(_code, _native)

# Exit parameters that hand out a new descriptor, per event name.
_FD_CREATORS = {"open", "openat", "openat2", "creat", "socket", "accept", "accept4",
                "memfd_create", "eventfd", "eventfd2", "signalfd", "signalfd4",
                "timerfd_create", "inotify_init", "inotify_init1", "epoll_create",
                "epoll_create1", "userfaultfd", "pidfd_open", "pidfd_getfd",
                "open_by_handle_at", "fsopen", "open_tree", "bpf", "io_uring_setup"}
_DIRFD_NAMES = {"dirfd", "olddir", "newdir", "olddirfd", "newdirfd", "linkdirfd"}


class SynthError(Exception):
    """A case value the synthesizer cannot encode; str() is file:line: message."""


@dataclass
class Synthesized:
    tables: CaptureTables
    records: bytes
    containers: dict[str, dict] = field(default_factory=dict)   # 12-char id -> metadata
    count: int = 0


# --- value encoders ------------------------------------------------------------

def _flag_value(value: Any, flag_set: int, where: str) -> int:
    """An int, a flag name, "A|B" or a list of names -> the PPM value."""
    if isinstance(value, bool):
        raise SynthError(f"{where}: expected flags, got {value!r}")
    if isinstance(value, int):
        return value
    names = dict(_table.FLAG_SETS[flag_set]) if flag_set else {}
    items = value if isinstance(value, list) else str(value).split("|")
    out = 0
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            out |= item
            continue
        item = str(item).strip()
        if item in names:
            out |= names[item]
        else:
            try:
                out |= int(item, 0)
            except ValueError:
                known = ", ".join(sorted(names)) or "none"
                raise SynthError(f"{where}: unknown flag '{item}' (known: {known})") from None
    return out


def _int_value(value: Any, where: str, flag_set: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        v = value.strip()
        if v.lstrip("-").isdigit():
            return int(v)
        if v.startswith("-") and hasattr(_errno, v[1:]):
            return -getattr(_errno, v[1:])
        if hasattr(_errno, v) and v.startswith("E"):      # errno name: a failed call
            return -getattr(_errno, v)
        try:
            return int(v, 0)
        except ValueError:
            pass
        if flag_set:
            return _flag_value(v, flag_set, where)
    if isinstance(value, list) and flag_set:
        return _flag_value(value, flag_set, where)
    raise SynthError(f"{where}: expected a number, got {value!r}")


def _ip_bytes(text: str, where: str) -> bytes:
    try:
        return ipaddress.ip_address(text.strip("[]")).packed
    except ValueError:
        raise SynthError(f"{where}: bad IP address '{text}'") from None


def _split_hostport(text: str, where: str) -> tuple[bytes, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise SynthError(f"{where}: expected ADDRESS:PORT, got '{text}'")
    return _ip_bytes(host, where), int(port)


def _sockaddr(value: Any, where: str) -> bytes:
    text = str(value)
    if text.startswith("/") or text.startswith("@"):
        return bytes([PPM_AF_UNIX]) + text.encode() + b"\0"
    ip, port = _split_hostport(text, where)
    fam = PPM_AF_INET if len(ip) == 4 else PPM_AF_INET6
    return bytes([fam]) + ip + struct.pack("<H", port)


def _socktuple(value: Any, where: str) -> bytes:
    text = str(value)
    src, sep, dst = text.partition("->")
    if not sep:
        raise SynthError(f"{where}: expected 'SRC:PORT->DST:PORT', got '{text}'")
    if dst.startswith("/") or src.startswith("/") or not src:
        return bytes([PPM_AF_UNIX]) + struct.pack("<QQ", 0, 0) + dst.encode() + b"\0"
    sip, sport = _split_hostport(src, where)
    dip, dport = _split_hostport(dst, where)
    if len(sip) != len(dip):
        raise SynthError(f"{where}: both ends of a tuple must be IPv4 or both IPv6")
    fam = PPM_AF_INET if len(sip) == 4 else PPM_AF_INET6
    return (bytes([fam]) + sip + struct.pack("<H", sport) + dip + struct.pack("<H", dport))


_INT_FORMATS = {1: "<b", 2: "<h", 3: "<i", 4: "<q", 5: "<B", 6: "<H", 7: "<I", 8: "<Q",
                11: "<q", 14: "<q", 15: "<q", 18: "<H", 19: "<B", 20: "<Q", 21: "<Q",
                22: "<H", 23: "<B", 24: "<B", 25: "<I", 28: "<B", 29: "<H", 30: "<I",
                31: "<I", 32: "<I", 34: "<I", 42: "<I", 44: "<B", 45: "<H", 46: "<I"}
_FLAG_TYPES = {28, 29, 30, 44, 45, 46, 42}


def encode_param(p: Any, value: Any, where: str) -> bytes:
    """One parameter's bytes, from a value as a test case writes it."""
    t = p.type
    if t in (9, 17, 43):                                  # CHARBUF, FSPATH, FSRELPATH
        if isinstance(value, bytes):
            return value + b"\0"
        return str(value).encode() + b"\0"
    if t == 10:                                           # BYTEBUF (argv, env, cgroups)
        if isinstance(value, bytes):
            return value
        if isinstance(value, list):
            return b"".join(str(v).encode() + b"\0" for v in value)
        return str(value).encode()
    if t in (35, 36):                                     # CHARBUFARRAY, PAIR_ARRAY
        items = value if isinstance(value, list) else [value]
        return b"".join(str(v).encode() + b"\0" for v in items)
    if t == 12:
        return _sockaddr(value, where)
    if t == 13:
        return _socktuple(value, where)
    if t == 26:                                           # IPV4ADDR
        return _ip_bytes(str(value), where)
    if t == 38:
        return _ip_bytes(str(value), where)
    if t == 33:
        return struct.pack("<d", float(value))
    if t == 27:                                           # DYN: index byte + value
        subs = _table.DYN_SETS[p.flag_set]
        idx = 0
        if isinstance(value, dict) and len(value) == 1:
            (kname, value), = value.items()
            names = [s.name for s in subs]
            if kname not in names:
                raise SynthError(f"{where}: dynamic parameter has no form '{kname}' "
                                 f"(forms: {', '.join(names)})")
            idx = names.index(kname)
        return bytes([idx]) + encode_param(subs[idx], value, where)
    if t == 16:                                           # FDLIST: [[fd, flags], ...]
        items = value or []
        out = struct.pack("<H", len(items))
        for it in items:
            fd, fl = (it, 0) if isinstance(it, int) else it
            out += struct.pack("<QH", fd, fl)
        return out
    fmt = _INT_FORMATS.get(t)
    if fmt is None:
        raise SynthError(f"{where}: parameter type {_table.PARAM_TYPE_NAMES[t]} is not supported")
    if t in _FLAG_TYPES:
        if t == 42 and isinstance(value, str) and value.isdigit():
            v = int(value, 8)                             # "4755": octal like chmod
        else:
            v = _flag_value(value, p.flag_set, where) if not isinstance(value, int) else value
    else:
        v = _int_value(value, where, p.flag_set)
    size = struct.calcsize(fmt)
    if fmt[1].islower():
        lo, hi = -(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1
    else:
        lo, hi = 0, (1 << (size * 8)) - 1
        if v < 0:
            v &= hi
    if not lo <= v <= hi:
        raise SynthError(f"{where}: value {v} does not fit {_table.PARAM_TYPE_NAMES[t]}")
    return struct.pack(fmt, v)


def record(etype: int, raws: list[bytes], ts: int, tid: int) -> bytes:
    """A libscap record: header, u16 lengths, parameter bytes."""
    body = b"".join(struct.pack("<H", len(r)) for r in raws) + b"".join(raws)
    return struct.pack("<QQIHI", ts, tid, 26 + len(body), etype, len(raws)) + body


# --- the process context ---------------------------------------------------------

@dataclass
class _Proc:
    tid: int
    pid: int
    ptid: int
    comm: str
    exe: str
    exepath: str
    args: list[str]
    cwd: str
    uid: int
    gid: int
    loginuid: int
    tty: int
    vtid: int
    vpid: int
    env: list[str]
    cgroups: list[str]
    flags: int = 0
    cap: tuple[int, int, int] = (0, 0, 0)
    next_fd: int = 3
    last_fd: int = -1


def _container_id(c: dict[str, Any]) -> str:
    if "id" in c:
        cid = c["id"]
        return cid if len(cid) == 64 else (cid + hashlib.sha256(cid.encode()).hexdigest())[:64]
    seed = json.dumps({k: c.get(k) for k in ("image", "name")}, sort_keys=True, default=str)
    return hashlib.sha256(seed.encode()).hexdigest()


def _container_info(c: dict[str, Any], cid: str) -> dict[str, Any]:
    image = str(c.get("image", "docker.io/library/busybox:latest"))
    repo, tag, digest = image, "latest", ""
    if "@" in repo:
        repo, _, digest = repo.partition("@")
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = repo.rpartition(":")
    labels = {str(k): str(v) for k, v in (c.get("labels") or {}).items()}
    if "pod" in c:
        labels["io.kubernetes.pod.name"] = str(c["pod"])
    if "namespace" in c:
        labels["io.kubernetes.pod.namespace"] = str(c["namespace"])
    mounts = []
    for m in c.get("mounts", []):
        mounts.append({"Source": m["source"], "Destination": m.get("destination", m["source"]),
                       "Mode": m.get("mode", ""), "RW": bool(m.get("rw", True)),
                       "Propagation": m.get("propagation", "rprivate")})
    return {"id": cid[:12], "full_id": cid, "type": int(c.get("type", 0)),
            "name": str(c.get("name", "test-container")), "image": image,
            "imagerepo": repo, "imagetag": tag, "imagedigest": digest,
            "imageid": hashlib.sha256(image.encode()).hexdigest(),
            "privileged": bool(c.get("privileged", False)), "Mounts": mounts,
            "labels": labels, "ip": str(c.get("ip", "172.17.0.2"))}


def _proc_from(spec: dict[str, Any], tid: int, ptid: int, cgroups: list[str],
               in_container: bool) -> _Proc:
    exe = spec.get("exe")
    comm = spec.get("comm")
    args = list(spec.get("args", []))
    if "cmdline" in spec:
        words = shlex.split(spec["cmdline"])
        exe = exe or (words[0] if words else None)
        args = words[1:]
    if exe is None:
        exe = f"/usr/bin/{comm or 'proc'}"
    comm = comm or os.path.basename(exe)[:15] or "proc"
    exepath = spec.get("exepath") or (exe if exe.startswith("/") else f"/usr/bin/{os.path.basename(exe)}")
    uid = spec.get("uid", 0)
    flags = 0
    if spec.get("exe_writable"):
        flags |= 1
    if spec.get("exe_upper_layer"):
        flags |= 2
    if spec.get("exe_from_memfd"):
        flags |= 4
    pid = spec.get("pid", tid)
    default_v = 1 if in_container else pid
    return _Proc(tid=spec.get("tid", tid), pid=pid, ptid=ptid, comm=comm, exe=exe,
                 exepath=exepath, args=args, cwd=spec.get("cwd", "/root" if uid == 0 else "/tmp"),
                 uid=uid, gid=spec.get("gid", uid), loginuid=spec.get("loginuid", 0xFFFFFFFF),
                 tty=spec.get("tty", 0), vtid=spec.get("vtid", spec.get("vpid", default_v)),
                 vpid=spec.get("vpid", default_v), env=[str(e) for e in spec.get("env", [])],
                 cgroups=cgroups, flags=flags,
                 cap=(spec.get("cap_inheritable", 0), spec.get("cap_permitted", 0),
                      spec.get("cap_effective", 0)))


def _fd_info(num: int, spec: dict[str, Any], where: str) -> FdInfo:
    kind = str(spec.get("type", "file"))
    if kind in ("ipv4", "ipv6"):
        tup = _socktuple(spec.get("tuple", "172.17.0.2:40000->10.0.0.1:443"), where)
        if tup[0] == PPM_AF_INET:
            return FdInfo(fd=num, ino=0, type=FD_IPV4_SOCK, sip=tup[1:5], sport=struct.unpack("<H", tup[5:7])[0],
                          dip=tup[7:11], dport=struct.unpack("<H", tup[11:13])[0], l4proto=2)
        return FdInfo(fd=num, ino=0, type=FD_IPV6_SOCK, sip=tup[1:17], sport=struct.unpack("<H", tup[17:19])[0],
                      dip=tup[19:35], dport=struct.unpack("<H", tup[35:37])[0], l4proto=2)
    if kind == "unix":
        return FdInfo(fd=num, ino=0, type=FD_UNIX_SOCK, name=str(spec.get("name", "")))
    if kind != "file":
        raise SynthError(f"{where}: fd {num}: type must be file, ipv4, ipv6 or unix")
    flags = _flag_value(spec.get("flags", ["O_RDWR"]), 11, where)
    return FdInfo(fd=num, ino=0, type=FD_FILE_V2, name=str(spec.get("name", "/dev/null")),
                  open_flags=flags)


class _Builder:
    def __init__(self, case: TestCase) -> None:
        self.case = case
        self.where = case.where
        self.tables = CaptureTables()
        self.procs: dict[int, _Proc] = {}
        self.records: list[bytes] = []
        self.ts = BASE_TS
        self.containers: dict[str, dict] = {}
        self.cgroups: list[str] = []
        self.in_container = case.container is not None
        if case.container is not None:
            cid = _container_id(case.container)
            self.containers[cid[:12]] = _container_info(case.container, cid)
            self.cgroups = [f"cpuset=/docker/{cid}", f"memory=/docker/{cid}"]
            self.cid = cid

    def build_process_tree(self) -> _Proc:
        chain = []
        spec: dict[str, Any] | None = self.case.process or {}
        while spec is not None:
            chain.append(spec)
            spec = spec.get("parent")
        tids = [FIRST_TID - i for i in range(len(chain))]
        procs = []
        # Inside a container, the topmost process of the chain that is in it
        # is its init (vpid 1), the next one down vpid 2, ... unless told.
        vpids: dict[int, int] = {}
        depth = 0
        for i in range(len(chain) - 1, -1, -1):
            if self.in_container and not chain[i].get("host", False):
                depth += 1
                vpids[i] = depth
        for i, spec in enumerate(chain):
            tid = spec.get("tid", tids[i])
            ptid = chain[i + 1].get("tid", tids[i + 1]) if i + 1 < len(chain) else 1
            in_c = self.in_container and not spec.get("host", False)
            vdefault = {"vpid": vpids[i]} if in_c and "vpid" not in spec else {}
            proc = _proc_from({**spec, **vdefault}, tid, ptid,
                              self.cgroups if in_c else [], in_c)
            procs.append(proc)
        # Fds given on the process are seeded; new ones start above them.
        for proc, spec in zip(procs, chain):
            fds = {}
            for num, fspec in (spec.get("fds") or {}).items():
                fds[num] = _fd_info(num, fspec, self.where)
                proc.next_fd = max(proc.next_fd, num + 1)
                proc.last_fd = num
            self.procs[proc.tid] = proc
            self.tables.threads[proc.tid] = ThreadInfo(
                tid=proc.tid, pid=proc.pid, ptid=proc.ptid, comm=proc.comm, exe=proc.exe,
                exepath=proc.exepath, args=list(proc.args), cwd=proc.cwd, fdlimit=1024,
                uid=proc.uid, gid=proc.gid, env=list(proc.env), vtid=proc.vtid, vpid=proc.vpid,
                cgroups=list(proc.cgroups), loginuid=proc.loginuid, tty=proc.tty,
                exe_writable=bool(proc.flags & 1), exe_upper_layer=bool(proc.flags & 2),
                exe_from_memfd=bool(proc.flags & 4), cap_inheritable=proc.cap[0],
                cap_permitted=proc.cap[1], cap_effective=proc.cap[2], fds=fds)
        users = {0: "root", 65534: "nobody"}
        for spec in chain:
            if "user" in spec:
                users[spec.get("uid", 0)] = spec["user"]
        users.update(self.case.users)
        for uid, name in sorted(users.items()):
            home = "/root" if uid == 0 else f"/home/{name}"
            self.tables.users.append(UserInfo(uid=uid, gid=uid, name=name, homedir=home,
                                              shell="/bin/bash"))
            self.tables.groups.append(GroupInfo(gid=uid, name=name))
        return procs[0]

    # -- defaults ---------------------------------------------------------------

    def _default(self, syscall: str, p: Any, exit_: bool, proc: _Proc,
                 args: dict[str, Any], fd_state: dict[str, int]) -> Any:
        n, t = p.name, p.type
        thread_defaults = {
            "exe": proc.exe, "args": proc.args, "tid": proc.tid, "pid": proc.pid,
            "ptid": proc.ptid, "cwd": proc.cwd, "fdlimit": 1024, "comm": proc.comm,
            "cgroups": proc.cgroups, "env": proc.env, "tty": proc.tty, "pgid": proc.pid,
            "loginuid": proc.loginuid, "uid": proc.uid, "gid": proc.gid,
            "vtid": proc.vtid, "vpid": proc.vpid, "trusted_exepath": proc.exepath,
            "filename": proc.exepath, "pathname": proc.exepath,
            "cap_inheritable": proc.cap[0], "cap_permitted": proc.cap[1],
            "cap_effective": proc.cap[2],
        }
        if syscall in ("execve", "execveat"):
            # The new program: its name and paths follow the `exe` given.
            exe = str(args.get("exe", args.get("filename", args.get("pathname", proc.exe))))
            if n == "flags":
                return proc.flags if "exe" not in args else 0
            if n == "comm":
                return os.path.basename(exe)[:15]
            if n in ("trusted_exepath", "filename", "pathname"):
                return exe if exe.startswith("/") else proc.exepath
            if n == "exe":
                return exe
            if n == "args" and "exe" in args:
                return []
        if syscall in ("execve", "execveat", "clone", "clone3", "fork", "vfork"):
            if n == "res" and syscall in ("clone", "clone3", "fork", "vfork"):
                return 0
            if n in thread_defaults:
                return thread_defaults[n]
        if n in ("tid", "pid") and t == 15 and syscall not in ("ptrace", "kill", "tkill", "tgkill"):
            return thread_defaults[n]
        if n in _DIRFD_NAMES and t == 14:
            return PPM_AT_FDCWD
        if t in (11, 14) and n in ("fd", "res") and exit_ and syscall in _FD_CREATORS:
            return fd_state["new"]
        if t == 14 and n == "res" and syscall in ("dup", "dup2", "dup3"):
            return args.get("newfd", fd_state["new"])
        if t == 14 and n == "newfd":
            return fd_state["new"]
        if t == 14:                                         # an fd the call uses
            return fd_state["cur"]
        if t == 27:
            return 0
        if t == 12:
            return "0.0.0.0:0"
        if t == 13:
            addr = args.get("addr")
            if addr is not None and not str(addr).startswith("/"):
                src = "172.17.0.2" if ":" not in str(addr).rsplit(":", 1)[0] else "::1"
                return f"{src}:40000->{addr}"
            return None
        if t in (9, 17, 43):
            return "" if t == 9 else "<NA>"
        return 0 if t not in (10, 35, 36, 16) else b""

    def spawn(self, ev: EventSpec, parent: _Proc) -> _Proc:
        """fork (both clone exits, as the drivers send them) + execve in the child."""
        self.next_child = getattr(self, "next_child", FIRST_TID + 1000) + 1
        child = dataclasses.replace(parent, tid=self.next_child, pid=self.next_child,
                                    ptid=parent.tid, args=list(parent.args),
                                    env=list(parent.env), cgroups=list(parent.cgroups))
        if parent.vpid != parent.pid:                     # in a pid namespace
            child.vtid = child.vpid = parent.vpid + self.next_child - FIRST_TID
        else:
            child.vtid = child.vpid = child.tid
        self.procs[child.tid] = child
        line = ev.line
        self.add_event(EventSpec("clone", {"res": child.tid, "flags": 0}, line), parent)
        self.add_event(EventSpec("clone", {"res": 0, "flags": 0, "tid": child.tid,
                                           "pid": child.pid, "ptid": parent.tid,
                                           "vtid": child.vtid, "vpid": child.vpid}, line), child)
        self.add_event(EventSpec("execve", dict(ev.args), line), child)
        return child

    def add_event(self, ev: EventSpec, proc: _Proc) -> None:
        where = f"{self.case.filename}:{ev.line}"
        if ev.tid is not None:
            proc = self.procs.get(ev.tid)
            if proc is None:
                raise SynthError(f"{where}: no process with tid {ev.tid} in this case")
        args = dict(ev.args)
        if ev.syscall not in _EVENTS:                       # a generic syscall
            code = _SYSCALL_CODE[ev.syscall]
            enter = record(_GENERIC_E.id, [struct.pack("<H", args.get("ID", code)),
                                           struct.pack("<H", args.get("nativeID", _NATIVE.get(code, 0)))],
                           self._tick(), proc.tid)
            exit_ = record(_GENERIC_E.id + 1, [struct.pack("<H", args.get("ID", code))],
                           self._tick(), proc.tid)
            self.records += [enter, exit_]
            return
        enter_id, exit_id = _EVENTS[ev.syscall]
        creates = ev.syscall in _FD_CREATORS or ev.syscall in ("dup", "dup2", "dup3")
        fd_state = {"new": proc.next_fd, "cur": proc.last_fd if proc.last_fd >= 0 else 3}
        for etype, is_exit in ((enter_id, False), (exit_id, True)):
            if etype is None:
                continue
            info = _table.EVENTS[etype]
            raws = []
            for p in info.params:
                if p.name in args:
                    value = args[p.name]
                else:
                    value = self._default(ev.syscall, p, is_exit, proc, args, fd_state)
                    if value is None:
                        raws.append(b"")
                        continue
                raws.append(encode_param(p, value, f"{where}: {ev.syscall}.{p.name}"))
            self.records.append(record(etype, raws, self._tick(), proc.tid))
        # What the call did to the synthetic process, for later defaults.
        res = args.get("res", args.get("fd", 0))
        try:
            failed = _int_value(res, where) < 0
        except SynthError:
            failed = False
        if creates and not failed:
            new = args.get("fd", args.get("res", args.get("newfd", fd_state["new"])))
            new = _int_value(new, where) if not isinstance(new, dict) else fd_state["new"]
            proc.last_fd = new
            proc.next_fd = max(proc.next_fd, new + 1)
        if ev.syscall in ("execve", "execveat") and not failed:
            if "exe" in args:
                proc.exe = str(args["exe"])
                proc.args = []
                proc.flags = 0
            if "args" in args:
                proc.args = [str(a) for a in args["args"]]
            proc.comm = str(args.get("comm", os.path.basename(proc.exe)[:15]))
            if str(args.get("trusted_exepath", proc.exe)).startswith("/"):
                proc.exepath = str(args.get("trusted_exepath", proc.exe))
            if "flags" in args:
                proc.flags = _flag_value(args["flags"], 7, where)
            for k in ("tty", "loginuid", "uid"):
                if k in args:
                    setattr(proc, k, _int_value(args[k], where))

    def _tick(self) -> int:
        self.ts += 1000
        return self.ts

    def metadata_records(self) -> None:
        if self.case.container is None or not self.case.container.get("metadata_event"):
            return
        cont_id, _ = _EVENTS["container"]
        info = dict(self.containers[self.cid[:12]])
        info["id"] = self.cid[:12]
        doc = json.dumps({"container": info})
        self.records.append(record(cont_id, [doc.encode() + b"\0"], self._tick(), FIRST_TID))


def synthesize(case: TestCase) -> Synthesized:
    """The tables and records of a compact (`events:`) case."""
    if case.events is None:
        raise SynthError(f"{case.where}: case '{case.name}' has no events to synthesize")
    b = _Builder(case)
    proc = b.build_process_tree()
    b.metadata_records()
    for ev in case.events:
        # Normalise string args of execve ("args: -c id") to argv lists.
        if ev.syscall in ("execve", "execveat", "spawn") and isinstance(ev.args.get("args"), str):
            ev = EventSpec(ev.syscall, {**ev.args, "args": shlex.split(ev.args["args"])}, ev.line, ev.tid)
        if ev.syscall == "spawn":
            proc = b.spawn(ev, b.procs[ev.tid] if ev.tid in b.procs else proc)
        else:
            b.add_event(ev, proc)
    return Synthesized(b.tables, b"".join(b.records), b.containers, len(b.records))

"""The state tables a capture carries before its events.

A .scap file starts with what the capturing host knew: the machine, its
processes and their open file descriptors, network interfaces, users and
groups.  These classes hold those tables in plain Python; the state engine
seeds itself from them and the writer serializes them back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# scap_fd_type: how a file descriptor entry is laid out.
FD_UNKNOWN = 0
FD_FILE = 1
FD_DIRECTORY = 2
FD_IPV4_SOCK = 3
FD_IPV6_SOCK = 4
FD_IPV4_SERVSOCK = 5
FD_IPV6_SERVSOCK = 6
FD_FIFO = 7
FD_UNIX_SOCK = 8
FD_EVENT = 9
FD_UNSUPPORTED = 10
FD_SIGNALFD = 11
FD_EVENTPOLL = 12
FD_INOTIFY = 13
FD_TIMERFD = 14
FD_NETLINK = 15
FD_FILE_V2 = 16
FD_BPF = 17
FD_USERFAULTFD = 18
FD_IOURING = 19
FD_MEMFD = 20
FD_PIDFD = 21

# Entry types whose only payload is a name.
NAME_ONLY_FD_TYPES = frozenset((
    FD_FIFO, FD_FILE, FD_DIRECTORY, FD_UNSUPPORTED, FD_EVENT, FD_SIGNALFD,
    FD_EVENTPOLL, FD_INOTIFY, FD_TIMERFD, FD_NETLINK, FD_BPF,
    FD_USERFAULTFD, FD_IOURING, FD_MEMFD, FD_PIDFD,
))


@dataclass
class MachineInfo:
    num_cpus: int = 0
    memory_size_bytes: int = 0
    max_pid: int = 0
    hostname: str = ""
    boot_ts_epoch: int = 0
    flags: int = 0


@dataclass
class FdInfo:
    fd: int
    ino: int
    type: int
    name: str = ""            # path, or unix socket path
    open_flags: int = 0       # FD_FILE_V2
    dev: int = 0              # FD_FILE_V2, when recorded
    sip: bytes = b""          # 4 or 16 bytes, network order as captured
    dip: bytes = b""
    sport: int = 0
    dport: int = 0
    l4proto: int = 0
    unix_source: int = 0
    unix_dest: int = 0


@dataclass
class ThreadInfo:
    tid: int
    pid: int
    ptid: int
    comm: str = ""
    exe: str = ""
    exepath: str = ""
    args: list[str] = field(default_factory=list)
    cwd: str = ""
    fdlimit: int = 0
    flags: int = 0
    uid: int = 0
    gid: int = 0
    vmsize_kb: int = 0
    vmrss_kb: int = 0
    vmswap_kb: int = 0
    pfmajor: int = 0
    pfminor: int = 0
    env: list[str] = field(default_factory=list)
    vtid: int = -1
    vpid: int = -1
    cgroups: list[str] = field(default_factory=list)
    root: str = ""
    sid: int = -1
    vpgid: int = -1
    loginuid: int = 0xFFFFFFFF
    exe_writable: bool = False
    cap_inheritable: int = 0
    cap_permitted: int = 0
    cap_effective: int = 0
    pidns_init_start_ts: int = 0
    tty: int = 0
    exe_upper_layer: bool = False
    exe_ino: int = 0
    exe_ino_ctime: int = 0
    exe_ino_mtime: int = 0
    exe_from_memfd: bool = False
    fds: dict[int, FdInfo] = field(default_factory=dict)


@dataclass
class UserInfo:
    uid: int
    gid: int
    name: str
    homedir: str = ""
    shell: str = ""


@dataclass
class GroupInfo:
    gid: int
    name: str


@dataclass
class InterfaceInfo:
    type: int                 # 1 ipv4, 2 ipv6, 3/4 the same without link speed
    name: str
    addr: bytes
    netmask: bytes
    bcast: bytes
    linkspeed: int = 0


@dataclass
class CaptureTables:
    """Everything a capture says about the host before (or between) events."""
    major: int = 1
    minor: int = 2
    machine: MachineInfo | None = None
    threads: dict[int, ThreadInfo] = field(default_factory=dict)
    users: list[UserInfo] = field(default_factory=list)
    groups: list[GroupInfo] = field(default_factory=list)
    interfaces: list[InterfaceInfo] = field(default_factory=list)
    orphan_fds: list[tuple[int, FdInfo]] = field(default_factory=list)

"""Parameter values: raw bytes -> Python values -> text as sysdig prints it.

Only matched events and debugging output come through here, so plain
Python is fine; the hot path never renders text.  What needs state (the
name behind an fd, the command behind a pid, the cwd behind a relative
path) is asked of an optional `StateView`.
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import struct
from typing import Any, Protocol

from falco_engine import table

# ppm_param_type numbers (libscap numbering, see driver/event_table.yaml).
(PT_NONE, PT_INT8, PT_INT16, PT_INT32, PT_INT64, PT_UINT8, PT_UINT16,
 PT_UINT32, PT_UINT64, PT_CHARBUF, PT_BYTEBUF, PT_ERRNO, PT_SOCKADDR,
 PT_SOCKTUPLE, PT_FD, PT_PID, PT_FDLIST, PT_FSPATH, PT_SYSCALLID,
 PT_SIGTYPE, PT_RELTIME, PT_ABSTIME, PT_PORT, PT_L4PROTO, PT_SOCKFAMILY,
 PT_BOOL, PT_IPV4ADDR, PT_DYN, PT_FLAGS8, PT_FLAGS16, PT_FLAGS32, PT_UID,
 PT_GID, PT_DOUBLE, PT_SIGSET, PT_CHARBUFARRAY, PT_CHARBUF_PAIR_ARRAY,
 PT_IPV4NET, PT_IPV6ADDR, PT_IPV6NET, PT_IPADDR, PT_IPNET, PT_MODE,
 PT_FSRELPATH, PT_ENUMFLAGS8, PT_ENUMFLAGS16, PT_ENUMFLAGS32) = range(47)

PF_NA, PF_DEC, PF_HEX, PF_10_PADDED_DEC, PF_ID, PF_DIR, PF_OCT = range(7)

SIGNED = frozenset((PT_INT8, PT_INT16, PT_INT32, PT_INT64, PT_ERRNO, PT_FD, PT_PID))
UNSIGNED = frozenset((PT_UINT8, PT_UINT16, PT_UINT32, PT_UINT64, PT_SYSCALLID,
                      PT_SIGTYPE, PT_RELTIME, PT_ABSTIME, PT_PORT, PT_L4PROTO,
                      PT_SOCKFAMILY, PT_BOOL, PT_FLAGS8, PT_FLAGS16, PT_FLAGS32,
                      PT_UID, PT_GID, PT_SIGSET, PT_MODE, PT_ENUMFLAGS8,
                      PT_ENUMFLAGS16, PT_ENUMFLAGS32))
FLAG_TYPES = frozenset((PT_FLAGS8, PT_FLAGS16, PT_FLAGS32, PT_MODE))
ENUM_TYPES = frozenset((PT_ENUMFLAGS8, PT_ENUMFLAGS16, PT_ENUMFLAGS32))
STRING_TYPES = frozenset((PT_CHARBUF, PT_FSPATH, PT_FSRELPATH))

# PPM socket families as the drivers encode them.
PPM_AF_UNIX = 1
PPM_AF_INET = 2
PPM_AF_INET6 = 10

# The dirfd meaning "relative to the working directory".
AT_FDCWD = -100

# sysdig cuts buffers and long strings to this many characters, then "...".
PRINT_MAX = 80

SIGNAL_NAMES = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP",
    6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1",
    11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
    16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP",
    21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
    26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR",
    31: "SIGSYS",
}


class StateView(Protocol):
    """What rendering may ask of the state engine (all optional answers)."""

    def fd_info(self, tid: int, fd: int) -> tuple[str, str] | None:
        """(type char, name) of an open fd."""

    def comm(self, tid: int) -> str | None:
        """Command name of a thread."""

    def cwd(self, tid: int) -> str | None:
        """Working directory of a thread."""

    def user_name(self, uid: int) -> str | None:
        """Name of a user id."""

    def group_name(self, gid: int) -> str | None:
        """Name of a group id."""


def read_int(raw: bytes, ptype: int) -> int:
    """Integer value of a fixed-size parameter, by the bytes really stored."""
    n = len(raw)
    if n not in (1, 2, 4, 8):
        return 0
    signed = ptype in SIGNED and not (n == 4 and ptype in (PT_FD, PT_ERRNO, PT_PID))
    return int.from_bytes(raw, "little", signed=signed)


def _cstr(raw: bytes) -> str:
    end = raw.find(b"\0")
    if end >= 0:
        raw = raw[:end]
    return raw.decode("utf-8", "surrogateescape")


def _printable(raw: bytes) -> str:
    """Bytes as sysdig shows buffers: printable ASCII kept, the rest '.'."""
    return "".join(chr(b) if 32 <= b < 127 else "." for b in raw)


def _cut(text: str) -> str:
    return text if len(text) <= PRINT_MAX else text[:PRINT_MAX - 3] + "..."


def _ip(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def decode_sockaddr(raw: bytes) -> tuple | None:
    """(family, address, port) or (AF_UNIX, path, None); None when empty."""
    if not raw:
        return None
    fam = raw[0]
    if fam == PPM_AF_INET and len(raw) >= 7:
        return fam, _ip(raw[1:5]), struct.unpack_from("<H", raw, 5)[0]
    if fam == PPM_AF_INET6 and len(raw) >= 19:
        return fam, _ip(raw[1:17]), struct.unpack_from("<H", raw, 17)[0]
    if fam == PPM_AF_UNIX:
        return fam, _cstr(raw[1:]), None
    return fam, None, None


def decode_socktuple(raw: bytes) -> tuple | None:
    """(family, src, sport, dst, dport) for inet; (AF_UNIX, src_ptr, dst_ptr, path)."""
    if not raw:
        return None
    fam = raw[0]
    if fam == PPM_AF_INET and len(raw) >= 13:
        sport, = struct.unpack_from("<H", raw, 5)
        dport, = struct.unpack_from("<H", raw, 11)
        return fam, _ip(raw[1:5]), sport, _ip(raw[7:11]), dport
    if fam == PPM_AF_INET6 and len(raw) >= 37:
        sport, = struct.unpack_from("<H", raw, 17)
        dport, = struct.unpack_from("<H", raw, 35)
        return fam, _ip(raw[1:17]), sport, _ip(raw[19:35]), dport
    if fam == PPM_AF_UNIX and len(raw) >= 17:
        src, dst = struct.unpack_from("<QQ", raw, 1)
        return fam, src, dst, _cstr(raw[17:])
    return (fam,)


def _hostport(ip: str, port: int) -> str:
    return f"{ip}:{port}"


@functools.lru_cache(maxsize=4096)      # a few values per set recur (rules read them per event)
def flag_names(value: int, flag_set: int) -> str:
    """'A|B' for `value` read against a flag set, in the set's order.

    As libsinsp reads flags: walk the set until an entry equals the whole
    value (it ends the list); before that, take each non-zero entry whose
    bits are all still unexplained and mark them explained, so that a
    composite entry (O_RDWR) is not also shown as its parts; a zero entry
    names only a zero value.
    """
    names = []
    rest = value
    for name, bit in table.FLAG_SETS[flag_set]:
        if bit == value:
            names.append(name)
            break
        if bit and rest and rest & bit == bit:
            names.append(name)
            rest &= ~bit
    return "|".join(names)


def decode_value(ptype: int, raw: bytes) -> Any:
    """The Python value of a parameter (what a rule compares against)."""
    if ptype in SIGNED or ptype in UNSIGNED:
        return read_int(raw, ptype)
    if ptype in STRING_TYPES:
        return _cstr(raw)
    if ptype == PT_SOCKADDR:
        return decode_sockaddr(raw)
    if ptype == PT_SOCKTUPLE:
        return decode_socktuple(raw)
    if ptype == PT_IPV4ADDR and len(raw) == 4:
        return _ip(raw)
    if ptype == PT_IPV6ADDR and len(raw) == 16:
        return _ip(raw)
    if ptype == PT_DOUBLE and len(raw) == 8:
        return struct.unpack("<d", raw)[0]
    if ptype == PT_CHARBUFARRAY:
        return [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0")[:-1]]
    return raw


def _reltime(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return f"{secs}s" if not frac else f"{secs}.{frac:09d}s"


# Kernel-internal codes that leak to userspace as syscall results, which
# Python's errno module does not name.
_KERNEL_ERRNO = {
    512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND",
    515: "ENOIOCTLCMD", 516: "ERESTART_RESTARTBLOCK", 517: "EPROBE_DEFER",
    518: "EOPENSTALE", 519: "ENOPARAM", 521: "EBADHANDLE", 522: "ENOTSYNC",
    523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL", 526: "ESERVERFAULT",
    527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED", 530: "ERECALLCONFLICT",
}


def errno_name(code: int) -> str | None:
    return errno.errorcode.get(code) or _KERNEL_ERRNO.get(code)


def render(pinfo: table.ParamInfo, raw: bytes, tid: int = 0,
           state: StateView | None = None) -> str:
    """One parameter as sysdig's %evt.args shows it."""
    ptype, fmt = pinfo.type, pinfo.fmt
    if ptype in (PT_FD, PT_ERRNO, PT_PID):
        v = read_int(raw, ptype)
        if fmt == PF_HEX:
            return f"{v & 0xFFFFFFFFFFFFFFFF:X}"
        text = str(v)
        if ptype == PT_FD and v == AT_FDCWD:
            return f"{text}(AT_FDCWD)"
        if v < 0 and ptype in (PT_FD, PT_ERRNO):
            name = errno_name(-v)
            return f"{text}({name})" if name else text
        if ptype == PT_FD and state is not None:
            info = state.fd_info(tid, v)
            if info is not None:
                return f"{text}(<{info[0]}>{info[1]})"
        if ptype == PT_PID and state is not None:
            comm = state.comm(v)
            if comm:
                return f"{text}({comm})"
        return text
    if ptype in FLAG_TYPES or ptype in ENUM_TYPES:
        v = read_int(raw, ptype)
        if ptype == PT_MODE:
            text = f"0{v:o}" if v else "0"
        else:
            text = str(v)
        names = flag_names(v, pinfo.flag_set) if pinfo.flag_set else ""
        return f"{text}({names})" if names else text
    if ptype in (PT_UID, PT_GID):
        v = read_int(raw, ptype)
        text = "-1" if v == 0xFFFFFFFF else str(v)
        name = None
        if state is not None and v != 0xFFFFFFFF:
            name = state.user_name(v) if ptype == PT_UID else state.group_name(v)
        return f"{text}({name})" if name else text
    if ptype == PT_SIGTYPE:
        v = read_int(raw, ptype)
        name = SIGNAL_NAMES.get(v)
        return f"{v}({name})" if name else str(v)
    if ptype == PT_RELTIME:
        v = read_int(raw, ptype)
        return f"{v}({_reltime(v)})"
    if ptype in SIGNED or ptype in UNSIGNED:
        v = read_int(raw, ptype)
        if fmt == PF_HEX:
            return f"{v & 0xFFFFFFFFFFFFFFFF:X}"
        if fmt == PF_OCT:
            return f"0{v:o}" if v else "0"
        if fmt == PF_10_PADDED_DEC:
            return f"{v:09d}"
        return str(v)
    if ptype in STRING_TYPES:
        text = _cstr(raw)
        if state is not None and text and not text.startswith("/") \
                and ptype == PT_FSPATH:
            cwd = state.cwd(tid)
            if cwd:
                import posixpath
                return f"{text}({posixpath.normpath(posixpath.join(cwd, text))})"
        return text
    if ptype == PT_BYTEBUF:
        return _cut(_printable(raw))
    if ptype == PT_CHARBUFARRAY:
        return _cut(_printable(raw))
    if ptype == PT_SOCKADDR:
        sa = decode_sockaddr(raw)
        if sa is None:
            return "NULL"
        if sa[0] in (PPM_AF_INET, PPM_AF_INET6) and sa[1] is not None:
            return _hostport(sa[1], sa[2])
        if sa[0] == PPM_AF_UNIX:
            return sa[1]
        return "NULL"
    if ptype == PT_SOCKTUPLE:
        st = decode_socktuple(raw)
        if st is None:
            return "NULL"
        if st[0] in (PPM_AF_INET, PPM_AF_INET6) and len(st) == 5:
            return f"{_hostport(st[1], st[2])}->{_hostport(st[3], st[4])}"
        if st[0] == PPM_AF_UNIX and len(st) == 4:
            return f"{st[1]:x}->{st[2]:x} {st[3]}"
        return "NULL"
    if ptype == PT_FDLIST:
        return _render_fdlist(raw, tid, state)
    if ptype == PT_IPV4ADDR and len(raw) == 4:
        return _ip(raw)
    if ptype == PT_IPV6ADDR and len(raw) == 16:
        return _ip(raw)
    if ptype == PT_DOUBLE and len(raw) == 8:
        return f"{struct.unpack('<d', raw)[0]:f}"
    return _cut(_printable(raw))


def _render_fdlist(raw: bytes, tid: int, state: StateView | None) -> str:
    """poll()'s fd list: 'fd:<type char><events>' per entry, as sysdig."""
    if len(raw) < 2:
        return ""
    count, = struct.unpack_from("<H", raw, 0)
    out = []
    pos = 2
    for _ in range(count):
        if pos + 10 > len(raw):
            break
        fd, flags = struct.unpack_from("<qH", raw, pos)
        pos += 10
        info = state.fd_info(tid, fd) if state is not None else None
        out.append(f"{fd}:{info[0][:1] if info else ''}{flags:x}")   # flags in hex
    return " ".join(out)

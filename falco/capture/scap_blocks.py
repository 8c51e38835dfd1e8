"""Parse the metadata blocks of a .scap capture into `CaptureTables`.

Each parser gets one block body and raises `BlockError` (with the offset
inside the body) on anything that does not fit: no read goes past the end
of the body, and every string length is checked against libscap's limits.
"""
from __future__ import annotations

import struct

from falco.capture import scap_format as fmt
from falco.capture.tables import (
    FD_FILE_V2, FD_IPV4_SERVSOCK, FD_IPV4_SOCK, FD_IPV6_SERVSOCK,
    FD_IPV6_SOCK, FD_UNIX_SOCK, FD_UNSUPPORTED, NAME_ONLY_FD_TYPES,
    CaptureTables, FdInfo, GroupInfo, InterfaceInfo, MachineInfo, ThreadInfo,
    UserInfo,
)


class BlockError(Exception):
    """A block body is malformed; `pos` is the offset inside the body."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def _text(raw: bytes) -> str:
    # Capture strings are bytes from the kernel: keep undecodable bytes
    # visible and reversible instead of failing on them.
    return raw.decode("utf-8", "surrogateescape")


class Cursor:
    """Bounds-checked little-endian reads over one block body."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes | memoryview, pos: int = 0,
                 end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise BlockError(self.pos, f"{what} runs past the end of the block")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def unpack(self, f: str, what: str) -> tuple:
        size = struct.calcsize("<" + f)
        return struct.unpack("<" + f, self.take(size, what))

    def u8(self, what: str) -> int:
        return self.unpack("B", what)[0]

    def u16(self, what: str) -> int:
        return self.unpack("H", what)[0]

    def u32(self, what: str) -> int:
        return self.unpack("I", what)[0]

    def u64(self, what: str) -> int:
        return self.unpack("Q", what)[0]

    def i64(self, what: str) -> int:
        return self.unpack("q", what)[0]

    def string16(self, what: str, limit: int) -> bytes:
        """u16 length then that many bytes (not NUL-terminated on disk)."""
        at = self.pos
        n = self.u16(what + " length")
        if n > limit:
            raise BlockError(at, f"{what} length {n} exceeds {limit}")
        return self.take(n, what)


def parse_section_header(body: bytes) -> tuple[int, int]:
    cur = Cursor(body)
    magic, major, minor, _section_len = cur.unpack("IHHQ", "section header")
    if magic != fmt.SHB_MAGIC:
        raise BlockError(0, f"bad byte-order magic 0x{magic:08x} (not a capture "
                            "or written on a big-endian host)")
    if major > fmt.CURRENT_MAJOR:
        raise BlockError(4, f"capture format {major}.{minor} is newer than "
                            f"{fmt.CURRENT_MAJOR}.x")
    return major, minor


def parse_machine_info(body: bytes) -> MachineInfo:
    cur = Cursor(body)
    cpus, mem, max_pid = cur.unpack("IQQ", "machine info")
    host = cur.take(fmt.HOSTNAME_LEN, "hostname").split(b"\0", 1)[0]
    mi = MachineInfo(cpus, mem, max_pid, _text(host))
    if cur.remaining() >= 16:
        mi.boot_ts_epoch, mi.flags = cur.unpack("QQ", "machine info")
    return mi


def parse_proclist(body: bytes, version: int, tables: CaptureTables) -> None:
    cur = Cursor(body)
    while cur.remaining() >= 4:
        start = cur.pos
        sub_len = cur.u32("entry length") if version >= 9 else 0
        if version >= 9 and (sub_len < 4 or start + sub_len > cur.end):
            raise BlockError(start, f"process entry length {sub_len} does not "
                                    "fit the block")
        tinfo = _parse_thread(cur, version, start, sub_len)
        if sub_len:
            cur.pos = start + sub_len
        tables.threads[tinfo.tid] = tinfo


def _parse_thread(cur: Cursor, version: int, start: int,
                  sub_len: int) -> ThreadInfo:
    tid, pid, ptid = cur.unpack("qqq", "process ids")
    t = ThreadInfo(tid, pid, ptid)
    if version >= 6:
        t.sid = cur.i64("sid")
    if version >= 8:
        t.vpgid = cur.i64("vpgid")
    t.comm = _text(cur.string16("comm", fmt.MAX_PATH))
    t.exe = _text(cur.string16("exe", fmt.MAX_PATH))
    if version >= 7:
        t.exepath = _text(cur.string16("exepath", fmt.MAX_PATH))
    t.args = _split_nul(cur.string16("args", fmt.MAX_ARGS))
    t.cwd = _text(cur.string16("cwd", fmt.MAX_PATH))
    t.fdlimit, t.flags, t.uid, t.gid = cur.unpack("QIII", "limits and ids")
    if version >= 2:
        (t.vmsize_kb, t.vmrss_kb, t.vmswap_kb, t.pfmajor,
         t.pfminor) = cur.unpack("IIIQQ", "memory counters")
    if version >= 3:
        t.env = _split_nul(cur.string16("env", fmt.MAX_ENV))
    if version >= 4:
        t.vtid, t.vpid = cur.unpack("qq", "namespace ids")
        t.cgroups = _split_nul(cur.string16("cgroups", fmt.MAX_CGROUPS))
    if version >= 5:
        t.root = _text(cur.string16("root", fmt.MAX_PATH))
    if not sub_len:
        return t
    end = start + sub_len

    def fits(n: int) -> bool:
        return cur.pos + n <= end

    # Libs 0.10 wrote pidns_init_start_ts and tty before loginuid; older
    # writers end with at most loginuid, exe_writable and three cap sets
    # (29 bytes).  The remaining length tells the two layouts apart.
    if end - cur.pos > 29:
        if fits(8):
            t.pidns_init_start_ts = cur.u64("pidns start")
        if fits(4):
            t.tty = cur.u32("tty")
    if fits(4):
        t.loginuid = cur.u32("loginuid")
    if fits(1):
        t.exe_writable = bool(cur.u8("exe_writable"))
    if fits(24):
        (t.cap_inheritable, t.cap_permitted,
         t.cap_effective) = cur.unpack("QQQ", "capabilities")
    if fits(1):
        t.exe_upper_layer = bool(cur.u8("exe_upper_layer"))
    if fits(24):
        t.exe_ino, t.exe_ino_ctime, t.exe_ino_mtime = cur.unpack("QQQ", "exe inode")
    if fits(1):
        t.exe_from_memfd = bool(cur.u8("exe_from_memfd"))
    if cur.pos > end:
        raise BlockError(start, "process entry longer than its length field")
    return t


def _split_nul(raw: bytes) -> list[str]:
    if not raw:
        return []
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [_text(p) for p in parts]


def parse_fdlist(body: bytes, v2: bool, tables: CaptureTables) -> None:
    cur = Cursor(body)
    tid = cur.i64("fd list tid")
    owner = tables.threads.get(tid)
    while cur.remaining() >= 4:
        fdi = _parse_fd(cur, v2)
        if owner is not None:
            owner.fds[fdi.fd] = fdi
        else:
            tables.orphan_fds.append((tid, fdi))


def _parse_fd(cur: Cursor, v2: bool) -> FdInfo:
    start = cur.pos
    sub_len = cur.u32("fd entry length") if v2 else 0
    if v2 and (sub_len < 4 or start + sub_len > cur.end):
        raise BlockError(start, f"fd entry length {sub_len} does not fit the block")
    fd, ino, ftype = cur.unpack("qQB", "fd entry")
    fdi = FdInfo(fd, ino, ftype)
    if ftype == FD_IPV4_SOCK:
        fdi.sip, fdi.dip = cur.take(4, "sip"), cur.take(4, "dip")
        fdi.sport, fdi.dport, fdi.l4proto = cur.unpack("HHB", "ipv4 tuple")
    elif ftype == FD_IPV4_SERVSOCK:
        fdi.sip = cur.take(4, "ip")
        fdi.sport, fdi.l4proto = cur.unpack("HB", "ipv4 server")
    elif ftype == FD_IPV6_SOCK:
        fdi.sip, fdi.dip = cur.take(16, "sip"), cur.take(16, "dip")
        fdi.sport, fdi.dport, fdi.l4proto = cur.unpack("HHB", "ipv6 tuple")
    elif ftype == FD_IPV6_SERVSOCK:
        fdi.sip = cur.take(16, "ip")
        fdi.sport, fdi.l4proto = cur.unpack("HB", "ipv6 server")
    elif ftype == FD_UNIX_SOCK:
        fdi.unix_source, fdi.unix_dest = cur.unpack("QQ", "unix socket")
        fdi.name = _text(cur.string16("unix path", fmt.MAX_PATH - 1))
    elif ftype == FD_FILE_V2:
        fdi.open_flags = cur.u32("open flags")
        fdi.name = _text(cur.string16("file name", fmt.MAX_PATH - 1))
        if sub_len and cur.pos + 4 <= start + sub_len:
            fdi.dev = cur.u32("device")
    elif ftype in NAME_ONLY_FD_TYPES:
        fdi.name = _text(cur.string16("fd name", fmt.MAX_PATH - 1))
    else:
        # A newer writer's fd type: keep the entry, as libscap does.
        fdi.type = FD_UNSUPPORTED
        fdi.name = f"unknown-type:[{ftype}]"
    if sub_len:
        if cur.pos > start + sub_len:
            raise BlockError(start, "fd entry longer than its length field")
        cur.pos = start + sub_len
    return fdi


def parse_iflist(body: bytes, v2: bool, tables: CaptureTables) -> None:
    cur = Cursor(body)
    tables.interfaces = []
    while cur.remaining() >= 4:
        start = cur.pos
        entry_len = 0
        if v2:
            entry_len = cur.u32("interface entry length")
            if start + 4 + entry_len > cur.end:
                raise BlockError(start, "interface entry does not fit the block")
        itype, namelen = cur.unpack("HH", "interface header")
        if namelen >= fmt.MAX_PATH:
            raise BlockError(start, f"interface name length {namelen} too long")
        if itype in (fmt.II_IPV4, fmt.II_IPV4_NOLINKSPEED):
            alen = 4
        elif itype in (fmt.II_IPV6, fmt.II_IPV6_NOLINKSPEED):
            alen = 16
        else:
            raise BlockError(start, f"unknown interface type {itype}")
        addr = cur.take(alen, "address")
        mask = cur.take(alen, "netmask")
        bcast = cur.take(alen, "broadcast")
        speed = 0
        if itype in (fmt.II_IPV4, fmt.II_IPV6):
            speed = cur.u64("link speed")
        name = _text(cur.take(namelen, "interface name"))
        tables.interfaces.append(InterfaceInfo(itype, name, addr, mask, bcast, speed))
        if v2:
            cur.pos = start + 4 + entry_len


def parse_userlist(body: bytes, v2: bool, tables: CaptureTables) -> None:
    cur = Cursor(body)
    tables.users, tables.groups = [], []
    while cur.remaining() >= 4:
        start = cur.pos
        sub_len = cur.u32("user entry length") if v2 else 0
        if v2 and (sub_len < 5 or start + sub_len > cur.end):
            raise BlockError(start, "user entry does not fit the block")
        kind = cur.u8("user entry type")
        if kind == fmt.USERBLOCK_USER:
            uid, gid = cur.unpack("II", "user ids")
            name = cur.string16("user name", fmt.MAX_CREDENTIAL_STR - 1)
            home = cur.string16("home dir", fmt.MAX_CREDENTIAL_STR - 1)
            shell = cur.string16("shell", fmt.MAX_CREDENTIAL_STR - 1)
            tables.users.append(UserInfo(uid, gid, _text(name), _text(home), _text(shell)))
        else:
            gid = cur.u32("group id")
            name = cur.string16("group name", fmt.MAX_CREDENTIAL_STR - 1)
            tables.groups.append(GroupInfo(gid, _text(name)))
        if sub_len:
            if cur.pos > start + sub_len:
                raise BlockError(start, "user entry longer than its length field")
            cur.pos = start + sub_len


def parse_metadata_block(btype: int, body: bytes, tables: CaptureTables) -> bool:
    """Parse one non-event block; False when the type is unknown (skipped)."""
    if btype in (fmt.MI_BLOCK, fmt.MI_BLOCK_INT):
        tables.machine = parse_machine_info(body)
    elif btype in fmt.PL_BLOCKS:
        parse_proclist(body, fmt.PL_BLOCKS[btype], tables)
    elif btype in (fmt.FDL_BLOCK, fmt.FDL_BLOCK_INT, fmt.FDL_BLOCK_V2):
        parse_fdlist(body, btype == fmt.FDL_BLOCK_V2, tables)
    elif btype in (fmt.IL_BLOCK, fmt.IL_BLOCK_INT, fmt.IL_BLOCK_V2):
        parse_iflist(body, btype == fmt.IL_BLOCK_V2, tables)
    elif btype in (fmt.UL_BLOCK, fmt.UL_BLOCK_INT, fmt.UL_BLOCK_V2):
        parse_userlist(body, btype == fmt.UL_BLOCK_V2, tables)
    elif btype == fmt.SHB_BLOCK:
        tables.major, tables.minor = parse_section_header(body)
    else:
        return False
    return True

"""Write .scap captures that libscap-based tools (sysdig, Falco) read.

Layout, as libscap writes it: section header, machine info, interface
list, user list, process list, one fd list per process, then one block
per event.  Metadata uses the length-prefixed (V2/V9) entry layouts so a
newer reader can skip what it does not know; events are written as
EV_BLOCK_V2 blocks (EVF_ when they carry flags, _LARGE for 32-bit
parameter lengths), old 22-byte headers converted on the way.
"""
from __future__ import annotations

import gzip
import os
import struct
from typing import BinaryIO, Iterable

from falco.capture import scap_format as fmt
from falco.capture.tables import (
    FD_BPF, FD_FILE_V2, FD_IOURING, FD_IPV4_SERVSOCK, FD_IPV4_SOCK,
    FD_IPV6_SERVSOCK, FD_IPV6_SOCK, FD_MEMFD, FD_PIDFD, FD_UNIX_SOCK,
    FD_UNSUPPORTED, FD_USERFAULTFD, CaptureTables, FdInfo, ThreadInfo,
)
from falco_engine.decoder import EventBatch


def _bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _str16(raw: bytes, limit: int) -> bytes:
    raw = raw[:limit]
    return struct.pack("<H", len(raw)) + raw


def _nul_list(items: list[str], limit: int) -> bytes:
    raw = b"".join(_bytes(i) + b"\0" for i in items)
    return _str16(raw, limit)


def block(btype: int, body: bytes) -> bytes:
    """Frame a body as a block: header, body padded to 4 bytes, trailer."""
    pad = (-len(body)) % 4
    total = 12 + len(body) + pad
    return struct.pack("<II", btype, total) + body + b"\0" * pad + struct.pack("<I", total)


def _thread_entry(t: ThreadInfo) -> bytes:
    body = b"".join((
        struct.pack("<qqqqq", t.tid, t.pid, t.ptid, t.sid, t.vpgid),
        _str16(_bytes(t.comm), fmt.MAX_PATH),
        _str16(_bytes(t.exe), fmt.MAX_PATH),
        _str16(_bytes(t.exepath), fmt.MAX_PATH),
        _nul_list(t.args, fmt.MAX_ARGS),
        _str16(_bytes(t.cwd), fmt.MAX_PATH),
        struct.pack("<QIII", t.fdlimit, t.flags, t.uid, t.gid),
        struct.pack("<IIIQQ", t.vmsize_kb, t.vmrss_kb, t.vmswap_kb,
                    t.pfmajor, t.pfminor),
        _nul_list(t.env, fmt.MAX_ENV),
        struct.pack("<qq", t.vtid, t.vpid),
        _nul_list(t.cgroups, fmt.MAX_CGROUPS),
        _str16(_bytes(t.root), fmt.MAX_PATH),
        # Exactly the 29-byte tail both old and new readers agree on
        # (loginuid, exe_writable, capabilities): libs >= 0.10 put two
        # more fields before loginuid, which older readers misread.
        struct.pack("<IBQQQ", t.loginuid, int(t.exe_writable),
                    t.cap_inheritable, t.cap_permitted, t.cap_effective),
    ))
    return struct.pack("<I", len(body) + 4) + body


# fd types newer than the readers we must interoperate with (libscap before
# 2023 refuses the whole capture on an fd type it does not know): written
# as "unsupported", which every reader accepts, keeping their names.
_NEWER_FD_TYPES = frozenset((FD_BPF, FD_USERFAULTFD, FD_IOURING, FD_MEMFD, FD_PIDFD))


def _fd_entry(f: FdInfo) -> bytes:
    ftype = FD_UNSUPPORTED if f.type in _NEWER_FD_TYPES else f.type
    body = struct.pack("<qQB", f.fd, f.ino, ftype)
    if ftype == FD_IPV4_SOCK:
        body += f.sip + f.dip + struct.pack("<HHB", f.sport, f.dport, f.l4proto)
    elif ftype == FD_IPV4_SERVSOCK:
        body += f.sip + struct.pack("<HB", f.sport, f.l4proto)
    elif ftype == FD_IPV6_SOCK:
        body += f.sip + f.dip + struct.pack("<HHB", f.sport, f.dport, f.l4proto)
    elif ftype == FD_IPV6_SERVSOCK:
        body += f.sip + struct.pack("<HB", f.sport, f.l4proto)
    elif ftype == FD_UNIX_SOCK:
        body += struct.pack("<QQ", f.unix_source, f.unix_dest)
        body += _str16(_bytes(f.name), fmt.MAX_PATH - 1)
    elif ftype == FD_FILE_V2:
        body += struct.pack("<I", f.open_flags)
        body += _str16(_bytes(f.name), fmt.MAX_PATH - 1)
        body += struct.pack("<I", f.dev)
    else:
        body += _str16(_bytes(f.name), fmt.MAX_PATH - 1)
    return struct.pack("<I", len(body) + 4) + body


def metadata_blocks(tables: CaptureTables) -> Iterable[bytes]:
    """The blocks that precede the events, from parsed or live tables."""
    yield block(fmt.SHB_BLOCK, struct.pack("<IHHq", fmt.SHB_MAGIC, fmt.CURRENT_MAJOR,
                                           fmt.CURRENT_MINOR, -1))
    mi = tables.machine
    if mi is not None:
        host = _bytes(mi.hostname)[:fmt.HOSTNAME_LEN - 1].ljust(fmt.HOSTNAME_LEN, b"\0")
        yield block(fmt.MI_BLOCK, struct.pack("<IQQ", mi.num_cpus, mi.memory_size_bytes,
                                              mi.max_pid)
                    + host + struct.pack("<QQQQ", mi.boot_ts_epoch, mi.flags, 0, 0))
    if tables.interfaces:
        entries = []
        for i in tables.interfaces:
            name = _bytes(i.name)
            speed = b"" if i.type in (fmt.II_IPV4_NOLINKSPEED, fmt.II_IPV6_NOLINKSPEED) \
                else struct.pack("<Q", i.linkspeed)
            e = struct.pack("<HH", i.type, len(name)) + i.addr + i.netmask + i.bcast + speed + name
            entries.append(struct.pack("<I", len(e)) + e)
        yield block(fmt.IL_BLOCK_V2, b"".join(entries))
    if tables.users or tables.groups:
        entries = []
        for u in tables.users:
            e = (struct.pack("<BII", fmt.USERBLOCK_USER, u.uid, u.gid)
                 + _str16(_bytes(u.name), fmt.MAX_CREDENTIAL_STR - 1)
                 + _str16(_bytes(u.homedir), fmt.MAX_CREDENTIAL_STR - 1)
                 + _str16(_bytes(u.shell), fmt.MAX_CREDENTIAL_STR - 1))
            entries.append(struct.pack("<I", len(e) + 4) + e)
        for g in tables.groups:
            e = (struct.pack("<BI", fmt.USERBLOCK_GROUP, g.gid)
                 + _str16(_bytes(g.name), fmt.MAX_CREDENTIAL_STR - 1))
            entries.append(struct.pack("<I", len(e) + 4) + e)
        yield block(fmt.UL_BLOCK_V2, b"".join(entries))
    if tables.threads:
        yield block(fmt.PL_BLOCK_V9, b"".join(_thread_entry(t) for t in tables.threads.values()))
        for t in tables.threads.values():
            if t.fds:
                body = struct.pack("<q", t.tid) + b"".join(_fd_entry(f) for f in t.fds.values())
                yield block(fmt.FDL_BLOCK_V2, body)


class ScapWriter:
    """Write a capture: metadata first, then event batches as they come."""

    def __init__(self, path: str | os.PathLike[str], tables: CaptureTables,
                 compress: bool = False) -> None:
        self.path = os.fspath(path)
        self._out: BinaryIO = (gzip.open(self.path, "wb", compresslevel=6)
                               if compress else open(self.path, "wb"))
        self.events_written = 0
        for blk in metadata_blocks(tables):
            self._out.write(blk)

    def write_batch(self, batch: EventBatch, start: int = 0,
                    stop: int | None = None, ts_shift: int = 0) -> int:
        """Append events [start, stop) of a batch; returns how many."""
        data, n = batch.to_scap_blocks(start, len(batch) if stop is None else stop,
                                       ts_shift)
        self._out.write(data)
        self.events_written += n
        return n

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> "ScapWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

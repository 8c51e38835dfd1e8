"""Stream a .scap capture (plain or gzip) as batches of decoded events.

The file is read in large chunks; the engine's `scan_scap` walks the event
blocks of each chunk in C and hands back an `EventBatch` over the chunk's
bytes, so no Python object is made per event.  Metadata blocks (process,
fd, user, interface lists) are parsed in Python into `tables`, before the
first event and wherever else they appear.
"""
from __future__ import annotations

import gzip
import os
import struct
import sys
import threading
import zlib
from typing import BinaryIO, Iterator

from falco.capture import scap_format as fmt
from falco.capture.errors import CaptureError
from falco.capture.scap_blocks import BlockError, parse_metadata_block
from falco.capture.tables import CaptureTables
from falco_engine.decoder import EventBatch, new_buffer, scan_scap

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_CHUNK = 8 << 20
# Events handed on per batch, in record bytes: the engine's pass over a
# batch (state, rules) follows its scan while both still sit in the CPU's
# L2 cache.  Whole 8 MiB chunks were read back from memory a second time.
DEFAULT_BATCH_BYTES = int(os.environ.get("FALCO_BATCH_BYTES", 512 << 10))
# Chunk buffers kept for reuse (by any reader) once no batch points into
# them any more, and the room beyond a chunk each is made with (for the
# partial block carried over from the chunk before).  A fresh 8 MiB buffer
# per chunk cost a page fault per 4 KiB on first touch, every chunk.  A
# buffer made for one huge block (past SPARE_MAX_BYTES) is not kept.
SPARE_BUFFERS = 3
BUFFER_SLACK = 1 << 20
SPARE_MAX_BYTES = 4 * (DEFAULT_CHUNK + BUFFER_SLACK)
_spares: list[bytearray] = []
_spares_lock = threading.Lock()


def _free_buffer(size: int, chunk_size: int) -> bytearray:
    """A buffer of at least `size` bytes that nothing points into: a spare
    one whose last batch is gone, else a new one."""
    with _spares_lock:
        for i in range(len(_spares)):
            # Held by the list and the call's argument only: no batch, and
            # no reader's current chunk.
            if len(_spares[i]) >= size and sys.getrefcount(_spares[i]) == 2:
                return _spares[i]
        buf = new_buffer(max(size, chunk_size + BUFFER_SLACK))
        if len(_spares) < SPARE_BUFFERS and len(buf) <= SPARE_MAX_BYTES:
            _spares.append(buf)
        return buf


class ScapReader:
    """One pass over a capture.  Construct with `open_capture`."""

    def __init__(self, path: str | os.PathLike[str],
                 chunk_size: int = DEFAULT_CHUNK) -> None:
        self.path = os.fspath(path)
        self.chunk_size = chunk_size
        self.batch_bytes = DEFAULT_BATCH_BYTES
        self.tables = CaptureTables()
        self.skipped_blocks = 0          # unknown block types passed over
        self.events_read = 0
        self._buf: bytes | memoryview = b""   # the chunk being scanned
        self._pos = 0                    # next unread byte in _buf
        self._base = 0                   # stream offset of _buf[0]
        self._eof = False
        self._read_error: CaptureError | None = None
        try:
            raw = open(self.path, "rb")
        except OSError as exc:
            raise CaptureError(self.path, 0, exc.strerror or str(exc)) from None
        head = raw.read(2)
        raw.seek(0)
        self.compressed = head == GZIP_MAGIC
        self._stream: BinaryIO = gzip.GzipFile(fileobj=raw) if self.compressed else raw
        self._raw = raw
        self._read_headers()

    # -- plumbing -------------------------------------------------------
    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def __enter__(self) -> "ScapReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, offset: int, message: str) -> CaptureError:
        return CaptureError(self.path, offset, message, self.compressed)

    def _fill(self, need: int) -> bool:
        """Make `need` bytes available at _pos; False if the data ends first.
        Another buffer each time (batches handed out still point into the
        current one): the unread tail of the current one, then the stream
        read straight in after it."""
        while len(self._buf) - self._pos < need and not self._eof:
            rest = len(self._buf) - self._pos
            want = max(self.chunk_size, need)
            buf = _free_buffer(rest + want, self.chunk_size)
            with memoryview(buf) as view:
                view[:rest] = memoryview(self._buf)[self._pos:]
                got = self._read_into(view[rest:rest + want])
            if got == 0:
                self._eof = True
                break
            self._buf = memoryview(buf)[:rest + got]
            self._base += self._pos
            self._pos = 0
        return len(self._buf) - self._pos >= need

    def _read_into(self, view: memoryview) -> int:
        """Fill `view` from the stream; fewer bytes only at its end."""
        got = 0
        while got < len(view):
            try:
                n = self._stream.readinto(view[got:])
            except (OSError, EOFError, zlib.error) as exc:
                # Keep what was decompressed so far; report after it is used.
                self._read_error = self._error(
                    self._base + len(self._buf) + got, f"corrupt compressed data: {exc}")
                n = 0
            if not n:
                self._eof = True
                break
            got += n
        return got

    def _block_at_pos(self) -> tuple[int, int]:
        """Type and length of the block at _pos, loading all of it."""
        at = self._base + self._pos
        if not self._fill(8):
            raise self._read_error or self._error(at, "truncated block header")
        btype, blen = struct.unpack_from("<II", self._buf, self._pos)
        if blen < 12:
            raise self._error(at, f"bad block length {blen}")
        if not self._fill(blen):
            raise self._read_error or self._error(
                at, f"block of {blen} bytes runs past the end of the data (truncated?)")
        trailer, = struct.unpack_from("<I", self._buf, self._pos + blen - 4)
        if trailer != blen:
            raise self._error(at, "block trailer does not repeat the block length")
        return btype, blen

    def _metadata_block(self) -> None:
        btype, blen = self._block_at_pos()
        body_at = self._pos + 8
        body = bytes(memoryview(self._buf)[body_at:self._pos + blen - 4])
        try:
            if not parse_metadata_block(btype, body, self.tables):
                self.skipped_blocks += 1
        except BlockError as exc:
            raise self._error(self._base + body_at + exc.pos,
                              f"block 0x{btype:x}: {exc.message}") from None
        self._pos += blen

    def _read_headers(self) -> None:
        if not self._fill(8):
            raise self._read_error or self._error(0, "empty or truncated file: no section header")
        btype, = struct.unpack_from("<I", self._buf, 0)
        if btype != fmt.SHB_BLOCK:
            raise self._error(0, f"not a .scap capture (first block type 0x{btype:08x}, "
                                 "expected a section header)")
        while True:
            if not self._fill(8):
                break                    # header-only capture: no events
            btype, = struct.unpack_from("<I", self._buf, self._pos)
            if btype in fmt.EVENT_BLOCKS:
                break
            self._metadata_block()

    # -- events ---------------------------------------------------------
    def batches(self) -> Iterator[EventBatch]:
        """Yield event batches in stream order; raise CaptureError at a fault
        after every event before it has been yielded."""
        num = 1
        while True:
            if len(self._buf) - self._pos < 8 and not self._eof:
                self._fill(self.chunk_size)
            if self._pos >= len(self._buf) and self._eof:
                break
            batch = scan_scap(self._buf, self._pos, num, self._eof,
                              self.batch_bytes)
            num = batch.last_num + 1
            self.events_read += len(batch)
            self._pos = batch.consumed
            if len(batch):
                yield batch
            if batch.error is not None:
                off, msg = batch.error
                if self._read_error is not None:
                    raise self._read_error
                raise self._error(self._base + off, msg)
            if batch.stop_block is not None:
                self._metadata_block()
                continue
            if batch.limited:
                continue                 # more events already in the chunk
            if not self._eof:
                need = len(self._buf) - self._pos + 1
                if len(self._buf) - self._pos >= 8:
                    blen, = struct.unpack_from("<I", self._buf, self._pos + 4)
                    need = max(need, blen)
                self._fill(need)
        if self._read_error is not None:
            raise self._read_error


def open_capture(path: str | os.PathLike[str],
                 chunk_size: int = DEFAULT_CHUNK) -> ScapReader:
    """Open a capture and read its metadata; events come from `batches()`."""
    return ScapReader(path, chunk_size)

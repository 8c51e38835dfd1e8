"""Bad captures: one-line error with file and offset, no traceback, no hang,
and every event before the fault still delivered."""
from __future__ import annotations

import gzip
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import compat_path
from falco.capture import CaptureError, open_capture

SOURCE = ("falco", "ping_sendto.scap")


def _plain_source() -> bytes:
    return gzip.decompress(compat_path("captures", *SOURCE).read_bytes())


def _block_offsets(data: bytes) -> list[tuple[int, int, int]]:
    out, off = [], 0
    while off + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        out.append((off, btype, blen))
        off += blen
    return out


def _variants(data: bytes) -> list[tuple[str, bytes]]:
    rng = random.Random(20261127)
    blocks = _block_offsets(data)
    event_blocks = [b for b in blocks if b[1] == 0x216]
    out: list[tuple[str, bytes]] = []
    for i in range(8):
        cut = rng.randrange(1, len(data))
        out.append((f"truncate-{cut}", data[:cut]))
    for i in range(8):
        buf = bytearray(data)
        for _ in range(rng.randrange(1, 16)):
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
        out.append((f"flip-{i}", bytes(buf)))
    for name, value in (("zero", 0), ("small", 8), ("huge", 0xFFFFFFF0),
                        ("odd", 13), ("past-end", len(data))):
        off, _, _ = rng.choice(event_blocks)
        buf = bytearray(data)
        struct.pack_into("<I", buf, off + 4, value)
        out.append((f"blocklen-{name}", bytes(buf)))
    off, _, blen = rng.choice(event_blocks)
    buf = bytearray(data)
    struct.pack_into("<I", buf, off + 8 + 2 + 16, 0xFFFF)   # record len
    out.append(("record-len", bytes(buf)))
    buf = bytearray(data)
    struct.pack_into("<I", buf, off + 8 + 2 + 22, 0x7FFFFFFF)  # nparams
    out.append(("nparams", bytes(buf)))
    buf = bytearray(data)
    struct.pack_into("<I", buf, off + blen - 4, blen + 4)       # trailer
    out.append(("trailer", bytes(buf)))
    buf = bytearray(data)
    struct.pack_into("<I", buf, 8, 0xDEADBEEF)                  # byte-order magic
    out.append(("magic", bytes(buf)))
    out.append(("not-scap", b"GIF89a" + data[6:]))
    unknown = struct.pack("<II", 0x7777, 16) + b"\0" * 4 + struct.pack("<I", 16)
    off, _, _ = event_blocks[len(event_blocks) // 2]
    out.append(("unknown-block", data[:off] + unknown + data[off:]))
    gz = gzip.compress(data)
    out.append(("gzip-truncated", gz[: len(gz) // 2]))
    gzbad = bytearray(gz)
    gzbad[len(gz) // 3] ^= 0xFF
    out.append(("gzip-corrupt", bytes(gzbad)))
    return out


def _variant_params():
    try:
        data = _plain_source()
    except BaseException:
        return [pytest.param(None, None, id="no-reference-data")]
    return [pytest.param(name, blob, id=name) for name, blob in _variants(data)]


@pytest.mark.parametrize("name,blob", _variant_params())
def test_corrupt_capture_cli(tmp_path: Path, name: str, blob: bytes):
    if blob is None:
        compat_path("captures", *SOURCE)
    bad = tmp_path / f"{name}.scap"
    bad.write_bytes(blob)
    proc = subprocess.run([sys.executable, "-m", "falco", "events", "-e", str(bad)],
                          capture_output=True, text=True, errors="replace", timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    if proc.returncode == 1:
        err = proc.stderr.strip().splitlines()
        assert len(err) == 1, proc.stderr
        assert err[0].startswith("falco: error: ") and str(bad) in err[0]
        assert "offset" in err[0]


def test_events_before_a_fault_are_delivered(tmp_path: Path):
    data = _plain_source()
    blocks = _block_offsets(data)
    events = [b for b in blocks if b[1] == 0x216]
    cut_block = events[700]
    bad = tmp_path / "cut.scap"
    bad.write_bytes(data[:cut_block[0] + 20])
    seen = []
    with pytest.raises(CaptureError) as exc:
        with open_capture(bad) as cap:
            for batch in cap.batches():
                seen.extend(ev.num for ev in batch)
    assert len(seen) == 700
    assert exc.value.offset == cut_block[0]


def test_unknown_block_between_events_is_skipped(tmp_path: Path):
    data = _plain_source()
    events = [b for b in _block_offsets(data) if b[1] == 0x216]
    off = events[10][0]
    unknown = struct.pack("<II", 0x7777, 16) + b"\0" * 4 + struct.pack("<I", 16)
    path = tmp_path / "unknown.scap"
    path.write_bytes(data[:off] + unknown + data[off:])
    with open_capture(path) as cap:
        n = sum(len(b) for b in cap.batches())
    assert n == len(events) and cap.skipped_blocks == 1

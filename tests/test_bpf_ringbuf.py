"""The eBPF rings' C drain (falco_engine.ringbuf) on ring images laid out as
the kernel maps a BPF ring buffer: the merge across rings must give the
records in the same order as `decoder.merge_by_time`, and every record
written must be delivered exactly once, whatever the budget per drain."""
from __future__ import annotations

import mmap
import random
import struct

import pytest

from falco_engine.decoder import merge_by_time, scan_records
from falco_engine.ringbuf import BpfRings, merge_rings

PAGE = 4096
BUSY = 1 << 31
DISCARD = 1 << 30


def _rec(ts: int, tid: int = 1, payload: int = 0) -> bytes:
    """A bare record: the 26-byte header, one parameter of `payload` bytes."""
    body = struct.pack("<H", payload) + bytes(payload)
    return struct.pack("<QQIHI", ts, tid, 26 + len(body), 2, 1) + body


class FakeRing:
    """A BPF ring buffer as mapped: consumer page; producer page followed by
    the data mapped twice (here: every write mirrored)."""

    def __init__(self, size: int = 4096, start: int = 0) -> None:
        self.size = size
        self.cons = bytearray(PAGE)
        self.prod = bytearray(PAGE + 2 * size)
        struct.pack_into("<Q", self.cons, 0, start)
        self.pos = start            # next write position

    def _write(self, pos: int, data: bytes) -> None:
        off = pos & (self.size - 1)
        for base in (PAGE + off, PAGE + self.size + off):
            end = min(base + len(data), len(self.prod))
            self.prod[base:end] = data[:end - base]
        if off + len(data) > self.size:         # the first copy's overflow
            over = off + len(data) - self.size
            self.prod[PAGE:PAGE + over] = data[len(data) - over:]

    def put(self, rec: bytes, flags: int = 0) -> int:
        """Frame and commit `rec`; returns its position."""
        at = self.pos
        self._write(at, struct.pack("<II", len(rec) | flags, 0) + rec)
        self.pos += (len(rec) + 8 + 7) & ~7
        struct.pack_into("<Q", self.prod, 0, self.pos)
        return at

    def unbusy(self, at: int, length: int) -> None:
        self._write(at, struct.pack("<I", length))

    @property
    def consumer_pos(self) -> int:
        return struct.unpack_from("<Q", self.cons, 0)[0]

    def mapping(self) -> tuple[bytearray, bytearray]:
        return self.prod, self.cons


def _rings(fakes: list[FakeRing]) -> BpfRings:
    return BpfRings([f.mapping() for f in fakes], PAGE, fakes[0].size)


def _ts(buf: bytes) -> list[int]:
    batch = scan_records(buf)
    assert batch.error is None
    return [e.ts for e in batch]


def test_merge_interleaved_matches_merge_by_time():
    rng = random.Random(5)
    per_ring: list[list[bytes]] = [[] for _ in range(3)]
    for r in per_ring:
        ts = 0
        for _ in range(40):
            ts += rng.choice((0, 1, 2, 5))          # ties across rings too
            r.append(_rec(ts, payload=rng.randrange(0, 40)))
    fakes = [FakeRing(8192) for _ in per_ring]
    for f, recs in zip(fakes, per_ring):
        for rec in recs:
            f.put(rec)
    want, want_origin = merge_by_time([b"".join(r) for r in per_ring])
    got = _rings(fakes).drain(1 << 20)
    assert got == want
    assert _ts(got) == sorted(_ts(got))
    # the merge on ring images says which ring each record came from
    images = [bytes(f.prod[PAGE:PAGE + f.pos]) for f in fakes]
    merged, origin = merge_rings(images)
    assert merged == want and origin == want_origin
    assert all(f.consumer_pos == f.pos for f in fakes)


def test_one_ring_with_records_is_copied_as_is():
    a, b = FakeRing(), FakeRing()
    recs = [_rec(t, payload=t % 7) for t in (5, 3, 9)]     # not sorted: kept
    for rec in recs:
        a.put(rec)
    rings = _rings([a, b])
    assert rings.pending() > 0
    assert rings.drain() == b"".join(recs)
    assert rings.pending() == 0 and a.consumer_pos == a.pos


def test_wrapped_records_and_discards():
    ring = FakeRing(1024, start=1024 * 3 + 1000)      # near the end: wraps
    kept = [_rec(1, payload=30), _rec(3, payload=50)]
    ring.put(kept[0])
    ring.put(_rec(2), DISCARD)
    ring.put(kept[1])
    rings = _rings([ring])
    assert rings.drain() == b"".join(kept)
    assert ring.consumer_pos == ring.pos              # the discard's space too


def test_busy_record_stops_the_ring_until_committed():
    a, b = FakeRing(), FakeRing()
    a.put(_rec(1))
    at = a.put(_rec(4), BUSY)
    a.put(_rec(6))
    b.put(_rec(2))
    rings = _rings([a, b])
    assert _ts(rings.drain()) == [1, 2]
    assert a.consumer_pos == at
    a.unbusy(at, len(_rec(4)))
    assert _ts(rings.drain()) == [4, 6]
    assert rings.pending() == 0


def test_budget_delivers_every_record_exactly_once():
    rng = random.Random(9)
    fakes = [FakeRing(1 << 16) for _ in range(4)]
    written = 0
    for f in fakes:
        for i in range(300):
            f.put(_rec(i * 4 + rng.randrange(4), tid=written,
                       payload=rng.randrange(0, 60)))
            written += 1
    rings = _rings(fakes)
    tids: list[int] = []
    drains = 0
    while rings.pending():
        buf = rings.drain(500)
        batch = scan_records(buf)
        assert batch.error is None and len(batch) > 0
        tids += [e.tid for e in batch]
        drains += 1
    assert drains > 10
    assert sorted(tids) == list(range(written))
    assert rings.drain(500) == b""


def test_oversized_record_still_drains():
    ring = FakeRing(4096)
    big = _rec(1, payload=1000)
    ring.put(big)
    ring.put(_rec(2))
    rings = _rings([ring])
    assert rings.drain(10) == big
    assert _ts(rings.drain(10)) == [2]


def test_drain_ring_and_release():
    a, b = FakeRing(), FakeRing()
    a.put(_rec(1))
    b.put(_rec(2))
    rings = _rings([a, b])
    assert _ts(rings.drain_ring(1)) == [2]
    assert a.consumer_pos == 0
    with pytest.raises(IndexError):
        rings.drain_ring(2)
    rings.release()
    with pytest.raises(ValueError):
        rings.drain()


def test_release_lets_mmaps_close():
    prod = mmap.mmap(-1, PAGE + 2 * 4096)
    cons = mmap.mmap(-1, PAGE)
    rings = BpfRings([(prod, cons)], PAGE, 4096)
    assert rings.drain() == b""
    with pytest.raises(BufferError):
        prod.close()
    rings.release()
    prod.close()
    cons.close()


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError):
        BpfRings([(bytearray(PAGE + 4096), bytearray(PAGE))], PAGE, 4096)
    with pytest.raises(ValueError):
        BpfRings([(bytearray(PAGE + 2 * 3000), bytearray(PAGE))], PAGE, 3000)
    with pytest.raises(ValueError):
        BpfRings([], PAGE, 4096)

"""The kernel module's ring reader, on rings laid out as the module maps
them (the module itself runs only inside the VM test)."""
from __future__ import annotations

import struct

from falco.live import kmod_source
from falco.live.kmod_source import Ring, drain_rings
from falco_engine.decoder import scan_records


def _rec(ts: int, tid: int) -> bytes:
    return struct.pack("<QQIHI", ts, tid, 26, 1, 0)


def _ring(records: list[bytes], size: int = 256, tail: int = 0, cpu: int = 0) -> Ring:
    """A control page and a doubly mapped data area holding `records`
    starting at byte counter `tail`."""
    data = bytearray(size)
    pos = tail
    for r in records:
        for i, b in enumerate(r):
            data[(pos + i) % size] = b
        pos += len(r)
    ctrl = bytearray(4096)
    struct.pack_into("<Q", ctrl, 0, pos)          # head
    struct.pack_into("<Q", ctrl, 16, size)        # data_size
    struct.pack_into("<Q", ctrl, 128, tail)       # tail
    return Ring(ctrl, data + data, cpu)


def test_take_copies_and_releases():
    ring = _ring([_rec(1, 10), _rec(2, 10)])
    out = ring.take(1 << 20)
    assert [e.ts for e in scan_records(out)] == [1, 2]
    assert ring.pending() == 0
    assert ring.take(1 << 20) == b""


def test_wrapped_span_is_contiguous():
    # 230 + 52 bytes crosses the end of a 256-byte ring.
    ring = _ring([_rec(7, 1), _rec(8, 1)], tail=230)
    assert [e.ts for e in scan_records(ring.take(1 << 20))] == [7, 8]


def test_partial_take_stops_at_a_record_boundary():
    ring = _ring([_rec(i, 1) for i in range(5)])
    first = ring.take(60)
    assert len(first) == 52 and ring.pending() == 3 * 26


def test_rings_merge_in_time_order():
    a = _ring([_rec(1, 1), _rec(4, 1), _rec(6, 1)], cpu=0)
    b = _ring([_rec(2, 2), _rec(3, 2), _rec(9, 2)], cpu=1)
    merged = drain_rings([a, b], 1 << 20)
    assert [e.ts for e in scan_records(merged)] == [1, 2, 3, 4, 6, 9]


def test_ioctl_numbers_match_the_uapi_header():
    # _IOR(0xfa, 1, __u32), _IO(0xfa, 2), _IOW(0xfa, 4, struct fk_mask[16])
    assert kmod_source.IOC_GET_API_VERSION == 0x8004FA01
    assert kmod_source.IOC_ENABLE == 0xFA02
    assert kmod_source.IOC_SET_MASK == 0x4010FA04
    assert kmod_source.IOC_GET_COUNTERS == 0x8030FA06


def test_no_module_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(kmod_source, "devices", lambda: [])
    src = kmod_source.KmodSource()
    try:
        src.open()
    except kmod_source.BpfUnavailable as exc:
        assert "falco-driver-loader" in str(exc)
    else:
        raise AssertionError("open() without the module must fail")


def test_explicit_kmod_driver_without_the_module_fails_cleanly(tmp_path):
    import subprocess
    import sys

    from falco.live.kmod_source import devices

    if devices():
        import pytest
        pytest.skip("the kernel module is loaded on this host")
    rules = tmp_path / "r.yaml"
    rules.write_text("- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n"
                     "  priority: INFO\n")
    proc = subprocess.run([sys.executable, "-m", "falco", "run", "--driver", "kmod",
                           "-M", "1", "-r", str(rules)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    err = [l for l in proc.stderr.splitlines() if l.startswith("falco: error:")]
    assert len(err) == 1 and "kmod driver is unavailable" in err[0]
    assert "falco-driver-loader" in err[0] and "Traceback" not in proc.stderr

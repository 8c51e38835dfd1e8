"""Garbage in, clean errors out: property-based fuzzing of every decoder.

CI runs a short budget; FALCO_FUZZ_EXAMPLES=N runs N examples per target.
"""
from __future__ import annotations

import gzip
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import compat_path
from falco.capture import CaptureError, open_capture
from falco_engine import params, table
from falco_engine.decoder import scan_records, scan_scap
from falco_engine.filter_parser import FilterSyntaxError, parse

BUDGET = settings(max_examples=int(os.environ.get("FALCO_FUZZ_EXAMPLES", "300")),
                  deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _touch_all(batch) -> int:
    """Read every parameter of every event: nothing may point outside."""
    n = 0
    for ev in batch:
        assert 0 <= ev.offset and ev.offset + len(ev.raw()) <= batch.size
        for p in range(ev.nparams):
            raw = ev.param(p)
            assert raw is not None
            infos = table.EVENTS[ev.type].params
            if p < len(infos):
                params.render(infos[p], raw)
                params.decode_value(infos[p].type, raw)
            n += len(raw)
    return n


def _record(etype: int, lens: list[int], payload: bytes, nparams: int | None = None,
            length: int | None = None) -> bytes:
    body = b"".join(struct.pack("<H", l) for l in lens) + payload
    nparams = len(lens) if nparams is None else nparams
    length = 26 + len(body) if length is None else length
    return struct.pack("<QQIHI", 1, 2, length, etype, nparams) + body


@BUDGET
@given(st.binary(max_size=4096))
def test_scan_records_random_bytes(data: bytes):
    batch = scan_records(data)
    _touch_all(batch)
    assert batch.error is not None or batch.consumed == len(data)


@BUDGET
@given(st.integers(0, 600), st.lists(st.integers(0, 65535), max_size=40),
       st.binary(max_size=512), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_scan_records_lying_headers(etype, lens, payload, nparams, length):
    for rec in (_record(etype, lens, payload), _record(etype, lens, payload, nparams),
                _record(etype, lens, payload, None, length)):
        batch = scan_records(rec)
        _touch_all(batch)


@BUDGET
@given(st.data())
def test_scan_scap_mutated_capture(data):
    raw = gzip.decompress(compat_path("captures", "falco", "connect_localhost.scap").read_bytes())
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 12))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    batch = scan_scap(bytes(buf[:cut]), 0)
    _touch_all(batch)


@BUDGET
@given(st.data())
def test_reader_mutated_capture(tmp_path_factory, data):
    raw = gzip.decompress(compat_path("captures", "libs", "test_ipv6_client.scap").read_bytes())
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] ^= 1 << data.draw(st.integers(0, 7))
    path = tmp_path_factory.mktemp("fuzz") / "m.scap"
    path.write_bytes(bytes(buf))
    try:
        with open_capture(path) as cap:
            for batch in cap.batches():
                _touch_all(batch)
    except CaptureError as exc:
        assert str(path) in str(exc) and "offset" in str(exc)


@BUDGET
@given(st.sampled_from(range(47)), st.binary(max_size=64))
def test_render_any_type_any_bytes(ptype, raw):
    pinfo = table.ParamInfo("p", ptype, 1, 0)
    assert isinstance(params.render(pinfo, raw), str)
    params.decode_value(ptype, raw)


CONDITION_ALPHABET = st.sampled_from(list("abcdefghijklmnopqrstuvwxyz._[]()'\",=!<> \\0123456789/*-")
                                     + ["and ", "or ", "not ", " in ", " contains ",
                                        "proc.name", "evt.type", "fd.name", " exists",
                                        " startswith ", "val(", "tolower("])


@BUDGET
@given(st.lists(CONDITION_ALPHABET, max_size=40).map("".join))
def test_parser_only_raises_syntax_errors(text: str):
    try:
        parse(text)
    except FilterSyntaxError:
        pass

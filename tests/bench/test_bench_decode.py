"""Decode throughput (pytest-benchmark).  CI runs it once for correctness
(--benchmark-disable); `pytest tests/bench --benchmark-enable` times it and
reports the ratio to sysdig measured in the same run."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compat_path
from falco.bench.replay import decode_file, make_looped_capture, time_sysdig

MIN_EVENTS = 500_000


@pytest.fixture(scope="module")
def looped(tmp_path_factory) -> tuple[Path, int]:
    src = compat_path("captures", "sysdig_inspect", "502Error.scap")
    dst = tmp_path_factory.mktemp("bench") / "looped.scap"
    n = make_looped_capture(src, dst, MIN_EVENTS)
    return dst, n


def test_decode_throughput(benchmark, looped):
    path, n = looped
    assert n >= MIN_EVENTS
    decoded = benchmark(decode_file, path)
    assert decoded == n
    if not benchmark.disabled:
        ours = n / benchmark.stats.stats.min
        ref = time_sysdig(path, n)
        benchmark.extra_info["events"] = n
        benchmark.extra_info["events_per_s"] = ours
        if ref is not None:
            benchmark.extra_info["sysdig_events_per_s"] = ref.rate
            benchmark.extra_info["ratio_to_sysdig"] = ours / ref.rate
            print(f"\ndecode {ours:,.0f} ev/s, sysdig -q {ref.rate:,.0f} ev/s, "
                  f"ratio {ours / ref.rate:.2f}")

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


def test_scaling_report_rows(tmp_path):
    """falco bench scale produces every row (timings are not asserted)."""
    from falco import app
    from falco.bench.replay import scaling_report

    src = compat_path("captures", "falco", "cat_write.scap")
    report = scaling_report(src, 5_000, app.bundled_rules(), str(tmp_path),
                            rule_counts=(1, 25), thread_counts=(1_000,))
    names = [r["name"] for r in report["rows"]]
    assert names[0] == "1 rules" and names[1] == "25 rules"
    assert names[2] == "1000 extra threads in state"
    assert all(r["events_per_s"] > 0 for r in report["rows"])
    assert 0 < report["falco_run_max_rss_mb"] < 4096

"""Decode throughput (pytest-benchmark).  CI runs it once for correctness
(--benchmark-disable); `pytest tests/bench --benchmark-enable` times it and
reports the ratio to sysdig measured in the same run."""
from __future__ import annotations

from pathlib import Path

import statistics

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


def test_state_cost_is_measured_against_decode_in_one_run(tmp_path):
    """The replay report's +state row carries its cost next to decoding,
    both from alternated passes over the same capture."""
    from falco.bench.replay import state_cost, time_state_vs_decode

    src = compat_path("captures", "falco", "cat_write.scap")
    decode, state = time_state_vs_decode(src, rounds=2)
    assert decode.events == state.events > 0
    cost = state_cost(decode, state)
    assert cost["time_vs_decode"] == state.seconds / decode.seconds
    assert abs(cost["throughput_vs_decode"] * cost["time_vs_decode"] - 1) < 1e-9
    assert cost["state_ns_per_event"] == (
        (state.seconds - decode.seconds) / state.events * 1e9)
    assert "throughput_vs_decode_median" not in cost
    # Each round's own ratio too: their median and quartiles.
    ratios: list[float] = []
    decode, state = time_state_vs_decode(src, rounds=4, round_ratios=ratios)
    assert len(ratios) == 4 and all(r > 0 for r in ratios)
    cost = state_cost(decode, state, ratios)
    assert cost["rounds"] == 4
    assert cost["throughput_vs_decode_median"] == statistics.median(ratios)
    q1, q3 = cost["throughput_vs_decode_quartiles"]
    assert min(ratios) <= q1 <= cost["throughput_vs_decode_median"] <= q3 <= max(ratios)
    assert state_cost(decode, state, [0.5, 0.7, 0.9])["throughput_vs_decode_median"] == 0.7


def test_replay_report_state_row_carries_both_statistics(tmp_path, monkeypatch):
    """`falco bench replay`'s +state row: the best of each side and the
    median of the paired rounds, one ratio per round, and the CLI prints
    both."""
    from click.testing import CliRunner

    from falco import cli
    from falco.bench import replay

    src = compat_path("captures", "falco", "cat_write.scap")
    report = replay.replay_report(src, 2000, [], [], None, str(tmp_path))
    decode, state = report["rows"]
    assert (decode["name"], state["name"]) == ("decode", "decode+state")
    assert state["rounds"] == replay.STATE_ROUNDS
    q1, q3 = state["throughput_vs_decode_quartiles"]
    assert 0 < q1 <= state["throughput_vs_decode_median"] <= q3
    assert state["throughput_vs_decode"] == state["events_per_s"] / decode["events_per_s"]

    monkeypatch.setattr(replay, "replay_report", lambda *args, **kwargs: report)
    out = CliRunner().invoke(cli.main, ["bench", "replay", "-e", str(src)])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("decode+state"))
    assert f"{state['throughput_vs_decode']:.0%} of decode's rate" in line
    assert (f"median of {replay.STATE_ROUNDS} paired rounds "
            f"{state['throughput_vs_decode_median']:.0%}") in line


def test_state_split_takes_one_pass_apart():
    """The engine's own time within a decode+state pass, the rest of that
    pass and a decode-only pass, each measured (not derived)."""
    from falco.bench.replay import split_cost, time_state_split, decode_file

    src = compat_path("captures", "falco", "cat_write.scap")
    split = time_state_split(src, rounds=2)
    assert split.events == decode_file(src) > 0
    assert split.state_seconds > 0 and split.rest_seconds > 0 and split.decode_seconds > 0
    cost = split_cost(split)
    assert cost["in_pass_state_vs_decode"] == split.state_seconds / split.decode_seconds
    assert cost["in_pass_state_ns_per_event"] == split.state_seconds / split.events * 1e9
    # Other rules can be timed the same way; rules that do not load say so.
    text = "- rule: r\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n"
    assert time_state_split(src, rounds=1, rules_text=text).events == split.events
    with pytest.raises(ValueError):
        time_state_split(src, rounds=1, rules_text="- rule: r\n  condition: nosuch.field = 1\n")


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


def test_sysdig_parsable_subset_is_the_same_work(tmp_path):
    """The filtered sysdig reference runs exactly the rules we time: every
    kept rule parses in sysdig, rules with fields sysdig lacks are left out
    of both sides, and the timed detector compiles just those rules."""
    import shutil
    import subprocess

    from falco import app
    from falco.bench.replay import sysdig_parsable_subset, time_rules

    if shutil.which("sysdig") is None:
        pytest.skip("sysdig is not installed (the reference tool)")
    src = compat_path("captures", "sysdig_inspect", "502Error.scap")
    rules = app.bundled_rules()
    names, flt = sysdig_parsable_subset(rules, src)
    assert names and flt.startswith("(")
    done = subprocess.run(["sysdig", "-r", str(src), "-q", flt], capture_output=True)
    assert done.returncode == 0, done.stderr
    # fd.nameraw is newer than sysdig 0.29.3: a rule using it can't be in.
    from falco.rules import load_rule_files
    from falco_engine.filter_ast import to_string
    uses_nameraw = {r.name for r in load_rule_files(rules).rules
                    if "fd.nameraw" in to_string(r.condition)}
    assert uses_nameraw and not names & uses_nameraw
    timing, compiled, _ = time_rules(src, rules, repeat=1, only=names)
    assert compiled == len(names) and timing.events > 0

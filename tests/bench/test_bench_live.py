"""`falco bench live`, very short, as a correctness check: every row gives
numbers, the recorded rows see the workload's events, and the probe's
counters add up.  Timings are never asserted (this machine is shared)."""
from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from falco.bench import live
from falco.cli import main

SECONDS = 0.5


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    try:
        live.check_environment()
    except live.BenchUnavailable as exc:
        pytest.skip(f"falco bench live cannot run here: {exc}")
    out = tmp_path_factory.mktemp("bench_live")
    try:
        consumer = live.build_consumer(out)
    except live.BenchUnavailable as exc:
        pytest.skip(str(exc))
    return out, consumer


def test_c_consumer_fills_the_config_as_the_loader_does(built, tmp_path):
    """The C baseline's .rodata is BpfSource._config byte for byte (but the
    boot time and the tgid, which are the process's own)."""
    from falco.live.bpf_source import BpfSource
    from falco_engine import table

    _, consumer = built
    blob = tmp_path / "cfg.bin"
    subprocess.run([str(consumer), "-d", str(blob), "unused.o"], check=True)
    src = BpfSource()
    src._routes = src._build_routes(table)
    ours = src._config(table)
    theirs = blob.read_bytes()
    assert len(theirs) == len(ours)
    assert theirs[12:] == ours[12:]          # after boot_time_ns, falco_tgid


def _check_report(report: dict, workload: str) -> None:
    per_op = live.WORKLOADS[workload][1]
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == list(live.ROWS)
    for r in rows.values():
        assert r["ops"] > 0 and r["seconds"] > 0 and r["ns_per_op"] > 0, r
    for name in ("filtered", "falco", "c-libbpf"):
        r = rows[name]
        c = r["counters"]
        # Every record the probe wrote was delivered (the consumer drains
        # after detaching); what it saw is what it wrote plus what it dropped.
        assert r["records"] == c["events"], r
        assert r["drops"] == c["drops_buffer"] + c["drops_max_size"] + c["drops_scratch"]
        assert r["seen"] == r["records"] + r["drops"]
        assert r["events_per_s"] is not None and r["cpu_percent"] is not None
        assert r["rss_kb"] > 0
        assert r["mode"] in ("btf", "raw")
    # Filtered out: each workload syscall hit the probe (enter and exit) and
    # was counted as filtered.
    if per_op is not None:
        assert rows["filtered"]["counters"]["filtered"] >= per_op * rows["filtered"]["ops"]
    # Recorded: every workload syscall was delivered or dropped.
    for name in ("falco", "c-libbpf"):
        r = rows[name]
        assert r["workload_records"] > 0, r
        if per_op is not None:
            assert r["workload_records"] + r["drops"] >= per_op * r["ops"], r
    q = report["ratios"]
    assert q["recorded_vs_c"] > 0
    assert q["filtered_overhead_ns"] == pytest.approx(
        rows["filtered"]["ns_per_op"] - rows["none"]["ns_per_op"])


@pytest.mark.parametrize("workload", sorted(live.WORKLOADS))
def test_bench_live_rows(built, workload):
    workdir, _ = built
    report = live.live_report(workload, SECONDS, workdir=str(workdir), search=False,
                              rounds=1)
    _check_report(report, workload)
    text = live.format_report(report)
    for name in live.ROWS:
        assert f"\n{name} " in text
    assert "recorded, falco vs C libbpf consumer" in text


def test_bench_live_cli_json(built):
    res = CliRunner().invoke(main, ["bench", "live", "--seconds", "0.3",
                                    "--workload", "getppid", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    _check_report(report, "getppid")
    s = report["sustained"]
    assert s["tried"] or s.get("note")
    for t in s["tried"]:
        assert t["ops_per_s"] > 0 and t["drops"] >= 0
    sat = report["saturated"]
    assert sat["workloads"] >= 1 and sat["drops"] >= 0
    assert sat["events_per_s"] > 0 and len(sat["events_per_s_runs"]) == report["rounds"]


def test_workload_never_shares_the_consumers_cpu(built):
    """Affinity is per thread: the workload started while the consumer's
    thread is pinned must still go to the workload's CPU (it used to
    inherit the consumer's, so the falco rows timed both on one core)."""
    import os

    wl_cpus, cons_cpus = live.cpu_split()
    if wl_cpus is None:
        pytest.skip("needs two CPUs")
    workdir, _ = built
    exe = live.build_workload("getppid", workdir)
    with live._pinned(cons_cpus):
        assert live.cpu_split() == (wl_cpus, cons_cpus)
        wl = live._Workload(exe, 0.1)
        try:
            assert os.sched_getaffinity(wl.pid) == wl_cpus
        finally:
            wl.kill()
    assert live.cpu_split() == (wl_cpus, cons_cpus)


def test_other_probes_counts_attached_probes_only(monkeypatch):
    """A closed probe's programs stay in `bpftool prog` for a few hundred ms
    after their links are gone (freed after an RCU grace period): they must
    not count as another falco.  Only programs with a link are attached."""
    progs = [{"id": 10, "name": "fb_sys_enter_bt"},     # ours, attached
             {"id": 11, "name": "fb_sys_exit_btf"},
             {"id": 20, "name": "fb_sys_enter_btf"},    # closed, lingering
             {"id": 30, "name": "fb_sys_enter_raw"},    # another falco
             {"id": 40, "name": "other_prog"}]
    links = [{"id": 1, "prog_id": 10}, {"id": 2, "prog_id": 11},
             {"id": 3, "prog_id": 30}, {"id": 4, "prog_id": 40}]
    answers = {"prog": progs, "link": links}
    monkeypatch.setattr(live, "_bpftool_json", lambda what: answers[what])
    assert live.other_probes(own=1) == 1
    assert live.other_probes() == 2
    links.remove({"id": 3, "prog_id": 30})
    assert live.other_probes(own=1) == 0
    answers["link"] = None                  # bpftool missing or failing
    assert live.other_probes() is None

"""Live overhead: what the eBPF driver and `falco run` cost a busy process.

A tiny C workload (``scripts/bench/<name>_loop.c``: a getppid, open/close,
fork/exec or connect loop) runs for N seconds under each configuration and
times its own loop, so Python never sits in the measured path:

``none``
    no driver loaded;
``filtered``
    falco's pipeline running with the default rules, the probe attached,
    and the workload's syscalls left out of the interest map (the cost the
    probe puts on syscalls nobody asked for);
``falco``
    the workload's syscalls recorded too, every record drained by
    `LiveCapture` and judged by the default rules (`build_detector`, the
    same library `falco run` uses), in this process;
``c-libbpf``
    the same probe object with the same config and interest, drained by a
    minimal C consumer (``scripts/bench/c_consumer.c``, libbpf
    ``ring_buffer__consume``): the floor any consumer of this probe pays.

With the search on, ``saturated``: the ``falco`` row with one workload per
CPU and the consumer sharing their cores (records/s drained, drops).

Reported per row: ns per workload op, records delivered and events/s, the
probe's counters (drops by reason), the consumer's CPU% and RSS.  Absolute
numbers on shared machines are noise; the ratios within one run are what
to compare: falco vs c-libbpf (recorded), filtered - none (ns per op).

Correctness that does not depend on timing: records delivered equal the
probe's ``events`` counter, and events + drops is what the probe saw.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "scripts" / "bench"

# Workload -> (syscalls one op makes, records one op makes when all of them
# are recorded, or None when it varies).  glibc's open() is openat, fork()
# is clone.
WORKLOADS: dict[str, tuple[tuple[str, ...], Optional[int]]] = {
    "getppid": (("getppid",), 2),
    "openclose": (("openat", "close"), 4),
    "forkexec": (("clone", "execve", "wait4"), None),
    "connect": (("socket", "connect", "close"), 6),
}

ROWS = ("none", "filtered", "falco", "c-libbpf")


class BenchUnavailable(RuntimeError):
    """The live bench cannot run here; the message says why."""


# -- building the C parts ---------------------------------------------------

def check_environment() -> None:
    """Raise BenchUnavailable unless root, BTF, the probe, gcc and libbpf-dev
    are all here."""
    from falco.live.bpf_source import default_object

    if os.geteuid() != 0:
        raise BenchUnavailable("needs root (the eBPF probe)")
    if not Path("/sys/kernel/btf/vmlinux").exists():
        raise BenchUnavailable("kernel has no BTF (/sys/kernel/btf/vmlinux)")
    if not default_object().is_file():
        raise BenchUnavailable(f"probe object {default_object()} missing: "
                               "run make -C driver/bpf")
    if shutil.which("gcc") is None:
        raise BenchUnavailable("gcc not found (builds the workload and the C consumer)")
    if not Path("/usr/include/bpf/libbpf.h").exists():
        raise BenchUnavailable("libbpf-dev not installed (/usr/include/bpf/libbpf.h)")
    if not (SOURCES / "c_consumer.c").exists():
        raise BenchUnavailable(f"bench sources not found in {SOURCES} "
                               "(run from a source checkout)")


def _gcc(out: Path, src: Path, *extra: str) -> Path:
    cmd = ["gcc", "-O2", "-Wall", "-o", str(out), str(src), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BenchUnavailable(f"cannot build {src.name}: {res.stderr.strip()[-400:]}")
    return out


def build_workload(name: str, outdir: os.PathLike[str]) -> Path:
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}")
    return _gcc(Path(outdir) / f"{name}_loop", SOURCES / f"{name}_loop.c")


def build_consumer(outdir: os.PathLike[str]) -> Path:
    return _gcc(Path(outdir) / "c_consumer", SOURCES / "c_consumer.c",
                f"-I{REPO / 'driver'}", f"-I{REPO / 'driver' / 'bpf'}", "-lbpf")


# -- interest sets and event types --------------------------------------

def _syscall_index():
    from falco_engine import table

    by_name: dict[str, list[int]] = {}
    for nr, (enter, sc) in enumerate(table.X86_64_SYSCALLS):
        if enter >= 0:
            by_name.setdefault(table.SYSCALL_NAMES[sc], []).append(nr)
    return table, by_name


def workload_codes(name: str) -> set[int]:
    """PPM_SC codes of the workload's syscalls."""
    from falco.live.bpf_source import syscall_codes

    return syscall_codes(WORKLOADS[name][0])


def workload_types(name: str) -> set[int]:
    """Event types (enter and exit) the probe writes for the workload's
    syscalls: the route's event, or generic where the route has none."""
    table, by_name = _syscall_index()
    types: set[int] = set()
    for sc in WORKLOADS[name][0]:
        for nr in by_name.get(sc, ()):
            enter = table.X86_64_SYSCALLS[nr][0]
            types |= {enter, enter + 1}
    return types


# -- one row ----------------------------------------------------------------

@dataclass
class Row:
    name: str
    ops: int = 0
    seconds: float = 0.0
    ns_per_op: float = 0.0
    rate_limit: float = 0.0
    records: Optional[int] = None            # records the consumer got
    workload_records: Optional[int] = None   # of the workload's event types
    counters: dict = field(default_factory=dict)
    cpu_percent: Optional[float] = None
    rss_kb: Optional[int] = None
    wall_s: float = 0.0
    alerts: Optional[int] = None
    drops_before_start: Optional[int] = None  # while loading, before the workload
    mode: Optional[str] = None
    ns_per_op_runs: list = field(default_factory=list)
    other_probes: Optional[int] = None       # other falco probes loaded meanwhile
    runs_with_other_probes: int = 0
    notes: str = ""

    @property
    def events_per_s(self) -> Optional[float]:
        if self.records is None or not self.wall_s:
            return None
        return self.records / self.wall_s

    @property
    def drops(self) -> int:
        c = self.counters
        return (c.get("drops_buffer", 0) + c.get("drops_max_size", 0)
                + c.get("drops_scratch", 0))

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items()}
        out["events_per_s"] = self.events_per_s
        out["drops"] = self.drops if self.counters else None
        if self.counters:
            out["seen"] = self.counters.get("events", 0) + self.drops
            out["drop_ratio"] = self.drops / out["seen"] if out["seen"] else 0.0
        return out


# The affinity this process had before `_pinned` narrowed it: Linux
# affinity is per thread, so once the consumer thread is pinned,
# sched_getaffinity(0) sees only the consumer's CPUs (and a workload started
# from there would inherit them, sharing the consumer's core).
_unpinned: Optional[set[int]] = None


def cpu_split() -> tuple[Optional[set[int]], Optional[set[int]]]:
    """(workload CPUs, consumer CPUs): the workload on the first allowed
    CPU, the consumer on the others, so that the two never share a core
    and every row is measured alike.  (None, None) with a single CPU.
    The same answer inside `_pinned` as outside it."""
    cpus = sorted(_unpinned if _unpinned is not None else os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


class _pinned:
    """Run this thread (the in-process consumer) on `cpus` for a while."""

    def __init__(self, cpus: Optional[set[int]]) -> None:
        self.cpus = cpus
        self.saved: Optional[set[int]] = None

    def __enter__(self) -> "_pinned":
        global _unpinned
        if self.cpus:
            self.saved = os.sched_getaffinity(0)
            if _unpinned is None:
                _unpinned = self.saved
            os.sched_setaffinity(0, self.cpus)
        return self

    def __exit__(self, *exc: object) -> None:
        global _unpinned
        if self.saved is not None:
            os.sched_setaffinity(0, self.saved)
            if _unpinned is self.saved:
                _unpinned = None


class _Workload:
    """The C loop, started and parked until `go()`."""

    def __init__(self, exe: Path, seconds: float, rate: float = 0.0,
                 cpus: Optional[set[int]] = None) -> None:
        """`cpus`: where the loop runs (default: the workload's CPU of
        `cpu_split`)."""
        args = [str(exe), f"{seconds}"] + ([f"{rate}"] if rate else [])
        if cpus is None:
            cpus = cpu_split()[0]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "pid":
            self.proc.kill()
            raise RuntimeError(f"workload {exe.name} did not start: {line}")
        self.pid = int(line[1])

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def done(self) -> bool:
        return self.proc.poll() is not None

    def result(self) -> dict:
        out = self.proc.stdout.read()
        self.proc.wait()
        if self.proc.returncode != 0:
            raise RuntimeError(f"workload exited {self.proc.returncode}")
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def other_probes(own: int = 0) -> Optional[int]:
    """How many sys_enter programs of this probe are attached besides our
    own `own` (another falco on the host puts its cost on every row, 'none'
    included); None when bpftool is not there to tell.

    Only attached programs count: a closed probe's programs stay listed by
    `bpftool prog` for a few hundred ms after their links are gone (the
    kernel frees them after an RCU grace period), which made the 'none' row
    that follows the C consumer's exit see a "probe" costing nothing.
    A link leaves `bpftool link` the moment its fd is closed."""
    progs = _bpftool_json("prog")
    links = _bpftool_json("link")
    if progs is None or links is None:
        return None
    enter = {p.get("id") for p in progs
             if str(p.get("name", "")).startswith("fb_sys_enter")}
    n = sum(1 for link in links if link.get("prog_id") in enter)
    return max(n - own, 0)


def _bpftool_json(what: str) -> Optional[list]:
    if shutil.which("bpftool") is None:
        return None
    res = subprocess.run(["bpftool", what, "show", "-j"], capture_output=True,
                         text=True)
    if res.returncode != 0:
        return None
    try:
        out = json.loads(res.stdout or "[]")
    except ValueError:
        return None
    return out if isinstance(out, list) else None


def _fill(row: Row, res: dict) -> None:
    row.ops = res["ops"]
    row.seconds = res["seconds"]
    row.ns_per_op = res["ns_per_op"]
    row.rate_limit = res.get("rate", 0.0)


def run_none(exe: Path, seconds: float, rate: float = 0.0) -> Row:
    row = Row("none")
    wl = _Workload(exe, seconds, rate)
    others = other_probes()
    wl.go()
    _fill(row, wl.result())
    row.other_probes = _max_opt(others, other_probes())
    row.wall_s = row.seconds
    return row


def _max_opt(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return None if a is None and b is None else max(a or 0, b or 0)


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_falco(exe: Path, seconds: float, loaded, interest: set[int],
              name: str, types: set[int], rate: float = 0.0,
              cpus_per_ring: int = 1, saturate: bool = False) -> Row:
    """`falco run`'s pipeline in this process: LiveCapture batches into the
    default rules (alerts counted, not printed).  `saturate`: one unpaced
    workload per allowed CPU and the consumer not pinned, sharing their
    cores (the most records/s this machine makes, all of it drained)."""
    from falco.live.live_capture import LiveCapture
    from falco.pipeline import build_detector

    row = Row(name)
    detector = build_detector(loaded)

    def start() -> list[_Workload]:
        if saturate:
            return [_Workload(exe, seconds, cpus={c})
                    for c in sorted(os.sched_getaffinity(0))]
        return [_Workload(exe, seconds, rate)]

    with _pinned(None if saturate else cpu_split()[1]):
        live = LiveCapture(interest, cpus_per_ring=cpus_per_ring)
        try:
            _falco_row(row, live, detector, start, types)
        finally:
            live.close()
    return row


def _falco_row(row: Row, live, detector,
               start: Callable[[], list[_Workload]], types: set[int]) -> None:
    wls: list[_Workload] = []
    try:
        row.mode = live.source.mode
        if detector.state is not None:
            detector.state.seed_host()
        wls = start()
        records = wl_records = alerts = 0
        before = live.counters()
        others = other_probes(own=1)
        cpu0, t0 = time.process_time(), time.monotonic()
        for wl in wls:
            wl.go()

        def watch() -> None:
            # Stop the capture when the workloads end, even if no batch comes.
            for wl in wls:
                wl.proc.wait()
            live.stop()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for batch in live.batches():
            records += len(batch)
            if types:
                tc = batch.type_counts()
                wl_records += sum(tc.get(t, 0) for t in types)
            for _ in detector.run([batch]):
                alerts += 1
        watcher.join()
        row.wall_s = time.monotonic() - t0
        row.cpu_percent = 100.0 * (time.process_time() - cpu0) / row.wall_s
        row.rss_kb = _rss_kb()
        results = [wl.result() for wl in wls]
        _fill(row, results[0])
        if len(results) > 1:      # ns/op: the mean of the loops' own
            row.ops = sum(r["ops"] for r in results)
            row.seconds = max(r["seconds"] for r in results)
            row.ns_per_op = statistics.fmean(r["ns_per_op"] for r in results)
        row.counters = live.counters()
        row.records, row.workload_records, row.alerts = records, wl_records, alerts
        row.drops_before_start = before["drops"]
        row.other_probes = _max_opt(others, other_probes(own=1))
    finally:
        for wl in wls:
            wl.kill()


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_c(exe: Path, consumer: Path, seconds: float, interest: Optional[set[int]],
          types: set[int], rate: float = 0.0, cpus_per_ring: int = 1) -> Row:
    """The minimal C libbpf consumer of the same probe, same interest."""
    from falco.live.bpf_source import default_object

    row = Row("c-libbpf")
    wl = _Workload(exe, seconds, rate)
    args = [str(consumer), "-i",
            "all" if interest is None else ",".join(map(str, sorted(interest))),
            "-p", str(wl.pid), "-t", ",".join(map(str, sorted(types))),
            "-g", str(cpus_per_ring), str(default_object())]
    cpus = cpu_split()[1]
    cons = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    try:
        line = cons.stdout.readline().split()
        if not line or line[0] != "ready":
            cons.wait()
            raise BenchUnavailable(f"C consumer did not start: {cons.stderr.read().strip()}")
        row.mode = line[1]
        others = other_probes(own=1)
        cpu0, t0 = _proc_cpu_s(cons.pid), time.monotonic()
        wl.go()
        res = wl.result()
        row.other_probes = _max_opt(others, other_probes(own=1))
        cpu1, t1 = _proc_cpu_s(cons.pid), time.monotonic()
        row.rss_kb = _proc_rss_kb(cons.pid)
        cons.send_signal(signal.SIGINT)
        out, err = cons.communicate(timeout=60)
        row.wall_s = time.monotonic() - t0
        row.cpu_percent = 100.0 * (cpu1 - cpu0) / (t1 - t0)
        if cons.returncode != 0:
            raise RuntimeError(f"C consumer exited {cons.returncode}: {err.strip()}")
        c = json.loads(out.strip().splitlines()[-1])
    finally:
        wl.kill()
        if cons.poll() is None:
            cons.kill()
            cons.wait()
    _fill(row, res)
    row.records = c["records"]
    row.workload_records = c["records_types"]
    row.counters = dict(c["counters"])
    row.counters["drops"] = (row.counters["drops_buffer"]
                             + row.counters["drops_max_size"]
                             + row.counters["drops_scratch"])
    row.notes = f"{c['records_pid']} records from the workload's tid"
    return row


# -- the report ------------------------------------------------------------

def _interest_sets(loaded, workload: str) -> tuple[set[int], set[int]]:
    """(filtered: the rules' interest without the workload's syscalls,
    recorded: with them)."""
    from falco.live.live_capture import interest_codes
    from falco.pipeline import build_detector

    rules = build_detector(loaded).rules
    base = interest_codes(r.evttypes for r in rules)
    if base is None:              # some rule wants every syscall
        from falco_engine import table
        base = {i for i, n in enumerate(table.SYSCALL_NAMES) if n}
    wl = workload_codes(workload)
    return base - wl, base | wl


def _median_row(runs: list[Row]) -> Row:
    """The run with the median ns/op (its counters come with it); every
    run's ns/op is kept in `ns_per_op_runs`."""
    ordered = sorted(runs, key=lambda r: r.ns_per_op)
    row = ordered[(len(ordered) - 1) // 2]
    row.ns_per_op_runs = [r.ns_per_op for r in runs]
    others = [r.other_probes for r in runs if r.other_probes is not None]
    row.other_probes = max(others) if others else None
    row.runs_with_other_probes = sum(1 for o in others if o)
    if len(runs) % 2 == 0:          # the true median of an even count
        row.ns_per_op = statistics.median(row.ns_per_op_runs)
    return row


def live_report(workload: str = "getppid", seconds: float = 2.0,
                rules: Optional[list[str]] = None, workdir: Optional[str] = None,
                search: bool = True, rounds: int = 3,
                log: Callable[[str], None] = lambda s: None,
                cpus_per_ring: int = 1) -> dict:
    """Run every row `rounds` times, interleaved (and 'none' once more at
    the end), keep the median of each, then with `search` look for the
    highest 0-drop rate; return the report as a dict (what `--json`
    prints).  `cpus_per_ring`: CPUs sharing one eBPF ring (1: a ring per
    CPU; the CPU count: one ring for all, the layout before per-CPU
    rings)."""
    import tempfile

    from falco import app

    check_environment()
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory()
        workdir = own_tmp.name
    try:
        exe = build_workload(workload, workdir)
        consumer = build_consumer(workdir)
        paths = rules or app.bundled_rules()
        loaded = app.load_rules(paths, log)
        filtered, recorded = _interest_sets(loaded, workload)
        types = workload_types(workload)

        cpus = cpu_split()
        # Warm up (CPU clocks, page cache, the workload's binary): the
        # first run of a cold machine is the slowest and is thrown away.
        run_none(exe, min(seconds, 1.0))
        samples: dict[str, list[Row]] = {name: [] for name in ROWS}
        for k in range(rounds):
            log(f"bench live: round {k + 1}/{rounds}: none, filtered, falco, c-libbpf")
            samples["none"].append(run_none(exe, seconds))
            samples["filtered"].append(
                run_falco(exe, seconds, loaded, filtered, "filtered", types,
                          cpus_per_ring=cpus_per_ring))
            samples["falco"].append(
                run_falco(exe, seconds, loaded, recorded, "falco", types,
                          cpus_per_ring=cpus_per_ring))
            samples["c-libbpf"].append(run_c(exe, consumer, seconds, recorded, types,
                                             cpus_per_ring=cpus_per_ring))
        samples["none"].append(run_none(exe, seconds))    # bracket the rounds
        rows = [_median_row(samples[name]) for name in ROWS]
        none = rows[0]
        by = {r.name: r for r in rows}
        ratios = {
            "recorded_vs_c": (by["falco"].ns_per_op / by["c-libbpf"].ns_per_op
                              if by["c-libbpf"].ns_per_op else None),
            "recorded_vs_c_aim": 1.15,
            "filtered_overhead_ns": by["filtered"].ns_per_op - none.ns_per_op,
            "filtered_overhead_ns_aim": 210.0,
            "recorded_c_overhead_ns": by["c-libbpf"].ns_per_op - none.ns_per_op,
            "recorded_falco_overhead_ns": by["falco"].ns_per_op - none.ns_per_op,
            "none_spread_ns": (max(none.ns_per_op_runs) - min(none.ns_per_op_runs)),
        }
        report = {
            "workload": workload,
            "op": WORKLOADS[workload][0],
            "records_per_op": WORKLOADS[workload][1],
            "seconds": seconds,
            "rounds": rounds,
            "workload_cpus": sorted(cpus[0]) if cpus[0] else None,
            "consumer_cpus": sorted(cpus[1]) if cpus[1] else None,
            "rules": paths,
            "interest_recorded": len(recorded),
            "interest_filtered": len(filtered),
            "cpus": os.cpu_count(),
            "kernel": os.uname().release,
            "cpus_per_ring": cpus_per_ring,
            "loadavg": os.getloadavg(),
            "runs_with_other_probes": sum(r.runs_with_other_probes for r in rows),
            "rows": [r.as_dict() for r in rows],
            "ratios": ratios,
        }
        if search:
            report["sustained"] = sustained_search(
                exe, seconds, loaded, recorded, types,
                by["falco"], log=log, cpus_per_ring=cpus_per_ring)
            report["saturated"] = saturated_runs(
                exe, seconds, loaded, recorded, types, rounds, log=log,
                cpus_per_ring=cpus_per_ring)
        return report
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()


def saturated_runs(exe: Path, seconds: float, loaded, interest: set[int],
                   types: set[int], rounds: int = 3,
                   log: Callable[[str], None] = lambda s: None,
                   cpus_per_ring: int = 1) -> dict:
    """`falco` with every CPU busy: one unpaced workload per CPU and the
    consumer sharing their cores.  One workload core makes only so many
    records/s (the probe's own cost bounds it), so the paced search cannot
    show what the consumer drains beyond that; this can.  Events/s is the
    median run's; drops are summed over the runs."""
    runs = []
    for k in range(rounds):
        log(f"bench live: every CPU busy, run {k + 1}/{rounds}")
        runs.append(run_falco(exe, seconds, loaded, interest, "saturated", types,
                              cpus_per_ring=cpus_per_ring, saturate=True))
    rates = sorted(r.events_per_s or 0.0 for r in runs)
    return {"workloads": len(os.sched_getaffinity(0)),
            "events_per_s": statistics.median(rates),
            "events_per_s_runs": [r.events_per_s for r in runs],
            "drops": sum(r.drops for r in runs),
            "drops_before_start": sum(r.drops_before_start or 0 for r in runs),
            "cpu_percent": statistics.median(r.cpu_percent or 0.0 for r in runs)}


def sustained_search(exe: Path, seconds: float, loaded, interest: set[int],
                     types: set[int], unpaced: Row, steps: int = 4,
                     log: Callable[[str], None] = lambda s: None,
                     cpus_per_ring: int = 1) -> dict:
    """Highest workload rate (ops/s) seen with 0 drops in `falco`'s row:
    bisection between 0 and the unpaced rate, `steps` runs of `seconds`
    each.  The 8 MiB rings absorb bursts, so a short run can pass a rate
    that a long one would not: this is an upper bound for runs this long."""
    hi = unpaced.ops / unpaced.seconds if unpaced.seconds else 0.0
    tried = []
    if unpaced.drops == 0:
        return {"ops_per_s": hi, "events_per_s": unpaced.events_per_s,
                "tried": [], "note": "the unpaced run had no drops"}
    lo, best = 0.0, None
    for _ in range(steps):
        rate = (lo + hi) / 2 if lo else hi / 4
        log(f"bench live: sustained search at {rate:,.0f} ops/s")
        row = run_falco(exe, seconds, loaded, interest, "falco", types, rate=rate,
                        cpus_per_ring=cpus_per_ring)
        seen = row.counters.get("events", 0) + row.drops
        tried.append({"ops_per_s": rate, "drops": row.drops,
                      "drops_before_start": row.drops_before_start,
                      "drop_ratio": row.drops / seen if seen else 0.0,
                      "events_per_s": row.events_per_s,
                      "workload_events_per_s": (row.workload_records / row.wall_s
                                                if row.wall_s else None),
                      "cpu_percent": row.cpu_percent})
        if row.drops == 0:
            lo, best = rate, row
        else:
            hi = rate
            if not lo and rate < 1000:
                break
    return {"ops_per_s": lo if best else None,
            "events_per_s": best.events_per_s if best else None,
            "tried": tried}


def format_report(report: dict) -> str:
    rows = report["rows"]
    lines = [
        f"workload {report['workload']} ({'+'.join(report['op'])} per op), "
        f"{report['seconds']:g} s per run, median of {report['rounds']} interleaved "
        f"runs per row; {report['cpus']} CPUs (workload on {report['workload_cpus']}, "
        f"consumer on {report['consumer_cpus']}), kernel {report['kernel']}; "
        f"interest: {report['interest_recorded']} syscalls recorded, "
        f"{report['interest_filtered']} with the workload's filtered out",
        f"{'row':<10} {'ns/op':>10} {'ops':>11} {'records':>11} {'wl recs':>11} "
        f"{'events/s':>11} {'drop buf':>9} {'drop big':>9} {'drop scr':>9} "
        f"{'filtered':>11} {'CPU%':>6} {'RSS MiB':>8}  ns/op of each run",
    ]

    def n(v, fmt="{:,.0f}"):
        return "-" if v is None else fmt.format(v)

    for r in rows:
        c = r.get("counters") or {}
        lines.append(
            f"{r['name']:<10} {r['ns_per_op']:>10.1f} {r['ops']:>11,} "
            f"{n(r['records']):>11} {n(r['workload_records']):>11} "
            f"{n(r['events_per_s']):>11} {n(c.get('drops_buffer')):>9} "
            f"{n(c.get('drops_max_size')):>9} {n(c.get('drops_scratch')):>9} "
            f"{n(c.get('filtered')):>11} {n(r['cpu_percent'], '{:.0f}'):>6} "
            f"{n(r['rss_kb'] / 1024 if r['rss_kb'] else None, '{:.1f}'):>8}  "
            + " ".join(f"{v:.0f}" for v in r.get("ns_per_op_runs") or ()))
    q = report["ratios"]
    lines.append("")
    if report.get("runs_with_other_probes"):
        lines.append(f"WARNING: another falco probe was loaded during "
                     f"{report['runs_with_other_probes']} runs: its cost is in every row "
                     f"('none' included), so overheads are understated and noisy")
    lines.append(f"load average at the end: {report['loadavg'][0]:.2f} "
                 f"(other work on these {report['cpus']} CPUs shows up as noise)")
    if q["recorded_vs_c"] is not None:
        lines.append(f"recorded, falco vs C libbpf consumer: {q['recorded_vs_c']:.3f}x "
                     f"ns/op (aim <= {q['recorded_vs_c_aim']})")
    lines.append(f"filtered-out overhead: {q['filtered_overhead_ns']:+.1f} ns/op "
                 f"(aim <= +{q['filtered_overhead_ns_aim']:.0f}); "
                 f"recorded overhead: falco {q['recorded_falco_overhead_ns']:+.1f}, "
                 f"C {q['recorded_c_overhead_ns']:+.1f} ns/op; "
                 f"'none' runs spread over {q['none_spread_ns']:.1f} ns (the noise floor)")
    s = report.get("sustained")
    if s:
        if s.get("ops_per_s"):
            lines.append(f"sustained with 0 drops (falco): {s['ops_per_s']:,.0f} ops/s, "
                         f"{n(s['events_per_s'])} events/s delivered"
                         + (f" ({s['note']})" if s.get("note") else
                            f" (bisection: {len(s['tried'])} runs; upper bound for "
                            f"{report['seconds']:g} s runs, the ring absorbs bursts)"))
        else:
            lines.append("sustained with 0 drops (falco): none of the tried rates")
        for t in s["tried"]:
            lines.append(f"  paced at {t['ops_per_s']:>11,.0f} ops/s: {n(t['events_per_s'])} "
                         f"events/s ({n(t['workload_events_per_s'])} of the workload's types), "
                         f"{t['drops']} drops ({t['drop_ratio']:.2e} of seen, "
                         f"{t['drops_before_start']} before the workload), "
                         f"CPU {t['cpu_percent']:.0f}%")
    sat = report.get("saturated")
    if sat:
        lines.append(f"every CPU busy ({sat['workloads']} workloads, falco sharing their "
                     f"cores): {n(sat['events_per_s'])} events/s drained (median of "
                     f"{len(sat['events_per_s_runs'])} runs: "
                     + " ".join(n(v) for v in sat["events_per_s_runs"])
                     + f"), {sat['drops']} drops, consumer CPU {sat['cpu_percent']:.0f}%")
    return "\n".join(lines)

"""Kernel module overhead, side by side with Debian's Falco driver.

``falco bench kmod`` boots each Debian kernel that has an image and headers
under qemu (``scripts/kmod_vm_test.sh --no-test --bench ROUNDS``) and, in
that one VM, times a getppid() loop (``scripts/kmod_vm/kbench.c``) three
ways each round:

``none``
    no module loaded;
``falco``
    driver/kmod's falco.ko, every ring drained by kbench's consumer;
``scap``
    ``scap.ko`` from Debian's ``falcosecurity-scap-dkms`` (the 2022 Falco
    driver), built against the same headers, drained by the same consumer
    code (libscap's read policy).

The modules record every syscall with their defaults (scap.ko: all events;
falco.ko: every syscall its table routes), 8 MiB per CPU ring each.
Reported per kernel: the median ns per getppid of each mode over the
rounds, the overhead (ns(mode) - ns(none)), the ratio falco overhead /
scap overhead (aim <= 1.0), and per mode the records delivered, records
per loop op and drops.

Two clocks (``--clock``):

``icount`` (default)
    TCG with ``-icount shift=0,sleep=off`` on one vCPU: the guest clock
    advances one ns per guest instruction, so a row's ns/op is the
    instructions executed per getppid -- the loop's, the module's and the
    consumer's (it shares the CPU) -- and repeats to the digit whatever the
    host's load.  It counts work, not cache misses or pipeline stalls.
``wall``
    KVM if usable, else multi-threaded TCG on two vCPUs (loop pinned to
    CPU 0, consumer to CPU 1) timed by the guest's clock, which follows
    the host's: emulated time, noisy on a shared machine; compare ratios
    of medians over many rounds.
"""
from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "scripts" / "kmod_vm_test.sh"
MODES = ("none", "falco", "scap")


class BenchUnavailable(RuntimeError):
    """The kmod bench cannot run here; the message says why."""


def _version_key(v: str):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)]


def bootable_kernels() -> list[str]:
    """Kernels with an image in /boot and headers in /lib/modules/V/build."""
    mods = Path("/lib/modules")
    if not mods.is_dir():
        return []
    found = [p.name for p in mods.iterdir()
             if (p / "build" / "Makefile").exists()
             and Path(f"/boot/vmlinuz-{p.name}").exists()]
    return sorted(found, key=_version_key)


def run_vm(kernel: str, rounds: int, seconds: float, workdir: Path,
           accel: Optional[str] = None, clock: str = "icount",
           timeout: float = 1200) -> tuple[dict, list[dict], str]:
    """One VM run: the harness verdict, the KBENCH rows and the output."""
    if not HARNESS.exists():
        raise BenchUnavailable(f"{HARNESS} not found (run from a source checkout)")
    cmd = [str(HARNESS), "--kernel", kernel, "--out", str(workdir), "--no-test",
           "--bench", str(rounds), "--bench-seconds", str(seconds)]
    if clock == "icount":
        cmd += ["--icount", "0"]
    elif accel:
        cmd += ["--accel", accel]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode == 77:
        reason = re.search(r"^KMODVM-SKIP (.*)$", out, re.M)
        raise BenchUnavailable(reason.group(1) if reason else "VM harness skipped")
    lines = re.findall(r"^KMODVM-VERDICT (.*)$", out, re.M)
    if not lines:
        raise BenchUnavailable(f"no verdict from {HARNESS.name}:\n{out[-2000:]}")
    verdict = json.loads(lines[-1])
    rows = []
    bench_file = Path(verdict.get("bench_file", workdir / "bench.jsonl"))
    if bench_file.exists():
        rows = [json.loads(l) for l in bench_file.read_text().splitlines() if l.strip()]
    return verdict, rows, out


def summarize(rows: list[dict]) -> dict:
    """Medians over the rounds, overheads and the falco / scap ratio."""
    modes: dict[str, dict] = {}
    for mode in MODES:
        runs = [r for r in rows if r["mode"] == mode and not r.get("error")]
        if not runs:
            continue
        ns = [r["ns_per_op"] for r in runs]
        ops = sum(r["ops"] for r in runs)
        modes[mode] = {
            "rounds": len(runs),
            "ns_per_op": statistics.median(ns),
            "ns_per_op_all": ns,
            "ops": ops,
            "records": sum(r["records"] for r in runs),
            "loop_records_per_op": (sum(r["loop_records"] for r in runs) / ops) if ops else 0.0,
            "module_events": sum(r["evts"] for r in runs),
            "drops": sum(r["drops"] for r in runs),
        }
    base = modes.get("none", {}).get("ns_per_op")
    for mode in ("falco", "scap"):
        if base is not None and mode in modes:
            modes[mode]["overhead_ns"] = modes[mode]["ns_per_op"] - base
    out: dict = {"modes": modes}
    f, s = (modes.get(m, {}).get("overhead_ns") for m in ("falco", "scap"))
    out["ratio"] = f / s if f is not None and s else None
    # the same ratio round by round (each round's own baseline), its median
    per_round = []
    for rnd in sorted({r["round"] for r in rows}):
        by = {r["mode"]: r for r in rows if r["round"] == rnd and not r.get("error")}
        if all(m in by for m in MODES):
            so = by["scap"]["ns_per_op"] - by["none"]["ns_per_op"]
            if so > 0:
                per_round.append((by["falco"]["ns_per_op"] - by["none"]["ns_per_op"]) / so)
    out["ratio_per_round"] = per_round
    out["ratio_median_of_rounds"] = statistics.median(per_round) if per_round else None
    return out


def kmod_report(kernels: Optional[list[str]] = None, rounds: int = 5,
                seconds: float = 0.5, accel: Optional[str] = None,
                clock: str = "icount", workdir: Optional[str] = None,
                log: Callable[[str], None] = lambda s: None) -> dict:
    """Run the VM bench on each kernel (default: every bootable one)."""
    if shutil.which("qemu-system-x86_64") is None:
        raise BenchUnavailable("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
    kernels = kernels or bootable_kernels()
    if not kernels:
        raise BenchUnavailable("no Debian kernel image with headers "
                               "(apt-get install linux-image-amd64 linux-headers-amd64)")
    if clock not in ("icount", "wall"):
        raise ValueError(f"unknown clock {clock!r}")
    report: dict = {"workload": "getppid", "rounds": rounds, "seconds": seconds,
                    "clock": clock, "kernels": []}
    with tempfile.TemporaryDirectory(prefix="falco-bench-kmod.") as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        for k in kernels:
            log(f"falco bench kmod: booting {k} ({rounds} rounds x 3 modes x {seconds} s)")
            verdict, rows, out = run_vm(k, rounds, seconds, base / k, accel, clock)
            entry = {"kernel": k, "accel": verdict.get("accel"),
                     "ok": verdict.get("ok", False), "bench": verdict.get("bench"),
                     "scap": verdict.get("scap"), "dmesg": verdict.get("bench_dmesg"),
                     "seconds_total": verdict.get("total_seconds"), "rows": rows}
            entry.update(summarize(rows))
            if not rows:
                entry["log_tail"] = out[-3000:]
            report["kernels"].append(entry)
    return report


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_report(report: dict) -> str:
    clock = report.get("clock", "wall")
    lines = [f"workload: getppid loop, {report['rounds']} rounds x "
             f"{report['seconds']} s per mode; medians over the rounds; clock {clock}"
             + (" (1 ns = 1 guest instruction)" if clock == "icount" else "")]
    for k in report["kernels"]:
        lines.append("")
        lines.append(f"kernel {k['kernel']} ({k['accel']}): bench {k['bench']}, "
                     f"scap.ko {k['scap']}, dmesg {k['dmesg']}, {k['seconds_total']} s")
        lines.append(f"  {'mode':<6} {'ns/op':>10} {'overhead':>10} {'records':>12} "
                     f"{'rec/op':>7} {'drops':>8}")
        for mode in MODES:
            m = k["modes"].get(mode)
            if m is None:
                lines.append(f"  {mode:<6} {'(not run)':>10}")
                continue
            overhead = _fmt(m.get("overhead_ns"), ".1f")
            lines.append(f"  {mode:<6} {m['ns_per_op']:>10.1f} {overhead:>10} "
                         f"{m['records']:>12,} {m['loop_records_per_op']:>7.2f} "
                         f"{m['drops']:>8,}")
        lines.append(f"  overhead ratio falco / scap: {_fmt(k['ratio'], '.2f')} "
                     f"(median of per-round ratios {_fmt(k['ratio_median_of_rounds'], '.2f')}; "
                     f"aim <= 1.00)")
        if k.get("accel") == "tcg":
            lines.append("  (TCG wall clock: emulated, noisy time; compare the ratio, not the ns)")
    return "\n".join(lines)


"""Replay throughput: how fast captures decode, next to the reference tool.

Absolute timings on shared machines are noise; what is reported is the
ratio between this engine and `sysdig -r FILE -q` measured in one run on
the same file.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from falco.capture import open_capture
from falco.capture.scap_writer import ScapWriter
from falco.pipeline import RuleSelection


def make_looped_capture(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                        min_events: int) -> int:
    """Write `src` again and again, each copy shifted past the previous one
    in time, until at least `min_events` events are in `dst`."""
    with open_capture(src) as cap:
        batches = list(cap.batches())
        tables = cap.tables
    if not batches:
        raise ValueError(f"{src}: capture has no events")
    # Metadata events may carry ts 0: measure the span on real timestamps.
    stamps = [ev.ts for batch in batches for ev in batch if ev.ts]
    span = (max(stamps) - min(stamps) if stamps else 0) + 1_000_000  # +1 ms gap
    written = 0
    loop = 0
    with ScapWriter(dst, tables) as writer:
        while written < min_events:
            for batch in batches:
                written += writer.write_batch(batch, ts_shift=loop * span)
            loop += 1
    return written


def decode_file(path: str | os.PathLike[str]) -> int:
    """Decode every event of a capture (no state, no rules); the count."""
    n = 0
    with open_capture(path) as cap:
        for batch in cap.batches():
            n += len(batch)
    return n


@dataclass
class Timing:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def time_decode(path: str | os.PathLike[str], repeat: int = 3) -> Timing:
    best = None
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = decode_file(path)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return Timing(n, best or 0.0)


# Rounds of the decode / decode+state comparison in the replay report: a
# round is two passes of the looped capture (about 30 ms on 500k events).
STATE_ROUNDS = 16


def time_state_vs_decode(path: str | os.PathLike[str], rounds: int = 8,
                         round_ratios: list[float] | None = None
                         ) -> tuple[Timing, Timing]:
    """Decode-only and decode+state (a rule that never matches) timed in
    alternation, the best of `rounds` each: on a shared machine both then
    meet the same background load, and the ratio is not one side's bad
    moment.  `round_ratios`, when given, gets each round's own ratio
    (decode+state's rate over decode's, the two passes next to each
    other): their median does not hang on the one quietest moment of each
    side, which the best of each can pair from different minutes."""
    best_decode = best_state = None
    for k in range(rounds):
        # Which side goes first alternates: a drift within a round meets
        # both sides the same number of times.
        if k % 2 == 0:
            d = time_decode(path, 1)
            s, _, _ = time_rules(path, rules_text=NEVER_RULE, repeat=1)
        else:
            s, _, _ = time_rules(path, rules_text=NEVER_RULE, repeat=1)
            d = time_decode(path, 1)
        if round_ratios is not None and s.seconds:
            round_ratios.append(d.seconds / s.seconds)
        if best_decode is None or d.seconds < best_decode.seconds:
            best_decode = d
        if best_state is None or s.seconds < best_state.seconds:
            best_state = s
    assert best_decode is not None and best_state is not None
    return best_decode, best_state


def _load_bench_rules(rule_paths: list[str] | None, rules_text: str | None):
    """Rules files, or YAML text when given; ValueError when they do not load."""
    from falco.rules import load_rule_files, load_rules

    loaded = (load_rules([("bench.yaml", rules_text)]) if rules_text is not None
              else load_rule_files(rule_paths or []))
    if loaded.errors:
        raise ValueError("; ".join(str(e) for e in loaded.errors))
    return loaded


@dataclass
class StateSplit:
    """Decode+state passes taken apart: the time inside the engine (state
    and rules, timed around each batch) and the rest of the same pass
    (reading and decoding), next to a decode-only pass run right after;
    each the best of the rounds.  Load on a shared machine moves whole
    passes, so the engine's share of one pass holds steadier than two
    passes' ratio.  It leaves out what the engine costs decoding (its
    memory use evicting the decoder's): `rest` over `decode` shows that."""
    events: int
    state_seconds: float
    rest_seconds: float
    decode_seconds: float


def time_state_split(path: str | os.PathLike[str], rounds: int = 8,
                     rules_text: str | None = None) -> StateSplit:
    """`rules_text`: YAML rules to run (default: one rule that never matches)."""
    from falco.pipeline import build_detector

    loaded = _load_bench_rules(None, NEVER_RULE if rules_text is None else rules_text)
    ns = time.perf_counter_ns
    best_state = best_rest = best_decode = None
    events = 0
    for _ in range(rounds):
        detector = build_detector(loaded, RuleSelection())
        engine = detector.engine
        alerts: list = []
        inside = 0
        t0 = ns()
        with open_capture(path) as cap:
            detector.seed(cap.tables)
            for batch in cap.batches():
                t = ns()
                engine.process(batch, alerts)
                inside += ns() - t
        rest = ns() - t0 - inside
        t = ns()
        decode_file(path)
        decode = ns() - t
        events = engine.events
        best_state = inside if best_state is None else min(best_state, inside)
        best_rest = rest if best_rest is None else min(best_rest, rest)
        best_decode = decode if best_decode is None else min(best_decode, decode)
    assert best_state is not None and best_rest is not None and best_decode is not None
    return StateSplit(events, best_state / 1e9, best_rest / 1e9, best_decode / 1e9)


def split_cost(split: StateSplit) -> dict:
    """The engine's own time within a pass, against decoding alone."""
    return {"in_pass_state_vs_decode": split.state_seconds / split.decode_seconds,
            "in_pass_state_ns_per_event": split.state_seconds / split.events * 1e9,
            "in_pass_rest_vs_decode": split.rest_seconds / split.decode_seconds}


def state_cost(decode: Timing, state: Timing,
               round_ratios: list[float] | None = None) -> dict:
    """What state tracking adds to decoding: time ratio, throughput lost
    and nanoseconds per event (from the best of each side); with the
    rounds' own ratios, also their median and quartiles."""
    cost = {"time_vs_decode": state.seconds / decode.seconds,
            "throughput_vs_decode": state.rate / decode.rate,
            "state_ns_per_event": (state.seconds - decode.seconds) / state.events * 1e9}
    if round_ratios:
        ordered = sorted(round_ratios)
        cost["throughput_vs_decode_median"] = statistics.median(ordered)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
            cost["throughput_vs_decode_quartiles"] = [q1, q3]
        cost["rounds"] = len(ordered)
    return cost


def time_sysdig(path: str | os.PathLike[str], events: int, flt: str = "",
                repeat: int = 3) -> Timing | None:
    """Best wall time of `sysdig -r FILE -q [FILTER]`, or None without sysdig."""
    exe = shutil.which("sysdig")
    if exe is None:
        return None
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([exe, "-r", str(path), "-q", *([flt] if flt else [])],
                       check=True, capture_output=True, timeout=600)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return Timing(events, best or 0.0)


def time_rules(path: str | os.PathLike[str], rule_paths: list[str] | None = None,
               repeat: int = 3, rules_text: str | None = None,
               only: set[str] | None = None) -> tuple[Timing, int, int]:
    """Best time to replay a capture through state and the given rules
    (files, or YAML text; `only` keeps just the rules of those names).
    Returns (timing, rules compiled, alerts)."""
    from falco.pipeline import build_detector

    loaded = _load_bench_rules(rule_paths, rules_text)
    best = None
    n = alerts = nrules = 0
    selection = RuleSelection() if only is None else _NamedRules(only)
    for _ in range(repeat):
        detector = build_detector(loaded, selection)
        nrules = len(detector.rules)
        t0 = time.perf_counter()
        with open_capture(path) as cap:
            detector.seed(cap.tables)
            alerts = sum(1 for _ in detector.run(cap.batches()))
        dt = time.perf_counter() - t0
        n = detector.engine.events
        best = dt if best is None else min(best, dt)
    return Timing(n, best or 0.0), nrules, alerts


class _NamedRules(RuleSelection):
    """The rules Falco would run, restricted to a set of names."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = names

    def keep(self, rule) -> bool:
        return rule.name in self.names and super().keep(rule)


def sysdig_parsable_subset(rule_paths: list[str], capture: str | os.PathLike[str]
                           ) -> tuple[set[str], str]:
    """The enabled rules whose condition sysdig accepts as a filter, and
    their conditions or-ed: the same work for both engines, so the issue's
    `sysdig -r FILE -q FILTER` reference can be measured on a rule set.
    Rules using fields newer than the installed sysdig are left out of both
    sides (sysdig's own error decides)."""
    exe = shutil.which("sysdig")
    if exe is None:
        return set(), ""
    names: set[str] = set()
    parts: list[str] = []
    for rule, flt in _rule_filters(rule_paths):
        if rule.source != "syscall":
            continue
        # `-n 1` stops after one event: this only asks whether it parses.
        probe = subprocess.run([exe, "-r", str(capture), "-n", "1", "-q", flt],
                               capture_output=True, timeout=60)
        if probe.returncode == 0:
            names.add(rule.name)
            parts.append(flt)
    return names, " or ".join(parts)


def _rule_filters(rule_paths: list[str]):
    """(rule, its condition as a parenthesised sysdig filter) for every
    enabled rule of the files."""
    from falco.rules import load_rule_files

    from falco_engine.filter_ast import to_string

    for rule in load_rule_files(rule_paths).rules:
        if rule.enabled:
            yield rule, f"({to_string(rule.condition, reparse=True)})"


def union_filter(rule_paths: list[str]) -> str:
    """One sysdig filter equivalent to a rule set: its conditions or-ed."""
    return " or ".join(flt for _, flt in _rule_filters(rule_paths))


NEVER_RULE = ("- rule: never\n  desc: matches nothing\n"
              "  condition: evt.type = open and evt.num = 0\n  output: o\n  priority: INFO\n")


def oracle_rules(oracle_jsonl: str | os.PathLike[str]) -> tuple[str, str]:
    """The sysdig oracle's filters as (rules YAML, one or-ed sysdig filter):
    the same work for both engines, in fields sysdig 0.29.3 knows."""
    import json

    filters = sorted({json.loads(line)["filter"] for line in Path(oracle_jsonl).read_text().splitlines()
                      if '"filter"' in line})
    rules = "".join(f"- rule: oracle {i}\n  desc: d\n  condition: {json.dumps(f)}\n"
                    f"  output: o\n  priority: INFO\n" for i, f in enumerate(filters))
    return rules, " or ".join(f"({f})" for f in filters)


def replay_report(source: str | os.PathLike[str], min_events: int,
                  default_rules: list[str], upstream_rules: list[str],
                  oracle_jsonl: str | os.PathLike[str] | None, workdir: str) -> dict:
    """Every row of `falco bench replay`, measured in this one process."""
    looped = Path(workdir) / "looped.scap"
    n = make_looped_capture(source, looped, min_events)
    rows = []

    def row(name, timing, ref=None, **extra):
        r = {"name": name, "events": timing.events, "seconds": timing.seconds,
             "events_per_s": timing.rate, **extra}
        if ref is not None:
            r["sysdig_events_per_s"] = ref.rate
            r["ratio_to_sysdig"] = timing.rate / ref.rate if ref.rate else None
        rows.append(r)

    plain = time_sysdig(looped, n)
    round_ratios: list[float] = []
    decode, state = time_state_vs_decode(looped, STATE_ROUNDS, round_ratios)
    row("decode", decode, plain)
    row("decode+state", state, plain, **state_cost(decode, state, round_ratios),
        **split_cost(time_state_split(looped)))
    for label, paths in (("default", default_rules), ("upstream stable", upstream_rules)):
        if not paths:
            continue
        t, k, a = time_rules(looped, paths)
        row(f"+{label} rules", t, plain, rules=k, alerts=a)
        # The reference: sysdig running the same rules as one filter
        # (the subset of rules sysdig's older field table can parse).
        names, flt = sysdig_parsable_subset(paths, source)
        if names:
            t, k, a = time_rules(looped, paths, only=names)
            row(f"+{label} rules, sysdig-parsable", t, time_sysdig(looped, n, flt),
                rules=k, alerts=a)
    if oracle_jsonl is not None and Path(oracle_jsonl).exists():
        text, flt = oracle_rules(oracle_jsonl)
        t, k, a = time_rules(looped, rules_text=text)
        row("+oracle filters (all matches)", t, time_sysdig(looped, n, flt), rules=k, alerts=a)
    return {"source": str(source), "events": n, "rows": rows,
            "sysdig": plain is not None}


def _renamed_rules(rule_paths: list[str], copies: int) -> str:
    """The given rules repeated `copies` times under new names: a rule set
    of growing size with the same kind of conditions."""
    import yaml

    items = []
    for path in rule_paths:
        items += yaml.safe_load(Path(path).read_text()) or []
    base = [i for i in items if "rule" not in i]
    rules = [i for i in items if "rule" in i and i.get("enabled", True) is not False]
    out = list(base)
    k = 0
    while len(out) - len(base) < copies:
        r = dict(rules[k % len(rules)])
        r["rule"] = f"{r['rule']} #{k}"
        out.append(r)
        k += 1
    return yaml.safe_dump(out, sort_keys=False)


def scaling_report(source: str | os.PathLike[str], min_events: int,
                   default_rules: list[str], workdir: str,
                   rule_counts=(1, 25, 100, 300),
                   thread_counts=(1_000, 100_000)) -> dict:
    """How cost grows: events/s with 1..300 rules loaded, and with 1k vs
    100k threads in the state table; RSS after replaying the capture."""
    from falco.capture.tables import ThreadInfo
    from falco.pipeline import build_detector
    from falco.rules import load_rules

    looped = Path(workdir) / "looped.scap"
    n = make_looped_capture(source, looped, min_events)
    rows = []
    for count in rule_counts:
        t, k, a = time_rules(looped, rules_text=_renamed_rules(default_rules, count), repeat=2)
        rows.append({"name": f"{k} rules", "rules": k, "events_per_s": t.rate, "alerts": a})
    loaded = load_rules([("rules.yaml", Path(default_rules[0]).read_text())])
    for threads in thread_counts:
        detector = build_detector(loaded)
        with open_capture(looped) as cap:
            tables = cap.tables
            for i in range(threads):
                tid = 4_000_000 + i
                tables.threads[tid] = ThreadInfo(tid, tid, 1, comm=f"t{i}", exe="/bin/t")
            detector.seed(tables)
            t0 = time.perf_counter()
            for _ in detector.run(cap.batches()):
                pass
            dt = time.perf_counter() - t0
        rows.append({"name": f"{threads} extra threads in state",
                     "events_per_s": detector.engine.events / dt if dt else 0.0})
    # Memory of `falco run` itself replaying the capture with the default
    # rules: a child process that reports its own VmHWM (the peak of its
    # own address space; rusage would count the parent's pages up to exec).
    import sys
    probe = ("import sys\nfrom falco.cli import main\n"
             "try:\n    main(sys.argv[1:], standalone_mode=False)\n"
             "finally:\n    print([l for l in open('/proc/self/status') "
             "if l.startswith('VmHWM')][0].split()[1], file=sys.__stderr__)\n")
    proc = subprocess.run([sys.executable, "-c", probe, "run", "-e", str(looped),
                           "-r", default_rules[0], "-o", "stdout_output.enabled=false",
                           "-o", "syslog_output.enabled=false"],
                          capture_output=True, text=True, timeout=600)
    hwm_kb = int(proc.stderr.strip().splitlines()[-1])
    return {"events": n, "rows": rows, "falco_run_max_rss_mb": hwm_kb / 1024}

"""Run rule test cases and compare their alerts with the expectations.

Rules are compiled once per run, with every rule under test enabled (the
incubating and sandbox files ship theirs disabled); each case gets a fresh
state engine.  Only the alerts of the rules under test are compared (all
enabled rules with `all_rules: true`).  A failure carries a unified diff of
expected against actual alerts, one line per alert.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Iterable

from falco.pipeline import RuleSelection, new_state
from falco.rules import LoadResult
from falco_engine import compiler as _compiler
from falco_engine.decoder import scan_records
from falco_engine.runner import CompiledRule, OutputFormat, RuleEngine

from .format import Expectation, TestCase, TestFile
from .synth import SynthError, synthesize

__all__ = ["CaseResult", "RuleTestRunner", "PASS", "FAIL", "SKIP", "ERROR"]

PASS, FAIL, SKIP, ERROR = "pass", "fail", "skip", "error"


@dataclass
class CaseResult:
    case: TestCase
    status: str
    message: str = ""                      # why it failed, errored or was skipped
    diff: list[str] = field(default_factory=list)
    alerts: list = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"name": self.case.name, "file": self.case.filename, "line": self.case.line,
                "rules": self.case.rules, "status": self.status, "message": self.message,
                "diff": self.diff,
                "alerts": [{"rule": a.rule, "output": a.output,
                            "output_fields": {k: _s(v) for k, v in a.output_fields.items()}}
                           for a in self.alerts]}


def _s(v) -> str:
    if v is None:
        return "<NA>"
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class RuleTestRunner:
    """Compile `loaded` once (rules under test enabled); run cases."""

    def __init__(self, loaded: LoadResult,
                 sources: list[tuple[str, str]] | None = None) -> None:
        self.loaded = loaded
        self.sources = sources             # the rule files' (name, text), for overrides
        self.names = {r.name for r in loaded.rules}
        self.warnings: list[str] = []
        self._compiled: dict[str, CompiledRule] = {}
        self._default_on: set[str] = set()
        self._compile()

    def _compile(self) -> None:
        from falco.pipeline import extractor_factories
        compiler = _compiler.Compiler(extractor_factories())
        sel = RuleSelection()
        for rule in self.loaded.rules:
            if rule.source != "syscall":
                continue
            if sel.keep(rule):
                self._default_on.add(rule.name)
            try:
                node = compiler.compile(rule.condition)
                output = OutputFormat(rule.output, compiler)
            except _compiler.CompileError as exc:
                self.warnings.append(f"rule '{rule.name}': not loaded: {exc}")
                continue
            self._compiled[rule.name] = CompiledRule(
                rule.name, node, output, int(rule.priority), tuple(rule.tags), rule.source,
                None if rule.evttypes is None else set(rule.evttypes))
        for name in sorted(compiler.missing):
            self.warnings.append(f"field '{name}' has no extractor yet: it reads as <NA> "
                                 "and comparisons on it are false")

    # -- running ------------------------------------------------------------

    def run_files(self, files: Iterable[TestFile]) -> list[CaseResult]:
        out = []
        for tf in files:
            for case in tf.cases:
                out.append(self.run_case(case))
        return out

    def _engine_for(self, case: TestCase, state) -> tuple[RuleEngine, set[str]]:
        watched = set(case.rules)
        active = set(watched)
        if case.all_rules:
            active |= self._default_on
            watched |= active
        rules = [self._compiled[n] for n in self._compiled if n in active]
        return RuleEngine(rules, state=state, first_match=False), watched

    def run_case(self, case: TestCase) -> CaseResult:
        start = time.monotonic()
        if case.skip:
            return CaseResult(case, SKIP, case.skip)
        if case.overrides:
            if self.sources is None:
                return CaseResult(case, ERROR, "'overrides' needs the rule files' text")
            from falco.rules import load_rules
            loaded = load_rules(list(self.sources) + [(f"{case.where} (overrides)", case.overrides)])
            if not loaded.ok:
                return CaseResult(case, ERROR, "overrides do not load: " +
                                  "; ".join(str(e) for e in loaded.errors))
            sub = RuleTestRunner(loaded)
            plain = dataclasses.replace(case, overrides=None)
            res = sub.run_case(plain)
            res.case = case
            return res
        missing = [r for r in case.rules if r not in self.names]
        if missing:
            return CaseResult(case, ERROR, "no loaded rule named " +
                              ", ".join(f"'{m}'" for m in missing))
        broken = [r for r in case.rules if r not in self._compiled]
        if broken:
            return CaseResult(case, ERROR, "rule did not compile: " + ", ".join(broken))
        try:
            if case.events is not None:
                alerts = self._run_events(case)
            elif case.scap is not None:
                alerts = self._run_scap(case)
            else:
                res = self._run_live(case)
                if isinstance(res, str):
                    return CaseResult(case, SKIP, res)
                alerts = res
        except SynthError as exc:
            return CaseResult(case, ERROR, str(exc))
        except Exception as exc:  # noqa: BLE001 - a case's failure must not stop the run
            return CaseResult(case, ERROR, f"{type(exc).__name__}: {exc}")
        result = compare(case, alerts)
        result.seconds = time.monotonic() - start
        return result

    def _run_events(self, case: TestCase) -> list:
        syn = synthesize(case)
        state = new_state()
        engine, watched = self._engine_for(case, state)
        if state is not None:
            state.seed(syn.tables)
            for cid, info in syn.containers.items():
                state.containers[cid.encode()] = info
        batch = scan_records(syn.records)
        alerts: list = []
        engine.process(batch, alerts)
        return [a for a in alerts if a.rule in watched]

    def _run_scap(self, case: TestCase) -> list:
        from falco.capture import open_capture
        state = new_state()
        engine, watched = self._engine_for(case, state)
        alerts: list = []
        with open_capture(case.scap) as cap:
            if state is not None:
                state.seed(cap.tables)
            for batch in cap.batches():
                engine.process(batch, alerts)
        return [a for a in alerts if a.rule in watched]

    def _run_live(self, case: TestCase):
        if os.geteuid() != 0:
            return "live cases need root (the eBPF driver): not root"
        try:
            from falco.live.live_capture import BpfUnavailable, LiveCapture, interest_codes
        except ImportError as exc:
            return f"live capture unavailable: {exc}"
        state = new_state()
        engine, watched = self._engine_for(case, state)
        interest = interest_codes(self._compiled[n].evttypes for n in watched
                                  if n in self._compiled)
        try:
            live = LiveCapture(interest)
        except BpfUnavailable as exc:
            return f"live capture unavailable: {exc}"
        alerts: list = []
        with live:
            if state is not None:
                if hasattr(state, "seed_host"):
                    state.seed_host()
                else:
                    state.seed(live.tables)
            proc = subprocess.Popen(["/bin/sh", "-c", case.live], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + case.live_timeout
            for batch in live.batches(duration=case.live_timeout):
                engine.process(batch, alerts)
                if proc.poll() is not None and time.monotonic() > deadline - case.live_timeout / 2:
                    live.stop()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # Every alert of the watched rules during the window counts: on a busy
        # host other programs can add some (write live cases for quiet rules).
        return [a for a in alerts if a.rule in watched]


# --- comparison ----------------------------------------------------------------

def _expect_line(e: Expectation) -> str:
    count = "any" if e.count is None else str(e.count)
    parts = [f"{e.rule} x{count}"]
    if e.priority:
        parts.append(f"priority={e.priority}")
    parts += [f"{k}={v}" for k, v in sorted(e.output_fields.items())]
    parts += [f"output~{s!r}" for s in e.output_contains]
    return "  ".join(parts)


def _alert_line(rule: str, n: int, alerts: list, e: Expectation | None) -> str:
    parts = [f"{rule} x{n}"]
    if e is not None:
        a = alerts[0] if alerts else None
        if e.priority and a is not None:
            parts.append(f"priority={_priority_name(a.priority)}")
        for k in sorted(e.output_fields):
            vals = sorted({_s(x.output_fields.get(k)) if k in x.output_fields else "<not in output>"
                           for x in alerts})
            parts.append(f"{k}={'|'.join(vals) if vals else '?'}")
        for s in e.output_contains:
            if a is not None:
                ok = all(s in x.output for x in alerts)
                parts.append(f"output~{s!r}" if ok else f"output!~{s!r}")
    return "  ".join(parts)


def _priority_name(p) -> str:
    from falco.rules import Priority
    try:
        name = Priority(int(p)).name
    except ValueError:
        return str(p)
    return "INFORMATIONAL" if name == "INFO" else name


def _prio_eq(want: str, got) -> bool:
    g = _priority_name(got)
    norm = {"INFO": "INFORMATIONAL"}
    return norm.get(want, want) == norm.get(g, g)


def compare(case: TestCase, alerts: list) -> CaseResult:
    by_rule: dict[str, list] = {}
    for a in alerts:
        by_rule.setdefault(a.rule, []).append(a)
    expected_lines, actual_lines, problems = [], [], []
    seen = set()
    for e in case.expect:
        seen.add(e.rule)
        got = by_rule.get(e.rule, [])
        expected_lines.append(_expect_line(e))
        shown = len(got)
        actual_lines.append(_alert_line(e.rule, shown, got, e))
        if e.count is None and not got:
            problems.append(f"'{e.rule}': expected at least one alert, got none")
        elif e.count is not None and len(got) != e.count:
            problems.append(f"'{e.rule}': expected {e.count} alert(s), got {len(got)}")
        for a in got:
            if e.priority and not _prio_eq(e.priority, a.priority):
                problems.append(f"'{e.rule}': priority {_priority_name(a.priority)}, "
                                f"expected {e.priority}")
            for k, want in e.output_fields.items():
                if k not in a.output_fields:
                    problems.append(f"'{e.rule}': field {k} is not in the rule's output")
                elif _s(a.output_fields[k]) != want:
                    problems.append(f"'{e.rule}': {k} is {_s(a.output_fields[k])!r}, "
                                    f"expected {want!r}")
            for s in e.output_contains:
                if s not in a.output:
                    problems.append(f"'{e.rule}': output does not contain {s!r}: {a.output}")
    for rule in sorted(by_rule):
        if rule not in seen:
            got = by_rule[rule]
            actual_lines.append(f"{rule} x{len(got)}")
            problems.append(f"'{rule}': unexpected alert(s) ({len(got)}): {got[0].output}")
    if not case.expect and not by_rule:
        expected_lines = actual_lines = ["(no alerts)"]
    elif not case.expect:
        expected_lines = ["(no alerts)"]
    if not problems:
        return CaseResult(case, PASS, alerts=alerts)
    diff = list(difflib.unified_diff(expected_lines, actual_lines, "expected", "actual",
                                     lineterm="", n=3))
    # Deduplicate messages (one per alert), keep order.
    uniq = list(dict.fromkeys(problems))
    return CaseResult(case, FAIL, "; ".join(uniq), diff, alerts)

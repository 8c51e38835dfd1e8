"""Falco's former end-to-end suite (../shared/compat/falco_legacy_tests*),
run through this project: how each record is classified and run.

Each record of `falco_legacy_tests.jsonl` is one test of Falco's old
python/avocado suite (Falco 0.2x-0.3x).  That suite ran the `falco` binary
and read its stdout/stderr; here the same inputs go through the library
(`load_rule_files`, `build_detector`, `open_capture`, the output
dispatcher), and the same expectations are checked on the results:

* `detect`: whether any alert is raised; `detect_level`: one alert at
  least at each of those priorities; `detect_counts`: alerts per rule name.
* `validate_rules_file`: errors/warnings (code, item type, item name).
* output records (`stdout_contains`, `output_strictly_contains`, JSON
  flags): the formatted lines the configured outputs write.

Semantics of the old suite that are restored here:

* Falco before 0.42 evaluated rules on syscall enter events too (the
  8 `open_from_cat` alerts on cat_write.scap are 4 opens, enter + exit):
  the rule engine is built with `syscall_enter_events=True`.
* rule_matching was always "first" (one alert per event, the first
  matching rule in load order).
* The default `priority` of the old falco.yaml was `debug`.

Records that need what this project does not have are `xfail` (not run)
with a reason naming the missing feature; see `unsupported()`.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from conftest import COMPAT

LEGACY = COMPAT / "falco_legacy_tests"
RECORDS_FILE = COMPAT / "falco_legacy_tests.jsonl"

# Warning codes renamed since the legacy suite was written.
CODE_ALIASES = {"LOAD_UNKNOWN_FIELD": "LOAD_UNKNOWN_FILTER"}


def records() -> list[dict]:
    if not RECORDS_FILE.exists():
        return []
    return [json.loads(line) for line in RECORDS_FILE.read_text().splitlines()
            if line.strip()]


def record_id(rec: dict) -> str:
    return f"{rec['suite'].removesuffix('.yaml')}:{rec['name']}"


def as_list(v) -> list:
    if v is None or v is False:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


# Drop-monitor records whose outcome is the runtime behaviour on drops.
DROP_RUNTIME = {"monitor_syscall_drops_none", "monitor_syscall_drops_ignore",
                "monitor_syscall_drops_log", "monitor_syscall_drops_alert",
                "monitor_syscall_drops_exit"}


# -- classification ----------------------------------------------------------------

# Records this project gets wrong today, each with the gap that causes it
# (strict xfails: fixing the gap turns the test red until it is removed).
KNOWN_GAPS = {
}

def unsupported(rec: dict) -> str | None:
    """Why this project cannot run `rec`, or None when it can."""
    suite = rec["suite"]
    if rec["name"] in KNOWN_GAPS:
        return KNOWN_GAPS[rec["name"]]
    if suite == "falco_k8s_audit_tests.yaml":
        return ("k8s audit event source (k8saudit plugin reading JSON audit events, "
                "ka.* fields, k8s_audit_rules.yaml) is not implemented")
    if suite == "falco_tests_plugins.yaml" and "validate_rules_file" not in rec:
        return ("plugins (plugin loading, --list-plugins, plugin event sources such "
                "as aws_cloudtrail, plugin API/version checks) are not implemented")
    if suite == "falco_tests_package.yaml" or rec.get("package"):
        return "runs Falco's docker packages (deb/rpm/tar.gz images), not this project"
    if rec.get("grpc"):
        return "gRPC output server (outputs.proto service) is not implemented"
    if "enable_source" in rec and rec["enable_source"] != "syscall":
        return f"event source {rec['enable_source']!r} is not implemented"
    trace = rec.get("trace_file")
    if trace and not rec.get("validate_rules_file") and not (LEGACY / trace).exists():
        return f"trace file {trace} (from Falco's build tree) is not in the compat data"
    return None


def kind(rec: dict) -> str:
    """validate | cli | config | drops | detect"""
    if rec["name"] in DROP_RUNTIME:
        return "drops"
    if "validate_rules_file" in rec:
        return "validate"
    if rec.get("run_tags") and (rec.get("disable_tags") or rec.get("disabled_rules")):
        return "cli"
    if rec.get("exit_status") == 1 and rec.get("conf_file"):
        return "config"
    return "detect"


@contextlib.contextmanager
def saved_logging(*names: str):
    """Put loggers back as they were (handlers, level, propagation): the
    CLI and configure_logging() reconfigure the process-wide `falco` logger."""
    saved = []
    for name in names:
        lg = logging.getLogger(name)
        saved.append((lg, list(lg.handlers), lg.level, lg.propagate))
    try:
        yield
    finally:
        for lg, handlers, level, propagate in saved:
            for h in list(lg.handlers):
                if h not in handlers:
                    lg.removeHandler(h)
                    h.close()
            for h in handlers:
                if h not in lg.handlers:
                    lg.addHandler(h)
            lg.setLevel(level)
            lg.propagate = propagate


# -- validation ----------------------------------------------------------------------

def diag_key(d) -> tuple[str, str, str]:
    if isinstance(d, dict):
        code = CODE_ALIASES.get(d["code"], d["code"])
        return code, d.get("item_type", ""), d.get("item_name", "")
    return d.code, d.item_type, d.item_name


def legacy_paths(rec: dict, key: str) -> list[Path]:
    return [LEGACY / p for p in as_list(rec.get(key))]


# -- detection -----------------------------------------------------------------------

@dataclass
class RunResult:
    alerts: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detector_warnings: list[str] = field(default_factory=list)
    stdout: str = ""
    by_rule: Counter = field(default_factory=Counter)
    by_priority: Counter = field(default_factory=Counter)


def load_config_for(rec: dict, tmp_path: Path):
    """The record's falco.yaml (or the packaged default), with the old
    suite's command-line switches applied and output files moved into
    `tmp_path`."""
    from falco.config import load_config, DEFAULT_CONFIG
    overrides = ["priority=debug", "rule_matching=first"]
    if rec.get("priority"):
        overrides.append(f"priority={rec['priority']}")
    if rec.get("json_output"):
        overrides.append("json_output=true")
    if rec.get("time_iso_8601"):
        overrides.append("time_format_iso_8601=true")
    for key in ("json_include_output_property", "json_include_tags_property"):
        if key in rec:
            overrides.append(f"{key}={str(rec[key]).lower()}")
    conf = LEGACY / rec["conf_file"] if rec.get("conf_file") else DEFAULT_CONFIG
    cfg = load_config(conf, overrides)
    if not rec.get("conf_file"):
        # the old suite's default: alerts on stdout only
        cfg.stdout_output.enabled = True
        cfg.file_output.enabled = False
        cfg.program_output.enabled = False
        cfg.syslog_output.enabled = False
        cfg.http_output.enabled = False
    if cfg.file_output.enabled:
        cfg.file_output.filename = str(tmp_path / Path(cfg.file_output.filename).name)
    if cfg.program_output.enabled:
        prog = cfg.program_output.program
        cfg.program_output.program = re.sub(r"/tmp/falco_outputs/", f"{tmp_path}/", prog)
    cfg.buffered_outputs = False
    return cfg


def rules_for(rec: dict) -> list[Path]:
    paths = legacy_paths(rec, "rules_file")
    if not paths:
        from falco.app import bundled_rules
        paths = [Path(p) for p in bundled_rules()]
    return paths


def run_detection(rec: dict, tmp_path: Path) -> RunResult:
    """Load the rules, replay the trace with enter events judged (legacy
    semantics), and send alerts through the configured outputs."""
    from falco.capture import open_capture
    from falco.outputs.dispatcher import OutputDispatcher
    from falco.pipeline import RuleSelection, build_detector
    from falco.rules import Priority, load_rule_files
    from falco_engine.runner import RuleEngine

    cfg = load_config_for(rec, tmp_path)
    loaded = load_rule_files(rules_for(rec))
    assert not loaded.errors, [str(e) for e in loaded.errors]
    selection = RuleSelection(Priority.parse(cfg.priority),
                              tuple(as_list(rec.get("disabled_rules"))),
                              tuple(as_list(rec.get("disable_tags"))),
                              tuple(as_list(rec.get("run_tags"))))
    detector = build_detector(loaded, selection, first_match=cfg.rule_matching == "first")
    detector.engine = RuleEngine(detector.rules, state=detector.state,
                                 first_match=cfg.rule_matching == "first",
                                 syscall_enter_events=True)
    res = RunResult(warnings=[str(w) for w in loaded.warnings] + list(detector.warnings),
                    detector_warnings=list(detector.warnings))
    stdout = io.StringIO()
    out = OutputDispatcher.from_config(cfg, stdout=stdout)
    out.hostname = "test-falco-hostname"
    out.start()
    try:
        with open_capture(LEGACY / rec["trace_file"]) as cap:
            detector.seed(cap.tables)
            for alert in detector.run(cap.batches()):
                res.alerts.append(alert)
                out.submit(alert)
    finally:
        out.close()
    res.stdout = stdout.getvalue()
    res.by_rule = Counter(a.rule for a in res.alerts)
    res.by_priority = Counter(a.priority for a in res.alerts)
    return res


def level_number(name: str) -> int:
    from falco.rules import Priority
    p = Priority.parse(name)
    assert p is not None, name
    return int(p)

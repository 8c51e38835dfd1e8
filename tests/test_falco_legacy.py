"""Falco's former end-to-end suite (214 records of
../shared/compat/falco_legacy_tests.jsonl) run through this project.

Every record is a test: it passes, fails (a difference from Falco), or is
xfail (not run) naming the feature this project lacks.  How records are
run and which legacy semantics are restored: see tests/legacy_suite.py.
"""
from __future__ import annotations

import io
import json
import re
from collections import Counter

import pytest

import legacy_suite as L

RECORDS = L.records()


def _params():
    out = []
    for rec in RECORDS:
        reason = L.unsupported(rec)
        # Missing features are not run; known gaps run, and a fixed gap
        # fails the suite (strict) until it leaves KNOWN_GAPS.
        run = rec["name"] in L.KNOWN_GAPS
        marks = [pytest.mark.xfail(reason=reason, run=run, strict=True)] if reason else []
        out.append(pytest.param(rec, id=L.record_id(rec), marks=marks))
    return out


def test_suite_present():
    if not L.RECORDS_FILE.exists():
        pytest.skip(f"reference data {L.RECORDS_FILE} is absent (../shared/compat not mounted)")
    assert len(RECORDS) == 214
    ids = [L.record_id(r) for r in RECORDS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rec", _params())
def test_legacy(rec: dict, tmp_path):
    kind = L.kind(rec)
    if kind == "validate":
        check_validate(rec)
    elif kind == "cli":
        check_cli(rec)
    elif kind == "config":
        check_config_error(rec)
    elif kind == "drops":
        from test_drops_replay import check_drop_runtime
        check_drop_runtime(rec)
    else:
        check_detect(rec, tmp_path)


# -- rules validation (falco -V) -----------------------------------------------------

def check_validate(rec: dict) -> None:
    from falco.pipeline import build_detector
    from falco.rules import load_rule_files

    for name in L.as_list(rec.get("validate_ok")):
        alone = load_rule_files([L.LEGACY / "rules" / name])
        assert not alone.errors, f"{name} alone must load: {[str(e) for e in alone.errors]}"

    res = load_rule_files(L.legacy_paths(rec, "validate_rules_file"))
    got_err = [L.diag_key(d) for d in res.errors]
    want_err = [L.diag_key(d) for d in rec.get("validate_errors", [])]
    detector_warnings = []
    if not res.errors:
        # Falco -V also compiles outputs: what build_detector reports
        detector_warnings = build_detector(res).warnings
    detail = (f"errors={[str(e) for e in res.errors]} "
              f"warnings={[str(w) for w in res.warnings]} detector={detector_warnings}")
    assert got_err == want_err, detail
    if rec.get("exit_status") == 1:
        assert res.errors, detail

    want_warn = {L.diag_key(d) for d in rec.get("validate_warnings", [])}
    got_warn = {L.diag_key(d) for d in res.warnings}
    assert want_warn <= got_warn, f"missing warnings {sorted(want_warn - got_warn)}; {detail}"
    # for the codes the record names, no extra items either
    codes = {k[0] for k in want_warn}
    extra = {k for k in got_warn if k[0] in codes} - want_warn
    assert not extra, f"unexpected warnings {sorted(extra)}; {detail}"

    # rules_events: the event types each rule is indexed under.  An explicit
    # set must match exactly.  "all" is what Falco 0.2x's Lua resolver said
    # whenever a `not`/`!=` came before an evt.type test, even for
    # `proc.name!=foo and evt.type=execve`; Falco's libsinsp resolver (and
    # this project) narrows those to the types that can match, and warns
    # (LOAD_NO_EVTTYPE, checked above) only for rules truly on every type.
    # So for "all": every type that the rule's own evt.type tests name is in
    # the index, and the rule is unindexed exactly when it is warned about.
    by_name = {r.name: r for r in res.rules}
    no_evttype = {k[2] for k in got_warn if k[0] == "LOAD_NO_EVTTYPE"}
    for entry in rec.get("rules_events", []):
        for rule, events in entry.items():
            assert rule in by_name, f"rule {rule} not loaded"
            got = by_name[rule].evttypes
            if events != ["all"]:
                got = {"all"} if got is None else set(got)
                assert got == set(events), f"event types of {rule}: got {sorted(got)}, want {events}"
                continue
            if got is None:
                assert rule in no_evttype, f"{rule} is on every event type but not warned about"
                continue
            names = set()
            for eq, inlist in re.findall(r"evt\.type\s*=\s*(\w+)|evt\.type\s+in\s*\(([^)]*)\)",
                                         by_name[rule].condition_text):
                names.update(n.strip() for n in (eq or inlist).split(",") if n.strip())
            assert names, f"{rule}: no evt.type test found in {by_name[rule].condition_text!r}"
            assert names <= set(got), f"{rule}: indexed under {sorted(got)}, misses {names - set(got)}"
            assert rule not in no_evttype, f"{rule} warned as all types but indexed {sorted(got)}"


# -- command line checks --------------------------------------------------------------

def check_cli(rec: dict) -> None:
    from click.testing import CliRunner
    from falco.cli import main

    args = ["run", "-e", str(L.LEGACY / rec["trace_file"])]
    for p in L.legacy_paths(rec, "rules_file"):
        args += ["-r", str(p)]
    for t in L.as_list(rec.get("disable_tags")):
        args += ["-T", t]
    for d in L.as_list(rec.get("disabled_rules")):
        args += ["-D", d]
    for t in L.as_list(rec.get("run_tags")):
        args += ["-t", t]
    with L.saved_logging("falco"):
        result = CliRunner().invoke(main, args)
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert result.exit_code == rec.get("exit_status", 0), \
        f"`falco {' '.join(args)}` exited {result.exit_code}: {err[-500:]}"
    for pat in L.as_list(rec.get("stderr_contains")):
        # Our CLI writes "falco: error: ..." where Falco writes "Error: ...":
        # the message is what is compared, not the prefix's capital.
        assert re.search(pat, err, re.IGNORECASE), f"stderr lacks /{pat}/: {err[-500:]}"


# -- falco.yaml errors ----------------------------------------------------------------

def check_config_error(rec: dict) -> None:
    from falco.config import ConfigError, load_config

    with pytest.raises(ConfigError):
        load_config(L.LEGACY / rec["conf_file"])


# -- detections and outputs ----------------------------------------------------------

def check_detect(rec: dict, tmp_path) -> None:
    res = L.run_detection(rec, tmp_path)
    summary = (f"{len(res.alerts)} alerts: {dict(res.by_rule)}; "
               f"warnings: {res.warnings[:5]}")

    if rec["name"] == "builtin_rules_no_warnings":
        assert not res.warnings, summary
    # every selected rule compiled, and no field of theirs reads as <NA> for
    # want of an extractor: otherwise "no detection" would pass vacuously
    assert not res.detector_warnings, summary

    if "detect" in rec:
        if rec["detect"]:
            assert res.alerts, f"expected detections, got none; {summary}"
            for level in L.as_list(rec.get("detect_level")):
                n = L.level_number(level)
                assert res.by_priority[n] > 0, f"no alert at level {level}; {summary}"
        else:
            assert not res.alerts, f"expected no detections; {summary}"

    want = Counter()
    for entry in rec.get("detect_counts", []):
        want.update(entry)
    for rule, n in want.items():
        assert res.by_rule[rule] == n, f"rule {rule!r}: {res.by_rule[rule]} alerts, want {n}; {summary}"

    for pat in L.as_list(rec.get("stdout_contains")):
        assert re.search(pat, res.stdout), f"stdout lacks /{pat}/:\n{res.stdout[:1500]}"
    for pat in L.as_list(rec.get("stdout_not_contains")):
        assert not re.search(pat, res.stdout), f"stdout has /{pat}/"

    for entry in rec.get("output_strictly_contains", []):
        for dest, expected_file in entry.items():
            if dest == "stdout":
                actual = res.stdout
            else:
                path = tmp_path / dest.rsplit("/", 1)[-1]
                assert path.exists(), f"output file {dest} was not written"
                actual = path.read_text()
            expected = (L.LEGACY / expected_file).read_text()
            check_strictly_contains(expected, actual, bool(rec.get("json_output")))

    if rec.get("time_iso_8601") and rec.get("stderr_contains"):
        # Falco's own log lines (stderr) carry ISO 8601 times too
        from falco.config import configure_logging
        cfg = L.load_config_for(rec, tmp_path)
        cfg.log_stderr = True
        stream = io.StringIO()
        with L.saved_logging("falco.legacy_test"):
            log = configure_logging(cfg, stream=stream, logger_name="falco.legacy_test")
            log.warning("Falco initialized")
        for pat in L.as_list(rec["stderr_contains"]):
            assert re.search(pat, stream.getvalue()), \
                f"log line {stream.getvalue()!r} lacks /{pat}/"

    # the one warning that legacy Falco printed for rules on ignored
    # syscalls (rules_warning) was removed with the old -A semantics: the
    # record's counts above are what is comparable.


def check_strictly_contains(expected: str, actual: str, as_json: bool) -> None:
    """Every expected line appears in the output (JSON: as an object)."""
    actual_lines = [l for l in actual.splitlines() if l.strip()]
    if as_json:
        got = [json.loads(l) for l in actual_lines]
        for line in expected.splitlines():
            if line.strip():
                want = json.loads(line)
                assert want in got, f"missing JSON alert {want}\nin\n{got[:3]}"
    else:
        for line in expected.splitlines():
            if line.strip():
                assert line in actual_lines, f"missing line {line!r}\nin\n{actual_lines[:10]}"

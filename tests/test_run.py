"""`falco run`: rules in, alerts out, on a real capture."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import compat_path

RULE = """
- rule: Read below etc
  desc: a test rule reading /etc
  condition: evt.type in (open, openat) and evt.dir = < and evt.arg.name startswith /etc
  output: "opened %evt.arg.name (flags=%evt.arg.flags res=%evt.rawres missing=%evt.arg.nosuch)"
  priority: WARNING
  tags: [filesystem, T1005]
- rule: Never
  desc: a test rule that never matches
  condition: evt.type = open and evt.num < 0
  output: never
  priority: DEBUG
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE)
    cap = compat_path("captures", "falco", "cat_write.scap")
    return subprocess.run([sys.executable, "-m", "falco", "run", "-e", str(cap),
                           "-r", str(rules), *args],
                          capture_output=True, text=True, timeout=120)


def test_text_alert(tmp_path: Path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["16:17:57.881785348: Warning opened /etc/ld.so.cache "
                     "(flags=4097(O_RDONLY|O_CLOEXEC) res=3 missing=<NA>)"]
    assert "345 events, 1 alerts" in proc.stderr


def test_json_alert_schema(tmp_path: Path):
    proc = _run(tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    alert = json.loads(proc.stdout.splitlines()[0])
    assert set(alert) == {"hostname", "output", "output_fields", "priority", "rule",
                          "source", "tags", "time"}
    assert alert["rule"] == "Read below etc"
    assert alert["priority"] == "Warning"
    assert alert["source"] == "syscall"
    assert alert["tags"] == ["T1005", "filesystem"]
    assert alert["time"] == "2016-08-04T16:17:57.881785348Z"
    assert alert["output_fields"] == {"evt.arg.name": "/etc/ld.so.cache",
                                      "evt.arg.flags": "4097(O_RDONLY|O_CLOEXEC)",
                                      "evt.rawres": 3, "evt.arg.nosuch": None,
                                      "evt.time": 1470327477881785348}


def test_priority_and_disable(tmp_path: Path):
    assert _run(tmp_path, "--priority", "error").stdout == ""
    assert _run(tmp_path, "-D", "below etc").stdout == ""
    assert _run(tmp_path, "-T", "filesystem").stdout == ""
    assert _run(tmp_path, "-t", "filesystem").stdout.count("\n") == 1


def test_bad_rules_exit_1(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: x\n  desc: d\n  condition: proc.nmae = bash\n"
                   "  output: o\n  priority: INFO\n")
    cap = compat_path("captures", "falco", "cat_write.scap")
    proc = subprocess.run([sys.executable, "-m", "falco", "run", "-e", str(cap),
                           "-r", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    err = [l for l in proc.stderr.splitlines() if l.startswith("falco: error:")]
    assert len(err) == 1 and f"{bad}:3:" in err[0] and "proc.nmae" in err[0]


def test_bundled_sample_capture(tmp_path: Path):
    """The sample capture shipped in the package holds the scenario it says."""
    sample = Path(__file__).resolve().parents[1] / "falco" / "data" / "sample.scap"
    rules = tmp_path / "rules.yaml"
    rules.write_text("""
- rule: Shadow opened
  desc: test rule
  condition: evt.type in (open, openat) and evt.dir = < and evt.arg.name = /etc/shadow
  output: "shadow opened by tid %evt.arg.fd"
  priority: WARNING
- rule: Outbound connect
  desc: test rule
  condition: evt.type = connect and evt.dir = < and evt.arg.tuple contains "->10.255.255.1:443"
  output: "connect %evt.arg.tuple"
  priority: NOTICE
""")
    proc = subprocess.run([sys.executable, "-m", "falco", "run", "-e", str(sample),
                           "-r", str(rules)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Warning shadow opened") == 1
    assert proc.stdout.count("Notice connect ") == 1


def test_config_overrides_and_dry_run(tmp_path: Path):
    proc = _run(tmp_path, "-o", "json_output=true", "-o", "syslog_output.enabled=false")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["rule"] == "Read below etc"
    dry = _run(tmp_path, "--dry-run")
    assert dry.returncode == 0 and dry.stdout == ""
    assert "2 rules loaded" in dry.stderr


def test_bad_config_key_is_one_line(tmp_path: Path):
    proc = _run(tmp_path, "-o", "outputs.rate=fast")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    err = [l for l in proc.stderr.splitlines() if l.startswith("falco: error:")]
    assert len(err) == 1 and "outputs.rate" in err[0]


def test_file_output(tmp_path: Path):
    dest = tmp_path / "alerts.txt"
    proc = _run(tmp_path, "-o", "file_output.enabled=true",
                "-o", f"file_output.filename={dest}", "-o", "stdout_output.enabled=false",
                "-o", "syslog_output.enabled=false")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "Warning opened /etc/ld.so.cache" in dest.read_text()


def test_rules_writable_by_others_are_refused(tmp_path: Path):
    import os

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE)
    os.chmod(rules, 0o666)
    cap = compat_path("captures", "falco", "cat_write.scap")
    args = [sys.executable, "-m", "falco", "run", "-e", str(cap), "-r", str(rules),
            "-o", "syslog_output.enabled=false"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    err = [l for l in proc.stderr.splitlines() if l.startswith("falco: error:")]
    assert len(err) == 1 and f"refusing {rules}" in err[0] and "writable" in err[0]
    assert proc.stdout == ""
    ok = subprocess.run(args + ["--allow-insecure-files"], capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0 and "Warning opened /etc/ld.so.cache" in ok.stdout
    assert "allowed by --allow-insecure-files" in ok.stderr


def test_profile_rules_counts_evaluations_and_matches(tmp_path: Path):
    """--profile-rules: cat_write has four open exits.  "Read below etc" is
    evaluated on each and matches one; "Never" (indexed under open too) is
    not evaluated on the event the first rule matched (first match wins)."""
    proc = _run(tmp_path, "--profile-rules")
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stderr.splitlines():
        line = line.removeprefix("falco: ").strip()
        for name in ("Read below etc", "Never"):
            if line.startswith(name + " ") and line[len(name):].split()[0].isdigit():
                rows[name] = [int(v) for v in line[len(name):].split()[:2]]
    assert rows == {"Read below etc": [4, 1], "Never": [3, 0]}

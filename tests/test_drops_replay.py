"""syscall_event_drops on a capture replay: Falco's legacy drop-monitor
records (legacy_suite.DROP_RUNTIME) run as the old suite ran them, through
`falco run -e TRACE -r RULES -c CONF`, checking exit status, stderr and
stdout.  Their confs set `simulate_drops: true`, so each check (on event
time, once a second) fakes one drop and the configured actions run."""
from __future__ import annotations

import io
import json
import re

import pytest

import legacy_suite as L

RECORDS = [r for r in L.records() if r["name"] in L.DROP_RUNTIME]


def test_records_present():
    if not L.RECORDS_FILE.exists():
        pytest.skip(f"reference data {L.RECORDS_FILE} is absent")
    assert {r["name"] for r in RECORDS} == L.DROP_RUNTIME


def check_drop_runtime(rec: dict) -> None:
    """Run one DROP_RUNTIME record the way Falco's old suite did: the CLI
    on the trace with the record's conf, then exit status, stderr, stdout.
    (tests/test_falco_legacy.py runs every DROP_RUNTIME record through it.)"""
    from click.testing import CliRunner

    from falco.cli import main

    args = ["run", "-e", str(L.LEGACY / rec["trace_file"]),
            "-c", str(L.LEGACY / rec["conf_file"])]
    for p in L.legacy_paths(rec, "rules_file"):
        args += ["-r", str(p)]
    with L.saved_logging("falco"):
        result = CliRunner().invoke(main, args)
    out, err = result.stdout, result.stderr
    assert result.exit_code == rec.get("exit_status", 0), \
        f"`falco {' '.join(args)}` exited {result.exit_code}: {err[-800:]}"
    for pat in L.as_list(rec.get("stderr_contains")):
        assert re.search(pat, err), f"stderr lacks /{pat}/: {err[-800:]}"
    for pat in L.as_list(rec.get("stderr_not_contains")):
        assert not re.search(pat, err), f"stderr has /{pat}/"
    for pat in L.as_list(rec.get("stdout_contains")):
        assert re.search(pat, out), f"stdout lacks /{pat}/: {out[-800:]}"
    for pat in L.as_list(rec.get("stdout_not_contains")):
        assert not re.search(pat, out), f"stdout has /{pat}/"


def test_alert_action_fields_on_replay():
    """The alert action's internal alerts, one per check, with Falco's fields."""
    from falco.capture import open_capture
    from falco.config import load_config
    from falco.drops import RULE, ReplayDrops
    from falco.outputs import OutputDispatcher
    from falco.outputs.stdout import StdoutChannel

    cfg = load_config(L.LEGACY / "confs" / "drops_alert.yaml")
    buf = io.StringIO()
    out = OutputDispatcher([StdoutChannel(buf)], json_output=True, hostname="h")
    drops = ReplayDrops(cfg.syscall_event_drops, out)
    with open_capture(L.LEGACY / "trace_files" / "ping_sendto.scap") as cap:
        events = sum(len(b) for b in drops.watch(cap.batches()))
    out.close()
    alerts = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert events == 1526 and len(alerts) == 9
    assert {a["rule"] for a in alerts} == {RULE}
    assert alerts[0]["output_fields"]["n_drops"] == "1"
    assert alerts[0]["output_fields"]["ebpf_enabled"] == "0"

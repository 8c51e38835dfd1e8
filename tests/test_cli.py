"""The inspection commands, through click's CliRunner."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from falco.cli import main

RULES = Path(__file__).resolve().parents[1] / "rules"


def test_validate_ok_and_json():
    res = CliRunner().invoke(main, ["validate", "-r", str(RULES / "falco_rules.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ok"] is True and out["errors"] == [] and out["rules"] >= 25


def test_validate_error_names_file_line_column(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: x\n  desc: d\n  condition: proc.nmae = x\n  output: o\n"
                   "  priority: INFO\n")
    res = CliRunner().invoke(main, ["validate", "-r", str(bad)])
    assert res.exit_code == 1
    assert f"error: {bad}:3:" in res.stderr and "did you mean 'proc.name'" in res.stderr
    assert "Invalid" in res.stdout


def test_list_fields_json():
    res = CliRunner().invoke(main, ["list-fields", "--json"])
    assert res.exit_code == 0
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["proc.name"]["type"] == "CHARBUF" and rows["proc.name"]["supported"]
    assert rows["fd.sip"]["type"] == "IPADDR"
    assert rows["evt.rawres"]["supported"]
    # fields no extractor answers are said to be so, not hidden
    assert any(not r["supported"] for r in rows.values())


def test_list_events():
    res = CliRunner().invoke(main, ["list-events", "--json"])
    assert res.exit_code == 0
    events = json.loads(res.stdout)
    opens = [e for e in events if e["name"] == "openat" and e["dir"] == "<"]
    assert any([p["name"] for p in e["params"]][:3] == ["fd", "dirfd", "name"] for e in opens)

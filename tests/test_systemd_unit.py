"""The systemd unit runs `falco run` and reloads with SIGHUP."""
from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "scripts" / "systemd" / "falco.service"


def test_unit_runs_falco_and_reloads_with_sighup():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(UNIT)
    service = unit["Service"]
    assert service["ExecStart"].split()[1:] == ["run"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_unit_verifies():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    proc = subprocess.run([exe, "verify", str(UNIT)], capture_output=True, text=True)
    # The unit names /usr/local/bin/falco, which a test machine may lack.
    errors = [l for l in proc.stderr.splitlines()
              if l.strip() and "/usr/local/bin/falco" not in l and "Documentation" not in l]
    assert not errors, proc.stderr

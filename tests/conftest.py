"""Shared fixtures: where the reference data lives, and the reference tool."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_compat() -> Path:
    """The shared reference data: $FALCO_COMPAT_DIR, else ../shared/compat
    next to the checkout, else the workspace's /work/shared/compat."""
    candidates = [os.environ.get("FALCO_COMPAT_DIR"),
                  REPO.parent / "shared" / "compat", "/work/shared/compat"]
    for cand in candidates:
        if cand and Path(cand).is_dir():
            return Path(cand)
    return REPO.parent / "shared" / "compat"


COMPAT = _find_compat()
CAPTURES = COMPAT / "captures"


def compat_path(*parts: str) -> Path:
    """A file of ../shared/compat, or skip the test saying what is missing."""
    path = COMPAT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (../shared/compat not mounted)")
    return path


def all_captures() -> list[Path]:
    return sorted(CAPTURES.glob("*/*.scap")) if CAPTURES.is_dir() else []


def capture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def oracle_records() -> list[dict]:
    path = COMPAT / "sysdig_oracle.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def sysdig() -> str:
    """Path of Debian's sysdig, the reference reader (skip when absent)."""
    exe = shutil.which("sysdig")
    if exe is None:
        pytest.skip("Debian's sysdig is not installed (apt-get install --no-install-recommends sysdig)")
    return exe


def run_sysdig(exe: str, capture: Path, *args: str) -> list[str]:
    proc = subprocess.run([exe, "-r", str(capture), *args], capture_output=True,
                          text=True, errors="surrogateescape", timeout=300)
    return proc.stdout.splitlines()

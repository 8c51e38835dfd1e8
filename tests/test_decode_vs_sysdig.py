"""Per-event fields and parameters, decoded here, against sysdig's reading."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import all_captures, capture_id, run_sysdig
from falco.capture import open_capture
from falco.printer import format_time
from falco_engine import params, table
from sysdig_view import sysdig_type_name, sysdig_view

READABLE = [p for p in all_captures() if p.name != "curl_google_comments.scap"]
SEP = " |#| "
HEAD = "*%evt.num %evt.rawtime %evt.cpu %thread.tid %evt.dir %evt.type"

# Parameters whose text needs state (the fd's name, the pid's command,
# the cwd behind a relative path, fd types in poll lists): compared by the
# state tests, not here.
STATEFUL = {params.PT_FD, params.PT_PID, params.PT_FDLIST, params.PT_FSRELPATH,
            params.PT_UID, params.PT_GID}

# Parameters whose type changed in the event table after March 2022: the
# current table's reading is right, sysdig 0.29.3 reads them the old way.
RETYPED_SINCE_0_29 = {("futex", "val")}   # was INT64, is UINT64


def _events(path: Path):
    with open_capture(path) as cap:
        return [e for b in cap.batches() for e in b]


def sysdig_args(sysdig: str, path: Path) -> dict[int, str]:
    """evt.num -> %evt.args as sysdig prints it (values may hold newlines)."""
    out: dict[int, str] = {}
    last = None
    for line in run_sysdig(sysdig, path, "-p", "*%evt.num" + SEP + "%evt.args"):
        head = re.match(r"(\d+)" + re.escape(SEP), line)
        if head:
            last = int(head.group(1))
            out[last] = line[head.end():]
        elif last is not None:
            out[last] += "\n" + line
    # sysdig ends every argument list with one space.
    return {k: v[:-1] if v.endswith(" ") else v for k, v in out.items()}


def _split_args(text: str, names: list[str]) -> dict[str, str]:
    """Cut sysdig's 'a=1 b=x y c=2' at the known parameter names, in order."""
    out: dict[str, str] = {}
    pos = 0
    for i, name in enumerate(names):
        key = f"{name}="
        if not text.startswith(key, pos):
            break
        start = pos + len(key)
        end = len(text)
        for nxt in names[i + 1:]:
            found = text.find(f" {nxt}=", start)
            if found >= 0:
                end = found
                break
        out[name] = text[start:end]
        pos = end + 1
    return out


@pytest.mark.sysdig
@pytest.mark.parametrize("path", READABLE, ids=capture_id)
def test_headers_match_sysdig(sysdig: str, path: Path):
    lines = run_sysdig(sysdig, path, "-p", HEAD)
    ours = [f"{num} {e.ts} {e.cpu} {e.tid} {e.dir} {sysdig_type_name(e)}"
            for num, e in sysdig_view(_events(path))]
    assert ours == lines


@pytest.mark.sysdig
@pytest.mark.parametrize("path", READABLE, ids=capture_id)
def test_params_match_sysdig(sysdig: str, path: Path):
    theirs = sysdig_args(sysdig, path)
    compared = 0
    mismatches = []
    for num, ev in sysdig_view(_events(path)):
        if ev.type <= 1:
            continue                    # generic events print no args
        info = table.EVENTS[ev.type]
        pinfos = info.params[:ev.nparams]
        got = _split_args(theirs.get(num, ""), [p.name for p in pinfos])
        for i, pinfo in enumerate(pinfos):
            if pinfo.type in STATEFUL or pinfo.name not in got \
                    or (info.name, pinfo.name) in RETYPED_SINCE_0_29:
                continue
            raw = ev.param(i)
            want = got[pinfo.name]
            mine = params.render(pinfo, raw, ev.tid)
            if pinfo.type == params.PT_FSPATH and not want.startswith("/"):
                want = re.sub(r"\(/[^)]*\)$", "", want)   # cwd-resolved suffix
            compared += 1
            if mine != want:
                mismatches.append((num, info.name, pinfo.name, mine, want))
    # empty.scap holds only internal events: nothing for sysdig to print.
    assert compared > 0 or not theirs
    assert not mismatches, mismatches[:20]


def test_event_time_format():
    assert format_time(1_500_000_000_123_456_789).endswith(".123456789")


@pytest.mark.sysdig
@pytest.mark.parametrize("name", ["falco/cat_write.scap", "falco/connect_localhost.scap",
                                  "falco/ping_sendto.scap", "falco/syscall.scap"])
def test_events_command_prints_what_sysdig_prints(sysdig: str, name: str):
    """`falco events` with state: process names, fd names (with socket
    transports), pids with their commands, as `sysdig -r` prints them."""
    import subprocess
    import sys

    from conftest import compat_path

    path = compat_path("captures", *name.split("/"))
    ours = subprocess.run([sys.executable, "-m", "falco", "events", "-e", str(path)],
                          capture_output=True, text=True, timeout=120).stdout.splitlines()
    theirs = run_sysdig(sysdig, path)
    # The 2022 reference spells the generic unknown syscall "<unknown>".
    ours = [l.rstrip(" ").replace(" unknown", " <unknown>") if l.rstrip(" ").endswith(" unknown")
            else l.rstrip(" ") for l in ours]
    assert ours == [l.rstrip(" ") for l in theirs]

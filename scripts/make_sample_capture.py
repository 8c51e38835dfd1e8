#!/usr/bin/env python3
"""Record the bundled sample capture (falco/data/sample.scap) on this host.

Runs a short scripted scenario of suspicious behaviour under the live eBPF
driver and keeps only the scenario's own process tree: no other process of
the recording host, no environment variables, nothing from the user's
session ends up in the file.  Needs root and the built probe.

usage: sudo scripts/make_sample_capture.py [OUT]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from falco.capture.scap_writer import ScapWriter
from falco.capture.tables import CaptureTables
from falco.live.live_capture import LiveCapture
from falco.live.proc_scan import machine_info, users_and_groups
from falco_engine import table

OUT = Path(__file__).resolve().parents[1] / "falco" / "data" / "sample.scap"

# Each step is one suspicious behaviour the default rules should catch.
SCENARIO = r"""
cat /etc/shadow > /dev/null
sh -c 'id > /dev/null'
echo tampered > /dev/falco-sample-not-a-device; rm -f /dev/falco-sample-not-a-device
mkdir -p /tmp/falco-sample/bin && cp /bin/ls /tmp/falco-sample/bin/ls
touch /tmp/falco-sample/bin/tool && chmod u+s /tmp/falco-sample/bin/tool
ln -sf /etc/shadow /tmp/falco-sample/shadow-link
find /tmp/falco-sample -name 'id_rsa*' > /dev/null
cp "$(readlink -f /usr/bin/python3)" /tmp/falco-sample/bin/ls
/tmp/falco-sample/bin/ls -S -c 'import socket; s=socket.socket(); s.settimeout(0.2)
try: s.connect(("10.255.255.1", 443))
except OSError: pass' 2>/dev/null
rm -rf /tmp/falco-sample
"""

CLONE_EVENTS = {e.id for e in table.EVENTS
                if e.name in ("clone", "clone3", "fork", "vfork") and e.id % 2 == 1}


def _param(ev, name: str):
    for i, p in enumerate(table.EVENTS[ev.type].params[:ev.nparams]):
        if p.name == name:
            raw = ev.param(i)
            return int.from_bytes(raw, "little", signed=True) if raw else None
    return None


def _tree(batches, root: int) -> set[int]:
    """Every thread descended from `root`, from the clone exits (either
    side: the parent's carries the child's tid, the child's its parent)."""
    edges = []
    for b in batches:
        for ev in b:
            if ev.type in CLONE_EVENTS:
                res = _param(ev, "res")
                if res and res > 0:
                    edges.append((ev.tid, res))
                elif res == 0:
                    ptid = _param(ev, "ptid")
                    if ptid:
                        edges.append((ptid, ev.tid))
    tree = {root}
    grew = True
    while grew:
        grew = False
        for parent, child in edges:
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return tree


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    with LiveCapture(None) as live:
        env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C"}
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "scenario.sh"
            script.write_text(SCENARIO)
            shell = subprocess.Popen(["/bin/sh", str(script)], env=env, cwd="/")
            batches = []
            deadline = time.monotonic() + 10
            for batch in live.batches(duration=None):
                batches.append(batch)
                if shell.poll() is not None or time.monotonic() > deadline:
                    live.stop()
            shell.wait()
        root = shell.pid
    keep = _tree(batches, root)
    tables = CaptureTables(machine=machine_info())
    tables.machine.hostname = "falco-sample"
    users_and_groups(tables)
    n = 0
    with ScapWriter(out, tables, compress=True) as writer:
        for b in batches:
            for i, ev in enumerate(b):
                if ev.tid in keep:
                    n += writer.write_batch(b, i, i + 1)
    print(f"wrote {n} events of {len(keep)} threads to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

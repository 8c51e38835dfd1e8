"""`falco run` and `falco capture` on this host, live, with the eBPF driver."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from falco.capture import open_capture
from falco.live.proc_scan import snapshot
from falco_engine import table


def _param(ev, name: str) -> bytes | None:
    for i, p in enumerate(table.EVENTS[ev.type].params[:ev.nparams]):
        if p.name == name:
            return ev.param(i)
    return None

PROBE = Path(__file__).resolve().parents[1] / "falco" / "data" / "falco.bpf.o"

live = pytest.mark.skipif(
    os.geteuid() != 0 or not PROBE.exists() or not Path("/sys/kernel/btf/vmlinux").exists(),
    reason="live capture needs root, the built probe (make -C driver/bpf) and kernel BTF")

RULE = """
- rule: Shadow opened
  desc: test rule
  condition: evt.type in (open, openat, openat2) and evt.dir = < and evt.arg.name = /etc/shadow
  output: "shadow opened (name=%evt.arg.name res=%evt.res type=%evt.type)"
  priority: WARNING
"""


def test_proc_snapshot_knows_this_process():
    tables = snapshot()
    me = tables.threads[os.getpid()]
    assert me.pid == os.getpid() and me.ptid == os.getppid()
    assert me.exepath == os.path.realpath(sys.executable)
    assert me.cwd == os.getcwd()
    with open(__file__) as f:
        fds = tables.threads[os.getpid()].fds
        del f
    assert 0 in fds or 1 in fds or 2 in fds
    assert any(u.uid == 0 and u.name == "root" for u in tables.users)


@live
def test_live_run_alerts_on_shadow_read(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE)
    proc = subprocess.Popen([sys.executable, "-m", "falco", "run", "-r", str(rules),
                             "-M", "4"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)                          # probe loaded and attached
    with open("/etc/shadow", "rb"):
        pass
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "watching this host with the eBPF driver" in err
    lines = [l for l in out.splitlines() if "shadow opened" in l]
    assert lines, (out, err)
    assert "name=/etc/shadow res=SUCCESS type=openat" in lines[0]
    assert "0 dropped by the driver" in err


@live
def test_live_capture_reads_back(tmp_path: Path):
    out = tmp_path / "live.scap"
    proc = subprocess.Popen([sys.executable, "-m", "falco", "capture", "-w", str(out),
                             "-M", "3"], stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    marker = tmp_path / "marker-file"
    marker.write_text("x")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with open_capture(out) as cap:
        events = [e for b in cap.batches() for e in b]
        assert cap.tables.threads, "the /proc snapshot is written as the process list"
    want = str(marker).encode() + b"\0"
    opens = [e for e in events if e.name == "openat" and e.dir == "<"
             and _param(e, "name") == want]
    assert opens, "the marker file's open was recorded"


@live
def test_default_rules_catch_shadow_read_live(tmp_path: Path):
    """The README's main command, for real: bundled rules, live driver, full
    process state (the reader, its parent and its command line)."""
    proc = subprocess.Popen([sys.executable, "-m", "falco", "run", "-M", "5",
                             "-o", "syslog_output.enabled=false", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    subprocess.run(["cat", "/etc/shadow"], stdout=subprocess.DEVNULL, check=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    import json
    alerts = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    hits = [a for a in alerts if a["output_fields"].get("fd.name") == "/etc/shadow"
            and a["output_fields"].get("proc.name") == "cat"]
    assert hits, (out, err)
    fields = hits[0]["output_fields"]
    assert fields["user.name"] == "root"
    assert fields["proc.cmdline"] == "cat /etc/shadow"
    assert hits[0]["priority"] == "Warning"


@live
def test_sighup_reloads_rules_and_keeps_them_when_bad(tmp_path: Path):
    import signal

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE)
    proc = subprocess.Popen([sys.executable, "-m", "falco", "run", "-r", str(rules),
                             "-M", "12", "-o", "syslog_output.enabled=false",
                             "-o", "watch_config_files=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    # 1. A broken rules file: the running rules stay.
    rules.write_text("- rule: broken\n  desc: d\n  condition: proc.nmae = x\n"
                     "  output: o\n  priority: INFO\n")
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    with open("/etc/shadow", "rb"):
        pass
    time.sleep(1.5)
    # 2. A good new rules file replaces them, without restarting the driver.
    rules.write_text(RULE.replace("shadow opened", "shadow touched"))
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    with open("/etc/shadow", "rb"):
        pass
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "rules not reloaded, the running rules stay" in err and "proc.nmae" in err
    assert "reloaded 1 rules" in err
    assert "shadow opened" in out and "shadow touched" in out
    assert out.index("shadow opened") < out.index("shadow touched")


def test_ebpf_ring_layout_follows_falco_yaml():
    """engine.modern_ebpf as Falco reads it: presets 1..10 are 1 MiB
    doubling to 512 MiB per ring; cpus_for_each_buffer 0 is one ring for
    every CPU; anything else is a one-line error naming the key."""
    from falco.app import AppError, ebpf_ring_layout
    from falco.config import ModernEbpfEngine

    assert ebpf_ring_layout(ModernEbpfEngine()) == (8 << 20, 2)
    assert ebpf_ring_layout(ModernEbpfEngine(cpus_for_each_buffer=1,
                                             buf_size_preset=1)) == (1 << 20, 1)
    size, per_ring = ebpf_ring_layout(ModernEbpfEngine(cpus_for_each_buffer=0,
                                                       buf_size_preset=10))
    assert size == 512 << 20 and per_ring >= 4096
    with pytest.raises(AppError, match="engine.modern_ebpf.buf_size_preset: 11"):
        ebpf_ring_layout(ModernEbpfEngine(buf_size_preset=11))

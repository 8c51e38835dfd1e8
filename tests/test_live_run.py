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


@live
def test_executable_inode_fields_live(tmp_path: Path):
    """proc.exe_ino*, proc.pidns_init_start_ts and the two durations of a
    process that runs a freshly copied executable, recorded by the eBPF
    driver and read back through the state engine (libsinsp's semantics:
    a child outside a new pid namespace starts with the host's, taken as
    the boot time)."""
    import shutil
    from falco_engine import state_fields
    from falco_engine.state import StateEngine

    exe = tmp_path / "fresh-true"
    shutil.copy2("/bin/true", exe)          # its ctime is now: after boot
    st = os.stat(exe)
    out = tmp_path / "live.scap"
    proc = subprocess.Popen([sys.executable, "-m", "falco", "capture", "-w", str(out),
                             "-M", "4"], stderr=subprocess.PIPE, text=True)
    children = []
    for delay in (1.5, 0.7, 0.7):            # one of them once the probe is attached
        time.sleep(delay)
        child = os.fork()
        if child == 0:
            os.execv(str(exe), [str(exe)])
        os.waitpid(child, 0)
        children.append(child)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err

    names = ["proc.exe_ino", "proc.exe_ino.ctime", "proc.exe_ino.mtime",
             "proc.pidns_init_start_ts", "proc.exe_ino.ctime_duration_pidns_start",
             "proc.exe_ino.ctime_duration_proc_start"]
    extractors = [state_fields.make(n, None) for n in names]
    clone_ts, execs = {}, {}

    def collect(ctx):
        ev = ctx.event
        if ev.dir != "<":
            return
        if ev.name == "clone":
            # The child is made at the first of the two exits (the caller's
            # reports the child's tid).
            res = int.from_bytes(_param(ev, "res"), "little", signed=True)
            child = ev.tid if res == 0 else res
            if child in children:
                clone_ts.setdefault(child, ev.ts)
        elif ev.name == "execve" and ev.tid in children:
            execs[ev.tid] = [x.text(ctx) for x in extractors]

    engine = StateEngine()
    with open_capture(out) as cap:
        boot = cap.tables.machine.boot_ts_epoch
        engine.seed(cap.tables)
        for batch in cap.batches():
            engine.process_batch_debug(batch, collect)
    seen = [c for c in children if c in execs and c in clone_ts]
    assert seen, (children, execs, clone_ts)
    child = seen[-1]
    ino, ctime, mtime, pidns, after_pidns, to_clone = execs[child]
    assert int(ino) == st.st_ino
    assert int(ctime) == st.st_ctime_ns and int(mtime) == st.st_mtime_ns
    assert boot > 0 and int(pidns) == boot
    assert int(after_pidns) == st.st_ctime_ns - boot
    assert int(to_clone) == clone_ts[child] - st.st_ctime_ns


@live
def test_overlayfs_layers_live(tmp_path: Path):
    """fd.is_upper_layer / fd.is_lower_layer of files opened on an overlayfs
    mount (the eBPF driver's open flags): a file only in the lower layer,
    one in the upper layer, and one on a plain filesystem."""
    import ctypes
    from falco_engine import state_fields
    from falco_engine.state import StateEngine

    if "overlay" not in Path("/proc/filesystems").read_text():
        pytest.skip("this kernel has no overlayfs")
    lower, upper, work, merged = (tmp_path / d for d in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged):
        d.mkdir()
    (lower / "image-file").write_text("from the image")
    (upper / "new-file").write_text("written later")
    import shutil
    shutil.copy2("/bin/true", lower / "image-true")
    shutil.copy2("/bin/true", upper / "new-true")
    (tmp_path / "plain-file").write_text("no overlay")
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if libc.mount(b"overlay", str(merged).encode(), b"overlay", 0, opts) != 0:
        pytest.skip(f"cannot mount overlayfs: {os.strerror(ctypes.get_errno())}")
    try:
        out = tmp_path / "live.scap"
        proc = subprocess.Popen([sys.executable, "-m", "falco", "capture", "-w", str(out),
                                 "-M", "4"], stderr=subprocess.PIPE, text=True)
        for delay in (1.5, 0.7, 0.7):
            time.sleep(delay)
            for p in (merged / "image-file", merged / "new-file", tmp_path / "plain-file"):
                with open(p, "rb"):
                    pass
            for exe in (merged / "image-true", merged / "new-true"):
                child = os.fork()
                if child == 0:
                    os.execv(str(exe), [str(exe)])
                os.waitpid(child, 0)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        libc.umount2(str(merged).encode(), 0)

    upper_f = state_fields.make("fd.is_upper_layer", None)
    lower_f = state_fields.make("fd.is_lower_layer", None)
    name_f = state_fields.make("fd.name", None)
    ino_f = state_fields.make("fd.ino", None)
    inodes = {}
    exe_f = [state_fields.make(n, None) for n in
             ("proc.exepath", "proc.is_exe_upper_layer", "proc.is_exe_lower_layer")]
    seen, execs = {}, {}

    def collect(ctx):
        ev = ctx.event
        if ev.name in ("open", "openat", "openat2") and ev.dir == "<" \
                and ev.tid == os.getpid():
            seen[name_f.text(ctx)] = (upper_f.text(ctx), lower_f.text(ctx))
            inodes[name_f.text(ctx)] = ino_f.text(ctx)
        if ev.name == "execve" and ev.dir == "<":
            path, up, low = (f.text(ctx) for f in exe_f)
            execs[path] = (up, low)

    engine = StateEngine()
    with open_capture(out) as cap:
        engine.seed(cap.tables)
        for batch in cap.batches():
            engine.process_batch_debug(batch, collect)
    assert seen.get(str(merged / "image-file")) == ("false", "true"), seen
    assert seen.get(str(merged / "new-file")) == ("true", "false"), seen
    assert seen.get(str(tmp_path / "plain-file")) == ("false", "false"), seen
    plain = tmp_path / "plain-file"
    assert inodes[str(plain)] == str(os.stat(plain).st_ino)     # fd.ino
    # The executables: the image's own, and one added in the upper layer.
    assert execs.get(str(merged / "image-true")) == ("false", "true"), execs
    assert execs.get(str(merged / "new-true")) == ("true", "false"), execs

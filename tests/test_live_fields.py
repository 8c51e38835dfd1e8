"""Process fields the reference sysdig (0.29.3) does not know, on a real
process tree recorded live by the eBPF driver and read back through the
state engine.  Expected values come from how the tree was built and from
/proc while it ran, never from the engine.

The tree (each level a copied executable, so name, argv[0] and path
differ and name their level):

    lead   new session (sid = pgid = its pid), FIELDS_TOKEN in its env
     mid   new process group in lead's session; stdin a file, stdout a
           pipe, stderr /dev/null; starts leaf without FIELDS_TOKEN
      leaf (through setpriv: a known capability set) sleeps
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from falco.capture import open_capture
from falco_engine import state_fields, table

PROBE = Path(__file__).resolve().parents[1] / "falco" / "data" / "falco.bpf.o"
SETPRIV = shutil.which("setpriv")
CAPSH = shutil.which("capsh")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not PROBE.exists() or not Path("/sys/kernel/btf/vmlinux").exists()
    or not Path("/usr/bin/python3").exists() or SETPRIV is None or CAPSH is None,
    reason="needs root, kernel BTF, the built probe (make -C driver/bpf), "
           "/usr/bin/python3 (copied), setpriv and capsh (util-linux, libcap2-bin)")

# lead: argv = [lead-argv0, -c, LEAD, work, token]
LEAD = """import os, sys
env = {k: v for k, v in os.environ.items() if k != "FIELDS_TOKEN"}
pid = os.fork()
if pid == 0:
    os.execve(sys.argv[1] + "/mid", ["mid-argv0", "-c", open(sys.argv[1] + "/mid.py").read(), sys.argv[1]], env)
os.waitpid(pid, 0)
"""
# mid: argv = [mid-argv0, -c, MID, work]
MID = """import os, sys
w = sys.argv[1]
os.setpgid(0, 0)
os.dup2(os.open(w + "/in.txt", os.O_RDONLY), 0)
os.dup2(os.pipe()[1], 1)
os.dup2(os.open("/dev/null", os.O_WRONLY), 2)
pid = os.fork()
if pid == 0:
    os.execv("SETPRIV", ["setpriv", "--inh-caps=+net_raw",
             "--bounding-set=-all,+chown,+kill,+net_raw", w + "/leaf", "1.5", "0.25"])
open(w + "/leaf.pid", "w").write(str(pid))
os.waitpid(pid, 0)
"""

FIELDS = [
    "thread.tid", "proc.exe", "proc.exepath", "proc.name", "proc.cmdnargs", "proc.cmdlenargs",
    "proc.pexe", "proc.pexepath", "proc.aexe[1]", "proc.aexe[2]", "proc.aexepath[1]",
    "proc.aexepath[2]", "proc.acmdline[1]", "proc.acmdline[2]", "proc.aexe", "proc.aexepath",
    "proc.env[FIELDS_TOKEN]", "proc.aenv[FIELDS_TOKEN]", "proc.pvpid",
    "proc.sid", "proc.sname", "proc.sid.exe", "proc.sid.exepath", "proc.is_sid_leader",
    "proc.vpgid", "proc.vpgid.name", "proc.vpgid.exe", "proc.vpgid.exepath",
    "proc.is_vpgid_leader", "proc.pgid", "proc.pgid.name", "proc.pgid.exe",
    "proc.pgid.exepath", "proc.is_pgid_leader",
    "proc.stdin.type", "proc.stdin.name", "proc.stdout.type", "proc.stdout.name",
    "proc.stderr.type", "proc.stderr.name", "thread.nametid",
    "thread.cap_permitted", "thread.cap_inheritable", "thread.cap_effective",
    "proc.pid.ts", "proc.ppid.ts", "proc.ppid.duration", "proc.is_exe_from_memfd",
]


def _param(ev, name: str) -> bytes | None:
    for i, p in enumerate(table.EVENTS[ev.type].params[:ev.nparams]):
        if p.name == name:
            return ev.param(i)
    return None


def _caps_text(hexmask: str) -> str:
    """A /proc capability mask as the fields write it, decoded by capsh:
    upper-case names, lowest bit first, space separated."""
    out = subprocess.run([CAPSH, f"--decode={hexmask}"], capture_output=True, text=True,
                         check=True).stdout.strip()
    names = out.split("=", 1)[1] if "=" in out else ""
    return " ".join(n.upper() for n in names.split(",") if n)


def _proc_status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_process_tree_fields_live(tmp_path: Path):
    py = "/usr/bin/python3"
    for name in ("lead", "mid"):
        shutil.copy2(py, tmp_path / name)
    shutil.copy2(shutil.which("sleep"), tmp_path / "leaf")
    (tmp_path / "in.txt").write_text("input\n")
    (tmp_path / "mid.py").write_text(MID.replace("SETPRIV", SETPRIV))
    token = secrets.token_hex(6)
    out = tmp_path / "live.scap"
    cap = subprocess.Popen([sys.executable, "-m", "falco", "capture", "-w", str(out),
                            "-M", "6"], stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)                          # the probe loaded and attached
    lead = subprocess.Popen(["lead-argv0", "-c", LEAD, str(tmp_path), token],
                            executable=str(tmp_path / "lead"), start_new_session=True,
                            env=dict(os.environ, FIELDS_TOKEN=token))
    # While leaf sleeps: what the kernel says about it.
    pid_file = tmp_path / "leaf.pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "mid never started leaf"
        time.sleep(0.02)
    leaf = int(pid_file.read_text())
    while os.readlink(f"/proc/{leaf}/exe") != str(tmp_path / "leaf"):
        assert time.monotonic() < deadline, "leaf never ran"
        time.sleep(0.02)
    status = _proc_status(leaf)
    stat = Path(f"/proc/{leaf}/stat").read_text().rsplit(")", 1)[1].split()
    kernel_pgid, kernel_sid = int(stat[2]), int(stat[3])
    stdout_link = os.readlink(f"/proc/{leaf}/fd/1")
    mid = int(status["PPid"])
    assert lead.wait(timeout=30) == 0
    _, err = cap.communicate(timeout=60)
    assert cap.returncode == 0, err
    assert kernel_sid == lead.pid and kernel_pgid == mid
    assert stdout_link.startswith("pipe:[")

    from falco_engine.state import StateEngine
    extractors = [state_fields.make(*_split(n)) for n in FIELDS]
    clone_ts: dict[int, int] = {}
    rows: dict[int, list[tuple[bool, dict]]] = {}     # tid -> (is execve exit, fields)

    def collect(ctx):
        ev = ctx.event
        if ev.dir == "<" and ev.name in ("clone", "clone3", "fork", "vfork"):
            res = int.from_bytes(_param(ev, "res"), "little", signed=True)
            clone_ts.setdefault(ev.tid if res == 0 else res, ev.ts)
        if ev.tid not in (lead.pid, mid, leaf):
            return
        row = dict(zip(FIELDS, (x.text(ctx) for x in extractors)))
        row["ts"] = ev.ts
        rows.setdefault(ev.tid, []).append((ev.name == "execve" and ev.dir == "<", row))

    engine = StateEngine()
    with open_capture(out) as reader:
        engine.seed(reader.tables)
        for batch in reader.batches():
            engine.process_batch_debug(batch, collect)
    # Per process: its last execve exit (leaf's own, after setpriv's) and
    # the event after it.
    execs, later = {}, {}
    for tid, seen in rows.items():
        last = max((i for i, (is_exec, _) in enumerate(seen) if is_exec), default=None)
        if last is not None and last + 1 < len(seen):
            execs[tid], later[tid] = seen[last][1], seen[last + 1][1]
    assert {lead.pid, mid, leaf} <= execs.keys(), (lead.pid, mid, leaf, list(execs))
    lead_argv = ["-c", LEAD, str(tmp_path), token]
    mid_argv = ["-c", MID.replace("SETPRIV", SETPRIV), str(tmp_path)]

    f = execs[leaf]
    assert (f["proc.exe"], f["proc.exepath"], f["proc.name"]) == \
        (str(tmp_path / "leaf"), str(tmp_path / "leaf"), "leaf")
    # argv[1:] = ["1.5", "0.25"]: two arguments, 3 + 1 + 4 characters.
    assert (f["proc.cmdnargs"], f["proc.cmdlenargs"]) == ("2", "8")
    # Parent and ancestors: argv[0], path and command line of each level.
    assert (f["proc.pexe"], f["proc.pexepath"]) == ("mid-argv0", str(tmp_path / "mid"))
    assert (f["proc.aexe[1]"], f["proc.aexepath[1]"]) == ("mid-argv0", str(tmp_path / "mid"))
    assert (f["proc.aexe[2]"], f["proc.aexepath[2]"]) == ("lead-argv0", str(tmp_path / "lead"))
    assert f["proc.acmdline[1]"] == "mid " + " ".join(mid_argv)
    assert f["proc.acmdline[2]"] == "lead " + " ".join(lead_argv)
    # Without an index: every ancestor, parent first.
    assert f["proc.aexe"].startswith("(mid-argv0,lead-argv0,"), f["proc.aexe"]
    assert f["proc.aexepath"].startswith(f"({tmp_path}/mid,{tmp_path}/lead,"), \
        f["proc.aexepath"]
    # FIELDS_TOKEN is in lead's environment only: proc.aenv finds it there.
    assert (f["proc.env[FIELDS_TOKEN]"], f["proc.aenv[FIELDS_TOKEN]"]) == ("<NA>", token)
    assert f["proc.pvpid"] == str(mid)             # no pid namespace: vpid = pid
    # Session: lead's; process group: mid's (both as /proc/<leaf>/stat says).
    assert (f["proc.sid"], f["proc.sname"], f["proc.sid.exe"], f["proc.sid.exepath"],
            f["proc.is_sid_leader"]) == \
        (str(kernel_sid), "lead", "lead-argv0", str(tmp_path / "lead"), "false")
    for group in ("vpgid", "pgid"):          # the same on the host
        assert (f[f"proc.{group}"], f[f"proc.{group}.name"], f[f"proc.{group}.exe"],
                f[f"proc.{group}.exepath"], f[f"proc.is_{group}_leader"]) == \
            (str(kernel_pgid), "mid", "mid-argv0", str(tmp_path / "mid"), "false")
    # The standard streams mid set up before starting leaf.
    assert (f["proc.stdin.type"], f["proc.stdin.name"]) == ("file", str(tmp_path / "in.txt"))
    # A pipe made while the driver watched has no name (sysdig 0.29.3 shows
    # pipe() fds as "<p>" too, e.g. event 1745 of run_as_user_0_container;
    # only a /proc snapshot names one "pipe:[ino]").
    assert (f["proc.stdout.type"], f["proc.stdout.name"]) == ("pipe", "")
    assert (f["proc.stderr.type"], f["proc.stderr.name"]) == ("file", "/dev/null")
    assert f["thread.nametid"] == f"leaf{leaf}"
    # Capabilities after setpriv's exec, as the kernel reported them.
    assert f["thread.cap_inheritable"] == _caps_text(status["CapInh"]) == "CAP_NET_RAW"
    assert f["thread.cap_permitted"] == _caps_text(status["CapPrm"]) == \
        "CAP_CHOWN CAP_KILL CAP_NET_RAW"
    assert f["thread.cap_effective"] == _caps_text(status["CapEff"])
    assert f["proc.is_exe_from_memfd"] == "false"
    # Start times: the clone exits that made leaf and mid.
    assert int(f["proc.pid.ts"]) == clone_ts[leaf]
    assert int(f["proc.ppid.ts"]) == clone_ts[mid]
    assert int(f["proc.ppid.duration"]) == f["ts"] - clone_ts[mid]
    g = later[leaf]
    assert int(g["proc.ppid.duration"]) == g["ts"] - clone_ts[mid] > int(f["proc.ppid.duration"])

    # Leaders: lead leads its session and group, mid its group only.
    m = execs[mid]
    assert (m["proc.is_sid_leader"], m["proc.is_vpgid_leader"], m["proc.is_pgid_leader"]) == \
        ("false", "false", "false")          # (at its execve: setpgid comes later)
    m = later[mid]
    assert m["proc.sname"] == "lead" and m["proc.sid.exe"] == "lead-argv0"
    ld = execs[lead.pid]
    assert (ld["proc.is_sid_leader"], ld["proc.is_vpgid_leader"],
            ld["proc.is_pgid_leader"]) == ("true", "true", "true")
    assert ld["proc.aenv[FIELDS_TOKEN]"] == ld["proc.env[FIELDS_TOKEN]"] == token
    assert ld["thread.nametid"] == f"lead{lead.pid}"


def _split(field: str) -> tuple[str, str | None]:
    if "[" in field:
        name, arg = field[:-1].split("[", 1)
        return name, arg
    return field, None

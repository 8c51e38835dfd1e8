"""End to end, live: `falco run` on this host, real actions, real alerts.

1. A small rule set written here: each rule's alert is checked field by
   field (proc.name, proc.pname, fd.name, user.name, container.id,
   evt.type, proc.cmdline), and benign variants of each action stay silent.
2. The project's default rules (stable, plus incubating and sandbox
   enabled from an extra rules file): like Falco's event-generator, the
   real action behind each rule, and benign runs of the same tools.
3. Drops: a syscall storm into a small ring, counters exact.
4. Param level: the probe's records for the events the rules above need.

Each falco run is started once per module (one for the custom rules, one
for the default rules) and every action is done while it watches; the
tests then judge the collected alerts.  Actions put a per-run token in
their command lines or paths, so other activity on the host is ignored.
Needs root, kernel BTF and the built probe (make -C driver/bpf).
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "falco" / "data" / "falco.bpf.o"
ACT = Path(__file__).resolve().parent / "live_actions" / "act.py"
RULES = REPO / "rules"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not PROBE.exists()
    or not Path("/sys/kernel/btf/vmlinux").exists()
    or not Path("/usr/bin/python3").exists(),
    reason="live end-to-end tests need root, kernel BTF "
           "(/sys/kernel/btf/vmlinux), the built probe (make -C driver/bpf) "
           "and Debian's /usr/bin/python3 (copied as ls, nginx, runc)")

TOKEN = f"fbe2e{os.getpid()}x{secrets.token_hex(3)}"
BENIGN = f"benign{TOKEN}"
PY = sys.executable                       # the interpreter running the tests
MY_COMM = Path("/proc/self/comm").read_text().strip()
SYSTEM_PY = "/usr/bin/python3"            # copied under other names
BUSYBOX = shutil.which("busybox")         # its nc applet has -e


def _sh(*argv, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.run([str(a) for a in argv], timeout=20, **kw)


def _act(*args, exe: str = PY, **kw) -> subprocess.CompletedProcess:
    return _sh(exe, ACT, args[0], TOKEN, *args[1:], **kw)


class FalcoRun:
    """`falco run` in a subprocess: started, watched until the probe is
    attached, stopped with SIGTERM; its JSON alerts parsed."""

    def __init__(self, rule_files: list[Path], *extra: str) -> None:
        self.argv = [PY, "-m", "falco", "run", "-M", "120", "--json",
                     "--all-matches", "-o", "syslog_output.enabled=false",
                     "-o", "watch_config_files=false", *extra]
        for r in rule_files:
            self.argv += ["-r", str(r)]
        self.out: list[str] = []
        self.err: list[str] = []
        self.alerts: list[dict] = []

    def __enter__(self) -> "FalcoRun":
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def pump(stream, sink, watch):
            for line in stream:
                sink.append(line.rstrip("\n"))
                if watch and "watching this host" in line:
                    ready.set()
        self._threads = [
            threading.Thread(target=pump, args=(self.proc.stdout, self.out, False)),
            threading.Thread(target=pump, args=(self.proc.stderr, self.err, True))]
        for t in self._threads:
            t.daemon = True
            t.start()
        deadline = time.monotonic() + 30
        while not ready.is_set() and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            ready.wait(0.05)
        if not ready.is_set():
            self.proc.kill()
            self.proc.wait()
            pytest.skip("falco run did not attach the eBPF probe: "
                        + " | ".join(self.err[-5:]))
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            time.sleep(0.6)                   # the last records are drained
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join(5)
        self.returncode = self.proc.returncode
        self.alerts = [json.loads(l) for l in self.out if l.startswith("{")]

    def stderr(self) -> str:
        return "\n".join(self.err)


def _fields(alert: dict) -> dict:
    return alert["output_fields"]


def _mentions(alert: dict, text: str) -> bool:
    return any(text in str(v) for v in _fields(alert).values())


def _local_ipv4() -> str | None:
    """A non-loopback address of this host (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


class Listener:
    """A TCP server on all addresses that accepts and closes connections."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            time.sleep(0.05)
            c.close()

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


# --- fake container: a cgroup named like docker's ------------------------

def _docker_cgroup() -> tuple[Path | None, list[Path], str]:
    """A cgroup dir /sys/fs/cgroup/<hierarchy>/docker/<64 hex> that a
    process can join; (dir, dirs to remove, reason when impossible)."""
    cid = secrets.token_hex(32)
    root = Path("/sys/fs/cgroup")
    candidates = []
    if (root / "cgroup.controllers").exists():
        candidates.append(root)                          # pure cgroup v2
    # cgroup v1 controllers (the probe reports controller paths only; a
    # v2 hierarchy with no controller attached does not show up there)
    for name in ("pids", "cpu", "memory", "cpuset", "blkio", "devices", "freezer"):
        d = root / name
        if (d / "cgroup.procs").exists() and (d / "tasks").exists():
            candidates.append(d)
    reasons = []
    for base in candidates:
        made = []
        try:
            parent = base / "docker"
            if not parent.exists():
                parent.mkdir()
                made.append(parent)
            leaf = parent / cid
            leaf.mkdir()
            made.append(leaf)
            if base.name == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    for d in (parent, leaf):
                        (d / f).write_text((base / f).read_text())
            return leaf, made, ""
        except OSError as exc:
            reasons.append(f"{base}: {exc}")
            for d in reversed(made):
                try:
                    d.rmdir()
                except OSError:
                    pass
    return None, [], ("no cgroup hierarchy lets us create docker/<id>: "
                      + ("; ".join(reasons) or "no writable cgroup hierarchy "
                         "with controllers is mounted under /sys/fs/cgroup"))


def _joiner(leaf: Path):
    procs = str(leaf / "cgroup.procs")

    def join():
        with open(procs, "w") as f:
            f.write("0")
    return join


def _rmdirs(dirs: list[Path]) -> None:
    """Remove the cgroup dirs we made, leaf first.  The leaf may wait for
    its last member to finish exiting; a parent that a concurrent run of
    this file still uses stays behind, empty."""
    for k, d in enumerate(reversed(dirs)):
        for _ in range(50 if k == 0 else 1):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


# =========================================================================
# 1. A small rule set, field by field
# =========================================================================

CUSTOM_RULES = """
- macro: e2e_spawned
  condition: (evt.type in (execve, execveat) and evt.rawres = 0)
- list: e2e_shells
  items: [sh, bash, dash, zsh]

- rule: e2e shadow read
  desc: /etc/shadow opened for reading
  condition: >
    evt.type in (open, openat, openat2) and evt.is_open_read = true
    and fd.num >= 0 and fd.name = /etc/shadow
  output: "shadow read (pid=%proc.pid)"
  priority: WARNING

- rule: e2e shell from non-shell
  desc: a shell whose parent is not a shell
  condition: >
    e2e_spawned and proc.name in (e2e_shells) and proc.pname exists
    and not proc.pname in (e2e_shells)
  output: "shell from non-shell (pid=%proc.pid)"
  priority: NOTICE

- rule: e2e file created under dev
  desc: open() created a file below /dev
  condition: >
    evt.type in (open, openat, openat2, creat) and evt.is_open_create = true
    and fd.num >= 0 and fd.name startswith /dev/ and not fd.name startswith /dev/shm/
  output: "dev file (pid=%proc.pid)"
  priority: ERROR

- rule: e2e ls connect
  desc: a program named ls connected an inet socket
  condition: evt.type = connect and proc.name = ls and fd.typechar = 4
  output: "ls connected (pid=%proc.pid sip=%fd.sip sport=%fd.sport res=%evt.res)"
  priority: WARNING

- rule: e2e new mount namespace
  desc: unshare or setns into a mount namespace
  condition: >
    (evt.type = unshare and evt.arg.flags contains CLONE_NEWNS)
    or (evt.type = setns and evt.arg.nstype contains CLONE_NEWNS)
  output: "mount ns (pid=%proc.pid res=%evt.res)"
  priority: NOTICE

- rule: e2e exec from tmp
  desc: a program run from /tmp
  condition: e2e_spawned and proc.exepath startswith /tmp/
  output: "exec from tmp (pid=%proc.pid exe=%proc.exepath)"
  priority: WARNING

- rule: e2e setuid bit
  desc: chmod with S_ISUID / S_ISGID
  condition: >
    evt.type in (chmod, fchmod, fchmodat) and evt.rawres = 0
    and (evt.arg.mode contains S_ISUID or evt.arg.mode contains S_ISGID)
  output: "setuid (pid=%proc.pid file=%evt.arg.filename mode=%evt.arg.mode)"
  priority: NOTICE

- rule: e2e symlink to shadow
  desc: a symlink pointing at /etc/shadow, path relative to the cwd
  condition: evt.type in (symlink, symlinkat) and evt.rawres = 0 and evt.arg.target = /etc/shadow
  output: "symlink (pid=%proc.pid cwd=%proc.cwd link=%evt.rawarg.linkpath resolved=%fs.path.target source=%fs.path.source raw=%fs.path.sourceraw,%fs.path.targetraw)"
  priority: WARNING

- rule: e2e container process
  desc: a program run in a container
  condition: e2e_spawned and container.id != host
  output: "container exec (pid=%proc.pid)"
  priority: NOTICE
"""

# Every custom alert carries the fields the tests check.
COMMON = ("proc.name proc.pname fd.name user.name container.id evt.type "
          "proc.cmdline proc.exepath")


def _with_common_fields(text: str) -> str:
    extra = " ".join(f"{f.split('.')[-1]}=%{f}" for f in COMMON.split())
    return re.sub(r'output: "(.*)\)"', lambda m: f'output: "{m.group(1)} {extra})"', text)


@pytest.fixture(scope="module")
def custom():
    """One falco run with CUSTOM_RULES while every action is done."""
    work = Path(tempfile.mkdtemp(prefix=f"{TOKEN}-"))
    rules = work / "rules.yaml"
    rules.write_text(_with_common_fields(CUSTOM_RULES))
    lst = Listener()
    leaf, made, why = _docker_cgroup()
    pids: dict[str, int] = {}
    info = {"work": work, "cgroup_skip": why,
            "cid": leaf.name if leaf else None}

    def run(name, argv, **kw):
        p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        pids[name] = p.pid
        p.wait(20)
        return p

    shutil.copy("/bin/true", work / "true-copy")
    shutil.copy(SYSTEM_PY, work / "ls")
    benign_file = work / BENIGN
    benign_file.write_text("x")
    devfile = Path(f"/dev/{TOKEN}")
    try:
        with FalcoRun([rules]) as falco:
            run("shadow", ["cat", "/etc/shadow"])
            run("shell", ["sh", "-c", "exit 0"])
            run("shell_outer", ["sh", "-c", f"sh -c ': inner-{TOKEN}'; exit 0"])
            run("devfile", ["touch", devfile])
            devfile.unlink()
            run("ls", [work / "ls", ACT, "connect", TOKEN, "127.0.0.1", lst.port])
            run("unshare", ["unshare", "-m", "true"])
            target = subprocess.Popen(["unshare", "-m", "sleep", "3"])
            time.sleep(0.3)
            run("nsenter", ["nsenter", "-t", target.pid, "-m", "true"])
            run("exec_tmp", [work / "true-copy", TOKEN])
            run("chmod", ["chmod", "u+s", work / "true-copy"])
            # the child chdir()s to work before exec: a relative link path
            run("symlink", ["ln", "-s", "/etc/shadow", "shadow-link"], cwd=work)
            if leaf is not None:
                run("container_cat", ["cat", "/etc/shadow"], preexec_fn=_joiner(leaf))
            # benign: the same tools, nothing to report
            run("b_read", ["cat", "/etc/hostname"])
            run("b_nonshell", ["true", BENIGN])
            run("b_devnull", ["touch", "/dev/null"])
            run("b_real_ls", ["ls", work])
            run("b_py_connect", [PY, ACT, "connect", TOKEN, "127.0.0.1", lst.port])
            run("b_unshare", ["unshare", "-u", "true"])
            run("b_nsenter", ["nsenter", "-t", target.pid, "-u", "true"])
            run("b_exec_bin", ["/bin/true", BENIGN])
            run("b_chmod", ["chmod", "0755", benign_file])
            target.kill()
            target.wait()
    finally:
        lst.close()
        _rmdirs(made)
        if devfile.exists():
            devfile.unlink()
    shutil.rmtree(work, ignore_errors=True)
    info["pids"] = pids
    info["falco"] = falco
    return info


def _by_rule(run: FalcoRun, rule: str, pid: int | None = None) -> list[dict]:
    return [a for a in run.alerts if a["rule"] == rule and
            (pid is None or str(_fields(a).get("proc.pid")) == str(pid))]


def _one(custom, rule: str, action: str) -> dict:
    falco = custom["falco"]
    hits = _by_rule(falco, rule, custom["pids"][action])
    assert hits, (f"no {rule!r} alert for {action} (pid {custom['pids'][action]}); "
                  f"alerts: {[(a['rule'], _fields(a).get('proc.pid')) for a in falco.alerts]}"
                  f"\n{falco.stderr()}")
    return _fields(hits[0])


def test_custom_run_clean(custom):
    falco = custom["falco"]
    assert falco.returncode == 0, falco.stderr()
    assert "watching this host with the eBPF driver" in falco.stderr()


def test_custom_shadow_read(custom):
    f = _one(custom, "e2e shadow read", "shadow")
    assert f["proc.name"] == "cat"
    assert f["proc.pname"] == MY_COMM
    assert f["fd.name"] == "/etc/shadow"
    assert f["user.name"] == "root"
    assert f["container.id"] == "host"
    assert f["evt.type"] == "openat"
    assert f["proc.cmdline"] == "cat /etc/shadow"
    # benign: another file under /etc, same tool
    assert not [a for a in _by_rule(custom["falco"], "e2e shadow read",
                                    custom["pids"]["b_read"])]


def test_custom_shell_from_non_shell(custom):
    f = _one(custom, "e2e shell from non-shell", "shell")
    assert (f["proc.name"], f["proc.pname"]) == ("sh", MY_COMM)
    assert f["proc.cmdline"] == "sh -c exit 0"
    assert f["evt.type"] == "execve" and f["user.name"] == "root"
    assert f["container.id"] == "host"
    # the outer shell (parent: python) alerts; the shell it starts does not
    f = _one(custom, "e2e shell from non-shell", "shell_outer")
    assert f["proc.cmdline"] == f"sh -c sh -c ': inner-{TOKEN}'; exit 0"
    inner = [a for a in _by_rule(custom["falco"], "e2e shell from non-shell")
             if f"inner-{TOKEN}" in _fields(a)["proc.cmdline"]
             and str(_fields(a)["proc.pid"]) != str(custom["pids"]["shell_outer"])]
    assert not inner, inner
    assert not _by_rule(custom["falco"], "e2e shell from non-shell",
                        custom["pids"]["b_nonshell"])


def test_custom_file_created_under_dev(custom):
    f = _one(custom, "e2e file created under dev", "devfile")
    assert f["fd.name"] == f"/dev/{TOKEN}"
    assert f["proc.name"] == "touch" and f["evt.type"] == "openat"
    assert f["proc.cmdline"] == f"touch /dev/{TOKEN}"
    assert f["proc.pname"] == MY_COMM and f["user.name"] == "root"
    assert not _by_rule(custom["falco"], "e2e file created under dev",
                        custom["pids"]["b_devnull"])


def test_custom_ls_connects_loopback(custom):
    f = _one(custom, "e2e ls connect", "ls")
    assert f["proc.name"] == "ls" and f["evt.type"] == "connect"
    assert f["fd.sip"] == "127.0.0.1"
    assert re.fullmatch(r"127\.0\.0\.1:\d+->127\.0\.0\.1:\d+", f["fd.name"]), f
    assert f["fd.name"].endswith(f"->127.0.0.1:{f['fd.sport']}")
    assert f["proc.cmdline"].startswith(f"ls {ACT} connect {TOKEN}")
    assert f["proc.exepath"] == str(custom["work"] / "ls")
    assert f["evt.res"] in ("SUCCESS", "EINPROGRESS")     # a timeout makes it non-blocking
    for benign in ("b_real_ls", "b_py_connect"):
        assert not _by_rule(custom["falco"], "e2e ls connect", custom["pids"][benign])


def test_custom_new_mount_namespace(custom):
    f = _one(custom, "e2e new mount namespace", "unshare")
    assert f["proc.name"] == "unshare" and f["evt.type"] == "unshare"
    assert f["proc.cmdline"] == "unshare -m true"
    f = _one(custom, "e2e new mount namespace", "nsenter")
    assert f["proc.name"] == "nsenter" and f["evt.type"] == "setns"
    assert f["proc.cmdline"].startswith("nsenter -t ")
    for benign in ("b_unshare", "b_nsenter"):
        assert not _by_rule(custom["falco"], "e2e new mount namespace",
                            custom["pids"][benign])


def test_custom_exec_from_tmp(custom):
    f = _one(custom, "e2e exec from tmp", "exec_tmp")
    assert f["proc.exepath"] == str(custom["work"] / "true-copy")
    assert f["proc.name"] == "true-copy" and f["evt.type"] == "execve"
    assert f["proc.cmdline"] == f"true-copy {TOKEN}"
    assert not _by_rule(custom["falco"], "e2e exec from tmp",
                        custom["pids"]["b_exec_bin"])


def test_custom_setuid_bit(custom):
    f = _one(custom, "e2e setuid bit", "chmod")
    assert f["proc.name"] == "chmod" and f["evt.type"] == "fchmodat"
    assert f["proc.cmdline"] == f"chmod u+s {custom['work'] / 'true-copy'}"
    assert "S_ISUID" in f["evt.arg.mode"], f
    assert f["evt.arg.filename"].endswith("/true-copy"), f
    assert not _by_rule(custom["falco"], "e2e setuid bit", custom["pids"]["b_chmod"])


def test_custom_relative_symlink_resolved_from_cwd(custom):
    """The working directory follows chdir (the probe used to send chdir
    without its path): a relative link path resolves below it."""
    f = _one(custom, "e2e symlink to shadow", "symlink")
    work = str(custom["work"])
    assert f["proc.name"] == "ln" and f["evt.type"] == "symlinkat"
    assert f["proc.cwd"] == work + "/"
    assert f["evt.rawarg.linkpath"] == "shadow-link"
    assert f["fs.path.target"] == f"{work}/shadow-link"
    # The source (what the link points at) and both paths as passed.
    assert f["fs.path.source"] == f["fs.path.sourceraw"] == "/etc/shadow"
    assert f["fs.path.targetraw"] == "shadow-link"
    assert f["proc.cmdline"] == "ln -s /etc/shadow shadow-link"


def test_custom_container_id_from_docker_cgroup(custom):
    if custom["cid"] is None:
        pytest.skip(custom["cgroup_skip"])
    cid = custom["cid"][:12]
    f = _one(custom, "e2e container process", "container_cat")
    assert f["container.id"] == cid and f["proc.name"] == "cat"
    f = _one(custom, "e2e shadow read", "container_cat")
    assert f["container.id"] == cid and f["fd.name"] == "/etc/shadow"
    # nothing else this test ran is in a container
    others = [a for a in _by_rule(custom["falco"], "e2e container process")
              if _fields(a)["container.id"] == cid
              and str(_fields(a)["proc.pid"]) != str(custom["pids"]["container_cat"])]
    assert not others


def test_custom_benign_actions_silent(custom):
    benign = {str(v) for k, v in custom["pids"].items() if k.startswith("b_")}
    noisy = [a for a in custom["falco"].alerts
             if str(_fields(a).get("proc.pid")) in benign or _mentions(a, BENIGN)]
    assert not noisy, noisy


# =========================================================================
# 2. The default rules, rule by rule
# =========================================================================

def _enable_all_file(path: Path) -> Path:
    names = []
    for f in ("falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"):
        names += re.findall(r"^- rule: (.+)$", (RULES / f).read_text(), re.M)
    path.write_text("".join(f"- rule: {n}\n  enabled: true\n  override:\n"
                            f"    enabled: replace\n\n" for n in names))
    return path


@pytest.fixture(scope="module")
def defaults():
    work = Path(tempfile.mkdtemp(prefix=f"{TOKEN}-"))
    work.chmod(0o700)
    enable = _enable_all_file(work / "enable.yaml")
    files = [RULES / "falco_rules.yaml", RULES / "falco-incubating_rules.yaml",
             RULES / "falco-sandbox_rules.yaml", enable]
    lst = Listener()
    ip = _local_ipv4()
    leaf, made, why = _docker_cgroup()
    for name in ("true", "nmap"):
        shutil.copy("/bin/true", work / name)
    for name in ("ls", "nginx", "runc"):
        shutil.copy(SYSTEM_PY, work / name)
    pub = Path(tempfile.mkdtemp(prefix=f"{TOKEN}-pub-"))  # for uid 65534
    pub.chmod(0o755)
    shutil.copy("/bin/true", pub / "sudoedit")
    if BUSYBOX:
        os.symlink(BUSYBOX, work / "nc")
    (work / "wipe").mkdir()
    for i in range(3):
        (work / "wipe" / f"f{i}").write_text("secret data\n" * 10)
    log = Path(f"/var/log/{TOKEN}.log")
    fd = os.open(log, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"log line\n")
    os.close(fd)
    benign_log = Path(f"/var/log/{BENIGN}.log")
    shm = Path(f"/dev/shm/{TOKEN}")
    created = [Path(f"/dev/{TOKEN}"), Path(f"/bin/{TOKEN}"), Path(f"/etc/{TOKEN}"),
               Path(f"/root/{TOKEN}"), shm, log, benign_log]
    info = {"work": work, "ip": ip, "cid": leaf.name if leaf else None,
            "cgroup_skip": why}
    try:
        with FalcoRun(files) as falco:
            _sh("cat", "/etc/shadow", work / "missing")
            _sh("cat", f"{work}/../../etc/shadow")
            _sh("touch", f"/dev/{TOKEN}")
            os.unlink(f"/dev/{TOKEN}")
            if ip:
                _act("connect", ip, lst.port, exe=str(work / "ls"))
            _sh("touch", f"/bin/{TOKEN}")
            os.unlink(f"/bin/{TOKEN}")
            _act("aslr")
            if BUSYBOX:
                _sh(work / "nc", "-w", "2", "-e", work / "true", "127.0.0.1", lst.port)
            _sh("grep", "-r", "BEGIN RSA PRIVATE KEY", work)
            _sh("find", work, "-name", "id_rsa")
            _sh("sh", "-c", f": > {log}")
            _sh("shred", work / "wipe" / "f0")
            _sh("rm", "-rf", work / "wipe")
            _sh("ln", "-s", "/etc/shadow", work / "shadow-link")
            _sh("ln", "/etc/shadow", work / "shadow-hardlink")
            for p in ("shadow-link", "shadow-hardlink"):
                try:
                    os.unlink(work / p)
                except FileNotFoundError:
                    pass
            _act("ptrace_attach")
            _act("traceme")
            _act("memfd_exec")
            shutil.copy("/bin/true", shm)
            _sh(shm, TOKEN)
            shm.unlink()
            _act("modules")
            _act("bpf_load")
            _sh("chmod", "u+s", work / "true")
            _sh("touch", f"/etc/{TOKEN}")
            os.unlink(f"/etc/{TOKEN}")
            _sh("touch", f"/root/{TOKEN}")
            os.unlink(f"/root/{TOKEN}")
            _sh("rm", "-f", log)
            _act("stdio_socket", "127.0.0.1", lst.port)
            _act("personality")
            _act("memfd_only")
            _act("server_children", exe=str(work / "nginx"))
            # CVE-2021-3156's trigger, by a non-root user (a stand-in binary)
            _act("as_nobody", pub / "sudoedit", "-s", f"{TOKEN}\\")
            if leaf is not None:
                _act("tty_shell", exe=str(work / "runc"), preexec_fn=_joiner(leaf))
                _act("overlay_exec", work / "ovl", preexec_fn=_joiner(leaf))
                _act("container_suite", "127.0.0.1", lst.port, work / "nmap",
                     preexec_fn=_joiner(leaf))
            # benign runs of the same tools
            _sh("cat", "/etc/hostname", work / BENIGN)
            _sh("ls", work / BENIGN)
            _act("connect", "127.0.0.1", lst.port, BENIGN, exe=str(work / "ls"))
            _sh("touch", work / BENIGN)
            if BUSYBOX:
                _sh(work / "nc", "-w", "1", "127.0.0.1", lst.port, stdin=subprocess.DEVNULL)
            _sh("grep", "-r", "hello", work / BENIGN)
            _sh("find", work, "-name", BENIGN)
            _sh("touch", benign_log)
            _sh("ln", "-s", "/etc/hostname", work / f"{BENIGN}-link")
            _sh("chmod", "0755", work / BENIGN)
            _sh("sh", "-c", f"true {BENIGN}")
            _sh("cp", "/etc/hostname", work / f"{BENIGN}-copy")
    finally:
        lst.close()
        _rmdirs(made)
        for p in created:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pub, ignore_errors=True)
    info["falco"] = falco
    return info


def _cmd(f):
    return f.get("proc.cmdline") or ""


# rule -> predicate on (output_fields, work dir): the alert of our action
EXPECTED = {
    "Credential file read by unexpected program":
        lambda f, w: f["fd.name"] == "/etc/shadow" and f["proc.name"] == "cat"
        and TOKEN in _cmd(f),
    "Protected file reached through path traversal":
        lambda f, w: f["fd.name"] == "/etc/shadow"
        and f["fd.nameraw"] == f"{w}/../../etc/shadow",
    "Regular file created under /dev":
        lambda f, w: f["fd.name"] == f"/dev/{TOKEN}" and f["proc.name"] == "touch",
    "Core system utility made network connection":
        lambda f, w: f["proc.name"] == "ls" and TOKEN in _cmd(f),
    "File written in system binary directory":
        lambda f, w: f["fd.name"] == f"/bin/{TOKEN}" and f["proc.name"] == "touch",
    "Kernel ASLR setting changed":
        lambda f, w: f["fd.name"] == "/proc/sys/kernel/randomize_va_space"
        and TOKEN in _cmd(f),
    "Netcat or socat launched with command execution":
        lambda f, w: f["proc.name"] == "nc" and f" -e {w}/true" in _cmd(f),
    "Search for private keys or passwords":
        lambda f, w: f["proc.name"] in ("grep", "find") and str(w) in _cmd(f),
    "Log file truncated":
        lambda f, w: f["fd.name"] == f"/var/log/{TOKEN}.log" and f["proc.name"] == "sh",
    "Data wiping tool run":
        lambda f, w: f["proc.name"] == "shred" and str(w) in _cmd(f),
    "Symlink created to credential store":
        lambda f, w: f["evt.arg.target"] == "/etc/shadow"
        and f["evt.arg.linkpath"] == f"{w}/shadow-link" and f["proc.name"] == "ln",
    "Hardlink created to credential store":
        lambda f, w: f["evt.arg.oldpath"] == "/etc/shadow"
        and f["evt.arg.newpath"] == f"{w}/shadow-hardlink",
    "Process attached or modified with ptrace":
        lambda f, w: "PTRACE_ATTACH" in f["evt.arg.request"] and TOKEN in _cmd(f),
    "Process blocked debugging with PTRACE_TRACEME":
        lambda f, w: TOKEN in _cmd(f),
    "Program executed from memory-only file":
        # comm is the fd's name ("3"), the exe path the memfd's, as libs' BPF
        lambda f, w: _cmd(f).endswith(f" {TOKEN}") and f["proc.exe"] == "memfd-exe"
        and f["proc.exepath"] == "memfd:fbe2e" and f["proc.name"].isdigit(),
    "Program executed from /dev/shm":
        lambda f, w: f["proc.exepath"] == f"/dev/shm/{TOKEN}",
    "Shell spawned by network service":
        lambda f, w: f["proc.name"] == "sh" and f["proc.pname"] == "nginx"
        and TOKEN in _cmd(f),
    "Unexpected child of web or database server":
        lambda f, w: f["proc.name"] == "id" and f["proc.pname"] == "nginx",
    # incubating
    "Sudo heap overflow exploit attempt":
        lambda f, w: f["proc.name"] == "sudoedit" and f["user.uid"] == 65534
        and _cmd(f) == f"sudoedit -s {TOKEN}\\",
    "File written under /etc by unexpected program":
        lambda f, w: f["fd.name"] == f"/etc/{TOKEN}",
    "File written in root directory or root home":
        lambda f, w: f["fd.name"] == f"/root/{TOKEN}",
    "Log file deleted or renamed":
        lambda f, w: f["fs.path.name"] == f"/var/log/{TOKEN}.log" and f["proc.name"] == "rm",
    "BPF program loaded by unexpected process":
        lambda f, w: TOKEN in _cmd(f),
    "Setuid or setgid bit set on file":
        lambda f, w: "S_ISUID" in f["evt.arg.mode"] and f["proc.name"] == "chmod"
        and str(w) in _cmd(f),
    "Kernel module loaded on host by unexpected program":
        lambda f, w: TOKEN in _cmd(f),
    "Standard streams redirected to network socket on host":
        lambda f, w: TOKEN in _cmd(f) or str(w) in _cmd(f),
    # sandbox
    "Process personality changed":
        lambda f, w: TOKEN in _cmd(f) and "personality" in _cmd(f),
    "Anonymous memory file created":
        lambda f, w: TOKEN in _cmd(f) and f["evt.arg.name"] == "fbe2e-anon",
}

# Rules that need a process in a container: checked with the fake cgroup.
EXPECTED_IN_CONTAINER = {
    "Interactive shell in container":
        lambda f, w: f["proc.name"] == "sh" and f["proc.pname"] == "runc"
        and f["proc.tty"] not in (0, "0", None) and TOKEN in _cmd(f),
    "Raw packet socket opened in container":
        lambda f, w: "AF_PACKET" in f["evt.arg.domain"],
    "Kernel module loaded from container": lambda f, w: True,
    "Standard streams redirected to network socket in container":
        lambda f, w: f["evt.rawres"] in (1, "1"),
    "Filesystem mounted inside container":
        lambda f, w: f["evt.arg.dir"] == f"/nonexistent-{TOKEN}",
    "User namespace created in container":
        lambda f, w: "CLONE_NEWUSER" in f["evt.arg.flags"],
    "Executable not in image run in container":
        lambda f, w: f["proc.exepath"] == f"{w}/ovl/merged/dropped"
        and _cmd(f) == f"dropped {TOKEN}",
    "Network scanning or sniffing tool run in container":
        lambda f, w: f["proc.name"] == "nmap",
}


def _alerts_for(defaults, rule: str) -> list[dict]:
    return [a for a in defaults["falco"].alerts if a["rule"] == rule]


def _check(defaults, rule, pred, in_container=False):
    falco = defaults["falco"]
    mine = [a for a in _alerts_for(defaults, rule) if _mentions(a, TOKEN)
            or (in_container and _fields(a).get("container.id") == (defaults["cid"] or "")[:12])]
    errors = []
    for a in mine:
        try:
            if pred(_fields(a), defaults["work"]):
                return a
        except KeyError as exc:
            errors.append(f"missing field {exc}")
    raise AssertionError(
        f"no matching {rule!r} alert. of this rule: "
        f"{[_fields(a) for a in _alerts_for(defaults, rule)][:3]} {errors[:2]}\n"
        f"rules that fired: {sorted({a['rule'] for a in falco.alerts})}\n"
        f"{falco.stderr()[-2000:]}")


def test_default_run_clean(defaults):
    falco = defaults["falco"]
    assert falco.returncode == 0, falco.stderr()
    # a shared, busy host may overflow the ring: the count must add up
    m = re.search(r"falco: (\d+) events, \d+ alerts, (\d+) dropped by the driver "
                  r"\(ring full (\d+), too large (\d+)\)", falco.stderr())
    assert m, falco.stderr()[-3000:]
    events, dropped, full, large = map(int, m.groups())
    assert events > 0 and dropped == full + large


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_default_rule_fires(defaults, rule):
    if rule == "Core system utility made network connection" and not defaults["ip"]:
        pytest.skip("this host has no non-loopback IPv4 address to connect to")
    if rule.startswith("Netcat") and not BUSYBOX:
        pytest.skip("no busybox: its nc applet is the netcat with -e used here")
    a = _check(defaults, rule, EXPECTED[rule])
    f = _fields(a)
    user = "nobody" if rule == "Sudo heap overflow exploit attempt" else "root"
    assert f.get("user.name", user) == user
    assert f.get("container.id", "host") == "host"


@pytest.mark.parametrize("rule", sorted(EXPECTED_IN_CONTAINER))
def test_default_container_rule_fires(defaults, rule):
    if defaults["cid"] is None:
        pytest.skip(defaults["cgroup_skip"])
    a = _check(defaults, rule, EXPECTED_IN_CONTAINER[rule], in_container=True)
    assert _fields(a)["container.id"] == defaults["cid"][:12]


def test_default_image_drift_silent_for_image_binaries(defaults):
    """The overlay's lower-layer binary (part of the image) is not drift."""
    if defaults["cid"] is None:
        pytest.skip(defaults["cgroup_skip"])
    drift = [_fields(a)["proc.exepath"] for a in
             _alerts_for(defaults, "Executable not in image run in container")]
    assert f"{defaults['work']}/ovl/merged/dropped" in drift
    assert not [p for p in drift if p.endswith("/inimage")], drift


def test_default_rules_cover_at_least_20(defaults):
    fired = set()
    for rule, pred in EXPECTED.items():
        try:
            _check(defaults, rule, pred)
            fired.add(rule)
        except AssertionError:
            pass
    assert len(fired) >= 20, sorted(set(EXPECTED) - fired)


def test_default_rules_silent_on_benign_runs(defaults):
    noisy = [(a["rule"], _fields(a).get("proc.cmdline"))
             for a in defaults["falco"].alerts if _mentions(a, BENIGN)]
    assert not noisy, noisy
    # nc without -e: no netcat alert other than the -e run
    nc = [a for a in _alerts_for(defaults, "Netcat or socat launched with command execution")
          if _fields(a).get("proc.name") == "nc" and " -e " not in _cmd(_fields(a))]
    assert not nc, nc


# =========================================================================
# 3. Drops: a syscall storm into a small ring, counters exact
# =========================================================================

# A syscall nobody else on the host issues (a concurrent benchmark may well
# storm getppid): sysfs(3), "how many file system types".  Its records are
# generic events, an enter and an exit per call.
SYS_sysfs = 139


def _comm(tid: int) -> str:
    try:
        return Path(f"/proc/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


def test_drops_counted_exactly_under_storm():
    """Two processes in a tight syscall loop against a 16 KiB ring drained
    concurrently: every record the probe saw was either delivered or
    counted as dropped, to the record.

    procexit records are not filtered by syscall, so other processes of
    the host that exit during the storm add records too (and may lose them
    to the full ring).  A second probe with a large ring and no syscalls
    records every exit on the host in the same window: seen - ours must lie
    between the others' records that were delivered and the others' exits
    observed, and equals the first when no other exit was lost."""
    from falco.live import BpfSource, BpfUnavailable, syscall_codes
    from falco_engine import decoder

    libc = ctypes.CDLL(None, use_errno=True)
    per_child, nchild = 30000, 2
    src = BpfSource(ring_bytes=1 << 14)
    observer = BpfSource(ring_bytes=16 << 20)
    try:
        src.open(syscall_codes(["sysfs"]))
        observer.open(set())
        observer.start()
    except BpfUnavailable as exc:
        src.close()
        observer.close()
        pytest.skip(f"BPF probe unavailable: {exc}")
    try:
        go_r, go_w = os.pipe()
        kids = []
        for _ in range(nchild):
            pid = os.fork()
            if pid == 0:
                os.close(go_w)
                os.read(go_r, 1)
                for _ in range(per_child):
                    libc.syscall(SYS_sysfs, 3)
                os._exit(0)
            kids.append(pid)
        os.close(go_r)
        delivered = {"mine": 0, "procexit_mine": 0, "other": 0}
        others: dict = {}

        def drain_once():
            batch = decoder.scan_records(src.drain(1 << 30))
            assert batch.error is None, batch.error
            for i in range(len(batch)):
                e = batch.event(i)
                if e.tid in kids:
                    delivered["procexit_mine" if e.name == "procexit" else "mine"] += 1
                else:
                    delivered["other"] += 1
                    others[e.name] = others.get(e.name, 0) + 1

        # detached: the counters stand still and the ring is empty
        src.drain(1 << 30)
        before = src.counters()
        t0 = time.time_ns()
        src.start()
        os.write(go_w, b"go")
        os.close(go_w)
        running = set(kids)
        while running:                         # drain while the storm runs,
            time.sleep(0.02)                   # slower than it fills 16 KiB
            drain_once()
            for pid in list(running):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    running.discard(pid)
        src.stop()                             # nothing new from here on
        t1 = time.time_ns()
        while src.pending():
            drain_once()
        d = {k: v - before[k] for k, v in src.counters().items()}
        time.sleep(0.05)
        exits = decoder.scan_records(observer.drain(1 << 30))
        assert observer.counters()["drops"] == 0
        ev = [exits.event(i) for i in range(len(exits))]
        assert sorted(e.tid for e in ev if e.tid in kids) == sorted(kids)
        other_exits = sum(1 for e in ev if e.tid not in kids
                          and t0 - 1_000_000 <= e.ts <= t1 + 1_000_000)
        info = (d, delivered, others, other_exits)

        # every record the probe counted as written reached the reader
        assert d["events"] == sum(delivered.values()), info
        assert d["drops"] == d["drops_buffer"] > 0, info
        assert d["drops_max_size"] == 0 and d["drops_scratch"] == 0, info
        assert set(others) <= {"procexit"}, info
        # each call an enter and an exit record, each child one procexit
        mine = nchild * (per_child * 2 + 1)
        seen = d["events"] + d["drops"]
        assert 0 < delivered["mine"] + delivered["procexit_mine"] < mine, info
        assert mine + delivered["other"] <= seen <= mine + max(other_exits,
                                                               delivered["other"]), info
        if other_exits == delivered["other"]:
            assert seen == mine + delivered["other"], info
    finally:
        src.close()
        observer.close()


# =========================================================================
# 4. Param level: records of the events the default rules depend on
# =========================================================================

@pytest.fixture(scope="module")
def bpf():
    from falco.live import BpfSource, BpfUnavailable
    # FALCO_BPF_ATTACH=raw: the raw_tracepoint programs (as test_bpf_live)
    s = BpfSource(ring_bytes=16 << 20,
                  attach=os.environ.get("FALCO_BPF_ATTACH", "auto"))
    try:
        s.open(None)
        s.start()
    except BpfUnavailable as exc:
        pytest.skip(f"BPF probe unavailable: {exc}")
    yield s
    s.close()


def _records(src, action) -> list:
    """Records of a forked child running action(), in order, as
    (event name, is exit, {param name: raw bytes})."""
    from falco_engine import decoder, table
    r, w = os.pipe()
    src.drain(1 << 30)
    pid = os.fork()
    if pid == 0:
        try:
            os.read(r, 1)
            action()
        finally:
            os._exit(0)
    os.write(w, b"x")
    os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
    out, done, deadline = [], False, time.monotonic() + 5
    while not done and time.monotonic() < deadline:
        src.wait(0.05)
        batch = decoder.scan_records(src.drain(1 << 30))
        for i in range(len(batch)):
            e = batch.event(i)
            if e.tid != pid:
                continue
            info = table.EVENTS[e.type]
            assert e.nparams == len(info.params), (info.name, e.nparams)
            p = {q.name: bytes(e.param(k)) for k, q in enumerate(info.params)}
            out.append((info.name, bool(e.type & 1), p))
            if info.name == "procexit":
                done = True
    assert done, "no procexit for the child"
    return out


def _exit(recs, name):
    xs = [p for n, x, p in recs if n == name and x]
    assert xs, f"no {name} exit record in {[(n, x) for n, x, _ in recs]}"
    return xs[0]


def _i64(b):
    return struct.unpack("<q", b)[0]


def _u32(b):
    return struct.unpack("<I", b)[0]


def test_probe_params_links_chmod(bpf, tmp_path):
    """symlinkat / symlink / linkat / link / fchmodat / chmod / rename /
    renameat2 / unlink exits carry every param (they used to go out as
    generic events, without params: "the symlinkat exit has none")."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    src_file = tmp_path / "f"
    src_file.write_text("x")
    sl, hl, hl2 = tmp_path / "sl", tmp_path / "hl", tmp_path / "hl2"
    AT_FDCWD = -100

    def act():
        libc.syscall(266, b"/etc/shadow", AT_FDCWD, str(sl).encode())     # symlinkat
        libc.syscall(265, AT_FDCWD, str(src_file).encode(), AT_FDCWD,
                     str(hl).encode(), 0x400)                             # linkat
        libc.syscall(86, str(src_file).encode(), str(hl2).encode())       # link
        libc.syscall(268, AT_FDCWD, str(src_file).encode(), 0o4755)       # fchmodat
        libc.syscall(90, str(src_file).encode(), 0o2644)                  # chmod
        libc.syscall(88, b"/etc/gshadow", str(sl).encode())               # symlink: EEXIST
        libc.syscall(82, str(hl).encode(), str(mv).encode())              # rename
        libc.syscall(316, AT_FDCWD, str(mv).encode(), AT_FDCWD,
                     str(mv2).encode(), 1)                                # renameat2
        libc.syscall(87, str(mv2).encode())                               # unlink
    mv, mv2 = tmp_path / "mv", tmp_path / "mv2"
    recs = _records(bpf, act)
    os.chmod(src_file, 0o644)
    assert os.readlink(sl) == "/etc/shadow"
    os.unlink(sl)
    p = _exit(recs, "symlinkat")
    assert _i64(p["res"]) == 0
    assert p["target"] == b"/etc/shadow\0"
    assert _i64(p["linkdirfd"]) == AT_FDCWD
    assert p["linkpath"] == str(sl).encode() + b"\0"
    p = _exit(recs, "linkat")
    assert _i64(p["res"]) == 0 and _i64(p["olddir"]) == AT_FDCWD
    assert p["oldpath"] == str(src_file).encode() + b"\0"
    assert _i64(p["newdir"]) == AT_FDCWD
    assert p["newpath"] == str(hl).encode() + b"\0"
    assert _u32(p["flags"]) == 0x400                       # AT_SYMLINK_FOLLOW
    p = _exit(recs, "link")
    assert _i64(p["res"]) == 0 and p["newpath"] == str(hl2).encode() + b"\0"
    p = _exit(recs, "fchmodat")
    assert _i64(p["res"]) == 0 and _i64(p["dirfd"]) == AT_FDCWD
    assert p["filename"] == str(src_file).encode() + b"\0"
    assert _u32(p["mode"]) == 0o4755
    p = _exit(recs, "chmod")
    assert _i64(p["res"]) == 0 and _u32(p["mode"]) == 0o2644
    p = _exit(recs, "symlink")
    assert _i64(p["res"]) == -17 and p["target"] == b"/etc/gshadow\0"
    assert p["linkpath"] == str(sl).encode() + b"\0"
    p = _exit(recs, "rename")
    assert _i64(p["res"]) == 0 and p["oldpath"] == str(hl).encode() + b"\0"
    assert p["newpath"] == str(mv).encode() + b"\0"
    p = _exit(recs, "renameat2")
    assert _i64(p["res"]) == 0 and _i64(p["olddirfd"]) == AT_FDCWD
    assert p["oldpath"] == str(mv).encode() + b"\0"
    assert _i64(p["newdirfd"]) == AT_FDCWD
    assert p["newpath"] == str(mv2).encode() + b"\0"
    assert _u32(p["flags"]) == 1                           # RENAME_NOREPLACE
    p = _exit(recs, "unlink")
    assert _i64(p["res"]) == 0 and p["path"] == str(mv2).encode() + b"\0"
    assert not mv2.exists()


def test_probe_params_ns_module_bpf_mount(bpf, tmp_path):
    """unshare / setns enter flags, init_module / finit_module, bpf and
    mount: the params the default rules read."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    from falco_engine import table
    clone = dict(table.FLAG_SETS[table.EVENTS[284].params[0].flag_set])

    def act():
        libc.syscall(272, 0x00020000 | 0x04000000)               # NEWNS|NEWUTS
        fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
        libc.syscall(308, fd, 0x04000000)                         # setns UTS
        libc.syscall(175, b"\x7fELFjunk", 8, b"a=1")              # init_module
        libc.syscall(313, -1, b"b=2", 2)                          # finit_module
        libc.syscall(321, 5, None, 0)                             # bpf PROG_LOAD
        libc.syscall(165, b"none", f"{tmp_path}/nodir".encode(), b"tmpfs",
                     0xC0ED0000 | 1, None)                        # mount, MGC magic
    recs = _records(bpf, act)
    e = [p for n, x, p in recs if n == "unshare" and not x][0]
    assert _u32(e["flags"]) == clone["CLONE_NEWNS"] | clone["CLONE_NEWUTS"]
    assert _i64(_exit(recs, "unshare")["res"]) == 0
    e = [p for n, x, p in recs if n == "setns" and not x][0]
    assert _i64(e["fd"]) >= 3 and _u32(e["nstype"]) == clone["CLONE_NEWUTS"]
    assert _i64(_exit(recs, "setns")["res"]) == 0
    p = _exit(recs, "init_module")
    assert _i64(p["res"]) < 0
    assert p["img"] == b"\x7fELFjunk" and struct.unpack("<Q", p["length"])[0] == 8
    assert p["uargs"] == b"a=1\0"
    p = _exit(recs, "finit_module")
    assert _i64(p["res"]) < 0 and _i64(p["fd"]) == -1
    assert p["uargs"] == b"b=2\0" and _u32(p["flags"]) == 2
    e = [p for n, x, p in recs if n == "bpf" and not x][0]
    assert _i64(e["cmd"]) == 5
    p = _exit(recs, "bpf")
    assert _i64(p["fd"]) < 0 and _u32(p["cmd"]) == 5
    e = [p for n, x, p in recs if n == "mount" and not x][0]
    assert _u32(e["flags"]) == 1                                  # RDONLY, magic gone
    p = _exit(recs, "mount")
    assert _i64(p["res"]) == -2 and p["dev"] == b"none\0"
    assert p["dir"] == f"{tmp_path}/nodir".encode() + b"\0" and p["type"] == b"tmpfs\0"


def test_probe_params_memfd_exe_path(bpf):
    """execve of a memfd: trusted_exepath is the memfd's name as libs' BPF
    drivers give it ("memfd:NAME"; it used to be "/"), flag EXE_FROM_MEMFD."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    from falco_engine import table
    exe_flags = dict(table.FLAG_SETS[[p for p in table.EVENTS[293].params
                                      if p.name == "flags"][0].flag_set])
    with open("/bin/true", "rb") as f:
        image = f.read()

    def act():
        fd = libc.syscall(319, b"fbe2e-exe", 0)
        os.write(fd, image)
        os.execv(f"/proc/self/fd/{fd}", ["memfd-exe"])
    recs = _records(bpf, act)
    p = [p for n, x, p in recs if n == "execve" and x and _i64(p["res"]) == 0][0]
    assert p["trusted_exepath"] == b"memfd:fbe2e-exe\0"
    assert _u32(p["flags"]) & exe_flags["EXE_FROM_MEMFD"]
    assert p["exe"] == b"memfd-exe\0" and p["comm"].rstrip(b"\0").isdigit()
    # an ordinary exec still gets its absolute path
    recs = _records(bpf, lambda: os.execv("/bin/true", ["true"]))
    p = [p for n, x, p in recs if n == "execve" and x][0]
    assert p["trusted_exepath"] == os.path.realpath("/bin/true").encode() + b"\0"


def test_probe_params_exe_upper_layer(bpf, tmp_path):
    """execve of a file in an overlay's upper layer sets EXE_UPPER_LAYER
    (the probe never set it, so "Executable not in image run in container"
    could not fire); a lower-layer file does not."""
    from falco_engine import table
    sys.path.insert(0, str(ACT.parent))
    try:
        import act as actions
    finally:
        sys.path.remove(str(ACT.parent))
    exe_flags = dict(table.FLAG_SETS[[p for p in table.EVENTS[293].params
                                      if p.name == "flags"][0].flag_set])
    upper_bit = exe_flags["EXE_UPPER_LAYER"]
    got = {}
    for name in ("dropped", "inimage"):
        recs = _records(bpf, lambda: os.execv(
            os.path.join(actions.overlay(str(tmp_path)), name), [name]))
        p = [p for n, x, p in recs if n == "execve" and x and _i64(p["res"]) == 0][0]
        assert p["trusted_exepath"] == f"{tmp_path}/merged/{name}".encode() + b"\0"
        got[name] = _u32(p["flags"]) & upper_bit
    assert got == {"dropped": upper_bit, "inimage": 0}


def test_probe_params_chdir_fchdir(bpf, tmp_path):
    """chdir exit: res, path; fchdir: fd on enter, res on exit (both used
    to go out as generic events, so the working directory never moved)."""
    def act():
        os.chdir(str(tmp_path))
        fd = os.open("/", os.O_RDONLY)
        os.fchdir(fd)
        try:
            os.chdir("/nonexistent-fbe2e")
        except OSError:
            pass
    recs = _records(bpf, act)
    xs = [p for n, x, p in recs if n == "chdir" and x]
    assert [(_i64(p["res"]), p["path"]) for p in xs] == [
        (0, str(tmp_path).encode() + b"\0"), (-2, b"/nonexistent-fbe2e\0")]
    e = [p for n, x, p in recs if n == "fchdir" and not x][0]
    assert _i64(e["fd"]) >= 3
    assert _i64(_exit(recs, "fchdir")["res"]) == 0


# =========================================================================
# 5. Metrics of a live run, scraped from its webserver
# =========================================================================

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_metrics_scrape_has_driver_and_state_counters(tmp_path):
    """`falco run` with the webserver and metrics on: /metrics carries the
    driver's event counts, the engine's, and the state tables' sizes."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    if os.geteuid() != 0:
        pytest.skip("live capture needs root")
    rules = tmp_path / "rules.yaml"
    rules.write_text("- rule: never\n  desc: d\n  condition: evt.type = open and "
                     "evt.num = 0\n  output: o\n  priority: INFO\n")
    port = _free_port()
    with FalcoRun([rules], "-o", "webserver.enabled=true",
                  "-o", f"webserver.listen_port={port}",
                  "-o", "webserver.prometheus_metrics_enabled=true",
                  "-o", "metrics.enabled=true") as run:
        for _ in range(20):
            _act("-c", "open('/etc/hostname').read()")
        deadline = time.monotonic() + 10
        samples: dict = {}
        while time.monotonic() < deadline:
            with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
            samples = {s.name: s.value for fam in text_string_to_metric_families(text)
                       for s in fam.samples}
            if samples.get("falcosecurity_falco_num_evts_total", 0) > 0:
                break
            time.sleep(0.2)
    assert samples.get("falcosecurity_falco_num_evts_total", 0) > 0, run.stderr()
    assert samples["falcosecurity_scap_n_evts_total"] > 0
    # the /proc snapshot alone puts every running thread in the table
    assert samples["falcosecurity_scap_n_threads_total"] > 10
    assert samples["falcosecurity_scap_n_fds_total"] > 0
    assert samples["falcosecurity_scap_n_added_threads_total"] >= 0
    assert samples["falcosecurity_scap_n_drops_full_threadtable_total"] == 0

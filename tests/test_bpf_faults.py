"""The eBPF probe fed hostile user memory (issue #10): unmapped pointers,
strings that end exactly at a page followed by an unmapped one, paths and
argv/env longer than the probe keeps, a thousand threads exiting at once.

What must hold each time: the program loaded (no verifier rejection), the
event is still emitted with every param of the table (a param the probe
could not read is empty, a long one is cut), the fault counter counts the
unreadable ones, nothing is dropped for size, and the reader survives.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import threading
import time

import pytest

from test_bpf_live import (AT_FDCWD, BpfSource, BpfUnavailable, Rec, decoder,
                           libc, live, pair, run, table)

SYS_openat, SYS_execve = 257, 59
PAGE = os.sysconf("SC_PAGE_SIZE")
EFAULT, ENAMETOOLONG, E2BIG = 14, 36, 7

libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


@pytest.fixture(scope="module", params=["btf", "raw"])
def src(request):
    """The probe loaded with each attach mode: both must pass the verifier."""
    if os.geteuid() != 0:
        pytest.skip("live BPF capture needs root")
    s = BpfSource(ring_bytes=16 << 20, attach=request.param)
    try:
        s.open(live.syscall_codes(["openat", "execve", "exit", "exit_group",
                                   "clone", "clone3", "fork", "vfork"]))
        s.start()
    except BpfUnavailable as exc:
        if request.param == "raw":
            pytest.skip(f"raw tracepoints unavailable: {exc}")
        raise       # the default attach mode must load here
    assert s.mode == request.param
    yield s
    s.close()


def run_all(s: BpfSource, action, timeout: float = 10.0) -> list[Rec]:
    """run() without following tids: every record until the child's
    procexit (a vfork child's exec is recorded before its parent's vfork
    returns, so following clone results would miss it)."""
    s.drain(1 << 30)
    pid = os.fork()
    if pid == 0:
        try:
            action()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    out: list[Rec] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.wait(0.05)
        batch = decoder.scan_records(s.drain(1 << 30))
        assert batch.error is None, batch.error
        out += [Rec(batch.event(i)) for i in range(len(batch))]
        if any(r.info.name == "procexit" and r.tid == pid for r in out):
            return out
    raise AssertionError("no procexit for the child")


def faults(s: BpfSource) -> int:
    return s.counters()["faults"]


def page_pair():
    """Two fresh pages, the second unmapped again: (first page address)."""
    base = libc.mmap(None, 2 * PAGE, 3, 0x22, -1, 0)   # RW, PRIVATE|ANON
    assert base not in (None, ctypes.c_void_p(-1).value)
    assert libc.munmap(base + PAGE, PAGE) == 0
    return base


def openat_at(addr: int) -> int:
    r = libc.syscall(SYS_openat, AT_FDCWD, ctypes.c_void_p(addr), os.O_RDONLY)
    return r if r >= 0 else -ctypes.get_errno()


def opens(recs: list[Rec]) -> list[Rec]:
    return [r for r in recs if r.info.name == "openat" and r.type & 1]


def check_whole(recs: list[Rec]) -> None:
    for r in recs:
        assert r.nparams == len(r.info.params), r


def test_unmapped_pointer(src):
    before = faults(src)
    res = []
    recs = run(src, lambda: res.append(openat_at(1)))
    check_whole(recs)
    e, x = pair(recs, "openat", lambda r: r.i64("fd") == -EFAULT)
    assert e.p["name"] == b"" and x.p["name"] == b""
    assert x.i64("dirfd") == AT_FDCWD
    assert x.u32("flags") == 1              # PPM_O_RDONLY, still there
    assert faults(src) - before >= 2        # enter and exit reads


def test_string_ending_at_page_end(src):
    """The NUL is the last byte before an unmapped page: read whole."""
    base = page_pair()
    path = b"/nonexistent/fb-page-edge"
    addr = base + PAGE - len(path) - 1
    ctypes.memmove(addr, path + b"\0", len(path) + 1)
    try:
        recs = run(src, lambda: openat_at(addr))
    finally:
        libc.munmap(base, PAGE)
    check_whole(recs)
    e, x = pair(recs, "openat", lambda r: r.i64("fd") == -2)
    assert e.s("name") == path and x.s("name") == path


def test_string_running_into_unmapped_page(src):
    """No NUL before the unmapped page: the kernel says EFAULT, the probe
    stores the param empty and counts the fault."""
    base = page_pair()
    ctypes.memset(base, ord("a"), PAGE)
    addr = base + PAGE - 64
    before = faults(src)
    try:
        recs = run(src, lambda: openat_at(addr))
    finally:
        libc.munmap(base, PAGE)
    check_whole(recs)
    e, x = pair(recs, "openat", lambda r: r.i64("fd") == -EFAULT)
    assert e.p["name"] == b"" and x.p["name"] == b""
    assert faults(src) - before >= 2


def test_path_longer_than_path_max(src):
    """A 6000-byte path: ENAMETOOLONG; the probe keeps 4095 bytes + NUL."""
    path = b"/" + b"x" * 5999
    before = src.counters()
    recs = run(src, lambda: openat_at(ctypes.cast(ctypes.c_char_p(path),
                                                  ctypes.c_void_p).value))
    check_whole(recs)
    e, x = pair(recs, "openat", lambda r: r.i64("fd") == -ENAMETOOLONG)
    for r in (e, x):
        assert len(r.p["name"]) == 4096 and r.s("name") == path[:4095]
    after = src.counters()
    assert after["drops_max_size"] == before["drops_max_size"]


def test_long_argv_and_env(src, tmp_path):
    """execve with 64 KiB of argv and of env: args/env cut at argv_max,
    the record well under the size limit, nothing dropped for size."""
    argv = ["/bin/true"] + [f"arg{i:05d}-" + "a" * 100 for i in range(600)]
    env = {f"FBVAR{i}": "e" * 100 for i in range(600)}
    before = src.counters()
    recs = run_all(src, lambda: subprocess.run(argv, env=env, check=True))
    check_whole(recs)
    x = [r for r in recs if r.info.name == "execve" and r.type & 1
         and r.i64("res") == 0 and r.p["args"].startswith(b"arg00000-")][-1]
    args, envb = x.p["args"], x.p["env"]
    assert 0 < len(args) <= src.argv_max and 0 < len(envb) <= src.argv_max
    assert args.startswith(b"arg00000-a")
    assert envb.startswith(b"FBVAR")
    assert x.s("exe") == b"/bin/true"
    after = src.counters()
    assert after["drops_max_size"] == before["drops_max_size"]


def test_execve_unmapped_argv(src):
    """argv and envp pointing nowhere: EFAULT, the exit record still goes
    (its args are the unchanged caller's)."""
    def act():
        libc.syscall(SYS_execve, b"/bin/true", ctypes.c_void_p(8),
                     ctypes.c_void_p(8))
    recs = run(src, act)
    check_whole(recs)
    e, x = pair(recs, "execve", lambda r: r.i64("res") == -EFAULT)
    assert e.s("filename") == b"/bin/true"


def test_thousand_threads_exit_at_once(src):
    """1000 threads released together: a procexit for every one of them,
    the reader keeps up, events + drops account for all."""
    n = 1000
    tids: list[int] = []
    before = src.counters()

    def act():
        gate = threading.Event()
        lock = threading.Lock()

        def worker():
            with lock:
                tids.append(threading.get_native_id())
            gate.wait()
        threading.stack_size(64 << 10)
        ts = [threading.Thread(target=worker) for _ in range(n)]
        for t in ts:
            t.start()
        while len(tids) < n:
            time.sleep(0.01)
        with open(note, "w") as f:
            f.write(" ".join(map(str, tids)))
        gate.set()
        for t in ts:
            t.join()

    # the child's thread ids come back through a file (the child is forked)
    note = "/tmp/fb_threads_%d" % os.getpid()
    recs = run(src, act, timeout=30)
    with open(note) as f:
        want = {int(t) for t in f.read().split()}
    os.unlink(note)
    assert len(want) == n
    exited = {r.tid for r in recs if r.info.name == "procexit"}
    after = src.counters()
    dropped = after["drops"] - before["drops"]
    missing = want - exited
    assert len(missing) <= dropped, (len(missing), dropped)
    assert dropped == 0 or after["drops_buffer"] > before["drops_buffer"]
    check_whole(recs)


def test_reader_survives_garbage_free_run(src):
    """After all of the above the source still drains and decodes."""
    recs = run(src, lambda: openat_at(1))
    assert opens(recs)
    batch = decoder.scan_records(src.drain(1 << 30))
    assert batch.error is None
    assert table.EVENTS  # the table is still there


# ---- capabilities dropped after attach ------------------------------------

SHADOW_RULE = """
- rule: Shadow opened
  desc: test rule
  condition: evt.type in (open, openat, openat2) and evt.dir = < and evt.arg.name = /etc/shadow
  output: "shadow opened (name=%evt.arg.name proc=%proc.name)"
  priority: WARNING
"""


def test_falco_run_drops_capabilities_and_still_alerts(tmp_path):
    """A live `falco run`: once attached its CapEff / CapPrm / CapBnd are
    the kept set (CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_BPF), and it
    still sees processes and raises alerts."""
    import sys

    from falco.live import privileges as P

    if os.geteuid() != 0:
        pytest.skip("live capture needs root")
    start = P.status_caps()
    kept = P.keep_for("ebpf")
    want = P._mask(kept) & start["CapPrm"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(SHADOW_RULE)
    proc = subprocess.Popen([sys.executable, "-m", "falco", "run", "-r", str(rules),
                             "-M", "8", "-o", "syslog_output.enabled=false",
                             "-o", "watch_config_files=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 20
        caps = P.status_caps(proc.pid)
        while caps["CapEff"] != want and time.monotonic() < deadline \
                and proc.poll() is None:
            time.sleep(0.05)
            caps = P.status_caps(proc.pid)
        assert caps["CapEff"] == want, hex(caps["CapEff"])
        assert caps["CapPrm"] == want and caps["CapInh"] == 0
        assert caps["CapBnd"] == want & start["CapBnd"]
        assert caps["CapAmb"] == 0
        # Capabilities are per thread: the threads started before the
        # attach (the output thread) dropped theirs too.
        deadline = time.monotonic() + 10
        while True:
            tasks = {t: P.status_caps(f"{proc.pid}/task/{t}")
                     for t in os.listdir(f"/proc/{proc.pid}/task")}
            full = {t: hex(c["CapEff"]) for t, c in tasks.items() if c["CapEff"] != want}
            if not full or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(tasks) > 1 and not full, full
        time.sleep(0.5)
        with open("/etc/shadow", "rb"):
            pass
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "capabilities dropped after attach; kept " \
           "CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE,CAP_BPF" in err, err
    lines = [l for l in out.splitlines() if "shadow opened" in l]
    assert lines and "name=/etc/shadow" in lines[0], (out, err)
    assert "0 dropped by the driver" in err


def test_drop_capabilities_in_a_child():
    """The library call itself: only the kept set remains, and what was
    dropped does not come back when asked for again."""
    from falco.live import privileges as P

    if os.geteuid() != 0:
        pytest.skip("needs root's capabilities")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            after = P.drop_capabilities({P.CAP_SYS_PTRACE})
            # asking for CAP_SYS_ADMIN again: it is not permitted any more
            P.drop_capabilities({P.CAP_SYS_PTRACE, 21})
            now = P.get_caps()
            os.write(w, f"{after['effective']} {now['effective']} "
                        f"{now['permitted']} {P.status_caps()['CapBnd']}".encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    eff, now, prm, bnd = map(int, os.read(r, 200).decode().split())
    os.close(r)
    assert eff == now == prm == bnd == 1 << P.CAP_SYS_PTRACE

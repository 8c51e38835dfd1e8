"""Real actions for tests/test_live_e2e.py, one per sub-command.

Run as ``python act.py ACTION TOKEN [ARGS...]``: the token ends up in the
command line of the process that acts, so the test can tell its alerts from
whatever else runs on the host.  Every action undoes what it creates and
fails harmlessly where the kernel refuses (no module support, bad BPF
attributes): the rules judge the attempt, not its result.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

SYS_ptrace, SYS_personality, SYS_init_module = 101, 135, 175
SYS_finit_module, SYS_memfd_create, SYS_bpf = 313, 319, 321
SYS_unshare, SYS_mount = 272, 165
PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_DETACH = 0, 16, 17
BPF_PROG_LOAD = 5
CLONE_NEWUSER = 0x10000000
AF_PACKET = 17


def _in_child(fn) -> None:
    """fn() in a forked child; wait for it."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def ptrace_attach(token: str) -> None:
    pid = os.fork()
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    assert libc.syscall(SYS_ptrace, PTRACE_ATTACH, pid, 0, 0) == 0, ctypes.get_errno()
    os.waitpid(pid, os.WUNTRACED)
    libc.syscall(SYS_ptrace, PTRACE_DETACH, pid, 0, 0)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def traceme(token: str) -> None:
    # In a child that never execs: a traced exec would stop on SIGTRAP.
    _in_child(lambda: libc.syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0))


def memfd_exec(token: str) -> None:
    fd = libc.syscall(SYS_memfd_create, b"fbe2e", 0)
    assert fd >= 0
    with open("/bin/true", "rb") as f:
        os.write(fd, f.read())
    pid = os.fork()
    if pid == 0:
        os.execv(f"/proc/self/fd/{fd}", ["memfd-exe", token])
    os.waitpid(pid, 0)
    os.close(fd)


def memfd_only(token: str) -> None:
    fd = libc.syscall(SYS_memfd_create, b"fbe2e-anon", 1)
    os.close(fd)


def modules(token: str) -> None:
    libc.syscall(SYS_init_module, None, 0, b"")        # EFAULT / ENOSYS
    libc.syscall(SYS_finit_module, -1, b"", 0)          # EBADF / ENOSYS


def bpf_load(token: str) -> None:
    libc.syscall(SYS_bpf, BPF_PROG_LOAD, None, 0)      # EINVAL / EFAULT


def personality(token: str) -> None:
    libc.syscall(SYS_personality, 0xffffffff)          # query only


def aslr(token: str) -> None:
    # Opened for writing, nothing written: the setting is unchanged.
    os.close(os.open("/proc/sys/kernel/randomize_va_space", os.O_WRONLY))


def connect(token: str, host: str, port: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((host, int(port)))
    s.close()


def stdio_socket(token: str, host: str, port: str) -> None:
    """A socket duplicated onto stdout (what a reverse shell does)."""
    def child():
        s = socket.create_connection((host, int(port)), timeout=3)
        os.dup2(s.fileno(), 1)
    _in_child(child)


def server_children(token: str) -> None:
    """Run as a copy named like a web server: a shell and a tool as children."""
    import subprocess
    subprocess.run(["/bin/sh", "-c", f"true {token}"])
    subprocess.run(["/usr/bin/id", "-u"], stdout=subprocess.DEVNULL)


def container_suite(token: str, host: str, port: str, nmap: str) -> None:
    """Run inside the fake docker cgroup: container-only rules."""
    import subprocess
    s = socket.socket(AF_PACKET, socket.SOCK_RAW, 0)
    s.close()
    libc.syscall(SYS_mount, b"none", f"/nonexistent-{token}".encode(), b"tmpfs", 0, None)
    _in_child(lambda: libc.syscall(SYS_unshare, CLONE_NEWUSER))
    modules(token)
    stdio_socket(token, host, port)
    subprocess.run([nmap, token])


def tty_shell(token: str) -> None:
    """A shell on a new terminal as this process's child (what `docker exec
    -it` makes the runtime do); run as a copy named like a runtime."""
    import fcntl
    import termios
    master, slave = os.openpty()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execv("/bin/sh", ["sh", "-c", f": {token}"])
    os.close(slave)
    os.waitpid(pid, 0)
    os.close(master)


def as_nobody(token: str, path: str, *args: str) -> None:
    """exec path with args as uid/gid 65534."""
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    os.execv(path, [path, *args])


MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def overlay(base: str) -> str:
    """A private mount namespace with an overlay on base/merged whose
    lower layer holds `inimage` and whose upper layer gets `dropped`
    (copies of /bin/true); the merged dir's path.  The mount goes away
    with the namespace."""
    import shutil
    assert libc.syscall(SYS_unshare, 0x00020000) == 0, ctypes.get_errno()
    libc.syscall(SYS_mount, None, b"/", None, MS_REC | MS_PRIVATE, None)
    dirs = {n: os.path.join(base, n) for n in ("lower", "upper", "work", "merged")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    if not os.path.exists(os.path.join(dirs["lower"], "inimage")):
        shutil.copy("/bin/true", os.path.join(dirs["lower"], "inimage"))
    opts = "lowerdir={lower},upperdir={upper},workdir={work}".format(**dirs)
    assert libc.syscall(SYS_mount, b"overlay", dirs["merged"].encode(), b"overlay",
                        0, opts.encode()) == 0, ctypes.get_errno()
    dropped = os.path.join(dirs["merged"], "dropped")
    if not os.path.exists(dropped):
        shutil.copy("/bin/true", dropped)
    return dirs["merged"]


def overlay_exec(token: str, base: str) -> None:
    """Run a binary of the image (lower layer), then one added later."""
    import subprocess
    merged = overlay(base)
    for name in ("inimage", "dropped"):
        subprocess.run([os.path.join(merged, name), token])


def child_exec(token: str, path: str) -> None:
    os.execv(path, [path, token])


ACTIONS = {f.__name__: f for f in (
    ptrace_attach, traceme, memfd_exec, memfd_only, modules, bpf_load,
    personality, aslr, connect, stdio_socket, server_children,
    container_suite, tty_shell, as_nobody, overlay_exec, child_exec)}

if __name__ == "__main__":
    ACTIONS[sys.argv[1]](*sys.argv[2:])

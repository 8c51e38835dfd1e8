# cython: language_level=3, boundscheck=False, wraparound=True
"""Field extractors over the state engine: proc.*, thread.*, fd.*, user.*,
group.*, container.*, k8s.* (from container labels), fs.path.*, fdlist.*.

Each family is one FieldExtractor subclass switching on a small integer
code chosen at compile time, so evaluation is a C switch plus, at most, a
dict lookup (parent thread, user name).  Strings point into bytes the state
owns; only composed strings (command lines, joined lists) are built, and the
context keeps those alive for the event.  Meanings and output formats are
libsinsp's (checked against sysdig 0.29.3 on the reference captures).
"""
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_GET_SIZE,
                            PyBytes_FromStringAndSize)
from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, int32_t
from libc.string cimport memcpy, strcmp

from falco_engine.decoder cimport EventBatch, fe_evt, read_int
from falco_engine.evalctx cimport (
    EventCtx, FieldExtractor, Value, VK_NONE, VK_INT, VK_UINT, VK_BOOL, VK_STR,
    VK_IP, VK_DOUBLE, VK_LIST, ctx_fd,
)
from falco_engine.event_table cimport fe_event_table
from falco_engine.state cimport (StateEngine, ThreadInfo, FdInfo, fd_of, fd_name,
                                 thread_of, concat_paths, short_id_object)
from falco_engine import state as _state
from falco_engine import table as _table
from falco_engine import fields as _fields
from fnmatch import fnmatchcase as _fnmatchcase

DEF EF_CREATES_FD = 1
DEF EF_DESTROYS_FD = 2
DEF EF_USES_FD = 4
DEF FD_FLAGS = 7

DEF FD_UNKNOWN = 0
DEF FD_FILE = 1
DEF FD_DIRECTORY = 2
DEF FD_IPV4_SOCK = 3
DEF FD_IPV6_SOCK = 4
DEF FD_IPV4_SERVSOCK = 5
DEF FD_IPV6_SERVSOCK = 6
DEF FD_UNIX_SOCK = 8

cdef frozenset SHELLS = frozenset((b"ash", b"bash", b"csh", b"ksh", b"sh",
                                   b"tcsh", b"zsh", b"dash", b"fish"))
cdef tuple L4_NAMES = (b"<NA>", b"<NA>", b"tcp", b"udp", b"icmp", b"raw")

# fd.typechar and fd.type by fd type number (FD_*): an index on the hot
# path, not a dict probe.
cdef tuple _TYPE_CHAR_AT = tuple(_state.FD_TYPE_CHARS.get(i, "o").encode()
                                 for i in range(max(_state.FD_TYPE_CHARS) + 1))
cdef tuple _TYPE_NAME_AT = tuple(_state.FD_TYPE_NAMES.get(i, "unknown").encode()
                                 for i in range(max(_state.FD_TYPE_NAMES) + 1))


cdef inline bytes _type_char(int t):
    if 0 <= t < len(_TYPE_CHAR_AT):
        return <bytes>_TYPE_CHAR_AT[t]
    return b"o"


cdef inline bytes _type_name(int t):
    if 0 <= t < len(_TYPE_NAME_AT):
        return <bytes>_TYPE_NAME_AT[t]
    return b"unknown"

# fd.typechar / fd.type when the event names no known fd: by what the
# syscall would create (libsinsp's guess from the event type).
_NULL_CHARS = {"open": b"f", "openat": b"f", "openat2": b"f", "creat": b"f",
               "socket": b"4", "accept": b"4", "accept4": b"4", "bind": b"4",
               "connect": b"4", "pipe": b"p", "pipe2": b"p", "eventfd": b"e",
               "eventfd2": b"e", "signalfd": b"s", "signalfd4": b"s",
               "timerfd_create": b"t", "inotify_init": b"i",
               "inotify_init1": b"i"}
cdef dict _NULL_FD_CHAR = {ev.id: _NULL_CHARS[ev.name] for ev in _table.EVENTS
                           if ev.name in _NULL_CHARS}
_NULL_FD_TYPE = {b"f": b"file", b"4": b"ipv4", b"p": b"pipe", b"e": b"event",
                 b"s": b"signalfd", b"t": b"timerfd", b"i": b"inotify"}

# Events whose exit names the fd's path or tuple in parameter 1.
cdef frozenset _CREATOR_P1 = frozenset(
    e.id for e in _table.EVENTS
    if e.id % 2 == 1 and e.name in ("open", "creat", "accept", "accept4", "connect")
    and len(e.params) > 1)
cdef frozenset _OPENAT = frozenset(e.id for e in _table.EVENTS
                                   if e.name in ("openat", "openat2") and e.id % 2 == 1)


cdef inline int set_bytes(Value *out, bytes b) except -1:
    """Point `out` at bytes owned by the state (alive for the event).
    Bytes made during extraction (slices, joins) go through ctx.set_str,
    which keeps them alive: `out` holds no reference."""
    out.kind = VK_STR
    out.s = PyBytes_AS_STRING(b)
    out.n = PyBytes_GET_SIZE(b)
    return 0


cdef inline int set_int(Value *out, int64_t v) except -1:
    out.kind = VK_INT
    out.i = v
    return 0


cdef inline int set_uint(Value *out, uint64_t v) except -1:
    out.kind = VK_UINT
    out.u = v
    return 0


cdef inline int set_bool(Value *out, bint v) except -1:
    out.kind = VK_BOOL
    out.u = 1 if v else 0
    return 0


cdef int set_list(EventCtx ctx, Value *out, tuple items) except -1:
    ctx.keep.append(items)
    out.kind = VK_LIST
    out.obj = <PyObject *>items
    return 0


cdef int set_ip(Value *out, const uint8_t *p, int n) except -1:
    out.kind = VK_IP
    memcpy(out.ip, p, n)
    out.n = n
    return 0


cdef inline StateEngine engine_of(EventCtx ctx):
    cdef object st = ctx.state
    if isinstance(st, StateEngine):
        return <StateEngine>st
    return None


# --- process and thread fields ---------------------------------------------

cdef enum PCode:
    P_EXE, P_PEXE, P_AEXE, P_EXEPATH, P_PEXEPATH, P_AEXEPATH, P_NAME, P_PNAME,
    P_ANAME, P_ARGS, P_CMDLINE, P_PCMDLINE, P_ACMDLINE, P_CMDNARGS,
    P_CMDLENARGS, P_EXELINE, P_ENV, P_AENV, P_CWD, P_LOGINSHELLID, P_TTY,
    P_PID, P_PPID, P_APID, P_VPID, P_PVPID, P_SID, P_SNAME, P_SID_EXE,
    P_SID_EXEPATH, P_VPGID, P_VPGID_NAME, P_VPGID_EXE, P_VPGID_EXEPATH,
    P_DURATION, P_PPID_DURATION, P_PID_TS, P_PPID_TS, P_IS_EXE_WRITABLE,
    P_IS_EXE_UPPER, P_IS_EXE_LOWER, P_IS_EXE_MEMFD, P_IS_SID_LEADER,
    P_IS_VPGID_LEADER, P_EXE_INO, P_EXE_INO_CTIME, P_EXE_INO_MTIME,
    P_EXE_INO_CTIME_PROC, P_EXE_INO_CTIME_PIDNS, P_PIDNS_INIT_TS, P_FDOPENCOUNT, P_FDLIMIT, P_FDUSAGE,
    P_VMSIZE, P_VMRSS, P_VMSWAP, P_PFMAJOR, P_PFMINOR, P_STDIN_TYPE,
    P_STDOUT_TYPE, P_STDERR_TYPE, P_STDIN_NAME, P_STDOUT_NAME, P_STDERR_NAME,
    P_NTHREADS, P_NCHILDS, P_FALSE, P_TID, P_ISMAIN, P_VTID, P_CGROUPS,
    P_CGROUP, P_NAMETID, P_CAP_PRM, P_CAP_INH, P_CAP_EFF, P_THREAD_VMSIZE,
    P_THREAD_VMRSS, P_THREAD_VMSIZE_B, P_THREAD_VMRSS_B


_PROC_CODES = {
    "proc.exe": P_EXE, "proc.pexe": P_PEXE, "proc.aexe": P_AEXE,
    "proc.exepath": P_EXEPATH, "proc.pexepath": P_PEXEPATH,
    "proc.aexepath": P_AEXEPATH, "proc.name": P_NAME, "proc.pname": P_PNAME,
    "proc.aname": P_ANAME, "proc.args": P_ARGS, "proc.cmdline": P_CMDLINE,
    "proc.pcmdline": P_PCMDLINE, "proc.acmdline": P_ACMDLINE,
    "proc.cmdnargs": P_CMDNARGS, "proc.cmdlenargs": P_CMDLENARGS,
    "proc.exeline": P_EXELINE, "proc.env": P_ENV, "proc.aenv": P_AENV,
    "proc.cwd": P_CWD, "proc.loginshellid": P_LOGINSHELLID, "proc.tty": P_TTY,
    "proc.pid": P_PID, "proc.ppid": P_PPID, "proc.apid": P_APID,
    "proc.vpid": P_VPID, "proc.pvpid": P_PVPID, "proc.sid": P_SID,
    "proc.sname": P_SNAME, "proc.sid.exe": P_SID_EXE,
    "proc.sid.exepath": P_SID_EXEPATH, "proc.vpgid": P_VPGID,
    "proc.vpgid.name": P_VPGID_NAME, "proc.vpgid.exe": P_VPGID_EXE,
    "proc.vpgid.exepath": P_VPGID_EXEPATH, "proc.pgid": P_VPGID,
    "proc.pgid.name": P_VPGID_NAME, "proc.pgid.exe": P_VPGID_EXE,
    "proc.pgid.exepath": P_VPGID_EXEPATH, "proc.duration": P_DURATION,
    "proc.ppid.duration": P_PPID_DURATION, "proc.pid.ts": P_PID_TS,
    "proc.ppid.ts": P_PPID_TS, "proc.is_exe_writable": P_IS_EXE_WRITABLE,
    "proc.is_exe_upper_layer": P_IS_EXE_UPPER,
    "proc.is_exe_lower_layer": P_IS_EXE_LOWER,
    "proc.is_exe_from_memfd": P_IS_EXE_MEMFD,
    "proc.is_sid_leader": P_IS_SID_LEADER,
    "proc.is_vpgid_leader": P_IS_VPGID_LEADER,
    "proc.is_pgid_leader": P_IS_VPGID_LEADER, "proc.exe_ino": P_EXE_INO,
    "proc.exe_ino.ctime": P_EXE_INO_CTIME, "proc.exe_ino.mtime": P_EXE_INO_MTIME,
    "proc.exe_ino.ctime_duration_proc_start": P_EXE_INO_CTIME_PROC,
    "proc.exe_ino.ctime_duration_pidns_start": P_EXE_INO_CTIME_PIDNS,
    "proc.pidns_init_start_ts": P_PIDNS_INIT_TS,
    "proc.fdopencount": P_FDOPENCOUNT, "proc.fdlimit": P_FDLIMIT,
    "proc.fdusage": P_FDUSAGE, "proc.vmsize": P_VMSIZE, "proc.vmrss": P_VMRSS,
    "proc.vmswap": P_VMSWAP, "proc.pfmajor": P_PFMAJOR,
    "proc.pfminor": P_PFMINOR, "proc.stdin.type": P_STDIN_TYPE,
    "proc.stdout.type": P_STDOUT_TYPE, "proc.stderr.type": P_STDERR_TYPE,
    "proc.stdin.name": P_STDIN_NAME, "proc.stdout.name": P_STDOUT_NAME,
    "proc.stderr.name": P_STDERR_NAME, "proc.nthreads": P_NTHREADS,
    "proc.nchilds": P_NCHILDS, "proc.is_container_healthcheck": P_FALSE,
    "proc.is_container_liveness_probe": P_FALSE,
    "proc.is_container_readiness_probe": P_FALSE,
    "thread.tid": P_TID, "thread.ismain": P_ISMAIN, "thread.vtid": P_VTID,
    "thread.cgroups": P_CGROUPS, "thread.cgroup": P_CGROUP,
    "thread.nametid": P_NAMETID, "thread.vmsize": P_THREAD_VMSIZE,
    "thread.vmrss": P_THREAD_VMRSS, "thread.pfmajor": P_PFMAJOR,
    "thread.pfminor": P_PFMINOR, "thread.vmsize.b": P_THREAD_VMSIZE_B,
    "thread.vmrss.b": P_THREAD_VMRSS_B,
    "thread.cap_permitted": P_CAP_PRM, "thread.cap_inheritable": P_CAP_INH,
    "thread.cap_effective": P_CAP_EFF,
}

# libsinsp's capability names, by bit (sinsp_utils::caps_to_string).
_CAP_NAMES = (
    b"CAP_CHOWN", b"CAP_DAC_OVERRIDE", b"CAP_DAC_READ_SEARCH", b"CAP_FOWNER",
    b"CAP_FSETID", b"CAP_KILL", b"CAP_SETGID", b"CAP_SETUID", b"CAP_SETPCAP",
    b"CAP_LINUX_IMMUTABLE", b"CAP_NET_BIND_SERVICE", b"CAP_NET_BROADCAST",
    b"CAP_NET_ADMIN", b"CAP_NET_RAW", b"CAP_IPC_LOCK", b"CAP_IPC_OWNER",
    b"CAP_SYS_MODULE", b"CAP_SYS_RAWIO", b"CAP_SYS_CHROOT", b"CAP_SYS_PTRACE",
    b"CAP_SYS_PACCT", b"CAP_SYS_ADMIN", b"CAP_SYS_BOOT", b"CAP_SYS_NICE",
    b"CAP_SYS_RESOURCE", b"CAP_SYS_TIME", b"CAP_SYS_TTY_CONFIG", b"CAP_MKNOD",
    b"CAP_LEASE", b"CAP_AUDIT_WRITE", b"CAP_AUDIT_CONTROL", b"CAP_SETFCAP",
    b"CAP_MAC_OVERRIDE", b"CAP_MAC_ADMIN", b"CAP_SYSLOG", b"CAP_WAKE_ALARM",
    b"CAP_BLOCK_SUSPEND", b"CAP_AUDIT_READ", b"CAP_PERFMON", b"CAP_BPF",
    b"CAP_CHECKPOINT_RESTORE",
)


cdef bytes caps_to_string(uint64_t caps):
    """Space-separated names of the set bits, lowest first ("" for none)."""
    cdef int i
    return b" ".join([_CAP_NAMES[i] for i in range(len(_CAP_NAMES))
                      if caps & ((<uint64_t>1) << i)])


cdef bytes join_args(list args):
    return b" ".join(args)


cdef bytes cmdline_of(ThreadInfo t):
    if t.args:
        return t.comm + b" " + b" ".join(t.args)
    return t.comm


cdef ThreadInfo ancestor(StateEngine st, ThreadInfo t, long n):
    """The n-th ancestor of t's process (0: the process itself)."""
    cdef ThreadInfo cur = st.main_thread(t)
    cdef long j
    if cur is None:
        return None
    for j in range(n):
        cur = st.parent_thread(cur)
        if cur is None:
            return None
    return cur


cdef list ancestors(StateEngine st, ThreadInfo t):
    """Every ancestor of t's process, parent first (loops cut)."""
    cdef ThreadInfo cur = st.main_thread(t)
    cdef list out = []
    seen = set()
    if cur is None:
        return out
    while True:
        cur = st.parent_thread(cur)
        if cur is None or cur.tid in seen:
            break
        seen.add(cur.tid)
        out.append(cur)
    return out


cdef ThreadInfo group_leader(StateEngine st, ThreadInfo t, bint by_sid):
    """The oldest ancestor (from the process up) still in t's session /
    process group: libsinsp's session (group) leader."""
    cdef ThreadInfo mt = st.main_thread(t)
    cdef ThreadInfo leader
    cdef int64_t want
    if mt is None:
        mt = t
    leader = mt
    want = mt.sid if by_sid else mt.vpgid
    # Outside a pid namespace the id is the leader's pid: that process,
    # when the table has it (as libsinsp does).  The walk alone goes wrong
    # when an ancestor changed group or session without the engine seeing
    # it (setpgid has no parser): its stale id ends the walk early.
    if want > 0 and (mt.vtid < 0 or mt.vtid == mt.tid):
        leader = thread_of(st, want)
        if leader is not None and leader.tid == leader.pid:
            return leader
        leader = mt
    for a in ancestors(st, t):
        if ((<ThreadInfo>a).sid if by_sid else (<ThreadInfo>a).vpgid) != want:
            break
        leader = a
    return leader


cdef bytes env_value(list env, bytes key):
    cdef bytes prefix = key + b"="
    for item in env:
        if (<bytes>item).startswith(prefix):
            return (<bytes>item)[len(prefix):]
    return None


# Helpers with loops of their own: a generator expression inside
# ProcField.extract made Cython allocate a closure on every call of it.
cdef uint64_t _args_length(list args):
    cdef uint64_t n = 0
    for a in args:
        n += len(a)
    return n + (len(args) - 1 if args else 0)


cdef bytes _env_text(list env):
    """The environment as proc.env (and proc.aenv without a name) print it:
    space separated, with no separators for the empty entries a zeroed tail
    of the captured environment leaves (as sysdig shows it)."""
    return b" ".join(env).rstrip(b" ")


cdef uint64_t _count_threads(StateEngine st, int64_t who, bint by_parent,
                             bint but_leader=False):
    cdef uint64_t n = 0
    cdef ThreadInfo x
    for obj in st.threads.values():
        x = <ThreadInfo>obj
        if (x.ptid if by_parent else x.pid) == who and \
                not (but_leader and x.tid == x.pid):
            n += 1
    return n


cdef class ProcField(FieldExtractor):
    """proc.* and thread.* fields."""
    cdef int code
    cdef long index          # [N] argument, -1 when absent
    cdef bytes key           # [KEY] argument

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef ThreadInfo t, x
        cdef StateEngine st
        cdef FdInfo fi
        cdef int code = self.code
        cdef bytes b
        cdef uint64_t ts
        out.kind = VK_NONE
        if code == P_TID:
            # From the event itself: known even without thread state.
            return set_int(out, <int64_t>ctx.evt.tid)
        if ctx.thread is None:
            return 0
        t = <ThreadInfo>ctx.thread
        st = engine_of(ctx)
        if st is None:
            return 0
        if code == P_NAME:
            return set_bytes(out, t.comm)
        if code == P_EXE:
            return set_bytes(out, t.exe)
        if code == P_EXEPATH:
            return set_bytes(out, t.exepath)
        if code == P_PID:
            return set_int(out, t.pid)
        if code == P_CWD:
            # Threads share their process's working directory.
            x = st.main_thread(t)
            return set_bytes(out, t.cwd if x is None else x.cwd)
        if code == P_ARGS:
            return ctx.set_str(out, join_args(t.args))
        if code == P_CMDLINE:
            return ctx.set_str(out, cmdline_of(t))
        if code == P_EXELINE:
            return ctx.set_str(out, t.exe + b" " + join_args(t.args))
        if code == P_CMDNARGS:
            return set_uint(out, len(t.args))
        if code == P_CMDLENARGS:
            return set_uint(out, _args_length(t.args))
        if code == P_PNAME or code == P_PEXE or code == P_PEXEPATH \
                or code == P_PCMDLINE:
            # The parent of the thread itself (its creator).
            x = st.parent_thread(t)
            if x is None:
                return 0
            if code == P_PNAME:
                return set_bytes(out, x.comm)
            if code == P_PEXE:
                return set_bytes(out, x.exe)
            if code == P_PEXEPATH:
                return set_bytes(out, x.exepath)
            return ctx.set_str(out, cmdline_of(x))
        if code == P_ANAME or code == P_AEXE or code == P_AEXEPATH \
                or code == P_ACMDLINE or code == P_APID:
            if self.index < 0:
                items = []
                for a in ancestors(st, t):
                    items.append(_anc_value(code, <ThreadInfo>a))
                return set_list(ctx, out, tuple(items))
            x = ancestor(st, t, self.index)
            if x is None:
                return 0
            if code == P_APID:
                return set_int(out, x.pid)
            if code == P_ACMDLINE:
                return ctx.set_str(out, cmdline_of(x))
            return set_bytes(out, x.comm if code == P_ANAME else
                             x.exe if code == P_AEXE else x.exepath)
        if code == P_PPID or code == P_PVPID or code == P_PPID_DURATION \
                or code == P_PPID_TS:
            x = st.main_thread(t)
            if x is None:
                return 0
            if code == P_PPID:
                return set_int(out, x.ptid)
            x = st.parent_thread(x)
            if x is None:
                return 0
            if code == P_PVPID:
                return set_int(out, x.vpid)
            if code == P_PPID_TS:
                return set_uint(out, x.clone_ts)
            if x.clone_ts == 0:
                return 0
            return set_uint(out, ctx.evt.ts - x.clone_ts)
        if code == P_VPID:
            if t.vpid == -1:
                return 0
            return set_int(out, t.vpid)
        if code == P_VTID:
            if t.vtid == -1:
                return 0
            return set_int(out, t.vtid)
        if code == P_ISMAIN:
            return set_bool(out, t.tid == t.pid)
        if code == P_SID:
            return set_int(out, t.sid)
        if code == P_VPGID:
            return set_int(out, t.vpgid)
        if code == P_SNAME or code == P_SID_EXE or code == P_SID_EXEPATH or \
                code == P_VPGID_NAME or code == P_VPGID_EXE or \
                code == P_VPGID_EXEPATH:
            x = group_leader(st, t, code == P_SNAME or code == P_SID_EXE
                             or code == P_SID_EXEPATH)
            if code == P_SNAME or code == P_VPGID_NAME:
                return set_bytes(out, x.comm)
            if code == P_SID_EXE or code == P_VPGID_EXE:
                return set_bytes(out, x.exe)
            return set_bytes(out, x.exepath)
        if code == P_IS_SID_LEADER:
            return set_bool(out, t.sid == t.vpid)
        if code == P_IS_VPGID_LEADER:
            return set_bool(out, t.vpgid == t.vpid)
        if code == P_TTY:
            return set_uint(out, t.tty)
        if code == P_LOGINSHELLID:
            found = None
            x = t
            chain = [t] + ancestors(st, t)
            for a in chain:
                if (<ThreadInfo>a).comm in SHELLS:
                    found = (<ThreadInfo>a).pid
            if found is None:
                return 0
            return set_int(out, found)
        if code == P_ENV:
            if self.key is not None:
                # (A slice of the entry: kept alive for the event.)
                b = env_value(t.env, self.key)
                if b is None:
                    return 0
                return ctx.set_str(out, b)
            return ctx.set_str(out, _env_text(t.env))
        if code == P_AENV:
            if self.key is None:
                return ctx.set_str(out, _env_text(t.env))
            for a in [t] + ancestors(st, t):
                b = env_value((<ThreadInfo>a).env, self.key)
                if b is not None:
                    return ctx.set_str(out, b)
            return 0
        if code == P_DURATION:
            if t.clone_ts == 0:
                return 0
            return set_uint(out, ctx.evt.ts - t.clone_ts)
        if code == P_PID_TS:
            return set_uint(out, t.clone_ts)
        if code == P_IS_EXE_WRITABLE:
            return set_bool(out, t.exe_writable)
        if code == P_IS_EXE_UPPER:
            return set_bool(out, t.exe_upper_layer)
        if code == P_IS_EXE_LOWER:
            return set_bool(out, t.exe_lower_layer)
        if code == P_IS_EXE_MEMFD:
            return set_bool(out, t.exe_from_memfd)
        # The inode fields and the pid namespace start: <NA> while unknown
        # (0), as libsinsp's.
        if code == P_EXE_INO:
            return set_int(out, <int64_t>t.exe_ino) if t.exe_ino else 0
        if code == P_EXE_INO_CTIME:
            return set_uint(out, t.exe_ino_ctime) if t.exe_ino_ctime else 0
        if code == P_EXE_INO_MTIME:
            return set_uint(out, t.exe_ino_mtime) if t.exe_ino_mtime else 0
        if code == P_EXE_INO_CTIME_PROC:
            if t.exe_ctime_to_clone == 0:
                return 0
            return set_uint(out, t.exe_ctime_to_clone)
        if code == P_EXE_INO_CTIME_PIDNS:
            if t.exe_ctime_after_pidns == 0:
                return 0
            return set_uint(out, t.exe_ctime_after_pidns)
        if code == P_PIDNS_INIT_TS:
            return set_uint(out, t.pidns_init_start_ts) if t.pidns_init_start_ts else 0
        if code == P_CAP_EFF:
            return ctx.set_str(out, caps_to_string(t.cap_effective))
        if code == P_CAP_PRM:
            return ctx.set_str(out, caps_to_string(t.cap_permitted))
        if code == P_CAP_INH:
            return ctx.set_str(out, caps_to_string(t.cap_inheritable))
        if code == P_FDOPENCOUNT:
            return set_uint(out, t.fds.count)
        if code == P_VMSIZE:
            return set_uint(out, t.vmsize_kb)
        if code == P_VMRSS:
            return set_uint(out, t.vmrss_kb)
        if code == P_VMSWAP:
            return set_uint(out, t.vmswap_kb)
        if code == P_FDLIMIT or code == P_FDUSAGE:
            # Process-wide: the main thread's.
            x = st.main_thread(t)
            if x is None:
                x = t
            if code == P_FDLIMIT:
                return set_int(out, x.fdlimit)
            # libsinsp's get_fd_usage_pct_d: 0 with the limit unknown,
            # at most 100.
            out.kind = VK_DOUBLE
            out.d = 0.0
            if x.fdlimit > 0:
                out.d = min(100.0 * t.fds.count / x.fdlimit, 100.0)
            return 0
        if P_THREAD_VMSIZE <= code <= P_THREAD_VMRSS_B:
            # Per thread: only the main thread holds the process's memory.
            if t.tid != t.pid:
                return set_uint(out, 0)
            if code == P_THREAD_VMSIZE:
                return set_uint(out, t.vmsize_kb)
            if code == P_THREAD_VMRSS:
                return set_uint(out, t.vmrss_kb)
            if code == P_THREAD_VMSIZE_B:
                return set_uint(out, t.vmsize_kb * 1024)
            return set_uint(out, t.vmrss_kb * 1024)
        if code == P_PFMAJOR:
            return set_uint(out, t.pfmajor)
        if code == P_PFMINOR:
            return set_uint(out, t.pfminor)
        if P_STDIN_TYPE <= code <= P_STDERR_NAME:
            fi = fd_of(t, (code - P_STDIN_TYPE) % 3)
            if fi is None:
                return 0
            if code <= P_STDERR_TYPE:
                return set_bytes(out, _type_name(fi.type))
            return set_bytes(out, fd_name(fi))
        if code == P_NTHREADS:
            return set_uint(out, _count_threads(st, t.pid, False))
        if code == P_NCHILDS:
            # The process's threads but its leader (libsinsp's "child
            # threads"), not the processes it started.
            return set_uint(out, _count_threads(st, t.pid, False, True))
        if code == P_FALSE:
            return set_bool(out, False)
        if code == P_CGROUPS:
            if not t.cgroups:
                return 0
            return ctx.set_str(out, b" ".join(t.cgroups))
        if code == P_CGROUP:
            if self.key is None:
                return 0
            for cg in t.cgroups:
                k, _, v = (<bytes>cg).partition(b"=")
                if self.key in k.split(b","):
                    # v is a new object: set_bytes would leave `out`
                    # pointing into it after it is freed.
                    return ctx.set_str(out, v)
            return 0
        if code == P_NAMETID:
            return ctx.set_str(out, t.comm + str(t.tid).encode())
        return 0


cdef object _anc_value(int code, ThreadInfo a):
    if code == P_APID:
        return a.pid
    if code == P_ACMDLINE:
        return cmdline_of(a)
    return a.comm if code == P_ANAME else a.exe if code == P_AEXE else a.exepath


# --- users and groups ------------------------------------------------------

cdef enum UCode:
    U_UID, U_NAME, U_HOMEDIR, U_SHELL, U_LOGINUID, U_LOGINNAME, G_GID, G_NAME

_USER_CODES = {"user.uid": U_UID, "user.name": U_NAME, "user.homedir": U_HOMEDIR,
               "user.shell": U_SHELL, "user.loginuid": U_LOGINUID,
               "user.loginname": U_LOGINNAME, "group.gid": G_GID,
               "group.name": G_NAME}


cdef class UserField(FieldExtractor):
    cdef int code

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef ThreadInfo t
        cdef StateEngine st
        cdef int code = self.code
        out.kind = VK_NONE
        if ctx.thread is None:
            return 0
        t = <ThreadInfo>ctx.thread
        st = engine_of(ctx)
        if st is None:
            return 0
        if code == U_UID:
            return set_uint(out, t.uid)
        if code == G_GID:
            return set_uint(out, t.gid)
        if code == U_LOGINUID:
            return set_int(out, <int32_t>t.loginuid)
        if code == G_NAME:
            g = st.groups.get(t.gid)
            if g is None:
                return 0
            return set_bytes(out, g)
        u = st.users.get(t.loginuid if code == U_LOGINNAME else t.uid)
        if u is None:
            return 0
        if code == U_NAME or code == U_LOGINNAME:
            return set_bytes(out, u[0])
        if code == U_HOMEDIR:
            return set_bytes(out, u[1])
        return set_bytes(out, u[2])


# --- file descriptors ---------------------------------------------------------

# Open flags the drivers add on the exits of open calls: the overlayfs layer
# the file was found in.
DEF PPM_FD_UPPER_LAYER = 32768      # 1 << 15
DEF PPM_FD_LOWER_LAYER = 65536      # 1 << 16

cdef enum FCode:
    F_NUM, F_TYPE, F_TYPECHAR, F_NAME, F_DIRECTORY, F_FILENAME, F_CIP, F_SIP,
    F_LIP, F_RIP, F_CPORT, F_SPORT, F_LPORT, F_RPORT, F_L4PROTO, F_SOCKFAMILY,
    F_IS_SERVER, F_UID, F_CONTAINERNAME, F_CONTAINERDIRECTORY, F_CONNECTED,
    F_NAME_CHANGED, F_DEV, F_DEV_MAJOR, F_DEV_MINOR, F_INO, F_NAMERAW,
    F_CNET, F_SNET, F_LNET, F_RNET, F_TYPES, F_IP, F_PORT,
    F_CIP_NAME, F_SIP_NAME, F_LIP_NAME, F_RIP_NAME,
    F_CPROTO, F_SPROTO, F_LPROTO, F_RPROTO, F_UPPER_LAYER, F_LOWER_LAYER, F_NA

_FD_CODES = {
    "fd.num": F_NUM, "fd.type": F_TYPE, "fd.typechar": F_TYPECHAR,
    "fd.name": F_NAME, "fd.directory": F_DIRECTORY, "fd.filename": F_FILENAME,
    "fd.cip": F_CIP, "fd.sip": F_SIP, "fd.lip": F_LIP, "fd.rip": F_RIP,
    "fd.cport": F_CPORT, "fd.sport": F_SPORT, "fd.lport": F_LPORT,
    "fd.rport": F_RPORT, "fd.l4proto": F_L4PROTO, "fd.sockfamily": F_SOCKFAMILY,
    "fd.is_server": F_IS_SERVER, "fd.uid": F_UID,
    "fd.containername": F_CONTAINERNAME,
    "fd.containerdirectory": F_CONTAINERDIRECTORY, "fd.connected": F_CONNECTED,
    "fd.name_changed": F_NAME_CHANGED, "fd.dev": F_DEV,
    "fd.dev.major": F_DEV_MAJOR, "fd.dev.minor": F_DEV_MINOR, "fd.ino": F_INO,
    "fd.nameraw": F_NAMERAW, "fd.cnet": F_CNET, "fd.snet": F_SNET,
    "fd.lnet": F_LNET, "fd.rnet": F_RNET, "fd.types": F_TYPES,
    # Either end (filter only): a list of both, any of which may match.
    "fd.ip": F_IP, "fd.net": F_IP, "fd.port": F_PORT,
    # The same ports, compared with numbers or service names ("http").
    "fd.proto": F_PORT,
    # Ports as protocol names (numbers, as Falco, unless set_port_names(True)).
    "fd.cproto": F_CPROTO, "fd.sproto": F_SPROTO, "fd.lproto": F_LPROTO,
    "fd.rproto": F_RPROTO,
    # The condition's host names whose addresses include the end's address
    # (the state's host_names index, filled off the hot path).
    "fd.cip.name": F_CIP_NAME, "fd.sip.name": F_SIP_NAME,
    "fd.lip.name": F_LIP_NAME, "fd.rip.name": F_RIP_NAME,
    # The overlayfs layer an open found the file in (open flags).
    "fd.is_upper_layer": F_UPPER_LAYER, "fd.is_lower_layer": F_LOWER_LAYER,
}

# Name field -> the address or port field it names.
cdef dict _NAMED_BASE = {F_CIP_NAME: F_CIP, F_SIP_NAME: F_SIP, F_LIP_NAME: F_LIP,
                         F_RIP_NAME: F_RIP, F_CPROTO: F_CPORT, F_SPROTO: F_SPORT,
                         F_LPROTO: F_LPORT, F_RPROTO: F_RPORT}

# fd.*proto: libsinsp's port_to_string.  Falco turns hostname and port
# resolution off, so a port reads as its number; sysdig's live default
# (services names from /etc/services) is set_port_names(True).
cdef bint _port_names = False
_SERVICES = None


def set_port_names(bint on):
    """fd.*proto as service names (/etc/services) instead of numbers."""
    global _port_names
    _port_names = on


def _services(path="/etc/services"):
    """{(port, "tcp"|"udp"): first service name} from a services file."""
    out = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split("#", 1)[0].split()
                if len(parts) < 2 or "/" not in parts[1]:
                    continue
                port, _, proto = parts[1].partition("/")
                if port.isdigit():
                    out.setdefault((int(port), proto), parts[0])
    except OSError:
        pass
    return out


cdef bytes _port_text(uint64_t port, uint8_t l4proto):
    global _SERVICES
    if _port_names:
        if _SERVICES is None:
            _SERVICES = _services()
        name = _SERVICES.get((port, "tcp" if l4proto == 2 else "udp" if l4proto == 3
                              else "tcp"))
        if name is not None:
            return name.encode()
    return str(port).encode()


cdef inline bint is_inet(int ftype) noexcept:
    return ftype == FD_IPV4_SOCK or ftype == FD_IPV6_SOCK


cdef inline bint is_serv(int ftype) noexcept:
    return ftype == FD_IPV4_SERVSOCK or ftype == FD_IPV6_SERVSOCK


cdef inline int ipw(int ftype) noexcept:
    return 16 if ftype == FD_IPV6_SOCK or ftype == FD_IPV6_SERVSOCK else 4


cdef bint is_zero(const uint8_t *ip, int n) noexcept:
    cdef int i
    for i in range(n):
        if ip[i] != 0:
            return False
    return True


cdef bint is_local(StateEngine st, ThreadInfo t, const uint8_t *ip, int n):
    """libsinsp's "address of this machine": the thread's container's
    address (0.0.0.0 when unknown), or one of the interfaces' (for IPv6 the
    unspecified address counts too)."""
    cdef bytes b = (<const char *>ip)[:n]
    if n == 4:
        if t.container_id:
            info = st.containers.get(t.container_id[:12])
            cip = _container_ip(info)
            if b == cip:
                return True
        return b in st.local_v4
    return b in st.local_v6 or is_zero(ip, 16)


cdef bytes _container_ip(object info):
    """A container's IPv4 address as 4 bytes (0.0.0.0 when not known)."""
    if info is None:
        return b"\0\0\0\0"
    ip = info.get("ip")
    if isinstance(ip, str):
        parts = ip.split(".")
        if len(parts) == 4 and all(x.isdigit() and int(x) < 256 for x in parts):
            return bytes(int(x) for x in parts)
    return b"\0\0\0\0"


cdef bytes creator_name(EventCtx ctx, ThreadInfo t, bint raw=False):
    """fd.name of an event whose fd is unknown: what the creating call
    named (open's path, connect's tuple), "" for other exits, None for
    enter events (libsinsp's extract_fdname_from_creator).  `raw`: the
    path as the call gave it, unresolved (fd.nameraw)."""
    cdef uint16_t et = ctx.evt.type
    cdef uint32_t n = 0
    cdef const uint8_t *p
    if et % 2 == 0:
        return None
    if et in _CREATOR_P1:
        p = ctx.batch.param_ptr(ctx.idx, 1, &n)
        if p == NULL:
            return b""
        if fe_event_table[et].params[1].type == 13:       # PT_SOCKTUPLE
            return _state.tuple_text_py(p[:n]) or b"NULL"
        name = _cstr(p, n)
        if raw:
            return name
        if name and not name.startswith(b"/"):
            return concat_paths(t.cwd, name)
        return name
    if et in _OPENAT:
        p = ctx.batch.param_ptr(ctx.idx, 2, &n)
        if p == NULL:
            return b""
        name = _cstr(p, n)
        if raw:
            return name
        if name.startswith(b"/"):
            return concat_paths(b"", name)
        p = ctx.batch.param_ptr(ctx.idx, 1, &n)
        dirfd = read_int(p, n, True) if p != NULL and n == 8 else -100
        if dirfd == -100:
            return concat_paths(t.cwd, name)
        fi = fd_of(t, dirfd)
        base = b"<UNKNOWN>" if fi is None else fd_name(<FdInfo>fi)
        return concat_paths(base, name)
    return b""


cdef bytes _cstr(const uint8_t *p, uint32_t n):
    cdef uint32_t k = 0
    while k < n and p[k] != 0:
        k += 1
    return (<const char *>p)[:k]


cdef inline Py_ssize_t _last_slash(bytes name) noexcept:
    """Index of the last '/' in name, or -1 (bytes.rfind without a method
    call: this runs for fd.directory/fd.filename on every open a rule sees)."""
    cdef const char *p = name
    cdef Py_ssize_t i = len(name) - 1
    while i >= 0:
        if p[i] == b'/':
            return i
        i -= 1
    return -1


cdef inline Py_ssize_t _dirname_len(bytes name) noexcept:
    """How much of name is its directory; 0 when that is "/" (or none)."""
    cdef Py_ssize_t pos = _last_slash(name)
    return pos if pos > 0 else 0


cdef bytes dirname_of(bytes name):
    cdef Py_ssize_t n = _dirname_len(name)
    if n == 0:
        return b"/"
    # (A slice goes through PySequence_GetSlice and a slice object.)
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(name), n)


cdef int _fd_types(EventCtx ctx, ThreadInfo t, int64_t fd, Value *out) except -1:
    """fd.types: the kinds of the thread's open descriptors, each once, in
    table order; fd.types[N]: fd N's alone (<NA> when it is not open)."""
    cdef FdInfo fi
    cdef list kinds
    if fd != -1:
        found = fd_of(t, fd) if fd >= 0 else None
        if found is None:
            return 0
        return set_list(ctx, out, (_type_name((<FdInfo>found).type),))
    kinds = []
    for found in t.fds.values():
        fi = <FdInfo>found
        name = _type_name(fi.type)
        if name not in kinds:
            kinds.append(name)
    return set_list(ctx, out, tuple(kinds))


cdef class FdField(FieldExtractor):
    """fd.* fields: the fd the event acts on (ctx_fd(ctx))."""
    cdef int code
    cdef int64_t fdarg              # fd.types[N]: N; -1 without an argument

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef int code = self.code
        cdef FdInfo fi
        cdef StateEngine st
        cdef bytes addr
        cdef tuple names
        if code < F_CIP_NAME or code > F_RPROTO:     # (the hot path)
            return self._extract(ctx, out, code)
        out.kind = VK_NONE
        self._extract(ctx, out, _NAMED_BASE[code])
        if out.kind == VK_NONE:
            return 0
        if code >= F_CPROTO:
            fi = <FdInfo>ctx_fd(ctx)
            if not is_inet(fi.type):
                return set_bytes(out, b"")     # libsinsp: a server socket's is ""
            return ctx.set_str(out, _port_text(out.u, fi.l4proto))
        # fd.*ip.name: only for a socket with both ends known; "" when none
        # of the watched names resolves to the address (so != holds, as in
        # libsinsp's compare_domain), the name, or several as a list.
        if not is_inet((<FdInfo>ctx_fd(ctx)).type):
            out.kind = VK_NONE
            return 0
        st = engine_of(ctx)
        hn = st.host_names
        addr = (<const char *>out.ip)[:out.n]
        names = hn.index.get(addr, ()) if hn is not None else ()
        if not names:
            return set_bytes(out, b"")
        if len(names) == 1:
            return ctx.set_str(out, names[0])
        return set_list(ctx, out, names)

    cdef int _extract(self, EventCtx ctx, Value *out, int code) except -1:
        cdef ThreadInfo t
        cdef StateEngine st
        cdef FdInfo fi
        cdef uint16_t et
        cdef int w
        cdef bytes b, c
        cdef bint lsip
        out.kind = VK_NONE
        if ctx.thread is None or code == F_NA:
            return 0
        et = ctx.evt.type
        if not (fe_event_table[et].flags & FD_FLAGS):
            return 0
        t = <ThreadInfo>ctx.thread
        st = engine_of(ctx)
        if st is None:
            return 0
        if code == F_NUM:
            return set_int(out, t.lastevent_fd)
        if code == F_UID:
            return ctx.set_str(out, (str(t.tid) + str(t.lastevent_fd)).encode())
        if code == F_TYPES:
            return _fd_types(ctx, t, self.fdarg, out)
        fdo = ctx_fd(ctx)
        if fdo is None:
            return self.null_fd(ctx, t, out)
        fi = <FdInfo>fdo
        if code == F_NAME or code == F_CONTAINERNAME:
            if et % 2 == 1 and strcmp(fe_event_table[et].name, "connect") == 0:
                if _res_negative(ctx):
                    return self.null_fd(ctx, t, out)
            if code == F_NAME:
                return set_bytes(out, fd_name(fi))
            return ctx.set_str(out, _cid(t) + b":" + fd_name(fi))
        if code == F_UPPER_LAYER:
            return set_bool(out, (fi.openflags & PPM_FD_UPPER_LAYER) != 0)
        if code == F_LOWER_LAYER:
            return set_bool(out, (fi.openflags & PPM_FD_LOWER_LAYER) != 0)
        if code == F_TYPE:
            return set_bytes(out, _type_name(fi.type))
        if code == F_TYPECHAR:
            return set_bytes(out, _type_char(fi.type))
        if code == F_NAMERAW:
            return set_bytes(out, fi.nameraw if fi.nameraw else fd_name(fi))
        if code == F_DIRECTORY and (fi.type == FD_FILE or fi.type == FD_DIRECTORY):
            # A prefix of the fd's name, which the fd keeps for the event
            # (as fd.name's value): no new bytes per evaluation.
            b = fd_name(fi)
            if fi.type == FD_DIRECTORY:
                return set_bytes(out, b)
            w = _dirname_len(b)
            if w == 0:
                return set_bytes(out, b"/")
            set_bytes(out, b)
            out.n = w
            return 0
        if code == F_DIRECTORY or code == F_CONTAINERDIRECTORY:
            if fi.type == FD_FILE:
                b = dirname_of(fd_name(fi))
            elif fi.type == FD_DIRECTORY:
                b = fd_name(fi)
            else:
                return 0
            return ctx.set_str(out, _cid(t) + b":" + b)
        if code == F_FILENAME:
            if fi.type != FD_FILE:
                return 0
            b = fd_name(fi)
            w = _last_slash(b)
            set_bytes(out, b)
            if w >= 0:
                out.s += w + 1
                out.n -= w + 1
            return 0
        if code == F_CONNECTED:
            return set_bool(out, fi.connected)
        if code == F_NAME_CHANGED:
            return set_bool(out, st.name_changed_ctx == <void *>ctx and
                            st.name_changed_gen == ctx.gen)
        if code == F_INO:
            return set_int(out, <int64_t>fi.ino)
        if code == F_DEV:
            return set_int(out, fi.dev)
        # The drivers record dev as the kernel's new_encode_dev (stat's
        # st_dev layout): major in bits 8-19, minor in 0-7 and 20-31.
        if code == F_DEV_MAJOR:
            return set_int(out, (fi.dev >> 8) & 0xfff)
        if code == F_DEV_MINOR:
            return set_int(out, (fi.dev & 0xff) | ((fi.dev >> 12) & 0xfff00))
        if code == F_SOCKFAMILY:
            if is_inet(fi.type) or is_serv(fi.type):
                return set_bytes(out, b"ip")
            if fi.type == FD_UNIX_SOCK:
                return set_bytes(out, b"unix")
            return 0
        if code == F_L4PROTO:
            if is_inet(fi.type) or is_serv(fi.type):
                if is_inet(fi.type) and fi.role == 0:
                    return 0
                return set_bytes(out, L4_NAMES[fi.l4proto] if fi.l4proto < 6
                                 else b"<NA>")
            return 0
        w = ipw(fi.type)
        if code == F_IS_SERVER:
            # The server end of the tuple is one of this machine's addresses.
            if is_serv(fi.type):
                return set_bool(out, True)
            if is_inet(fi.type):
                return set_bool(out, is_local(st, t, fi.dip, w))
            return set_bool(out, False)
        if is_serv(fi.type):
            if code == F_SIP or code == F_SNET:
                # (0.0.0.0: bound to every address, no one server address)
                if is_zero(fi.dip, w):
                    return 0
                return set_ip(out, fi.dip, w)
            if code == F_SPORT:
                return set_uint(out, fi.dport)
            if code == F_IP and not is_zero(fi.dip, w):
                return set_list(ctx, out, ((<const char *>fi.dip)[:w],))
            if code == F_PORT:
                return set_list(ctx, out, (fi.dport,))
            return 0
        if not is_inet(fi.type) or fi.role == 0:
            # A socket not connected yet has no tuple; libsinsp's port
            # comparison (fd.port, fd.proto) still reads its zeroed ports.
            if code == F_PORT and is_inet(fi.type):
                return set_list(ctx, out, (fi.sport, fi.dport))
            return 0
        if code == F_IP:
            # Packed addresses (4 or 16 bytes), client then server.
            return set_list(ctx, out, ((<const char *>fi.sip)[:w],
                                       (<const char *>fi.dip)[:w]))
        if code == F_PORT:
            return set_list(ctx, out, (fi.sport, fi.dport))
        if code == F_CIP or code == F_CNET:
            return set_ip(out, fi.sip, w)
        if code == F_SIP or code == F_SNET:
            return set_ip(out, fi.dip, w)
        if code == F_CPORT:
            return set_uint(out, fi.sport)
        if code == F_SPORT:
            return set_uint(out, fi.dport)
        # Local / remote: the client end when it is this machine's address,
        # the server end otherwise.
        lsip = is_local(st, t, fi.sip, w)
        if code == F_LIP or code == F_LNET:
            if lsip:
                return set_ip(out, fi.sip, w)
            return set_ip(out, fi.dip, w)
        if code == F_RIP or code == F_RNET:
            if lsip:
                return set_ip(out, fi.dip, w)
            return set_ip(out, fi.sip, w)
        if code == F_LPORT:
            return set_uint(out, fi.sport if lsip else fi.dport)
        if code == F_RPORT:
            return set_uint(out, fi.dport if lsip else fi.sport)
        return 0

    cdef int null_fd(self, EventCtx ctx, ThreadInfo t, Value *out) except -1:
        cdef int code = self.code
        cdef bytes name, c
        if code == F_NAME or code == F_CONTAINERNAME or code == F_DIRECTORY \
                or code == F_CONTAINERDIRECTORY or code == F_FILENAME \
                or code == F_NAMERAW:
            name = creator_name(ctx, t, code == F_NAMERAW)
            if name is None:
                return 0
            if code == F_NAME or code == F_NAMERAW:
                return ctx.set_str(out, name)
            if code == F_CONTAINERNAME:
                return ctx.set_str(out, _cid(t) + b":" + name)
            if code == F_FILENAME:
                # libsinsp answers it only for open enters, which name no fd.
                return 0
            if code == F_DIRECTORY:
                return ctx.set_str(out, dirname_of(name))
            return ctx.set_str(out, _cid(t) + b":" + dirname_of(name))
        if code == F_TYPECHAR:
            return set_bytes(out, _NULL_FD_CHAR.get(ctx.evt.type & ~1, b"o"))
        return 0


cdef bint _res_negative(EventCtx ctx):
    cdef uint32_t n = 0
    cdef const uint8_t *p = ctx.batch.param_ptr(ctx.idx, 0, &n)
    return p != NULL and n == 8 and read_int(p, 8, True) < 0


cdef bytes _cid(ThreadInfo t):
    return t.container_id[:12]


# --- containers (and k8s from their labels) -----------------------------------

cdef enum CCode:
    C_ID, C_FULL_ID, C_NAME, C_IMAGE, C_IMAGE_ID, C_TYPE, C_PRIVILEGED,
    C_MOUNTS, C_IMAGE_REPO, C_IMAGE_TAG, C_IMAGE_DIGEST, C_IP, C_LABEL,
    C_LABELS, C_CNI, C_HOST_PID, C_HOST_NET, C_HOST_IPC, C_INFO,
    K_POD_NAME, K_POD_UID, K_POD_SANDBOX, K_POD_FULL_SANDBOX, K_NS_NAME,
    K_POD_LABEL, K_POD_LABELS, K_POD_IP, C_MOUNT, C_MOUNT_SOURCE,
    C_MOUNT_DEST, C_MOUNT_MODE, C_MOUNT_RDWR, C_MOUNT_PROPAGATION,
    C_HEALTHCHECK, C_LIVENESS, C_READINESS, C_START_TS, C_DURATION, C_NA

_CONTAINER_CODES = {
    "container.id": C_ID, "container.full_id": C_FULL_ID,
    "container.name": C_NAME, "container.image": C_IMAGE,
    "container.image.id": C_IMAGE_ID, "container.type": C_TYPE,
    "container.privileged": C_PRIVILEGED, "container.mounts": C_MOUNTS,
    "container.image.repository": C_IMAGE_REPO,
    "container.image.tag": C_IMAGE_TAG, "container.image.digest": C_IMAGE_DIGEST,
    "container.ip": C_IP, "container.label": C_LABEL,
    "container.labels": C_LABELS, "container.cni.json": C_CNI,
    "container.host_pid": C_HOST_PID, "container.host_network": C_HOST_NET,
    "container.host_ipc": C_HOST_IPC, "container.info": C_INFO,
    "k8s.pod.name": K_POD_NAME, "k8s.pod.id": K_POD_UID,
    "k8s.pod.uid": K_POD_UID, "k8s.pod.sandbox_id": K_POD_SANDBOX,
    "k8s.pod.full_sandbox_id": K_POD_FULL_SANDBOX, "k8s.ns.name": K_NS_NAME,
    "k8s.pod.label": K_POD_LABEL, "k8s.pod.labels": K_POD_LABELS,
    "k8s.pod.ip": K_POD_IP,
    "container.mount": C_MOUNT, "container.mount.source": C_MOUNT_SOURCE,
    "container.mount.dest": C_MOUNT_DEST, "container.mount.mode": C_MOUNT_MODE,
    "container.mount.rdwr": C_MOUNT_RDWR,
    "container.mount.propagation": C_MOUNT_PROPAGATION,
    "container.healthcheck": C_HEALTHCHECK,
    "container.liveness_probe": C_LIVENESS,
    "container.readiness_probe": C_READINESS,
    "container.start_ts": C_START_TS, "container.duration": C_DURATION,
}
cdef tuple _CONTAINER_TYPES = tuple(_state.CONTAINER_TYPES)
# The keys libsinsp writes each health probe under in a container record
# ({"exe": ..., "args": [...]}), by field.
cdef dict _PROBE_KEYS = {C_HEALTHCHECK: "Healthcheck", C_LIVENESS: "LivenessProbe",
                         C_READINESS: "ReadinessProbe"}
cdef dict _JSON_KEYS = {C_NAME: "name", C_IMAGE: "image", C_IMAGE_ID: "imageid",
                        C_IMAGE_REPO: "imagerepo", C_IMAGE_TAG: "imagetag",
                        C_IMAGE_DIGEST: "imagedigest", C_IP: "ip", C_CNI: "cni_json"}
cdef dict _K8S_LABELS = {K_POD_NAME: "io.kubernetes.pod.name",
                         K_POD_UID: "io.kubernetes.pod.uid",
                         K_NS_NAME: "io.kubernetes.pod.namespace",
                         K_POD_SANDBOX: "io.kubernetes.sandbox.id",
                         K_POD_FULL_SANDBOX: "io.kubernetes.sandbox.id"}


def _find_mount(mounts, key, bint by_dest):
    """libsinsp's mount_by_idx / mount_by_source / mount_by_dest: a numeric
    key is an index, anything else a glob over the mount's source (over its
    destination for container.mount.source)."""
    if not isinstance(mounts, list) or key is None:
        return None
    key = str(key)
    if key.isdigit():
        i = int(key)
        m = mounts[i] if i < len(mounts) else None
        return m if isinstance(m, dict) else None
    attr = "Destination" if by_dest else "Source"
    for m in mounts:
        if isinstance(m, dict) and _fnmatchcase(str(m.get(attr, "")), key):
            return m
    return None


def _mount_text(m, int code):
    rw = "true" if m.get("RW") is True else "false"
    if code == C_MOUNT:
        return (f"{m.get('Source', '')}:{m.get('Destination', '')}:"
                f"{m.get('Mode', '')}:{rw}:{m.get('Propagation', '')}")
    if code == C_MOUNT_SOURCE:
        return str(m.get("Source", ""))
    if code == C_MOUNT_DEST:
        return str(m.get("Destination", ""))
    if code == C_MOUNT_MODE:
        return str(m.get("Mode", ""))
    if code == C_MOUNT_RDWR:
        return rw
    return str(m.get("Propagation", ""))


def _probe_text(probe):
    """A health probe as libsinsp shows it: the command and its arguments,
    space separated; None when the record holds no usable one."""
    if not isinstance(probe, dict) or not isinstance(probe.get("exe"), str):
        return None
    args = probe.get("args")
    words = [probe["exe"]] + [a for a in (args if isinstance(args, list) else [])
                              if isinstance(a, str)]
    return " ".join(words).encode("utf-8", "surrogateescape")


cpdef object _text(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return b"true" if v else b"false"
    return str(v).encode("utf-8", "surrogateescape")


# Full container id -> its 12-character id, one bytes object per
# container: slicing made a new one per evaluation (where a field's own
# last-id cache missed: threads of other containers, other fields), and
# each new one was hashed again to look up the container's metadata.
DEF SHORT_IDS_MAX = 4096
cdef dict _SHORT_IDS = {}


cdef bytes _short_id(bytes full):
    cdef object known = _SHORT_IDS.get(full)
    if known is not None:
        return <bytes>known
    if len(_SHORT_IDS) >= SHORT_IDS_MAX:
        _SHORT_IDS.clear()
    # The object the state engine keys its container records with.
    short = short_id_object(full)
    _SHORT_IDS[full] = short
    return short


DEF REC_SLOT_BITS = 7
DEF REC_SLOTS = 1 << REC_SLOT_BITS


cdef class ContainerField(FieldExtractor):
    cdef int code
    cdef str key
    # The short id (_short_id's) of the last full id seen: threads of a
    # container share one id object, so the next one is an identity test.
    cdef bytes last_full
    cdef bytes last_short
    # Container records read lately and this field's value in each (bytes,
    # a bool, or None), direct-mapped by the record's address: see extract.
    cdef list rec_seen
    cdef list rec_value

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef ThreadInfo t
        cdef StateEngine st
        cdef int code = self.code
        cdef bytes short
        cdef object found
        cdef dict info
        out.kind = VK_NONE
        if ctx.thread is None or code == C_NA or code == C_INFO:
            return 0
        t = <ThreadInfo>ctx.thread
        st = engine_of(ctx)
        if st is None:
            return 0
        if not t.container_id:
            if code == C_ID or code == C_FULL_ID or code == C_NAME or code == C_TYPE:
                return set_bytes(out, b"host")
            return 0
        if t.container_id is self.last_full:
            short = self.last_short
        else:
            short = _short_id(t.container_id)
            self.last_full = t.container_id
            self.last_short = short
        if code == C_ID:
            return ctx.set_str(out, short)
        if code == C_FULL_ID:
            return set_bytes(out, t.container_id)
        if code == C_START_TS or code == C_DURATION:
            # libsinsp's: when the container's pid namespace started (its
            # init's start), not the runtime's creation time.
            if t.pidns_init_start_ts == 0:
                return 0
            if code == C_START_TS:
                return set_uint(out, t.pidns_init_start_ts)
            if t.clone_ts == 0 or ctx.evt.ts < t.pidns_init_start_ts:
                return 0
            return set_uint(out, ctx.evt.ts - t.pidns_init_start_ts)
        found = st.containers.get(short)
        if found is None:
            return 0
        info = <dict>found
        # What follows the record alone decides, and records are replaced,
        # never changed (the live resolver stores a new one): the value in
        # a record read lately is kept, and the next evaluation of one of
        # those containers is an identity test.  (Events of a busy host
        # come from many containers in turn.)
        cdef Py_ssize_t slot
        if self.rec_seen is None:
            self.rec_seen = [None] * REC_SLOTS
            self.rec_value = [None] * REC_SLOTS
        # (A multiplicative hash of the address: dicts allocated in a
        # stride collided in the low bits, and with 22 containers about a
        # quarter of the evaluations missed.)
        slot = <Py_ssize_t>(((<size_t><PyObject *>info >> 4) *
                             <size_t>0x9E3779B97F4A7C15) >> (64 - REC_SLOT_BITS))
        if self.rec_seen[slot] is not info:
            self.rec_value[slot] = self._from_record(info)
            self.rec_seen[slot] = info
        v = self.rec_value[slot]
        if v is None:
            return 0
        if v is True or v is False:
            return set_bool(out, v is True)
        return set_bytes(out, <bytes>v)

    cdef object _from_record(self, dict info):
        """This field's value in a container record: bytes, a bool, or None
        for <NA>."""
        cdef int code = self.code
        if code == C_TYPE:
            ct = info.get("type")
            if isinstance(ct, int) and 0 <= ct < len(_CONTAINER_TYPES):
                return _utf8(_CONTAINER_TYPES[ct])
            return None
        if "lookup" in info:
            # Live, metadata not (yet) answered by the runtime: <NA>.
            return None
        if code in _PROBE_KEYS:
            v = _probe_text(info.get(_PROBE_KEYS[code]))
            return b"NONE" if v is None else v
        if code in _JSON_KEYS:
            return _text(info.get(_JSON_KEYS[code]))
        if code == C_PRIVILEGED:
            return bool(info.get("privileged"))
        if code == C_HOST_PID or code == C_HOST_NET or code == C_HOST_IPC:
            # The host namespaces the container shares (false when the
            # record does not say, as libsinsp's defaults).
            return bool(info.get(
                "host_pid" if code == C_HOST_PID else
                "host_network" if code == C_HOST_NET else "host_ipc"))
        labels = info.get("labels") or {}
        if code == K_POD_LABEL or code == K_POD_LABELS:
            # A CRI runtime answers with the pod's own labels (libsinsp reads
            # the sandbox's); other records have only the container's, and
            # a container outside a pod has no pod labels.
            if not (info.get("pod_sandbox_labels") or
                    labels.get("io.kubernetes.pod.uid") or
                    labels.get("io.kubernetes.sandbox.id")):
                return None
            labels = info.get("pod_sandbox_labels") or labels
        if code == K_POD_IP:
            # The pod's address, known from the CRI sandbox status; an
            # unset one (0.0.0.0) or a container outside a pod reads <NA>.
            v = _text(info.get("ip"))
            if v is None or v in (b"", b"0.0.0.0") or \
                    not labels.get("io.kubernetes.sandbox.id"):
                return None
            return v
        if code == C_LABEL or code == K_POD_LABEL:
            return _text(labels.get(self.key)) if self.key is not None else None
        if code == C_LABELS or code == K_POD_LABELS:
            if not labels:
                return None
            return _utf8(", ".join(f"{k}:{v}" for k, v in labels.items()))
        if code in _K8S_LABELS:
            v = _text(labels.get(_K8S_LABELS[code]))
            if v is not None and code == K_POD_SANDBOX:
                v = v[:12]
            return v
        if code == C_MOUNT or code == C_MOUNT_SOURCE or code == C_MOUNT_DEST \
                or code == C_MOUNT_MODE or code == C_MOUNT_RDWR \
                or code == C_MOUNT_PROPAGATION:
            m = _find_mount(info.get("Mounts"), self.key, code == C_MOUNT_SOURCE)
            if m is None:
                return None
            return _utf8(_mount_text(m, code))
        if code == C_MOUNTS:
            mounts = info.get("Mounts") or []
            return _utf8(",".join(
                f"{m.get('Source', '')}:{m.get('Destination', '')}:"
                f"{m.get('Mode', '')}:{str(m.get('RW', '')).lower()}:"
                f"{m.get('Propagation', '')}" for m in mounts if isinstance(m, dict)))
        return None


cdef bytes _utf8(str text):
    """Text as the engine compares it (what EventCtx.set_str encodes)."""
    return text.encode("utf-8", "surrogateescape")


# --- thread.cpu* (from procinfo events) ----------------------------------------

# libsinsp's extract_thread_cpu: on a procinfo event (the driver's periodic
# per-thread CPU ticks: cpu_usr, cpu_sys), the ticks used since this
# thread's previous procinfo, capped at 100 (a percentage of one CPU over
# the one-second period).  Any other event: <NA>.  Falco hides procinfo, an
# internal event, from rules; captures and `falco events` show it (sysdig -D).
# Values print as integers ("50"; sysdig 0.29.3 prints the double, "50.0").
cdef int _PROCINFO_E = next(e.id for e in _table.EVENTS if e.name == "procinfo")

_CPU_CODES = {"thread.cpu": 3, "thread.cpu.user": 1, "thread.cpu.system": 2}


# Fields that read resource counters the state engine keeps only on request
# (StateEngine.track_counters): a detector whose rules read none of them
# skips the events that only feed them.
CPU_FIELDS = frozenset(_CPU_CODES)
MEMORY_FIELDS = frozenset(
    name for name, code in _PROC_CODES.items()
    if code in (P_VMSIZE, P_VMRSS, P_VMSWAP, P_PFMAJOR, P_PFMINOR)
    or P_THREAD_VMSIZE <= code <= P_THREAD_VMRSS_B)


def counters_read_by(field_names):
    """(cpu, memory): whether any of `field_names` (catalog names, as
    Compiler.fields holds them) reads the cpu or the memory counters."""
    names = set(field_names)
    return bool(names & CPU_FIELDS), bool(names & MEMORY_FIELDS)


cdef class CpuField(FieldExtractor):
    cdef int parts              # 1 user, 2 system, 3 both

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef ThreadInfo t
        cdef uint64_t d
        out.kind = VK_NONE
        if ctx.evt.type != _PROCINFO_E or ctx.thread is None:
            return 0
        t = <ThreadInfo>ctx.thread       # the state engine keeps the deltas
        d = t.cpu_total_d if self.parts == 3 else \
            t.cpu_user_d if self.parts == 1 else t.cpu_system_d
        # libsinsp's value is a double of whole ticks; the catalog types it
        # as an integer (the filter corpus: `thread.cpu = 1.0` is invalid).
        return set_uint(out, d if d < 100 else 100)


# --- thread.exectime, thread.totexectime (from context switches) ----------------

# libsinsp's extract_exectime: on a context switch, the time since the
# previous switch on the same CPU (0 at a CPU's first), charged to the
# thread switched out; thread.totexectime sums a thread's.  The state lives
# in the extractor, as in libsinsp's filter check, and moves only when the
# field is read: every use of the field in a rule or output has its own.
# Any other event: exectime 0, totexectime the thread's sum so far.
cdef frozenset _SWITCH_TYPES = frozenset(e.id for e in _table.EVENTS if e.name == "switch")
_EXECTIME_CODES = {"thread.exectime": False, "thread.totexectime": True}


cdef class ExecTimeField(FieldExtractor):
    cdef bint total
    cdef dict last_switch        # cpu -> ts of the last switch read there
    cdef dict sums               # tid -> nanoseconds (totexectime)

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef uint64_t ts = ctx.evt.ts, d = 0, last
        cdef object prev
        out.kind = VK_NONE
        if ctx.evt.type in _SWITCH_TYPES:
            prev = self.last_switch.get(ctx.evt.cpu)
            if prev is not None:
                last = prev
                # (a timestamp going back, e.g. a second capture through
                # the same rules, is no CPU time)
                if last != 0 and ts >= last:
                    d = ts - last
            self.last_switch[ctx.evt.cpu] = ts
        if not self.total:
            return set_uint(out, d)
        if ctx.thread is None:
            return 0
        tid = (<ThreadInfo>ctx.thread).tid
        total = (self.sums.get(tid, 0) + d) & 0xFFFFFFFFFFFFFFFF
        self.sums[tid] = total
        return set_uint(out, <uint64_t>total)


# --- fs.path.* and fdlist.* ---------------------------------------------------

cdef enum SCode:
    S_NAME, S_NAMERAW, S_SOURCE, S_SOURCERAW, S_TARGET, S_TARGETRAW,
    L_NUMS, L_NAMES, L_CIPS, L_SIPS, L_CPORTS, L_SPORTS

_PATH_CODES = {"fs.path.name": S_NAME, "fs.path.nameraw": S_NAMERAW,
               "fs.path.source": S_SOURCE, "fs.path.sourceraw": S_SOURCERAW,
               "fs.path.target": S_TARGET, "fs.path.targetraw": S_TARGETRAW,
               "fdlist.nums": L_NUMS, "fdlist.names": L_NAMES,
               "fdlist.cips": L_CIPS, "fdlist.sips": L_SIPS,
               "fdlist.cports": L_CPORTS, "fdlist.sports": L_SPORTS}

# Per event type: (name param, dirfd param) for fs.path.name and
# (source, source dirfd, target, target dirfd) for fs.path.source/target.
def _index_of(names, *cands):
    for c in cands:
        if c in names:
            return names.index(c)
    return -1


def _build_path_tables():
    """Per event type: (name param, dirfd param) for fs.path.name,
    (source, source dirfd, target, target dirfd) for fs.path.source/target,
    and the PT_FDLIST parameter for fdlist.*."""
    paths, src_dst, fdlists = {}, {}, {}
    for ev in _table.EVENTS:
        names = [p.name for p in ev.params]
        types = [p.type for p in ev.params]
        if ev.name in ("mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "chmod",
                       "fchmodat", "chown", "fchownat", "lchown", "truncate",
                       "chroot", "chdir", "access", "faccessat", "stat", "lstat",
                       "utimensat", "umount", "umount2"):
            i = _index_of(names, "path", "pathname", "name", "filename")
            if i >= 0:
                paths[ev.id] = (i, _index_of(names, "dirfd"))
        if ev.name in ("rename", "renameat", "renameat2", "link", "linkat",
                       "symlink", "symlinkat", "mount"):
            s = _index_of(names, "oldpath", "target", "dev")
            d = _index_of(names, "newpath", "linkpath", "dir")
            if s >= 0 and d >= 0:
                src_dst[ev.id] = (s, _index_of(names, "olddirfd"), d,
                                  _index_of(names, "newdirfd", "linkdirfd"))
        if 16 in types:                                   # PT_FDLIST
            fdlists[ev.id] = types.index(16)
    return paths, src_dst, fdlists


cdef dict _PATH_PARAMS, _SRC_DST_PARAMS, _FDLIST_PARAM
_PATH_PARAMS, _SRC_DST_PARAMS, _FDLIST_PARAM = _build_path_tables()


cdef class PathField(FieldExtractor):
    cdef int code

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef ThreadInfo t
        cdef int code = self.code
        cdef uint16_t et = ctx.evt.type
        out.kind = VK_NONE
        if ctx.thread is None:
            return 0
        t = <ThreadInfo>ctx.thread
        if code >= L_NUMS:
            return self.fdlist(ctx, t, out)
        if code == S_NAME or code == S_NAMERAW:
            spec = _PATH_PARAMS.get(et)
            if spec is None:
                return 0
            raw = self.param_str(ctx, spec[0])
            if raw is None:
                return 0
            if code == S_NAMERAW:
                return ctx.set_str(out, raw)
            return ctx.set_str(out, self.resolve(ctx, t, raw, spec[1]))
        spec = _SRC_DST_PARAMS.get(et)
        if spec is None:
            return 0
        if code == S_SOURCE or code == S_SOURCERAW:
            raw = self.param_str(ctx, spec[0])
            dfd = spec[1]
        else:
            raw = self.param_str(ctx, spec[2])
            dfd = spec[3]
        if raw is None:
            return 0
        if code == S_SOURCERAW or code == S_TARGETRAW:
            return ctx.set_str(out, raw)
        return ctx.set_str(out, self.resolve(ctx, t, raw, dfd))

    cdef bytes param_str(self, EventCtx ctx, int idx):
        cdef uint32_t n = 0
        cdef const uint8_t *p = ctx.batch.param_ptr(ctx.idx, idx, &n)
        if p == NULL:
            return None
        return _cstr(p, n)

    cdef bytes resolve(self, EventCtx ctx, ThreadInfo t, bytes raw, int dfd_idx):
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef int64_t dirfd = -100
        if raw.startswith(b"/"):
            return concat_paths(b"", raw)
        if dfd_idx >= 0:
            p = ctx.batch.param_ptr(ctx.idx, dfd_idx, &n)
            if p != NULL and n in (4, 8):
                dirfd = read_int(p, n, True)
        if dirfd == -100:
            return concat_paths(t.cwd, raw)
        fi = fd_of(t, dirfd)
        return concat_paths(b"<UNKNOWN>" if fi is None else
                                   fd_name(<FdInfo>fi), raw)

    cdef int fdlist(self, EventCtx ctx, ThreadInfo t, Value *out) except -1:
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef uint16_t count, k
        cdef int64_t fd
        cdef int code = self.code
        idx = _FDLIST_PARAM.get(ctx.evt.type)
        if idx is None:
            return 0
        p = ctx.batch.param_ptr(ctx.idx, idx, &n)
        if p == NULL or n < 2:
            return 0
        memcpy(&count, p, 2)
        items = []
        for k in range(count):
            if 2 + (k + 1) * 10 > n:
                break
            fd = read_int(p + 2 + k * 10, 8, True)
            if code == L_NUMS:
                items.append(str(fd).encode())
                continue
            fi = fd_of(t, fd)
            if fi is None:
                continue
            if code == L_NAMES:
                # (sysdig writes <NA> for a descriptor with no name)
                items.append(fd_name(<FdInfo>fi) or b"<NA>")
            elif is_inet((<FdInfo>fi).type):
                if code == L_CIPS:
                    items.append(str(_ipobj(<FdInfo>fi, False)).encode())
                elif code == L_SIPS:
                    items.append(str(_ipobj(<FdInfo>fi, True)).encode())
                elif code == L_CPORTS:
                    items.append(str((<FdInfo>fi).sport).encode())
                else:
                    items.append(str((<FdInfo>fi).dport).encode())
        if not items:
            return 0            # nothing to list: <NA>, as libsinsp
        return ctx.set_str(out, b",".join(items))


def _ipobj(FdInfo fi, bint server):
    import ipaddress
    return ipaddress.ip_address(fi.dip_bytes if server else fi.sip_bytes)


# --- the factory the compiler calls ---------------------------------------------


def _parse_index(arg):
    if arg is None:
        return -1
    try:
        return int(arg)
    except ValueError:
        return -1


def make(str name, object arg):
    """The extractor for field `name` (its [arg] apart), or None if this
    module does not answer it."""
    info = _fields.lookup(name)
    ftype = info.type if info is not None else "CHARBUF"
    shown = name if arg is None else f"{name}[{arg}]"
    cdef ProcField pf
    cdef UserField uf
    cdef FdField ff
    cdef ContainerField cf
    cdef PathField sf
    cdef CpuField xf
    cdef ExecTimeField et
    if name in _PROC_CODES:
        pf = ProcField(shown, ftype)
        pf.code = _PROC_CODES[name]
        pf.index = _parse_index(arg)
        pf.key = None if arg is None else str(arg).encode()
        if pf.code == P_ANAME or pf.code == P_AEXE or pf.code == P_AEXEPATH \
                or pf.code == P_ACMDLINE or pf.code == P_APID:
            pf.key = None
        return pf
    if name in _USER_CODES:
        uf = UserField(shown, ftype)
        uf.code = _USER_CODES[name]
        return uf
    if name in _FD_CODES and _FD_CODES[name] != F_NA:
        ff = FdField(shown, ftype)
        ff.code = _FD_CODES[name]
        ff.fdarg = -1
        ff.hex_text = ff.code == F_DEV      # libsinsp prints fd.dev in hex
        if ff.code == F_TYPES and arg is not None:
            ff.fdarg = int(arg) if str(arg).isdigit() else -2   # -2: never open
        return ff
    if name in _CONTAINER_CODES:
        cf = ContainerField(shown, ftype)
        cf.code = _CONTAINER_CODES[name]
        cf.key = arg
        return cf
    if name in _CPU_CODES:
        xf = CpuField(shown, ftype)
        xf.parts = _CPU_CODES[name]
        return xf
    if name in _EXECTIME_CODES:
        et = ExecTimeField(shown, ftype)
        et.total = _EXECTIME_CODES[name]
        et.last_switch = {}
        et.sums = {}
        return et
    if name in _PATH_CODES:
        sf = PathField(shown, ftype)
        sf.code = _PATH_CODES[name]
        return sf
    # Not answerable from this state (CPU times, legacy k8s objects, DNS
    # names of addresses): None, so the compiler warns about it by name.
    return None


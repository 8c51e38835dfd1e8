# cython: language_level=3, boundscheck=False, wraparound=True
"""The state engine: the process tree, open descriptors, users, containers.

Fed by the same event stream the rules see, it rebuilds what libsinsp
(Falco's library) knows at each event, with the same timing:

- the enter event of a syscall is remembered per thread, and its
  parameters are used at the exit when the exit lacks them (old layouts);
- the fd an event acts on is the enter's fd parameter, kept per thread as
  `lastevent_fd` for the exit; parsers see it as it was before the call,
  and for events that change nothing the lookup waits until a field asks
  (ctx_fd), since most events meet no rule that reads fd.*;
- calls that create an fd add it before evaluation (the exit sees it);
- close and procexit remove their fd / thread only when the *next* event
  arrives, so the close exit and the procexit are still evaluated with it;
- execve updates the thread before its exit is evaluated;
- clone: the exit in the child (res 0) or in the parent (res > 0), whichever
  comes first, creates the child, inheriting from the caller.

Representation: `threads` is a dict tid -> ThreadInfo, fronted by a
direct-mapped C cache of tid -> ThreadInfo-or-absent (most events then cost
no Python int and no hash probe).  Each ThreadInfo points to an fd dict {fd: FdInfo}; the threads of a
process share their main thread's dict, as they share the kernel's table.
Strings are bytes, so field extractors point into them without copying.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject, Py_XINCREF, Py_XDECREF
from libc.stdint cimport (
    uint8_t, uint16_t, uint32_t, uint64_t, int64_t, int32_t, int16_t, int8_t,
    uintptr_t,
)
from libc.string cimport memcpy, memcmp, memset, memchr
from libc.stdlib cimport malloc, realloc, free

import json
import os

cimport cython

from falco_engine.decoder cimport EventBatch, fe_evt, read_int, evt_param
from falco_engine.evalctx cimport (
    EventCtx, StateHook, ctx_fd, ctx_set_fd, ctx_param, ctx_set_event,
)
from falco_engine.inttable cimport IntTable, table_find
from falco_engine.event_table cimport fe_event_table, FE_EVENT_MAX, FE_SYSCALL_MAX
from falco_engine import table as _table

# --- constants -------------------------------------------------------------

# scap fd types (falco/capture/tables.py uses the same numbers).
DEF FD_UNKNOWN = 0
DEF FD_FILE = 1
DEF FD_DIRECTORY = 2
DEF FD_IPV4_SOCK = 3
DEF FD_IPV6_SOCK = 4
DEF FD_IPV4_SERVSOCK = 5
DEF FD_IPV6_SERVSOCK = 6
DEF FD_FIFO = 7
DEF FD_UNIX_SOCK = 8
DEF FD_EVENT = 9
DEF FD_UNSUPPORTED = 10
DEF FD_SIGNALFD = 11
DEF FD_EVENTPOLL = 12
DEF FD_INOTIFY = 13
DEF FD_TIMERFD = 14
DEF FD_NETLINK = 15
DEF FD_FILE_V2 = 16
DEF FD_BPF = 17
DEF FD_USERFAULTFD = 18
DEF FD_IOURING = 19
DEF FD_MEMFD = 20
DEF FD_PIDFD = 21

# Event flags (driver/event_table.yaml).
DEF EF_CREATES_FD = 1
DEF EF_DESTROYS_FD = 2
DEF EF_USES_FD = 4
DEF EF_SKIPPARSERESET = 256

DEF PPM_AF_UNIX = 1
DEF PPM_AF_INET = 2
DEF PPM_AF_INET6 = 10
DEF PPM_AF_NETLINK = 16

DEF L4_UNKNOWN = 0      # scap_l4_proto numbering (1 is "not applicable")
DEF L4_TCP = 2
DEF L4_UDP = 3
DEF L4_ICMP = 4
DEF L4_RAW = 5

DEF PPM_O_DIRECTORY = 1024
DEF PPM_O_CLOEXEC = 4096
DEF PPM_MFD_CLOEXEC = 1
DEF PPM_CL_CLONE_THREAD = 8192
DEF PPM_CL_CLONE_INVERTED = 65536
DEF PPM_CL_CLONE_NEWPID = 64
DEF PPM_CL_CHILD_IN_PIDNS = 536870912      # 1 << 29
DEF PPM_AT_FDCWD = -100
DEF EINPROGRESS = 115

DEF ROLE_NONE = 0
DEF ROLE_CLIENT = 1
DEF ROLE_SERVER = 2

FD_TYPE_NAMES = {
    FD_UNKNOWN: "unknown", FD_FILE: "file", FD_DIRECTORY: "directory",
    FD_IPV4_SOCK: "ipv4", FD_IPV6_SOCK: "ipv6", FD_IPV4_SERVSOCK: "ipv4",
    FD_IPV6_SERVSOCK: "ipv6", FD_FIFO: "pipe", FD_UNIX_SOCK: "unix",
    FD_EVENT: "event", FD_UNSUPPORTED: "unknown", FD_SIGNALFD: "signalfd",
    FD_EVENTPOLL: "eventpoll", FD_INOTIFY: "inotify", FD_TIMERFD: "timerfd",
    FD_NETLINK: "netlink", FD_FILE_V2: "file", FD_BPF: "bpf",
    FD_USERFAULTFD: "userfaultfd", FD_IOURING: "io_uring", FD_MEMFD: "memfd",
    FD_PIDFD: "pidfd",
}
FD_TYPE_CHARS = {
    FD_UNKNOWN: "o", FD_FILE: "f", FD_DIRECTORY: "d", FD_IPV4_SOCK: "4",
    FD_IPV6_SOCK: "6", FD_IPV4_SERVSOCK: "4", FD_IPV6_SERVSOCK: "6",
    FD_FIFO: "p", FD_UNIX_SOCK: "u", FD_EVENT: "e", FD_UNSUPPORTED: "o",
    FD_SIGNALFD: "s", FD_EVENTPOLL: "l", FD_INOTIFY: "i", FD_TIMERFD: "t",
    FD_NETLINK: "n", FD_FILE_V2: "f", FD_BPF: "b", FD_USERFAULTFD: "u",
    FD_IOURING: "r", FD_MEMFD: "m", FD_PIDFD: "P",
}

# Container runtime numbers of the container JSON event (libsinsp's enum).
CONTAINER_TYPES = ("docker", "lxc", "libvirt-lxc", "mesos", "rkt", "custom",
                   "cri", "containerd", "cri-o", "bpm", "static", "podman")

# --- parameter index, by name, per event type --------------------------------
#
# Layouts change between event versions (clone has five), so parsers ask for
# parameters by name; the index is computed once from the event table.

cdef enum ParamKey:
    K_FD, K_RES, K_NAME, K_FLAGS, K_DIRFD, K_TUPLE, K_ADDR, K_EXE, K_ARGS,
    K_TID, K_PID, K_PTID, K_CWD, K_FDLIMIT, K_COMM, K_CGROUPS, K_ENV, K_TTY,
    K_PGID, K_LOGINUID, K_UID, K_GID, K_VTID, K_VPID, K_FD1, K_FD2, K_INO,
    K_DEV, K_DOMAIN, K_TYPE, K_PROTO, K_CMD, K_PATH, K_JSON, K_ID, K_IMAGE,
    K_FILENAME, K_RES_OR_FD, K_EUID, K_EGID, K_SOURCE, K_PEER, K_TRUSTED_EXEPATH,
    K_EXE_INO, K_EXE_INO_CTIME, K_EXE_INO_MTIME, K_CAP_INH, K_CAP_PRM, K_CAP_EFF,
    K_PIDNS_TS, K_PATHNAME, K_VM_SIZE, K_VM_RSS, K_VM_SWAP, K_PGFT_MAJ,
    K_PGFT_MIN, K_HOME, K_SHELL, K_CONTAINER_ID, K_COUNT

_KEY_NAMES = ("fd", "res", "name", "flags", "dirfd", "tuple", "addr", "exe",
              "args", "tid", "pid", "ptid", "cwd", "fdlimit", "comm", "cgroups",
              "env", "tty", "pgid", "loginuid", "uid", "gid", "vtid", "vpid",
              "fd1", "fd2", "ino", "dev", "domain", "type", "proto", "cmd",
              "path", "json", "id", "image", "filename", "res_or_fd", "euid",
              "egid", "source", "peer", "trusted_exepath", "exe_ino",
              "exe_ino_ctime", "exe_ino_mtime", "cap_inheritable",
              "cap_permitted", "cap_effective", "pidns_init_start_ts",
              "pathname", "vm_size", "vm_rss", "vm_swap", "pgft_maj",
              "pgft_min", "home", "shell", "container_id")
assert len(_KEY_NAMES) == K_COUNT

cdef int8_t *PIDX = <int8_t *>malloc(FE_EVENT_MAX * K_COUNT)
# What the parser does with each event type (0: nothing).
cdef uint8_t *ACTION = <uint8_t *>malloc(FE_EVENT_MAX)
# Enter events whose parameters an exit may need.
cdef uint8_t *STORE = <uint8_t *>malloc(FE_EVENT_MAX)
# Of those, the ones the exit's own parser reads; for the others only a
# rule judging the exit does (run_quiet keeps them when one is indexed).
cdef uint8_t *PARSER_STORE = <uint8_t *>malloc(FE_EVENT_MAX)


cdef enum Action:
    A_NONE, A_OPEN, A_SOCKET, A_BIND, A_CONNECT, A_ACCEPT, A_CLOSE, A_PIPE,
    A_SOCKETPAIR, A_SIMPLEFD, A_DUP, A_FCNTL, A_CHDIR, A_FCHDIR, A_EXECVE,
    A_CLONE, A_PROCEXIT, A_SETUID, A_SETGID, A_SETRESUID, A_SETRESGID,
    A_SETSID, A_CHROOT, A_CAPSET, A_CONTAINER_JSON, A_CONTAINER_OLD,
    A_USERADDED, A_GROUPADDED, A_MEMFD, A_BPF, A_OPEN_BY_HANDLE, A_SWITCH,
    A_SENDTO, A_RECVFROM, A_MEMORY, A_PROCINFO


_ACTIONS = {
    "open": A_OPEN, "openat": A_OPEN, "openat2": A_OPEN, "creat": A_OPEN,
    "open_by_handle_at": A_OPEN_BY_HANDLE, "socket": A_SOCKET, "bind": A_BIND,
    "connect": A_CONNECT, "accept": A_ACCEPT, "accept4": A_ACCEPT,
    "close": A_CLOSE, "pipe": A_PIPE, "pipe2": A_PIPE,
    "socketpair": A_SOCKETPAIR, "eventfd": A_SIMPLEFD, "eventfd2": A_SIMPLEFD,
    "signalfd": A_SIMPLEFD, "signalfd4": A_SIMPLEFD,
    "timerfd_create": A_SIMPLEFD, "inotify_init": A_SIMPLEFD,
    "inotify_init1": A_SIMPLEFD, "epoll_create": A_SIMPLEFD,
    "epoll_create1": A_SIMPLEFD, "userfaultfd": A_SIMPLEFD,
    "io_uring_setup": A_SIMPLEFD, "pidfd_open": A_SIMPLEFD,
    "pidfd_getfd": A_SIMPLEFD, "memfd_create": A_MEMFD, "bpf": A_BPF,
    "dup": A_DUP, "dup2": A_DUP, "dup3": A_DUP, "fcntl": A_FCNTL,
    "chdir": A_CHDIR, "fchdir": A_FCHDIR, "execve": A_EXECVE,
    "execveat": A_EXECVE, "clone": A_CLONE, "clone3": A_CLONE, "fork": A_CLONE,
    "vfork": A_CLONE, "procexit": A_PROCEXIT, "setuid": A_SETUID,
    "setgid": A_SETGID, "setresuid": A_SETRESUID, "setresgid": A_SETRESGID,
    "setsid": A_SETSID, "chroot": A_CHROOT, "capset": A_CAPSET,
    "useradded": A_USERADDED, "groupadded": A_GROUPADDED, "switch": A_SWITCH,
    "sendto": A_SENDTO, "sendmsg": A_SENDTO, "recvfrom": A_RECVFROM,
    "recvmsg": A_RECVFROM, "brk": A_MEMORY, "mmap": A_MEMORY,
    "mmap2": A_MEMORY, "munmap": A_MEMORY, "procinfo": A_PROCINFO,
}
# The fd type each simple fd-creating call makes.
_SIMPLE_FD_TYPE = {
    "eventfd": FD_EVENT, "eventfd2": FD_EVENT, "signalfd": FD_SIGNALFD,
    "signalfd4": FD_SIGNALFD, "timerfd_create": FD_TIMERFD,
    "inotify_init": FD_INOTIFY, "inotify_init1": FD_INOTIFY,
    "epoll_create": FD_EVENTPOLL, "epoll_create1": FD_EVENTPOLL,
    "userfaultfd": FD_USERFAULTFD, "io_uring_setup": FD_IOURING,
    "pidfd_open": FD_PIDFD, "pidfd_getfd": FD_PIDFD,
}
cdef uint8_t *SIMPLE_TYPE = <uint8_t *>malloc(FE_EVENT_MAX)
cdef uint8_t *KIND = <uint8_t *>malloc(FE_EVENT_MAX)
# quiet_of bits (StateEngine.quiet_of): the kind, and for a QUICK call:
DEF QUIET_KIND = 0x07
DEF CALL_ENTER = 0x08       # an enter event (its record starts the call's)
DEF CALL_FD = 0x10          # whose first parameter is the fd it works on
                            # (on a PARSE exit: its parser sees that fd)
DEF CALL_KEEP = 0x20        # whose record is copied for the exit
DEF CALL_PAIR = 0x40        # whose exit changes nothing: no rule, no parser
DEF QUIET_WANTED = 0x80     # a rule is indexed under the type
# Bytes of fe_evt per byte of the packed types (uint16_t): 56 / 2.
DEF EVT_PER_TYPE_BYTES = 28
cdef enum QuietKind:
    KIND_OTHER = 0      # through process()
    KIND_QUICK = 1
    KIND_SWITCH = 2
    KIND_PROCINFO = 3
    KIND_SCHED = 4
    KIND_PARSE = 5      # the exit of a call that changes state: its parser
    KIND_EXIT = 6       # a thread's exit (procexit)
cdef int64_t F_DUPFD_CODES[2]
# A purge slice: threads visited, and /proc lookups, at most.
DEF PURGE_VISITS = 256
DEF PURGE_CHECKS = 16


def _build_index():
    cdef int t, k
    key_of = {n: i for i, n in enumerate(_KEY_NAMES)}
    for t in range(FE_EVENT_MAX):
        for k in range(K_COUNT):
            PIDX[t * K_COUNT + k] = -1
        ACTION[t] = A_NONE
        STORE[t] = 0
        PARSER_STORE[t] = 0
        SIMPLE_TYPE[t] = FD_UNKNOWN
    for ev in _table.EVENTS:
        t = ev.id
        for p, pinfo in enumerate(ev.params):
            k = key_of.get(pinfo.name, -1)
            if k >= 0 and PIDX[t * K_COUNT + k] < 0:
                PIDX[t * K_COUNT + k] = p
        if ev.unused:
            continue
        act = _ACTIONS.get(ev.name, A_NONE)
        if ev.name == "container":
            act = A_CONTAINER_JSON if any(p.name == "json" for p in ev.params) \
                else A_CONTAINER_OLD
        ACTION[t] = act
        SIMPLE_TYPE[t] = _SIMPLE_FD_TYPE.get(ev.name, FD_UNKNOWN)
        if t % 2 == 0 and act in (A_OPEN, A_SOCKET, A_FCNTL, A_SETUID, A_SETGID,
                                  A_SETRESUID, A_SETRESGID, A_EXECVE, A_CHDIR,
                                  A_BIND, A_CONNECT, A_SENDTO):
            STORE[t] = 1
            PARSER_STORE[t] = 1
        # Rules judge exit events (Falco 0.42+), so an enter parameter the
        # exit lacks (socket's domain, ptrace's request, unshare's flags) is
        # read from the stored enter record: keep it for those syscalls.
        # (Not for an enter without an exit, procexit: nothing reads it.)
        if t % 2 == 0 and t + 1 < FE_EVENT_MAX and not ev.unused and \
                not _table.EVENTS[t + 1].unused:
            exit_names = {p.name for p in _table.EVENTS[t + 1].params}
            if any(p.name not in exit_names for p in ev.params):
                STORE[t] = 1
    fset = {}
    for s in _table.FLAG_SETS:
        for name, value in s:
            fset.setdefault(name, value)
    F_DUPFD_CODES[0] = fset.get("F_DUPFD", 1)
    F_DUPFD_CODES[1] = fset.get("F_DUPFD_CLOEXEC", 26)
    # How run_quiet treats each type (what process() would do, without it):
    # QUICK, for a known thread only the per-thread record of the call
    # (_note_call): calls that change nothing, and the enter events of the
    # ones that do (their parsers run at the exit); PARSE, the exits of
    # those; EXIT, a thread's exit; SWITCH / PROCINFO / SCHED, scheduler and
    # internal events, which never create threads.
    for t in range(FE_EVENT_MAX):
        act = ACTION[t]
        skip = bool(fe_event_table[t].flags & EF_SKIPPARSERESET)
        if act in (A_CONTAINER_JSON, A_CONTAINER_OLD, A_USERADDED, A_GROUPADDED):
            KIND[t] = KIND_OTHER
        elif act == A_SWITCH:
            KIND[t] = KIND_SWITCH
        elif skip:
            KIND[t] = KIND_PROCINFO if act == A_PROCINFO else KIND_SCHED
        elif act != A_PROCINFO and act != A_PROCEXIT and \
                (act == A_NONE or t % 2 == 0):
            KIND[t] = KIND_QUICK
        elif act != A_PROCINFO and act != A_PROCEXIT and t % 2 == 1:
            KIND[t] = KIND_PARSE
        elif act == A_PROCEXIT and t % 2 == 0:
            KIND[t] = KIND_EXIT
        else:
            KIND[t] = KIND_OTHER


_build_index()
# run_quiet finds a record from its packed type by this ratio.
assert sizeof(fe_evt) == 2 * EVT_PER_TYPE_BYTES and sizeof(uint16_t) == 2

# --- small readers ------------------------------------------------------------


cdef uint32_t walk_params(const uint8_t *base, fe_evt *e, const uint8_t **ptr,
                          uint32_t *plen, uint32_t maxn) noexcept:
    """Where the first (up to maxn) parameters of record `e` are, in one walk
    over its length array; how many were found."""
    cdef const uint8_t *rec = base + e.off
    cdef const uint8_t *lens = rec + e.hdr_len
    cdef uint64_t pos = e.hdr_len + <uint64_t>e.nparams * e.len_size
    cdef uint32_t k, v, count = e.nparams
    cdef uint16_t v16
    if count > maxn:
        count = maxn
    if e.len_size == 4:
        for k in range(count):
            memcpy(&v, lens + 4 * k, 4)
            ptr[k] = rec + pos
            plen[k] = v
            pos += v
    else:
        for k in range(count):
            memcpy(&v16, lens + 2 * k, 2)
            ptr[k] = rec + pos
            plen[k] = v16
            pos += v16
    return count


cdef inline bint _num_param(const uint8_t *p, uint32_t n, bint signed_,
                            int64_t *out) noexcept:
    """A number parameter found at `p` (NULL: absent), read when it has a
    number's size: what ev_int, pt_int, rec_int and their unsigned forms
    share once they have found it."""
    if p == NULL or not (n == 1 or n == 2 or n == 4 or n == 8):
        return False
    out[0] = read_int(p, n, signed_)
    return True


cdef inline const uint8_t *evp(EventCtx ctx, int key, uint32_t *n) noexcept:
    """Parameter `key` of the current event, or NULL when absent."""
    cdef int idx = PIDX[ctx.evt.type * K_COUNT + key]
    if idx < 0:
        return NULL
    return ctx_param(ctx, <uint32_t>idx, n)


# A parser that reads several parameters of one event (execve and clone a
# dozen of their 20 and more) walks their lengths once into a table on its
# stack (pt_fill) and reads it with the pt_* helpers: each evp would walk
# them again from the first.
DEF PTAB_MAX = 40


cdef struct ParamTable:
    const uint8_t *ptr[PTAB_MAX]
    uint32_t len[PTAB_MAX]
    uint32_t count              # the event's first `count` parameters
    const int8_t *idx           # PIDX row of the event's type


cdef inline void pt_fill(ParamTable *tab, EventCtx ctx) noexcept:
    tab.count = walk_params(ctx.batch.base, ctx.evt, tab.ptr, tab.len, PTAB_MAX)
    tab.idx = PIDX + ctx.evt.type * K_COUNT


cdef inline const uint8_t *pt_get(ParamTable *tab, EventCtx ctx, int key,
                                  uint32_t *n) noexcept:
    """evp through the table (past it, from the record)."""
    cdef int idx = tab.idx[key]
    if idx < 0:
        return NULL
    if <uint32_t>idx < tab.count:
        n[0] = tab.len[idx]
        return tab.ptr[idx]
    return ctx_param(ctx, <uint32_t>idx, n)


cdef inline bint pt_int(ParamTable *tab, EventCtx ctx, int key, int64_t *out) noexcept:
    cdef uint32_t n = 0
    cdef const uint8_t *p = pt_get(tab, ctx, key, &n)
    return _num_param(p, n, True, out)


cdef inline bint pt_uint(ParamTable *tab, EventCtx ctx, int key, uint64_t *out) noexcept:
    cdef uint32_t n = 0
    cdef const uint8_t *p = pt_get(tab, ctx, key, &n)
    return _num_param(p, n, False, <int64_t *>out)


cdef inline bytes pt_str(ParamTable *tab, EventCtx ctx, int key):
    cdef uint32_t n = 0
    cdef const uint8_t *p = pt_get(tab, ctx, key, &n)
    if p == NULL:
        return None
    return cstr(p, n)


cdef inline bytes pt_raw(ParamTable *tab, EventCtx ctx, int key):
    cdef uint32_t n = 0
    cdef const uint8_t *p = pt_get(tab, ctx, key, &n)
    if p == NULL:
        return None
    return PyBytes_FromStringAndSize(<const char *>p, n)


DEF MEM_PARAMS_MAX = 24


cdef inline void _mem_value(int idx, uint32_t count, const uint8_t **ptr,
                            uint32_t *plen, uint64_t *out) noexcept:
    """Store parameter `idx` (an unsigned number) in `out` when present."""
    cdef uint32_t n
    if idx < 0 or <uint32_t>idx >= count:
        return
    n = plen[idx]
    if n == 1 or n == 2 or n == 4 or n == 8:
        out[0] = _rd_uint(ptr[idx], n)


cdef inline uint64_t _rd_uint(const uint8_t *p, uint32_t n) noexcept:
    """An unsigned little-endian number of 1, 2, 4 or 8 bytes (read_int
    without the call)."""
    cdef uint64_t v8
    cdef uint32_t v4
    cdef uint16_t v2
    if n == 8:
        memcpy(&v8, p, 8)
        return v8
    if n == 4:
        memcpy(&v4, p, 4)
        return v4
    if n == 2:
        memcpy(&v2, p, 2)
        return v2
    return p[0]


cdef inline bint ev_int(EventCtx ctx, int key, int64_t *out) noexcept:
    cdef uint32_t n = 0
    cdef const uint8_t *p = evp(ctx, key, &n)
    return _num_param(p, n, True, out)


cdef inline bint ev_uint(EventCtx ctx, int key, uint64_t *out) noexcept:
    cdef uint32_t n = 0
    cdef const uint8_t *p = evp(ctx, key, &n)
    return _num_param(p, n, False, <int64_t *>out)


cdef bytes cstr(const uint8_t *p, uint32_t n):
    """A NUL-terminated string parameter as bytes (up to the first NUL)."""
    if p == NULL:
        return b""
    return PyBytes_FromStringAndSize(<const char *>p, _cstr_len(p, n))


cdef inline Py_ssize_t _cstr_len(const uint8_t *p, uint32_t n) noexcept:
    """The length of a string parameter: up to its first NUL, if any."""
    cdef const uint8_t *end = <const uint8_t *>memchr(p, 0, n)
    return n if end == NULL else end - p


cdef bytes cstr_or(const uint8_t *p, uint32_t n, bytes same):
    """cstr(p, n), or `same` when it holds those bytes already (a clone's
    name and path are nearly always its parent's: no new object)."""
    cdef Py_ssize_t k
    if p == NULL:
        return b""
    k = _cstr_len(p, n)
    if same is not None and PyBytes_GET_SIZE(same) == k and \
            memcmp(PyBytes_AS_STRING(same), p, k) == 0:
        return same
    return PyBytes_FromStringAndSize(<const char *>p, k)


cdef inline bytes ev_str(EventCtx ctx, int key):
    cdef uint32_t n = 0
    cdef const uint8_t *p = evp(ctx, key, &n)
    if p == NULL:
        return None
    return cstr(p, n)


cdef inline bytes ev_raw(EventCtx ctx, int key):
    cdef uint32_t n = 0
    cdef const uint8_t *p = evp(ctx, key, &n)
    if p == NULL:
        return None
    return PyBytes_FromStringAndSize(<const char *>p, n)


DEF CGROUP_ANSWERS_MAX = 4096

# Every clone and execve carries the cgroup array again, nearly always one
# already seen: threads share one list per distinct array (lists of
# cgroups are only ever replaced, never changed in place).
DEF ARRAY_RECENT = 4


cdef class _ArrayLists:
    """One list per distinct NUL-separated array parameter (cgroups, argv):
    clone and execve carry the same few arrays again and again.  A dict
    keyed by the array's bytes holds up to `limit` of them; the last few
    seen are also found by memcmp on the parameter itself, without making
    and hashing a bytes object (a parent and its children alternate
    between two arrays).  Shared lists are never changed in place: threads'
    args, env and cgroups are only ever replaced, as clone shares its
    parent's."""
    cdef dict by_raw                # raw -> (list, derived)
    cdef Py_ssize_t limit
    cdef object make                # bytes -> list
    cdef object derive              # list -> what callers want of it, or None
    cdef list recent_raw
    cdef list recent_list
    cdef list recent_derived
    # Each recent raw's length (-1: none) and bytes (held by recent_raw):
    # at() tests them without touching the Python lists.
    cdef Py_ssize_t recent_len[ARRAY_RECENT]
    cdef const char *recent_data[ARRAY_RECENT]
    cdef int next
    # What `derive` gave for the list of the last of()/at().
    cdef object last_derived

    def __init__(self, make, Py_ssize_t limit, derive=None):
        cdef int i
        self.by_raw = {}
        self.limit = limit
        self.make = make
        self.derive = derive
        self.recent_raw = [None] * ARRAY_RECENT
        self.recent_list = [None] * ARRAY_RECENT
        self.recent_derived = [None] * ARRAY_RECENT
        for i in range(ARRAY_RECENT):
            self.recent_len[i] = -1
            self.recent_data[i] = NULL
        self.next = 0
        self.last_derived = None

    cdef list of(self, bytes raw):
        cdef object known = self.by_raw.get(raw)
        if known is None:
            made = self.make(raw)
            known = (made, None if self.derive is None else self.derive(made))
            if len(self.by_raw) >= self.limit:
                self.by_raw.clear()
            self.by_raw[raw] = known
        self.recent_raw[self.next] = raw
        self.recent_len[self.next] = PyBytes_GET_SIZE(raw)
        self.recent_data[self.next] = PyBytes_AS_STRING(raw)
        self.recent_list[self.next] = (<tuple>known)[0]
        self.recent_derived[self.next] = (<tuple>known)[1]
        self.next = (self.next + 1) % ARRAY_RECENT
        self.last_derived = (<tuple>known)[1]
        return <list>(<tuple>known)[0]

    cdef list at(self, const uint8_t *p, uint32_t n):
        """of() the parameter bytes at p[0:n]."""
        cdef int i
        for i in range(ARRAY_RECENT):
            if self.recent_len[i] == <Py_ssize_t>n and \
                    memcmp(p, self.recent_data[i], n) == 0:
                self.last_derived = self.recent_derived[i]
                return <list>self.recent_list[i]
        return self.of(PyBytes_FromStringAndSize(<const char *>p, n))


def _cgroup_entries(bytes raw):
    """Cgroups as libsinsp keeps them: the v2 "io" controller is listed
    under its v1 name, blkio."""
    return [b"blkio=" + c[3:] if c.startswith(b"io=") else c
            for c in split_nul(raw)]


def _cgroups_container_id(list cgroups):
    return container_from_cgroups(cgroups)[0]


# Each distinct cgroups array also keeps its container id (last_derived).
cdef _ArrayLists _CGROUPS = _ArrayLists(_cgroup_entries, CGROUP_ANSWERS_MAX,
                                        _cgroups_container_id)
cdef _ArrayLists _ARGV = _ArrayLists(lambda raw: split_nul(raw), 1024)


cdef list split_nul(bytes raw):
    """A NUL-separated array parameter (args, env, cgroups) as a list."""
    if not raw:
        return []
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


cdef inline bint is_zero16(const uint8_t *p) noexcept:
    cdef int i
    for i in range(16):
        if p[i] != 0:
            return False
    return True


cdef inline uint16_t rd16(const uint8_t *p) noexcept:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return v


cdef inline uint32_t rd32(const uint8_t *p) noexcept:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return v


# Stored enter records: the same framing as in the batch.
cdef const uint8_t *rec_param(ThreadInfo t, int key, uint32_t *n) noexcept:
    cdef int idx
    cdef const uint8_t *rec
    cdef Py_ssize_t reclen, pos
    cdef uint32_t k, plen
    if t.enter_len == 0:
        return NULL
    idx = PIDX[t.enter_type * K_COUNT + key]
    if idx < 0 or <uint32_t>idx >= t.enter_nparams:
        return NULL
    rec = t.enter_buf
    reclen = t.enter_len
    pos = t.enter_hdr + <Py_ssize_t>t.enter_nparams * t.enter_lsz
    if pos > reclen:
        return NULL
    for k in range(<uint32_t>idx + 1):
        plen = rd32(rec + t.enter_hdr + 4 * k) if t.enter_lsz == 4 \
            else rd16(rec + t.enter_hdr + 2 * k)
        if k == <uint32_t>idx:
            if pos + plen > reclen:
                return NULL
            n[0] = plen
            return rec + pos
        pos += plen
    return NULL


cdef inline bint rec_int(ThreadInfo t, int key, int64_t *out) noexcept:
    cdef uint32_t n = 0
    cdef const uint8_t *p = rec_param(t, key, &n)
    return _num_param(p, n, True, out)


# --- text forms (what libsinsp stores as fd names) ---------------------------

cdef str ip4_text(const uint8_t *p):
    return f"{p[0]}.{p[1]}.{p[2]}.{p[3]}"


cdef inline Py_ssize_t _put_digits(char *buf, Py_ssize_t pos, uint64_t v,
                                   uint32_t base) noexcept:
    """Write v in `base` (10 or 16, lower-case) at buf[pos]; the new
    position."""
    cdef char tmp[20]
    cdef int k = 0
    while True:
        tmp[k] = b"0123456789abcdef"[v % base]
        k += 1
        v //= base
        if v == 0:
            break
    while k > 0:
        k -= 1
        buf[pos] = tmp[k]
        pos += 1
    return pos


cdef inline Py_ssize_t _put_dec(char *buf, Py_ssize_t pos, uint32_t v) noexcept:
    """Write v in decimal at buf[pos]; the new position."""
    if v < 10:
        buf[pos] = <char>(48 + v)
        return pos + 1
    return _put_digits(buf, pos, v, 10)


cdef inline Py_ssize_t _put_hex(char *buf, Py_ssize_t pos, uint64_t v) noexcept:
    return _put_digits(buf, pos, v, 16)


cdef inline Py_ssize_t _put_ip4_port(char *buf, Py_ssize_t pos, const uint8_t *a,
                                     uint16_t port) noexcept:
    cdef int i
    for i in range(4):
        pos = _put_dec(buf, pos, a[i])
        buf[pos] = b'.' if i < 3 else b':'
        pos += 1
    return _put_dec(buf, pos, port)


cdef bytes _ip4_pair_text(const uint8_t *a, uint16_t ap, const uint8_t *b,
                          uint16_t bp):
    """"a:port->b:port" (at most 2 * 21 + 2 characters)."""
    cdef char buf[48]
    cdef Py_ssize_t pos = _put_ip4_port(buf, 0, a, ap)
    buf[pos] = b'-'
    buf[pos + 1] = b'>'
    pos = _put_ip4_port(buf, pos + 2, b, bp)
    return PyBytes_FromStringAndSize(buf, pos)


cdef str ip6_text(const uint8_t *p):
    import ipaddress
    return str(ipaddress.IPv6Address(bytes(p[:16])))


cdef bint is_v4_mapped(const uint8_t *p) noexcept:
    cdef int i
    for i in range(10):
        if p[i] != 0:
            return False
    return p[10] == 0xff and p[11] == 0xff


cdef bytes tuple_text(const uint8_t *p, uint32_t n):
    """A PT_SOCKTUPLE as libsinsp prints it (the fd name of a socket)."""
    cdef uint64_t a, b
    cdef char hexbuf[40]
    cdef Py_ssize_t pos
    if n == 0:
        return b""
    if p[0] == PPM_AF_INET and n >= 13:
        return _ip4_pair_text(p + 1, rd16(p + 5), p + 7, rd16(p + 11))
    if p[0] == PPM_AF_INET6 and n >= 37:
        if is_v4_mapped(p + 1) and is_v4_mapped(p + 19):
            return _ip4_pair_text(p + 13, rd16(p + 17), p + 31, rd16(p + 35))
        return (f"{ip6_text(p + 1)}:{rd16(p + 17)}->"
                f"{ip6_text(p + 19)}:{rd16(p + 35)}").encode()
    if p[0] == PPM_AF_UNIX and n >= 17:
        memcpy(&a, p + 1, 8)
        memcpy(&b, p + 9, 8)
        pos = _put_hex(hexbuf, 0, a)
        hexbuf[pos] = b'-'
        hexbuf[pos + 1] = b'>'
        pos = _put_hex(hexbuf, pos + 2, b)
        hexbuf[pos] = b' '
        return PyBytes_FromStringAndSize(hexbuf, pos + 1) + cstr(p + 17, n - 17)
    return b""


def tuple_text_py(bytes raw):
    """Python entry to `tuple_text` (field extractors, tools)."""
    return tuple_text(<const uint8_t *>PyBytes_AS_STRING(raw), len(raw))


cdef bytes sockaddr_text(const uint8_t *p, uint32_t n):
    if n == 0:
        return b""
    if p[0] == PPM_AF_INET and n >= 7:
        return f"{ip4_text(p + 1)}:{rd16(p + 5)}".encode()
    if p[0] == PPM_AF_INET6 and n >= 19:
        return f"{ip6_text(p + 1)}:{rd16(p + 17)}".encode()
    if p[0] == PPM_AF_UNIX:
        return cstr(p + 1, n - 1)
    return b""


cdef inline uint64_t _zero_bytes(uint64_t x) noexcept:
    """The top bit of each zero byte of x set (and perhaps of bytes above
    one: the borrow of a zero byte can reach them; never below)."""
    return (x - <uint64_t>0x0101010101010101) & ~x & <uint64_t>0x8080808080808080


cdef inline bint _is_canonical(const char *p, Py_ssize_t n) noexcept:
    """An absolute path with no "//", no "/." and no trailing slash (the
    root aside): nothing to fold.  ("/.x" is sent the slow way: rare.)
    Eight positions are tested at once: a '/' (in a) followed by a '/' or
    a '.' (in b, one byte on).  A bit set falsely (see _zero_bytes) only
    sends a path the slow way, which folds it right."""
    cdef Py_ssize_t i = 0
    cdef uint64_t a, b
    while i + 9 <= n:
        memcpy(&a, p + i, 8)
        memcpy(&b, p + i + 1, 8)
        if _zero_bytes(a ^ <uint64_t>0x2f2f2f2f2f2f2f2f) & (
                _zero_bytes(b ^ <uint64_t>0x2f2f2f2f2f2f2f2f) |
                _zero_bytes(b ^ <uint64_t>0x2e2e2e2e2e2e2e2e)):
            return False
        i += 8
    while i < n - 1:
        if p[i] == b'/' and (p[i + 1] == b'/' or p[i + 1] == b'.'):
            return False
        i += 1
    return n == 1 or p[n - 1] != b'/'


cpdef bytes concat_paths(bytes base, bytes path):
    """libsinsp's path join: absolute paths win; '.', '..' and '//' fold."""
    cdef bytes full
    cdef Py_ssize_t pn = len(path), bn = len(base), fn
    cdef const char *pp = path
    cdef const char *bp = base
    if (pn > 0 and pp[0] == b'/') or bn == 0:
        full = path
    elif bp[bn - 1] == b'/':
        full = base + path
    else:
        full = base + b"/" + path
    fn = len(full)
    if fn == 0 or (<const char *>full)[0] != b'/':
        return full
    if _is_canonical(<const char *>full, fn):
        return full
    out = []
    for part in full.split(b"/"):
        if part == b"" or part == b".":
            continue
        if part == b"..":
            if out:
                out.pop()
            continue
        out.append(part)
    return b"/" + b"/".join(out)


# Absolute paths opened lately, {raw name: (name, canonical name)} in
# direct-mapped slots picked from the length and the first and last words
# and confirmed by memcmp.  A host opens the same few files again and again
# (a web server's config and libraries per request); an absolute name's
# full path does not depend on the cwd, so a hit makes no bytes object and
# folds nothing.  Immutable values: any engine may share them.
DEF PATH_SLOTS = 256
cdef list _path_slots = [None] * PATH_SLOTS


cdef inline uint64_t _mix_word(uint64_t h, const uint8_t *p) noexcept:
    """h with the 8 bytes at p mixed in (the slot caches' hash step)."""
    cdef uint64_t w
    memcpy(&w, p, 8)
    return (h ^ w) * <uint64_t>0x100000001B3


cdef inline Py_ssize_t _path_slot(const uint8_t *p, Py_ssize_t k) noexcept:
    cdef uint64_t h = <uint64_t>k * <uint64_t>0x9E3779B97F4A7C15
    if k >= 8:
        h = _mix_word(_mix_word(h, p), p + k - 8)
    return <Py_ssize_t>(h >> 56) & (PATH_SLOTS - 1)


cdef tuple absolute_path(const uint8_t *p, Py_ssize_t k):
    """(name, full path) of the absolute path p[0:k] (p[0] is '/'):
    concat_paths of it, remembered."""
    cdef Py_ssize_t slot = _path_slot(p, k)
    cdef object entry = _path_slots[slot]
    cdef bytes name
    if entry is not None:
        name = <bytes>(<tuple>entry)[0]
        if PyBytes_GET_SIZE(name) == k and memcmp(PyBytes_AS_STRING(name), p, k) == 0:
            return <tuple>entry
    name = PyBytes_FromStringAndSize(<const char *>p, k)
    entry = (name, concat_paths(b"", name))
    _path_slots[slot] = entry
    return <tuple>entry


cdef int _procinfo(EventCtx ctx, ThreadInfo t) except -1:
    """The driver's periodic CPU ticks of a thread (user, system): keep the
    ticks used since its previous sample (0 at the first), for thread.cpu*."""
    cdef uint32_t n0 = 0, n1 = 0
    cdef const uint8_t *p0 = ctx.param(0, &n0)
    cdef const uint8_t *p1 = ctx.param(1, &n1)
    cdef uint64_t usr, sys_
    if p0 == NULL or p1 == NULL or n0 != 8 or n1 != 8:
        return 0
    usr = <uint64_t>read_int(p0, 8, False)
    sys_ = <uint64_t>read_int(p1, 8, False)
    t.cpu_user_d = usr - t.cpu_user if t.cpu_user and usr >= t.cpu_user else 0
    t.cpu_system_d = sys_ - t.cpu_system if t.cpu_system and sys_ >= t.cpu_system else 0
    t.cpu_total_d = (usr + sys_) - (t.cpu_user + t.cpu_system) \
        if t.cpu_user + t.cpu_system and usr + sys_ >= t.cpu_user + t.cpu_system else 0
    t.cpu_user = usr
    t.cpu_system = sys_
    return 0


cdef inline bint _close_on_exec(FdInfo fi):
    if fi.type == FD_MEMFD:
        return (fi.openflags & PPM_MFD_CLOEXEC) != 0
    return (fi.openflags & PPM_O_CLOEXEC) != 0


cdef bytes dir_with_slash(bytes d):
    if d and not d.endswith(b"/"):
        return d + b"/"
    return d


# --- containers from cgroups ---------------------------------------------------

cdef bint _is_hex(bytes s):
    cdef Py_ssize_t i
    cdef char c
    cdef const char *p = s
    for i in range(len(s)):
        c = p[i]
        if not ((b'0' <= c <= b'9') or (b'a' <= c <= b'f')):
            return False
    return True


# The container of a cgroup list, remembered per distinct list (bounded).
cdef dict _cgroup_answers = {}

# Container events repeat the same JSON (a runtime re-announces, captures
# are replayed in loops): parsed once, {raw JSON: (id[:12], info, pseudo
# thread name)}.  The info dicts are shared, so nothing may change one in
# place (the live resolver replaces entries of `containers`, it does not
# edit them).  Records seen lately are also found in a cache of (raw,
# entry) slots, the pair of slots picked from the length and a few words of
# the parameter, and confirmed by memcmp: neither copied nor hashed whole.
DEF CONTAINER_DOCS_MAX = 256
DEF CONTAINER_SLOTS = 256
cdef dict _container_docs = {}
cdef list _container_slots = [None] * CONTAINER_SLOTS


DEF ANSWER_RECENT = 4
cdef list _recent_answer_list = [None] * ANSWER_RECENT
cdef list _recent_answer = [None] * ANSWER_RECENT
cdef int _recent_answer_next = 0


cpdef tuple container_from_cgroups(list cgroups):
    """(full id, runtime) from a thread's cgroup paths; (b"", None) on the host."""
    global _recent_answer_next
    cdef int i
    # Threads share one list per distinct array (_CGROUPS), and lists
    # are replaced, never changed: the same list has the same answer.
    for i in range(ANSWER_RECENT):
        if _recent_answer_list[i] is cgroups:
            return <tuple>_recent_answer[i]
    key = tuple(cgroups)
    answer = _cgroup_answers.get(key)
    if answer is None:
        answer = _scan_cgroups(cgroups)
        if len(_cgroup_answers) >= CGROUP_ANSWERS_MAX:
            _cgroup_answers.clear()
        _cgroup_answers[key] = answer
    _recent_answer_list[_recent_answer_next] = cgroups
    _recent_answer[_recent_answer_next] = answer
    _recent_answer_next = (_recent_answer_next + 1) % ANSWER_RECENT
    return answer


cdef tuple _scan_cgroups(list cgroups):
    # bytes.find, not `in`: CPython's bytes __contains__ first tries the
    # operand as an integer and raises (then clears) a TypeError each time.
    for cg in cgroups:
        _, _, path = cg.partition(b"=")
        for part in reversed(path.split(b"/")):
            if not part:
                continue
            runtime = None
            cid = part
            if part.endswith(b".scope"):
                stem = part[:-6]
                for prefix, rt in ((b"docker-", "docker"), (b"crio-", "cri-o"),
                                   (b"cri-containerd-", "containerd"),
                                   (b"libpod-", "podman")):
                    if stem.startswith(prefix):
                        cid = stem[len(prefix):]
                        runtime = rt
                        break
                else:
                    continue
            elif part.startswith(b"libpod-"):
                cid = part[7:]             # cgroupfs: /libpod_parent/libpod-<id>
                runtime = "podman"
            elif path.find(b"/docker/") >= 0 or path.startswith(b"/docker"):
                runtime = "docker"
            elif path.find(b"kubepods") >= 0:
                runtime = "cri"
            elif path.find(b"/libpod") >= 0:
                runtime = "podman"
            else:
                continue
            if len(cid) == 64 and _is_hex(cid):
                return cid, runtime
            break
    return b"", None


# --- state objects ---------------------------------------------------------------


cdef list _NO_ITEMS = []


# Not in the cyclic GC: an fd holds bytes only, which cannot lead back to
# it; tracking cost a link and an unlink per descriptor opened and closed.
@cython.no_gc
@cython.freelist(256)
cdef class FdInfo:
    """One open file descriptor."""

    def __cinit__(self):
        # (A new or reused object is all zeros already: addresses, ports.)
        self.fd = -1
        self.type = FD_UNKNOWN
        self._name = b""
        self.nameraw = b""

    @property
    def name(self):
        return fd_name(self)

    @name.setter
    def name(self, bytes value):
        self._name = value
        self.name_stale = False

    cdef FdInfo copy(self):
        cdef FdInfo c = FdInfo.__new__(FdInfo)
        c.fd = self.fd
        c.type = self.type
        c._name = self._name
        c.name_stale = self.name_stale
        c.nameraw = self.nameraw
        c.openflags = self.openflags
        c.ino = self.ino
        c.dev = self.dev
        memcpy(c.sip, self.sip, 16)
        memcpy(c.dip, self.dip, 16)
        c.sport = self.sport
        c.dport = self.dport
        c.l4proto = self.l4proto
        c.role = self.role
        c.usrc = self.usrc
        c.udst = self.udst
        c.connected = self.connected
        return c

    @property
    def typechar(self):
        return FD_TYPE_CHARS.get(self.type, "o")

    @property
    def type_name(self):
        return FD_TYPE_NAMES.get(self.type, "unknown")

    @property
    def is_ipv6(self):
        return self.type == FD_IPV6_SOCK or self.type == FD_IPV6_SERVSOCK

    @property
    def sip_bytes(self):
        return bytes(self.sip[:16 if self.is_ipv6 else 4])

    @property
    def dip_bytes(self):
        return bytes(self.dip[:16 if self.is_ipv6 else 4])

    def __repr__(self):
        return f"<FdInfo {self.fd} {self.typechar} {fd_name(self)!r}>"


# Not in the cyclic GC: a thread holds bytes, lists of bytes and its fd
# table, none of which can lead back to it, and thousands of threads made
# every collection walk them all.
@cython.no_gc
@cython.freelist(256)
cdef class ThreadInfo:
    """One thread, with what libsinsp keeps about its process."""

    def __cinit__(self, bint fds_later=False):
        # fds_later: the caller sets `fds` at once (a clone shares or copies
        # its parent's), so no empty table is made to be thrown away.
        self.ptid = -1
        self.sid = -1
        self.vpgid = -1
        self.vtid = -1
        self.vpid = -1
        self.comm = b""
        self.exe = b""
        self.exepath = b""
        self.cwd = b""
        self.root = b"/"
        # Shared empty lists: these lists are only ever replaced, never
        # changed in place (clone already shares the parent's).
        self.args = _NO_ITEMS
        self.env = _NO_ITEMS
        self.cgroups = _NO_ITEMS
        self.container_id = b""
        self.uid = 0
        self.gid = 0
        self.loginuid = 0       # libsinsp's default for threads it creates
        self.fdlimit = -1
        if not fds_later:
            self.fds = IntTable()
        self.lastevent_fd = 0       # libsinsp's initial value: fd 0 until an
        self.lastevent_type = -1    # enter event says otherwise
        self.enter_buf = NULL
        self.enter_cap = 0
        self.enter_len = 0

    def __dealloc__(self):
        free(self.enter_buf)

    cdef bint is_main(self):
        return self.tid == self.pid

    @property
    def enter_rec(self):
        """The stored enter record (bytes), or None."""
        if self.enter_len == 0:
            return None
        return PyBytes_FromStringAndSize(<const char *>self.enter_buf,
                                         self.enter_len)

    @property
    def ismain(self):
        return self.tid == self.pid

    def __repr__(self):
        return f"<ThreadInfo {self.tid} pid={self.pid} ptid={self.ptid} {self.comm!r}>"


cdef inline Py_ssize_t _container_slot(const uint8_t *p, Py_ssize_t k) noexcept:
    """The first (even) of the pair of cache slots of a container record
    of `k` bytes at `p`: from its length and five words spread over it
    (two records of one length differ in the id, name or image somewhere;
    a miss costs only the dict path)."""
    cdef uint64_t h = <uint64_t>k * <uint64_t>0x9E3779B97F4A7C15
    cdef Py_ssize_t i
    if k >= 8:
        for i in range(5):
            h = _mix_word(h, p + (k - 8) * i // 4)
    return <Py_ssize_t>(h >> 56) & (CONTAINER_SLOTS - 2)


cdef tuple _cached_container(const uint8_t *p, Py_ssize_t k, Py_ssize_t slot):
    """The entry of a container record with these bytes in slot `slot` or
    the one after, or None."""
    cdef object pair
    cdef bytes raw
    cdef Py_ssize_t i
    for i in range(slot, slot + 2):
        pair = _container_slots[i]
        if pair is None:
            return None
        raw = <bytes>(<tuple>pair)[0]
        if len(raw) == k and memcmp(<const char *>raw, p, k) == 0:
            return <tuple>(<tuple>pair)[1]
    return None


cdef void _cache_container(Py_ssize_t slot, bytes raw, tuple entry):
    """Keep (raw, entry) in the pair of slots at `slot`: the first free,
    else in place of the first, whose old pair moves to the second."""
    cdef tuple pair = (raw, entry)
    if _container_slots[slot] is not None:
        if _container_slots[slot + 1] is None:
            _container_slots[slot + 1] = pair
            return
        _container_slots[slot + 1] = _container_slots[slot]
    _container_slots[slot] = pair


# One object per short container id: the keys of StateEngine.containers
# stored here and the short ids the container fields look up with are the
# same objects, so a lookup ends at the identity test (bytes keys that are
# only equal cost a full compare each).  Bounded like the records' cache.
cdef dict _SHORT_ID_OBJECTS = {}


cdef bytes short_id_object(bytes cid):
    """The shared object for container id `cid` cut to its 12 characters."""
    cdef bytes short = cid if len(cid) <= 12 else cid[:12]
    cdef object known = _SHORT_ID_OBJECTS.get(short)
    if known is not None:
        return <bytes>known
    if len(_SHORT_ID_OBJECTS) >= CONTAINER_DOCS_MAX * 16:
        _SHORT_ID_OBJECTS.clear()
    _SHORT_ID_OBJECTS[short] = short
    return short


cdef tuple _container_entry(bytes raw):
    """(id[:12], info, pseudo thread name) of a container event's JSON, or
    None when it is not one."""
    try:
        doc = json.loads(raw.decode("utf-8", "replace"))
        info = doc["container"]
        cid = _enc(info["id"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(info, dict):
        return None
    short = short_id_object(cid)
    return (short, info, b"container:" + short)


# A container event's pseudo thread, made once per container and tid:
# nothing changes one (it is never in the thread table), so events of the
# same container from the same tid share it.  {comm: ThreadInfo}
cdef dict _container_threads = {}


cdef ThreadInfo _container_thread(int64_t tid, bytes cid, bytes comm):
    cdef ThreadInfo t = _container_threads.get(comm)
    if t is not None and t.tid == tid:
        return t
    t = _fake_thread(tid)
    t.comm = t.exe = comm
    t.container_id = cid
    if len(_container_threads) >= CONTAINER_DOCS_MAX:
        _container_threads.clear()
    _container_threads[comm] = t
    return t


cdef ThreadInfo _fake_thread(int64_t tid):
    """What libsinsp invents for a tid it has never seen (no /proc offline)."""
    cdef ThreadInfo t = ThreadInfo.__new__(ThreadInfo)
    t.tid = tid
    t.pid = tid
    t.ptid = -1
    t.comm = b"<NA>"
    t.exe = b"<NA>"
    t.uid = 0xFFFFFFFF
    t.gid = 0xFFFFFFFF
    t.loginuid = 0xFFFFFFFF
    return t


cdef int _store_enter(ThreadInfo t, const uint8_t *rec, fe_evt *e) noexcept:
    """Keep the enter record `rec` of this thread's current syscall.  Out
    of memory, the record is dropped (-1): the exit then reads as one whose
    enter was lost, which every parser already handles."""
    cdef uint32_t cap
    cdef uint8_t *buf
    if e.len > t.enter_cap or (t.enter_cap > 4096 and e.len <= 512):
        # Grow to fit; give back a big buffer (a long execve) once the
        # thread is on to ordinary calls again.
        cap = 256 if e.len <= 256 else e.len
        buf = <uint8_t *>realloc(t.enter_buf, cap)
        if buf == NULL:
            t.enter_len = 0
            return -1
        t.enter_buf = buf
        t.enter_cap = cap
    memcpy(t.enter_buf, rec, e.len)
    t.enter_len = e.len
    t.enter_type = e.type
    t.enter_hdr = e.hdr_len
    t.enter_lsz = e.len_size
    t.enter_nparams = e.nparams
    return 0


cdef inline bint _generic_wanted(const uint8_t *base, fe_evt *e,
                                 const uint8_t *wanted_sc) noexcept:
    """Whether a rule is indexed under the syscall of generic event `e`
    (its first parameter)."""
    cdef uint32_t n = 0
    cdef uint16_t sc
    cdef const uint8_t *p = evt_param(base, e, 0, &n)
    if p == NULL or n < 2:
        return False
    memcpy(&sc, p, 2)
    return sc < FE_SYSCALL_MAX and wanted_sc[sc] != 0


cdef inline int64_t _first_fd(const uint8_t *base, fe_evt *e) noexcept:
    """The fd in the first parameter of record `e` (-1 when it has none).
    (evt_param for parameter 0: its length is the first of the array, its
    value right after the array.)"""
    cdef const uint8_t *lens
    cdef uint32_t n
    cdef uint16_t n16
    cdef uint64_t v8
    cdef uint32_t v4
    if e.nparams == 0:
        return -1
    lens = base + e.off + e.hdr_len
    if e.len_size == 4:
        memcpy(&n, lens, 4)
    else:
        memcpy(&n16, lens, 2)
        n = n16
    if n == 8:
        memcpy(&v8, lens + <uint64_t>e.nparams * e.len_size, 8)
        return <int64_t>v8
    if n == 4:
        memcpy(&v4, lens + <uint64_t>e.nparams * e.len_size, 4)
        return <int32_t>v4
    return -1


cdef inline ThreadInfo _hot_find(StateEngine st, int64_t tid):
    """StateEngine._find with its cache hit inlined into the caller."""
    cdef Py_ssize_t slot = <Py_ssize_t>(<uint64_t>tid & (HOT_SLOTS - 1))
    cdef int64_t tag = st.hot_tag[slot]
    if tag != 0:
        if tag == tid + 1:
            return <ThreadInfo>st.hot_obj[slot]
        if tag == -(tid + 1):
            return None
    return st._find(tid)


cdef inline void _note_call(PyObject *tp, const uint8_t *base, fe_evt *e,
                            uint8_t call) noexcept:
    """The per-thread record of a call that changes no other state, as the
    CALL_* bits of its type say (_call_bits): an enter's fd and record,
    kept for the exit; an exit without its enter forgets the stale record.
    `tp` is a ThreadInfo the caller keeps alive, borrowed: fields read and
    set through the cast cost no reference count (this runs for most
    syscall events)."""
    if call & CALL_ENTER:
        (<ThreadInfo>tp).lastevent_type = e.type
        (<ThreadInfo>tp).lastevent_fd = _first_fd(base, e) if call & CALL_FD else -1
        if call & CALL_KEEP:
            _store_enter(<ThreadInfo>tp, base + e.off, e)
        else:
            (<ThreadInfo>tp).enter_len = 0
    elif (<ThreadInfo>tp).lastevent_type + 1 != e.type:
        (<ThreadInfo>tp).enter_len = 0


cdef inline uint8_t _call_bits(uint16_t et, bint keep_enter) noexcept:
    """The CALL_* bits of an event type: whether it is an enter, names an
    fd first, and has its record kept (when it has parameters its exit
    lacks and `keep_enter`: something reads them at the exit)."""
    cdef uint8_t call = 0
    if et % 2 == 0:
        call = CALL_ENTER
        if fe_event_table[et].flags & EF_USES_FD:
            call |= CALL_FD
        if STORE[et] and keep_enter:
            call |= CALL_KEEP
    return call


cdef inline int _dispatch(StateEngine st, EventCtx ctx, ThreadInfo t, uint8_t act,
                          uint16_t et, bint quiet) except -1:
    """The parser of `act` for this event (inline: once per state-changing
    exit, from the walk and from process()); `quiet`: no rule judges it
    (run_quiet's parse), so what it removes need not wait for the
    next event."""
    cdef bint enter = et % 2 == 0
    if act == A_PROCEXIT:
        if enter and t is not None:
            t.closed = True
            st.pending_tid = t.tid
            st.has_pending = True
        return 0
    if enter:
        return 0
    if act == A_CLONE:
        return st._parse_clone(ctx, t)
    if t is None:
        return 0
    # One switch (an elif chain on the enum compiles to one).
    if act == A_OPEN:
        return st._parse_open(ctx, t, et)
    elif act == A_OPEN_BY_HANDLE:
        return st._parse_open_by_handle(ctx, t)
    elif act == A_SOCKET:
        return st._parse_socket(ctx, t)
    elif act == A_BIND:
        return st._parse_bind(ctx, t)
    elif act == A_CONNECT:
        return st._parse_connect(ctx, t)
    elif act == A_ACCEPT:
        return st._parse_accept(ctx, t)
    elif act == A_CLOSE:
        return st._parse_close(ctx, t, quiet)
    elif act == A_PIPE:
        return st._parse_pipe(ctx, t)
    elif act == A_SOCKETPAIR:
        return st._parse_socketpair(ctx, t)
    elif act == A_SIMPLEFD or act == A_MEMFD or act == A_BPF:
        return st._parse_simplefd(ctx, t, act, et)
    elif act == A_DUP:
        return st._parse_dup(ctx, t)
    elif act == A_FCNTL:
        return st._parse_fcntl(ctx, t)
    elif act == A_CHDIR or act == A_FCHDIR:
        return st._parse_chdir(ctx, t, act)
    elif act == A_EXECVE:
        return st._parse_execve(ctx, t)
    elif act == A_SETUID or act == A_SETGID or act == A_SETRESUID \
            or act == A_SETRESGID:
        return st._parse_setid(ctx, t, act)
    elif act == A_SETSID:
        return st._parse_setsid(ctx, t)
    elif act == A_CHROOT:
        return st._parse_chroot(ctx, t)
    elif act == A_CAPSET:
        return st._parse_capset(ctx, t)
    elif act == A_SENDTO or act == A_RECVFROM:
        return st._parse_udp(ctx, t, act)
    elif act == A_MEMORY:
        if st.track_memory:
            return st._memory(ctx, t, False)
    return 0


cdef IntTable _copy_fds(IntTable src):
    """A new process's table: a copy of each of the caller's descriptors."""
    cdef IntTable dst = IntTable.__new__(IntTable)
    cdef uint32_t i
    cdef PyObject *v
    if src.count == 0:
        return dst
    dst._resize(src.count)
    for i in range(src.mask + 1):
        v = src.slots[i].value
        if v != NULL and v != <PyObject *>None:
            dst.put(src.slots[i].key, (<FdInfo>v).copy())
    return dst


cdef inline int _rename(StateEngine st, EventCtx ctx, FdInfo fi, bytes name) except -1:
    """Set an fd's name; a different one marks the event for
    fd.name_changed (libsinsp's: an open, an accept, a connect or a
    datagram that gave the fd a new name)."""
    if name != fd_name(fi):
        st.name_changed_ctx = <void *>ctx
        st.name_changed_gen = ctx.gen
    fi._name = name
    return 0


cdef struct PairMark:
    # An fd's tuple before a parser sets a new one (_pair_before).
    int type
    bint had_name
    uint8_t ends[36]        # sip, dip, sport, dport


cdef inline void _pair_ends(FdInfo fi, uint8_t *ends) noexcept:
    memcpy(ends, fi.sip, 16)
    memcpy(ends + 16, fi.dip, 16)
    memcpy(ends + 32, &fi.sport, 2)
    memcpy(ends + 34, &fi.dport, 2)


cdef inline void _pair_before(FdInfo fi, PairMark *m) noexcept:
    m.type = fi.type
    m.had_name = fi.name_stale or PyBytes_GET_SIZE(fi._name) > 0
    _pair_ends(fi, m.ends)


cdef inline int _name_pair(StateEngine st, EventCtx ctx, FdInfo fi, PairMark *m,
                           const uint8_t *p, uint32_t n) except -1:
    """Name a socket after its tuple `p` (just set by _set_tuple).  An inet
    socket's text waits until something reads it (fd_name); the same tuple
    as before keeps the name, and marks no change."""
    cdef uint8_t now[36]
    if fi.type != FD_IPV4_SOCK and fi.type != FD_IPV6_SOCK:
        return _rename(st, ctx, fi, tuple_text(p, n))
    _pair_ends(fi, now)
    if m.had_name and m.type == fi.type and memcmp(now, m.ends, 36) == 0:
        return 0
    st.name_changed_ctx = <void *>ctx
    st.name_changed_gen = ctx.gen
    fi._name = b""
    fi.name_stale = True
    return 0


cdef inline bint is_fake(ThreadInfo t) noexcept:
    return t.uid == <uint32_t>0xFFFFFFFF and t.comm == b"<NA>"


def _enc(s):
    if s is None:
        return b""
    if isinstance(s, bytes):
        return s
    return str(s).encode("utf-8", "surrogateescape")


# --- the engine ------------------------------------------------------------------


cdef class StateEngine(StateHook):
    """Threads, fds, users, groups and containers, updated event by event.

    `process(ctx)` is called by the rule engine for every event, in stream
    order, before the rules are evaluated; it sets `ctx.thread` and
    `ctx.fd`.  `seed(tables)` loads a capture's tables first.
    """

    def __init__(self, Py_ssize_t max_threads=262144, Py_ssize_t max_fds=4096,
                 double purge_interval_s=1200, double thread_timeout_s=1800):
        self.threads = IntTable()
        self._clear_hot()
        self.users = {}
        self.groups = {}
        self.containers = {}
        self.local_v4 = set()
        self.local_v6 = set()
        self.max_threads = max_threads
        self.max_fds = max_fds
        self.purge_interval_ns = <uint64_t>(purge_interval_s * 1e9)
        self.thread_timeout_ns = <uint64_t>(thread_timeout_s * 1e9)
        self.purge_left = -1
        self.pending_tid = None
        self.pending_fds = []
        self.has_pending = False
        self.live = False
        self.proc_root = "/proc"
        self.container_resolver = None
        self.host_names = None
        self.track_counters(True, True)

    def track_counters(self, bint cpu=True, bint memory=True):
        """Whether to keep thread.cpu* (`cpu`: procinfo events) and the
        memory fields, proc.vm*, thread.vm* and page faults (`memory`:
        context switches, brk, mmap, munmap).  Both are on by default; a
        detector turns off the ones no loaded rule reads (a reload turns
        them back on, counting from the next sample).  Threads, fds, users
        and containers are always kept."""
        cdef int t
        self.track_cpu = cpu
        self.track_memory = memory
        self.quiet_serial = 0
        for t in range(FE_EVENT_MAX):
            self.kind_of[t] = KIND[t]
            if not cpu and ACTION[t] == A_PROCINFO:
                self.kind_of[t] = KIND_SCHED
            elif not memory and ACTION[t] == A_SWITCH:
                self.kind_of[t] = KIND_SCHED
            elif not memory and ACTION[t] == A_MEMORY and KIND[t] == KIND_PARSE:
                # The exit's only parser is the memory one: what is left
                # is the call record, as for any call that changes nothing.
                self.kind_of[t] = KIND_QUICK

    # -- seeding -----------------------------------------------------------

    def seed(self, tables):
        """Load a CaptureTables (duck-typed): threads with fds, users, groups,
        and the machine's boot time."""
        cdef ThreadInfo t, mt
        cdef FdInfo fi
        machine = getattr(tables, "machine", None)
        if machine is not None and getattr(machine, "boot_ts_epoch", 0):
            self.boot_ts_epoch = machine.boot_ts_epoch
        for ti in getattr(tables, "threads", {}).values():
            t = ThreadInfo.__new__(ThreadInfo)
            t.tid = ti.tid
            t.pid = ti.pid
            t.ptid = ti.ptid
            t.comm = _enc(ti.comm)
            t.exe = _enc(ti.exe)
            t.exepath = _enc(ti.exepath)
            t.args = [_enc(a) for a in ti.args]
            t.env = [_enc(a) for a in getattr(ti, "env", [])]
            t.cwd = dir_with_slash(_enc(ti.cwd))
            t.root = _enc(getattr(ti, "root", "")) or b"/"
            t.fdlimit = ti.fdlimit
            t.flags = ti.flags
            t.uid = ti.uid & 0xFFFFFFFF
            t.gid = ti.gid & 0xFFFFFFFF
            t.vmsize_kb = ti.vmsize_kb
            t.vmrss_kb = ti.vmrss_kb
            t.vmswap_kb = ti.vmswap_kb
            t.pfmajor = ti.pfmajor
            t.pfminor = ti.pfminor
            t.vtid = ti.vtid
            t.vpid = ti.vpid
            t.cgroups = _CGROUPS.of(b"\0".join(_enc(c) for c in getattr(ti, "cgroups", [])))
            t.sid = getattr(ti, "sid", -1)
            t.vpgid = getattr(ti, "vpgid", -1)
            t.loginuid = getattr(ti, "loginuid", 0xFFFFFFFF) & 0xFFFFFFFF
            t.tty = getattr(ti, "tty", 0)
            t.exe_writable = getattr(ti, "exe_writable", False)
            t.exe_upper_layer = getattr(ti, "exe_upper_layer", False)
            t.exe_from_memfd = getattr(ti, "exe_from_memfd", False)
            t.exe_ino = getattr(ti, "exe_ino", 0)
            t.exe_ino_ctime = getattr(ti, "exe_ino_ctime", 0)
            t.exe_ino_mtime = getattr(ti, "exe_ino_mtime", 0)
            t.cap_inheritable = getattr(ti, "cap_inheritable", 0)
            t.cap_permitted = getattr(ti, "cap_permitted", 0)
            t.cap_effective = getattr(ti, "cap_effective", 0)
            t.pidns_init_start_ts = getattr(ti, "pidns_init_start_ts", 0)
            t.container_id = container_from_cgroups(t.cgroups)[0]
            for fdi in getattr(ti, "fds", {}).values():
                fi = _fdinfo_from_table(fdi)
                if fi is not None:
                    t.fds.put(fi.fd, fi)
            self.threads.put(t.tid, t)
        self._clear_hot()
        # Threads share their process's fd table (the main thread's).
        for t in self.threads.values():
            if t.tid != t.pid:
                mt = thread_of(self, t.pid)
                if mt is not None:
                    for k, v in t.fds.sorted_items():
                        if table_find(mt.fds, k) == NULL:
                            mt.fds.put(k, v)
                    t.fds = mt.fds
        self._recount_threads()
        for u in getattr(tables, "users", []):
            self.users[u.uid & 0xFFFFFFFF] = (_enc(u.name), _enc(u.homedir),
                                              _enc(u.shell))
        for g in getattr(tables, "groups", []):
            self.groups[g.gid & 0xFFFFFFFF] = _enc(g.name)
        for itf in getattr(tables, "interfaces", []):
            addr = bytes(itf.addr)
            if len(addr) == 4:
                self.local_v4.add(addr)
            elif len(addr) == 16:
                self.local_v6.add(addr)

    def seed_host(self, proc_root="/proc"):
        """Live capture: users, groups and interfaces of this host, every
        thread in /proc, and from now on /proc lookups for unknown tids
        (libsinsp's behaviour; offline, unknown tids get placeholders)."""
        cdef ThreadInfo t
        self.live = True
        self.proc_root = proc_root
        self.load_host_users()
        self._load_host_addresses()
        try:
            pids = [int(x) for x in os.listdir(proc_root) if x.isdigit()]
        except OSError:
            return
        for pid in pids:
            try:
                tids = [int(x) for x in os.listdir(f"{proc_root}/{pid}/task")
                        if x.isdigit()]
            except OSError:
                continue
            for tid in tids:
                t = thread_from_proc(proc_root, pid, tid)
                if t is not None:
                    self._add_thread(t)
        # Threads share their process's fd table.
        for t in self.threads.values():
            mt = thread_of(self, t.pid)
            if t.tid != t.pid and mt is not None:
                t.fds = mt.fds
        self._recount_threads()

    def _recount_threads(self):
        """Each main thread's count of its process's other threads."""
        cdef ThreadInfo t, mt
        for t in self.threads.values():
            if t.tid == t.pid:
                t.nthreads = 0
        for t in self.threads.values():
            if t.tid != t.pid:
                mt = thread_of(self, t.pid)
                if mt is not None:
                    mt.nthreads += 1

    def _load_host_addresses(self):
        try:
            import socket
            import fcntl
            import struct
            for _, name in socket.if_nameindex():
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    req = struct.pack("256s", name.encode()[:15])
                    res = fcntl.ioctl(s.fileno(), 0x8915, req)   # SIOCGIFADDR
                    self.local_v4.add(res[20:24])
                except OSError:
                    pass
                finally:
                    s.close()
        except (OSError, ImportError):
            pass
        try:
            with open("/proc/net/if_inet6") as f:
                for line in f:
                    self.local_v6.add(bytes.fromhex(line.split()[0]))
        except (OSError, ValueError):
            pass

    def load_host_users(self, passwd="/etc/passwd", group="/etc/group"):
        """Users and groups of this host, for live capture."""
        try:
            with open(passwd, "rb") as f:
                for line in f:
                    parts = line.rstrip(b"\n").split(b":")
                    if len(parts) >= 7 and parts[2].isdigit():
                        self.users[int(parts[2])] = (parts[0], parts[5], parts[6])
        except OSError:
            pass
        try:
            with open(group, "rb") as f:
                for line in f:
                    parts = line.rstrip(b"\n").split(b":")
                    if len(parts) >= 3 and parts[2].isdigit():
                        self.groups[int(parts[2])] = parts[0]
        except OSError:
            pass

    # -- lookups -----------------------------------------------------------

    def __dealloc__(self):
        self._clear_hot()

    cdef void _clear_hot(self) noexcept:
        cdef int i
        if not self.hot_filled:
            return
        for i in range(HOT_SLOTS):
            Py_XDECREF(self.hot_obj[i])
            self.hot_obj[i] = NULL
            self.hot_tag[i] = 0
        self.hot_filled = False

    cdef ThreadInfo _find(self, int64_t tid):
        # A slot remembers absent tids too (holding None): events of threads
        # the engine never creates (procinfo of untracked threads) are most
        # of some captures.  Adding a tid forgets its slot (_add_thread).
        cdef Py_ssize_t slot = <Py_ssize_t>(<uint64_t>tid & (HOT_SLOTS - 1))
        cdef int64_t tag = self.hot_tag[slot]
        cdef PyObject *old
        cdef object found
        if tag != 0:
            if tag == tid + 1:
                return <ThreadInfo>self.hot_obj[slot]
            if tag == -(tid + 1):
                return None
        found = thread_of(self, tid)
        if 0 <= tid < HOT_TID_LIMIT:
            self.hot_filled = True
            old = self.hot_obj[slot]
            if found is None:
                self.hot_obj[slot] = NULL
                self.hot_tag[slot] = <int32_t>(-(tid + 1))
            else:
                Py_XINCREF(<PyObject *>found)
                self.hot_obj[slot] = <PyObject *>found
                self.hot_tag[slot] = <int32_t>(tid + 1)
            Py_XDECREF(old)
        return <ThreadInfo>found

    cdef void _forget(self, int64_t tid) noexcept:
        cdef Py_ssize_t slot = <Py_ssize_t>(<uint64_t>tid & (HOT_SLOTS - 1))
        cdef int64_t tag = self.hot_tag[slot]
        cdef PyObject *old
        if tag != 0 and (tag == tid + 1 or tag == -(tid + 1)):
            old = self.hot_obj[slot]
            self.hot_obj[slot] = NULL
            self.hot_tag[slot] = 0
            Py_XDECREF(old)

    cdef ThreadInfo get_thread(self, int64_t tid, bint create):
        cdef ThreadInfo t = self._find(tid)
        if t is None and create:
            t = _fake_thread(tid)
            self._add_thread(t)
        return t

    cdef int _add_thread(self, ThreadInfo t) except -1:
        """Insert, evicting the oldest entry when the table is full."""
        cdef int64_t victim
        cdef ThreadInfo gone
        cdef bint new = table_find(self.threads, t.tid) == NULL
        self._forget(t.tid)
        if new and self.threads.count >= self.max_threads and \
                self.threads.next_key(&self.evict_cursor, &victim):
            # Full: one thread goes, taken round the table in turn.
            gone = thread_of(self, victim)
            self._forget(victim)
            self.threads.discard(victim)
            self._count_thread(gone, -1)
            self.n_thread_evictions += 1
        self.threads.put(t.tid, t)
        self.n_threads_created += 1
        if new:
            self._count_thread(t, 1)
        if self.live and t.container_id:
            self._note_container(t)
        return 0

    cdef int _count_thread(self, ThreadInfo t, int delta) except -1:
        """Keep the main thread's count of the other threads of its process
        (a main thread that exits stays while they live, as in libsinsp)."""
        cdef ThreadInfo mt
        if t.tid == t.pid:
            return 0
        mt = _hot_find(self, t.pid)
        if mt is not None:
            mt.nthreads += delta
        return 0

    cdef int _note_container(self, ThreadInfo t) except -1:
        """Live: the first sight of a container id leaves a placeholder
        (its runtime type only: the rest reads <NA>) and queues a metadata
        lookup off the hot path; the resolver replaces the placeholder."""
        cdef bytes key = short_id_object(t.container_id)
        if key in self.containers:
            return 0
        full, runtime = container_from_cgroups(t.cgroups)
        if not full:
            full = t.container_id
        info = {"id": full[:12].decode(), "full_id": full.decode(),
                "lookup": "pending"}
        if runtime in CONTAINER_TYPES:
            info["type"] = CONTAINER_TYPES.index(runtime)
        self.containers[key] = info
        if self.container_resolver is not None:
            self.container_resolver.request(full, runtime)
        return 0

    cdef ThreadInfo main_thread(self, ThreadInfo t):
        if t.tid == t.pid:
            return t
        return thread_of(self, t.pid)

    cdef ThreadInfo parent_thread(self, ThreadInfo t):
        if t.ptid < 0:
            return None
        return thread_of(self, t.ptid)

    cdef FdInfo add_fd(self, ThreadInfo t, int64_t fd, FdInfo fi):
        """Add (or replace) fd `fd`; a full table drops the new fd, as libsinsp."""
        cdef IntTable fds = t.fds
        fi.fd = fd
        if fds.count >= self.max_fds and table_find(fds, fd) == NULL:
            self.n_fd_drops += 1
            return None
        fds.put(fd, fi)
        self.n_fds_added += 1
        return fi

    # -- the per-event entry point ---------------------------------------

    cdef int _flush(self) except -1:
        cdef ThreadInfo t, mt
        cdef tuple item
        self.has_pending = False
        if self.pending_fd_table is not None:
            if self.pending_fd_table.discard(self.pending_fd_num):
                self.n_fds_removed += 1
            self.pending_fd_table = None
        if self.pending_fds:
            for item in self.pending_fds:
                if (<IntTable>item[0]).discard(<int64_t>item[1]):
                    self.n_fds_removed += 1
            self.pending_fds = []
        if self.pending_tid is not None:
            t = thread_of(self, <int64_t>self.pending_tid)
            self.pending_tid = None
            if t is not None and t.closed:
                self._remove_exited(t)
        return 0

    cdef bint _remove_exited(self, ThreadInfo t) except -1:
        """Remove thread `t`, which exited; whether it went.  A main thread
        that exited before the others stays: the process (its name, parent,
        cwd, fds) is theirs until the last one exits."""
        if t.tid == t.pid and t.nthreads > 0:
            return False
        self._drop_thread(t)
        return True

    cdef int _drop_thread(self, ThreadInfo t) except -1:
        """Remove `t` (in the table); a main thread that exited first and
        waited for it goes too when it was the last."""
        cdef ThreadInfo mt
        self._forget(t.tid)
        self.threads.discard(t.tid)
        self.n_threads_removed += 1
        if t.tid != t.pid:
            mt = thread_of(self, t.pid)
            if mt is not None:
                mt.nthreads -= 1
                if mt.closed and mt.nthreads <= 0:
                    self._drop_thread(mt)       # (a main thread: no further)
        return 0

    cdef int _purge_step(self, uint64_t now) except -1:
        """A slice of the purge sweep (see purge_interval_ns), or starting
        one when it is due.  A slice visits at most PURGE_VISITS threads and
        looks in /proc for at most PURGE_CHECKS of them, so a big table is
        swept over many runs of events, never in one stall."""
        cdef int visits = PURGE_VISITS, checks = PURGE_CHECKS
        cdef int64_t tid
        cdef ThreadInfo t
        if self.purge_interval_ns == 0:
            self.purge_at = <uint64_t>-1
            return 0
        if self.purge_left < 0:
            # The first event: the purge clock starts.
            self.purge_left = 0
            self.purge_at = now + self.purge_interval_ns
            return 0
        if self.purge_left == 0:
            self.purge_left = self.threads.count
            self.purge_at = 0
        while self.purge_left > 0 and visits > 0 and checks > 0:
            if not self.threads.next_key(&self.purge_cursor, &tid):
                self.purge_left = 0
                break
            self.purge_left -= 1
            visits -= 1
            t = thread_of(self, tid)
            if t.closed and self._remove_exited(t):
                # Exited; its removal was never applied.
                self.n_threads_purged += 1
            elif self.live and t.lastaccess_ts + self.thread_timeout_ns <= now:
                # Idle long enough that no event of it is still on its way.
                checks -= 1
                if not os.path.exists(f"{self.proc_root}/{t.pid}/task/{t.tid}"):
                    self._drop_thread(t)
                    self.n_threads_purged += 1
        if self.purge_left == 0:
            self.purge_at = now + self.purge_interval_ns
        return 0

    cdef int process(self, EventCtx ctx) except -1:
        cdef fe_evt *e = ctx.evt
        cdef uint16_t et = e.type
        cdef uint32_t ef = fe_event_table[et].flags
        cdef int64_t tid = <int64_t>e.tid
        cdef uint8_t act = ACTION[et]
        cdef ThreadInfo t
        self.n_events += 1
        if self.has_pending:
            self._flush()
        if e.ts >= self.purge_at:
            self._purge_step(e.ts)
        ctx_set_fd(ctx, None)
        if self.kind_of[et] == KIND_QUICK or self.kind_of[et] == KIND_PARSE:
            t = _hot_find(self, tid)
            if t is not None:
                return self._known_call(ctx, t, e, et, self.kind_of[et])
        if act == A_CONTAINER_JSON or act == A_CONTAINER_OLD:
            # Like libsinsp, a container event is seen from a pseudo thread
            # of that container ("container:<id>"), so rules such as "a
            # privileged container started" can match the event itself.
            ctx.thread = self._parse_container(ctx, act)
            return 0
        if act == A_USERADDED or act == A_GROUPADDED:
            self._parse_user(ctx, act)
            ctx.thread = self._find(tid)
            return 0
        if ef & EF_SKIPPARSERESET or act == A_SWITCH:
            # Scheduler and internal events never create threads.
            t = _hot_find(self, tid)
            if t is not None:
                t.lastaccess_ts = e.ts
            if act == A_SWITCH and t is not None and self.track_memory:
                # The thread switched out reports its page faults and memory.
                self._memory(ctx, t, True)
            elif act == A_PROCINFO and t is not None and self.track_cpu:
                _procinfo(ctx, t)
            ctx.thread = t
            return 0
        t = _hot_find(self, tid)
        if t is None and not (act == A_CLONE and et % 2 == 1):
            if self.live:
                t = thread_from_proc(self.proc_root, -1, tid)
            if t is None:
                t = _fake_thread(tid)
            self._add_thread(t)
        if t is not None:
            t.lastaccess_ts = e.ts
            _note_call(<PyObject *>t, ctx.batch.base, e, _call_bits(et, True))
            if et % 2 == 1 and t.lastevent_type + 1 == et and \
                    ef & EF_USES_FD and act != A_NONE:
                # Its parser sees the fd as it was before the call.
                ctx_set_fd(ctx, fd_of(t, t.lastevent_fd))
        if act != A_NONE:
            _dispatch(self, ctx, t, act, et, False)
        if t is None:
            t = self._find(tid)
        # The enter record of this call stays until the thread's next enter
        # (which replaces it): extractors read enter-only parameters from it
        # while this exit is judged, after checking enter_type + 1 == type.
        ctx.thread = t
        # libsinsp's fd fields fall back to the thread's last fd.  Looked
        # up when a field asks (ctx_fd): nothing changes the table before.
        if ctx._fd is None and t is not None and \
                ef & (EF_CREATES_FD | EF_USES_FD | EF_DESTROYS_FD) and \
                t.lastevent_fd != -1:
            ctx.fd_table = t.fds
            ctx.fd_num = t.lastevent_fd
        return 0

    cdef void _build_quiet(self, const uint8_t *wanted, uint64_t serial) noexcept:
        """quiet_of for the wanted tables of `serial`."""
        cdef int t
        cdef uint8_t q
        for t in range(FE_EVENT_MAX):
            q = self.kind_of[t]
            if q == KIND_QUICK:
                q |= _call_bits(t, PARSER_STORE[t] or
                                (t + 1 < FE_EVENT_MAX and wanted[t + 1]))
            elif q == KIND_PARSE and fe_event_table[t].flags & EF_USES_FD:
                q |= CALL_FD
            if wanted[t]:
                q |= QUIET_WANTED
            self.quiet_of[t] = q
        for t in range(0, FE_EVENT_MAX - 1, 2):
            # (A generic exit is judged by its syscall: the walk tests it.)
            if self.quiet_of[t] & CALL_ENTER and (
                    self.quiet_of[t + 1] == KIND_QUICK or
                    (t == 0 and self.quiet_of[1] & ~QUIET_WANTED == KIND_QUICK)):
                self.quiet_of[t] |= CALL_PAIR
        self.quiet_serial = serial

    cdef Py_ssize_t run_quiet(self, EventCtx ctx, EventBatch b, Py_ssize_t i,
                              Py_ssize_t n, const uint8_t *wanted,
                              const uint8_t *wanted_sc,
                              uint64_t wanted_serial, bint *taken) except -1:
        """process() for a run of events no rule looks at: the common cases
        (a known thread's call that changes no state; scheduler and procinfo
        events) without preparing ctx for rules, the rest through process().
        The wanted event that ends the run is taken too when it is a known
        thread's call (_take_wanted): `taken` says so."""
        cdef fe_evt *evts = b.evts
        cdef fe_evt *e
        # The walk's cursor is in the packed types: a run of scheduler
        # events is passed reading two bytes of each, not its record.
        cdef const uint16_t *types = b.types
        cdef const uint16_t *ty = types + i
        cdef const uint16_t *tend = types + n
        cdef uint16_t et
        cdef uint8_t kind, q
        cdef ThreadInfo t
        cdef const uint8_t *base = b.base
        cdef const uint8_t *quiet_of = self.quiet_of
        cdef Py_ssize_t start = i, via_process = 0
        cdef Py_ssize_t slot
        cdef int64_t tag, key
        cdef PyObject *hot
        cdef uint64_t run, word
        # The record of the type at `ty`: evts + (ty - types), as one
        # multiply-add on addresses (wrapping unsigned arithmetic) where the
        # pointer difference cost a shift, a multiply by 56 and two loads
        # of spilled registers, for every event the walk looks at.
        cdef uintptr_t ty_to_evt = <uintptr_t>evts - <uintptr_t>types * EVT_PER_TYPE_BYTES
        taken[0] = False
        if ctx.batch is not b:
            ctx.batch = b
        if i < n and evts[i].ts >= self.purge_at:
            self._purge_step(evts[i].ts)
        if self.quiet_serial != wanted_serial:
            self._build_quiet(wanted, wanted_serial)
        # A removal left pending by the event before (what process() does
        # first).  Those that events of this walk leave are applied right
        # after them: no rule judges them, and only events that change
        # nothing pass before the next that looks.
        if self.has_pending:
            self._flush()
        while ty < tend:
            et = ty[0]
            q = quiet_of[et]
            if q == KIND_SCHED:
                # Scheduler and internal events that update nothing, no
                # rule judges: most of a busy host's stream, passed in a
                # few instructions each (a pending removal can wait for an
                # event that looks).  They come in bursts (a tick's
                # procinfo of every thread): within one, four are looked at
                # per test.  Four of the type seen last (a tick's procinfo
                # events run hundreds long) are one 64-bit word of types,
                # tested without looking them up.
                run = <uint64_t>et * <uint64_t>0x0001000100010001
                ty += 1
                while ty + 4 <= tend:
                    memcpy(&word, ty, 8)
                    if word != run:
                        if ((quiet_of[ty[0]] ^ KIND_SCHED) |
                                (quiet_of[ty[1]] ^ KIND_SCHED) |
                                (quiet_of[ty[2]] ^ KIND_SCHED) |
                                (quiet_of[ty[3]] ^ KIND_SCHED)) != 0:
                            break
                        run = <uint64_t>ty[3] * <uint64_t>0x0001000100010001
                    ty += 4
                continue
            e = <fe_evt *>(ty_to_evt + <uintptr_t>ty * EVT_PER_TYPE_BYTES)
            if q & QUIET_WANTED:
                if et > 1 or _generic_wanted(base, e, wanted_sc):
                    # A rule looks at it.  A known thread's call is taken
                    # here, where the walk has it: no return to the runner
                    # and call back into process() for it.
                    if self._take_wanted(ctx, b, ty - types, e, et, q & QUIET_KIND):
                        taken[0] = True
                        ty += 1
                    break
                q &= ~QUIET_WANTED
                if q == KIND_SCHED:
                    ty += 1
                    continue
            kind = q & QUIET_KIND
            if kind != KIND_OTHER and e.tid < HOT_TID_LIMIT:
                # The thread, borrowed from its cache slot (which holds a
                # reference) where nothing can drop it meanwhile; NULL for
                # a tid the table does not hold.
                slot = <Py_ssize_t>(e.tid & (HOT_SLOTS - 1))
                key = <int64_t>e.tid + 1
                tag = self.hot_tag[slot]
                if tag == key:
                    hot = self.hot_obj[slot]
                    (<ThreadInfo>hot).lastaccess_ts = e.ts
                else:
                    if tag != -key:
                        self._find(<int64_t>e.tid)      # fills the slot
                        tag = self.hot_tag[slot]
                    hot = self.hot_obj[slot] if tag == key else NULL
                    if hot != NULL:
                        (<ThreadInfo>hot).lastaccess_ts = e.ts
                if hot == NULL:
                    if kind == KIND_SWITCH or kind == KIND_PROCINFO:
                        # Of a thread known not to be tracked (most
                        # procinfo events): nothing to update.
                        ty += 1
                        continue
                    if ACTION[et] == A_CLONE and kind == KIND_PARSE:
                        # A child's clone exit before its parent's: the
                        # parser makes the child (what process() would do).
                        ctx.idx = ty - types
                        ctx.evt = e
                        ctx.gen += 1
                        ctx_set_fd(ctx, None)
                        self._parse_clone(ctx, None)
                        ty += 1
                        continue
                    # An untracked thread's call: process() creates it.
                elif kind == KIND_QUICK:
                    # An enter's record is copied for the exit's parser or
                    # for rules judging the exit (none look at this event,
                    # but one may look at its exit): CALL_KEEP.  A generic
                    # enter carries its syscall as the exit does: kept only
                    # when a rule looks at that syscall's exits.
                    if et == 0 and q & CALL_KEEP and \
                            not _generic_wanted(base, e, wanted_sc):
                        q &= ~CALL_KEEP
                    _note_call(hot, base, e, q)
                    ty += 1
                    # Most enters are followed by their exit: the same
                    # thread, no lookup.  An exit that changes nothing
                    # (CALL_PAIR) matches the enter just noted, so only
                    # its time is; a generic one, when no rule looks at
                    # its syscall.
                    if q & CALL_PAIR and ty < tend and ty[0] == et + 1 and \
                            e[1].tid == e.tid and \
                            (et != 0 or not quiet_of[1] & QUIET_WANTED or
                             not _generic_wanted(base, e + 1, wanted_sc)):
                        (<ThreadInfo>hot).lastaccess_ts = e[1].ts
                        ty += 1
                    continue
                elif kind == KIND_PARSE:
                    # process() for a known thread, minus what only rules
                    # read (ctx.thread, the lazy fd).  A parser can replace
                    # the thread in the table (a reused tid): a reference.
                    t = <ThreadInfo>hot
                    ctx.idx = ty - types
                    ctx.evt = e
                    ctx.gen += 1
                    if t.lastevent_type + 1 != et:
                        t.enter_len = 0
                        ctx_set_fd(ctx, None)
                    elif q & CALL_FD:
                        ctx_set_fd(ctx, fd_of(t, t.lastevent_fd))
                    else:
                        ctx_set_fd(ctx, None)
                    _dispatch(self, ctx, t, ACTION[et], et, True)
                    if self.has_pending:
                        self._flush()
                    ty += 1
                    continue
                elif kind == KIND_EXIT:
                    # A known thread's exit no rule judges: what process()
                    # and the flush before the next event do, at once (no
                    # rule is left to see the thread).
                    _note_call(hot, base, e, _call_bits(et, True))
                    t = <ThreadInfo>hot
                    t.closed = True
                    self._remove_exited(t)
                    ty += 1
                    continue
                else:
                    # A known thread's context switch or CPU sample.
                    ctx.idx = ty - types
                    ctx.evt = e
                    if kind == KIND_SWITCH:
                        self._memory(ctx, <ThreadInfo>hot, True)
                    else:
                        _procinfo(ctx, <ThreadInfo>hot)
                    ty += 1
                    continue
            ctx.idx = ty - types
            ctx.evt = e
            ctx.gen += 1
            ty += 1
            via_process += 1
            self.process(ctx)
            if self.has_pending:
                self._flush()
        i = ty - types
        # process() counts the events it takes itself.
        self.n_events += (i - start) - via_process
        return i

    cdef bint _take_wanted(self, EventCtx ctx, EventBatch b, Py_ssize_t idx,
                           fe_evt *e, uint16_t et, uint8_t kind) except -1:
        """What ctx_set_event and process() do for event `e`, some rule's,
        when it is a known thread's call (QUICK or PARSE; False, untouched,
        otherwise): state updated, ctx pointing at it with its thread and
        fd, ready for rules."""
        cdef ThreadInfo t
        if kind != KIND_QUICK and kind != KIND_PARSE:
            return False
        if e.ts >= self.purge_at:
            return False        # process() purges first
        if self.has_pending:
            self._flush()
        t = _hot_find(self, <int64_t>e.tid)
        if t is None:
            return False        # process() makes the thread
        ctx_set_event(ctx, b, idx)
        self._known_call(ctx, t, e, et, kind)
        return True

    cdef int _known_call(self, EventCtx ctx, ThreadInfo t, fe_evt *e, uint16_t et,
                         uint8_t kind) except -1:
        """process() for a call (`kind` QUICK or PARSE) of a thread the
        table holds, ctx pointing at the event with no fd yet: the call's
        record, its parser, and ctx's thread and fd for rules."""
        cdef uint32_t ef = fe_event_table[et].flags
        t.lastaccess_ts = e.ts
        _note_call(<PyObject *>t, ctx.batch.base, e, _call_bits(et, True))
        if kind == KIND_PARSE:
            if t.lastevent_type + 1 == et and ef & EF_USES_FD:
                # Its parser sees the fd as it was before the call.
                ctx_set_fd(ctx, fd_of(t, t.lastevent_fd))
            _dispatch(self, ctx, t, ACTION[et], et, False)
        ctx.thread = t
        # libsinsp's fd fields fall back to the thread's last fd: looked
        # up when a field asks (ctx_fd).
        if ctx._fd is None and ef & (EF_CREATES_FD | EF_USES_FD | EF_DESTROYS_FD) \
                and t.lastevent_fd != -1:
            ctx.fd_table = t.fds
            ctx.fd_num = t.lastevent_fd
        return 0

    # -- parsers (exit events) ------------------------------------------------

    cdef bint _enter_ok(self, ThreadInfo t, uint16_t et) noexcept:
        return t.enter_len != 0 and t.enter_type + 1 == et

    cdef int _parse_open(self, EventCtx ctx, ThreadInfo t, uint16_t et) except -1:
        cdef int64_t fd, dirfd = PPM_AT_FDCWD, v
        cdef uint64_t flags = 0, u
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef bytes name, sdir, full = None
        cdef bint have_enter = self._enter_ok(t, et)
        cdef bint is_at
        cdef FdInfo fi, dfi
        cdef ParamTable ptab
        cdef Py_ssize_t k
        cdef tuple known
        pt_fill(&ptab, ctx)
        if not pt_int(&ptab, ctx, K_FD, &fd):
            return 0
        p = pt_get(&ptab, ctx, K_NAME, &n)
        if p == NULL:
            if not have_enter:
                return 0
            p = rec_param(t, K_NAME, &n)
        if p == NULL:
            name = b""
        else:
            k = _cstr_len(p, n)
            if k > 0 and p[0] == c'/':
                known = absolute_path(p, k)
                name = <bytes>known[0]
                full = <bytes>known[1]
            else:
                name = PyBytes_FromStringAndSize(<const char *>p, k)
        if pt_uint(&ptab, ctx, K_FLAGS, &u):
            flags = u
        elif have_enter:
            p = rec_param(t, K_FLAGS, &n)
            if p != NULL and n in (4, 8):
                flags = <uint64_t>read_int(p, n, False)
        is_at = ptab.idx[<int>K_DIRFD] >= 0 or \
            (have_enter and PIDX[t.enter_type * K_COUNT + K_DIRFD] >= 0)
        if pt_int(&ptab, ctx, K_DIRFD, &v):
            dirfd = v
        elif have_enter and rec_int(t, K_DIRFD, &v):
            dirfd = v
        if fd < 0:
            return 0
        if full is None:
            # A relative name: from the cwd, or the directory of dirfd.
            if not is_at or dirfd == PPM_AT_FDCWD:
                sdir = t.cwd
            else:
                dfi = fd_of(t, dirfd)
                sdir = b"<UNKNOWN>" if dfi is None else dir_with_slash(fd_name(dfi))
            full = concat_paths(sdir, name)
        fi = FdInfo.__new__(FdInfo)
        fi.type = FD_DIRECTORY if flags & PPM_O_DIRECTORY else FD_FILE
        fi.openflags = <uint32_t>flags
        fi.nameraw = name
        _rename(self, ctx, fi, full)
        if pt_uint(&ptab, ctx, K_DEV, &u):
            fi.dev = <uint32_t>u
        if pt_uint(&ptab, ctx, K_INO, &u):
            fi.ino = u
        ctx_set_fd(ctx, self.add_fd(t, fd, fi))
        t.lastevent_fd = fd
        return 0

    cdef int _parse_open_by_handle(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t fd
        cdef uint64_t u
        cdef FdInfo fi
        if not ev_int(ctx, K_FD, &fd) or fd < 0:
            return 0
        fi = FdInfo.__new__(FdInfo)
        fi.type = FD_FILE
        _rename(self, ctx, fi, ev_str(ctx, K_PATH) or b"")
        fi.nameraw = fi._name
        if ev_uint(ctx, K_FLAGS, &u):
            fi.openflags = <uint32_t>u
        ctx_set_fd(ctx, self.add_fd(t, fd, fi))
        t.lastevent_fd = fd
        return 0

    cdef int _parse_socket(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t fd, domain, stype, proto
        cdef FdInfo fi
        if not ev_int(ctx, K_FD, &fd) or fd < 0:
            return 0
        if not self._enter_ok(t, ctx.evt.type):
            return 0
        if not (rec_int(t, K_DOMAIN, &domain) and rec_int(t, K_TYPE, &stype)
                and rec_int(t, K_PROTO, &proto)):
            return 0
        fi = FdInfo.__new__(FdInfo)
        fi.l4proto = L4_UNKNOWN
        if domain == PPM_AF_UNIX:
            fi.type = FD_UNIX_SOCK
        elif domain == PPM_AF_INET or domain == PPM_AF_INET6:
            fi.type = FD_IPV4_SOCK if domain == PPM_AF_INET else FD_IPV6_SOCK
            if proto == 6:
                fi.l4proto = L4_TCP
            elif proto == 17:
                fi.l4proto = L4_UDP
            elif proto == 0:
                if (stype & 0xff) == 1:
                    fi.l4proto = L4_TCP
                elif (stype & 0xff) == 2:
                    fi.l4proto = L4_UDP
            elif proto == 1 or proto == 58:
                fi.l4proto = L4_ICMP
            elif (stype & 0xff) == 3:
                fi.l4proto = L4_RAW
        elif domain == PPM_AF_NETLINK:
            fi.type = FD_NETLINK
        else:
            fi.type = FD_UNKNOWN
        ctx_set_fd(ctx, self.add_fd(t, fd, fi))
        t.lastevent_fd = fd
        return 0

    cdef int _parse_bind(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef FdInfo fi = <FdInfo>ctx_fd(ctx)
        cdef int64_t res
        cdef uint32_t n = 0
        cdef const uint8_t *p
        if fi is None or not ev_int(ctx, K_RES, &res) or res < 0:
            return 0
        p = evp(ctx, K_ADDR, &n)
        if p == NULL or n == 0:
            return 0
        if p[0] == PPM_AF_INET and n >= 7:
            if rd16(p + 5) > 0:
                fi.type = FD_IPV4_SERVSOCK
                memcpy(fi.dip, p + 1, 4)
                fi.dport = rd16(p + 5)
        elif p[0] == PPM_AF_INET6 and n >= 19:
            if rd16(p + 17) > 0:
                fi.type = FD_IPV6_SERVSOCK
                memcpy(fi.dip, p + 1, 16)
                fi.dport = rd16(p + 17)
        _rename(self, ctx, fi, sockaddr_text(p, n))
        return 0

    cdef int _set_tuple(self, FdInfo fi, const uint8_t *p, uint32_t n) except -1:
        """Fill addresses from a PT_SOCKTUPLE; returns 1 if understood."""
        if p[0] == PPM_AF_INET and n >= 13:
            fi.type = FD_IPV4_SOCK
            memcpy(fi.sip, p + 1, 4)
            fi.sport = rd16(p + 5)
            memcpy(fi.dip, p + 7, 4)
            fi.dport = rd16(p + 11)
            return 1
        if p[0] == PPM_AF_INET6 and n >= 37:
            if is_v4_mapped(p + 1) and is_v4_mapped(p + 19):
                fi.type = FD_IPV4_SOCK
                memset(fi.sip, 0, 16)
                memset(fi.dip, 0, 16)
                memcpy(fi.sip, p + 13, 4)
                memcpy(fi.dip, p + 31, 4)
            else:
                fi.type = FD_IPV6_SOCK
                memcpy(fi.sip, p + 1, 16)
                memcpy(fi.dip, p + 19, 16)
            fi.sport = rd16(p + 17)
            fi.dport = rd16(p + 35)
            return 1
        if p[0] == PPM_AF_UNIX and n >= 17:
            fi.type = FD_UNIX_SOCK
            memcpy(&fi.usrc, p + 1, 8)
            memcpy(&fi.udst, p + 9, 8)
            return 1
        return 0

    cdef int _parse_connect(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef FdInfo fi = <FdInfo>ctx_fd(ctx)
        cdef PairMark mark
        cdef int64_t res
        cdef uint32_t n = 0
        cdef const uint8_t *p
        if fi is None or not ev_int(ctx, K_RES, &res):
            return 0
        if res < 0 and res != -EINPROGRESS:
            return 0
        p = evp(ctx, K_TUPLE, &n)
        if p == NULL or n == 0:
            return 0
        _pair_before(fi, &mark)
        if self._set_tuple(fi, p, n):
            _name_pair(self, ctx, fi, &mark, p, n)
        fi.role = ROLE_CLIENT
        fi.connected = True
        return 0

    cdef int _parse_udp(self, EventCtx ctx, ThreadInfo t, uint8_t act) except -1:
        """Datagram sockets learn their peer from sendto/recvfrom: the
        enter's tuple for sends, the exit's for receives.  Most of these
        calls are on a connected stream socket, which keeps its tuple:
        tested first, from the fd alone, in a frame without the tuple's
        buffers (_udp_peer has them)."""
        cdef FdInfo fi = <FdInfo>ctx_fd(ctx)
        cdef int64_t res
        if fi is None:
            return 0
        if not (fi.type == FD_IPV4_SOCK or fi.type == FD_IPV6_SOCK or
                fi.type == FD_IPV4_SERVSOCK or fi.type == FD_IPV6_SERVSOCK):
            return 0
        if fi.l4proto != L4_UDP and fi.role != ROLE_NONE:
            return 0
        if not ev_int(ctx, K_RES, &res) or res < 0:
            return 0
        return self._udp_peer(ctx, t, fi, act)

    cdef int _udp_peer(self, EventCtx ctx, ThreadInfo t, FdInfo fi,
                       uint8_t act) except -1:
        """_parse_udp's datagram: the socket's tuple from this one."""
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef uint8_t buf[37]
        cdef PairMark mark
        if act == A_SENDTO:
            if not self._enter_ok(t, ctx.evt.type):
                return 0
            p = rec_param(t, K_TUPLE, &n)
        else:
            p = evp(ctx, K_TUPLE, &n)
        if p == NULL or n == 0 or n > 37:
            return 0
        memcpy(buf, p, n)
        if self._is_reverse(fi, buf, n):
            # A reply on the same flow: keep the tuple as the first packet set it.
            return 0
        if buf[0] == PPM_AF_INET6 and n == 37 and is_zero16(buf + 1):
            # Unbound source: the kernel picks the route's; for the loopback
            # destinations this happens on, that is the destination.
            memcpy(buf + 1, buf + 19, 16)
        # (Each datagram of a flow names the same peer: no change then.)
        _pair_before(fi, &mark)
        if not self._set_tuple(fi, buf, n):
            return 0
        _name_pair(self, ctx, fi, &mark, buf, n)
        fi.connected = True
        if fi.role == ROLE_NONE:
            fi.role = ROLE_CLIENT if act == A_SENDTO else ROLE_SERVER
        return 0

    cdef int _memory(self, EventCtx ctx, ThreadInfo t, bint faults) except -1:
        """vm_size/vm_rss/vm_swap (and page faults) reported by the event.
        One walk over the parameter lengths finds all five (a context switch
        carries them, and there is one per scheduling of a traced thread)."""
        cdef const uint8_t *ptr[MEM_PARAMS_MAX]
        cdef uint32_t plen[MEM_PARAMS_MAX]
        cdef int8_t *idx = PIDX + ctx.evt.type * K_COUNT
        cdef uint32_t count = walk_params(ctx.batch.base, ctx.evt, ptr, plen,
                                          MEM_PARAMS_MAX)
        cdef ThreadInfo mem = t
        if faults and t.tid != t.pid:
            # A context switch reports the process's memory: libsinsp keeps
            # it on the main thread (the page faults stay the thread's own).
            mem = self.main_thread(t)
            if mem is None:
                mem = t
        _mem_value(idx[<int>K_VM_SIZE], count, ptr, plen, &mem.vmsize_kb)
        _mem_value(idx[<int>K_VM_RSS], count, ptr, plen, &mem.vmrss_kb)
        _mem_value(idx[<int>K_VM_SWAP], count, ptr, plen, &mem.vmswap_kb)
        if faults:
            _mem_value(idx[<int>K_PGFT_MAJ], count, ptr, plen, &t.pfmajor)
            _mem_value(idx[<int>K_PGFT_MIN], count, ptr, plen, &t.pfminor)
        return 0

    cdef bint _is_reverse(self, FdInfo fi, const uint8_t *p, uint32_t n) noexcept:
        """Whether tuple `p` is the fd's current tuple seen from the peer."""
        if p[0] == PPM_AF_INET and n >= 13 and fi.type == FD_IPV4_SOCK:
            return (memcmp(p + 1, fi.dip, 4) == 0 and rd16(p + 5) == fi.dport and
                    memcmp(p + 7, fi.sip, 4) == 0 and rd16(p + 11) == fi.sport)
        if p[0] == PPM_AF_INET6 and n >= 37 and fi.type == FD_IPV6_SOCK:
            return (memcmp(p + 1, fi.dip, 16) == 0 and rd16(p + 17) == fi.dport and
                    memcmp(p + 19, fi.sip, 16) == 0 and rd16(p + 35) == fi.sport)
        return False

    cdef int _parse_accept(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t fd
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef FdInfo fi
        cdef PairMark mark
        if not ev_int(ctx, K_FD, &fd) or fd < 0:
            return 0
        t.lastevent_fd = fd
        p = evp(ctx, K_TUPLE, &n)
        if p == NULL or n == 0:
            return 0
        fi = FdInfo.__new__(FdInfo)
        _pair_before(fi, &mark)
        if not self._set_tuple(fi, p, n):
            return 0
        if fi.type == FD_IPV4_SOCK or fi.type == FD_IPV6_SOCK:
            fi.l4proto = L4_TCP
        _name_pair(self, ctx, fi, &mark, p, n)
        fi.role = ROLE_SERVER
        fi.connected = True
        ctx_set_fd(ctx, self.add_fd(t, fd, fi))
        return 0

    cdef int _parse_close(self, EventCtx ctx, ThreadInfo t, bint quiet) except -1:
        cdef int64_t res
        if ctx_fd(ctx) is None or not ev_int(ctx, K_RES, &res) or res < 0:
            return 0
        if quiet:
            # No rule judges this exit (the walk's parse): nothing is
            # left to see the fd, so it goes now.
            if t.fds.discard(t.lastevent_fd):
                self.n_fds_removed += 1
            return 0
        # Removed when the next event arrives: this exit still sees it.
        if self.pending_fd_table is None:
            self.pending_fd_table = t.fds
            self.pending_fd_num = t.lastevent_fd
        else:
            self.pending_fds.append((t.fds, t.lastevent_fd))
        self.has_pending = True
        return 0

    cdef int _parse_pipe(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res, fd1, fd2
        cdef uint64_t ino = 0, flags = 0
        cdef FdInfo a, b
        if not ev_int(ctx, K_RES, &res) or res < 0:
            return 0
        if not (ev_int(ctx, K_FD1, &fd1) and ev_int(ctx, K_FD2, &fd2)):
            return 0
        ev_uint(ctx, K_INO, &ino)
        a = FdInfo.__new__(FdInfo)
        a.type = FD_FIFO
        a.ino = ino
        if ev_uint(ctx, K_FLAGS, &flags):          # pipe2: O_CLOEXEC, ...
            a.openflags = <uint32_t>flags
        b = a.copy()
        ctx_set_fd(ctx, self.add_fd(t, fd1, a))
        self.add_fd(t, fd2, b)
        return 0

    cdef int _parse_socketpair(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res, fd1, fd2
        cdef uint64_t src = 0, peer = 0
        cdef FdInfo a, b
        if not ev_int(ctx, K_RES, &res) or res < 0:
            return 0
        if not (ev_int(ctx, K_FD1, &fd1) and ev_int(ctx, K_FD2, &fd2)):
            return 0
        ev_uint(ctx, K_SOURCE, &src)
        ev_uint(ctx, K_PEER, &peer)
        a = FdInfo.__new__(FdInfo)
        a.type = FD_UNIX_SOCK
        a.usrc = src
        a.udst = peer
        b = a.copy()
        ctx_set_fd(ctx, self.add_fd(t, fd1, a))
        self.add_fd(t, fd2, b)
        return 0

    cdef int _parse_simplefd(self, EventCtx ctx, ThreadInfo t, uint8_t act,
                             uint16_t et) except -1:
        cdef int64_t fd
        cdef uint64_t flags = 0
        cdef FdInfo fi
        cdef uint32_t n = 0
        cdef const uint8_t *p
        if act == A_BPF:
            # Newer layouts name the result fd; the old one is a DYN param
            # (a 1-byte variant tag, then the value) that is an fd when >= 0.
            if not ev_int(ctx, K_FD, &fd):
                p = evp(ctx, K_RES_OR_FD, &n)
                if p == NULL or n != 9:
                    return 0
                fd = read_int(p + 1, 8, True)
        elif not ev_int(ctx, K_RES, &fd) and not ev_int(ctx, K_FD, &fd):
            return 0
        if fd < 0:
            return 0
        fi = FdInfo.__new__(FdInfo)
        if ev_uint(ctx, K_FLAGS, &flags):
            # eventfd2/signalfd4/inotify_init1: O_* flags; memfd: MFD_*.
            fi.openflags = <uint32_t>flags
        if act == A_MEMFD:
            fi.type = FD_MEMFD
            _rename(self, ctx, fi, b"memfd:" + (ev_str(ctx, K_NAME) or b""))
        elif act == A_BPF:
            fi.type = FD_BPF
        else:
            fi.type = SIMPLE_TYPE[et]
        ctx_set_fd(ctx, self.add_fd(t, fd, fi))
        t.lastevent_fd = fd
        return 0

    cdef int _dup_to(self, EventCtx ctx, ThreadInfo t, int64_t newfd,
                     bint cloexec) except -1:
        cdef FdInfo old = <FdInfo>ctx_fd(ctx)
        cdef FdInfo fi
        if old is None or newfd < 0 or newfd == t.lastevent_fd:
            return 0
        # The copy is close-on-exec only when asked (dup3's O_CLOEXEC,
        # F_DUPFD_CLOEXEC): the kernel never copies the flag.
        fi = old.copy()
        if fi.type == FD_MEMFD:
            fi.openflags &= ~(<uint32_t>PPM_MFD_CLOEXEC)
        else:
            fi.openflags &= ~(<uint32_t>PPM_O_CLOEXEC)
        if cloexec and fi.type != FD_MEMFD:
            fi.openflags |= PPM_O_CLOEXEC
        elif cloexec:
            fi.openflags |= PPM_MFD_CLOEXEC
        ctx_set_fd(ctx, self.add_fd(t, newfd, fi))
        return 0

    cdef int _parse_dup(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res
        cdef uint64_t flags = 0
        if not ev_int(ctx, K_RES, &res):
            return 0
        ev_uint(ctx, K_FLAGS, &flags)               # dup3
        return self._dup_to(ctx, t, res, (flags & PPM_O_CLOEXEC) != 0)

    cdef int _parse_fcntl(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res, cmd
        if not self._enter_ok(t, ctx.evt.type) or not rec_int(t, K_CMD, &cmd):
            return 0
        if cmd != F_DUPFD_CODES[0] and cmd != F_DUPFD_CODES[1]:
            return 0
        if not ev_int(ctx, K_RES, &res):
            return 0
        return self._dup_to(ctx, t, res, cmd == F_DUPFD_CODES[1])

    cdef int _parse_chdir(self, EventCtx ctx, ThreadInfo t, uint8_t act) except -1:
        cdef int64_t res
        cdef bytes path
        cdef FdInfo fi
        if not ev_int(ctx, K_RES, &res) or res < 0:
            return 0
        if act == A_CHDIR:
            path = ev_str(ctx, K_PATH)
            if path is None:
                return 0
            t.cwd = dir_with_slash(concat_paths(t.cwd, path))
        else:
            fi = <FdInfo>ctx_fd(ctx)
            if fi is not None:
                t.cwd = dir_with_slash(fd_name(fi))
        self._share_cwd(t)
        return 0

    cdef int _share_cwd(self, ThreadInfo t) except -1:
        cdef ThreadInfo mt = self.main_thread(t)
        if mt is not None and mt is not t:
            mt.cwd = t.cwd
        return 0

    cdef int _parse_execve(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res, v
        cdef uint64_t u
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef bytes s, fname
        cdef object cid
        cdef FdInfo fi
        cdef ParamTable ptab
        pt_fill(&ptab, ctx)
        if not pt_int(&ptab, ctx, K_RES, &res) or res < 0:
            return 0
        s = pt_str(&ptab, ctx, K_EXE)
        if s is None:
            return 0
        t.exe = s
        s = pt_str(&ptab, ctx, K_COMM)
        t.comm = s if s is not None else t.exe
        s = pt_raw(&ptab, ctx, K_ARGS)
        if s is not None:
            t.args = split_nul(s)
        if pt_int(&ptab, ctx, K_PID, &v):
            t.pid = v
        if pt_int(&ptab, ctx, K_PTID, &v):
            t.ptid = v
        # (execve does not change the working directory: the cwd parameter
        # is not used, as libsinsp does not.)
        if pt_int(&ptab, ctx, K_FDLIMIT, &v):
            t.fdlimit = v
        if pt_uint(&ptab, ctx, K_PGFT_MAJ, &u):
            t.pfmajor = u
        if pt_uint(&ptab, ctx, K_PGFT_MIN, &u):
            t.pfminor = u
        if pt_uint(&ptab, ctx, K_VM_SIZE, &u):
            t.vmsize_kb = u
        if pt_uint(&ptab, ctx, K_VM_RSS, &u):
            t.vmrss_kb = u
        if pt_uint(&ptab, ctx, K_VM_SWAP, &u):
            t.vmswap_kb = u
        s = pt_raw(&ptab, ctx, K_ENV)
        if s is not None:
            t.env = split_nul(s)
        p = pt_get(&ptab, ctx, K_CGROUPS, &n)
        if p != NULL:
            t.cgroups = _CGROUPS.at(p, n)
            cid = _CGROUPS.last_derived
            t.container_id = cid
            if self.live and cid:
                self._note_container(t)
        if pt_uint(&ptab, ctx, K_TTY, &u):
            t.tty = <uint32_t>u
        if pt_int(&ptab, ctx, K_PGID, &v):
            t.vpgid = v
        if pt_uint(&ptab, ctx, K_LOGINUID, &u):
            t.loginuid = <uint32_t>u
        if pt_uint(&ptab, ctx, K_UID, &u):
            t.uid = <uint32_t>u
        if pt_uint(&ptab, ctx, K_CAP_INH, &u):
            t.cap_inheritable = u
        if pt_uint(&ptab, ctx, K_CAP_PRM, &u):
            t.cap_permitted = u
        if pt_uint(&ptab, ctx, K_CAP_EFF, &u):
            t.cap_effective = u
        if pt_uint(&ptab, ctx, K_EXE_INO, &u):
            t.exe_ino = u
        if pt_uint(&ptab, ctx, K_EXE_INO_CTIME, &u):
            t.exe_ino_ctime = u
            # libsinsp's exe_ino_ctime_duration_clone_ts and _pidns_start:
            # kept from the last execve that had them, never reset.
            if t.clone_ts != 0:
                t.exe_ctime_to_clone = t.clone_ts - u
            if t.pidns_init_start_ts != 0 and u > t.pidns_init_start_ts:
                t.exe_ctime_after_pidns = u - t.pidns_init_start_ts
        if pt_uint(&ptab, ctx, K_EXE_INO_MTIME, &u):
            t.exe_ino_mtime = u
        if pt_uint(&ptab, ctx, K_FLAGS, &u):
            t.exe_writable = (u & 1) != 0      # PPM_EXE_WRITABLE
            t.exe_upper_layer = (u & 2) != 0   # PPM_EXE_UPPER_LAYER
            t.exe_from_memfd = (u & 4) != 0    # PPM_EXE_FROM_MEMFD
            t.exe_lower_layer = (u & 8) != 0   # PPM_EXE_LOWER_LAYER
        # The executable path: the driver's trusted path, else the enter's
        # filename resolved against the working directory.
        s = pt_str(&ptab, ctx, K_TRUSTED_EXEPATH)
        if s:
            t.exepath = s
        elif self._enter_ok(t, ctx.evt.type):
            p = rec_param(t, K_FILENAME, &n)
            if p == NULL:
                p = rec_param(t, K_PATHNAME, &n)
            if p != NULL:
                fname = cstr(p, n)
                if fname.startswith(b"<NA>"):
                    t.exepath = b"<NA>"
                else:
                    t.exepath = concat_paths(t.cwd, fname)
        # A new program: the flags of the old one no longer apply.
        t.flags &= PPM_CL_CLONE_INVERTED
        # ... and the kernel closed its close-on-exec descriptors (removed
        # at the next event, like a close, so this exit still sees them).
        for fi in t.fds.values() if t.fds.count else ():
            if _close_on_exec(fi):
                self.pending_fds.append((t.fds, fi.fd))
                self.has_pending = True
        return 0

    cdef int _parse_clone(self, EventCtx ctx, ThreadInfo t) except -1:
        """Create the child of a clone/fork/vfork/clone3, from whichever of
        the two exits (parent's: res = child tid; child's: res = 0) comes
        first, inheriting from the caller."""
        cdef int64_t res, tid = <int64_t>ctx.evt.tid, childtid, caller
        cdef int64_t vtid = -1, vpid = -1, v
        cdef uint64_t flags = 0, u
        cdef bint in_container, inverted = False, valid_parent = True
        cdef ThreadInfo pt, child, mt
        cdef bytes s
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef ParamTable ptab
        pt_fill(&ptab, ctx)
        if not pt_int(&ptab, ctx, K_RES, &res) or res < 0:
            return 0
        pt_uint(&ptab, ctx, K_FLAGS, &flags)
        if not pt_int(&ptab, ctx, K_VTID, &vtid):
            vtid = tid
        if not pt_int(&ptab, ctx, K_VPID, &vpid):
            vpid = -1
        in_container = vtid != tid
        if res == 0:
            if t is not None:
                # The parent's exit came first and made us; only fix the
                # namespace ids the parent could not know.
                if in_container:
                    t.vtid = vtid
                    t.vpid = vpid
                return 0
            inverted = True
            childtid = tid
            if flags & PPM_CL_CLONE_THREAD:
                if not pt_int(&ptab, ctx, K_PID, &caller):
                    return 0
            elif not pt_int(&ptab, ctx, K_PTID, &caller):
                return 0
        else:
            if in_container:
                # The parent sees the child's namespace tid: wait for the child.
                return 0
            childtid = res
            caller = tid
        pt = _hot_find(self, caller)
        if pt is None:
            pt = _fake_thread(caller)
            self._add_thread(pt)
        if is_fake(pt):
            valid_parent = False
        child = _hot_find(self, childtid)
        if child is not None:
            if child.flags & PPM_CL_CLONE_INVERTED:
                return 0
            self._forget(childtid)
            self.threads.discard(childtid)
            self._count_thread(child, -1)
        child = ThreadInfo.__new__(ThreadInfo, True)
        child.tid = childtid
        child.ptid = caller
        if valid_parent:
            child.comm = pt.comm
            child.exe = pt.exe
            child.exepath = pt.exepath
            child.args = pt.args
            child.root = pt.root
            child.sid = pt.sid
            child.vpgid = pt.vpgid
            child.tty = pt.tty
            child.loginuid = pt.loginuid
            child.env = pt.env
            child.cgroups = pt.cgroups
            child.container_id = pt.container_id
            child.exe_writable = pt.exe_writable
            child.exe_upper_layer = pt.exe_upper_layer
            child.exe_lower_layer = pt.exe_lower_layer
            child.exe_from_memfd = pt.exe_from_memfd
            child.exe_ino = pt.exe_ino
            child.exe_ino_ctime = pt.exe_ino_ctime
            child.exe_ino_mtime = pt.exe_ino_mtime
            child.exe_ctime_to_clone = pt.exe_ctime_to_clone
            child.cap_permitted = pt.cap_permitted
            child.cap_inheritable = pt.cap_inheritable
            child.cap_effective = pt.cap_effective
        if not pt_int(&ptab, ctx, K_PID, &v):
            return 0
        child.pid = v
        child.flags = <uint32_t>flags
        if not (flags & PPM_CL_CLONE_THREAD):
            child.pid = childtid
            # A new process gets a copy of the caller's descriptors.
            child.fds = _copy_fds(pt.fds)
        else:
            mt = _hot_find(self, child.pid)
            if mt is None:
                mt = pt
            child.fds = mt.fds
        if inverted:
            child.flags |= PPM_CL_CLONE_INVERTED
        p = pt_get(&ptab, ctx, K_EXE, &n)
        if p != NULL:
            child.exe = cstr_or(p, n, child.exe)
        p = pt_get(&ptab, ctx, K_COMM, &n)
        child.comm = cstr_or(p, n, child.comm) if p != NULL else child.exe
        p = pt_get(&ptab, ctx, K_ARGS, &n)
        if p != NULL:
            child.args = _ARGV.at(p, n)
        if not valid_parent:
            # Nothing known about the caller: it gets what the event says.
            pt.comm = child.comm
            pt.exe = child.exe
            pt.args = child.args
        s = pt_str(&ptab, ctx, K_CWD)
        if s:
            child.cwd = dir_with_slash(s)
        elif valid_parent:
            # No cwd in the event: the child starts where its parent is.
            mt = self.main_thread(pt)
            child.cwd = (mt if mt is not None else pt).cwd
        if pt_int(&ptab, ctx, K_FDLIMIT, &v):
            child.fdlimit = v
        if pt_uint(&ptab, ctx, K_PGFT_MAJ, &u):
            child.pfmajor = u
        if pt_uint(&ptab, ctx, K_PGFT_MIN, &u):
            child.pfminor = u
        if pt_uint(&ptab, ctx, K_VM_SIZE, &u):
            child.vmsize_kb = u
        if pt_uint(&ptab, ctx, K_VM_RSS, &u):
            child.vmrss_kb = u
        if pt_uint(&ptab, ctx, K_VM_SWAP, &u):
            child.vmswap_kb = u
        if pt_uint(&ptab, ctx, K_UID, &u):
            child.uid = <uint32_t>u
        if pt_uint(&ptab, ctx, K_GID, &u):
            child.gid = <uint32_t>u
        if in_container:
            child.vtid = vtid
            child.vpid = vpid
        else:
            child.vtid = child.tid
            child.vpid = child.pid
        p = pt_get(&ptab, ctx, K_CGROUPS, &n)
        if p != NULL:
            cgroups = _CGROUPS.at(p, n)
            if cgroups is not child.cgroups:
                # (The same list as the parent's: the same container id.)
                child.cgroups = cgroups
                child.container_id = _CGROUPS.last_derived
        # libsinsp's: when the child's pid namespace started.  The driver
        # gives its init's start since boot; the boot time makes it an
        # epoch time.  Outside a new namespace that is the host's, taken as
        # the boot time (also what the caller's side, first, assumes).
        if not inverted:
            child.pidns_init_start_ts = self.boot_ts_epoch
        elif pt_uint(&ptab, ctx, K_PIDNS_TS, &u):
            if in_container or flags & (PPM_CL_CHILD_IN_PIDNS | PPM_CL_CLONE_NEWPID):
                child.pidns_init_start_ts = u + self.boot_ts_epoch
            else:
                child.pidns_init_start_ts = self.boot_ts_epoch
        child.clone_ts = ctx.evt.ts
        self._add_thread(child)
        return 0

    cdef int _parse_setid(self, EventCtx ctx, ThreadInfo t, uint8_t act) except -1:
        cdef int64_t res, v
        cdef int key
        if not ev_int(ctx, K_RES, &res) or res != 0:
            return 0
        if not self._enter_ok(t, ctx.evt.type):
            return 0
        key = K_UID if act == A_SETUID else K_GID if act == A_SETGID \
            else K_EUID if act == A_SETRESUID else K_EGID
        if not rec_int(t, key, &v):
            return 0
        if <uint32_t>v == <uint32_t>0xFFFFFFFF:
            return 0
        if act == A_SETUID or act == A_SETRESUID:
            t.uid = <uint32_t>v
        else:
            t.gid = <uint32_t>v
        return 0

    cdef int _parse_setsid(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res
        if ev_int(ctx, K_RES, &res) and res >= 0:
            t.sid = res
        return 0

    cdef int _parse_chroot(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res
        cdef bytes path
        if not ev_int(ctx, K_RES, &res) or res != 0:
            return 0
        path = ev_str(ctx, K_PATH)
        if path:
            t.root = concat_paths(t.cwd, path)
        return 0

    cdef int _parse_capset(self, EventCtx ctx, ThreadInfo t) except -1:
        cdef int64_t res
        cdef uint64_t u
        if not ev_int(ctx, K_RES, &res) or res != 0:
            return 0
        if ev_uint(ctx, K_CAP_INH, &u):
            t.cap_inheritable = u
        if ev_uint(ctx, K_CAP_PRM, &u):
            t.cap_permitted = u
        if ev_uint(ctx, K_CAP_EFF, &u):
            t.cap_effective = u
        return 0

    # -- metadata events -----------------------------------------------------

    cdef object _parse_container(self, EventCtx ctx, uint8_t act):
        """Record a container's metadata; its pseudo thread, or None."""
        cdef bytes raw
        cdef uint64_t u = 0
        cdef uint32_t n = 0
        cdef const uint8_t *p
        cdef Py_ssize_t k, slot
        if act == A_CONTAINER_OLD:
            cid = ev_str(ctx, K_ID)
            if not cid:
                return None
            ev_uint(ctx, K_TYPE, &u)
            info = {"id": cid, "type": int(u), "name": ev_str(ctx, K_NAME),
                    "image": ev_str(ctx, K_IMAGE)}
        else:
            p = evp(ctx, K_JSON, &n)
            if p == NULL:
                return None
            k = _cstr_len(p, n)
            slot = _container_slot(p, k)
            known = _cached_container(p, k, slot)
            if known is None:
                raw = cstr(p, n)
                if not raw:
                    return None
                known = _container_docs.get(raw)
                if known is None:
                    known = _container_entry(raw)
                    if known is None:
                        return None
                    if len(_container_docs) >= CONTAINER_DOCS_MAX:
                        _container_docs.clear()
                    _container_docs[raw] = known
                _cache_container(slot, raw, known)
            cid, info, comm = <tuple>known
            self.containers[cid] = info
            return _container_thread(<int64_t>ctx.evt.tid, cid, comm)
        cid = short_id_object(cid)
        self.containers[cid] = info
        return _container_thread(<int64_t>ctx.evt.tid, cid, b"container:" + cid)

    cdef int _parse_user(self, EventCtx ctx, uint8_t act) except -1:
        cdef uint64_t uid = 0, gid = 0
        if act == A_USERADDED:
            if ev_uint(ctx, K_UID, &uid):
                cid = ev_str(ctx, K_CONTAINER_ID)
                if not cid:
                    self.users.setdefault(
                        uid, (ev_str(ctx, K_NAME) or b"", ev_str(ctx, K_HOME) or b"",
                              ev_str(ctx, K_SHELL) or b""))
        elif ev_uint(ctx, K_GID, &gid):
            cid = ev_str(ctx, K_CONTAINER_ID)
            if not cid:
                self.groups.setdefault(gid, ev_str(ctx, K_NAME) or b"")
        return 0

    # -- Python API (tests, tools) ---------------------------------------

    def flush_pending(self):
        """Apply the removals the last events left pending (they wait for
        the next event that reads state): the state once every event seen
        has taken effect."""
        if self.has_pending:
            self._flush()

    def process_batch_debug(self, EventBatch batch, callback=None):
        """Run every event of `batch` through the engine.  `callback(ctx)`,
        when given, is called after each event (state as rules would see it)."""
        cdef EventCtx ctx = EventCtx()
        cdef Py_ssize_t i
        ctx.state = self
        for i in range(batch.count):
            ctx_set_event(ctx, batch, i)
            self.process(ctx)
            if callback is not None:
                callback(ctx)

    def process_one(self, EventCtx ctx):
        """Python entry for one event already set in `ctx`."""
        self.process(ctx)

    def state_counters(self):
        """Falco's state counters (metrics.state_counters_enabled): table
        sizes now, and additions, removals and drops since the start.
        Safe from another thread: the tables are copied in one step first."""
        cdef ThreadInfo t
        cdef Py_ssize_t no_image = 0
        all_threads = list(self.threads.values())
        all_containers = list(self.containers.values())
        tables = {}
        for t in all_threads:
            tables[id(t.fds)] = len(t.fds)
        for c in all_containers:
            if isinstance(c, dict) and not c.get("image"):
                no_image += 1
        resolver = self.container_resolver
        return {
            "n_threads": len(all_threads),
            "n_fds": sum(tables.values()),
            "n_added_threads": self.n_threads_created,
            "n_removed_threads": self.n_threads_removed,
            "n_drops_full_threadtable": self.n_thread_evictions,
            "n_added_fds": self.n_fds_added,
            "n_removed_fds": self.n_fds_removed,
            "n_drops_full_fdtable": self.n_fd_drops,
            "n_containers": len(all_containers),
            "n_missing_container_images": no_image,
            "n_container_lookups_resolved": getattr(resolver, "n_resolved", 0),
            "n_container_lookups_failed": getattr(resolver, "n_failed", 0),
        }

    def thread(self, int64_t tid):
        """The ThreadInfo of `tid`, or None."""
        return thread_of(self, tid)

    def fds(self, int64_t pid):
        """{fd: FdInfo} of process `pid` (its main thread's table)."""
        cdef ThreadInfo t = thread_of(self, pid)
        return {} if t is None else dict(t.fds.sorted_items())

    def user_name(self, uint32_t uid):
        u = self.users.get(uid)
        return None if u is None else u[0].decode("utf-8", "replace")

    def group_name(self, uint32_t gid):
        g = self.groups.get(gid)
        return None if g is None else g.decode("utf-8", "replace")

    @property
    def counters(self):
        return {
            "threads": len(self.threads),
            "fds": sum(len(t.fds) for t in self.threads.values()
                       if (<ThreadInfo>t).tid == (<ThreadInfo>t).pid),
            "threads_created": self.n_threads_created,
            "threads_removed": self.n_threads_removed,
            "thread_evictions": self.n_thread_evictions,
            "threads_purged": self.n_threads_purged,
            "fds_added": self.n_fds_added,
            "fds_removed": self.n_fds_removed,
            "fd_drops": self.n_fd_drops,
            "events": self.n_events,
        }


def _read(path, mode="rb"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def _readlink(path):
    try:
        return os.fsencode(os.readlink(path))
    except OSError:
        return None


def thread_from_proc(str root, long pid, long tid):
    """A ThreadInfo read from /proc (live capture), or None if it is gone.
    File descriptors: files, directories, pipes and the kinds named by
    their anonymous inode; sockets get their type from the link only."""
    cdef ThreadInfo t = ThreadInfo.__new__(ThreadInfo)
    base = f"{root}/{tid}" if pid < 0 else f"{root}/{pid}/task/{tid}"
    status = _read(base + "/status")
    if status is None:
        return None
    fields = {}
    for line in status.split(b"\n"):
        k, _, v = line.partition(b":")
        fields[k] = v.split()
    try:
        t.tid = tid
        t.pid = int(fields[b"Tgid"][0])
        t.ptid = int(fields[b"PPid"][0])
        t.uid = int(fields[b"Uid"][1]) & 0xFFFFFFFF
        t.gid = int(fields[b"Gid"][1]) & 0xFFFFFFFF
        # Innermost pid namespace ids: last entries of NStgid / NSpid.
        ns = fields.get(b"NStgid") or [t.pid]
        t.vpid = int(ns[len(ns) - 1])
        ns = fields.get(b"NSpid") or [tid]
        t.vtid = int(ns[len(ns) - 1])
    except (KeyError, IndexError, ValueError):
        return None
    t.comm = (_read(base + "/comm") or b"").rstrip(b"\n")
    cmdline = split_nul(_read(base + "/cmdline") or b"")
    t.exe = cmdline[0] if cmdline else t.comm
    t.args = cmdline[1:]
    t.exepath = _readlink(base + "/exe") or b""
    t.cwd = dir_with_slash(_readlink(base + "/cwd") or b"")
    t.root = _readlink(base + "/root") or b"/"
    t.env = split_nul(_read(base + "/environ") or b"")
    cg = _read(base + "/cgroup") or b""
    t.cgroups = [b"=".join(line.split(b":", 2)[1:]) for line in cg.split(b"\n") if line]
    t.container_id = container_from_cgroups(t.cgroups)[0]
    lu = _read(base + "/loginuid")
    t.loginuid = int(lu) & 0xFFFFFFFF if lu and lu.strip().isdigit() else 0xFFFFFFFF
    stat = _read(base + "/stat")
    if stat:
        rest = stat.rsplit(b")", 1)[-1].split()
        if len(rest) > 5:
            t.vpgid = int(rest[2])
            t.sid = int(rest[3])
            t.tty = int(rest[4])
    if pid < 0 or tid == t.pid:
        fd_dir = base + "/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            names = []
        for name in names:
            if not name.isdigit():
                continue
            link = _readlink(f"{fd_dir}/{name}")
            if link is None:
                continue
            fi = FdInfo.__new__(FdInfo)
            fi.fd = int(name)
            if link.startswith(b"/"):
                fi.type = FD_DIRECTORY if os.path.isdir(link) else FD_FILE
                fi.name = link
            elif link.startswith(b"pipe:"):
                fi.type = FD_FIFO
            elif link.startswith(b"socket:"):
                fi.type = FD_UNKNOWN
            elif link.startswith(b"anon_inode:"):
                kind = link[11:].strip(b"[]")
                fi.type = {b"eventfd": FD_EVENT, b"signalfd": FD_SIGNALFD,
                           b"eventpoll": FD_EVENTPOLL, b"inotify": FD_INOTIFY,
                           b"timerfd": FD_TIMERFD, b"bpf-map": FD_BPF,
                           b"bpf-prog": FD_BPF, b"userfaultfd": FD_USERFAULTFD,
                           b"io_uring": FD_IOURING, b"pidfd": FD_PIDFD}.get(
                               kind, FD_UNKNOWN)
            else:
                fi.type = FD_UNKNOWN
                fi.name = link
            t.fds.put(fi.fd, fi)
    return t


cdef FdInfo _fdinfo_from_table(object fdi):
    """A capture's fd-table entry (falco.capture.tables.FdInfo) as FdInfo."""
    cdef FdInfo fi = FdInfo.__new__(FdInfo)
    cdef bytes sip, dip
    fi.fd = fdi.fd
    fi.type = fdi.type
    if fi.type == FD_FILE_V2:
        fi.type = FD_FILE
    fi.ino = fdi.ino
    fi.openflags = getattr(fdi, "open_flags", 0)
    fi.dev = getattr(fdi, "dev", 0)
    fi._name = _enc(fdi.name)
    if fi.type == FD_UNIX_SOCK:
        # /proc/net/unix lines keep their newline in some captures.
        fi._name = fi._name.rstrip(b"\n")
    fi.nameraw = fi._name
    sip = bytes(getattr(fdi, "sip", b"") or b"")
    dip = bytes(getattr(fdi, "dip", b"") or b"")
    fi.l4proto = getattr(fdi, "l4proto", 0)
    if fi.type == FD_IPV4_SOCK or fi.type == FD_IPV6_SOCK:
        # The /proc scan writes the local end first; libsinsp shows the
        # client first, taking the lower port for the server's.
        if fdi.sport < fdi.dport:
            sip, dip = dip, sip
            fi.sport = fdi.dport
            fi.dport = fdi.sport
            fi.role = ROLE_SERVER
        else:
            fi.sport = fdi.sport
            fi.dport = fdi.dport
            fi.role = ROLE_CLIENT
        fi.connected = True
        memcpy(fi.sip, <const char *>sip, min(len(sip), 16))
        memcpy(fi.dip, <const char *>dip, min(len(dip), 16))
        fi._name = sock_pair_name(fi)
    elif fi.type == FD_IPV4_SERVSOCK or fi.type == FD_IPV6_SERVSOCK:
        # Server sockets: one address and port (the reader puts them in sip/sport).
        memcpy(fi.dip, <const char *>sip, min(len(sip), 16))
        fi.dport = fdi.sport
        fi.role = ROLE_SERVER
        if fi.type == FD_IPV4_SERVSOCK:
            fi._name = f"{ip4_text(fi.dip)}:{fi.dport}".encode()
        else:
            fi._name = f"{ip6_text(fi.dip)}:{fi.dport}".encode()
    elif fi.type == FD_UNIX_SOCK:
        fi.usrc = getattr(fdi, "unix_source", 0)
        fi.udst = getattr(fdi, "unix_dest", 0)
    return fi


cdef bytes sock_pair_name(FdInfo fi):
    """An inet socket's tuple text from its addresses and ports, as
    tuple_text renders the tuple they were set from."""
    if fi.type == FD_IPV4_SOCK:
        return _ip4_pair_text(fi.sip, fi.sport, fi.dip, fi.dport)
    return (f"{ip6_text(fi.sip)}:{fi.sport}->{ip6_text(fi.dip)}:{fi.dport}").encode()

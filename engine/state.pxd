# The state engine: threads, their file descriptors, users, groups and
# containers, rebuilt from the event stream with libsinsp's semantics.
#
# Strings are bytes objects owned by these classes, so extractors can point
# a `Value.s` straight into them for the duration of an event.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t

from cpython.ref cimport PyObject

from falco_engine.decoder cimport EventBatch, fe_evt
from falco_engine.evalctx cimport EventCtx, StateHook
from falco_engine.inttable cimport IntTable, table_find

# Direct-mapped thread cache size (a power of two: slot = tid & (HOT_SLOTS-1)),
# and the tids it can hold (a tag is tid + 1 in 31 bits).
cdef enum:
    HOT_SLOTS = 16384
cdef enum:
    HOT_TID_LIMIT = 0x7FFFFFFE


cdef class FdInfo:
    cdef public int64_t fd          # descriptor number
    cdef public int type            # scap fd type (FD_FILE, FD_IPV4_SOCK, ...)
    # The resolved path, or a socket's tuple text: read it with fd_name().
    # An accepted or connected inet socket's text is rendered only when
    # something reads it (name_stale: _name is not set yet, sip/dip and
    # the ports hold the tuple); most are never read.
    cdef bytes _name
    cdef bint name_stale
    cdef public bytes nameraw       # path as the syscall passed it
    cdef public uint32_t openflags  # PPM_O_* flags of open-like calls
    cdef public uint64_t ino        # inode, when the driver recorded it
    cdef public uint32_t dev        # device, when the driver recorded it
    cdef uint8_t sip[16]            # source (client) address, network order
    cdef uint8_t dip[16]            # destination (server) address
    cdef public uint16_t sport      # source (client) port
    cdef public uint16_t dport      # destination (server) port; listen port
    cdef public uint8_t l4proto     # SCAP_L4_* (0 unknown, 1 n/a, 2 tcp, 3 udp, 4 icmp, 5 raw)
    cdef public int role            # 0 unknown, 1 client, 2 server
    cdef public uint64_t usrc       # unix socket: source endpoint pointer
    cdef public uint64_t udst       # unix socket: peer endpoint pointer
    cdef public bint connected      # a connect() succeeded on it

    cdef FdInfo copy(self)


cdef class ThreadInfo:
    # Per-syscall state, as libsinsp keeps it per thread.  With
    # lastaccess_ts, what most events touch: first, on the object's first
    # cache line or two.
    cdef public uint64_t lastaccess_ts  # its last event's ts (purges skip busy threads)
    cdef public int64_t lastevent_fd    # fd of the current syscall (-1 none)
    cdef public int lastevent_type      # type of the last enter event
    # Copy of the last stored enter record (malloc'd, reused: copying into
    # it costs a memcpy, where a bytes object cost an allocation and a free
    # per syscall).  enter_len 0: none stored.
    cdef uint8_t *enter_buf
    cdef uint32_t enter_cap
    cdef uint32_t enter_len
    cdef uint8_t enter_hdr
    cdef uint8_t enter_lsz
    cdef uint32_t enter_nparams
    cdef uint16_t enter_type
    cdef public int64_t tid         # thread id
    cdef public int64_t pid         # process id (main thread's tid)
    cdef public int64_t ptid        # parent thread id (-1 unknown)
    cdef public int64_t sid         # session id (-1 unknown)
    cdef public int64_t vpgid       # process group id in its pid namespace
    cdef public int64_t vtid        # tid in its pid namespace
    cdef public int64_t vpid        # pid in its pid namespace
    cdef public bytes comm          # task command name
    cdef public bytes exe           # argv[0]
    cdef public bytes exepath       # full executable path ("" unknown)
    cdef public bytes cwd           # working directory, always ends with "/"
    cdef public bytes root          # chroot directory
    cdef public list args           # [bytes] argv[1:]
    cdef public list env            # [bytes] KEY=VALUE
    cdef public list cgroups        # [bytes] subsys=path
    cdef public bytes container_id  # 12 or 64 hex chars; b"" on the host
    cdef public uint32_t uid        # effective uid (0xffffffff unknown)
    cdef public uint32_t gid        # effective gid
    cdef public uint32_t loginuid   # audit login uid (0xffffffff unset)
    cdef public uint32_t tty        # controlling terminal
    cdef public int64_t fdlimit     # RLIMIT_NOFILE
    cdef public uint32_t flags      # clone flags (PPM_CL_*)
    cdef public uint64_t clone_ts   # creation time (event ts), 0 when seeded
    cdef public uint64_t vmsize_kb
    cdef public uint64_t vmrss_kb
    cdef public uint64_t vmswap_kb
    cdef public uint64_t pfmajor
    cdef public uint64_t pfminor
    cdef public uint64_t cap_permitted
    cdef public uint64_t cap_inheritable
    cdef public uint64_t cap_effective
    cdef public uint64_t exe_ino
    cdef public uint64_t exe_ino_ctime
    cdef public uint64_t exe_ino_mtime
    cdef public uint64_t pidns_init_start_ts
    # Set by execve, as libsinsp's: clone_ts - exe_ino_ctime (0: none;
    # inherited by clone children with the executable's inode times) and
    # exe_ino_ctime - pidns_init_start_ts when the executable changed after
    # the pid namespace started (0: none; not inherited).
    cdef public uint64_t exe_ctime_to_clone
    cdef public uint64_t exe_ctime_after_pidns
    cdef public bint exe_writable
    cdef public bint exe_upper_layer
    cdef public bint exe_lower_layer
    cdef public bint exe_from_memfd
    cdef public IntTable fds         # fd -> FdInfo; threads of one process share it
    cdef public bint closed         # procexit seen, removal pending
    cdef public int nthreads        # main thread: its process's other threads known
    cdef public uint64_t cpu_user       # ticks at the last procinfo event
    cdef public uint64_t cpu_system
    cdef public uint64_t cpu_user_d     # ticks since the sample before
    cdef public uint64_t cpu_system_d
    cdef public uint64_t cpu_total_d

    cdef bint is_main(self)


cdef bytes sock_pair_name(FdInfo fi)
cpdef bytes concat_paths(bytes base, bytes path)


cdef inline bytes fd_name(FdInfo fi):
    """The fd's name (see FdInfo._name)."""
    if fi.name_stale:
        fi._name = sock_pair_name(fi)
        fi.name_stale = False
    return fi._name


cdef inline FdInfo fd_of(ThreadInfo t, int64_t fd):
    """Thread `t`'s descriptor `fd`, or None."""
    cdef PyObject *found = table_find(t.fds, fd)
    # Two returns: the conditional expression's type is `object`, which
    # Cython type-tests on the way back to FdInfo.
    if found == NULL:
        return None
    return <FdInfo>found


cdef class StateEngine(StateHook):
    cdef public IntTable threads    # tid -> ThreadInfo
    cdef uint32_t evict_cursor      # where the next eviction looks (full table)
    # Purges (libsinsp's thread purge): every purge_interval_ns of event
    # time a sweep goes round the thread table, a slice per run of events,
    # and removes the threads whose exit was lost: one that exited but still
    # waits for threads no longer there, and (live) one idle for
    # thread_timeout_ns whose /proc entry is gone.  0 turns purges off.
    cdef public uint64_t purge_interval_ns
    cdef public uint64_t thread_timeout_ns
    cdef uint64_t purge_at          # event time of the next sweep (0: sweeping)
    cdef Py_ssize_t purge_left      # threads the sweep still visits; -1: clock not started
    cdef uint32_t purge_cursor
    cdef public uint64_t n_threads_purged
    # fd.name_changed: the event (context and its generation) whose parser
    # last gave an fd a different name.
    cdef void *name_changed_ctx
    cdef uint64_t name_changed_gen
    cdef public dict users          # {uid: (name bytes, home bytes, shell bytes)}
    cdef public dict groups         # {gid: name bytes}
    cdef public dict containers     # {id bytes (12 chars): dict of bytes values}
    cdef public set local_v4        # this host's IPv4 addresses (network order)
    cdef public set local_v6        # and IPv6 ones, from the capture or the host
    cdef public Py_ssize_t max_threads
    cdef public Py_ssize_t max_fds
    # Counters.
    cdef public uint64_t n_threads_created
    cdef public uint64_t n_threads_removed
    cdef public uint64_t n_thread_evictions
    cdef public uint64_t n_fds_added
    cdef public uint64_t n_fds_removed
    cdef public uint64_t n_fd_drops
    cdef public uint64_t n_events
    # Removals deferred until the next event, as libsinsp does, so that the
    # event that causes them is still evaluated against the old state.
    cdef object pending_tid
    cdef IntTable pending_fd_table   # the first pending close: its table
    cdef int64_t pending_fd_num     # and fd (most flushes have just one)
    cdef list pending_fds           # [(IntTable, fd)], any others
    cdef bint has_pending           # either of the two is set
    cdef public bint live            # unknown tids are read from /proc
    cdef public uint64_t boot_ts_epoch  # host boot, epoch ns (0 unknown)
    cdef public str proc_root        # where /proc is (tests point it elsewhere)
    # Live: asked (request(full_id, runtime)) for each new container id; it
    # fills `containers` later from another thread (falco/live/container_meta).
    cdef public object container_resolver
    # fd.*ip.name: an object whose `index` maps packed addresses to the
    # watched host names resolving to them (falco/live/dns_names.py).
    cdef public object host_names

    # A direct-mapped cache of recent lookups: a hit skips making a Python
    # int and a dict probe.  hot_tag[slot] is tid + 1 for a thread in the
    # table (hot_obj[slot] holds a strong reference to it), -(tid + 1) for a
    # tid known absent, 0 for none.  The tags alone answer "absent" (most
    # procinfo events), and 4 bytes each keep the lines they touch few.
    # Every removal or replacement in `threads` forgets its tid (_forget).
    cdef int32_t hot_tag[HOT_SLOTS]
    cdef PyObject *hot_obj[HOT_SLOTS]
    # Whether any slot was filled since the last clear: a fresh engine's
    # seed need not sweep 16k empty slots (a third of a capture seed).
    cdef bint hot_filled

    # Resource counters no loaded rule may read are not kept (track_counters):
    # thread.cpu* (procinfo events) and the memory fields (context switches,
    # brk/mmap/munmap).  kind_of is the quiet loop's KIND table with the
    # events that only feed such counters turned into ones that update
    # nothing.
    cdef readonly bint track_cpu
    cdef readonly bint track_memory
    cdef uint8_t kind_of[1024]      # by event type (FE_EVENT_MAX < 1024)
    # The walk's one lookup per event: kind_of[type] (QUIET_KIND bits),
    # QUIET_WANTED where a rule is indexed under the type, and for a QUICK
    # call what its per-thread record takes (CALL_* bits), for the wanted
    # tables of serial quiet_serial (rebuilt when run_quiet is given others;
    # 0: none yet).
    cdef uint8_t quiet_of[1024]
    cdef uint64_t quiet_serial

    cdef void _clear_hot(self) noexcept

    cdef ThreadInfo _find(self, int64_t tid)
    cdef void _forget(self, int64_t tid) noexcept
    cdef ThreadInfo get_thread(self, int64_t tid, bint create)
    cdef int _add_thread(self, ThreadInfo t) except -1
    cdef int _note_container(self, ThreadInfo t) except -1
    cdef int _count_thread(self, ThreadInfo t, int delta) except -1
    cdef ThreadInfo main_thread(self, ThreadInfo t)
    cdef ThreadInfo parent_thread(self, ThreadInfo t)
    cdef FdInfo add_fd(self, ThreadInfo t, int64_t fd, FdInfo fi)
    cdef int _flush(self) except -1
    cdef int _drop_thread(self, ThreadInfo t) except -1
    cdef bint _remove_exited(self, ThreadInfo t) except -1
    cdef int _purge_step(self, uint64_t now) except -1
    # The per-event entry point (sets ctx.thread and ctx.fd).
    cdef int process(self, EventCtx ctx) except -1
    cdef Py_ssize_t run_quiet(self, EventCtx ctx, EventBatch b, Py_ssize_t i,
                              Py_ssize_t n, const uint8_t *wanted,
                              const uint8_t *wanted_sc,
                              uint64_t wanted_serial, bint *taken) except -1
    cdef bint _take_wanted(self, EventCtx ctx, EventBatch b, Py_ssize_t idx,
                           fe_evt *e, uint16_t et, uint8_t kind) except -1
    cdef int _known_call(self, EventCtx ctx, ThreadInfo t, fe_evt *e, uint16_t et,
                         uint8_t kind) except -1
    cdef void _build_quiet(self, const uint8_t *wanted, uint64_t serial) noexcept
    cdef bint _enter_ok(self, ThreadInfo t, uint16_t et) noexcept
    cdef int _parse_open(self, EventCtx ctx, ThreadInfo t, uint16_t et) except -1
    cdef int _parse_open_by_handle(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_socket(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_bind(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _set_tuple(self, FdInfo fi, const uint8_t *p, uint32_t n) except -1
    cdef int _parse_connect(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_udp(self, EventCtx ctx, ThreadInfo t, uint8_t act) except -1
    cdef int _udp_peer(self, EventCtx ctx, ThreadInfo t, FdInfo fi, uint8_t act) except -1
    cdef int _memory(self, EventCtx ctx, ThreadInfo t, bint faults) except -1
    cdef bint _is_reverse(self, FdInfo fi, const uint8_t *p, uint32_t n) noexcept
    cdef int _parse_accept(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_close(self, EventCtx ctx, ThreadInfo t, bint quiet) except -1
    cdef int _parse_pipe(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_socketpair(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_simplefd(self, EventCtx ctx, ThreadInfo t, uint8_t act, uint16_t et) except -1
    cdef int _dup_to(self, EventCtx ctx, ThreadInfo t, int64_t newfd,
                     bint cloexec) except -1
    cdef int _parse_dup(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_fcntl(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_chdir(self, EventCtx ctx, ThreadInfo t, uint8_t act) except -1
    cdef int _share_cwd(self, ThreadInfo t) except -1
    cdef int _parse_execve(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_clone(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_setid(self, EventCtx ctx, ThreadInfo t, uint8_t act) except -1
    cdef int _parse_setsid(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_chroot(self, EventCtx ctx, ThreadInfo t) except -1
    cdef int _parse_capset(self, EventCtx ctx, ThreadInfo t) except -1
    cdef object _parse_container(self, EventCtx ctx, uint8_t act)
    cdef int _parse_user(self, EventCtx ctx, uint8_t act) except -1


cdef inline ThreadInfo thread_of(StateEngine st, int64_t tid):
    """The thread `tid` in the engine's table, or None."""
    cdef PyObject *found = table_find(st.threads, tid)
    # Two returns: the conditional expression's type is `object`, which
    # Cython type-tests on the way back to ThreadInfo.
    if found == NULL:
        return None
    return <ThreadInfo>found
cdef bytes short_id_object(bytes cid)

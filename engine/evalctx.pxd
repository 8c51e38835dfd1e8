# What rule evaluation reads while it looks at one event: the event, the
# state the state engine attached to it, and the values fields extract.
from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t

from falco_engine.decoder cimport EventBatch, fe_evt, evt_param
from falco_engine.inttable cimport IntTable, table_find

cdef enum ValueKind:
    VK_NONE = 0     # not available for this event: prints <NA>, compares false
    VK_INT = 1      # signed integer in .i
    VK_UINT = 2     # unsigned integer in .u
    VK_BOOL = 3     # .u is 0 or 1
    VK_STR = 4      # .s/.n: bytes, not NUL-terminated, valid for this event
    VK_IP = 5       # .ip[0:.n], .n is 4 or 16, network byte order
    VK_DOUBLE = 6   # .d
    VK_LIST = 7     # .obj: a tuple of bytes (list-valued fields), kept by ctx

cdef struct Value:
    int kind
    int64_t i
    uint64_t u
    double d
    const char *s
    Py_ssize_t n
    uint8_t ip[16]
    PyObject *obj

cdef class EventCtx:
    cdef EventBatch batch        # the batch the event lives in
    cdef Py_ssize_t idx          # its index in the batch
    cdef fe_evt *evt             # its decoded header
    cdef public object state     # the state engine (None: no state)
    cdef public object thread    # state: thread object of evt.tid, or None
    # state: the fd object the event acts on, or None.  Read it with
    # ctx_fd(): for events that change no state the engine leaves the
    # lookup pending (fd_table/fd_num) until a field asks, since most
    # events are judged by no rule that reads fd.* at all.
    cdef object _fd
    cdef IntTable fd_table        # table to look fd_num up in, or None: _fd final
    cdef int64_t fd_num
    cdef list keep               # objects Values point into, for this event
    cdef readonly uint64_t gen   # bumped per event: per-event caches key on it
    # Exit events may lend parameters from their enter event (evt.arg.*):
    # on when rules judge exits only (Falco 0.42+), off for enter+exit
    # (sysdig / old Falco), where the enter event answers for itself.
    cdef public bint exit_args_from_enter

    cdef int set_event(self, EventBatch b, Py_ssize_t i) except -1
    cdef const char *keep_bytes(self, bytes data) except? NULL
    cdef int set_str(self, Value *out, object data) except -1
    cdef const uint8_t *param(self, uint32_t p, uint32_t *plen) noexcept nogil

cdef inline void ctx_set_event(EventCtx ctx, EventBatch b, Py_ssize_t i) noexcept:
    """Point `ctx` at event `i` of `b`, with nothing known about it yet
    (EventCtx.set_event, inline for the runner's loop)."""
    if ctx.batch is not b:
        ctx.batch = b
    ctx.idx = i
    ctx.evt = &b.evts[i]
    ctx.gen += 1
    if ctx.keep:
        ctx.keep = []
    if ctx.thread is not None:
        ctx.thread = None
    if ctx._fd is not None:
        ctx._fd = None
    if ctx.fd_table is not None:
        ctx.fd_table = None


cdef inline const uint8_t *ctx_param(EventCtx ctx, uint32_t p,
                                     uint32_t *plen) noexcept:
    """Parameter `p` of the current event (EventCtx.param, inline)."""
    return evt_param(ctx.batch.base, ctx.evt, p, plen)


cdef inline object ctx_fd(EventCtx ctx):
    cdef PyObject *found
    if ctx.fd_table is not None:
        found = table_find(ctx.fd_table, ctx.fd_num)
        ctx._fd = None if found == NULL else <object>found
        ctx.fd_table = None
    return ctx._fd


cdef inline void ctx_set_fd(EventCtx ctx, object fd) noexcept:
    ctx._fd = fd
    ctx.fd_table = None


cdef class StateHook:
    # What the rule runner calls for every event before rules look at it:
    # the state engine subclasses this so the call is a C-level one.
    cdef int process(self, EventCtx ctx) except -1
    # Update from events i, i+1, ... of `b` that no rule looks at (wanted[type]
    # is 0; for a generic event, wanted_sc[its syscall code] too), without
    # preparing ctx for rules; the index of the first event it did not take
    # (a wanted one, or n).  The base takes none.  `wanted_serial` names
    # the wanted tables: the same serial, the same contents (a number each
    # RuleEngine draws once), so the hook can keep what it derives from them.
    # It may also take the wanted event it stops at, as process() would
    # (ctx then points at it, ready for rules): it sets *taken and returns
    # that event's index + 1.
    cdef Py_ssize_t run_quiet(self, EventCtx ctx, EventBatch b, Py_ssize_t i,
                              Py_ssize_t n, const uint8_t *wanted,
                              const uint8_t *wanted_sc,
                              uint64_t wanted_serial, bint *taken) except -1

cdef class FieldExtractor:
    cdef readonly str field      # as written: "proc.aname[2]"
    cdef readonly str ftype      # Falco type name: CHARBUF, UINT64, ...
    cdef public bint hex_text    # printed in hex (libsinsp's PF_HEX: fd.dev)
    cdef int extract(self, EventCtx ctx, Value *out) except -1

cdef object value_to_python(Value *v)
cdef str value_to_text(Value *v, str ftype, bint hex_text=*)

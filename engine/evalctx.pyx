# cython: language_level=3
"""The evaluation context and the field-extractor interface.

An extractor turns (event, state) into a typed `Value` without making
Python objects when it can: integers are C integers, strings point into
the event buffer or into bytes the state owns.  When an extractor must
build a value (a joined command line, a resolved path) it hands the bytes
to the context, which keeps them alive until the next event.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
from libc.string cimport memcpy
import ipaddress


# Each context counts its events from its own base, so a (context, gen)
# pair, or a gen alone, never names two events even when a context is
# freed and another is made at the same address (per-event caches key on
# it: extractors', the state engine's parameter table).
cdef uint64_t _gen_base = 0


cdef class EventCtx:

    def __cinit__(self):
        global _gen_base
        _gen_base += <uint64_t>1 << 40
        self.keep = []
        self.gen = _gen_base
        self.exit_args_from_enter = False
        self.batch = None
        self.evt = NULL

    cdef int set_event(self, EventBatch b, Py_ssize_t i) except -1:
        ctx_set_event(self, b, i)
        return 0

    cdef const char *keep_bytes(self, bytes data) except? NULL:
        self.keep.append(data)
        return PyBytes_AS_STRING(data)

    cdef int set_str(self, Value *out, object data) except -1:
        """Point `out` at `data` (bytes, or str encoded as UTF-8)."""
        cdef bytes raw
        if isinstance(data, str):
            raw = (<str>data).encode("utf-8", "surrogateescape")
        else:
            raw = <bytes>data
        out.kind = VK_STR
        out.s = self.keep_bytes(raw)
        out.n = PyBytes_GET_SIZE(raw)
        return 0

    cdef const uint8_t *param(self, uint32_t p, uint32_t *plen) noexcept nogil:
        return evt_param(self.batch.base, self.evt, p, plen)

    # Python-facing, for tests and outputs.
    @property
    def fd(self):
        return ctx_fd(self)

    @fd.setter
    def fd(self, value):
        ctx_set_fd(self, value)

    @property
    def event(self):
        return None if self.batch is None else self.batch.event(self.idx)


cdef class StateHook:
    """Base of state engines: update from one event, attach thread/fd."""

    cdef int process(self, EventCtx ctx) except -1:
        return 0

    cdef Py_ssize_t run_quiet(self, EventCtx ctx, EventBatch b, Py_ssize_t i,
                              Py_ssize_t n, const uint8_t *wanted,
                              const uint8_t *wanted_sc,
                              uint64_t wanted_serial, bint *taken) except -1:
        taken[0] = False
        return i


cdef class FieldExtractor:
    """Base: a field this engine knows but that has no value here."""

    def __init__(self, str field, str ftype):
        self.field = field
        self.ftype = ftype

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_NONE
        return 0

    def value(self, EventCtx ctx):
        """The extracted value as a Python object (None when not available)."""
        cdef Value v
        v.kind = VK_NONE
        v.obj = NULL
        self.extract(ctx, &v)
        return value_to_python(&v)

    def text(self, EventCtx ctx):
        """The value as an output string (<NA> when not available)."""
        cdef Value v
        v.kind = VK_NONE
        v.obj = NULL
        self.extract(ctx, &v)
        return value_to_text(&v, self.ftype, self.hex_text)

    def __repr__(self):
        return f"<{type(self).__name__} {self.field}>"


cdef object value_to_python(Value *v):
    if v.kind == VK_INT:
        return v.i
    if v.kind == VK_UINT:
        return v.u
    if v.kind == VK_BOOL:
        return bool(v.u)
    if v.kind == VK_STR:
        return v.s[:v.n]
    if v.kind == VK_IP:
        return ipaddress.ip_address(bytes(v.ip[:v.n]))
    if v.kind == VK_DOUBLE:
        return v.d
    if v.kind == VK_LIST:
        return <object>v.obj
    return None


cdef str value_to_text(Value *v, str ftype, bint hex_text=False):
    if v.kind == VK_NONE:
        return "<NA>"
    if hex_text and v.kind == VK_INT:
        return "%X" % v.i
    if hex_text and v.kind == VK_UINT:
        return "%X" % v.u
    if v.kind == VK_STR:
        return v.s[:v.n].decode("utf-8", "replace")
    if v.kind == VK_BOOL:
        return "true" if v.u else "false"
    if v.kind == VK_LIST:
        # libsinsp's form for a field with several values: "(a,b)".
        return "(" + ",".join(x.decode("utf-8", "replace") if isinstance(x, bytes)
                              else str(x) for x in <object>v.obj) + ")"
    if v.kind == VK_DOUBLE:
        return "%.1f" % v.d         # libsinsp prints doubles with one decimal
    return str(value_to_python(v))

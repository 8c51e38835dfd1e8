# cython: language_level=3
"""Walk batches of event records without making a Python object per event.

A batch is a buffer of bytes (a whole capture file chunk, or a ring buffer
drain) and a C array of `fe_evt` saying where each record starts, which type
it is and how many parameters it carries.  Every length read from the buffer
is checked against the bytes that are really there before it is used.
"""
from cpython.buffer cimport (
    PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE,
)
cimport cython
from cpython.bytearray cimport PyByteArray_FromStringAndSize
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from libc.stdint cimport (
    uint8_t, uint16_t, uint32_t, uint64_t, int8_t, int16_t, int32_t, int64_t,
)

from falco_engine.event_table cimport (
    fe_event_table, fe_syscall_names, FE_EVENT_MAX, FE_SYSCALL_MAX,
)

# Block types of the .scap container that carry events.
cdef enum:
    EV_BLOCK = 0x204
    EV_BLOCK_INT = 0x8010ABCD
    EVF_BLOCK = 0x208
    EV_BLOCK_V2 = 0x216
    EVF_BLOCK_V2 = 0x217
    EV_BLOCK_V2_LARGE = 0x221
    EVF_BLOCK_V2_LARGE = 0x222

# Record header: u64 ts, u64 tid, u32 len, u16 type, u32 nparams (packed).
DEF HDR_LEN = 26
DEF HDR_LEN_V1 = 22

EVENT_BLOCK_TYPES = frozenset((EV_BLOCK, EV_BLOCK_INT, EVF_BLOCK, EV_BLOCK_V2,
                               EVF_BLOCK_V2, EV_BLOCK_V2_LARGE,
                               EVF_BLOCK_V2_LARGE))
HEADER_LEN = HDR_LEN


cdef inline uint16_t rd16(const uint8_t *p) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return v


cdef inline uint32_t rd32(const uint8_t *p) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return v


cdef inline uint64_t rd64(const uint8_t *p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline int v1_nparams(const uint8_t *rec, uint32_t evlen, uint16_t etype,
                           uint32_t *out) noexcept nogil:
    """Old records have no nparams: find the count whose lengths fill the
    record exactly, starting from the table's count (newest layout)."""
    cdef int n = fe_event_table[etype].nparams
    cdef uint64_t valpos
    cdef int i
    while n >= 0:
        valpos = HDR_LEN_V1 + 2 * <uint64_t>n
        if valpos <= evlen:
            for i in range(n):
                valpos += rd16(rec + HDR_LEN_V1 + 2 * i)
            if valpos == evlen:
                out[0] = <uint32_t>n
                return 0
            if valpos < evlen:
                return -1
        n -= 1
    return -1


# The garbage collector must not drop `owner` before __dealloc__ releases
# the buffer view: a bytearray freed with a view still exported is an
# error (a batch can sit in a cycle, e.g. through a reader's exception).
@cython.no_gc_clear
cdef class EventBatch:
    """Records decoded in place from one buffer.

    Build it with `scan_scap` (blocks of a .scap file) or `scan_records`
    (bare records, as the drivers' rings hold them).  The batch keeps the
    buffer alive; events are addressed by index.
    """

    def __cinit__(self):
        self.evts = NULL
        self.types = NULL
        self.count = 0
        self.cap = 0
        self.have_view = False
        self.error = None
        self.stop_block = None
        self.consumed = 0
        self.first_num = 1

    def __dealloc__(self):
        free(self.evts)
        free(self.types)
        if self.have_view:
            PyBuffer_Release(&self.view)

    cdef int _take(self, object buf) except -1:
        cdef Py_buffer part
        cdef const uint8_t *start
        cdef Py_ssize_t length
        if type(buf) is not memoryview:
            PyObject_GetBuffer(buf, &self.view, PyBUF_SIMPLE)
            self.have_view = True
            self.owner = buf
            self.base = <const uint8_t *>self.view.buf
            self.size = self.view.len
            return 0
        # A memoryview (the reader's exact-length view of a chunk buffer):
        # hold the export on the object under it instead.  The collector
        # clears a memoryview found in a garbage cycle (one frame of a
        # traceback holding both it and this batch) even while it is
        # exported, and releasing the export afterwards dereferences what
        # the clear dropped.  bytes, bytearray and mmap have no clear.
        PyObject_GetBuffer(buf, &part, PyBUF_SIMPLE)
        start = <const uint8_t *>part.buf
        length = part.len
        PyBuffer_Release(&part)
        under = buf.obj
        PyObject_GetBuffer(under, &self.view, PyBUF_SIMPLE)
        self.have_view = True
        if start < <const uint8_t *>self.view.buf or \
                start + length > <const uint8_t *>self.view.buf + self.view.len:
            raise ValueError("memoryview is not a contiguous part of its object")
        self.owner = under
        self.base = start
        self.size = length
        return 0

    cdef int _push(self, fe_evt *e) except -1 nogil:
        cdef Py_ssize_t ncap
        cdef fe_evt *grown
        cdef uint16_t *grown_types
        if self.count == self.cap:
            ncap = self.cap * 2 if self.cap else 1024
            grown = <fe_evt *>realloc(self.evts, ncap * sizeof(fe_evt))
            if grown == NULL:
                with gil:
                    raise MemoryError()
            self.evts = grown
            grown_types = <uint16_t *>realloc(self.types, ncap * sizeof(uint16_t))
            if grown_types == NULL:
                with gil:
                    raise MemoryError()
            self.types = grown_types
            self.cap = ncap
        self.evts[self.count] = e[0]
        self.types[self.count] = e.type
        self.count += 1
        return 0

    def __len__(self):
        return self.count

    @property
    def size(self):
        return self.size

    cdef const uint8_t *param_ptr(self, Py_ssize_t i, uint32_t p,
                                  uint32_t *plen) noexcept nogil:
        """Pointer to parameter `p` of event `i` and its length, or NULL."""
        return evt_param(self.base, &self.evts[i], p, plen)

    def event(self, Py_ssize_t i):
        """A Python view of event `i` (for printing and tests, not the hot path)."""
        if i < 0:
            i += self.count
        if i < 0 or i >= self.count:
            raise IndexError(i)
        cdef Event ev = Event.__new__(Event)
        ev.batch = self
        ev.idx = i
        return ev

    def __iter__(self):
        cdef Py_ssize_t i
        for i in range(self.count):
            yield self.event(i)

    def type_counts(self):
        """{event type number: count} over the batch, counted in C."""
        cdef Py_ssize_t i
        counts = {}
        cdef uint32_t *tally = <uint32_t *>malloc(FE_EVENT_MAX * sizeof(uint32_t))
        if tally == NULL:
            raise MemoryError()
        try:
            for i in range(FE_EVENT_MAX):
                tally[i] = 0
            with nogil:
                for i in range(self.count):
                    tally[self.evts[i].type] += 1
            for i in range(FE_EVENT_MAX):
                if tally[i]:
                    counts[i] = tally[i]
        finally:
            free(tally)
        return counts

    def to_scap_blocks(self, Py_ssize_t start, Py_ssize_t stop,
                       uint64_t ts_shift=0):
        """Events [start, stop) framed as .scap event blocks: (bytes, count).

        Old 22-byte headers gain their nparams field; records with 32-bit
        parameter lengths go in _LARGE blocks; captured flags in EVF ones.
        `ts_shift` is added to every timestamp (to loop a capture in time).
        """
        cdef uint64_t ts
        cdef Py_ssize_t i, total = 0
        cdef fe_evt *e
        cdef uint32_t rec_len, body, blen
        cdef uint32_t btype
        cdef bytearray out
        cdef uint8_t *w
        cdef uint16_t cpu
        cdef uint32_t nparams
        if start < 0:
            start = 0
        if stop > self.count:
            stop = self.count
        if stop <= start:
            return b"", 0
        for i in range(start, stop):
            e = &self.evts[i]
            rec_len = e.len + (HDR_LEN - e.hdr_len)
            body = 2 + (4 if e.flags else 0) + rec_len
            total += 12 + body + ((4 - body % 4) % 4)
        out = bytearray(total)
        w = <uint8_t *><char *>out
        with nogil:
            for i in range(start, stop):
                e = &self.evts[i]
                rec_len = e.len + (HDR_LEN - e.hdr_len)
                body = 2 + (4 if e.flags else 0) + rec_len
                blen = 12 + body + ((4 - body % 4) % 4)
                if e.len_size == 4:
                    btype = EVF_BLOCK_V2_LARGE if e.flags else EV_BLOCK_V2_LARGE
                else:
                    btype = EVF_BLOCK_V2 if e.flags else EV_BLOCK_V2
                memcpy(w, &btype, 4)
                memcpy(w + 4, &blen, 4)
                cpu = e.cpu
                memcpy(w + 8, &cpu, 2)
                w += 10
                if e.flags:
                    memcpy(w, &e.flags, 4)
                    w += 4
                # ts, tid, then the (possibly grown) length, type, nparams.
                ts = e.ts + ts_shift
                memcpy(w, &ts, 8)
                memcpy(w + 8, self.base + e.off + 8, 8)
                memcpy(w + 16, &rec_len, 4)
                memcpy(w + 20, &e.type, 2)
                nparams = e.nparams
                memcpy(w + 22, &nparams, 4)
                memcpy(w + HDR_LEN, self.base + e.off + e.hdr_len, e.len - e.hdr_len)
                w += rec_len
                # padding is already zero; the trailer repeats the length
                w += (4 - body % 4) % 4
                memcpy(w, &blen, 4)
                w += 4
        return bytes(out), stop - start

    @property
    def last_num(self):
        """evt.num of the last event (first_num - 1 when empty)."""
        return self.first_num + self.count - 1


cdef int _scan_event_block(EventBatch b, Py_ssize_t pos, uint32_t btype,
                           uint32_t blen, uint64_t *num,
                           const char **err) except -1 nogil:
    """Decode the event in one block; on a fault set *err and return 1."""
    cdef const uint8_t *body = b.base + pos + 8
    cdef uint64_t body_len = blen - 12
    cdef uint32_t pre = 2
    cdef bint v1 = btype == EV_BLOCK or btype == EV_BLOCK_INT or btype == EVF_BLOCK
    cdef bint large = btype == EV_BLOCK_V2_LARGE or btype == EVF_BLOCK_V2_LARGE
    cdef fe_evt e
    cdef const uint8_t *rec
    cdef uint64_t need
    cdef uint32_t k

    e.flags = 0
    if btype == EVF_BLOCK or btype == EVF_BLOCK_V2 or btype == EVF_BLOCK_V2_LARGE:
        pre = 6
    e.hdr_len = HDR_LEN_V1 if v1 else HDR_LEN
    e.len_size = 4 if large else 2
    if body_len < pre + e.hdr_len:
        err[0] = b"event block too short for a record header"
        return 1
    e.cpu = rd16(body)
    if pre == 6:
        e.flags = rd32(body + 2)
    rec = body + pre
    e.off = <uint64_t>(rec - b.base)
    e.ts = rd64(rec)
    e.tid = rd64(rec + 8)
    e.len = rd32(rec + 16)
    e.type = rd16(rec + 20)
    if e.len < e.hdr_len or e.len > body_len - pre:
        err[0] = b"record length does not fit its block"
        return 1
    if e.type >= FE_EVENT_MAX:
        # A newer producer's event: like libscap, skip it without a number.
        return 0
    if v1:
        if v1_nparams(rec, e.len, e.type, &e.nparams) < 0:
            err[0] = b"old-format record whose parameter lengths match no layout"
            return 1
    else:
        e.nparams = rd32(rec + 22)
        need = e.hdr_len + <uint64_t>e.nparams * e.len_size
        if need > e.len:
            err[0] = b"parameter count overruns the record"
            return 1
        for k in range(e.nparams):
            need += rd32(rec + e.hdr_len + 4 * k) if large else rd16(rec + e.hdr_len + 2 * k)
        if need > e.len:
            err[0] = b"parameter lengths overrun the record"
            return 1
    e.num = num[0]
    num[0] += 1
    b._push(&e)
    return 0


def new_buffer(Py_ssize_t size):
    """A bytearray of `size` bytes left uninitialised, to be read into:
    bytearray(size) would first write zeros over all of it (touching every
    page while holding the GIL), where a read fills the pages in the
    kernel without the GIL."""
    if size < 0:
        raise ValueError("negative buffer size")
    return PyByteArray_FromStringAndSize(NULL, size)


def scan_scap(object buf, Py_ssize_t start=0, uint64_t first_num=1,
              bint final=True, Py_ssize_t limit=0):
    """Decode the event blocks of a .scap buffer from offset `start`.

    Stops at the end of the buffer, at the first block that is not an
    event block (`stop_block` = (offset, type): the caller parses it and
    resumes after it), or at the first fault (`error` = (offset, message)).
    With final=False an incomplete block at the end is left for the next
    chunk: `consumed` says where to resume.  With limit > 0 it also stops
    at the first block boundary `limit` bytes or more past `start`
    (`limited` is then true and `consumed` says where to resume): a batch
    the engine walks while it is still in the CPU cache.
    """
    cdef EventBatch b = EventBatch.__new__(EventBatch)
    b._take(buf)
    b.first_num = first_num
    cdef Py_ssize_t pos = start
    cdef uint32_t btype, blen
    cdef uint64_t num = first_num
    cdef const char *err = NULL
    cdef Py_ssize_t err_pos = -1
    cdef bint stopped = False
    cdef int rc
    with nogil:
        while pos + 8 <= b.size:
            if limit > 0 and pos - start >= limit:
                b.limited = True
                break
            btype = rd32(b.base + pos)
            blen = rd32(b.base + pos + 4)
            if blen < 12:
                err = b"bad block length"
                err_pos = pos
                break
            if pos + <Py_ssize_t>blen > b.size:
                if final:
                    err = b"block runs past the end of the data (truncated?)"
                    err_pos = pos
                break
            if rd32(b.base + pos + blen - 4) != blen:
                err = b"block trailer does not repeat the block length"
                err_pos = pos
                break
            if (btype == EV_BLOCK_V2 or btype == EV_BLOCK or btype == EVF_BLOCK_V2
                    or btype == EV_BLOCK_V2_LARGE or btype == EVF_BLOCK_V2_LARGE
                    or btype == EVF_BLOCK or btype == EV_BLOCK_INT):
                rc = _scan_event_block(b, pos, btype, blen, &num, &err)
                if rc:
                    err_pos = pos
                    break
            else:
                stopped = True
                break
            pos += blen
        if final and err == NULL and not stopped and not b.limited \
                and pos < b.size:
            err = b"trailing bytes shorter than a block header (truncated?)"
            err_pos = pos
    b.consumed = pos
    if err != NULL:
        b.error = (err_pos, err.decode())
    elif stopped:
        b.stop_block = (pos, btype)
    return b


def scan_records(object buf, uint64_t first_num=1, uint16_t cpu=0):
    """Decode bare records laid end to end (a driver ring drain)."""
    cdef EventBatch b = EventBatch.__new__(EventBatch)
    b._take(buf)
    b.first_num = first_num
    cdef Py_ssize_t pos = 0
    cdef uint64_t num = first_num
    cdef fe_evt e
    cdef const uint8_t *rec
    cdef uint64_t need
    cdef uint32_t k
    cdef const char *err = NULL
    with nogil:
        while pos + HDR_LEN <= b.size:
            rec = b.base + pos
            e.ts = rd64(rec)
            e.tid = rd64(rec + 8)
            e.len = rd32(rec + 16)
            e.type = rd16(rec + 20)
            e.nparams = rd32(rec + 22)
            e.hdr_len = HDR_LEN
            e.len_size = 2
            e.cpu = cpu
            e.flags = 0
            e.off = pos
            if e.len < HDR_LEN or pos + <Py_ssize_t>e.len > b.size:
                err = b"record length does not fit the buffer"
                break
            need = HDR_LEN + 2 * <uint64_t>e.nparams
            if need > e.len:
                err = b"parameter count overruns the record"
                break
            for k in range(e.nparams):
                need += rd16(rec + HDR_LEN + 2 * k)
            if need > e.len:
                err = b"parameter lengths overrun the record"
                break
            if e.type < FE_EVENT_MAX:
                e.num = num
                num += 1
                b._push(&e)
            pos += e.len
        if err == NULL and pos < b.size:
            err = b"trailing bytes shorter than a record header"
    b.consumed = pos
    if err != NULL:
        b.error = (pos, err.decode())
    return b


cdef class Event:
    """One event of a batch, seen from Python.  Only for printing, tests and
    matched events: the engine's hot path reads the C array directly."""
    cdef EventBatch batch
    cdef Py_ssize_t idx

    @property
    def num(self):
        return self.batch.evts[self.idx].num

    @property
    def ts(self):
        return self.batch.evts[self.idx].ts

    @property
    def tid(self):
        return <int64_t>self.batch.evts[self.idx].tid

    @property
    def cpu(self):
        return self.batch.evts[self.idx].cpu

    @property
    def type(self):
        return self.batch.evts[self.idx].type

    @property
    def flags(self):
        return self.batch.evts[self.idx].flags

    @property
    def nparams(self):
        return self.batch.evts[self.idx].nparams

    @property
    def offset(self):
        return self.batch.evts[self.idx].off

    @property
    def is_enter(self):
        return self.batch.evts[self.idx].type % 2 == 0

    @property
    def dir(self):
        return ">" if self.batch.evts[self.idx].type % 2 == 0 else "<"

    @property
    def name(self):
        """evt.type: the table's name, or the syscall's name for generic events."""
        cdef uint16_t t = self.batch.evts[self.idx].type
        cdef uint32_t plen
        cdef const uint8_t *p
        cdef uint16_t sc
        if t <= 1:
            p = self.batch.param_ptr(self.idx, 0, &plen)
            if p != NULL and plen >= 2:
                sc = rd16(p)
                if sc < FE_SYSCALL_MAX and fe_syscall_names[sc] != NULL:
                    return fe_syscall_names[sc].decode()
        return fe_event_table[t].name.decode()

    @property
    def category(self):
        return fe_event_table[self.batch.evts[self.idx].type].category

    def param(self, uint32_t p):
        """Raw bytes of parameter `p`, or None when the record has fewer."""
        cdef uint32_t plen
        cdef const uint8_t *ptr = self.batch.param_ptr(self.idx, p, &plen)
        if ptr == NULL:
            return None
        return ptr[:plen]

    def raw(self):
        """The whole record: header, lengths and parameters."""
        cdef fe_evt *e = &self.batch.evts[self.idx]
        return (self.batch.base + e.off)[:e.len]

    @property
    def is_v1(self):
        return self.batch.evts[self.idx].hdr_len == HDR_LEN_V1

    @property
    def is_large(self):
        return self.batch.evts[self.idx].len_size == 4

    def __repr__(self):
        return f"<Event {self.num} {self.dir} {self.name} tid={self.tid}>"


def merge_by_time(list chunks):
    """Records of several rings (bytes objects of records laid end to end,
    each already in time order) merged into one buffer in timestamp order,
    as libscap interleaves its per-CPU rings.  Returns (bytes, cpus) where
    cpus[i] is the index of the chunk record i came from."""
    cdef Py_ssize_t nchunks = len(chunks)
    cdef list batches = [scan_records(c) for c in chunks]
    cdef EventBatch b
    cdef Py_ssize_t total_len = 0, total_n = 0, i, best, filled = 0
    cdef uint64_t best_ts
    for b in batches:
        total_n += b.count
        for i in range(b.count):
            total_len += b.evts[i].len
    cdef Py_ssize_t *pos = <Py_ssize_t *>malloc((nchunks + 1) * sizeof(Py_ssize_t))
    if pos == NULL:
        raise MemoryError()
    cdef bytearray out = bytearray(total_len)
    cdef uint8_t *w = out
    origin = bytearray(total_n)
    cdef Py_ssize_t k = 0
    try:
        for i in range(nchunks):
            pos[i] = 0
        while k < total_n:
            best = -1
            best_ts = 0
            for i in range(nchunks):
                b = <EventBatch>batches[i]
                if pos[i] < b.count and (best < 0 or b.evts[pos[i]].ts < best_ts):
                    best = i
                    best_ts = b.evts[pos[i]].ts
            b = <EventBatch>batches[best]
            memcpy(w + filled, b.base + b.evts[pos[best]].off, b.evts[pos[best]].len)
            filled += b.evts[pos[best]].len
            origin[k] = best & 0xFF
            pos[best] += 1
            k += 1
    finally:
        free(pos)
    return bytes(out), bytes(origin)

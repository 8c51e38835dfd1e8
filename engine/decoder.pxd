# The decoded view of one event record inside a batch buffer.  Bytes stay
# in the buffer; this struct only says where the parts are.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int8_t, int16_t, int32_t, int64_t
from libc.string cimport memcpy

cdef struct fe_evt:
    uint64_t ts          # nanoseconds since the epoch
    uint64_t tid         # thread id that produced the event
    uint64_t num         # 1-based event number in the stream (evt.num)
    uint64_t off         # offset of the record header in the batch buffer
    uint32_t len         # record length: header + lengths + params
    uint32_t nparams     # number of parameters stored
    uint32_t flags       # capture flags (EVF blocks), 0 otherwise
    uint16_t type        # ppm_event_type
    uint16_t cpu         # cpu the event was captured on
    uint8_t hdr_len      # 26, or 22 for the old header without nparams
    uint8_t len_size     # 2, or 4 for large-payload records

cdef class EventBatch:
    cdef object owner            # keeps the bytes alive
    cdef const uint8_t *base     # start of the buffer
    cdef Py_ssize_t size         # buffer size in bytes
    cdef Py_buffer view          # the buffer we hold
    cdef bint have_view
    cdef fe_evt *evts            # decoded records, in stream order
    # Each record's type again, packed: the state walk steps over runs of
    # scheduler events reading two bytes each, not a 56-byte record.
    cdef uint16_t *types
    cdef Py_ssize_t count
    cdef Py_ssize_t cap
    cdef readonly Py_ssize_t consumed     # bytes of the buffer fully scanned
    cdef readonly object error            # None or (offset, message)
    cdef readonly object stop_block       # None or (offset, block_type) of a non-event block
    cdef readonly uint64_t first_num
    cdef readonly bint limited            # scan_scap stopped at its byte limit

    cdef int _take(self, object buf) except -1
    cdef int _push(self, fe_evt *e) except -1 nogil
    cdef const uint8_t *param_ptr(self, Py_ssize_t i, uint32_t p, uint32_t *plen) noexcept nogil

cdef inline int64_t read_int(const uint8_t *p, uint32_t n, bint signed_) noexcept nogil:
    """Read a little-endian integer of 1, 2, 4 or 8 bytes (other sizes: 0).
    Inline here: the state parsers and field extractors read a few per
    event, and a call across modules cost more than the read."""
    cdef uint64_t v8
    cdef uint32_t v4
    cdef uint16_t v2
    if n == 8:
        memcpy(&v8, p, 8)
        return <int64_t>v8
    if n == 4:
        memcpy(&v4, p, 4)
        return <int32_t>v4 if signed_ else <int64_t>v4
    if n == 2:
        memcpy(&v2, p, 2)
        return <int16_t>v2 if signed_ else <int64_t>v2
    if n == 1:
        return <int8_t>p[0] if signed_ else <int64_t>p[0]
    return 0


cdef inline const uint8_t *evt_param(const uint8_t *base, fe_evt *e, uint32_t p,
                                     uint32_t *plen) noexcept nogil:
    """Parameter `p` of the record `e` in the buffer at `base`, and its
    length; NULL when the record has fewer parameters.  Inline here so the
    engine's per-event lookups cost no call (EventBatch.param_ptr is the
    same walk)."""
    cdef const uint8_t *rec = base + e.off
    cdef const uint8_t *lens = rec + e.hdr_len
    cdef uint64_t pos
    cdef uint32_t k, v
    cdef uint16_t v16
    if p >= e.nparams:
        return NULL
    pos = e.hdr_len + <uint64_t>e.nparams * e.len_size
    if e.len_size == 4:
        for k in range(p):
            memcpy(&v, lens + 4 * k, 4)
            pos += v
        memcpy(&v, lens + 4 * p, 4)
        plen[0] = v
    else:
        for k in range(p):
            memcpy(&v16, lens + 2 * k, 2)
            pos += v16
        memcpy(&v16, lens + 2 * p, 2)
        plen[0] = v16
    return rec + pos

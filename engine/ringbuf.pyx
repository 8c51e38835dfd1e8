# cython: language_level=3
"""Drain the eBPF probe's BPF ring buffers in one C call per drain.

`BpfRings` holds the mappings of every ring (one per CPU or CPU group) and
drains them all at once: the ready records of each ring are found, copied
once into one bytes object (the rings' own framing removed) and, when more
than one ring had records, merged by timestamp in C (fe_ringbuf.h).  No
Python object is made per record or per ring; the walk runs without the
GIL.  `merge_rings` is the same C merge over records laid out as rings, for
tests that compare it with `decoder.merge_by_time`.
"""
from cpython.buffer cimport (
    PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE,
)
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from libc.stdlib cimport calloc, free
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef extern from "fe_ringbuf.h" nogil:
    struct fe_ring:
        const uint8_t *data
        const uint64_t *producer_pos
        uint64_t *consumer_pos
        uint64_t mask
        uint64_t start
        uint64_t end
        uint64_t bytes
        uint64_t count
    struct fe_merge_head:
        pass
    uint64_t fe_ring_pending(const fe_ring *r)
    uint64_t fe_ring_scan(fe_ring *r, uint64_t budget)
    uint64_t fe_ring_copy(const fe_ring *r, uint8_t *out)
    uint64_t fe_rings_merge(const fe_ring *rings, uint32_t n,
                            fe_merge_head *heap, uint8_t *out, uint8_t *origin)
    void fe_ring_release(fe_ring *r)


cdef class BpfRings:
    """Every ring of one probe, drained together.

    `mappings`: one (producer, consumer) pair per ring, in ring order: the
    producer page + data pages mapped twice (read-only) and the consumer
    page (writable), e.g. two `mmap.mmap`.  `data_off`: where the data
    starts in the producer mapping (a page); `size`: the data size (a power
    of two).  The mappings stay exported until `release()` (an mmap cannot
    be closed before)."""
    # one fe_ring per ring: pointers into the mappings, one drain's extent
    cdef fe_ring *rings
    # merge heap, one head per ring
    cdef fe_merge_head *heap
    # 2 per ring: the producer and consumer buffers held
    cdef Py_buffer *views
    # rings set up (and buffers held: 2 * nheld)
    cdef Py_ssize_t n
    cdef Py_ssize_t nheld

    def __cinit__(self, list mappings, Py_ssize_t data_off, uint64_t size):
        cdef Py_ssize_t i, nrings = len(mappings)
        cdef Py_buffer *pv
        cdef Py_buffer *cv
        if size < 8 or size & (size - 1):
            raise ValueError("ring size must be a power of two")
        if nrings < 1:
            raise ValueError("no ring")
        self.rings = <fe_ring *>calloc(nrings, sizeof(fe_ring))
        self.heap = <fe_merge_head *>calloc(nrings, sizeof(fe_merge_head))
        self.views = <Py_buffer *>calloc(2 * nrings, sizeof(Py_buffer))
        if self.rings == NULL or self.heap == NULL or self.views == NULL:
            raise MemoryError()
        for i in range(nrings):
            producer, consumer = mappings[i]
            pv = &self.views[2 * i]
            cv = &self.views[2 * i + 1]
            PyObject_GetBuffer(producer, pv, PyBUF_SIMPLE)
            try:
                PyObject_GetBuffer(consumer, cv, PyBUF_SIMPLE | PyBUF_WRITABLE)
            except BaseException:
                PyBuffer_Release(pv)
                raise
            self.nheld += 1
            # the data is mapped twice after data_off: a record never wraps
            if cv.len < 8 or data_off < 8 or pv.len < data_off + 2 * <Py_ssize_t>size:
                raise ValueError(f"ring {i}: mappings too small")
            self.rings[i].producer_pos = <const uint64_t *>pv.buf
            self.rings[i].consumer_pos = <uint64_t *>cv.buf
            self.rings[i].data = <const uint8_t *>pv.buf + data_off
            self.rings[i].mask = size - 1
        self.n = nrings

    def __dealloc__(self):
        self._release()
        free(self.rings)
        free(self.heap)
        free(self.views)

    cdef void _release(self):
        cdef Py_ssize_t i
        for i in range(self.nheld):
            PyBuffer_Release(&self.views[2 * i])
            PyBuffer_Release(&self.views[2 * i + 1])
        self.nheld = 0
        self.n = 0

    def release(self):
        """Stop using the mappings (they can be closed afterwards)."""
        self._release()

    def __len__(self):
        return self.n

    def pending(self):
        """Bytes committed by the kernel and not drained, every ring."""
        cdef Py_ssize_t i
        cdef uint64_t total = 0
        for i in range(self.n):
            total += fe_ring_pending(&self.rings[i])
        return total

    def drain(self, Py_ssize_t max_bytes=1 << 20):
        """Every ring's ready records (up to about `max_bytes` of each:
        at least one record), in timestamp order, as one bytes object."""
        return self._drain(0, self.n, max_bytes)

    def drain_ring(self, Py_ssize_t index, Py_ssize_t max_bytes=1 << 20):
        """Ring `index`'s ready records, as `drain` but for one ring."""
        if not 0 <= index < self.n:
            raise IndexError("ring index out of range")
        return self._drain(index, index + 1, max_bytes)

    cdef object _drain(self, Py_ssize_t first, Py_ssize_t stop,
                       Py_ssize_t max_bytes):
        cdef Py_ssize_t i, busy = 0, only = -1
        cdef uint64_t total = 0, filled = 0
        cdef uint64_t budget = <uint64_t>max(max_bytes, 0)
        cdef bytes out
        cdef uint8_t *w
        if self.n == 0:
            raise ValueError("BpfRings released")
        with nogil:
            for i in range(first, stop):
                total += fe_ring_scan(&self.rings[i], budget)
                if self.rings[i].count:
                    busy += 1
                    only = i
        out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>total)
        w = <uint8_t *>PyBytes_AS_STRING(out)
        with nogil:
            if busy == 1:
                filled = fe_ring_copy(&self.rings[only], w)
            elif busy > 1:
                filled = fe_rings_merge(self.rings + first,
                                        <uint32_t>(stop - first), self.heap,
                                        w, NULL)
            # only now may the kernel write over what was copied
            for i in range(first, stop):
                fe_ring_release(&self.rings[i])
        if filled != total:
            raise RuntimeError(f"ring drain copied {filled} of {total} bytes")
        return out


def merge_rings(list rings):
    """The C merge on ring images (tests): `rings` is a list of bytes, each
    the data of one ring holding whole framed records from position 0.
    Returns (bytes, origin) as `decoder.merge_by_time`: the records by
    timestamp, and the ring of each."""
    cdef Py_ssize_t i, n = len(rings)
    cdef uint64_t total = 0, count = 0, size
    cdef fe_ring *rs = NULL
    cdef fe_merge_head *heap = NULL
    cdef list copies = []
    cdef bytes out, origin
    cdef const uint8_t *base
    if n < 1 or n > 255:
        # the origin array holds a ring index in a byte
        raise ValueError("between 1 and 255 rings")
    rs = <fe_ring *>calloc(n, sizeof(fe_ring))
    heap = <fe_merge_head *>calloc(n, sizeof(fe_merge_head))
    try:
        if rs == NULL or heap == NULL:
            raise MemoryError()
        for i in range(n):
            data = bytes(rings[i])
            size = 8
            while size < <uint64_t>len(data) + 8:
                size <<= 1
            # producer word, then the data twice (as the kernel maps it)
            img = bytearray(16 + 2 * size)
            img[0:8] = (<uint64_t>len(data)).to_bytes(8, "little")
            img[16:16 + len(data)] = data
            img[16 + size:16 + size + len(data)] = data
            copies.append(img)
            base = <const uint8_t *><char *>img
            rs[i].producer_pos = <const uint64_t *>base
            rs[i].consumer_pos = <uint64_t *>(base + 8)
            rs[i].data = base + 16
            rs[i].mask = size - 1
            fe_ring_scan(&rs[i], <uint64_t>-1)
            total += rs[i].bytes
            count += rs[i].count
        out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>total)
        origin = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>count)
        fe_rings_merge(rs, <uint32_t>n, heap,
                       <uint8_t *>PyBytes_AS_STRING(out),
                       <uint8_t *>PyBytes_AS_STRING(origin))
        return out, origin
    finally:
        free(rs)
        free(heap)

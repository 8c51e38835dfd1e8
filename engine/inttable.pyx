"""A table keyed by a C integer (threads by tid, fds by number).

From Python it reads like a dict of {int: object} (get, items, pop, `in`,
...) whose iteration is in key order; the state engine uses the C-level
`table_find`, `put` and `discard`, which make no Python int and no hash.
"""
cimport cython
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from libc.stdint cimport int64_t, uint32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

cdef object _MISSING = object()

# Smallest table (slots); a table is at most half full after it grows, so
# the probes of a lookup stay short.
DEF MIN_SLOTS = 8


cdef inline bint _live(IntSlot *s) noexcept:
    return s.value != NULL and s.value != <PyObject *>None


@cython.freelist(256)
cdef class IntTable:
    """int64 key -> object (never None)."""

    def __init__(self, items=None):
        if items is None:
            return
        if hasattr(items, "items"):
            items = items.items()
        for key, value in items:
            self.put(key, value)

    def __dealloc__(self):
        cdef uint32_t i
        if self.slots == NULL:
            return
        for i in range(self.mask + 1):
            if _live(&self.slots[i]):
                Py_DECREF(<object>self.slots[i].value)
        free(self.slots)
        self.slots = NULL

    cdef int _resize(self, uint32_t want) except -1:
        """Rehash into a table at most half full with `want` entries,
        dropping the tombstones."""
        cdef uint32_t cap = MIN_SLOTS, i, j, old_cap
        cdef IntSlot *old = self.slots
        cdef IntSlot *fresh
        while cap < 2 * want:
            cap <<= 1
        fresh = <IntSlot *>calloc(cap, sizeof(IntSlot))
        if fresh == NULL:
            raise MemoryError()
        old_cap = self.mask + 1 if old != NULL else 0
        for i in range(old_cap):
            if _live(&old[i]):
                j = <uint32_t>old[i].key & (cap - 1)
                while fresh[j].value != NULL:
                    j = (j + 1) & (cap - 1)
                fresh[j] = old[i]
        free(old)
        self.slots = fresh
        self.mask = cap - 1
        self.filled = self.count
        return 0

    cdef int put(self, int64_t key, object value) except -1:
        """Set `key` to `value`, replacing what it held."""
        cdef uint32_t i
        cdef IntSlot *s
        cdef IntSlot *tomb = NULL
        cdef PyObject *old
        if value is None:
            raise TypeError("an IntTable holds no None values")
        if self.slots == NULL or (self.filled + 1) * 4 > (self.mask + 1) * 3:
            self._resize(self.count + 1)
        i = <uint32_t>key & self.mask
        while True:
            s = &self.slots[i]
            if s.value == NULL:
                break
            if s.value == <PyObject *>None:
                if tomb == NULL:
                    tomb = s
            elif s.key == key:
                old = s.value
                Py_INCREF(value)
                s.value = <PyObject *>value
                Py_DECREF(<object>old)
                return 0
            i = (i + 1) & self.mask
        if tomb != NULL:
            s = tomb
        else:
            self.filled += 1
        Py_INCREF(value)
        s.key = key
        s.value = <PyObject *>value
        self.count += 1
        return 0

    cdef bint discard(self, int64_t key) noexcept:
        """Remove `key`; whether it was there."""
        cdef IntSlot *s = table_slot(self, key)
        cdef PyObject *old
        if s == NULL:
            return False
        old = s.value
        s.value = <PyObject *>None
        self.count -= 1
        if self.count == 0:
            # Empty again: start over without tombstones.
            memset(self.slots, 0, (self.mask + 1) * sizeof(IntSlot))
            self.filled = 0
        Py_DECREF(<object>old)
        return True

    cdef bint next_key(self, uint32_t *cursor, int64_t *key) noexcept:
        """A key, the first one at or after slot `*cursor` (wrapping), which
        then points past it: repeated calls go round the table (the
        victims of a full table, the steps of a purge); False when empty."""
        cdef uint32_t k, i
        if self.count == 0:
            return False
        for k in range(self.mask + 1):
            i = (cursor[0] + k) & self.mask
            if _live(&self.slots[i]):
                key[0] = self.slots[i].key
                cursor[0] = i + 1
                return True
        return False

    cdef list sorted_items(self):
        cdef list out = []
        cdef uint32_t i
        if self.slots != NULL:
            for i in range(self.mask + 1):
                if _live(&self.slots[i]):
                    out.append((self.slots[i].key, <object>self.slots[i].value))
        out.sort(key=_first)
        return out

    # -- the dict-like Python face -------------------------------------------

    def __len__(self):
        return self.count

    def __contains__(self, key):
        if not isinstance(key, int):
            return False
        return table_find(self, key) != NULL

    def __getitem__(self, int64_t key):
        cdef PyObject *v = table_find(self, key)
        if v == NULL:
            raise KeyError(key)
        return <object>v

    def __setitem__(self, int64_t key, value):
        self.put(key, value)

    def __delitem__(self, int64_t key):
        if not self.discard(key):
            raise KeyError(key)

    def get(self, key, default=None):
        cdef PyObject *v
        if not isinstance(key, int):
            return default
        v = table_find(self, key)
        return default if v == NULL else <object>v

    def pop(self, int64_t key, default=_MISSING):
        cdef PyObject *v = table_find(self, key)
        if v == NULL:
            if default is _MISSING:
                raise KeyError(key)
            return default
        value = <object>v
        self.discard(key)
        return value

    def setdefault(self, int64_t key, value):
        cdef PyObject *v = table_find(self, key)
        if v != NULL:
            return <object>v
        self.put(key, value)
        return value

    def clear(self):
        cdef list items = self.sorted_items()
        cdef uint32_t i
        if self.slots != NULL:
            for i in range(self.mask + 1):
                if _live(&self.slots[i]):
                    Py_DECREF(<object>self.slots[i].value)
            free(self.slots)
        self.slots = NULL
        self.mask = 0
        self.count = 0
        self.filled = 0
        del items   # the values go only after the table is consistent

    def copy(self):
        """A new table holding the same objects."""
        return IntTable(self.sorted_items())

    def keys(self):
        return [key for key, _ in self.sorted_items()]

    def values(self):
        return [v for _, v in self.sorted_items()]

    def items(self):
        return self.sorted_items()

    def __iter__(self):
        return iter(self.keys())

    def __eq__(self, other):
        if isinstance(other, IntTable):
            other = dict((<IntTable>other).sorted_items())
        return dict(self.sorted_items()) == other

    __hash__ = None

    def __repr__(self):
        return f"IntTable({dict(self.sorted_items())!r})"


def _first(pair):
    return pair[0]

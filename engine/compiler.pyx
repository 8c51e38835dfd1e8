# cython: language_level=3
"""Compile condition ASTs once into trees of typed evaluator objects.

Each node is a cdef class whose `eval` is a C-level virtual call; the tree
is walked in C for every candidate event, never as Python.  Constants are
parsed at compile time into the form the comparison needs (C integers,
bytes, sets, compiled patterns), so evaluation does no parsing.
Why cdef classes rather than generated Cython source: rules load in
milliseconds (no C compiler at run time) and the per-node cost is one
indirect call, small next to field extraction.
"""
import base64
import ipaddress
import posixpath
import re

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_ITEMS
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcmp, memcpy

from falco_engine.decoder cimport fe_evt
from falco_engine.evalctx cimport (
    EventCtx, FieldExtractor, Value, VK_NONE, VK_INT, VK_UINT, VK_BOOL,
    VK_STR, VK_IP, VK_DOUBLE, VK_LIST, value_to_python, ctx_param,
)
from falco_engine.event_table cimport FE_EVENT_MAX, FE_SYSCALL_MAX
from falco_engine import fields as _fields
from falco_engine import filter_ast as ast
from falco_engine import table as _table

cdef extern from "fnmatch.h" nogil:
    int fnmatch(const char *pattern, const char *string, int flags)
    int FNM_CASEFOLD

cdef extern from "string.h" nogil:
    void *memmem(const void *h, size_t hl, const void *n, size_t nl)


class CompileError(ValueError):
    """A condition this engine cannot evaluate (with the node's offset)."""

    def __init__(self, message, pos=0):
        super().__init__(message)
        self.pos = pos


# ---------------------------------------------------------------------------
# Boolean structure

cdef class Node:
    cdef bint eval(self, EventCtx ctx) except -1:
        return False

    def evaluate(self, EventCtx ctx):
        """Python entry point (tests)."""
        return self.eval(ctx)


# And/Or read their children straight from the tuple's item array: the
# tuple holds them for the node's life, so each needs no reference and no
# type test per evaluation (a `for k in tuple` loop paid both per child).
cdef class AndNode(Node):
    cdef tuple kids             # Node objects (set once, by the compiler)

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef PyObject **kid = PySequence_Fast_ITEMS(self.kids)
        cdef Py_ssize_t i
        for i in range(PyTuple_GET_SIZE(self.kids)):
            if not (<Node>kid[i]).eval(ctx):
                return False
        return True


cdef class OrNode(Node):
    cdef tuple kids             # Node objects (set once, by the compiler)

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef PyObject **kid = PySequence_Fast_ITEMS(self.kids)
        cdef Py_ssize_t i
        for i in range(PyTuple_GET_SIZE(self.kids)):
            if (<Node>kid[i]).eval(ctx):
                return True
        return False


cdef class NotNode(Node):
    cdef Node kid

    cdef bint eval(self, EventCtx ctx) except -1:
        return not self.kid.eval(ctx)


cdef class EvtTypeNode(Node):
    """evt.type = / != / in: a bitmap over event numbers, and one over
    syscall codes for generic events (whose evt.type is the syscall)."""
    cdef uint8_t types[1024]
    cdef uint8_t syscalls[1024]

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef uint16_t t = ctx.evt.type
        cdef uint32_t plen
        cdef const uint8_t *p
        cdef uint16_t sc
        if t <= 1:
            p = ctx_param(ctx, 0, &plen)
            if p == NULL or plen < 2:
                return False
            memcpy(&sc, p, 2)
            return sc < 1024 and self.syscalls[sc] != 0
        return t < 1024 and self.types[t] != 0


def event_numbers(names):
    """(event numbers, syscall codes) whose evt.type is one of `names`."""
    wanted = set(names)
    types = {e.id for e in _table.EVENTS if e.name in wanted and e.id > 1}
    codes = {i for i, n in enumerate(_table.SYSCALL_NAMES) if n in wanted}
    return types, codes


cdef EvtTypeNode _evttype_node(names, bint negate):
    cdef EvtTypeNode n = EvtTypeNode.__new__(EvtTypeNode)
    types, codes = event_numbers(names)
    cdef int i
    for i in range(1024):
        n.types[i] = 1 if ((i in types) != negate) else 0
        n.syscalls[i] = 1 if ((i in codes) != negate) else 0
    return n


cdef class TrueNode(Node):
    """A condition every event the rule is given passes (see fold_indexed)."""

    cdef bint eval(self, EventCtx ctx) except -1:
        return True


cdef bint _covers(EvtTypeNode n, types, codes):
    """Whether `n` is true for every event of numbers `types` and every
    generic event of syscall codes `codes`."""
    for t in types:
        if not (0 <= t < 1024 and n.types[t]):
            return False
    for c in codes:
        if not (0 <= c < 1024 and n.syscalls[c]):
            return False
    return True


cdef Node _fold(Node n, types, codes):
    cdef AndNode a
    if isinstance(n, EvtTypeNode) and _covers(<EvtTypeNode>n, types, codes):
        return TrueNode.__new__(TrueNode)
    if not isinstance(n, AndNode):
        return n
    kids = []
    changed = False
    for k in (<AndNode>n).kids:
        f = _fold(<Node>k, types, codes)
        if f is not k:
            changed = True
        if not isinstance(f, TrueNode):
            kids.append(f)
    if not changed:
        return n
    if not kids:
        return TrueNode.__new__(TrueNode)
    if len(kids) == 1:
        return <Node>kids[0]
    a = AndNode.__new__(AndNode)
    a.kids = tuple(kids)
    return a


def fold_indexed(Node cond, types, codes):
    """`cond` as the rule index sees it: given only events of numbers
    `types` and generic events of syscall codes `codes` (the rule's
    evt.type set), an evt.type test every one of them passes is dropped
    from the conjunctions it sits in (most rules open with one, then
    test fields).  Or and not are left whole.  A new tree where anything
    changed: `cond` may share macro subtrees with other rules."""
    return _fold(cond, types, codes)


# ---------------------------------------------------------------------------
# Comparisons

cdef enum Op:
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_ICONTAINS,
    OP_BCONTAINS, OP_STARTSWITH, OP_BSTARTSWITH, OP_ENDSWITH, OP_GLOB,
    OP_IGLOB, OP_REGEX, OP_IN, OP_INTERSECTS, OP_PMATCH, OP_EXISTS

_OPS = {"=": OP_EQ, "==": OP_EQ, "!=": OP_NE, "<": OP_LT, "<=": OP_LE,
        ">": OP_GT, ">=": OP_GE, "contains": OP_CONTAINS,
        "icontains": OP_ICONTAINS, "bcontains": OP_BCONTAINS,
        "startswith": OP_STARTSWITH, "bstartswith": OP_BSTARTSWITH,
        "endswith": OP_ENDSWITH, "glob": OP_GLOB, "iglob": OP_IGLOB,
        "regex": OP_REGEX, "in": OP_IN, "intersects": OP_INTERSECTS,
        "pmatch": OP_PMATCH, "exists": OP_EXISTS}


cdef inline bint _bytes_match(int op, const char *s, Py_ssize_t n, bytes c,
                              object pattern) except -1:
    """One string comparison of value s[:n] against constant c."""
    cdef Py_ssize_t cn = len(c)
    cdef const char *cs = c
    if op == OP_EQ:
        return n == cn and memcmp(s, cs, n) == 0
    if op == OP_NE:
        return not (n == cn and memcmp(s, cs, n) == 0)
    if op == OP_CONTAINS or op == OP_BCONTAINS:
        return cn == 0 or memmem(s, n, cs, cn) != NULL
    if op == OP_STARTSWITH or op == OP_BSTARTSWITH:
        return n >= cn and memcmp(s, cs, cn) == 0
    if op == OP_ENDSWITH:
        return n >= cn and memcmp(s + n - cn, cs, cn) == 0
    if op == OP_ICONTAINS:
        return c in s[:n].lower()
    if op == OP_GLOB or op == OP_IGLOB:
        return fnmatch(cs, PyBytes_FromStringAndSize(s, n),
                       FNM_CASEFOLD if op == OP_IGLOB else 0) == 0
    if op == OP_REGEX:
        return pattern.fullmatch(s[:n]) is not None
    if op == OP_LT:
        return s[:n] < c
    if op == OP_LE:
        return s[:n] <= c
    if op == OP_GT:
        return s[:n] > c
    if op == OP_GE:
        return s[:n] >= c
    return False


cdef bint _pmatch(bytes value, tuple prefixes):
    """Path prefix match: some prefix's components (globs allowed) match
    the leading components of the path."""
    parts = value.split(b"/")
    for pre in prefixes:
        pparts = (<bytes>pre).rstrip(b"/").split(b"/")
        if len(pparts) > len(parts):
            continue
        ok = True
        for a, b in zip(pparts, parts):
            if a != b and fnmatch(a, b, 0) != 0:
                ok = False
                break
        if ok:
            return True
    return False


cdef class StrCmp(Node):
    """A string field against constants."""
    cdef FieldExtractor ex
    cdef int op
    cdef bytes const          # single-value operators
    cdef frozenset values     # in / intersects
    cdef tuple items          # pmatch prefixes; modifier values
    cdef object pattern       # compiled regex
    cdef int modifier         # 0 none, 1 oneof/anyof, 2 allof
    cdef bint any_in          # `in` on several values: any of them (else all)
    # in / intersects: which lengths (255: that or more) and first bytes the
    # values have.  Most lookups miss, and these reject most misses before
    # a bytes object is made and hashed for the set.
    cdef uint8_t in_len[256]
    cdef uint8_t in_first[256]

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef Value v
        v.kind = VK_NONE
        v.obj = NULL
        self.ex.extract(ctx, &v)
        if v.kind == VK_NONE:
            return False
        if v.kind == VK_LIST:
            return self._list(<tuple>v.obj)
        if v.kind != VK_STR:
            return self._other(&v)
        return self._one(v.s, v.n)

    cdef bint _one(self, const char *s, Py_ssize_t n) except -1:
        cdef bytes c
        if self.op == OP_IN or self.op == OP_INTERSECTS:
            if n < 255 and not (self.in_len[n] and
                                (n == 0 or self.in_first[<uint8_t>s[0]])):
                return False
            return s[:n] in self.values
        if self.op == OP_PMATCH:
            return _pmatch(s[:n], self.items)
        if self.modifier == 0:
            return _bytes_match(self.op, s, n, self.const, self.pattern)
        if self.modifier == 1:
            for c in self.items:
                if _bytes_match(self.op, s, n, c, None):
                    return True
            return False
        for c in self.items:
            if not _bytes_match(self.op, s, n, c, None):
                return False
        return True

    cdef bint _list(self, tuple vals) except -1:
        # List-valued fields (fd.types): `in` is "all of them are in";
        # scalar fields that yield several values (proc.aname without an
        # index, fd.port: either end) match when any value does.
        # `intersects` is "one of them is in"; other operators hold for any.
        # (Loops, not all()/any() over generators: a generator in a cdef
        # method makes Cython allocate a closure on every call of it.)
        if self.op == OP_IN and not self.any_in:
            for x in vals:
                if x not in self.values:
                    return False
            return len(vals) > 0
        if self.op == OP_INTERSECTS:
            for x in vals:
                if x in self.values:
                    return True
            return False
        for x in vals:
            if self._one(<bytes>x, len(<bytes>x)):
                return True
        return False

    cdef bint _other(self, Value *v) except -1:
        text = str(value_to_python(v)).encode()
        return self._one(text, len(text))


cdef class NumCmp(Node):
    """A numeric field against integer constants."""
    cdef FieldExtractor ex
    cdef int op
    cdef int64_t ci
    cdef uint64_t cu
    cdef bint neg             # constant is negative
    cdef frozenset values     # in / intersects
    cdef bint any_in          # `in` on several values: any of them (else all)

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef Value v
        v.kind = VK_NONE
        v.obj = NULL
        self.ex.extract(ctx, &v)
        if v.kind == VK_INT:
            return self._cmp_signed(v.i)
        if v.kind == VK_UINT or v.kind == VK_BOOL:
            if v.u > <uint64_t>0x7FFFFFFFFFFFFFFF:
                return self._cmp_big(v.u)
            return self._cmp_signed(<int64_t>v.u)
        if v.kind == VK_LIST:
            vals = <tuple>v.obj
            # (Loops, not all()/any() over generators: see StrCmp._list.)
            if self.op == OP_IN and not self.any_in:
                for x in vals:
                    if int(x) not in self.values:
                        return False
                return len(vals) > 0
            if self.op == OP_IN or self.op == OP_INTERSECTS:
                for x in vals:
                    if int(x) in self.values:
                        return True
                return False
            if self.op == OP_NE:          # neither end equals (fd.port != 22)
                for x in vals:
                    if not self._cmp_signed(int(x)):
                        return False
                return len(vals) > 0
            for x in vals:
                if self._cmp_signed(int(x)):
                    return True
            return False
        return False

    cdef bint _cmp_signed(self, int64_t x) except -1:
        cdef int op = self.op
        if op == OP_IN or op == OP_INTERSECTS:
            return x in self.values
        if op == OP_EQ:
            return x == self.ci
        if op == OP_NE:
            return x != self.ci
        if op == OP_LT:
            return x < self.ci
        if op == OP_LE:
            return x <= self.ci
        if op == OP_GT:
            return x > self.ci
        if op == OP_GE:
            return x >= self.ci
        return False

    cdef bint _cmp_big(self, uint64_t x) except -1:
        # Values above INT64_MAX: exact unsigned comparisons.
        cdef int op = self.op
        if op == OP_IN or op == OP_INTERSECTS:
            return x in self.values
        if self.neg:
            return op == OP_NE or op == OP_GT or op == OP_GE
        if op == OP_EQ:
            return x == self.cu
        if op == OP_NE:
            return x != self.cu
        if op == OP_LT:
            return x < self.cu
        if op == OP_LE:
            return x <= self.cu
        if op == OP_GT:
            return x > self.cu
        if op == OP_GE:
            return x >= self.cu
        return False


cdef class IpCmp(Node):
    """An address field against addresses or networks.  The networks are
    kept as (length, network bytes, mask bytes) for a C compare per event."""
    cdef FieldExtractor ex
    cdef int op
    cdef bytes net_bytes            # per network: 16 address + 16 mask bytes
    cdef bytes net_lens             # per network: 4 or 16
    cdef Py_ssize_t nnets

    cdef set_nets(self, tuple nets):
        self.nnets = len(nets)
        packed = bytearray()
        lens = bytearray()
        for net in nets:
            width = 4 if net.version == 4 else 16
            packed += net.network_address.packed.ljust(16, b"\0")
            packed += net.netmask.packed.ljust(16, b"\0")
            lens.append(width)
        self.net_bytes = bytes(packed)
        self.net_lens = bytes(lens)

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef Value v
        cdef Py_ssize_t k, n, seen = 0
        cdef bint hit
        v.kind = VK_NONE
        v.obj = NULL
        self.ex.extract(ctx, &v)
        if v.kind == VK_IP:
            return self._one(v.ip, v.n)
        if v.kind == VK_LIST:
            # fd.ip / fd.net: either end of the connection.  libsinsp checks
            # both addresses: "=" holds if one end matches, "!=" only if
            # neither does.
            n = len(<tuple>v.obj)
            for k in range(n):
                raw = (<tuple>v.obj)[k]
                if not isinstance(raw, bytes) or len(<bytes>raw) not in (4, 16):
                    continue
                seen += 1
                hit = self._one(<const uint8_t *><const char *>(<bytes>raw), len(<bytes>raw))
                if self.op == OP_NE and not hit:
                    return False
                if self.op != OP_NE and hit:
                    return True
            return seen > 0 and self.op == OP_NE
        return False

    cdef bint _one(self, const uint8_t *ip, Py_ssize_t n) noexcept:
        cdef const uint8_t *nets = <const uint8_t *><const char *>self.net_bytes
        cdef const uint8_t *lens = <const uint8_t *><const char *>self.net_lens
        cdef Py_ssize_t i, j
        cdef bint hit = False
        for i in range(self.nnets):
            if lens[i] != n:
                continue
            for j in range(n):
                if (ip[j] & nets[i * 32 + 16 + j]) != nets[i * 32 + j]:
                    break
            else:
                hit = True
                break
        return (not hit) if self.op == OP_NE else hit


cdef class ExistsNode(Node):
    cdef FieldExtractor ex

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef Value v
        v.kind = VK_NONE
        v.obj = NULL
        self.ex.extract(ctx, &v)
        return v.kind != VK_NONE


cdef class FieldCmp(Node):
    """field op val(other field): both sides extracted per event."""
    cdef FieldExtractor left
    cdef FieldExtractor right
    cdef int op

    cdef bint eval(self, EventCtx ctx) except -1:
        cdef Value a, b
        a.kind = VK_NONE
        b.kind = VK_NONE
        a.obj = NULL
        b.obj = NULL
        self.left.extract(ctx, &a)
        self.right.extract(ctx, &b)
        if a.kind == VK_NONE or b.kind == VK_NONE:
            return False
        x = value_to_python(&a)
        y = value_to_python(&b)
        if isinstance(x, bytes) or isinstance(y, bytes):
            xs = x if isinstance(x, bytes) else str(x).encode()
            ys = y if isinstance(y, bytes) else str(y).encode()
            return _bytes_match(self.op, xs, len(xs), ys, None)
        op = self.op
        if op == OP_EQ:
            return x == y
        if op == OP_NE:
            return x != y
        if op == OP_LT:
            return x < y
        if op == OP_LE:
            return x <= y
        if op == OP_GT:
            return x > y
        if op == OP_GE:
            return x >= y
        return False


# ---------------------------------------------------------------------------
# Transformers: extractors wrapping extractors.

cdef class TransformExtractor(FieldExtractor):
    cdef FieldExtractor inner
    cdef str kind

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef Value v
        v.kind = VK_NONE
        v.obj = NULL
        self.inner.extract(ctx, &v)
        if v.kind == VK_NONE:
            return 0
        k = self.kind
        if v.kind == VK_LIST:
            vals = <tuple>v.obj
            if k == "len":
                out.kind = VK_UINT
                out.u = len(vals)
                return 0
            vals = tuple([self._str(x) for x in vals])
            ctx.keep.append(vals)
            out.kind = VK_LIST
            out.obj = <PyObject_ptr>vals
            return 0
        if v.kind != VK_STR:
            if k == "len":
                out.kind = VK_UINT
                out.u = len(str(value_to_python(&v)))
                return 0
            data = str(value_to_python(&v)).encode()
        else:
            data = v.s[:v.n]
        if k == "len":
            out.kind = VK_UINT
            out.u = len(data)
            return 0
        ctx.set_str(out, self._str(data))
        return 0

    cdef bytes _str(self, bytes data):
        k = self.kind
        if k == "tolower":
            return data.lower()
        if k == "toupper":
            return data.upper()
        if k == "basename":
            return posixpath.basename(data)
        if k == "b64":
            try:
                return base64.b64decode(data, validate=True)
            except Exception:
                return b""
        return data


from cpython.ref cimport PyObject
ctypedef PyObject *PyObject_ptr


# ---------------------------------------------------------------------------
# The compiler

NUMERIC_FAMILY = frozenset(("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
                            "UINT32", "UINT64", "RELTIME", "ABSTIME", "PORT",
                            "ERRNO", "FD", "PID", "SYSCALLID", "UID", "GID",
                            "SIGTYPE", "MODE", "FLAGS8", "FLAGS16", "FLAGS32",
                            "DOUBLE"))
IP_FAMILY = frozenset(("IPADDR", "IPV4ADDR", "IPV6ADDR", "IPNET", "IPV4NET", "IPV6NET"))


def _parse_int(text):
    t = text.strip()
    try:
        if t.lower().startswith(("0x", "-0x")):
            return int(t, 16)
        return int(t, 10)
    except ValueError:
        return None


def _parse_bool(text):
    t = text.strip().lower()
    if t in ("true", "1"):
        return 1
    if t in ("false", "0"):
        return 0
    return None


def _net(text):
    t = text.strip()
    if "/" in t:
        return ipaddress.ip_network(t, strict=False)
    addr = ipaddress.ip_address(t)
    return ipaddress.ip_network(addr)


class Compiler:
    """Turns expanded condition ASTs into `Node` trees.

    `extractor_factories` are callables (name, arg, ftype, field_text) ->
    FieldExtractor | None, tried in order.  Fields the catalog knows but no
    factory builds are recorded in `missing` (the caller warns about them):
    they compile to extractors that have no value, so comparisons on them
    are false.  `fields` holds the catalog name of every field compiled
    (what the state engine must keep up to date).
    """

    def __init__(self, extractor_factories):
        self.factories = list(extractor_factories)
        self.missing = set()
        self.fields = set()         # catalog names of every field compiled
        self._cache = {}

    def extractor(self, ref):
        if isinstance(ref, ast.Transform):
            return self._transform(ref)
        if not isinstance(ref, ast.FieldRef):
            raise CompileError(f"not a field: {ast.to_string(ref)}", getattr(ref, "pos", 0))
        text = ast.to_string(ref)
        if text in self._cache:
            return self._cache[text]
        found = _fields.resolve(ref.name)
        if found is None:
            raise CompileError(f"unknown field '{ref.name}'", ref.pos)
        info, dotted = found
        self.fields.add(info.name)
        arg = ref.arg if ref.arg is not None else dotted
        ex = None
        for factory in self.factories:
            ex = factory(info.name, arg, info.type, text)
            if ex is not None:
                break
        if ex is None:
            self.missing.add(info.name)
            ex = FieldExtractor(text, info.type)
        self._cache[text] = ex
        return ex

    def _transform(self, node):
        if node.name == "val":
            return self.extractor(node.args[0])
        if node.name not in ("tolower", "toupper", "b64", "basename", "len"):
            raise CompileError(f"transformer {node.name}() is not supported yet", node.pos)
        cdef TransformExtractor t = TransformExtractor.__new__(TransformExtractor)
        inner = self.extractor(node.args[0])
        FieldExtractor.__init__(t, ast.to_string(node),
                                "UINT64" if node.name == "len" else "CHARBUF")
        t.inner = inner
        t.kind = node.name
        return t

    def compile(self, node):
        cdef AndNode a
        cdef OrNode o
        cdef NotNode n
        if isinstance(node, ast.BoolOp):
            kids = tuple(self.compile(c) for c in node.children)
            if node.op == "and":
                a = AndNode.__new__(AndNode)
                a.kids = kids
                return a
            o = OrNode.__new__(OrNode)
            o.kids = kids
            return o
        if isinstance(node, ast.Not):
            n = NotNode.__new__(NotNode)
            n.kid = self.compile(node.child)
            return n
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Identifier):
            raise CompileError(f"undefined macro '{node.name}'", node.pos)
        raise CompileError(f"cannot compile {node!r}", getattr(node, "pos", 0))

    def _values(self, right):
        if isinstance(right, ast.ListValue):
            return list(right.items)
        if isinstance(right, ast.Value):
            return [right.text]
        if right is None:
            return []
        raise CompileError(f"unsupported right-hand side {ast.to_string(right)}",
                           getattr(right, "pos", 0))

    def _compare(self, node):
        cdef ExistsNode e
        cdef FieldCmp fc
        op = node.op
        left = node.left
        if op not in _OPS:
            raise CompileError(f"unknown operator {op}", node.pos)
        if (isinstance(left, ast.FieldRef) and left.name == "evt.type"
                and left.arg is None and node.modifier is None
                and op in ("=", "==", "!=", "in") and not isinstance(node.right, ast.Transform)):
            return _evttype_node(self._values(node.right), op == "!=")
        ex = self.extractor(left)
        if op == "exists":
            e = ExistsNode.__new__(ExistsNode)
            e.ex = ex
            return e
        if isinstance(node.right, ast.Transform):
            fc = FieldCmp.__new__(FieldCmp)
            fc.left = ex
            fc.right = self.extractor(node.right)
            fc.op = _OPS[op]
            return fc
        values = self._values(node.right)
        ftype = ex.ftype
        if ftype in IP_FAMILY:
            return self._ip(ex, op, values, node)
        if ftype in NUMERIC_FAMILY and op in ("=", "==", "!=", "<", "<=", ">", ">=",
                                              "in", "intersects"):
            ints = [_parse_int(v) for v in values]
            if ftype == "PORT":
                ints = [i if i is not None else _fields.port_number(v)
                        for i, v in zip(ints, values)]
            if all(i is not None for i in ints):
                return self._num(ex, op, ints)
        if ftype == "BOOL" and op in ("=", "==", "!="):
            b = _parse_bool(values[0]) if values else None
            if b is not None:
                return self._num(ex, op, [b])
        return self._str(ex, op, values, node)

    def _any_in(self, ex):
        found = _fields.resolve(ex.field.split("[", 1)[0])
        return not (found is not None and found[0].list_valued)

    def _num(self, ex, op, ints):
        cdef NumCmp n = NumCmp.__new__(NumCmp)
        n.ex = ex
        n.any_in = self._any_in(ex)
        n.op = _OPS[op]
        n.values = frozenset(ints)
        first = ints[0] if ints else 0
        n.neg = first < 0
        n.ci = max(min(first, 0x7FFFFFFFFFFFFFFF), -0x8000000000000000)
        n.cu = first & 0xFFFFFFFFFFFFFFFF if first >= 0 else 0
        return n

    def _ip(self, ex, op, values, node):
        cdef IpCmp n = IpCmp.__new__(IpCmp)
        if op not in ("=", "==", "!=", "in", "intersects"):
            return self._str(ex, op, values, node)
        try:
            n.set_nets(tuple(_net(v) for v in values))
        except ValueError as exc:
            raise CompileError(f"bad address or network: {exc}", node.pos)
        n.ex = ex
        n.op = _OPS[op]
        return n

    def _str(self, ex, op, values, node):
        cdef StrCmp s = StrCmp.__new__(StrCmp)
        s.ex = ex
        s.op = _OPS[op]
        s.any_in = self._any_in(ex)
        enc = [v.encode("utf-8", "surrogateescape") for v in values]
        if op in ("bcontains", "bstartswith"):
            try:
                enc = [bytes.fromhex(v) for v in values]
            except ValueError:
                raise CompileError("bcontains/bstartswith take hex bytes", node.pos)
        if op == "icontains":
            enc = [v.lower() for v in enc]
        s.values = frozenset(enc)
        for v in enc:
            s.in_len[min(len(v), 255)] = 1
            if v:
                s.in_first[v[0]] = 1
        s.items = tuple(enc)
        s.const = enc[0] if enc else b""
        s.modifier = 0
        if node.modifier in ("oneof", "anyof"):
            s.modifier = 1
        elif node.modifier == "allof":
            s.modifier = 2
        if op == "regex":
            try:
                s.pattern = re.compile(s.const)
            except re.error as exc:
                raise CompileError(f"bad regular expression: {exc}", node.pos)
        return s

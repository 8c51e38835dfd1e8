# cython: language_level=3
"""Run compiled rules over event batches.

For every event, in stream order: the state engine (when attached) updates
from it, then only the rules indexed under the event's type are evaluated.
A Python object is made only for a match: the alert, with its output
formatted at that moment (state may change with the next event).
"""
import re
import time as _time

cimport cython

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_ITEMS
from cpython.tuple cimport PyTuple_GET_SIZE
from falco_engine.decoder cimport EventBatch
from falco_engine.evalctx cimport (
    EventCtx, FieldExtractor, StateHook, Value, VK_NONE, value_to_python,
    value_to_text, ctx_set_event,
)
from falco_engine.compiler cimport Node
from falco_engine.event_table cimport FE_EVENT_MAX, FE_SYSCALL_MAX
from falco_engine import compiler as _compiler
from falco_engine import table as _table

# Category bit of events that are system calls (enter/exit pairs).
EC_SYSCALL_BIT = 512


cdef inline uint64_t _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


# %field, %field[arg], %evt.arg.name; a transformer around a field is
# written %tolower(proc.name).
_TOKEN = re.compile(
    r"%(?:(?P<tr>tolower|toupper|b64|basename|len)\(\s*)?"
    r"(?P<field>[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+)"
    r"(?P<arg>\[[^\]]*\])?(?(tr)\s*\))")


# Control characters in field values (attacker-chosen file names, argv)
# must not forge lines or terminal sequences in text outputs.
_CONTROL = {i: f"\\x{i:02x}" for i in list(range(0x20)) + [0x7f]}
_CONTROL.update({0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t"})


cdef str _escape_text(str text):
    for ch in text:
        if ord(ch) < 0x20 or ord(ch) == 0x7f:
            return text.translate(_CONTROL)
    return text


cdef class OutputFormat:
    """A rule output compiled into literal text and field extractors."""
    cdef list literals            # len(extractors) + 1 strings
    cdef list extractors
    cdef readonly tuple field_names

    def __init__(self, str fmt, compiler):
        from falco_engine import filter_ast as ast
        self.literals = []
        self.extractors = []
        names = []
        pos = 0
        for m in _TOKEN.finditer(fmt):
            self.literals.append(fmt[pos:m.start()])
            arg = m.group("arg")[1:-1] if m.group("arg") else None
            ref = ast.FieldRef(m.group("field"), arg)
            if m.group("tr"):
                ref = ast.Transform(m.group("tr"), (ref,))
            self.extractors.append(compiler.extractor(ref))
            names.append(m.group(0)[1:])
            pos = m.end()
        self.literals.append(fmt[pos:])
        self.field_names = tuple(names)

    def render(self, EventCtx ctx):
        """(output text, {field: typed value or None})."""
        return self._render(ctx)

    cdef tuple _render(self, EventCtx ctx):
        cdef FieldExtractor ex
        cdef Value v
        cdef Py_ssize_t i
        if not self.extractors:
            return self.literals[0], {}
        parts = [self.literals[0]]
        values = {}
        for i in range(len(self.extractors)):
            ex = <FieldExtractor>self.extractors[i]
            v.kind = VK_NONE
            v.obj = NULL
            ex.extract(ctx, &v)
            parts.append(_escape_text(value_to_text(&v, ex.ftype, ex.hex_text)))
            parts.append(self.literals[i + 1])
            py = value_to_python(&v)
            if isinstance(py, bytes):
                py = py.decode("utf-8", "replace")
            elif py is not None and not isinstance(py, (int, float, bool, str)):
                py = str(py)
            values[self.field_names[i]] = py
        return "".join(parts), values


cdef class CompiledRule:
    cdef readonly str name
    cdef readonly int priority          # 0 EMERGENCY .. 7 DEBUG
    cdef readonly tuple tags
    cdef readonly str source
    cdef readonly object evttypes       # set of names, or None for all
    cdef Node cond
    cdef readonly OutputFormat output
    # profiling (counted only when the engine profiles)
    cdef public uint64_t evals
    cdef public uint64_t matches
    cdef public uint64_t ns

    def __init__(self, str name, Node cond, OutputFormat output, int priority,
                 tuple tags, str source, object evttypes):
        self.name = name
        # The runner gives a rule only events of its evt.type set (the
        # index below): evt.type tests those all pass cost nothing.
        self.cond = cond if evttypes is None else \
            _compiler.fold_indexed(cond, *_compiler.event_numbers(evttypes))
        self.output = output
        self.priority = priority
        self.tags = tags
        self.source = source
        self.evttypes = evttypes


@cython.no_gc
cdef class Alert:
    """One rule match, formatted.  An extension type: the engine makes one
    per match, and a Python-level __init__ call cost more than the match.
    Not tracked by the cyclic GC (it holds only strings, numbers, a tuple
    and a dict of plain values, never itself): under a match storm the
    collector walking every alert cost a quarter of the run."""
    cdef public object ts
    cdef public object rule
    cdef public object priority
    cdef public object output
    cdef public object output_fields
    cdef public object tags
    cdef public object source
    cdef public object evt_num

    def __init__(self, ts, rule, priority, output, output_fields, tags, source,
                 evt_num):
        self.ts = ts
        self.rule = rule
        self.priority = priority
        self.output = output
        self.output_fields = output_fields
        self.tags = tags
        self.source = source
        self.evt_num = evt_num

    def __repr__(self):
        return f"<Alert {self.rule!r} evt {self.evt_num}>"


cdef Alert _new_alert(EventCtx ctx, CompiledRule r, tuple rendered):
    cdef Alert a = Alert.__new__(Alert)
    a.ts = ctx.evt.ts
    a.rule = r.name
    a.priority = r.priority
    a.output = rendered[0]
    a.output_fields = rendered[1]
    a.tags = r.tags
    a.source = r.source
    a.evt_num = ctx.evt.num
    return a


# The last RuleEngine.wanted_serial drawn (the state engine keeps tables
# derived from a runner's wanted tables while the serial stays the same).
cdef uint64_t _wanted_serials = 0


cdef class RuleEngine:
    """Rules indexed by event type, evaluated over batches."""
    cdef list rules
    cdef list index                 # event type -> tuple of CompiledRule
    cdef list generic_index         # syscall code -> tuple, for generic events
    cdef EventCtx ctx
    cdef StateHook state
    cdef bint first_match
    cdef bint profile
    cdef uint8_t evaluate[1024]     # event type -> rules look at it
    cdef uint8_t wanted[1024]       # evaluate, and some rule is indexed there
    cdef uint8_t *wanted_sc         # syscall code -> a rule is (generic events)
    cdef uint64_t wanted_serial     # this engine's: names its wanted tables
    cdef readonly uint64_t events
    cdef readonly uint64_t matched

    def __init__(self, rules, state=None, bint first_match=True, bint profile=False,
                 bint syscall_enter_events=False):
        """`syscall_enter_events`: also evaluate rules on syscall enter
        events.  Falco (0.42+) judges syscalls on their exit events only
        (evt.dir = < is always true); sysdig and older Falco saw both, so
        comparisons with them turn this on.  State always sees both."""
        self.rules = list(rules)
        cdef int t
        for t in range(1024):
            self.evaluate[t] = 1
            if (t < FE_EVENT_MAX and t % 2 == 0 and not syscall_enter_events
                    and _table.EVENTS[t].category & EC_SYSCALL_BIT):
                self.evaluate[t] = 0
        self.state = state
        self.first_match = first_match
        self.profile = profile
        self.ctx = EventCtx()
        self.ctx.state = state
        self.ctx.exit_args_from_enter = not syscall_enter_events
        self.events = 0
        self.matched = 0
        buckets = [[] for _ in range(FE_EVENT_MAX)]
        # Generic events carry the syscall in their first parameter: a
        # second index by syscall code keeps, say, an execve rule from being
        # evaluated on every getpid.
        generic = [[] for _ in range(FE_SYSCALL_MAX)]
        for r in self.rules:
            if r.evttypes is None:
                targets = range(FE_EVENT_MAX)
                codes = range(FE_SYSCALL_MAX)
            else:
                types, codes = _compiler.event_numbers(r.evttypes)
                targets = set(types)
            for t in targets:
                buckets[t].append(r)
            for c in codes:
                generic[c].append(r)
        self.index = [tuple(b) for b in buckets]
        self.generic_index = [tuple(g) for g in generic]
        any_generic = any(self.generic_index)
        self.wanted_sc = <uint8_t *>calloc(FE_SYSCALL_MAX, 1)
        if self.wanted_sc == NULL:
            raise MemoryError()
        for t in range(FE_SYSCALL_MAX):
            self.wanted_sc[t] = len(self.generic_index[t]) > 0
        global _wanted_serials
        _wanted_serials += 1
        self.wanted_serial = _wanted_serials
        for t in range(1024):
            self.wanted[t] = self.evaluate[t] and (
                (t < FE_EVENT_MAX and len(self.index[t]) > 0)
                or (t <= 1 and any_generic))

    cdef tuple _generic_candidates(self, EventCtx ctx):
        cdef uint32_t plen
        cdef const uint8_t *p = ctx.param(0, &plen)
        cdef uint16_t sc
        if p == NULL or plen < 2:
            return ()
        memcpy(&sc, p, 2)
        if sc >= FE_SYSCALL_MAX:
            return ()
        return <tuple>self.generic_index[sc]

    def __dealloc__(self):
        free(self.wanted_sc)

    def carry_counts(self, RuleEngine previous):
        """Continue the event and match counts of an engine this one
        replaces (a rules reload)."""
        self.events += previous.events
        self.matched += previous.matched

    def rules_for_type(self, int t):
        return self.index[t]

    def process(self, EventBatch batch, list alerts, object on_event=None):
        """Evaluate every event of `batch`; append an Alert per match."""
        cdef Py_ssize_t i, n = len(batch)
        cdef EventCtx ctx = self.ctx
        cdef tuple cands
        cdef CompiledRule r
        cdef uint64_t t0
        cdef bint hit
        cdef StateHook state = self.state
        cdef Py_ssize_t j, k
        cdef PyObject **rules
        cdef bint taken = False
        i = 0
        while i < n:
            if state is not None:
                # Events no rule looks at only update state: in one C loop,
                # which may also take the next one some rule looks at.
                j = state.run_quiet(ctx, batch, i, n, self.wanted, self.wanted_sc,
                                    self.wanted_serial, &taken)
                self.events += <uint64_t>(j - i)
                i = j
                if not taken and i >= n:
                    break
            if not taken:
                ctx_set_event(ctx, batch, i)
                i += 1
                self.events += 1
                if state is not None:
                    state.process(ctx)
            if not self.evaluate[ctx.evt.type]:
                continue
            if ctx.evt.type <= 1:
                cands = self._generic_candidates(ctx)
            else:
                cands = <tuple>self.index[ctx.evt.type]
            # The rules through borrowed pointers into the tuple (which
            # `cands` holds): no count or type test per rule and event.
            rules = PySequence_Fast_ITEMS(cands)
            for k in range(PyTuple_GET_SIZE(cands)):
                if self.profile:
                    r = <CompiledRule>rules[k]
                    t0 = _now_ns()
                    hit = r.cond.eval(ctx)
                    r.ns += _now_ns() - t0
                    r.evals += 1
                else:
                    hit = (<CompiledRule>rules[k]).cond.eval(ctx)
                if hit:
                    r = <CompiledRule>rules[k]
                    r.matches += 1
                    self.matched += 1
                    alerts.append(_new_alert(ctx, r, r.output._render(ctx)))
                    if self.first_match:
                        break
        return len(alerts)

    def match_numbers(self, EventBatch batch):
        """evt.num of every event some rule matches (tests, oracles)."""
        out = []
        alerts = []
        self.process(batch, alerts)
        return [a.evt_num for a in alerts]

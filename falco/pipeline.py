"""From loaded rules and an event source to alerts: the library behind
`falco run`.  No printing, no exiting: the CLI does that."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from falco.rules import LoadResult, Priority, Rule
from falco_engine import compiler as _compiler
from falco_engine import evt_fields
from falco_engine.decoder import EventBatch
from falco_engine.runner import Alert, CompiledRule, OutputFormat, RuleEngine

from falco_engine.evalctx import StateHook

try:                                   # the state engine (issue 4)
    from falco_engine import state as _state
    if not issubclass(_state.StateEngine, StateHook):
        raise ImportError("state engine does not implement StateHook")
    from falco_engine import state_fields as _state_fields
except ImportError:                    # pragma: no cover - until it lands
    _state = None
    _state_fields = None


@dataclass
class RuleSelection:
    """Which loaded rules run (Falco's -D, -T, -t and `priority`)."""
    min_priority: Priority = Priority.DEBUG
    disabled_substrings: tuple[str, ...] = ()
    disabled_tags: tuple[str, ...] = ()
    enabled_tags: tuple[str, ...] = ()

    def keep(self, rule: Rule) -> bool:
        if not rule.enabled and not (self.enabled_tags and set(rule.tags) & set(self.enabled_tags)):
            return False
        if rule.priority > self.min_priority:
            return False
        if any(s in rule.name for s in self.disabled_substrings):
            return False
        if set(rule.tags) & set(self.disabled_tags):
            return False
        if self.enabled_tags and not set(rule.tags) & set(self.enabled_tags):
            return False
        return rule.source == "syscall"


@dataclass
class Detector:
    """Compiled rules plus the state they read."""
    engine: RuleEngine
    rules: list[CompiledRule]
    state: object | None
    warnings: list[str] = field(default_factory=list)

    def seed(self, tables) -> None:
        """Load a capture's (or the host's) process/fd/user tables."""
        if self.state is not None:
            self.state.seed(tables)

    def run(self, batches: Iterable[EventBatch]) -> Iterator[Alert]:
        alerts: list[Alert] = []
        meta = getattr(self.state, "container_resolver", None)
        for batch in batches:
            if meta is not None and meta.ready:
                # Live container metadata arrived: its container events first.
                news = meta.take_events()
                if news is not None:
                    self.engine.process(news, alerts)
            self.engine.process(batch, alerts)
            if alerts:
                yield from alerts
                alerts.clear()


def new_state(container_sockets=None, cri_sockets=None, libs=None):
    """A fresh state engine, or None where it is not built.  Live (after
    `seed_host`), new container ids are looked up on the runtime's socket
    in the background (falco/live/container_meta.py): Engine API sockets
    (`container_sockets`) and CRI gRPC sockets (`cri_sockets`); None for
    either means the defaults.  `libs` (config.FalcoLibs) bounds the
    thread table and sets its purges; None: Falco's defaults."""
    if _state is None:
        return None
    from falco.config import FalcoLibs
    from falco.live import dns_names
    from falco.live.container_meta import ContainerResolver
    libs = libs or FalcoLibs()
    st = _state.StateEngine(
        max_threads=libs.thread_table_size,
        purge_interval_s=libs.thread_table_auto_purging_interval_s,
        thread_timeout_s=libs.thread_table_auto_purging_thread_timeout_s)
    ContainerResolver(container_sockets, cri_sockets=cri_sockets).attach(st)
    st.host_names = dns_names.shared()      # fd.*ip.name
    return st


def extractor_factories():
    out = [evt_fields.make]
    if _state_fields is not None:
        out.append(lambda name, arg, ftype, text: _state_fields.make(name, arg))
    return out


def build_detector(loaded: LoadResult, selection: RuleSelection | None = None,
                   first_match: bool = True, profile: bool = False,
                   state=None) -> Detector:
    """Compile the selected rules; warn (never silently) about fields that
    no extractor answers yet."""
    from falco.live import dns_names
    selection = selection or RuleSelection()
    compiler = _compiler.Compiler(extractor_factories())
    compiled = []
    warnings = []
    for rule in loaded.rules:
        if not selection.keep(rule):
            continue
        try:
            node = compiler.compile(rule.condition)
            output = OutputFormat(rule.output, compiler)
        except _compiler.CompileError as exc:
            warnings.append(f"rule '{rule.name}': not loaded: {exc}")
            continue
        dns_names.shared().watch(dns_names.names_in_condition(rule.condition))
        compiled.append(CompiledRule(rule.name, node, output, int(rule.priority),
                                     tuple(rule.tags), rule.source,
                                     None if rule.evttypes is None else set(rule.evttypes)))
    for name in sorted(compiler.missing):
        warnings.append(f"field '{name}' has no extractor yet: it reads as <NA> "
                        "and comparisons on it are false")
    if state is None:
        state = new_state()
    if state is not None and _state_fields is not None:
        # Counters no selected rule reads are not kept (a reload with rules
        # that read them turns them back on).
        cpu, memory = _state_fields.counters_read_by(compiler.fields)
        state.track_counters(cpu, memory)
    engine = RuleEngine(compiled, state=state, first_match=first_match, profile=profile)
    return Detector(engine, compiled, state, warnings)

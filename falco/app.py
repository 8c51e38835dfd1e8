"""`falco run` as a library: configuration, rules, a source, outputs.

The CLI parses flags into a `Config` and `RunOptions` and calls `run`,
which returns the exit code.  Nothing here prints alerts itself: they go to
the output dispatcher's thread; progress and summaries go to `log`.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from falco.capture import CaptureError, open_capture
from falco.config import Config
from falco.outputs.dispatcher import OutputDispatcher
from falco.pipeline import Detector, RuleSelection, build_detector, new_state
from falco.rules import LoadResult, Priority, load_rule_files

PACKAGE = Path(__file__).resolve().parent


class AppError(Exception):
    """A run cannot go on; the message is one line for the user."""


@dataclass
class RunOptions:
    """What the command line says beyond falco.yaml."""
    capture: str | None = None
    rules: list[str] = field(default_factory=list)
    disable_names: tuple[str, ...] = ()
    disable_tags: tuple[str, ...] = ()
    enable_tags: tuple[str, ...] = ()
    priority: str | None = None
    all_matches: bool = False
    profile: bool = False
    duration: float | None = None
    limit: int | None = None
    dry_run: bool = False
    all_events: bool = False
    config_overrides: tuple[str, ...] = ()   # -o, kept for reloads
    allow_insecure_files: bool = False       # rules/config others may write
    driver: str | None = None                # auto | kmod | ebpf (None: falco.yaml)


def bundled_rules() -> list[str]:
    """The stable default rules: packaged, or the checkout's rules/."""
    for cand in (PACKAGE / "data" / "rules", PACKAGE.parent / "rules"):
        stable = cand / "falco_rules.yaml"
        if stable.exists():
            return [str(stable)]
    return []


def bundled_capture() -> str | None:
    sample = PACKAGE / "data" / "sample.scap"
    return str(sample) if sample.exists() else None


def rule_paths(cfg: Config, opts: RunOptions, log: Callable[[str], None]) -> list[str]:
    if opts.rules:
        return list(opts.rules)
    have, missing = cfg.rules_paths()
    if have:
        for m in missing:
            log(f"falco: warning: rules file {m} does not exist")
        return have
    return bundled_rules()


def insecure_reason(path: str | Path) -> str | None:
    """Why someone other than us could change what `path` says, or None.

    Rules and falco.yaml decide what is detected and where alerts go: a
    file (or a directory holding it) writable by another user lets that
    user blind the agent.  Sticky directories (/tmp) do not let others
    replace a file they do not own."""
    p = Path(path)
    me = os.geteuid()
    try:
        st = p.stat()
    except OSError:
        return None                     # the loader reports missing files
    if st.st_uid not in (0, me):
        return f"{p} is owned by uid {st.st_uid}"
    if st.st_mode & 0o022:
        return f"{p} is writable by {'group and others' if st.st_mode & 0o002 else 'its group'}"
    d = p.parent
    try:
        dst = d.stat()
    except OSError:
        return None
    if dst.st_uid not in (0, me):
        return f"its directory {d} is owned by uid {dst.st_uid}"
    if dst.st_mode & 0o022 and not dst.st_mode & 0o1000:
        return f"its directory {d} is writable by others"
    return None


def check_files(paths: list[str], allow: bool, log: Callable[[str], None]) -> None:
    for path in paths:
        p = Path(path)
        files = sorted(p.glob("*.yaml")) if p.is_dir() else [p]
        for f in ([p] if p.is_dir() else []) + files:
            why = insecure_reason(f)
            if why is None:
                continue
            if allow:
                log(f"falco: warning: {why} (allowed by --allow-insecure-files)")
            else:
                raise AppError(f"refusing {f}: {why}; fix its permissions or pass "
                               "--allow-insecure-files")


def load_rules(paths: list[str], log: Callable[[str], None]) -> LoadResult:
    if not paths:
        raise AppError("no rules given and no bundled rules found")
    loaded = load_rule_files(paths)
    for w in loaded.warnings:
        log(f"falco: warning: {w}")
    if loaded.errors:
        for e in loaded.errors[:-1]:
            log(f"falco: error: {e}")
        raise AppError(str(loaded.errors[-1]))
    return loaded


def make_detector(cfg: Config, opts: RunOptions, loaded: LoadResult,
                  log: Callable[[str], None], state=None) -> Detector:
    prio = Priority.parse(opts.priority or cfg.priority)
    if prio is None:
        raise AppError(f"unknown priority {opts.priority or cfg.priority!r}")
    selection = RuleSelection(prio, opts.disable_names, opts.disable_tags,
                              opts.enable_tags)
    first = not opts.all_matches and cfg.rule_matching == "first"
    if state is None:
        from falco.live.container_meta import cri_sockets_from_config, sockets_from_config
        engines = cfg.container_engines
        state = new_state(container_sockets=sockets_from_config(engines),
                          cri_sockets=cri_sockets_from_config(engines),
                          libs=cfg.falco_libs)
    detector = build_detector(loaded, selection, first_match=first,
                              profile=opts.profile, state=state)
    for w in detector.warnings:
        log(f"falco: warning: {w}")
    return detector


def run(cfg: Config, opts: RunOptions, log: Callable[[str], None],
        stdout=None) -> int:
    """Run until the source ends, -M expires or a signal; the exit code."""
    paths = rule_paths(cfg, opts, log)
    check_files(paths + ([cfg.path] if cfg.path else []), opts.allow_insecure_files, log)
    loaded = load_rules(paths, log)
    detector = make_detector(cfg, opts, loaded, log)
    log(f"falco: {len(detector.rules)} rules loaded from {', '.join(paths)}")
    if opts.dry_run:
        return 0

    out = OutputDispatcher.from_config(cfg, stdout=stdout).start()
    old_usr1 = signal.signal(signal.SIGUSR1, lambda *_: out.reopen())
    try:
        capture = opts.capture
        if capture is None and cfg.engine.kind == "replay":
            capture = cfg.engine.replay.capture_file or None
        if capture is None:
            driver = opts.driver or {"kmod": "kmod", "modern_ebpf": "ebpf"}.get(
                cfg.engine.kind, "auto")
            live = _open_live(detector, opts, driver, log, cfg.engine.modern_ebpf)
            if live is not None:
                return _run_live(cfg, opts, live, detector, out, paths, log)
            capture = bundled_capture()
            if capture is None:
                raise AppError("live capture is not possible here and no sample "
                               "capture is bundled: give a capture with -e")
            log(f"falco: replaying the bundled sample capture {capture}")
        return _run_capture(capture, opts, detector, out, log, cfg.syscall_event_drops)
    finally:
        out.close()
        signal.signal(signal.SIGUSR1, old_usr1)
        for line in out.summary():
            log(f"falco: {line}")
        if opts.profile:
            _log_profile(detector, log)


def _submit_all(alerts, out, opts: RunOptions, stop: Callable[[], None] | None = None,
                check: Callable[[], None] | None = None) -> int:
    shown = 0
    for alert in alerts:
        out.submit(alert)
        shown += 1
        if opts.limit is not None and shown >= opts.limit:
            if stop is None:
                break
            stop()
        if check is not None:
            check()
    return shown


def _run_capture(path: str, opts: RunOptions, detector: Detector, out,
                 log: Callable[[str], None], drop_cfg=None) -> int:
    from falco.drops import ReplayDrops

    # syscall_event_drops.simulate_drops fakes drops on event time, as Falco
    drops = ReplayDrops(drop_cfg, out) if drop_cfg is not None else None
    try:
        with open_capture(path) as cap:
            detector.seed(cap.tables)
            batches = cap.batches() if drops is None else drops.watch(cap.batches())
            shown = _submit_all(detector.run(batches), out, opts)
    except CaptureError as exc:
        out.flush()
        raise AppError(str(exc)) from None
    log(f"falco: {detector.engine.events} events, {shown} alerts")
    if drops is not None and drops.summary() is not None:
        log(f"falco: {drops.summary()}")
    return 1 if drops is not None and drops.exit_requested else 0


# engine.modern_ebpf.buf_size_preset, as Falco numbers them: bytes per ring.
EBPF_RING_PRESETS = {1: 1 << 20, 2: 2 << 20, 3: 4 << 20, 4: 8 << 20, 5: 16 << 20,
                     6: 32 << 20, 7: 64 << 20, 8: 128 << 20, 9: 256 << 20,
                     10: 512 << 20}


def ebpf_ring_layout(ebpf_cfg) -> tuple[int, int]:
    """(bytes per ring, CPUs per ring) from engine.modern_ebpf: Falco's
    cpus_for_each_buffer 0 means one ring shared by every CPU."""
    if ebpf_cfg.buf_size_preset not in EBPF_RING_PRESETS:
        raise AppError(f"engine.modern_ebpf.buf_size_preset: {ebpf_cfg.buf_size_preset} "
                       f"is not a preset (1..10: 1 MiB doubling to 512 MiB)")
    per_ring = ebpf_cfg.cpus_for_each_buffer or 1 << 16     # (more than any host has)
    return EBPF_RING_PRESETS[ebpf_cfg.buf_size_preset], per_ring


def _open_live(detector: Detector, opts: RunOptions, driver: str,
               log: Callable[[str], None], ebpf_cfg=None):
    """The driver (kernel module or eBPF probe) with the syscalls the rules
    need, or None (and why)."""
    from falco.live.live_capture import (BpfUnavailable, LiveCapture, interest_codes,
                                         pick_driver)

    interest = None if opts.all_events else interest_codes(r.evttypes for r in detector.rules)
    ring_bytes, cpus_per_ring = (8 << 20, 1) if ebpf_cfg is None else ebpf_ring_layout(ebpf_cfg)
    try:
        return LiveCapture(interest, driver=pick_driver(driver), ring_bytes=ring_bytes,
                           cpus_per_ring=cpus_per_ring)
    except BpfUnavailable as exc:
        if opts.driver in ("kmod", "ebpf"):
            # The user asked for this driver: no silent fallback.
            raise AppError(f"the {opts.driver} driver is unavailable: {exc}") from None
        log(f"falco: live capture unavailable: {exc}")
        return None


def _state_counters(detector: Detector) -> dict | None:
    """The state engine's counters for metrics, or None without state."""
    state = detector.state
    return state.state_counters() if state is not None else None


def _run_live(cfg: Config, opts: RunOptions, live, detector: Detector, out,
              paths: list[str], log: Callable[[str], None]) -> int:
    from falco.config import Reloader
    from falco.drops import DropMonitor
    from falco.metrics import MetricsCollector
    from falco.webserver import WebServer
    from falco.live.privileges import drop_after_attach
    drop_after_attach("kmod" if live.source.mode == "kmod" else "ebpf", log,
                      other_threads=[out.run_in_output_thread])

    def _stop(signum, frame):
        live.stop()

    handlers = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    drops = DropMonitor(cfg.syscall_event_drops, live.counters, out, ebpf=True,
                        on_exit=live.stop).start()
    # The detector in use: a rules reload replaces it (the metrics read it).
    holder = {"detector": detector}
    metrics = MetricsCollector(
        cfg, out, counters=live.counters,
        events=lambda: holder["detector"].engine.events,
        state=lambda: _state_counters(holder["detector"])).start()
    web = WebServer.from_config(cfg, metrics).start() if cfg.webserver.enabled else None
    reloader = Reloader(cfg, opts.config_overrides).install()

    def _reload(new_cfg, old_cfg):
        # Rules are read again; the state (threads, fds) carries over and
        # the driver keeps running.  Bad new rules keep the old ones.
        try:
            loaded = load_rules(rule_paths(new_cfg, opts, log), log)
            fresh = make_detector(new_cfg, opts, loaded, log,
                                  state=holder["detector"].state)
        except AppError as exc:
            log(f"falco: error: rules not reloaded, the running rules stay: {exc}")
            return
        fresh.engine.carry_counts(holder["detector"].engine)
        holder["detector"] = fresh
        log(f"falco: reloaded {len(fresh.rules)} rules")

    reloader.add_hook(_reload)
    if cfg.watch_config_files:
        reloader.start_watching(paths)
    what = "the kernel module" if live.source.mode == "kmod" else \
        f"the eBPF driver ({live.source.mode})"
    log(f"falco: watching this host with {what}")
    shown = 0
    events = 0
    try:
        if detector.state is not None:
            # Every thread of the host, its users and interfaces, and /proc
            # lookups for threads that appear before their clone is seen.
            machine = getattr(live.tables, "machine", None)
            if machine is not None:
                detector.state.boot_ts_epoch = machine.boot_ts_epoch
            detector.state.seed_host()
        for batch in live.batches(opts.duration):
            current = holder["detector"]
            alerts = list(current.run([batch]))
            shown += _submit_all(alerts, out, opts, stop=live.stop)
            reloader.check()
        events = holder["detector"].engine.events
    finally:
        reloader.stop_watching()
        drops.stop()
        counters = live.counters()
        live.close()
        metrics.stop()
        if web is not None:
            web.stop()
        reloader.uninstall()
        for s, h in handlers.items():
            signal.signal(s, h)
    log(f"falco: {events} events, {shown} alerts, {counters['drops']} dropped by the "
        f"driver (ring full {counters['drops_buffer']}, too large "
        f"{counters['drops_max_size']}), {counters['faults']} read faults")
    log(f"falco: {drops.summary()}")
    return 1 if drops.exit_requested else 0


def _log_profile(detector: Detector, log: Callable[[str], None]) -> None:
    """Which rule makes the agent slow: per-rule cost, most expensive first."""
    rows = sorted(detector.rules, key=lambda r: r.ns, reverse=True)
    total = sum(r.ns for r in rows) or 1
    log(f"{'rule':<60} {'evals':>10} {'matches':>8} {'ms':>9} {'ns/eval':>8} {'share':>6}")
    for r in rows:
        per = r.ns / r.evals if r.evals else 0
        log(f"{r.name[:60]:<60} {r.evals:>10} {r.matches:>8} {r.ns / 1e6:>9.2f} "
            f"{per:>8.0f} {100 * r.ns / total:>5.1f}%")

"""Metrics: events, driver drops, alerts per rule, memory, CPU.

Two views of one snapshot:

* every `metrics.interval`, the internal output rule line
  "Falco internal: metrics snapshot" (`metrics.output_rule`) and/or one JSON
  line appended to `metrics.output_file`, with Falco's `falco.*` / `scap.*`
  field names;
* Prometheus text (exposition format 0.0.4) for the webserver's `/metrics`,
  with Falco's `falcosecurity_*` metric names, written by prometheus_client
  from a custom collector on a registry of its own (a scrape takes one
  snapshot; the library's process/GC defaults are not mixed in).

Sources are callables, read when a snapshot is taken: `counters()` (the
live driver's counters, or None on replay), `events()` (events the engine
processed), `state()` (the state engine's counters: table sizes, additions,
removals, drops, container lookups) and the dispatcher's `stats()` (alerts
per rule, output drops).
"""
from __future__ import annotations

import logging
import os
import platform
import threading
import time
from typing import Callable

from falco.outputs.dispatcher import default_hostname, format_json, internal_message

__all__ = ["MetricsCollector", "process_resources", "host_boot_ts_ns", "RULE"]

log = logging.getLogger("falco.metrics")

RULE = "Falco internal: metrics snapshot"
PRIORITY_INFORMATIONAL = 6
_MB = 1024 * 1024


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("falco")
    except Exception:   # noqa: BLE001 - not installed as a distribution
        return "0.0.0"


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def process_resources() -> dict:
    """RSS/VSZ bytes and CPU share (percent of one CPU over the process's
    life) of this process, from /proc."""
    page = os.sysconf("SC_PAGE_SIZE")
    statm = _read("/proc/self/statm").split()
    vsz = int(statm[0]) * page if statm else 0
    rss = int(statm[1]) * page if len(statm) > 1 else 0
    cpu = 0.0
    stat = _read("/proc/self/stat")
    uptime = _read("/proc/uptime").split()
    if stat and uptime:
        fields = stat.rsplit(")", 1)[1].split()
        hz = os.sysconf("SC_CLK_TCK")
        start = int(fields[19]) / hz          # field 22: starttime (ticks after boot)
        used = (int(fields[11]) + int(fields[12])) / hz   # utime + stime
        alive = float(uptime[0]) - start
        cpu = 100.0 * used / alive if alive > 0 else 0.0
    return {"rss": rss, "vsz": vsz, "cpu_perc": cpu}


def host_boot_ts_ns() -> int:
    for line in _read("/proc/stat").splitlines():
        if line.startswith("btime "):
            return int(line.split()[1]) * 1_000_000_000
    return 0


def _read_source(source: Callable[[], dict | None], what: str) -> dict | None:
    """A counter source's reading, or None (logged) when it fails: one
    broken source must not cost the rest of the snapshot."""
    try:
        return source()
    except Exception as exc:   # noqa: BLE001 - say so, keep the rest
        log.error("metrics: cannot read %s: %s", what, exc)
        return None


class MetricsCollector:
    """Takes snapshots; optionally emits them every interval on a thread."""

    def __init__(self, cfg, dispatcher=None, *, counters: Callable[[], dict] | None = None,
                 events: Callable[[], int] | None = None,
                 state: Callable[[], dict] | None = None, source: str = "syscall",
                 hostname: str | None = None,
                 wallclock: Callable[[], int] = time.time_ns,
                 clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.dispatcher = dispatcher
        self.counters = counters
        self.events = events
        self.state = state
        self.source = source
        self.hostname = (hostname or getattr(dispatcher, "hostname", None)
                         or default_hostname())
        self.wallclock = wallclock
        self.clock = clock
        self.start_ts = wallclock()
        self.start_mono = clock()
        self.version = _version()
        self.kernel_release = platform.release()
        self.boot_ts = host_boot_ts_ns()
        self._prev: dict = {}
        self._prev_mono = self.start_mono
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._registry = None

    # -- the data --

    def snapshot(self, advance: bool = False) -> dict:
        """One reading: Falco's `falco.*` / `scap.*` names -> values, plus
        `rules` (a list of per-rule counts) for the Prometheus view.  Rates
        and `*_prev` are against the last periodic snapshot; `advance` makes
        this reading the new reference (the periodic `emit` does)."""
        m = self.cfg.metrics
        now_mono = self.clock()
        out: dict = {
            "evt.source": self.source,
            "falco.version": self.version,
            "falco.start_ts": self.start_ts,
            "falco.duration_sec": int(now_mono - self.start_mono),
            "falco.kernel_release": self.kernel_release,
            "falco.host_boot_ts": self.boot_ts,
            "falco.hostname": self.hostname,
            "falco.host_num_cpus": os.cpu_count() or 0,
        }
        stats = self.dispatcher.stats() if self.dispatcher is not None else {}
        out["falco.outputs_queue_num_drops"] = stats.get("queue_drops", 0)
        out["falco.outputs_rate_limited"] = stats.get("rate_limited", 0)
        out["outputs.channels"] = stats.get("channels", {})
        if m.resource_utilization_enabled:
            res = process_resources()
            out["falco.cpu_usage_perc"] = round(res["cpu_perc"], 2)
            if m.convert_memory_to_mb:
                out["falco.memory_rss_mb"] = round(res["rss"] / _MB, 2)
                out["falco.memory_vsz_mb"] = round(res["vsz"] / _MB, 2)
            else:
                out["falco.memory_rss_bytes"] = res["rss"]
                out["falco.memory_vsz_bytes"] = res["vsz"]
        with self._lock:
            dt = max(1e-9, now_mono - self._prev_mono)
            if self.events is not None:
                n = int(self.events())
                prev = self._prev.get("falco.num_evts", 0)
                out["falco.num_evts"] = n
                out["falco.num_evts_prev"] = prev
                out["falco.evts_rate_sec"] = round((n - prev) / dt, 2)
            if m.kernel_event_counters_enabled and self.counters is not None:
                raw = _read_source(self.counters, "driver counters")
                if raw is not None:
                    drops = int(raw.get("drops", 0))
                    evts = int(raw.get("events", 0)) + drops
                    prev_drops = self._prev.get("scap.n_drops", 0)
                    prev_evts = self._prev.get("scap.n_evts", 0)
                    out["scap.n_evts"] = evts
                    out["scap.n_evts_prev"] = prev_evts
                    out["scap.n_drops"] = drops
                    out["scap.n_drops_prev"] = prev_drops
                    out["scap.n_drops_buffer_total"] = int(raw.get("drops_buffer", 0))
                    out["scap.n_drops_scratch_map"] = int(raw.get("drops_scratch", 0))
                    out["scap.n_drops_max_size"] = int(raw.get("drops_max_size", 0))
                    out["scap.n_faults"] = int(raw.get("faults", 0))
                    d_evts, d_drops = evts - prev_evts, drops - prev_drops
                    out["scap.n_drops_perc"] = round(100.0 * d_drops / d_evts, 4) if d_evts else 0.0
                    out["scap.evts_rate_sec"] = round(d_evts / dt, 2)
                    out["scap.n_drops_rate_sec"] = round(d_drops / dt, 2)
            if m.state_counters_enabled and self.state is not None:
                counts = _read_source(self.state, "state counters")
                for name, value in (counts or {}).items():
                    out[f"falco.{name}"] = int(value)
            if advance:
                self._prev = dict(out)
                self._prev_mono = now_mono
        rules = []
        if m.rules_counters_enabled:
            per_rule: dict = {}
            for (rule, prio, source, tags), n in stats.get("rules", {}).items():
                per_rule[rule] = per_rule.get(rule, 0) + n
                rules.append({"rule": rule, "priority": prio, "source": source,
                              "tags": tags, "count": n})
            out["falco.rules.matches_total"] = sum(per_rule.values())
            for rule in sorted(per_rule):
                out[f"falco.rules.{rule}"] = per_rule[rule]
        if not m.include_empty_values:
            out = {k: v for k, v in out.items() if v not in ("", None)}
        out["rules"] = rules
        return out

    def output_fields(self, snap: dict | None = None) -> dict:
        snap = self.snapshot() if snap is None else snap
        return {k: v for k, v in snap.items() if k not in ("rules", "outputs.channels")}

    def message(self, snap: dict | None = None):
        """The internal output rule's message for a snapshot."""
        return internal_message(RULE, PRIORITY_INFORMATIONAL, "Falco metrics snapshot",
                                self.output_fields(snap), self.wallclock())

    def emit(self) -> dict:
        """One interval: the output rule line and/or the output_file line."""
        snap = self.snapshot(advance=True)
        m = self.cfg.metrics
        msg = self.message(snap)
        if m.output_rule and self.dispatcher is not None:
            self.dispatcher.submit_internal(msg)
        if m.output_file:
            try:
                with open(m.output_file, "a", encoding="utf-8") as fh:
                    fh.write(format_json(msg, self.hostname) + "\n")
            except OSError as exc:
                log.error("metrics: cannot write %s: %s", m.output_file, exc.strerror or exc)
        return snap

    # -- Prometheus --

    def registry(self) -> "CollectorRegistry":
        """A prometheus_client registry holding only this collector, so
        `/metrics` shows Falco's metrics and not the library's defaults."""
        if self._registry is None:
            from prometheus_client.registry import CollectorRegistry
            reg = CollectorRegistry(auto_describe=False)
            reg.register(_FalcoCollector(self))
            self._registry = reg
        return self._registry

    def prometheus(self) -> str:
        """Prometheus text (exposition format 0.0.4) of a fresh snapshot."""
        from prometheus_client.exposition import generate_latest
        return generate_latest(self.registry()).decode("utf-8")

    # -- periodic --

    def start(self) -> "MetricsCollector":
        if self._thread is None and self.cfg.metrics.enabled:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="falco-metrics",
                                            daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        interval = self.cfg.metrics.interval_seconds
        while not self._stop.wait(interval):
            try:
                self.emit()
            except Exception as exc:   # noqa: BLE001
                log.error("metrics: snapshot failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


# -- Prometheus: Falco's metric names (falcosecurity_<subsystem>_<name>) --------

_HELP = "https://falco.org/docs/metrics/"
# State counters: table sizes at the snapshot (gauges), and monotonic counts.
# The fd-table drops and the container lookups are this implementation's.
_STATE_GAUGES = ("n_threads", "n_fds", "n_containers", "n_missing_container_images")
_STATE_COUNTERS = ("n_added_threads", "n_removed_threads", "n_drops_full_threadtable",
                   "n_added_fds", "n_removed_fds", "n_drops_full_fdtable",
                   "n_container_lookups_resolved", "n_container_lookups_failed")


class _FalcoCollector:
    """A prometheus_client custom collector: each scrape takes one snapshot
    and yields it under the names Falco (0.38+) exposes.  Per-channel output
    failure counters are this implementation's (Falco has none)."""

    def __init__(self, metrics: MetricsCollector):
        self.metrics = metrics

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        mc = self.metrics
        snap = mc.snapshot()

        def gauge(name: str, value, labels: dict | None = None):
            fam = GaugeMetricFamily(f"falcosecurity_{name}", _HELP,
                                    labels=list(labels or ()))
            fam.add_metric(list((labels or {}).values()), value)
            return fam

        def counter(name: str, value, labels: dict | None = None):
            fam = CounterMetricFamily(f"falcosecurity_{name}", _HELP,
                                      labels=list(labels or ()))
            fam.add_metric(list((labels or {}).values()), value)
            return fam

        yield gauge("falco_version_info", 1, {"version": snap["falco.version"]})
        yield gauge("falco_kernel_release_info", 1,
                    {"kernel_release": snap["falco.kernel_release"]})
        yield gauge("evt_hostname_info", 1, {"hostname": mc.hostname})
        yield gauge("falco_start_timestamp_nanoseconds", snap["falco.start_ts"])
        yield gauge("falco_host_boot_timestamp_nanoseconds", snap["falco.host_boot_ts"])
        yield counter("falco_duration_seconds_total", snap["falco.duration_sec"])
        yield gauge("falco_host_num_cpus_total", snap["falco.host_num_cpus"])
        yield counter("falco_outputs_queue_num_drops_total",
                      snap["falco.outputs_queue_num_drops"])
        yield counter("falco_outputs_rate_limited_total", snap["falco.outputs_rate_limited"])
        if "falco.cpu_usage_perc" in snap:
            res = process_resources()
            yield gauge("falco_cpu_usage_ratio", snap["falco.cpu_usage_perc"] / 100.0)
            yield gauge("falco_memory_rss_bytes", res["rss"])
            yield gauge("falco_memory_vsz_bytes", res["vsz"])
        if "falco.num_evts" in snap:
            yield counter("falco_num_evts_total", snap["falco.num_evts"])
        if "scap.n_evts" in snap:
            yield counter("scap_n_evts_total", snap["scap.n_evts"])
            yield counter("scap_n_drops_total", snap["scap.n_drops"])
            yield counter("scap_n_drops_buffer_total", snap["scap.n_drops_buffer_total"])
            yield counter("scap_n_drops_scratch_map_total", snap["scap.n_drops_scratch_map"])
            yield counter("scap_n_drops_max_size_total", snap["scap.n_drops_max_size"])
            yield gauge("scap_n_drops_perc", snap["scap.n_drops_perc"])
        # State counters: Falco's names, the sizes now as gauges.
        for name in _STATE_GAUGES + _STATE_COUNTERS:
            if f"falco.{name}" in snap:
                make = gauge if name in _STATE_GAUGES else counter
                prefix = "falco" if name.startswith("n_container_lookups") else "scap"
                yield make(f"{prefix}_{name}_total", snap[f"falco.{name}"])
        if "falco.rules.matches_total" in snap:
            fam = CounterMetricFamily("falcosecurity_falco_rules_matches_total", _HELP,
                                      labels=["priority", "rule_name", "source", "tags"])
            for r in sorted(snap["rules"], key=lambda r: (r["rule"], r["priority"])):
                # Falco's labels: the priority's number, tags joined in order
                fam.add_metric([str(r["priority"]), r["rule"], r["source"],
                                ", ".join(r["tags"])], r["count"])
            yield fam
        channels = snap.get("outputs.channels") or {}
        for key, name in (("failures", "failures"), ("retries", "retries"),
                          ("dropped", "dropped"), ("restarts", "restarts")):
            fam = CounterMetricFamily(f"falcosecurity_falco_outputs_channel_{name}_total",
                                      _HELP, labels=["channel"])
            for ch in sorted(channels):
                fam.add_metric([ch], channels[ch][key])
            yield fam

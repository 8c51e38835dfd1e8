"""The output thread: bounded queue, rate limiter, formatting, channels.

    capture thread                      output thread
    submit(alert) ─ token bucket ─▶ [bounded queue] ─▶ format once ─▶ channels
                   (rate-limited:      (full: dropped,
                    counted)            counted)

`submit` never blocks.  Internal messages (syscall event drops, metrics
snapshots) go through `submit_internal`, which skips the rate limiter as
Falco's `handle_msg` does.  `reopen()` and `stop()` are safe to call from a
signal handler: they only set flags the output thread reads.

A channel that fails is retried with backoff, then suspended (retry.py);
every failure is counted per channel and logged, and giving up on an alert
raises the internal alert "Falco internal: output channel failure" on the
other channels (at most one per channel per `alert_interval`).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from .base import Channel, ChannelError, ChannelPaused
from .retry import ChannelHealth, RetryPolicy

log = logging.getLogger("falco.outputs")

PRIORITY_NAMES = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice",
                  "Informational", "Debug")
INTERNAL_SOURCE = "internal"
CHANNEL_FAILURE_RULE = "Falco internal: output channel failure"
PRIORITY_ERROR = 3


# -- the token bucket -----------------------------------------------------------

class TokenBucket:
    """Falco's token bucket: `rate` tokens a second up to `max_burst`,
    starting full.  `rate` 0 means no limit.  `clock` returns seconds
    (injectable, so tests drive time instead of sleeping)."""

    def __init__(self, rate: float, max_burst: float,
                 clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate)
        self.max_tokens = float(max_burst)
        self.clock = clock
        self.tokens = self.max_tokens
        self.last = clock()

    def claim(self, n: float = 1.0, now: float | None = None) -> bool:
        if self.rate <= 0:
            return True
        now = self.clock() if now is None else now
        elapsed = max(0.0, now - self.last)
        self.tokens = min(self.max_tokens, self.tokens + elapsed * self.rate)
        self.last = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True


# -- messages and their formats ----------------------------------------------------

@dataclass
class Message:
    """One thing to output: a rule's alert or an internal message."""
    ts: int                         # ns since the epoch
    priority: int                   # 0 EMERGENCY .. 7 DEBUG (the syslog scale)
    rule: str
    output: str                     # the rule's resolved output (no time prefix)
    output_fields: dict = field(default_factory=dict)
    tags: tuple = ()
    source: str = "syscall"
    internal: bool = False


def from_alert(alert) -> Message:
    """A `falco_engine.runner.Alert` (or anything with its attributes)."""
    return Message(alert.ts, alert.priority, alert.rule, alert.output,
                   alert.output_fields or {}, tuple(alert.tags or ()),
                   alert.source or "syscall")


def internal_message(rule: str, priority: int, text: str, fields: dict,
                     ts: int | None = None) -> Message:
    """A Falco internal message (`Falco internal: ...` rules)."""
    return Message(time.time_ns() if ts is None else ts, priority, rule, text,
                   dict(fields), (), INTERNAL_SOURCE, True)


def format_time(ts_ns: int, iso8601: bool = False, rfc3339: bool = False) -> str:
    """The alert time.  Text prefixes use evt.time (local clock) or, with
    time_format_iso_8601, evt.time.iso8601 (UTC, "+0000"); JSON's `time`
    key is RFC 3339 with "Z", which consumers such as falcosidekick parse."""
    secs, ns = divmod(int(ts_ns), 1_000_000_000)
    if iso8601 or rfc3339:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns:09d}"
        return stamp + ("Z" if rfc3339 else "+0000")
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{ns:09d}"


def format_text(msg: Message, iso8601: bool = False) -> str:
    """Falco's text line: `time: Priority output`; an internal message
    appends its fields as ` (k=v, k=v)`."""
    line = f"{format_time(msg.ts, iso8601)}: {PRIORITY_NAMES[msg.priority]} {msg.output}"
    if msg.internal and msg.output_fields:
        line += " (" + ", ".join(f"{k}={_text_value(v)}"
                                 for k, v in sorted(msg.output_fields.items())) + ")"
    return line


def _text_value(v) -> str:
    if v is None:
        return "<NA>"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _json_default(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    return str(v)


def format_json(msg: Message, hostname: str, iso8601: bool = False,
                include_output: bool = True, include_tags: bool = True,
                include_message: bool = False,
                include_output_fields: bool = True) -> str:
    """Falco's JSON alert, keys sorted as Falco (nlohmann) writes them:
    hostname, output, output_fields, priority, rule, source, tags, time."""
    obj = {
        "hostname": hostname,
        "priority": PRIORITY_NAMES[msg.priority],
        "rule": msg.rule,
        "source": msg.source,
        "time": format_time(msg.ts, rfc3339=True),
    }
    if msg.internal:
        obj["output"] = msg.output
    elif include_output:
        obj["output"] = format_text(msg, iso8601)
    if include_message and not msg.internal:
        obj["message"] = msg.output
    if include_output_fields:
        fields = msg.output_fields
        if not msg.internal:
            # The time prefix of the output is a field too, as in Falco.
            fields = dict(fields)
            fields["evt.time.iso8601" if iso8601 else "evt.time"] = int(msg.ts)
        obj["output_fields"] = fields
    if include_tags:
        obj["tags"] = sorted(msg.tags)
    return json.dumps(obj, sort_keys=True, ensure_ascii=True, default=_json_default)


def default_hostname() -> str:
    """FALCO_HOSTNAME if set (as Falco), else the host's name."""
    return os.environ.get("FALCO_HOSTNAME") or socket.gethostname()


# -- channels from the configuration ----------------------------------------------------

def build_channels(cfg, stdout=None) -> list[Channel]:
    """The channels falco.yaml enables, in Falco's order.  Raises
    ChannelError for a channel that cannot be set up (a bad URL)."""
    from .file import FileChannel
    from .http import HttpChannel
    from .program import ProgramChannel
    from .stdout import StdoutChannel
    from .syslog import SyslogChannel

    out: list[Channel] = []
    if cfg.stdout_output.enabled:
        out.append(StdoutChannel(stdout))
    if cfg.syslog_output.enabled:
        out.append(SyslogChannel(cfg.syslog_output.address))
    if cfg.file_output.enabled:
        out.append(FileChannel(cfg.file_output.filename, cfg.file_output.keep_alive))
    if cfg.program_output.enabled:
        out.append(ProgramChannel(cfg.program_output.program, cfg.program_output.keep_alive))
    if cfg.http_output.enabled:
        out.append(HttpChannel(cfg.http_output, cfg.json_output))
    return out


# -- the dispatcher -------------------------------------------------------------------

_STOP = object()


class _Call:
    """A function the output thread runs between alerts (per-thread state,
    such as capabilities, can only be changed by the thread itself)."""
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn


class OutputDispatcher:
    """Bounded queue + one output thread.  Use as:

        d = OutputDispatcher.from_config(cfg); d.start()
        for alert in detector.run(...): d.submit(alert)
        d.close()
    """

    def __init__(self, channels: Sequence[Channel], *, json_output: bool = False,
                 iso8601: bool = False, buffered: bool = False,
                 rate: float = 0.0, max_burst: int = 1000, capacity: int = 10000,
                 hostname: str | None = None, json_include_output: bool = True,
                 json_include_tags: bool = True, json_include_message: bool = False,
                 json_include_output_fields: bool = True,
                 retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.channels = list(channels)
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self._sleep = sleep
        self._health = [ChannelHealth(ch, self.retry, clock) for ch in self.channels]
        self.json_output = json_output
        self.iso8601 = iso8601
        self.buffered = buffered
        self.hostname = hostname or default_hostname()
        self.json_opts = dict(include_output=json_include_output,
                              include_tags=json_include_tags,
                              include_message=json_include_message,
                              include_output_fields=json_include_output_fields)
        self.bucket = TokenBucket(rate, max_burst, clock)
        self.capacity = capacity
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._reopen = threading.Event()
        self._lock = threading.Lock()
        self._last_error_log: dict[str, float] = {}
        self._internal_depth = 0        # >0 while delivering our own failure alert
        # counters (read with stats())
        self.submitted = 0
        self.rate_limited = 0
        self.queue_drops = 0
        self.delivered = 0
        self.errors: Counter = Counter()
        self.rule_counts: Counter = Counter()    # (rule, priority, source, tags) -> n

    @classmethod
    def from_config(cls, cfg, stdout=None, clock: Callable[[], float] = time.monotonic,
                    channels: Iterable[Channel] | None = None,
                    sleep: Callable[[float], None] = time.sleep) -> "OutputDispatcher":
        return cls(build_channels(cfg, stdout) if channels is None else channels,
                   json_output=cfg.json_output, iso8601=cfg.time_format_iso_8601,
                   buffered=cfg.buffered_outputs, rate=cfg.outputs.rate,
                   max_burst=cfg.outputs.max_burst, capacity=cfg.queue_capacity,
                   json_include_output=cfg.json_include_output_property,
                   json_include_tags=cfg.json_include_tags_property,
                   json_include_message=cfg.json_include_message_property,
                   json_include_output_fields=cfg.json_include_output_fields_property,
                   retry=RetryPolicy.from_config(cfg), clock=clock, sleep=sleep)

    # -- capture side (never blocks) --

    def submit(self, alert) -> bool:
        """Queue a rule's alert.  False when rate-limited or the queue is full
        (both counted)."""
        msg = alert if isinstance(alert, Message) else from_alert(alert)
        with self._lock:
            self.submitted += 1
            self.rule_counts[(msg.rule, msg.priority, msg.source, tuple(sorted(msg.tags)))] += 1
        if not self.bucket.claim():
            with self._lock:
                self.rate_limited += 1
            log.debug("skipping rate-limited notification for rule %s", msg.rule)
            return False
        return self._put(msg)

    def submit_internal(self, msg: Message) -> bool:
        """Queue an internal message (drops, metrics): no rate limiting."""
        return self._put(msg)

    def _put(self, msg: Message) -> bool:
        try:
            self._queue.put_nowait(msg)
            return True
        except queue.Full:
            with self._lock:
                self.queue_drops += 1
            return False

    def reopen(self) -> None:
        """SIGUSR1: reopen files (and restart kept-alive programs) before the
        next alert.  Signal-safe."""
        self._reopen.set()

    # -- lifecycle --

    def start(self) -> "OutputDispatcher":
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="falco-outputs",
                                            daemon=True)
            self._thread.start()
        return self

    def run_in_output_thread(self, fn: Callable[[], object], timeout: float = 5.0) -> object:
        """Run `fn` on the output thread (inline when there is none) and
        return its result or raise its exception; TimeoutError if the
        thread does not get to it in `timeout` seconds (a stalled sink)."""
        if self._thread is None:
            return fn()
        done = threading.Event()
        box: dict = {}

        def call() -> None:
            try:
                box["result"] = fn()
            except BaseException as exc:   # noqa: BLE001 - handed to the caller
                box["error"] = exc
            finally:
                done.set()

        try:
            self._queue.put(_Call(call), timeout=timeout)
        except queue.Full:
            raise TimeoutError("the output queue is full") from None
        if not done.wait(timeout):
            raise TimeoutError("the output thread did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued message has been handed to the channels
        (and flushed).  True if the queue drained in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.005)
        return self._queue.unfinished_tasks == 0

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to `timeout`), stop the thread, close
        the channels."""
        if self._thread is not None:
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.warning("outputs: queue still full at shutdown; %d alerts lost",
                            self._queue.qsize())
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("outputs: output thread did not stop within %gs", timeout)
            self._thread = None
        else:
            self._drain_inline()
        for health in self._health:
            try:
                health.channel.close()
            except Exception as exc:   # noqa: BLE001 - a sink's failure is reported
                self._error(health, exc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- output thread --

    def _drain_inline(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Call):
                item.fn()
            elif item is not _STOP:
                self._deliver(item)
            self._queue.task_done()

    def _loop(self) -> None:
        while True:
            self._maybe_reopen()
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                # A reopen asked for before this item was queued applies to it.
                self._maybe_reopen()
                if item is _STOP:
                    self._flush_channels()
                    return
                if isinstance(item, _Call):
                    item.fn()
                    continue
                self._deliver(item)
                if not self.buffered:
                    self._flush_channels()
            finally:
                self._queue.task_done()

    def _maybe_reopen(self) -> None:
        if not self._reopen.is_set():
            return
        self._reopen.clear()
        for health in self._health:
            try:
                health.channel.reopen()
            except Exception as exc:   # noqa: BLE001
                self._error(health, exc)

    def format(self, msg: Message) -> str:
        if self.json_output:
            return format_json(msg, self.hostname, self.iso8601, **self.json_opts)
        return format_text(msg, self.iso8601)

    def _deliver(self, msg: Message) -> None:
        try:
            line = self.format(msg)
        except Exception as exc:   # noqa: BLE001 - never let one alert kill the thread
            log.error("outputs: cannot format alert for rule %s: %s", msg.rule, exc)
            with self._lock:
                self.errors["format"] += 1
            return
        ok = False
        for health in self._health:
            ok = self._emit(health, line, msg) or ok
        if ok:
            with self._lock:
                self.delivered += 1

    def _emit(self, health: ChannelHealth, line: str, msg: Message) -> bool:
        """One alert on one channel: tries with backoff, bounded in count
        and time; a suspended channel is skipped.  True if delivered."""
        if not health.available():
            health.skip()
            return False
        policy = self.retry
        started = self.clock()
        made = 0
        for attempt in range(health.tries()):
            if attempt:
                delay = policy.delay(attempt)
                if self.clock() - started + delay > policy.budget:
                    break
                health.retries += 1
                self._sleep(delay)
            made += 1
            try:
                health.channel.emit(line, msg)
            except ChannelPaused as exc:
                health.paused(exc)
                self._error(health, exc, counted=True)
                return False
            except Exception as exc:   # noqa: BLE001 - a sink's failure is counted
                health.failed(exc)
                continue
            lost = health.succeeded()
            if lost is not None:
                log.warning("outputs: %s output works again (%d alerts lost meanwhile)",
                            health.name, lost)
            elif made > 1 and self._may_log(health.name + "/retry"):
                log.warning("outputs: %s output delivered after %d failed tries "
                            "(%d so far): %s", health.name, made - 1, health.failures,
                            health.last_error)
            return True
        self._give_up(health, msg, made)
        return False

    def _give_up(self, health: ChannelHealth, msg: Message, tries: int) -> None:
        health.gave_up()
        if self._may_log(health.name):
            log.error("outputs: %s output failed after %d %s (%d alerts lost so far; "
                      "next try in %gs): %s", health.name, tries,
                      "try" if tries == 1 else "tries", health.dropped,
                      round(health.suspended_until - self.clock(), 3), health.last_error)
        if self._internal_depth or msg.rule == CHANNEL_FAILURE_RULE:
            return                  # no alert about failing to deliver an alert about it
        if health.claim_alert():
            self._raise_channel_alert(health)

    def _raise_channel_alert(self, failed: ChannelHealth) -> None:
        """Tell the other channels, now and once: the queue may be full of
        the alerts that failed, and this one must not wait behind them."""
        text = (f"{CHANNEL_FAILURE_RULE}. {failed.name} output failed, alerts are "
                f"being lost: {failed.last_error}")
        alert = internal_message(CHANNEL_FAILURE_RULE, PRIORITY_ERROR, text, {
            "channel": failed.name, "error": failed.last_error,
            "failures": failed.failures, "dropped": failed.dropped})
        try:
            line = self.format(alert)
        except Exception as exc:   # noqa: BLE001
            log.error("outputs: cannot format the channel failure alert: %s", exc)
            return
        self._internal_depth += 1
        try:
            for health in self._health:
                if health is not failed and not health.suspended:
                    self._emit(health, line, alert)
        finally:
            self._internal_depth -= 1

    def _may_log(self, key: str) -> bool:
        """One log line per channel (and kind) every 10 s at most: the lines
        carry running counts, so nothing is lost by skipping the others."""
        now = time.monotonic()
        if now - self._last_error_log.get(key, -1e9) < 10.0:
            return False
        self._last_error_log[key] = now
        return True

    def _flush_channels(self) -> None:
        for health in self._health:
            try:
                health.channel.flush()
            except Exception as exc:   # noqa: BLE001
                self._error(health, exc)

    def _error(self, health: ChannelHealth, exc: Exception, counted: bool = False) -> None:
        """A failure outside `emit` (flush, reopen, close): counted, logged."""
        if not counted:
            health.failed(exc)
        if self._may_log(health.name):
            kind = "" if isinstance(exc, ChannelError) else f"{type(exc).__name__}: "
            log.error("outputs: %s output failed (%d so far): %s%s", health.name,
                      health.failures, kind, exc)

    # -- counters --

    def stats(self) -> dict:
        """Counters for metrics and the end-of-run summary.  `errors`: failed
        tries per channel (and `format`); `skipped`: alerts a suspended
        channel let go; `channels`: every channel's retry counters."""
        channels = {h.name: h.counters() for h in self._health}
        with self._lock:
            errors = dict(self.errors)
            return {
                "submitted": self.submitted,
                "rate_limited": self.rate_limited,
                "queue_drops": self.queue_drops,
                "delivered": self.delivered,
                "queued": self._queue.qsize(),
                "errors": {**errors, **{n: c["failures"] for n, c in channels.items()
                                        if c["failures"]}},
                "skipped": {n: c["skipped"] for n, c in channels.items() if c["skipped"]},
                "channels": channels,
                "rules": dict(self.rule_counts),
            }

    def summary(self) -> list[str]:
        """Falco's end-of-run lines: events detected, counts by severity and
        by rule, then what the outputs lost (if anything)."""
        s = self.stats()
        by_prio: Counter = Counter()
        by_rule: Counter = Counter()
        for (rule, prio, _source, _tags), n in s["rules"].items():
            by_prio[prio] += n
            by_rule[rule] += n
        lines = [f"Events detected: {s['submitted']}", "Rule counts by severity:"]
        lines += [f"   {PRIORITY_NAMES[p].upper()}: {n}" for p, n in sorted(by_prio.items())]
        lines.append("Triggered rules by rule name:")
        lines += [f"   {r}: {n}" for r, n in sorted(by_rule.items())]
        lost = []
        if s["rate_limited"]:
            lost.append(f"{s['rate_limited']} rate-limited")
        if s["queue_drops"]:
            lost.append(f"{s['queue_drops']} dropped (output queue full)")
        if s["errors"].get("format"):
            lost.append(f"{s['errors']['format']} not formatted")
        for name, c in sorted(s["channels"].items()):
            if c["dropped"] or c["failures"]:
                tries = "try" if c["failures"] == 1 else "tries"
                lost.append(f"{c['dropped']} lost on {name} ({c['failures']} failed "
                            f"{tries}, {c['retries']} retries)")
        if lost:
            lines.append("Outputs: " + ", ".join(lost))
        return lines

"""falco.yaml: load, validate, apply `-o` overrides, and hand out one typed
`Config` object.

Keys and meanings are Falco's.  Every key is declared once, as a dataclass
field below; loading walks the YAML against those declarations, so

* an unknown key is a warning (`Config.warnings`), never a silent skip;
* a Falco key this implementation accepts but does not act on is a warning
  that says so;
* a value of the wrong type is a `ConfigError` whose message is one line and
  names the key path (`outputs.rate: expected a number, got 'fast'`).

The library never prints or exits: the CLI shows warnings and maps
`ConfigError` to its exit code.
"""
from __future__ import annotations

import dataclasses
import logging
import logging.handlers
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union, get_args, get_origin, get_type_hints

import yaml

__all__ = ["Config", "ConfigError", "Reloader", "load_config", "reload_config",
           "find_config", "parse_override",
           "parse_duration", "configure_logging", "DEFAULT_CONFIG", "LOG_LEVELS"]

DEFAULT_CONFIG = Path(__file__).resolve().parent / "data" / "falco.yaml"
SYSTEM_CONFIG = Path("/etc/falco/falco.yaml")

#: Falco's log levels, most severe first (the syslog severities).
LOG_LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice",
              "info", "debug")
PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice",
              "informational", "info", "debug")


class ConfigError(Exception):
    """A configuration that cannot be used; `str()` is one line naming the
    file and key path."""


def _opt(default, **meta):
    """A field with a default (copied for lists/dicts) and validation hints:
    choices=(...), min=N, check=callable(value) -> error text or None."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def _section(cls):
    return field(default_factory=cls)


# -- durations ----------------------------------------------------------------

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d)")


def parse_duration(text: Any) -> float:
    """Seconds from a Falco duration: `1h`, `15m`, `30s`, `100ms`, `1m30s`,
    or a bare number (milliseconds, as Falco reads `metrics.interval`)."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like '15m', got {text!r}")
    if isinstance(text, (int, float)):
        return float(text) / 1000.0
    s = str(text).strip().replace(" ", "")
    if not s:
        raise ValueError("expected a duration like '15m', got an empty string")
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        if s.isdigit():
            return int(s) / 1000.0
        raise ValueError(f"expected a duration like '15m' or '1h30m', got {text!r}")
    return total


def _check_duration(value: str) -> str | None:
    try:
        secs = parse_duration(value)
    except ValueError as exc:
        return str(exc)
    return None if secs >= 0.1 else f"must be at least 100ms, got {value!r}"


def _check_ratio(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"must be between 0 and 1, got {value!r}"


# -- the typed configuration --------------------------------------------------

@dataclass
class StdoutOutput:
    enabled: bool = True


@dataclass
class FileOutput:
    enabled: bool = False
    keep_alive: bool = False
    filename: str = "./events.txt"


@dataclass
class SyslogOutput:
    enabled: bool = True
    #: not Falco's: the syslog socket (tests point it at their own rsyslog)
    address: str = "/dev/log"


@dataclass
class ProgramOutput:
    enabled: bool = False
    keep_alive: bool = False
    program: str = "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"


@dataclass
class HttpOutput:
    enabled: bool = False
    url: str = ""
    user_agent: str = "falcosecurity/falco"
    insecure: bool = False
    ca_cert: str = ""
    ca_bundle: str = ""
    ca_path: str = "/etc/ssl/certs"
    mtls: bool = False
    client_cert: str = "/etc/ssl/certs/client.crt"
    client_key: str = "/etc/ssl/certs/client.key"
    echo: bool = False
    compress_uploads: bool = False
    keep_alive: bool = False
    #: extra request headers, name -> value
    custom_headers: dict[str, str] = _opt({})
    #: seconds to wait for the server before counting a failure
    timeout: float = _opt(5.0, min=0.001)


@dataclass
class Outputs:
    rate: float = _opt(0.0, min=0.0)
    max_burst: int = _opt(1000, min=1)


@dataclass
class OutputsQueue:
    #: bound of the queue between capture and the output thread (0: 10000)
    capacity: int = _opt(0, min=0)


@dataclass
class OutputsRetry:
    """Not Falco's: how a failing output channel is retried (see
    falco/outputs/retry.py).  Seconds are plain numbers."""
    #: tries of one alert on one channel (1: no retry)
    attempts: int = _opt(3, min=1)
    #: wait before the first retry; doubles per retry and per failed probe
    backoff: float = _opt(0.1, min=0.0)
    #: longest wait between tries of a suspended channel
    max_backoff: float = _opt(30.0, min=0.0)
    #: time one alert may spend on retries of one channel
    budget: float = _opt(5.0, min=0.0)
    #: at most one "output channel failure" internal alert per channel per interval
    alert_interval: float = _opt(60.0, min=0.0)


def _check_drop_actions(value) -> str | None:
    # Falco refuses "ignore" next to any other action: the combination
    # says both "do nothing" and "do something".
    if isinstance(value, list) and "ignore" in value:
        for other in value:
            if other != "ignore":
                return (f'syscall event drop action "{other}" does not make sense '
                        'with the "ignore" action')
    return None


@dataclass
class SyscallEventDrops:
    threshold: float = _opt(0.1, check=_check_ratio)
    actions: list[str] = _opt(["log", "alert"], choices=("ignore", "log", "alert", "exit"),
                              check=_check_drop_actions)
    rate: float = _opt(0.03333, min=0.0)
    max_burst: int = _opt(1, min=1)
    simulate_drops: bool = False


@dataclass
class Webserver:
    enabled: bool = False
    threadiness: int = _opt(0, min=0)
    listen_port: int = _opt(8765, min=0)
    listen_address: str = "127.0.0.1"
    k8s_healthz_endpoint: str = "/healthz"
    prometheus_metrics_enabled: bool = False
    ssl_enabled: bool = False
    ssl_certificate: str = "/etc/falco/falco.pem"


@dataclass
class Metrics:
    enabled: bool = False
    interval: str = _opt("1h", check=_check_duration)
    output_rule: bool = True
    output_file: str = ""
    rules_counters_enabled: bool = True
    resource_utilization_enabled: bool = True
    state_counters_enabled: bool = True
    kernel_event_counters_enabled: bool = True
    kernel_event_counters_per_cpu_enabled: bool = False
    libbpf_stats_enabled: bool = True
    plugins_metrics_enabled: bool = True
    jemalloc_stats_enabled: bool = False
    convert_memory_to_mb: bool = True
    include_empty_values: bool = False

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


@dataclass
class FalcoLibs:
    """The state engine's bounds (Falco's `falco_libs`)."""
    #: threads kept at most; a full table gives one up for each new one
    thread_table_size: int = _opt(262144, min=1)
    #: how often (seconds of event time) a sweep looks for threads whose
    #: exit was lost; 0: never
    thread_table_auto_purging_interval_s: int = _opt(1200, min=0)
    #: how long a thread must be idle before a sweep asks /proc about it
    thread_table_auto_purging_thread_timeout_s: int = _opt(1800, min=0)


@dataclass
class SimpleContainerEngine:
    enabled: bool = True


@dataclass
class CriContainerEngine:
    enabled: bool = True
    sockets: list[str] = _opt(["/run/containerd/containerd.sock", "/run/crio/crio.sock",
                               "/run/k3s/containerd/containerd.sock"])
    disable_async: bool = False


@dataclass
class ContainerEngines:
    """Where container metadata is asked for (falco/live/container_meta.py):
    Docker's and Podman's Engine API sockets, and the CRI runtime service
    (containerd, CRI-O) over gRPC on `cri.sockets` (falco/live/cri_meta.py).
    `cri.disable_async` is accepted; lookups are always off the event path."""
    docker: SimpleContainerEngine = _section(SimpleContainerEngine)
    podman: SimpleContainerEngine = _section(SimpleContainerEngine)
    cri: CriContainerEngine = _section(CriContainerEngine)
    lxc: SimpleContainerEngine = _section(SimpleContainerEngine)
    libvirt_lxc: SimpleContainerEngine = _section(SimpleContainerEngine)
    bpm: SimpleContainerEngine = _section(SimpleContainerEngine)


@dataclass
class KmodEngine:
    buf_size_preset: int = _opt(4, min=0)
    drop_failed_exit: bool = False


@dataclass
class ModernEbpfEngine:
    cpus_for_each_buffer: int = _opt(2, min=0)
    buf_size_preset: int = _opt(4, min=0)
    drop_failed_exit: bool = False


@dataclass
class ReplayEngine:
    capture_file: str = ""


@dataclass
class Engine:
    kind: str = _opt("modern_ebpf", choices=("kmod", "modern_ebpf", "replay"))
    kmod: KmodEngine = _section(KmodEngine)
    modern_ebpf: ModernEbpfEngine = _section(ModernEbpfEngine)
    replay: ReplayEngine = _section(ReplayEngine)


@dataclass
class Config:
    """Everything falco.yaml says, typed, with Falco's defaults."""
    rules_files: list[str] = _opt(["/etc/falco/falco_rules.yaml",
                                   "/etc/falco/falco_rules.local.yaml",
                                   "/etc/falco/rules.d"])
    engine: Engine = _section(Engine)
    container_engines: ContainerEngines = _section(ContainerEngines)
    json_output: bool = False
    json_include_output_property: bool = True
    json_include_tags_property: bool = True
    json_include_message_property: bool = False
    json_include_output_fields_property: bool = True
    time_format_iso_8601: bool = False
    priority: str = _opt("debug", choices=PRIORITIES)
    rule_matching: str = _opt("first", choices=("first", "all"))
    buffered_outputs: bool = False
    outputs: Outputs = _section(Outputs)
    outputs_queue: OutputsQueue = _section(OutputsQueue)
    outputs_retry: OutputsRetry = _section(OutputsRetry)
    stdout_output: StdoutOutput = _section(StdoutOutput)
    file_output: FileOutput = _section(FileOutput)
    syslog_output: SyslogOutput = _section(SyslogOutput)
    program_output: ProgramOutput = _section(ProgramOutput)
    http_output: HttpOutput = _section(HttpOutput)
    syscall_event_drops: SyscallEventDrops = _section(SyscallEventDrops)
    webserver: Webserver = _section(Webserver)
    metrics: Metrics = _section(Metrics)
    falco_libs: FalcoLibs = _section(FalcoLibs)
    log_level: str = _opt("info", choices=LOG_LEVELS)
    log_stderr: bool = True
    log_syslog: bool = True
    config_files: list[str] = _opt([])
    #: reload (as on SIGHUP) when falco.yaml or a watched rules file changes
    watch_config_files: bool = True

    # Not keys: where this configuration came from, and what loading noticed.
    path: str | None = field(default=None, metadata={"internal": True}, compare=False)
    warnings: list[str] = field(default_factory=list, metadata={"internal": True},
                                compare=False)

    @property
    def queue_capacity(self) -> int:
        return self.outputs_queue.capacity or 10000

    def rules_paths(self) -> tuple[list[str], list[str]]:
        """(existing, missing) entries of `rules_files`."""
        have, missing = [], []
        for p in self.rules_files:
            (have if Path(p).exists() else missing).append(p)
        return have, missing

    def to_dict(self) -> dict:
        """The keys as plain data (what `--dry-run` can show)."""
        out = dataclasses.asdict(self)
        out.pop("path", None)
        out.pop("warnings", None)
        return out


#: Falco keys (full paths) this implementation reads but does not act on
#: (plugins, gRPC, container engines, other drivers): a warning names each.
ACCEPTED_NOT_USED = frozenset({
    "load_plugins", "plugins", "libs_logger", "output_timeout",
    "grpc", "grpc_output", "base_syscalls", "falco_libs.snaplen", "append_output",
    "syscall_buf_size_preset", "modern_bpf", "capture",
    "plugins_hostinfo", "static_fields", "log_format", "metadata_download",
    "syscall_drop_failed_exit", "rules_file", "syscall_event_timeouts",
    "http_output.max_consecutive_timeouts",
})
#: Options of drivers `engine.kind` cannot select here: accepted quietly.
_QUIET = frozenset({"engine.ebpf", "engine.gvisor", "engine.nodriver"})


# -- building the typed object from plain data --------------------------------

def _type_name(tp) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number",
            str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(tp, value: Any, path: str, meta: dict, warnings: list[str]):
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if value is None:
            return tp()
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping of keys, got {_short(value)}")
        return _build(tp, value, path, warnings)
    if origin is list:
        (item_tp,) = get_args(tp)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_short(value)}")
        item_meta = {k: v for k, v in meta.items() if k != "check"}
        items = [_convert(item_tp, v, f"{path}[{i}]", item_meta, warnings)
                 for i, v in enumerate(value)]
        # `check` judges the list as a whole; `choices` and `min` each item.
        err = meta["check"](items) if meta.get("check") else None
        if err:
            raise ConfigError(f"{path}: {err}")
        return items
    if origin is dict:
        _, val_tp = get_args(tp)
        if value is None:
            return {}
        if isinstance(value, list):        # also accept ["Name: value", ...]
            pairs = {}
            for i, item in enumerate(value):
                if isinstance(item, str) and ":" in item:
                    k, v = item.split(":", 1)
                    pairs[k.strip()] = v.strip()
                elif isinstance(item, dict):
                    pairs.update(item)
                else:
                    raise ConfigError(f"{path}[{i}]: expected 'Name: value', got {_short(item)}")
            value = pairs
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_short(value)}")
        return {str(k): _convert(val_tp, v, f"{path}.{k}", {}, warnings)
                for k, v in value.items()}
    if origin is Union:
        args = [a for a in get_args(tp) if a is not type(None)]
        return None if value is None else _convert(args[0], value, path, meta, warnings)
    # scalars
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_short(value)}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_short(value)}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_short(value)}")
        value = float(value)
    elif tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_short(value)}")
        value = _expand_env(value)
    choices = meta.get("choices")
    if choices is not None:
        norm = value.lower() if isinstance(value, str) else value
        if norm not in choices:
            raise ConfigError(f"{path}: expected one of {', '.join(choices)}, got {_short(value)}")
        value = norm
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{path}: must be at least {meta['min']}, got {_short(value)}")
    check = meta.get("check")
    if check is not None:
        err = check(value)
        if err:
            raise ConfigError(f"{path}: {err}")
    return value


def _build(cls, data: dict, prefix: str, warnings: list[str]):
    hints = get_type_hints(cls)
    kwargs = {}
    known = set()
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        known.add(f.name)
        if f.name in data:
            path = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _convert(hints[f.name], data[f.name], path,
                                      dict(f.metadata), warnings)
    for key in data:
        if key in known:
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        if path in _QUIET:
            continue
        if path in ACCEPTED_NOT_USED:
            if _active(data[key]):
                warnings.append(f"key '{path}' is Falco's but has no effect in this "
                                "implementation")
        else:
            warnings.append(f"unknown key '{path}' (ignored)")
    return cls(**kwargs)


def _active(value: Any) -> bool:
    """Whether a setting asks for something: not off, empty or all-off."""
    if value in (None, False, "", [], {}):
        return False
    if isinstance(value, dict):
        if value.get("enabled") is False:
            return False
        return any(_active(v) for v in value.values())
    return True


_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(text: str) -> str:
    """Falco's `${VAR}` expansion in values; `$${` is a literal `${`."""
    if "${" not in text:
        return text
    return _ENV_RE.sub(lambda m: "${" if m.group(1) is None
                       else os.environ.get(m.group(1), ""), text)


# -- -o overrides -----------------------------------------------------------------

_SEGMENT_RE = re.compile(r"^([^.\[\]]+)((?:\[\d*\])*)$")


def parse_override(text: str) -> tuple[list, Any]:
    """`key.path=value` -> (path segments, YAML-typed value).  A segment may
    index a list: `rules_files[0]=x` replaces item 0, `rules_files[]=x`
    appends."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"-o {text!r}: expected key.path=value")
    path: list = []
    for seg in key.strip().split("."):
        m = _SEGMENT_RE.match(seg)
        if m is None:
            raise ConfigError(f"-o {text!r}: bad key path segment {seg!r}")
        path.append(m.group(1))
        for idx in re.findall(r"\[(\d*)\]", m.group(2)):
            path.append(int(idx) if idx else None)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError):     # (nested too deep: fuzzing)
        value = raw
    return path, value


def _apply_override(data: dict, path: list, value: Any, text: str) -> None:
    node: Any = data
    for i, seg in enumerate(path):
        last = i == len(path) - 1
        nxt = None if last else path[i + 1]
        child_default: Any = [] if (nxt is None and not last) or isinstance(nxt, int) else {}
        if isinstance(seg, str):
            if not isinstance(node, dict):
                raise ConfigError(f"-o {text!r}: '{seg}' is inside a non-mapping value")
            if last:
                node[seg] = value
            else:
                if not isinstance(node.get(seg), (dict, list)):
                    node[seg] = child_default
                node = node[seg]
        else:
            if not isinstance(node, list):
                raise ConfigError(f"-o {text!r}: an index on a non-list value")
            if seg is None or seg == len(node):
                node.append(value if last else child_default)
                seg = len(node) - 1
            elif seg > len(node):
                raise ConfigError(f"-o {text!r}: index {seg} past the end of a "
                                  f"list of {len(node)}")
            elif last:
                node[seg] = value
            if not last:
                if not isinstance(node[seg], (dict, list)):
                    node[seg] = child_default
                node = node[seg]


# -- loading --------------------------------------------------------------------

def find_config(explicit: str | os.PathLike | None = None) -> Path:
    """`-c FILE`, else $FALCO_CONFIG, else /etc/falco/falco.yaml, else the
    falco.yaml shipped in the package."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("FALCO_CONFIG")
    if env:
        return Path(env)
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return DEFAULT_CONFIG


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:     # (not UTF-8: fuzzing)
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") \
            from exc
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:     # (nested too deep: fuzzing)
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top, got "
                          f"{type(data).__name__}")
    return data


def _include(data: dict, base: Path, warnings: list[str]) -> None:
    """Falco's `config_files`: more YAML files (or directories of them)
    whose top-level keys override the main file's."""
    entries = data.get("config_files") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{base}: config_files: expected a list, got {_short(entries)}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise ConfigError(f"{base}: config_files[{i}]: expected a string, got {_short(entry)}")
        p = Path(_expand_env(entry))
        if not p.is_absolute():
            p = base.parent / p
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml"))
        elif p.exists():
            files = [p]
        else:
            warnings.append(f"config_files[{i}]: {p} does not exist (skipped)")
            continue
        for f in files:
            extra = _read_yaml(f)
            extra.pop("config_files", None)
            data.update(extra)


def load_config(path: str | os.PathLike | None = None,
                overrides: Iterable[str] = (),
                text: str | None = None) -> Config:
    """Read falco.yaml (see `find_config`), apply `-o key=value` overrides in
    order, validate, and return the typed `Config` (with `.warnings`).
    `text` parses a YAML string instead of a file (tests)."""
    warnings: list[str] = []
    if text is not None:
        src = Path(path) if path else Path("<string>")
        try:
            data = yaml.safe_load(text) or {}
        except (yaml.YAMLError, RecursionError) as exc:     # (nested too deep: fuzzing)
            raise ConfigError(f"{src}: not valid YAML: {str(exc).splitlines()[0]}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{src}: expected a mapping of keys at the top")
    else:
        src = find_config(path)
        data = _read_yaml(src)
        _include(data, src, warnings)
    for text_ in overrides:
        seg, value = parse_override(text_)
        _apply_override(data, seg, value, text_)
    # rules_file (Falco < 0.38) is the old name of rules_files.
    if "rules_file" in data:
        if "rules_files" in data:
            warnings.append("both 'rules_file' and 'rules_files' are set: "
                            "'rules_files' wins")
        else:
            data["rules_files"] = data["rules_file"]
        data = {k: v for k, v in data.items() if k != "rules_file"}
    if isinstance(data.get("rules_files"), str):
        data["rules_files"] = [data["rules_files"]]
    try:
        cfg = _build(Config, data, "", warnings)
    except ConfigError as exc:
        raise ConfigError(f"{src}: {exc}") from None
    cfg.path = str(src)
    cfg.warnings = warnings
    return cfg


def reload_config(current: Config, overrides: Iterable[str] = ()) -> Config:
    """SIGHUP: the same file and overrides read again.  On error the caller
    keeps `current` (and reports the ConfigError)."""
    return load_config(current.path, overrides)


# -- logging (log_level, log_stderr, log_syslog) ---------------------------------

_PY_LEVELS = {"emergency": logging.CRITICAL, "alert": logging.CRITICAL,
              "critical": logging.CRITICAL, "error": logging.ERROR,
              "warning": logging.WARNING, "notice": logging.INFO,
              "info": logging.INFO, "debug": logging.DEBUG}


def log_formatter(iso8601: bool = False) -> logging.Formatter:
    """Falco's log line: `<time>: <message>`, the time as ctime(3) in local
    time ("Thu Aug  4 16:17:57 2016"), or with time_format_iso_8601 as
    Falco's `%FT%T%z` in UTC ("2016-08-04T16:17:57+0000")."""
    if not iso8601:
        return logging.Formatter("%(asctime)s: %(message)s", "%a %b %e %H:%M:%S %Y")
    fmt = logging.Formatter("%(asctime)s: %(message)s", "%Y-%m-%dT%H:%M:%S+0000")
    fmt.converter = time.gmtime
    return fmt


def configure_logging(cfg: Config, stream=None, logger_name: str = "falco") -> logging.Logger:
    """Route the `falco` logger as falco.yaml says: stderr and/or syslog at
    `log_level`.  Idempotent (a reload replaces the handlers)."""
    log = logging.getLogger(logger_name)
    for h in list(log.handlers):
        if getattr(h, "_falco_config", False):
            log.removeHandler(h)
            h.close()
    log.setLevel(_PY_LEVELS[cfg.log_level])
    log.propagate = False
    if cfg.log_stderr:
        h = logging.StreamHandler(stream or sys.stderr)
        h.setFormatter(log_formatter(cfg.time_format_iso_8601))
        h._falco_config = True
        log.addHandler(h)
    if cfg.log_syslog and os.path.exists(cfg.syslog_output.address):
        try:
            h = logging.handlers.SysLogHandler(address=cfg.syslog_output.address)
        except OSError:
            h = None
        if h is not None:
            h.ident = "falco: "
            h._falco_config = True
            log.addHandler(h)
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


# -- SIGHUP: reload --------------------------------------------------------------

class Reloader:
    """SIGHUP reloads falco.yaml (same file, same `-o` overrides).

    The signal handler only sets a flag; the capture loop calls `check()`
    between batches.  On a good reload every hook runs as
    `hook(new_cfg, old_cfg)` (rules, outputs, webserver: the CLI's hooks) and
    `config` becomes the new one; a bad file is logged and the running
    configuration kept.
    """

    def __init__(self, cfg: Config, overrides: Iterable[str] = ()):
        self.config = cfg
        self.overrides = list(overrides)
        self.hooks: list = []
        self._pending = False
        self._old_handler = None
        self.log = logging.getLogger("falco.config")

    def add_hook(self, fn) -> None:
        self.hooks.append(fn)

    def request(self, *_args) -> None:
        """The SIGHUP handler (also callable directly)."""
        self._pending = True

    @property
    def pending(self) -> bool:
        return self._pending

    def install(self) -> "Reloader":
        import signal
        self._old_handler = signal.signal(signal.SIGHUP, self.request)
        return self

    def uninstall(self) -> None:
        import signal
        if self._old_handler is not None:
            signal.signal(signal.SIGHUP, self._old_handler)
            self._old_handler = None

    # -- watch_config_files --

    def watched_paths(self, extra: Iterable[str] = ()) -> list[str]:
        paths = [self.config.path] if self.config.path and os.path.exists(self.config.path) else []
        return paths + [str(p) for p in extra]

    @staticmethod
    def _stamp(paths: Iterable[str]) -> dict:
        out = {}
        for p in paths:
            targets = [p]
            if os.path.isdir(p):
                targets += sorted(os.path.join(p, n) for n in os.listdir(p))
            for t in targets:
                try:
                    st = os.stat(t)
                    out[t] = (st.st_mtime_ns, st.st_size, st.st_ino)
                except OSError:
                    out[t] = None
        return out

    def start_watching(self, extra: Iterable[str] = (), interval: float = 1.0) -> None:
        """watch_config_files: poll falco.yaml (and `extra` paths: the rules
        files) every `interval` seconds; a change asks for a reload, as a
        SIGHUP would.  Does nothing when watch_config_files is false."""
        import threading
        if not self.config.watch_config_files or getattr(self, "_watcher", None):
            return
        extra = list(extra)
        self._watch_stop = threading.Event()

        first = self._stamp(self.watched_paths(extra))

        def loop():
            before = first
            while not self._watch_stop.wait(interval):
                now = self._stamp(self.watched_paths(extra))
                if now != before:
                    self.log.info("configuration or rules files changed: reloading")
                    self.request()
                before = now
        self._watcher = threading.Thread(target=loop, name="falco-config-watch",
                                         daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            self._watch_stop.set()
            watcher.join(5)
            self._watcher = None

    def check(self) -> Config | None:
        """Reload if SIGHUP came; the new Config, or None (nothing to do, or
        the new file is bad and the old one stays)."""
        if not self._pending:
            return None
        self._pending = False
        try:
            new = reload_config(self.config, self.overrides)
        except ConfigError as exc:
            self.log.error("SIGHUP: configuration not reloaded, keeping the running "
                           "one: %s", exc)
            return None
        for w in new.warnings:
            self.log.warning("%s", w)
        old, self.config = self.config, new
        for hook in self.hooks:
            hook(new, old)
        self.log.info("SIGHUP: configuration reloaded from %s", new.path)
        return new

"""falco.yaml: defaults, validation (one-line errors naming the key path),
`-o` overrides, includes, environment expansion, SIGHUP reload, logging."""
from __future__ import annotations

import io
import logging
import os
import re
import signal
import time
from pathlib import Path

import pytest
import yaml

from falco import config as config_mod
from falco.config import (DEFAULT_CONFIG, Config, ConfigError, Reloader, configure_logging,
                          find_config, load_config, parse_duration, parse_override)


# -- the shipped default ------------------------------------------------------------

def test_shipped_config_is_the_defaults():
    cfg = load_config(DEFAULT_CONFIG)
    assert cfg.warnings == []
    assert cfg == Config()
    assert cfg.path == str(DEFAULT_CONFIG)


def test_shipped_config_names_every_key():
    """Every declared key appears in the shipped file, so it documents them all."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    declared = Config().to_dict()
    declared.pop("config_files")

    def walk(decl, got, prefix):
        for k, v in decl.items():
            assert k in got, f"{prefix}{k} missing from falco.yaml"
            if isinstance(v, dict) and v and k != "custom_headers":
                walk(v, got[k], f"{prefix}{k}.")
    walk(declared, data, "")


def test_found_without_flags(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("FALCO_CONFIG", raising=False)
    monkeypatch.setattr(config_mod, "SYSTEM_CONFIG", tmp_path / "absent.yaml")
    assert find_config() == DEFAULT_CONFIG
    assert load_config().path == str(DEFAULT_CONFIG)
    system = tmp_path / "falco.yaml"
    system.write_text("json_output: true\n")
    monkeypatch.setattr(config_mod, "SYSTEM_CONFIG", system)
    assert load_config().json_output is True
    other = tmp_path / "env.yaml"
    other.write_text("priority: error\n")
    monkeypatch.setenv("FALCO_CONFIG", str(other))
    assert load_config().priority == "error"
    assert find_config(system) == system          # -c wins


def test_defaults_when_keys_are_absent():
    cfg = load_config(text="")
    assert cfg.stdout_output.enabled and cfg.syslog_output.enabled
    assert not cfg.file_output.enabled
    assert cfg.outputs.rate == 0 and cfg.outputs.max_burst == 1000
    assert cfg.syscall_event_drops.actions == ["log", "alert"]
    assert cfg.syscall_event_drops.rate == pytest.approx(0.03333)
    assert cfg.webserver.listen_address == "127.0.0.1"
    assert cfg.engine.kind == "modern_ebpf"
    assert cfg.queue_capacity == 10000
    assert cfg.metrics.interval_seconds == 3600


def test_falco_style_file():
    cfg = load_config(text="""
rules_file:
  - /etc/falco/falco_rules.yaml
json_output: true
json_include_output_property: false
priority: WARNING
rule_matching: all
outputs: {rate: 1, max_burst: 5}
file_output: {enabled: true, keep_alive: true, filename: /tmp/x.txt}
program_output: {enabled: true, program: "jq ."}
http_output: {enabled: true, url: "https://sidekick:2801/", insecure: true}
syscall_event_drops: {actions: [log, alert, exit], threshold: 0.5}
webserver: {enabled: true, listen_port: 9999, k8s_healthz_endpoint: /health}
metrics: {enabled: true, interval: 1m30s, output_rule: false}
engine: {kind: replay, replay: {capture_file: /tmp/a.scap}}
log_level: DEBUG
""")
    assert cfg.warnings == []
    assert cfg.rules_files == ["/etc/falco/falco_rules.yaml"]
    assert cfg.priority == "warning" and cfg.rule_matching == "all"
    assert cfg.outputs.rate == 1.0 and isinstance(cfg.outputs.rate, float)
    assert cfg.file_output.keep_alive and cfg.file_output.filename == "/tmp/x.txt"
    assert cfg.http_output.insecure and cfg.http_output.url == "https://sidekick:2801/"
    assert cfg.syscall_event_drops.actions == ["log", "alert", "exit"]
    assert cfg.webserver.listen_port == 9999
    assert cfg.metrics.interval_seconds == 90
    assert cfg.engine.kind == "replay" and cfg.engine.replay.capture_file == "/tmp/a.scap"
    assert cfg.log_level == "debug"


def test_rules_files_string_and_precedence():
    assert load_config(text="rules_files: /a.yaml\n").rules_files == ["/a.yaml"]
    cfg = load_config(text="rules_file: [/old]\nrules_files: [/new]\n")
    assert cfg.rules_files == ["/new"]
    assert any("'rules_files' wins" in w for w in cfg.warnings)


def test_rules_paths(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("[]\n")
    cfg = load_config(text=f"rules_files: [{tmp_path / 'a.yaml'}, {tmp_path / 'b.yaml'}]\n")
    assert cfg.rules_paths() == ([str(tmp_path / "a.yaml")], [str(tmp_path / "b.yaml")])


# -- warnings and errors --------------------------------------------------------------

def test_unknown_keys_warn():
    cfg = load_config(text="jsn_output: true\nwebserver: {enabled: true, prot: 1}\n"
                           "load_plugins: [k8saudit]\n")
    assert "unknown key 'jsn_output' (ignored)" in cfg.warnings
    assert "unknown key 'webserver.prot' (ignored)" in cfg.warnings
    assert ("key 'load_plugins' is Falco's but has no effect in this implementation"
            in cfg.warnings)


def test_unused_falco_keys_warn_only_when_they_ask_for_something():
    cfg = load_config(text="""
load_plugins: []
grpc: {enabled: false, bind_address: "unix:///run/falco/falco.sock"}
base_syscalls: {custom_set: [], repair: false}
engine: {kind: kmod, ebpf: {probe: /x.o}, gvisor: {config: ""}}
grpc_output: {enabled: true}
""")
    assert cfg.warnings == [
        "key 'grpc_output' is Falco's but has no effect in this implementation"]


def test_falco_libs_bound_the_state_engine():
    from falco.pipeline import new_state
    cfg = load_config(text="""
falco_libs:
  thread_table_size: 1000
  thread_table_auto_purging_interval_s: 60
  thread_table_auto_purging_thread_timeout_s: 90
  snaplen: 80
""")
    assert cfg.warnings == [
        "key 'falco_libs.snaplen' is Falco's but has no effect in this implementation"]
    st = new_state(libs=cfg.falco_libs)
    assert (st.max_threads, st.purge_interval_ns, st.thread_timeout_ns) == \
        (1000, 60 * 10**9, 90 * 10**9)
    # Falco's defaults when the section is absent.
    st = new_state(libs=load_config(text="json_output: false\n").falco_libs)
    assert (st.max_threads, st.purge_interval_ns, st.thread_timeout_ns) == \
        (262144, 1200 * 10**9, 1800 * 10**9)


@pytest.mark.parametrize("text,expected", [
    ("json_output: yes please", "json_output: expected a boolean (true/false), got 'yes please'"),
    ("outputs: {rate: fast}", "outputs.rate: expected a number, got 'fast'"),
    ("outputs: {max_burst: 1.5}", "outputs.max_burst: expected an integer, got 1.5"),
    ("outputs: {max_burst: 0}", "outputs.max_burst: must be at least 1, got 0"),
    ("outputs: [1, 2]", "outputs: expected a mapping of keys, got [1, 2]"),
    ("syscall_event_drops: {actions: [log, boom]}",
     "syscall_event_drops.actions[1]: expected one of ignore, log, alert, exit, got 'boom'"),
    ("syscall_event_drops: {actions: log}", "syscall_event_drops.actions: expected a list"),
    ("syscall_event_drops: {threshold: 2}",
     "syscall_event_drops.threshold: must be between 0 and 1, got 2.0"),
    ("webserver: {listen_port: '80'}", "webserver.listen_port: expected an integer, got '80'"),
    ("metrics: {interval: soon}", "metrics.interval: expected a duration"),
    ("metrics: {interval: 10ms}", "metrics.interval: must be at least 100ms"),
    ("engine: {kind: gvisor}", "engine.kind: expected one of kmod, modern_ebpf, replay"),
    ("priority: loud", "priority: expected one of emergency, alert"),
    ("http_output: {custom_headers: [nocolon]}",
     "http_output.custom_headers[0]: expected 'Name: value'"),
    ("rules_files: [/a, {x: 1}]", "rules_files[1]: expected a string"),
    ("- just\n- a list", "expected a mapping of keys at the top"),
])
def test_wrong_types_are_one_line_errors_naming_the_key(tmp_path: Path, text, expected):
    path = tmp_path / "falco.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_invalid_yaml_is_one_line_with_the_line_number(tmp_path: Path):
    path = tmp_path / "falco.yaml"
    path.write_text("json_output: true\noutputs:\n  rate: [1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith(f"{path}: line ")
    assert "not valid YAML" in str(exc.value)


def test_missing_file_is_one_line(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read: No such file"):
        load_config(tmp_path / "absent.yaml")


# -- -o overrides ----------------------------------------------------------------------

def test_override_parsing():
    assert parse_override("outputs.rate=1.5") == (["outputs", "rate"], 1.5)
    assert parse_override("json_output=true") == (["json_output"], True)
    assert parse_override("rules_files[0]=/x.yaml") == (["rules_files", 0], "/x.yaml")
    assert parse_override("rules_files[]=/y.yaml") == (["rules_files", None], "/y.yaml")
    assert parse_override("a.b=c=d") == (["a", "b"], "c=d")
    assert parse_override("http_output.url=") == (["http_output", "url"], "")
    with pytest.raises(ConfigError, match="expected key.path=value"):
        parse_override("json_output")
    with pytest.raises(ConfigError, match="bad key path segment"):
        parse_override("a..b=1")


def test_overrides_apply_in_order(tmp_path: Path):
    path = tmp_path / "falco.yaml"
    path.write_text("rules_files: [/a.yaml, /b.yaml]\noutputs: {rate: 2}\n")
    cfg = load_config(path, [
        "outputs.rate=5",
        "outputs.max_burst=7",
        "rules_files[0]=/z.yaml",
        "rules_files[]=/c.yaml",
        "syscall_event_drops.actions=[alert, exit]",
        "syscall_event_drops.actions[0]=log",
        "http_output.custom_headers.X-Token=abc",
        "file_output.enabled=true",
        "json_output=false",
        "json_output=true",
    ])
    assert cfg.outputs.rate == 5.0 and cfg.outputs.max_burst == 7
    assert cfg.rules_files == ["/z.yaml", "/b.yaml", "/c.yaml"]
    assert cfg.syscall_event_drops.actions == ["log", "exit"]
    assert cfg.http_output.custom_headers == {"X-Token": "abc"}
    assert cfg.file_output.enabled is True and cfg.json_output is True


def test_override_errors_name_the_key(tmp_path: Path):
    path = tmp_path / "falco.yaml"
    path.write_text("rules_files: [/a.yaml]\n")
    with pytest.raises(ConfigError, match=r"outputs\.rate: expected a number, got 'x'"):
        load_config(path, ["outputs.rate=x"])
    with pytest.raises(ConfigError, match="index 5 past the end of a list of 1"):
        load_config(path, ["rules_files[5]=/q"])
    path.write_text("rules_files: [/a.yaml]\noutputs: {rate: 1}\n")
    with pytest.raises(ConfigError, match="an index on a non-list value"):
        load_config(path, ["outputs[0]=1"])
    with pytest.raises(ConfigError, match="'rate' is inside a non-mapping value"):
        load_config(path, ["rules_files.rate=1"])


# -- includes, environment ----------------------------------------------------------------

def test_config_files_include(tmp_path: Path):
    d = tmp_path / "config.d"
    d.mkdir()
    (d / "10-json.yaml").write_text("json_output: true\n")
    (d / "20-rate.yaml").write_text("outputs: {rate: 3}\n")
    (d / "ignored.txt").write_text("json_output: false\n")
    main = tmp_path / "falco.yaml"
    main.write_text("config_files: [config.d, missing.yaml]\noutputs: {rate: 1}\n")
    cfg = load_config(main)
    assert cfg.json_output is True and cfg.outputs.rate == 3.0
    assert any("missing.yaml does not exist" in w for w in cfg.warnings)


def test_environment_expansion(monkeypatch):
    monkeypatch.setenv("FALCO_TEST_TOKEN", "s3cret")
    cfg = load_config(text='http_output: {url: "http://h/${FALCO_TEST_TOKEN}", '
                           'user_agent: "$${NOT_EXPANDED}"}\n')
    assert cfg.http_output.url == "http://h/s3cret"
    assert cfg.http_output.user_agent == "${NOT_EXPANDED}"


@pytest.mark.parametrize("text,seconds", [
    ("1h", 3600), ("15m", 900), ("30s", 30), ("100ms", 0.1), ("1m30s", 90),
    ("2h 5m", 7500), (60000, 60), ("5000", 5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


# -- SIGHUP -----------------------------------------------------------------------------------

def test_sighup_reloads_and_runs_hooks(tmp_path: Path):
    path = tmp_path / "falco.yaml"
    path.write_text("json_output: false\n")
    cfg = load_config(path, ["outputs.rate=4"])
    seen = []
    r = Reloader(cfg, ["outputs.rate=4"])
    r.add_hook(lambda new, old: seen.append((old.json_output, new.json_output)))
    r.install()
    try:
        assert r.check() is None                  # nothing asked
        path.write_text("json_output: true\n")
        os.kill(os.getpid(), signal.SIGHUP)
        assert r.pending
        new = r.check()
    finally:
        r.uninstall()
    assert new is not None and new.json_output is True and new.outputs.rate == 4.0
    assert r.config is new
    assert seen == [(False, True)]


def test_sighup_with_a_bad_file_keeps_the_running_config(tmp_path: Path, caplog):
    path = tmp_path / "falco.yaml"
    path.write_text("json_output: true\n")
    cfg = load_config(path)
    r = Reloader(cfg)
    hooks = []
    r.add_hook(lambda new, old: hooks.append(new))
    path.write_text("json_output: maybe\n")
    r.request()
    assert r.check() is None
    assert r.config is cfg and hooks == []
    assert any("configuration not reloaded" in rec.getMessage() and "json_output" in
               rec.getMessage() for rec in caplog.records)


def test_watch_config_files_asks_for_a_reload(tmp_path: Path):
    path = tmp_path / "falco.yaml"
    path.write_text("json_output: false\n")
    rules = tmp_path / "rules.d"
    rules.mkdir()
    r = Reloader(load_config(path))
    r.start_watching([str(rules)], interval=0.05)
    try:
        (rules / "new.yaml").write_text("[]\n")
        wait = time.monotonic() + 20
        while not r.pending and time.monotonic() < wait:
            time.sleep(0.02)
        assert r.pending
        r.check()
        path.write_text("json_output: true\n# longer\n")
        wait = time.monotonic() + 20
        while not r.pending and time.monotonic() < wait:
            time.sleep(0.02)
        assert r.check().json_output is True
    finally:
        r.stop_watching()


def test_watch_config_files_off():
    r = Reloader(load_config(text="watch_config_files: false\n"))
    r.start_watching()
    assert getattr(r, "_watcher", None) is None


# -- logging ---------------------------------------------------------------------------------------

def test_configure_logging_levels_and_stderr():
    cfg = load_config(text="log_level: warning\nlog_syslog: false\n")
    buf = io.StringIO()
    log = configure_logging(cfg, stream=buf, logger_name="falco-test-logging")
    log.info("hidden")
    log.warning("shown")
    assert "shown" in buf.getvalue() and "hidden" not in buf.getvalue()
    cfg = load_config(text="log_level: debug\nlog_stderr: false\nlog_syslog: false\n")
    log = configure_logging(cfg, stream=buf, logger_name="falco-test-logging")
    log.debug("nowhere")
    assert "nowhere" not in buf.getvalue()
    assert not any(isinstance(h, logging.StreamHandler) and getattr(h, "_falco_config", 0)
                   for h in log.handlers)


def test_log_lines_in_iso_8601_when_configured():
    """time_format_iso_8601 applies to Falco's own log lines: UTC, `%FT%T%z`."""
    buf = io.StringIO()
    cfg = load_config(text="time_format_iso_8601: true\nlog_syslog: false\n")
    log = configure_logging(cfg, stream=buf, logger_name="falco-test-logging-iso")
    log.warning("Falco initialized")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000: Falco initialized\n",
                        buf.getvalue()), buf.getvalue()
    buf = io.StringIO()
    cfg = load_config(text="log_syslog: false\n")
    log = configure_logging(cfg, stream=buf, logger_name="falco-test-logging-iso")
    log.warning("Falco initialized")
    # ctime(3), as Falco: "Thu Aug  4 16:17:57 2016: ..."
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: "
                        r"Falco initialized\n", buf.getvalue()), buf.getvalue()


def test_outputs_retry_keys():
    cfg = load_config(text="outputs_retry: {attempts: 5, backoff: 0.5, budget: 2}\n")
    assert (cfg.outputs_retry.attempts, cfg.outputs_retry.backoff,
            cfg.outputs_retry.budget) == (5, 0.5, 2.0)
    assert not cfg.warnings
    with pytest.raises(ConfigError) as exc:
        load_config(text="outputs_retry: {attempts: 0}\n")
    assert "outputs_retry.attempts" in str(exc.value) and "\n" not in str(exc.value)

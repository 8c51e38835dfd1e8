"""The project's own default rule files (rules/*.yaml).

They must load cleanly (alone and together), cover the behaviours the
project promises, follow the house conventions (desc/output/priority/tags,
maturity and MITRE tags, event-type macro first, tuning hooks) and be the
project's own text, not copies of upstream falcosecurity/rules.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from falco.rules import load_rule_files
from falco_engine.filter_ast import FieldRef, walk
from falco_engine.filter_check import evttype_set

from conftest import COMPAT, REPO

RULES_DIR = REPO / "rules"
STABLE = RULES_DIR / "falco_rules.yaml"
INCUBATING = RULES_DIR / "falco-incubating_rules.yaml"
SANDBOX = RULES_DIR / "falco-sandbox_rules.yaml"
FILES = [STABLE, INCUBATING, SANDBOX]          # Falco's load order
MATURITY = {STABLE: "maturity_stable", INCUBATING: "maturity_incubating",
            SANDBOX: "maturity_sandbox"}
README = RULES_DIR / "README.md"
EVENT_TABLE = REPO / "driver" / "event_table.yaml"
UPSTREAM_RULES = COMPAT / "rules"

# Every behaviour the project promises to detect -> the rules covering it.
# (Falco README behaviours first, then the classes of upstream's stable set.)
BEHAVIOURS: dict[str, list[str]] = {
    "shell in a container": ["Interactive shell in container"],
    "privileged container or sensitive host mount": [
        "Privileged container started", "Container started with sensitive host mount"],
    "server process spawning an unexpected child": [
        "Unexpected child of web or database server", "Shell spawned by network service"],
    "read of a sensitive file such as /etc/shadow": [
        "Credential file read by unexpected program"],
    "non-device file written under /dev": ["Regular file created under /dev"],
    "standard system binary making an outbound connection": [
        "Core system utility made network connection"],
    "write below binary dirs": ["File written in system binary directory"],
    "write below /etc": ["File written under /etc by unexpected program"],
    "write below root": ["File written in root directory or root home"],
    "read sensitive files by untrusted programs": [
        "Credential file read by unexpected program"],
    "shell spawned by a non-shell program": ["Shell spawned by network service"],
    "terminal shell in container": ["Interactive shell in container"],
    "netcat / remote code execution tools": [
        "Netcat or socat launched with command execution"],
    "search for private keys or passwords": ["Search for private keys or passwords"],
    "clear log activities": ["Log file truncated", "Log file deleted or renamed"],
    "remove bulk data": ["Data wiping tool run"],
    "create symlink over sensitive files": ["Symlink created to credential store"],
    "create hardlink over sensitive files": ["Hardlink created to credential store"],
    "packet socket created in a container": ["Raw packet socket opened in container"],
    "directory traversal of /etc/shadow": ["Protected file reached through path traversal"],
    "PTRACE attach": ["Process attached or modified with ptrace"],
    "PTRACE anti-debug": ["Process blocked debugging with PTRACE_TRACEME"],
    "fileless execution via memfd_create": [
        "Program executed from memory-only file", "Anonymous memory file created"],
    "drop and execute new binary in a container": ["Executable not in image run in container"],
    "execution from /dev/shm": ["Program executed from /dev/shm"],
    "disable ASLR / personality": ["Kernel ASLR setting changed", "Process personality changed"],
    "kernel module injection (init_module/finit_module)": [
        "Kernel module loaded from container",
        "Kernel module loaded on host by unexpected program"],
    "debugfs launched in a privileged container": [
        "Filesystem debugger run in privileged container"],
    "mount in container": ["Filesystem mounted inside container"],
    "sudo potential privilege escalation": ["Sudo heap overflow exploit attempt"],
    "contact K8S API server from container": ["Kubernetes API contacted from container"],
    "redirect STDOUT/STDIN to network connection in container": [
        "Standard streams redirected to network socket in container"],
    "BPF program loaded by an unexpected process": ["BPF program loaded by unexpected process"],
    "set setuid/setgid bit": ["Setuid or setgid bit set on file"],
}

PRIORITIES = {"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE",
              "INFORMATIONAL", "INFO", "DEBUG"}
MITRE_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
MITRE_TACTIC = re.compile(r"^mitre_[a-z_]+$")


def _items(path: Path) -> list[dict]:
    return [i for i in yaml.safe_load(path.read_text()) if isinstance(i, dict)]


def _raw_rules(path: Path) -> list[dict]:
    return [i for i in _items(path) if "rule" in i]


def _all_raw_rules() -> list[tuple[Path, dict]]:
    return [(p, r) for p in FILES for r in _raw_rules(p)]


def _diagnostics(result) -> list[str]:
    return [str(d) for d in result.errors + result.warnings]


# --- loading ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_loads_alone_without_errors_or_warnings(path: Path) -> None:
    result = load_rule_files([path])
    assert _diagnostics(result) == []
    assert result.rules, f"{path.name} defines no rule"


def test_files_load_together_without_errors_or_warnings() -> None:
    result = load_rule_files(FILES)
    assert _diagnostics(result) == []
    assert len(result.rules) == sum(len(_raw_rules(p)) for p in FILES)


def test_files_start_with_required_engine_version() -> None:
    for path in FILES:
        first = _items(path)[0]
        assert "required_engine_version" in first, path.name


def test_rule_names_unique_across_files() -> None:
    names = [r["rule"] for _, r in _all_raw_rules()]
    assert len(names) == len(set(names))


def test_shared_macros_and_lists_identical_across_files() -> None:
    """Files are self-contained, so base macros/lists are repeated; a later
    file's copy replaces the earlier one, so the copies must not drift."""
    seen: dict[tuple[str, str], tuple[Path, object]] = {}
    for path in FILES:
        for item in _items(path):
            for kind, body in (("macro", "condition"), ("list", "items")):
                if kind in item:
                    key = (kind, item[kind])
                    if key in seen:
                        first_path, first_body = seen[key]
                        assert item[body] == first_body, (
                            f"{kind} {item[kind]!r} differs between {first_path.name} "
                            f"and {path.name}")
                    else:
                        seen[key] = (path, item[body])


# --- coverage ---------------------------------------------------------------------------

def test_every_behaviour_is_covered() -> None:
    loaded = {r.name: r for r in load_rule_files(FILES).rules}
    readme = README.read_text()
    for behaviour, names in BEHAVIOURS.items():
        assert names, behaviour
        for name in names:
            assert name in loaded, f"{behaviour}: rule {name!r} is not defined"
            # a disabled rule counts only if the README documents it
            assert loaded[name].enabled or name in readme, (
                f"{behaviour}: {name!r} is disabled and not documented in rules/README.md")
        assert any(n in readme for n in names), f"{behaviour} missing from rules/README.md"


def test_enabled_state_follows_maturity() -> None:
    loaded = {r.name: r for r in load_rule_files(FILES).rules}
    for path, raw in _all_raw_rules():
        rule = loaded[raw["rule"]]
        if path == STABLE:
            assert rule.enabled, f"stable rule {rule.name!r} must be enabled"
        else:
            assert not rule.enabled, f"{path.name}: {rule.name!r} must be enabled: false"


# --- conventions ------------------------------------------------------------------------

@pytest.mark.parametrize("path,raw", _all_raw_rules(), ids=lambda x: getattr(x, "name", None)
                         or (x.get("rule") if isinstance(x, dict) else str(x)))
def test_rule_fields(path: Path, raw: dict) -> None:
    name = raw["rule"]
    for key in ("desc", "condition", "output", "priority", "tags"):
        assert raw.get(key), f"{name}: missing {key}"
    assert len(raw["desc"].split()) >= 25, f"{name}: desc should explain threat and tuning"
    assert raw["priority"] == raw["priority"].upper() and raw["priority"] in PRIORITIES
    tags = raw["tags"]
    assert tags[0] == MATURITY[path], f"{name}: maturity tag must come first"
    assert "host" in tags or "container" in tags, f"{name}: host/container tag"
    assert any(MITRE_TACTIC.match(t) for t in tags), f"{name}: MITRE tactic tag"
    assert any(MITRE_TECHNIQUE.match(t) for t in tags), f"{name}: MITRE technique id"
    output = raw["output"]
    assert " | " in output, f"{name}: output is 'sentence | key=%field ...'"
    for field in ("%user.name", "%proc.name", "%proc.pname", "%proc.cmdline"):
        assert field in output, f"{name}: output lacks {field}"


def test_conditions_open_with_event_type_macro() -> None:
    macros = load_rule_files(FILES).macros
    for path, raw in _all_raw_rules():
        first = re.match(r"\s*\(*\s*([A-Za-z_][\w.]*)", raw["condition"])
        assert first, raw["rule"]
        head = first.group(1)
        assert head in macros, f"{raw['rule']}: condition opens with {head!r}, not a macro"
        cofinite, names = evttype_set(macros[head].condition)
        assert not cofinite and names, f"{raw['rule']}: {head!r} does not select event types"


def test_tuning_hooks_default_to_never_true() -> None:
    for path in FILES:
        for item in _items(path):
            name = item.get("macro", "")
            if name.startswith("user_known_"):
                assert item["condition"].strip() == "(never_true)", f"{path.name}: {name}"
            if item.get("list", "").startswith("user_known_"):
                assert item["items"] == [], f"{path.name}: {item['list']} must ship empty"


def _event_params() -> dict[str, set[str]]:
    table = yaml.safe_load(EVENT_TABLE.read_text())
    params: dict[str, set[str]] = {}
    for ev in table["events"]:
        names = params.setdefault(ev.get("name", ""), set())
        names.update(p[0] for p in ev.get("params") or ())
    return params


def test_event_arguments_exist_for_rule_event_types() -> None:
    """`evt.arg.X` is not checked by the loader; a misspelt argument name
    would make a rule silently never match."""
    params = _event_params()
    for rule in load_rule_files(FILES).rules:
        assert rule.evttypes, rule.name
        allowed = set().union(*(params.get(t, set()) for t in rule.evttypes))
        used = {n.name.split(".", 2)[2] for n in walk(rule.condition)
                if isinstance(n, FieldRef) and n.name.startswith(("evt.arg.", "evt.rawarg."))}
        used |= set(re.findall(r"%evt\.(?:raw)?arg\.(\w+)", rule.output))
        assert used <= allowed, (
            f"{rule.name}: {sorted(used - allowed)} not parameters of {sorted(rule.evttypes)}")


# --- originality ------------------------------------------------------------------------

def _norm(text: str) -> str:
    return " ".join(str(text).split())


def _upstream_rules() -> list[dict]:
    if not UPSTREAM_RULES.is_dir():
        pytest.skip(f"upstream rule files for the originality check are absent "
                    f"({UPSTREAM_RULES}: ../shared/compat not mounted)")
    out: list[dict] = []
    for path in sorted(UPSTREAM_RULES.rglob("*.yaml")):
        try:
            docs = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        out += [i for i in docs or () if isinstance(i, dict) and "rule" in i]
    assert out, f"no upstream rules found under {UPSTREAM_RULES}"
    return out


def test_no_rule_name_collides_with_upstream() -> None:
    upstream = {_norm(r["rule"]).lower() for r in _upstream_rules()}
    ours = {_norm(r["rule"]).lower() for _, r in _all_raw_rules()}
    assert ours & upstream == set()


def test_no_desc_or_output_copied_from_upstream() -> None:
    upstream = _upstream_rules()
    texts = {_norm(r[k]) for r in upstream for k in ("desc", "output") if r.get(k)}
    for _, raw in _all_raw_rules():
        for key in ("desc", "output"):
            assert _norm(raw[key]) not in texts, f"{raw['rule']}: {key} copied from upstream"


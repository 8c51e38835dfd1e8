"""The rule test file format: YAML read with line numbers, validated into
`TestCase` objects.  Every error names the file and line.

A test file is a mapping with a ``tests:`` list (and an optional
``rules_files:`` list naming the rule files it was written for)::

    tests:
      - name: cat reads /etc/shadow
        rule: Credential file read by unexpected program   # rule(s) under test
        process:                                         # who runs the syscalls
          exe: /usr/bin/cat
          args: [/etc/shadow]
          user: alice
          uid: 1000
          parent: {exe: /usr/bin/bash, parent: {exe: /usr/sbin/sshd}}
        container: {image: nginx:1.25, privileged: true}  # optional
        events:                                           # syscalls, args by NAME
          - openat: {name: /etc/shadow, flags: [O_RDONLY]}
        expect:
          - rule: Credential file read by unexpected program
            count: 1
            output_fields: {fd.name: /etc/shadow, user.name: alice}

``spawn: {exe: /bin/sh, args: [-c, id]}`` stands for a fork of the process
and an execve in the child; the events after it are the child's. (A bare
``execve`` replaces the process itself, so its parent stays the parent.)
``expect: []`` (or ``expect: none``) expects no alert from the rules under
test.  Instead of ``events:`` a case may give ``scap: path`` (relative to
the test file) or ``live: "shell command"`` (run under the eBPF driver).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from falco_engine import table as _table

__all__ = ["FormatError", "TestFile", "TestCase", "Expectation", "EventSpec", "collect",
           "load_test_file", "load_test_text", "looks_like_test_file", "syscall_events"]


class FormatError(Exception):
    """A malformed test file; str() is ``file:line: message``."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message


class _LineDict(dict):
    """A mapping that remembers its line and each key's line."""
    line = 0
    key_lines: dict


class _LineList(list):
    line = 0


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=True)
        out[key] = loader.construct_object(vnode, deep=True)
        out.key_lines[key] = knode.start_mark.line + 1
    return out


def _construct_seq(loader, node):
    out = _LineList(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


# --- the event table, as the synthesizer uses it ------------------------------

_OLD_VERSION = 512          # EF_OLD_VERSION


def syscall_events() -> dict[str, tuple[int, int | None]]:
    """{name: (enter id, exit id)}: the newest event pair of each name
    (versions not flagged EF_OLD_VERSION win, then the highest id)."""
    cands: dict[str, list] = {}
    for ev in _table.EVENTS:
        if ev.id % 2 or ev.unused or ev.name in ("NA", "") or ev.id + 1 >= len(_table.EVENTS):
            continue
        cands.setdefault(ev.name, []).append(ev)
    out = {}
    for name, evs in cands.items():
        new = [e for e in evs if not e.flags & _OLD_VERSION]
        best = max(new or evs, key=lambda e: e.id)
        pair = _table.EVENTS[best.id + 1]
        # Meta events (container, procexit, ...) have no exit record.
        out[name] = (best.id, best.id + 1 if pair.name == name and not pair.unused else None)
    return out


_EVENTS = syscall_events()
_GENERIC = {name for name in _table.SYSCALL_NAMES if name and name not in _EVENTS}


def param_names(syscall: str) -> set[str]:
    if syscall == "spawn":                     # fork + execve: the execve's parameters
        return param_names("execve")
    if syscall in _EVENTS:
        names = set()
        for i in _EVENTS[syscall]:
            if i is not None:
                names |= {p.name for p in _table.EVENTS[i].params}
        return names
    return {"ID", "nativeID"}


# --- the model -------------------------------------------------------------------

@dataclass
class EventSpec:
    syscall: str
    args: dict[str, Any]
    line: int
    tid: int | None = None        # run by another thread of the case (default: the process)


@dataclass
class Expectation:
    rule: str
    count: int | None = 1         # None: at least one
    priority: str | None = None
    output_fields: dict[str, str] = field(default_factory=dict)
    output_contains: list[str] = field(default_factory=list)
    line: int = 0


@dataclass
class TestCase:
    name: str
    filename: str
    line: int
    rules: list[str]              # under test: enabled, and only their alerts count
    expect: list[Expectation]
    all_rules: bool = False       # count alerts of every loaded, enabled rule
    process: dict[str, Any] = field(default_factory=dict)
    container: dict[str, Any] | None = None
    users: dict[int, str] = field(default_factory=dict)
    events: list[EventSpec] | None = None
    scap: str | None = None
    live: str | None = None
    live_timeout: float = 2.0
    desc: str = ""
    skip: str | None = None       # why the case is not run (reported as skipped)
    overrides: str | None = None  # rule YAML loaded after the rule files, for this case

    @property
    def where(self) -> str:
        return f"{self.filename}:{self.line}"


@dataclass
class TestFile:
    filename: str
    cases: list[TestCase]
    rules_files: list[str] = field(default_factory=list)


_FILE_KEYS = {"tests", "rules_files"}
_CASE_KEYS = {"name", "desc", "rule", "rules", "all_rules", "process", "container",
              "users", "events", "scap", "live", "live_timeout", "expect", "skip",
              "overrides"}
_EXPECT_KEYS = {"rule", "count", "priority", "output_fields", "output_contains"}
PROCESS_KEYS = {"comm", "exe", "exepath", "args", "cmdline", "cwd", "uid", "gid", "user",
                "loginuid", "tty", "tid", "pid", "vpid", "vtid", "env", "exe_writable",
                "exe_upper_layer", "exe_from_memfd", "cap_effective", "cap_permitted",
                "cap_inheritable", "parent", "fds", "host"}
CONTAINER_KEYS = {"id", "name", "image", "privileged", "mounts", "labels", "pod",
                  "namespace", "type", "ip", "metadata_event"}
_MOUNT_KEYS = {"source", "destination", "mode", "rw", "propagation"}
FD_KEYS = {"type", "name", "tuple", "flags"}
_PRIORITIES = {"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE",
               "INFORMATIONAL", "INFO", "DEBUG"}


class _Ctx:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def err(self, line: int, msg: str) -> FormatError:
        return FormatError(self.filename, line, msg)

    @staticmethod
    def line_of(m: Any, key: Any = None, default: int = 0) -> int:
        if isinstance(m, _LineDict):
            if key is not None and key in m.key_lines:
                return m.key_lines[key]
            return m.line
        return getattr(m, "line", default)

    def mapping(self, v: Any, what: str, line: int) -> _LineDict:
        if not isinstance(v, dict):
            raise self.err(getattr(v, "line", line), f"{what} must be a mapping")
        return v  # type: ignore[return-value]

    def unknown(self, m: _LineDict, allowed: set[str], what: str) -> None:
        for k in m:
            if k not in allowed:
                raise self.err(self.line_of(m, k),
                               f"unknown key '{k}' in {what} (expected one of: "
                               f"{', '.join(sorted(allowed))})")

    def string(self, m: _LineDict, key: str, what: str) -> str:
        v = m[key]
        if not isinstance(v, str) or not v:
            raise self.err(self.line_of(m, key), f"{what}: '{key}' must be a non-empty string")
        return v


def looks_like_test_file(text: str) -> bool:
    """A test file's top level is a mapping with a `tests:` key."""
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        # Broken YAML: still a test file when it says so at the top level,
        # so that loading it reports the error with its line.
        return re.search(r"(?m)^tests\s*:", text) is not None
    return isinstance(doc, dict) and "tests" in doc


def collect(paths: list[str]) -> tuple[list[tuple[str, str]], list[TestFile]]:
    """Rule files (name, text) and test files among `paths`, told apart by
    content; directories are searched recursively for .yaml/.yml, the
    default rules loading first (falco_rules.yaml, then the rest by name).
    With no rule file among them, the test files' `rules_files:` are used.
    Raises FormatError (a bad test file) or OSError."""
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = []
            for root, dirs, names in os.walk(p):
                dirs.sort()
                found += [os.path.join(root, n) for n in names if n.endswith((".yaml", ".yml"))]
            found.sort(key=lambda f: (os.path.dirname(f),
                                      os.path.basename(f) != "falco_rules.yaml", f))
            files += found
        else:
            files.append(p)
    rules: list[tuple[str, str]] = []
    tests: list[TestFile] = []
    seen: set[str] = set()
    for f in files:
        real = os.path.realpath(f)
        if real in seen:
            continue
        seen.add(real)
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        if looks_like_test_file(text):
            tests.append(load_test_text(f, text))
        else:
            rules.append((f, text))
    if not rules:
        for tf in tests:
            for rf in tf.rules_files:
                if os.path.realpath(rf) not in seen:
                    seen.add(os.path.realpath(rf))
                    with open(rf, encoding="utf-8") as fh:
                        rules.append((rf, fh.read()))
    return rules, tests


def load_test_file(path: str) -> TestFile:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise FormatError(path, 0, exc.strerror or str(exc)) from None
    return load_test_text(path, text)


def load_test_text(filename: str, text: str) -> TestFile:
    ctx = _Ctx(filename)
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ctx.err(mark.line + 1 if mark else 0,
                      f"invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(doc, dict) or "tests" not in doc:
        raise ctx.err(getattr(doc, "line", 1), "a test file is a mapping with a 'tests:' list")
    ctx.unknown(doc, _FILE_KEYS, "the test file")
    tests = doc["tests"]
    if not isinstance(tests, list):
        raise ctx.err(ctx.line_of(doc, "tests"), "'tests' must be a list of cases")
    rules_files = doc.get("rules_files") or []
    if not isinstance(rules_files, list) or not all(isinstance(x, str) for x in rules_files):
        raise ctx.err(ctx.line_of(doc, "rules_files"), "'rules_files' must be a list of paths")
    base = os.path.dirname(filename)
    cases = []
    names: dict[str, int] = {}
    for item in tests:
        case = _read_case(ctx, item, base)
        if case.name in names:
            raise ctx.err(case.line, f"duplicate case name '{case.name}' "
                                     f"(first at line {names[case.name]})")
        names[case.name] = case.line
        cases.append(case)
    return TestFile(filename, cases, [os.path.join(base, r) for r in rules_files])


def _str_list(ctx: _Ctx, m: _LineDict, key: str, what: str) -> list[str]:
    v = m[key]
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise ctx.err(ctx.line_of(m, key), f"{what}: '{key}' must be a rule name or a list of them")
    return list(v)


def _read_case(ctx: _Ctx, item: Any, base: str) -> TestCase:
    m = ctx.mapping(item, "a test case", getattr(item, "line", 0))
    line = m.line
    ctx.unknown(m, _CASE_KEYS, "a test case")
    if "name" not in m:
        raise ctx.err(line, "a test case needs a 'name'")
    name = ctx.string(m, "name", "test case")
    what = f"case '{name}'"
    rules: list[str] = []
    for key in ("rule", "rules"):
        if key in m:
            rules += _str_list(ctx, m, key, what)
    sources = [k for k in ("events", "scap", "live") if k in m]
    if len(sources) != 1:
        raise ctx.err(line, f"{what}: give exactly one of 'events', 'scap' or 'live'"
                            + (f" (found {', '.join(sources)})" if sources else ""))
    if "expect" not in m:
        raise ctx.err(line, f"{what}: 'expect' is required (a list of alerts, or [] for none)")
    expect = _read_expect(ctx, m, what)
    for e in expect:
        if e.rule not in rules:
            rules.append(e.rule)
    all_rules = m.get("all_rules", False)
    if not isinstance(all_rules, bool):
        raise ctx.err(ctx.line_of(m, "all_rules"), f"{what}: 'all_rules' must be true or false")
    if not rules and not all_rules:
        raise ctx.err(line, f"{what}: name the rule(s) under test with 'rule:' "
                            "(a case that expects no alert must say which rule stays quiet)")
    case = TestCase(name=name, filename=ctx.filename, line=line, rules=rules,
                    expect=expect, all_rules=all_rules,
                    desc=str(m.get("desc", "") or ""))
    if "skip" in m:
        case.skip = ctx.string(m, "skip", what)
    if "overrides" in m:
        ov = m["overrides"]
        if isinstance(ov, list):
            ov = yaml.safe_dump(_plain(ov), sort_keys=False)
        if not isinstance(ov, str):
            raise ctx.err(ctx.line_of(m, "overrides"),
                          f"{what}: 'overrides' is rule YAML (a list of items or a string)")
        case.overrides = ov
    if "process" in m:
        case.process = _read_process(ctx, m["process"], ctx.line_of(m, "process"), what)
    elif "events" in m:
        case.process = {}
    if "container" in m and m["container"] is not None:
        case.container = _read_container(ctx, m["container"], ctx.line_of(m, "container"), what)
    if "users" in m:
        u = ctx.mapping(m["users"], f"{what}: 'users'", ctx.line_of(m, "users"))
        for k, v in u.items():
            if not isinstance(k, int) or not isinstance(v, str):
                raise ctx.err(ctx.line_of(u, k), f"{what}: 'users' maps uid numbers to names")
            case.users[k] = v
    if "events" in m:
        case.events = _read_events(ctx, m, what)
    elif "scap" in m:
        path = ctx.string(m, "scap", what)
        case.scap = path if os.path.isabs(path) else os.path.join(base, path)
        if not os.path.exists(case.scap):
            raise ctx.err(ctx.line_of(m, "scap"), f"{what}: capture '{path}' not found")
    else:
        case.live = ctx.string(m, "live", what)
        t = m.get("live_timeout", 2.0)
        if not isinstance(t, (int, float)) or t <= 0:
            raise ctx.err(ctx.line_of(m, "live_timeout"), f"{what}: 'live_timeout' must be seconds > 0")
        case.live_timeout = float(t)
    return case


def _read_expect(ctx: _Ctx, m: _LineDict, what: str) -> list[Expectation]:
    v = m["expect"]
    line = ctx.line_of(m, "expect")
    if v is None or v == "none" or v == []:
        return []
    if not isinstance(v, list):
        raise ctx.err(line, f"{what}: 'expect' must be a list of alerts, [] or none")
    out = []
    for e in v:
        if isinstance(e, str):
            out.append(Expectation(rule=e, line=getattr(v, "line", line)))
            continue
        em = ctx.mapping(e, f"{what}: an expected alert", line)
        ctx.unknown(em, _EXPECT_KEYS, f"{what}: an expected alert")
        if "rule" not in em:
            raise ctx.err(em.line, f"{what}: an expected alert needs 'rule'")
        ex = Expectation(rule=ctx.string(em, "rule", what), line=em.line)
        if "count" in em:
            c = em["count"]
            if c == "any":
                ex.count = None
            elif not isinstance(c, int) or isinstance(c, bool) or c < 0:
                raise ctx.err(ctx.line_of(em, "count"),
                              f"{what}: 'count' must be a number >= 0 or 'any'")
            else:
                ex.count = c
        if "priority" in em:
            p = str(em["priority"]).upper()
            if p not in _PRIORITIES:
                raise ctx.err(ctx.line_of(em, "priority"), f"{what}: unknown priority '{em['priority']}'")
            ex.priority = p
        if "output_fields" in em:
            of = ctx.mapping(em["output_fields"], f"{what}: 'output_fields'", ctx.line_of(em, "output_fields"))
            ex.output_fields = {str(k): _text(val) for k, val in of.items()}
        if "output_contains" in em:
            oc = em["output_contains"]
            ex.output_contains = [oc] if isinstance(oc, str) else [str(x) for x in oc]
        out.append(ex)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _text(v: Any) -> str:
    if v is None:
        return "<NA>"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _read_process(ctx: _Ctx, v: Any, line: int, what: str, depth: int = 0) -> dict[str, Any]:
    if isinstance(v, str):                   # shorthand: an executable path or a comm
        return {"exe": v} if "/" in v else {"comm": v}
    m = ctx.mapping(v, f"{what}: 'process'" if depth == 0 else f"{what}: 'parent'", line)
    ctx.unknown(m, PROCESS_KEYS, f"{what}: a process")
    out: dict[str, Any] = dict(m)
    for k in ("comm", "exe", "exepath", "cwd", "user", "cmdline"):
        if k in m and not isinstance(m[k], str):
            raise ctx.err(ctx.line_of(m, k), f"{what}: '{k}' must be a string")
    for k in ("uid", "gid", "loginuid", "tty", "tid", "pid", "vpid", "vtid",
              "cap_effective", "cap_permitted", "cap_inheritable"):
        if k in m and (not isinstance(m[k], int) or isinstance(m[k], bool)):
            raise ctx.err(ctx.line_of(m, k), f"{what}: '{k}' must be a number")
    for k in ("exe_writable", "exe_upper_layer", "exe_from_memfd", "host"):
        if k in m and not isinstance(m[k], bool):
            raise ctx.err(ctx.line_of(m, k), f"{what}: '{k}' must be true or false")
    if "args" in m:
        a = m["args"]
        if isinstance(a, str):
            import shlex
            out["args"] = shlex.split(a)
        elif not isinstance(a, list):
            raise ctx.err(ctx.line_of(m, "args"), f"{what}: 'args' must be a list or a string")
        else:
            out["args"] = [str(x) for x in a]
    if "args" in m and "cmdline" in m:
        raise ctx.err(ctx.line_of(m, "cmdline"), f"{what}: give 'args' or 'cmdline', not both")
    if "env" in m and not isinstance(m["env"], list):
        raise ctx.err(ctx.line_of(m, "env"), f"{what}: 'env' must be a list of KEY=VALUE")
    if "fds" in m:
        fds = ctx.mapping(m["fds"], f"{what}: 'fds'", ctx.line_of(m, "fds"))
        for k, fd in fds.items():
            if not isinstance(k, int):
                raise ctx.err(ctx.line_of(fds, k), f"{what}: 'fds' keys are fd numbers")
            fm = ctx.mapping(fd, f"{what}: fd {k}", ctx.line_of(fds, k))
            ctx.unknown(fm, FD_KEYS, f"{what}: fd {k}")
    if "parent" in m and m["parent"] is not None:
        if depth > 30:
            raise ctx.err(ctx.line_of(m, "parent"), f"{what}: parent chain too deep")
        out["parent"] = _read_process(ctx, m["parent"], ctx.line_of(m, "parent"), what, depth + 1)
    return out


def _read_container(ctx: _Ctx, v: Any, line: int, what: str) -> dict[str, Any]:
    if v is True:
        return {}
    m = ctx.mapping(v, f"{what}: 'container'", line)
    ctx.unknown(m, CONTAINER_KEYS, f"{what}: 'container'")
    out = dict(m)
    if "id" in m:
        cid = str(m["id"])
        if len(cid) not in (12, 64) or any(c not in "0123456789abcdef" for c in cid):
            raise ctx.err(ctx.line_of(m, "id"), f"{what}: container 'id' must be 12 or 64 lowercase hex digits")
        out["id"] = cid
    if "privileged" in m and not isinstance(m["privileged"], bool):
        raise ctx.err(ctx.line_of(m, "privileged"), f"{what}: 'privileged' must be true or false")
    if "mounts" in m:
        mounts = m["mounts"]
        if not isinstance(mounts, list):
            raise ctx.err(ctx.line_of(m, "mounts"), f"{what}: 'mounts' must be a list")
        norm = []
        for mt in mounts:
            if isinstance(mt, str):                # "source:destination"
                src, _, dst = mt.partition(":")
                norm.append({"source": src, "destination": dst or src})
                continue
            mm = ctx.mapping(mt, f"{what}: a mount", getattr(mounts, "line", line))
            ctx.unknown(mm, _MOUNT_KEYS, f"{what}: a mount")
            if "source" not in mm:
                raise ctx.err(mm.line, f"{what}: a mount needs 'source'")
            norm.append(dict(mm))
        out["mounts"] = norm
    if "labels" in m:
        ctx.mapping(m["labels"], f"{what}: 'labels'", ctx.line_of(m, "labels"))
    return out


def _read_events(ctx: _Ctx, m: _LineDict, what: str) -> list[EventSpec]:
    evs = m["events"]
    line = ctx.line_of(m, "events")
    if not isinstance(evs, list) or not evs:
        raise ctx.err(line, f"{what}: 'events' must be a non-empty list of syscalls")
    out = []
    for ev in evs:
        if isinstance(ev, str):                          # "- procexit" with no args
            ev_line = getattr(evs, "line", line)
            name, args, tid = ev, _LineDict(), None
            args.line, args.key_lines = ev_line, {}
        else:
            em = ctx.mapping(ev, f"{what}: an event", getattr(evs, "line", line))
            keys = [k for k in em if k != "tid"]
            if len(keys) != 1:
                raise ctx.err(em.line, f"{what}: an event is one 'syscall: {{args}}' mapping "
                                       f"(found {', '.join(map(str, keys)) or 'nothing'})")
            name = keys[0]
            tid = em.get("tid")
            ev_line = ctx.line_of(em, name)
            args = em[name]
            if args is None:
                args = _LineDict()
                args.line, args.key_lines = ev_line, {}
            args = ctx.mapping(args, f"{what}: args of '{name}'", ev_line)
        if not isinstance(name, str) or (name not in _EVENTS and name not in _GENERIC
                                         and name != "spawn"):
            raise ctx.err(ev_line, f"{what}: unknown syscall or event '{name}' "
                                   "(see `falco list-events`)")
        known = param_names(name)
        for k in args:
            if k not in known:
                raise ctx.err(ctx.line_of(args, k),
                              f"{what}: '{name}' has no parameter '{k}' "
                              f"(parameters: {', '.join(sorted(known)) or 'none'})")
        out.append(EventSpec(name, dict(args), ev_line, tid))
    return out

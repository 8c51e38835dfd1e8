"""`falco test`: the rule test format, the synthesizer, the runner and the
default rules' own test files."""
from __future__ import annotations

import json
import os
import re
import textwrap

import pytest
from click.testing import CliRunner

from falco.cli import main
from falco.rules import load_rule_files, load_rules
from falco.ruletest import (FAIL, PASS, SKIP, FormatError, RuleTestRunner, load_test_file,
                            load_test_text, looks_like_test_file, synthesize)
from falco.ruletest.format import syscall_events
from falco_engine import table
from falco_engine.decoder import scan_records
from falco_engine.params import read_int, render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "rules")
TESTS = os.path.join(RULES, "tests")
RULE_FILES = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]

# Positive cases skipped for a named engine gap (see the `skip:` text in the
# test files). Fix the engine, drop the skip, and remove the rule from here.
KNOWN_ENGINE_GAPS: set[str] = set()


def _tests(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def _load(text: str):
    return load_test_text("t.yaml", _tests(text))


GOOD = """
tests:
  - name: cat reads shadow
    rule: Credential file read by unexpected program
    process: {exe: /usr/bin/cat, args: [/etc/shadow], user: alice, uid: 1000,
              parent: {exe: /bin/bash}}
    events:
      - openat: {name: /etc/shadow, flags: [O_RDONLY]}
    expect:
      - rule: Credential file read by unexpected program
        output_fields: {fd.name: /etc/shadow, user.name: alice, proc.pname: bash}
"""


# --- the format ---------------------------------------------------------------------

@pytest.mark.parametrize("text, line, message", [
    ("rules: []\n", 1, "a mapping with a 'tests:' list"),
    ("tests: {a: 1}\n", 1, "'tests' must be a list"),
    ("""
     tests:
       - name: a
         rule: R
         events:
           - openat: {name: /x}
     """, 2, "'expect' is required"),
    ("""
     tests:
       - name: a
         rule: R
         events:
           - openat: {name: /x, flagz: [O_RDONLY]}
         expect: []
     """, 5, "'openat' has no parameter 'flagz'"),
    ("""
     tests:
       - name: a
         rule: R
         events:
           - no_such_call: {}
         expect: []
     """, 5, "unknown syscall or event 'no_such_call'"),
    ("""
     tests:
       - name: a
         events:
           - openat: {name: /x}
         expect: []
     """, 2, "name the rule(s) under test"),
    ("""
     tests:
       - name: a
         rule: R
         process: {exe: /bin/sh, colour: red}
         events:
           - openat: {name: /x}
         expect: []
     """, 4, "unknown key 'colour'"),
    ("""
     tests:
       - name: a
         rule: R
         events:
           - openat: {name: /x}
         scap: x.scap
         expect: []
     """, 2, "exactly one of 'events', 'scap' or 'live'"),
    ("""
     tests:
       - name: a
         rule: R
         events:
           - openat: {name: /x}
         expect:
           - rule: R
             count: -1
     """, 8, "'count' must be a number"),
    ("""
     tests:
       - name: a
         rule: R
         events: [openat]
         expect: []
       - name: a
         rule: R
         events: [openat]
         expect: []
     """, 6, "duplicate case name 'a'"),
    ("""
     tests:
       - name: a
         rule: R
         container: {id: XYZ}
         events: [openat]
         expect: []
     """, 4, "container 'id' must be"),
    ("tests:\n  - name: [unclosed\n", 3, "invalid YAML"),
])
def test_format_errors_name_file_and_line(text, line, message):
    with pytest.raises(FormatError) as exc:
        _load(text)
    assert exc.value.line == line, str(exc.value)
    assert message in exc.value.message
    assert str(exc.value).startswith(f"t.yaml:{line}: ")


def test_test_files_are_told_apart_by_content():
    assert looks_like_test_file(_tests(GOOD))
    assert not looks_like_test_file(open(os.path.join(RULES, "falco_rules.yaml")).read())
    assert looks_like_test_file("tests:\n  - name: [broken\n")   # so its error is reported


def test_expectation_shorthands():
    tf = _load("""
        tests:
          - name: a
            rules: [R1, R2]
            events: [openat]
            expect: [R3, {rule: R1, count: any}]
          - name: b
            rule: R1
            events: [openat]
            expect: none
        """)
    a, b = tf.cases
    assert a.rules == ["R1", "R2", "R3"]
    assert a.expect[0].rule == "R3" and a.expect[0].count == 1
    assert a.expect[1].count is None
    assert b.expect == []


# --- the synthesizer -----------------------------------------------------------------

def test_records_decode_with_every_param_in_table_order():
    tf = _load("""
        tests:
          - name: a
            rule: R
            process: {exe: /usr/bin/cat, cwd: /srv}
            events:
              - openat: {name: /etc/shadow, flags: [O_RDONLY, O_CLOEXEC], mode: 0}
              - socket: {domain: AF_INET, type: 1, proto: 6}
              - connect: {addr: "203.0.113.7:443"}
              - dup2: {oldfd: 4, newfd: 0}
              - personality: {}
            expect: []
        """)
    syn = synthesize(tf.cases[0])
    events = list(scan_records(syn.records))
    names = [(e.name, e.dir) for e in events]
    assert names == [("openat", ">"), ("openat", "<"), ("socket", ">"), ("socket", "<"),
                     ("connect", ">"), ("connect", "<"), ("dup2", ">"), ("dup2", "<"),
                     ("personality", ">"), ("personality", "<")]
    pairs = syscall_events()
    assert (events[0].type, events[1].type) == pairs["openat"]
    for ev in events:
        info = table.EVENTS[ev.type]
        assert ev.nparams == len(info.params)          # every parameter of the table
        assert ev.tid == 4242
    ox = table.EVENTS[events[1].type]
    vals = {p.name: events[1].param(i) for i, p in enumerate(ox.params)}
    assert [p.name for p in ox.params][:5] == ["fd", "dirfd", "name", "flags", "mode"]
    assert read_int(vals["fd"], 14) == 3                  # first new descriptor
    assert read_int(vals["dirfd"], 14) == -100            # AT_FDCWD
    assert vals["name"] == b"/etc/shadow\0"
    flags = dict(table.FLAG_SETS[ox.params[3].flag_set])
    assert read_int(vals["flags"], 30) == flags["O_RDONLY"] | flags["O_CLOEXEC"]
    # socket -> fd 4; connect's tuple is built from addr; dup2's res is newfd.
    sx = table.EVENTS[events[3].type]
    assert read_int(events[3].param(0), sx.params[0].type) == 4
    cx = table.EVENTS[events[5].type]
    tup = events[5].param([p.name for p in cx.params].index("tuple"))
    assert render(cx.params[[p.name for p in cx.params].index("tuple")], tup) \
        == "172.17.0.2:40000->203.0.113.7:443"
    assert read_int(events[7].param(0), 14) == 0
    # personality has no event of its own: a generic event carrying its id.
    assert table.SYSCALL_NAMES[read_int(events[8].param(0), 18)] == "personality"
    assert read_int(events[8].param(1), 6) == 135           # its x86_64 number
    assert syn.count == len(events)


def test_process_context_becomes_tables():
    tf = _load("""
        tests:
          - name: a
            rule: R
            process: {exe: /usr/bin/curl, args: [-s, x], user: bob, uid: 1001, tty: 34816,
                      parent: {comm: bash, parent: {exe: /usr/sbin/sshd}}}
            container: {image: registry.example.com/team/app:2.1, privileged: true,
                        mounts: ["/proc:/host/proc"]}
            events: [openat]
            expect: []
        """)
    syn = synthesize(tf.cases[0])
    threads = sorted(syn.tables.threads.values(), key=lambda t: -t.tid)
    assert [t.comm for t in threads] == ["curl", "bash", "sshd"]
    assert threads[0].ptid == threads[1].tid and threads[1].ptid == threads[2].tid
    assert threads[0].args == ["-s", "x"] and threads[0].uid == 1001 and threads[0].tty == 34816
    assert [t.vpid for t in threads] == [3, 2, 1]           # the chain's top is init
    assert all(t.cgroups and "/docker/" in t.cgroups[0] for t in threads)
    assert {u.uid: u.name for u in syn.tables.users}[1001] == "bob"
    (info,) = syn.containers.values()
    assert info["imagerepo"] == "registry.example.com/team/app" and info["imagetag"] == "2.1"
    assert info["privileged"] is True
    assert info["Mounts"][0]["Source"] == "/proc"


def test_spawn_forks_then_execs_in_the_child():
    tf = _load("""
        tests:
          - name: a
            rule: Shell spawned by network service
            process: {exe: /usr/sbin/nginx, parent: /usr/lib/systemd/systemd}
            events:
              - spawn: {exe: /bin/sh, args: [-c, id]}
              - openat: {name: /tmp/x, flags: [O_WRONLY, O_CREAT]}
            expect:
              - rule: Shell spawned by network service
                output_fields: {proc.name: sh, proc.pname: nginx, proc.cmdline: sh -c id}
        """)
    events = list(scan_records(synthesize(tf.cases[0]).records))
    assert [(e.name, e.dir) for e in events][:4] == [
        ("clone", ">"), ("clone", "<"), ("clone", ">"), ("clone", "<")]
    child = events[3].tid
    assert events[1].tid == 4242 and child != 4242
    assert all(e.tid == child for e in events[4:])           # later events are the child's
    (res,) = _runner("falco_rules.yaml").run_files([tf])
    assert res.status == PASS, (res.message, res.diff)


def test_overrides_apply_to_one_case():
    text = """
        tests:
          - name: hooked
            rule: Credential file read by unexpected program
            overrides:
              - list: user_known_credential_readers
                items: [cat]
                override: {items: append}
            process: {exe: /usr/bin/cat}
            events:
              - openat: {name: /etc/shadow, flags: [O_RDONLY]}
            expect: []
          - name: plain
            rule: Credential file read by unexpected program
            process: {exe: /usr/bin/cat}
            events:
              - openat: {name: /etc/shadow, flags: [O_RDONLY]}
            expect: [Credential file read by unexpected program]
        """
    res = _runner("falco_rules.yaml").run_files([_load(text)])
    assert [r.status for r in res] == [PASS, PASS], [(r.message, r.diff) for r in res]


def test_bad_flag_name_is_reported_with_its_line():
    tf = _load("""
        tests:
          - name: a
            rule: Credential file read by unexpected program
            events:
              - openat: {name: /etc/shadow, flags: [O_RDONLY, O_BOGUS]}
            expect: []
        """)
    runner = RuleTestRunner(load_rule_files([os.path.join(RULES, "falco_rules.yaml")]))
    (res,) = runner.run_files([tf])
    assert res.status == "error"
    assert "t.yaml:5" in res.message and "unknown flag 'O_BOGUS'" in res.message


# --- the runner ------------------------------------------------------------------------

def _runner(*names: str) -> RuleTestRunner:
    paths = [os.path.join(RULES, n) for n in names]
    sources = [(p, open(p).read()) for p in paths]
    return RuleTestRunner(load_rules(sources), sources=sources)


def test_runner_passes_and_fails_with_a_readable_diff():
    runner = _runner("falco_rules.yaml")
    good = _load(GOOD)
    assert [r.status for r in runner.run_files([good])] == [PASS]
    wrong = _load(GOOD.replace("user.name: alice", "user.name: mallory"))
    (res,) = runner.run_files([wrong])
    assert res.status == FAIL
    assert "user.name is 'alice', expected 'mallory'" in res.message
    assert "-Credential file read by unexpected program x1  fd.name=/etc/shadow  " \
           "proc.pname=bash  user.name=mallory" in res.diff
    assert "+Credential file read by unexpected program x1  fd.name=/etc/shadow  " \
           "proc.pname=bash  user.name=alice" in res.diff


def test_runner_reports_missing_and_unexpected_alerts():
    runner = _runner("falco_rules.yaml")
    none_expected = _load(GOOD.replace("expect:\n      - rule: Credential file read by "
                                       "unexpected program\n        output_fields: "
                                       "{fd.name: /etc/shadow, user.name: alice, proc.pname: bash}",
                                       "expect: []"))
    (res,) = runner.run_files([none_expected])
    assert res.status == FAIL and "unexpected alert" in res.message
    assert res.diff[-2:] == ["-(no alerts)", "+Credential file read by unexpected program x1"]
    sudo = _load(GOOD.replace("/usr/bin/cat", "/usr/bin/sudo"))
    (res,) = runner.run_files([sudo])
    assert res.status == FAIL and "expected 1 alert(s), got 0" in res.message


def test_disabled_rules_under_test_are_enabled():
    loaded = load_rule_files([os.path.join(RULES, "falco-sandbox_rules.yaml")])
    assert not any(r.enabled for r in loaded.rules)
    tf = _load("""
        tests:
          - name: memfd
            rule: Anonymous memory file created
            process: {exe: /tmp/dropper}
            events:
              - memfd_create: {name: x}
            expect: [Anonymous memory file created]
        """)
    assert [r.status for r in RuleTestRunner(loaded).run_files([tf])] == [PASS]


def test_skip_and_unknown_rule():
    tf = _load("""
        tests:
          - name: skipped
            rule: Anonymous memory file created
            skip: not today
            events: [memfd_create]
            expect: []
          - name: unknown
            rule: No such rule
            events: [memfd_create]
            expect: []
        """)
    res = _runner("falco-sandbox_rules.yaml").run_files([tf])
    assert [r.status for r in res] == [SKIP, "error"]
    assert res[0].message == "not today" and "no loaded rule named 'No such rule'" in res[1].message


# --- the default rules' test files -------------------------------------------------------

def _rule_names(path: str) -> list[str]:
    return [r.name for r in load_rule_files([path]).rules]


@pytest.mark.parametrize("rules_file", RULE_FILES)
def test_every_default_rule_has_positive_and_negative_cases(rules_file):
    tests_file = os.path.join(TESTS, rules_file.replace(".yaml", "_tests.yaml"))
    tf = load_test_file(tests_file)
    results = _runner(rules_file).run_files([tf])
    bad = [(r.case.where, r.case.name, r.status, r.message, r.diff) for r in results
           if r.status not in (PASS, SKIP)]
    assert not bad
    for r in results:
        if r.status == SKIP and r.case.live is None:
            assert r.case.skip and ("engine" in r.case.skip), r.case.name
    for name in _rule_names(os.path.join(RULES, rules_file)):
        mine = [r for r in results if name in r.case.rules]
        positive = [r for r in mine if r.status == PASS and any(e.rule == name for e in r.case.expect)]
        negative = [r for r in mine if not any(e.rule == name for e in r.case.expect)]
        assert negative, f"no negative case for '{name}'"
        if name in KNOWN_ENGINE_GAPS:
            assert any(r.status == SKIP for r in mine), f"'{name}': positive case expected (skipped)"
        else:
            assert positive, f"no passing positive case for '{name}'"


def test_falco_test_cli_over_all_three_rule_files():
    args = [os.path.join(RULES, f) for f in RULE_FILES] + [TESTS]
    result = CliRunner().invoke(main, ["test", *args])
    assert result.exit_code == 0, result.output
    assert re.search(r"falco test: \d+ passed, 0 failed, 0 errors", result.stderr)
    assert "FAIL" not in result.stdout


def test_falco_test_cli_wrong_expectation_exits_1_with_diff(tmp_path):
    p = tmp_path / "wrong_tests.yaml"
    p.write_text(_tests(GOOD).replace("proc.pname: bash", "proc.pname: zsh"))
    result = CliRunner().invoke(
        main, ["test", os.path.join(RULES, "falco_rules.yaml"), str(p)])
    assert result.exit_code == 1
    assert f"FAIL  {p}:2 cat reads shadow" in result.stdout
    assert "proc.pname is 'bash', expected 'zsh'" in result.stdout
    assert "--- expected" in result.stdout and "+++ actual" in result.stdout
    j = CliRunner().invoke(
        main, ["test", "--json", os.path.join(RULES, "falco_rules.yaml"), str(p)])
    doc = json.loads(j.stdout)
    assert j.exit_code == 1 and doc["counts"]["fail"] == 1
    assert doc["cases"][0]["alerts"][0]["output_fields"]["proc.pname"] == "bash"


def test_falco_test_cli_usage_errors(tmp_path):
    rules = os.path.join(RULES, "falco_rules.yaml")
    r = CliRunner().invoke(main, ["test", rules])
    assert r.exit_code == 2 and "no test files" in r.stderr
    bad = tmp_path / "bad_tests.yaml"
    bad.write_text("tests:\n  - name: x\n    rule: R\n    events: [nope]\n    expect: []\n")
    r = CliRunner().invoke(main, ["test", rules, str(bad)])
    assert r.exit_code == 1 and f"{bad}:4: " in r.stderr and "unknown syscall" in r.stderr

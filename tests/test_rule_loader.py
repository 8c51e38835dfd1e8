"""Rule loader: Falco's loader test cases, the upstream rule files, and
focused checks of expansion, diagnostics and positions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from falco.rules import Diagnostic, LoadResult, Priority, load_rule_files, load_rules
from falco.rules import diagnostics as D

from conftest import COMPAT  # noqa: E402  (one place decides where the data is)
CASES_FILE = COMPAT / "falco_ruleloader_cases.jsonl"
RULES_DIR = COMPAT / "rules"
UPSTREAM = RULES_DIR / "falcosecurity-rules-5.1.0"


def _cases() -> list[dict]:
    if not CASES_FILE.exists():
        return []
    return [json.loads(line) for line in CASES_FILE.read_text().splitlines() if line.strip()]


def _case_id(case: dict) -> str:
    return case["test"].split(".", 1)[-1]


# Falco's test-suite constants, mapped to (diagnostic code, message substring).
# Wording may differ from Falco's; the code (kind) must match.
MESSAGE_KEYS = {
    "WARNING_APPEND": (D.LOAD_DEPRECATED_ITEM, "'append' key is deprecated"),
    "WARNING_ENABLED": (D.LOAD_DEPRECATED_ITEM, "standalone 'enabled' key"),
    "WARNING_NO_EVTTYPE": (D.LOAD_NO_EVTTYPE, ""),
    "ERROR_OVERRIDE_APPEND": (None, "'override' and 'append: true' cannot be used together"),
    "ERROR_NO_PREVIOUS_MACRO": (D.LOAD_ERR_VALIDATE, "no macro by that name already exists"),
    "ERROR_NO_PREVIOUS_LIST": (D.LOAD_ERR_VALIDATE, "no list by that name already exists"),
    "ERROR_NO_PREVIOUS_RULE_APPEND": (D.LOAD_ERR_VALIDATE,
                                      "no rule by that name already exists"),
    "ERROR_NO_PREVIOUS_RULE_REPLACE": (D.LOAD_ERR_VALIDATE,
                                       "replace' to a rule was requested but no rule"),
}


def _has_message(diags: list[Diagnostic], message: str) -> bool:
    code, text = MESSAGE_KEYS.get(message, (None, message))
    return any((code is None or d.code == code) and text in d.message for d in diags)


@pytest.mark.parametrize("case", _cases(), ids=_case_id)
def test_falco_ruleloader_case(case: dict) -> None:
    if not CASES_FILE.exists():
        pytest.skip(f"{CASES_FILE} is absent")
    steps = case["steps"]
    if steps[0].get("rules_yaml") is None:
        pytest.xfail("case loads rules from a C++ fixture that the corpus does not "
                     "include; nothing to run")
    result: LoadResult | None = None
    for step in steps:
        call = step["call"]
        if call == "load_rules":
            result = load_rules([("rules.yaml", step["rules_yaml"])])
            expect_ok = step.get("expect_ok")
            if expect_ok is None:
                # Falco's test asserts nothing here; the rules are valid ones.
                expect_ok = True
            assert result.ok == expect_ok, [str(e) for e in result.errors]
        elif call == "check_error_message":
            assert result is not None
            assert _has_message(result.errors, step["message"]) == step["expect_present"], \
                [str(e) for e in result.errors]
        elif call == "check_warning_message":
            assert result is not None
            assert _has_message(result.warnings, step["message"]) == step["expect_present"], \
                [str(w) for w in result.warnings]
        elif call == "has_warnings":
            assert result is not None
            if step.get("expect") is not None:
                assert bool(result.warnings) == step["expect"], [str(w) for w in result.warnings]
        elif call == "get_compiled_rule_condition":
            assert result is not None
            rule = result.rule(step["rule"])
            assert rule is not None, [str(e) for e in result.errors]
            assert rule.condition_text == step["expected_condition"]
        else:  # pragma: no cover - new step kinds must be taught to this test
            pytest.fail(f"unknown step {call!r}")


# --- upstream rule files ------------------------------------------------------------

def _rule_files() -> list[Path]:
    return sorted(p for p in RULES_DIR.glob("*/*.yaml") if p.name != "k8s_audit_rules.yaml") \
        if RULES_DIR.exists() else []


@pytest.mark.parametrize("path", _rule_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_compat_rule_file_loads_without_errors(path: Path) -> None:
    result = load_rule_files([path])
    assert result.errors == [], [str(e) for e in result.errors]


def test_upstream_sets_load_together_fast() -> None:
    if not UPSTREAM.exists():
        pytest.skip(f"{UPSTREAM} is absent")
    files = [UPSTREAM / "falco_rules.yaml", UPSTREAM / "falco-incubating_rules.yaml",
             UPSTREAM / "falco-sandbox_rules.yaml"]
    start = time.perf_counter()
    result = load_rule_files(files)
    elapsed = time.perf_counter() - start
    assert result.errors == [], [str(e) for e in result.errors]
    assert len(result.rules) == 25 + 31 + 37
    assert elapsed < 1.0, f"loading took {elapsed:.2f}s"
    stable = load_rule_files([UPSTREAM / "falco_rules.yaml"])
    assert len(stable.rules) == 25
    assert len(stable.macros) == 87 and len(stable.lists) == 49


def test_upstream_rules_are_indexed_by_event_type() -> None:
    if not UPSTREAM.exists():
        pytest.skip(f"{UPSTREAM} is absent")
    result = load_rule_files([UPSTREAM / "falco_rules.yaml"])
    rule = result.rule("Terminal shell in container")
    assert rule is not None and rule.evttypes is not None
    assert {"execve", "execveat"} <= rule.evttypes
    assert all(r.evttypes is not None for r in result.rules)


def test_k8s_audit_rules_load_with_source_disabled() -> None:
    path = RULES_DIR / "falco_v0.20.0" / "k8s_audit_rules.yaml"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    result = load_rule_files([path])
    assert result.errors == []
    assert result.rules == []
    unknown = [w for w in result.warnings if w.code == D.LOAD_UNKNOWN_SOURCE]
    assert len(unknown) == 32
    assert all("k8s_audit" in w.message and w.line > 0 for w in unknown)


def test_directory_loading_sorts_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("- list: l\n  items: [b]\n  override:\n    items: append\n")
    (tmp_path / "a.yaml").write_text(
        "- list: l\n  items: [a]\n"
        "- rule: r\n  desc: d\n  condition: evt.type=open and proc.name in (l)\n"
        "  output: o\n  priority: info\n")
    result = load_rule_files([tmp_path])
    assert result.ok, [str(e) for e in result.errors]
    assert result.rule("r").condition_text == "(evt.type = open and proc.name in (a, b))"


# --- focused checks -----------------------------------------------------------------

RULE = """\
- rule: Foo
  desc: test
  condition: evt.type = open and proc.nmae = cat
  output: "%proc.name"
  priority: WARNING
"""


def test_error_names_rule_file_line_column_and_suggestion() -> None:
    result = load_rules([("rules.yaml", RULE)])
    assert len(result.errors) == 1
    err = result.errors[0]
    assert err.code == D.LOAD_ERR_COMPILE_CONDITION
    assert (err.filename, err.line, err.column) == ("rules.yaml", 3, 34)
    assert str(err) == ("rules.yaml:3:34: rule 'Foo': unknown field 'proc.nmae' "
                        "(did you mean 'proc.name'?)")


def test_error_inside_macro_names_the_macro() -> None:
    text = ("- macro: m\n  condition: fd.nmae = x\n"
            "- rule: r\n  desc: d\n  condition: evt.type = open and m\n"
            "  output: o\n  priority: info\n")
    result = load_rules([("f.yaml", text)])
    err = result.errors[0]
    assert err.item_name == "r" and "macro 'm'" in err.message
    assert (err.line, err.column) == (2, 14)


def test_parse_error_position_in_folded_condition() -> None:
    text = ("- rule: r\n  desc: d\n  condition: >\n    evt.type = open and\n"
            "    proc.name = (x\n  output: o\n  priority: info\n")
    err = load_rules([("f.yaml", text)]).errors[0]
    assert err.code == D.LOAD_ERR_COMPILE_CONDITION
    assert err.line == 5


def test_yaml_syntax_error_has_position() -> None:
    err = load_rules([("f.yaml", "- rule: [unclosed\n")]).errors[0]
    assert err.code == D.LOAD_ERR_YAML_PARSE and err.line >= 1


def test_unknown_output_field_is_output_error() -> None:
    text = RULE.replace("proc.nmae", "proc.name").replace("%proc.name", "%proc.nmae")
    err = load_rules([("f.yaml", text)]).errors[0]
    assert err.code == D.LOAD_ERR_COMPILE_OUTPUT and "proc.nmae" in err.message


def test_skip_if_unknown_filter_turns_error_into_warning() -> None:
    text = RULE + "  skip-if-unknown-filter: true\n"
    result = load_rules([("f.yaml", text)])
    assert result.ok and result.rules == []
    assert any(w.code == D.LOAD_UNKNOWN_FILTER for w in result.warnings)


def test_later_files_modify_earlier_ones() -> None:
    first = ("- macro: m\n  condition: proc.name = a\n"
             "- list: l\n  items: [x]\n"
             "- rule: r\n  desc: d\n  condition: evt.type = open and m and fd.name in (l)\n"
             "  output: o\n  priority: info\n")
    second = ("- macro: m\n  condition: or proc.name = b\n  override:\n    condition: append\n"
              "- list: l\n  items: [y]\n  override:\n    items: append\n"
              "- rule: r\n  priority: critical\n  override:\n    priority: replace\n")
    result = load_rules([("a.yaml", first), ("b.yaml", second)])
    assert result.ok, [str(e) for e in result.errors]
    rule = result.rule("r")
    assert rule.condition_text == ("(evt.type = open and (proc.name = a or proc.name = b) "
                                   "and fd.name in (x, y))")
    assert rule.priority is Priority.CRITICAL


def test_lists_inside_lists_and_macros_inside_macros() -> None:
    text = ("- list: a\n  items: [x, y]\n- list: b\n  items: [a, z]\n"
            "- macro: m1\n  condition: proc.name in (b)\n- macro: m2\n  condition: m1 and fd.num > 2\n"
            "- rule: r\n  desc: d\n  condition: evt.type in (open, openat) and m2\n"
            "  output: o\n  priority: info\n")
    result = load_rules([("f.yaml", text)])
    assert result.ok and not result.warnings, [str(w) for w in result.warnings]
    rule = result.rule("r")
    assert rule.condition_text == ("(evt.type in (open, openat) and "
                                   "(proc.name in (x, y, z) and fd.num > 2))")
    assert rule.evttypes == {"open", "openat"}


def test_rule_may_use_macro_defined_after_it_but_macro_may_not() -> None:
    later = ("- rule: r\n  desc: d\n  condition: evt.type = open and m\n"
             "  output: o\n  priority: info\n- macro: m\n  condition: proc.name = a\n")
    assert load_rules([("f.yaml", later)]).ok
    bad = ("- macro: m1\n  condition: m2\n- macro: m2\n  condition: proc.name = a\n"
           "- rule: r\n  desc: d\n  condition: evt.type = open and m1\n"
           "  output: o\n  priority: info\n")
    err = load_rules([("f.yaml", bad)]).errors[0]
    assert "Undefined macro 'm2'" in err.message and err.item_name == "m1"


def test_exceptions_expand_like_falco() -> None:
    text = ("- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n"
            "  priority: info\n  exceptions:\n"
            "    - name: e1\n      fields: [proc.name, fd.name]\n      comps: [=, startswith]\n"
            "      values:\n        - [a, /etc]\n        - [b, /tmp]\n"
            "    - name: e2\n      fields: proc.pname\n      values: [x, y z]\n")
    rule = load_rules([("f.yaml", text)]).rule("r")
    assert rule.condition_text == (
        "(evt.type = open and not ((proc.name = a and fd.name startswith /etc) or "
        "(proc.name = b and fd.name startswith /tmp)) and not proc.pname in (x, \"y z\"))")
    assert rule.exception_fields == ("proc.name", "fd.name", "proc.pname")


def test_priorities_are_case_insensitive_and_ordered() -> None:
    assert Priority.parse("info") is Priority.INFORMATIONAL
    assert Priority.parse("Informational") is Priority.INFORMATIONAL
    assert Priority.parse("emergency") < Priority.parse("debug")
    assert Priority.parse("bogus") is None
    err = load_rules([("f.yaml", RULE.replace("WARNING", "LOUD"))]).errors[0]
    assert err.code == D.LOAD_ERR_YAML_VALIDATE and "priority" in err.message


def test_no_evttype_warning_for_broad_rule_only() -> None:
    broad = RULE.replace("evt.type = open and proc.nmae = cat", "proc.name = cat")
    result = load_rules([("f.yaml", broad)])
    assert [w.code for w in result.warnings] == [D.LOAD_NO_EVTTYPE]
    assert result.rules[0].evttypes is None


def test_unused_macro_and_list_warnings() -> None:
    text = "- macro: m\n  condition: proc.name = a\n- list: l\n  items: [a]\n"
    codes = sorted(w.code for w in load_rules([("f.yaml", text)]).warnings)
    assert codes == [D.LOAD_UNUSED_LIST, D.LOAD_UNUSED_MACRO]


def test_required_engine_version_too_new() -> None:
    err = load_rules([("f.yaml", "- required_engine_version: 99.0.0\n")]).errors[0]
    assert "engine version" in err.message


def _keys(diags) -> list[tuple[str, str, str]]:
    return [(d.code, d.item_type, d.item_name) for d in diags]


def test_item_not_a_mapping_is_a_rules_content_item_error() -> None:
    err = load_rules([("f.yaml", "- foo\n")]).errors
    assert _keys(err) == [(D.LOAD_ERR_YAML_VALIDATE, "rules content item", "")]


def test_unknown_event_type_is_a_compile_error() -> None:
    """Falco: "unknown event type X" (a self-referencing list leaves its own
    name as the value); event and syscall names both count as known."""
    bad = load_rules([("f.yaml", RULE_TEMPLATE.format(cond="evt.type in (open, opne)"))])
    assert _keys(bad.errors) == [(D.LOAD_ERR_COMPILE_CONDITION, "rule", "r")]
    assert "unknown event type opne" in bad.errors[0].message
    loop = ("- list: a\n  items: [open]\n- list: b\n  items: [a]\n- list: a\n  items: [b]\n"
            + RULE_TEMPLATE.format(cond="evt.type in (a)"))
    assert _keys(load_rules([("f.yaml", loop)]).errors) == \
        [(D.LOAD_ERR_COMPILE_CONDITION, "rule", "r")]
    for ok in ("evt.type = execve", "evt.type in (ptrace, container, procexit)",
               "evt.type != open"):
        assert not load_rules([("f.yaml", RULE_TEMPLATE.format(cond=ok))]).errors, ok


def test_exception_values_mismatch_names_the_exception() -> None:
    text = RULE_TEMPLATE.format(cond="evt.type = open") + (
        "  exceptions:\n    - name: ex1\n      fields: [proc.name, fd.name]\n"
        "      values: [[nginx]]\n")
    err = load_rules([("f.yaml", text)]).errors
    assert _keys(err) == [(D.LOAD_ERR_VALIDATE, "exception", "ex1")]
    assert err[0].message == "Fields and values lists must have equal length"


def test_bad_macro_still_reports_unused_macros_and_lists() -> None:
    """Falco goes on far enough past a macro error to warn about unused
    macros and lists; what rules and macros name is not 'unused'."""
    text = ("- list: used_l\n  items: [a]\n- list: unused_l\n  items: [b]\n"
            "- macro: bad\n  condition: evt.type=execve foo\n"
            "- macro: used_m\n  condition: proc.name in (used_l)\n"
            "- macro: unused_m\n  condition: proc.name = x\n"
            + RULE_TEMPLATE.format(cond="evt.type = open and used_m"))
    res = load_rules([("f.yaml", text)])
    assert _keys(res.errors) == [(D.LOAD_ERR_COMPILE_CONDITION, "macro", "bad")]
    unused = sorted(k for k in _keys(res.warnings) if k[0] in (D.LOAD_UNUSED_MACRO,
                                                                D.LOAD_UNUSED_LIST))
    assert unused == [(D.LOAD_UNUSED_LIST, "list", "unused_l"),
                      (D.LOAD_UNUSED_MACRO, "macro", "bad"),
                      (D.LOAD_UNUSED_MACRO, "macro", "unused_m")]


RULE_TEMPLATE = ("- rule: r\n  desc: d\n  output: o\n  priority: INFO\n"
                 "  condition: {cond}\n")

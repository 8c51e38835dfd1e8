"""Garbage in, clean errors out: property-based fuzzing of every input
surface (decoder, .scap reader, condition parser and renderer, rule loader,
falco.yaml loader and -o parser), plus the atheris targets of the long
budget (tests/fuzz/targets.py, run by scripts/fuzz/run.sh) on a short one,
and every saved crashing input (tests/fuzz/regressions/TARGET/).

CI runs a short budget; FALCO_FUZZ_EXAMPLES=N runs N hypothesis examples
per test and FALCO_FUZZ_SHORT=N mutants per atheris target.
"""
from __future__ import annotations

import gzip
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import compat_path
from falco.capture import CaptureError, open_capture
from falco_engine import params, table
from falco_engine.decoder import scan_records, scan_scap
from falco_engine.filter_parser import FilterSyntaxError, parse

BUDGET = settings(max_examples=int(os.environ.get("FALCO_FUZZ_EXAMPLES", "300")),
                  deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _touch_all(batch) -> int:
    """Read every parameter of every event: nothing may point outside."""
    n = 0
    for ev in batch:
        assert 0 <= ev.offset and ev.offset + len(ev.raw()) <= batch.size
        for p in range(ev.nparams):
            raw = ev.param(p)
            assert raw is not None
            infos = table.EVENTS[ev.type].params
            if p < len(infos):
                params.render(infos[p], raw)
                params.decode_value(infos[p].type, raw)
            n += len(raw)
    return n


def _record(etype: int, lens: list[int], payload: bytes, nparams: int | None = None,
            length: int | None = None) -> bytes:
    body = b"".join(struct.pack("<H", l) for l in lens) + payload
    nparams = len(lens) if nparams is None else nparams
    length = 26 + len(body) if length is None else length
    return struct.pack("<QQIHI", 1, 2, length, etype, nparams) + body


@BUDGET
@given(st.binary(max_size=4096))
def test_scan_records_random_bytes(data: bytes):
    batch = scan_records(data)
    _touch_all(batch)
    assert batch.error is not None or batch.consumed == len(data)


@BUDGET
@given(st.integers(0, 600), st.lists(st.integers(0, 65535), max_size=40),
       st.binary(max_size=512), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_scan_records_lying_headers(etype, lens, payload, nparams, length):
    for rec in (_record(etype, lens, payload), _record(etype, lens, payload, nparams),
                _record(etype, lens, payload, None, length)):
        batch = scan_records(rec)
        _touch_all(batch)


@BUDGET
@given(st.data())
def test_scan_scap_mutated_capture(data):
    raw = gzip.decompress(compat_path("captures", "falco", "connect_localhost.scap").read_bytes())
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 12))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    batch = scan_scap(bytes(buf[:cut]), 0)
    _touch_all(batch)


@BUDGET
@given(st.data())
def test_reader_mutated_capture(tmp_path_factory, data):
    raw = gzip.decompress(compat_path("captures", "libs", "test_ipv6_client.scap").read_bytes())
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] ^= 1 << data.draw(st.integers(0, 7))
    path = tmp_path_factory.mktemp("fuzz") / "m.scap"
    path.write_bytes(bytes(buf))
    try:
        with open_capture(path) as cap:
            for batch in cap.batches():
                _touch_all(batch)
    except CaptureError as exc:
        assert str(path) in str(exc) and "offset" in str(exc)


@BUDGET
@given(st.sampled_from(range(47)), st.binary(max_size=64))
def test_render_any_type_any_bytes(ptype, raw):
    pinfo = table.ParamInfo("p", ptype, 1, 0)
    assert isinstance(params.render(pinfo, raw), str)
    params.decode_value(ptype, raw)


CONDITION_ALPHABET = st.sampled_from(list("abcdefghijklmnopqrstuvwxyz._[]()'\",=!<> \\0123456789/*-")
                                     + ["and ", "or ", "not ", " in ", " contains ",
                                        "proc.name", "evt.type", "fd.name", " exists",
                                        " startswith ", "val(", "tolower("])


@BUDGET
@given(st.lists(CONDITION_ALPHABET, max_size=40).map("".join))
def test_parser_only_raises_syntax_errors(text: str):
    try:
        parse(text)
    except FilterSyntaxError:
        pass


# -- configuration: falco.yaml loader and -o parser ----------------------------------

from falco.config import ConfigError, load_config, parse_override  # noqa: E402

_YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                          st.floats(allow_nan=True), st.text(max_size=20),
                          st.sampled_from(["info", "15m", "1h30m", "${HOME}", "$${x}",
                                           "json", "/tmp/x.yaml", "kmod", "modern_ebpf"]))
_YAML_VALUES = st.recursive(_YAML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)


def _config_keys() -> list[str]:
    import dataclasses

    from falco.config import Config
    keys = []
    for f in dataclasses.fields(Config):
        keys.append(f.name)
        tp = f.type if not isinstance(f.type, str) else None
        if tp is not None and dataclasses.is_dataclass(tp):
            keys += [f"{f.name}.{g.name}" for g in dataclasses.fields(tp)]
    return keys


def _nest(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if tail and isinstance(out.get(head, {}), dict):
            out.setdefault(head, {})[tail] = value
        else:
            out[head] = value
    return out


@BUDGET
@given(st.dictionaries(st.sampled_from(_config_keys()) | st.text(max_size=12), _YAML_VALUES,
                       max_size=8),
       st.lists(st.text(max_size=40) | st.builds(
           lambda k, v: f"{k}={v}", st.sampled_from(_config_keys()),
           st.sampled_from(["true", "3", "[a, b]", "{x: 1}", "", "'", "[", "-1", "nan"])),
           max_size=4))
def test_config_loader_only_raises_config_error(flat, overrides):
    import yaml
    text = yaml.safe_dump(_nest(flat), allow_unicode=True)
    try:
        cfg = load_config(text=text, overrides=overrides)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert isinstance(cfg.warnings, list)


@BUDGET
@given(st.text(max_size=60))
def test_override_parser_only_raises_config_error(text):
    try:
        path, _ = parse_override(text)
    except ConfigError:
        return
    assert path and all(isinstance(p, (str, int)) or p is None for p in path)


def test_config_deeply_nested_yaml_is_a_clean_error():
    """Fuzzing found: YAML nested ~500 deep overflowed the Python stack
    (RecursionError) in the loader; now a ConfigError, and in a -o value
    the text is kept as a string."""
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(text="a: " + "[" * 600 + "]" * 600)
    path, value = parse_override("x=" + "[" * 900 + "]" * 900)
    assert path == ["x"] and isinstance(value, str)


# -- rule loader -----------------------------------------------------------------

from fuzz import targets as FT  # noqa: E402  (tests/fuzz/targets.py)

# Saved crashers whose fix is in code this suite does not own: strict xfail,
# so the fix turns them red until the entry is removed.
KNOWN_CRASHES: dict[str, str] = {}

from falco.rules import load_rules  # noqa: E402


@BUDGET
@given(st.binary(max_size=600))
def test_rule_loader_structured_items_never_raise(data):
    """Items with the right keys and values of every shape
    (`structured_rules`): problems are diagnostics, never exceptions."""
    FT.run_guarded(FT.get("rules"), b"\0" + data)


@BUDGET
@given(st.lists(st.sampled_from(FT.CONDITIONS) | st.text(max_size=30), min_size=1, max_size=3),
       st.lists(st.sampled_from(FT.NAMES), max_size=4))
def test_rule_loader_conditions_and_lists_never_raise(conds, items):
    import yaml
    doc = [{"list": "l1", "items": items}, {"macro": "m1", "condition": conds[0]}]
    doc += [{"rule": f"r{i}", "desc": "d", "output": "o %proc.name", "priority": "INFO",
             "condition": c} for i, c in enumerate(conds)]
    res = load_rules([("a.yaml", yaml.safe_dump(doc))])
    for d in res.errors + res.warnings:
        str(d)


def test_generic_event_with_unnamed_syscall_has_a_name():
    """Fuzzing found (decoder target): a generic event whose syscall code has
    no name (382) segfaulted Event.name, so repr() and `falco` event
    printing of such a record crash; run in a child process."""
    import subprocess
    import sys
    code = ("import struct; from falco_engine.decoder import scan_records\n"
            "ps = [struct.pack('<H', 382), b'', b'']\n"
            "body = b''.join(struct.pack('<H', len(p)) for p in ps) + b''.join(ps)\n"
            "rec = struct.pack('<QQIHI', 1, 2, 26 + len(body), 1, len(ps)) + body\n"
            "print(scan_records(rec).event(0).name)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=str(FT.REPO))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "syscall"


def test_rule_exception_values_nested_lists_is_a_clean_error():
    """Fuzzing found: a value tuple holding a list of lists crashed
    building the exception condition (TypeError in str.join)."""
    path = FT.REGRESSIONS / "rules" / "exception_values_nested_lists.yaml"
    res = load_rules([("x.yaml", path.read_text())])
    assert [(e.code, e.item_type, e.item_name) for e in res.errors] == \
        [("LOAD_ERR_VALIDATE", "exception", "e")]


def test_parser_nested_transformers_hit_the_depth_limit():
    """Fuzzing found: 600 nested tolower( overflowed the stack
    (RecursionError); transformers now count towards the depth limit."""
    with pytest.raises(FilterSyntaxError, match="max depth"):
        parse("tolower(" * 600 + "proc.name" + ")" * 600 + " = x")
    parse("tolower(" * 100 + "proc.name" + ")" * 100 + " = x")


# -- every long-budget target on a short budget, and every saved crash ---------------

SHORT = int(os.environ.get("FALCO_FUZZ_SHORT", "300"))


def _mutate(rnd, data: bytes, other: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(5)
        pos = rnd.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rnd.randrange(256)
        elif op == 1:
            buf[pos:pos] = rnd.randbytes(rnd.randint(1, 8))
        elif op == 2:
            del buf[pos:pos + rnd.randint(1, 16)]
        elif op == 3:
            del buf[pos:]
        else:
            at = rnd.randint(0, len(other))
            buf[pos:pos] = other[at:at + rnd.randint(1, 64)]
    return bytes(buf)


@pytest.mark.parametrize("name", list(FT.FACTORIES))
def test_fuzz_target_short_budget(name):
    """Each target of the long budget (scripts/fuzz/run.sh) for its seeds
    plus FALCO_FUZZ_SHORT mutants of them."""
    import random
    target = FT.get(name)
    seeds = [s[:target.max_len] for s in target.seeds()] or [b""]
    rnd = random.Random(name)
    for s in seeds[:150]:
        FT.run_guarded(target, s)
    for _ in range(SHORT):
        data = _mutate(rnd, rnd.choice(seeds), rnd.choice(seeds))[:target.max_len]
        FT.run_guarded(target, data)


_SAVED = [(d.name, f) for d in sorted(FT.REGRESSIONS.iterdir()) if d.is_dir()
          for f in FT.regression_inputs(d.name)] if FT.REGRESSIONS.is_dir() else []


def _saved_param(name, path):
    key = f"{name}/{path.name}"
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_CRASHES[key])] \
        if key in KNOWN_CRASHES else []
    return pytest.param(name, path, id=key, marks=marks)


@pytest.mark.parametrize("name,path", [_saved_param(n, p) for n, p in _SAVED])
def test_fuzz_saved_input(name, path):
    """Inputs that once crashed a target (tests/fuzz/regressions/TARGET/),
    replayed in a child process: a segfault fails the test, not the run."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, str(FT.REGRESSIONS.parent / "run.py"), name,
                           "--replay", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rule_loader_macro_chain_too_deep_is_a_clean_error():
    """Found probing the loader: 300 macros each naming the previous one
    expand to a condition nested 300 deep, which overflowed the stack
    (RecursionError in to_string); now a compile error of the rule."""
    n = 300
    text = "- macro: m0\n  condition: evt.type=open\n" + "".join(
        f"- macro: m{i}\n  condition: m{i - 1} and proc.name=x{i}\n" for i in range(1, n))
    text += f"- rule: r\n  desc: d\n  output: o\n  priority: INFO\n  condition: m{n - 1}\n"
    res = load_rules([("chain.yaml", text)])
    assert [(e.code, e.item_type, e.item_name) for e in res.errors] == \
        [("LOAD_ERR_COMPILE_CONDITION", "rule", "r")]
    shallower = text[:text.rindex("condition: ")] + "condition: m150\n"
    assert not load_rules([("chain.yaml", shallower)]).errors


def test_non_utf8_config_and_rules_files_are_clean_errors(tmp_path):
    """Fuzzing found: a falco.yaml (or rules file) that is not UTF-8 raised
    UnicodeDecodeError; now ConfigError / a LOAD_ERR_FILE_READ diagnostic."""
    from falco.rules import load_rule_files
    bad = tmp_path / "falco.yaml"
    bad.write_bytes(b"syscall_\xd4event_drops:\n  actions: [log]\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(bad)
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"- rule: r\xd4\n")
    res = load_rule_files([rules])
    assert [e.code for e in res.errors] == ["LOAD_ERR_FILE_READ"]

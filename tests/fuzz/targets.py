"""Fuzz targets, one per input surface (issue #10).

Each target is a `Target`: `one_input(data: bytes)` feeds one input to the
surface and returns normally when the input is accepted *or* rejected
cleanly; anything it lets escape is a crash.  `clean` names the exception
types that count as a clean rejection of that surface (the documented
errors); the target catches exactly those.  `seeds()` yields real data
(captures, rule files, the conditions corpus) to start from.

The same targets run under atheris for the long budget (`scripts/fuzz/run.sh`,
see `run.py`) and under pytest for a short one (tests/test_fuzz.py), which
also replays every saved crashing input in `tests/fuzz/regressions/`.
"""
from __future__ import annotations

import atexit
import gzip
import json
import os
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:          # falco_engine resolves from the checkout
    sys.path.insert(0, str(REPO))

REGRESSIONS = Path(__file__).resolve().parent / "regressions"


def _compat() -> Path:
    for cand in (os.environ.get("FALCO_COMPAT_DIR"), REPO.parent / "shared" / "compat",
                 "/work/shared/compat"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return REPO.parent / "shared" / "compat"


COMPAT = _compat()


@dataclass
class Target:
    name: str
    one_input: Callable[[bytes], None]
    seeds: Callable[[], Iterator[bytes]]
    clean: tuple[type[BaseException], ...]
    max_len: int = 4096
    doc: str = ""


class ByteReader:
    """Structured values drawn from fuzz bytes (the subset of atheris'
    FuzzedDataProvider used here, in pure Python so a saved input decodes
    the same with or without atheris).  Past the end, values are 0/empty."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:
        span = hi - lo
        if span <= 0:
            return lo
        nbytes = (span.bit_length() + 7) // 8
        raw = self.data[self.pos:self.pos + nbytes]
        self.pos += nbytes
        return lo + int.from_bytes(raw, "little") % (span + 1)

    def ConsumeBytes(self, n: int) -> bytes:
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw


def _scratch(prefix: str) -> Path:
    """A private directory for files a target writes (in RAM when it can),
    removed at exit."""
    d = Path(tempfile.mkdtemp(prefix=prefix,
                              dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    atexit.register(shutil.rmtree, d, True)
    return d


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# -- condition parser (engine/filter_parser.py, filter_ast.py) --------------------

def _parser_target() -> Target:
    from falco_engine.filter_ast import to_string
    from falco_engine.filter_check import EvtTypeError, FilterCheckError, check, evttype_set
    from falco_engine.filter_parser import FilterSyntaxError, parse

    def one_input(data: bytes) -> None:
        text = _text(data)
        try:
            tree = parse(text)
        except FilterSyntaxError as exc:
            str(exc)                     # the message (line/column) renders
            return
        # What the parser accepts, the renderer prints back as the same tree.
        again = parse(to_string(tree, reparse=True))
        assert to_string(again) == to_string(tree), (to_string(again), to_string(tree))
        try:
            check(tree)
            evttype_set(tree)
        except (FilterCheckError, EvtTypeError):
            pass

    def seeds() -> Iterator[bytes]:
        path = COMPAT / "conditions.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    yield json.loads(line)["condition"].encode()

    return Target("parser", one_input, seeds, (FilterSyntaxError,), 2048,
                  "parse -> render -> reparse -> check; FilterSyntaxError is clean "
                  "(check's FilterCheckError/EvtTypeError too)")


# -- rule loader (falco/rules/) -----------------------------------------------------

FILE_SEP = b"\n#---\n"         # splits one input into several rule files
FILE_MODE = b"#file\n"          # a leading line: the target reads files, not text


NAMES = ["m1", "m2", "l1", "l2", "r1", "r 2", "open", "execve", "proc.name", "x", ""]
CONDITIONS = ["evt.type=open", "evt.type in (l1)", "m1", "m1 and not m2", "proc.name in (l1, l2)",
              "evt.type=execve and proc.name=x", "(evt.type=open", "m2 or l1", "fd.name pmatch (l2)",
              "evt.type in (open, execve) and fd.name startswith /etc", "nosuch.field=1",
              "evt.num = 0", "proc.name = val(proc.pname)", "tolower(proc.name) = x"]
KEYS = {"rule": ["rule", "desc", "condition", "output", "priority", "tags", "enabled",
                 "source", "exceptions", "append", "override", "warn_evttypes",
                 "skip-if-unknown-filter", "capture", "capture_duration"],
        "macro": ["macro", "condition", "append", "override", "source"],
        "list": ["list", "items", "append", "override"],
        "required_engine_version": ["required_engine_version"],
        "required_plugin_versions": ["required_plugin_versions"]}
SCALARS = ["append", "replace", "INFO", "warning", "Critical", "syscall", "k8s_audit", "=",
           "in", "pmatch", "startswith oneof", "0.58.0", "1.0.0", "%proc.name %fd.name",
           "%nosuch.field", "proc.name", "fd.name", "true", "", " ", "\x00", "(a, b)"]


def _value(r: ByteReader, depth: int = 0):
    kind = r.ConsumeIntInRange(0, 9)
    if kind <= 2:
        return r.ConsumeIntInRange(0, 1) and SCALARS[r.ConsumeIntInRange(0, len(SCALARS) - 1)] \
            or NAMES[r.ConsumeIntInRange(0, len(NAMES) - 1)]
    if kind == 3:
        return CONDITIONS[r.ConsumeIntInRange(0, len(CONDITIONS) - 1)]
    if kind == 4:
        return [None, True, False, 0, -1, 2**70, 1.5][r.ConsumeIntInRange(0, 6)]
    if kind == 5:
        return _text(r.ConsumeBytes(r.ConsumeIntInRange(0, 12)))
    if depth > 3:
        return "x"
    if kind <= 7:
        return [_value(r, depth + 1) for _ in range(r.ConsumeIntInRange(0, 3))]
    keys = KEYS["rule"] + ["name", "fields", "comps", "values", "version", "alternatives"]
    return {keys[r.ConsumeIntInRange(0, len(keys) - 1)]: _value(r, depth + 1)
            for _ in range(r.ConsumeIntInRange(0, 3))}


def _exception(r: ByteReader):
    ex = {}
    for key in ("name", "fields", "comps", "values"):
        if r.ConsumeIntInRange(0, 4):
            ex[key] = _value(r, 1)
    if r.ConsumeIntInRange(0, 1):              # well-formed shapes, often
        n = r.ConsumeIntInRange(1, 2)
        ex["fields"] = ["proc.name", "fd.name"][:n]
        ex["values"] = [[NAMES[r.ConsumeIntInRange(0, len(NAMES) - 1)] for _ in
                         range(r.ConsumeIntInRange(n - 1, n + 1))]
                        for _ in range(r.ConsumeIntInRange(0, 2))]
    return ex


def _good(r: ByteReader, key: str):
    """A well-typed value for `key` (most of what real files hold)."""
    pick = lambda seq: seq[r.ConsumeIntInRange(0, len(seq) - 1)]  # noqa: E731
    if key in ("append", "enabled", "warn_evttypes", "skip-if-unknown-filter", "capture"):
        return bool(r.ConsumeIntInRange(0, 3) == 0) if key == "append" else bool(
            r.ConsumeIntInRange(0, 1))
    if key == "priority":
        return pick(["INFO", "warning", "Critical", "EMERGENCY", "debug", "bogus"])
    if key in ("tags", "items"):
        return [pick(NAMES) for _ in range(r.ConsumeIntInRange(0, 3))]
    if key == "output":
        return pick(["out %proc.name", "x %fd.name and %evt.type", "%container.info y",
                     "%nosuch.field", "plain", "%evt.dir"])
    if key == "source":
        return pick(["syscall", "k8s_audit", "syscall"])
    if key == "capture_duration":
        return r.ConsumeIntInRange(0, 5000)
    if key == "required_engine_version":
        return pick(["0.10.0", "0.58.0", "9.0.0", "12", 3])
    if key == "required_plugin_versions":
        return [{"name": pick(NAMES), "version": pick(["1.0.0", "x", "0.1.0"]),
                 **({"alternatives": [{"name": "a", "version": "1.0.0"}]}
                    if r.ConsumeIntInRange(0, 1) else {})}]
    if key == "override":
        return {pick(KEYS["rule"]): pick(["append", "replace", "bogus"])
                for _ in range(r.ConsumeIntInRange(1, 2))}
    if key == "exceptions":
        return [_exception(r) for _ in range(r.ConsumeIntInRange(0, 2))]
    if key == "condition":
        return pick(CONDITIONS)
    return pick(NAMES)


def structured_rules(data: bytes) -> str:
    """A rules file built item by item from fuzz bytes: the right keys with
    values of every shape (the YAML is valid; the content is not)."""
    import yaml
    r = ByteReader(data)
    items = []
    kinds = ["rule", "rule", "rule", "macro", "macro", "list", "list",
             "required_engine_version", "required_plugin_versions"]
    required = {"rule": ("desc", "condition", "output", "priority"),
                "macro": ("condition",), "list": ("items",)}
    for _ in range(r.ConsumeIntInRange(1, 8)):
        kind = kinds[r.ConsumeIntInRange(0, len(kinds) - 1)]
        item = {}
        for key in KEYS[kind]:
            if key == kind or key in required.get(kind, ()) or r.ConsumeIntInRange(0, 3) == 0:
                if key == kind and kind in ("rule", "macro", "list"):
                    item[key] = NAMES[r.ConsumeIntInRange(0, len(NAMES) - 1)]
                elif r.ConsumeIntInRange(0, 7) == 7:
                    item[key] = _value(r)          # a value of the wrong shape
                else:
                    item[key] = _good(r, key)
        items.append(item)
    return yaml.safe_dump(items, allow_unicode=True)


def _rules_target() -> Target:
    from falco.pipeline import extractor_factories
    from falco.rules import load_rule_files, load_rules

    tmpdir = _scratch("falco-fuzz-rules-")
    from falco_engine.compiler import CompileError, Compiler
    from falco_engine.runner import OutputFormat

    def one_input(data: bytes) -> None:
        # A leading NUL: items built from the bytes (`structured_rules`);
        # otherwise the bytes are YAML text.
        if data[:1] == b"\0":
            sources = [(f"fuzz{i}.yaml", structured_rules(part))
                       for i, part in enumerate(data[1:].split(b"\xff\xff")[:3])]
        else:
            sources = [(f"fuzz{i}.yaml", _text(part))
                       for i, part in enumerate(data.split(FILE_SEP)[:4])]
        if data.startswith(FILE_MODE):           # raw bytes read from files
            paths = []
            for i, part in enumerate(data[len(FILE_MODE):].split(FILE_SEP)[:4]):
                paths.append(tmpdir / f"f{i}.yaml")
                paths[-1].write_bytes(part)
            result = load_rule_files(paths)
        else:
            # load_rules never raises: every problem is a diagnostic.
            result = load_rules(sources)
        for d in result.errors + result.warnings:
            str(d)
        if result.errors:
            return
        # What loads, compiles (as build_detector does; CompileError is its
        # documented "rule not loaded" warning).
        compiler = Compiler(extractor_factories())
        for rule in result.rules:
            try:
                compiler.compile(rule.condition)
                OutputFormat(rule.output, compiler)
            except CompileError:
                pass

    def seeds() -> Iterator[bytes]:
        path = COMPAT / "falco_ruleloader_cases.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                case = json.loads(line)
                texts = [s["rules_yaml"] for s in case.get("steps", []) if s.get("rules_yaml")]
                if texts:
                    yield FILE_SEP.join(t.encode() for t in texts)
        for i in range(64):
            yield b"\0" + os.urandom(200)
        yield FILE_MODE + b"- list: l\n  items: [a, \xff\xfe]\n" + FILE_SEP + b"- macro: m\n"
        for d in (COMPAT / "falco_legacy_tests" / "rules", REPO / "rules" / "tests"):
            if d.is_dir():
                for f in sorted(d.rglob("*.yaml")):
                    yield f.read_bytes()

    return Target("rules", one_input, seeds, (), 16384,
                  "load_rules on 1-4 files (split on '#---'), then compile; "
                  "nothing may escape (errors are diagnostics)")


# -- .scap reader (falco/capture/) ----------------------------------------------------

def _touch_all(batch) -> None:
    """Read and render every parameter of every event."""
    from falco_engine import params, table
    for ev in batch:
        assert 0 <= ev.offset and ev.offset + len(ev.raw()) <= batch.size
        ev.name, repr(ev)
        infos = table.EVENTS[ev.type].params if ev.type < len(table.EVENTS) else ()
        for p in range(ev.nparams):
            raw = ev.param(p)
            assert raw is not None
            if p < len(infos):
                params.render(infos[p], raw)
                params.decode_value(infos[p].type, raw)


def _capture_files() -> list[Path]:
    d = COMPAT / "captures"
    return sorted(d.glob("*/*.scap")) if d.is_dir() else []


def _scap_target() -> Target:
    from falco.capture import CaptureError, open_capture

    tmpdir = _scratch("falco-fuzz-")
    path = tmpdir / "in.scap"

    def one_input(data: bytes) -> None:
        # First byte: 1 = gzip it (the reader's compressed path), bit 1 =
        # tiny chunks (blocks split across reads).
        mode, body = (data[0], data[1:]) if data else (0, b"")
        path.write_bytes(gzip.compress(body, 1) if mode & 1 else body)
        try:
            with open_capture(path, chunk_size=64 if mode & 2 else 1 << 20) as cap:
                for batch in cap.batches():
                    _touch_all(batch)
        except CaptureError as exc:
            assert str(path) in str(exc)

    def seeds() -> Iterator[bytes]:
        for f in _capture_files():
            raw = f.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            yield b"\0" + raw[:65536]
            yield b"\2" + raw[:8192]

    return Target("scap", one_input, seeds, (CaptureError,), 65536,
                  "open_capture + every batch + every param; CaptureError is clean")


# -- event decoder + state + every field (engine/) -------------------------------

def _catchall_rules() -> str:
    """One rule matching every event whose output names every field that
    needs no argument: each event decoded goes through state and every
    extractor."""
    from falco_engine import fields
    names = [f.name for f in fields.all_fields()
             if not f.filter_only and f.arg.value in ("none", "index", "key")]
    out = " ".join(f"{n}=%{n}" for n in names)
    return ("- rule: fuzz catch-all\n  desc: every event, every field\n"
            "  condition: evt.num > 0\n"
            f"  output: {json.dumps(out)}\n  priority: DEBUG\n")


def _build_record(fdp) -> bytes:
    """One record from fuzz data: mostly table-shaped, sometimes lying."""
    from falco_engine import table
    n_events = len(table.EVENTS)
    etype = fdp.ConsumeIntInRange(0, n_events + 8)
    infos = table.EVENTS[etype].params if etype < n_events else ()
    nparams = len(infos)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        nparams = fdp.ConsumeIntInRange(0, 40)
    lens, body = [], b""
    for p in range(nparams):
        ptype = infos[p].type if p < len(infos) else -1
        kind = fdp.ConsumeIntInRange(0, 3)
        if kind == 0:                    # a sockaddr/tuple: random family first
            raw = bytes([fdp.ConsumeIntInRange(0, 255)]) + fdp.ConsumeBytes(
                fdp.ConsumeIntInRange(0, 40))
        elif kind == 1:                  # a string, often not UTF-8 or NUL-less
            raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        else:                            # the natural width, or garbage
            raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16) if ptype < 0 or kind == 3
                                   else {1: 1, 2: 2, 3: 4, 4: 8}.get(ptype % 5, 8))
        lens.append(len(raw))
        body += raw
    if fdp.ConsumeIntInRange(0, 9) == 0 and lens:      # a length that overruns
        lens[fdp.ConsumeIntInRange(0, len(lens) - 1)] = fdp.ConsumeIntInRange(0, 65535)
    rec_body = b"".join(struct.pack("<H", n) for n in lens) + body
    length = 26 + len(rec_body)
    if fdp.ConsumeIntInRange(0, 15) == 0:
        length = fdp.ConsumeIntInRange(0, 2**32 - 1)
    ts = fdp.ConsumeIntInRange(0, 2**64 - 1)
    tid = fdp.ConsumeIntInRange(0, 64)      # few tids: events meet the same threads
    return struct.pack("<QQIHI", ts, tid, length, etype, nparams) + rec_body


def _decoder_target() -> Target:
    from falco.pipeline import build_detector
    from falco.rules import load_rules
    from falco_engine.decoder import scan_records

    loaded = load_rules([("catchall.yaml", _catchall_rules())])
    assert not loaded.errors, loaded.errors
    detector = build_detector(loaded, first_match=False)
    compiled = detector.rules

    def one_input(data: bytes) -> None:
        # First byte even: the rest is raw records (mutated real ones);
        # odd: records built field by field from the rest.
        if not data:
            return
        if data[0] & 1:
            fdp = ByteReader(data[1:])
            buf = b"".join(_build_record(fdp) for _ in range(fdp.ConsumeIntInRange(1, 6)))
        else:
            buf = data[1:]
        batch = scan_records(buf)
        _touch_all(batch)
        from falco.pipeline import new_state
        from falco_engine.runner import RuleEngine
        engine = RuleEngine(compiled, state=new_state(), first_match=False,
                            syscall_enter_events=True)
        alerts: list = []
        engine.process(batch, alerts)
        for a in alerts:
            str(a.output)
        # With no rule, every event takes the state engine's quiet loop
        # (run_quiet): the same records through its own paths.
        RuleEngine([], state=new_state()).process(batch, [])

    def seeds() -> Iterator[bytes]:
        from falco_engine.decoder import scan_scap
        for f in _capture_files():
            raw = f.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            # the event records of the capture, as a driver ring would hold them
            pos, chunk = 0, b""
            while pos < len(raw) and len(chunk) < 3000:
                b = scan_scap(raw, pos)
                for ev in b:
                    r = ev.raw()
                    if not ev.is_v1 and not ev.is_large:
                        chunk += r
                    if len(chunk) >= 3000:
                        break
                if b.stop_block is None or b.error is not None:
                    break
                pos = b.stop_block[0] + struct.unpack_from("<I", raw, b.stop_block[0] + 4)[0]
            if chunk:
                yield b"\0" + chunk
        for i in range(64):
            yield bytes([1]) + os.urandom(256)

    return Target("decoder", one_input, seeds, (), 4096,
                  "scan_records on raw or built records, every param rendered, then "
                  "state + a rule printing every field, and state alone (its quiet "
                  "loop); nothing may escape")


# -- falco.yaml loader and -o parser (falco/config.py) ------------------------------

OVERRIDE_SEP = b"\n#-o\n"       # the part after it: one -o key=value per line
EXTRA_SEP = b"\n#extra\n"       # in file mode: the content of extra.yaml follows


def _config_target() -> Target:
    from falco.config import ConfigError, load_config

    tmpdir = _scratch("falco-fuzz-cfg-")
    main, extra = tmpdir / "falco.yaml", tmpdir / "extra.yaml"

    def one_input(data: bytes) -> None:
        yaml_part, _, rest = data.partition(OVERRIDE_SEP)
        overrides = [_text(line) for line in rest.split(b"\n")[:16]] if rest else []
        try:
            if yaml_part.startswith(FILE_MODE):
                # From files: main + extra.yaml (config_files includes), so
                # the reading and include paths run too.
                first, _, second = yaml_part[len(FILE_MODE):].partition(EXTRA_SEP)
                main.write_bytes(first)
                extra.write_bytes(second)
                cfg = load_config(main, overrides=overrides)
            else:
                cfg = load_config(text=_text(yaml_part), overrides=overrides)
        except ConfigError as exc:
            str(exc)
            return
        assert isinstance(cfg.warnings, list)

    def seeds() -> Iterator[bytes]:
        files = [REPO / "falco" / "data" / "falco.yaml"]
        d = COMPAT / "falco_legacy_tests" / "confs"
        if d.is_dir():
            files += sorted(d.rglob("*.yaml"))
        for f in files:
            yield f.read_bytes()[:8192]
            yield FILE_MODE + f.read_bytes()[:4096] + b"\nconfig_files: [extra.yaml, .]\n" \
                + EXTRA_SEP + b"log_level: debug\nrules_files: [/x]\n"
        yield (b"log_level: info\n" + OVERRIDE_SEP + b"rules_files[]=/x.yaml\n"
               b"outputs.rate=3\nstdout_output.enabled=false\nfile_output[0]=x\n"
               b"engine.kind=modern_ebpf\nwebserver.listen_port=8766\n")

    return Target("config", one_input, seeds, (ConfigError,), 8192,
                  "load_config(text=..., overrides=lines after '#-o'); ConfigError is clean")


FACTORIES = {"parser": _parser_target, "rules": _rules_target, "scap": _scap_target,
             "decoder": _decoder_target, "config": _config_target}
_cache: dict[str, Target] = {}


def get(name: str) -> Target:
    if name not in _cache:
        _cache[name] = FACTORIES[name]()
    return _cache[name]


def run_guarded(target: Target, data: bytes) -> None:
    """One input; clean rejections swallowed, anything else raised."""
    try:
        target.one_input(data)
    except target.clean:
        pass


def regression_inputs(name: str) -> list[Path]:
    d = REGRESSIONS / name
    return sorted(d.iterdir()) if d.is_dir() else []

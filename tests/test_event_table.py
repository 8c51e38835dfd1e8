"""Invariants of driver/event_table.yaml and of the header generated from it.

Reads the YAML directly and runs scripts/gen_event_table.py as a separate
process; imports nothing else from the project.
"""
from __future__ import annotations

import gzip
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "driver" / "event_table.yaml"
GENERATOR = REPO / "scripts" / "gen_event_table.py"
HEADER = REPO / "driver" / "falco_events.h"
from conftest import COMPAT  # noqa: E402  (one place decides where the data is)

# Fixed wire sizes of the PT_ types, stated independently of the generator.
EXPECTED_SIZES = {
    "PT_INT8": 1, "PT_INT16": 2, "PT_INT32": 4, "PT_INT64": 8,
    "PT_UINT8": 1, "PT_UINT16": 2, "PT_UINT32": 4, "PT_UINT64": 8,
    "PT_ERRNO": 8, "PT_FD": 8, "PT_PID": 8, "PT_SYSCALLID": 2,
    "PT_SIGTYPE": 1, "PT_RELTIME": 8, "PT_ABSTIME": 8, "PT_PORT": 2,
    "PT_L4PROTO": 1, "PT_SOCKFAMILY": 1, "PT_BOOL": 4, "PT_IPV4ADDR": 4,
    "PT_FLAGS8": 1, "PT_FLAGS16": 2, "PT_FLAGS32": 4, "PT_UID": 4,
    "PT_GID": 4, "PT_DOUBLE": 8, "PT_SIGSET": 4, "PT_IPV6ADDR": 16,
    "PT_MODE": 4, "PT_ENUMFLAGS8": 1, "PT_ENUMFLAGS16": 2, "PT_ENUMFLAGS32": 4,
    "PT_CHARBUF": 0, "PT_BYTEBUF": 0, "PT_FSPATH": 0, "PT_FSRELPATH": 0,
    "PT_SOCKADDR": 0, "PT_SOCKTUPLE": 0, "PT_FDLIST": 0, "PT_DYN": 0,
}


@pytest.fixture(scope="module")
def table():
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(TABLE, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


@pytest.fixture(scope="module")
def type_sizes(table):
    """PT_ name and number -> fixed size, parsed from the generated header."""
    text = HEADER.read_text(encoding="utf-8")
    body = text.split("fe_param_type_size[]", 1)[1].split("};", 1)[0]
    by_name = {m.group(1): int(m.group(2)) for m in re.finditer(r"\[(PT_\w+)\]\s*=\s*(\d+)", body)}
    by_num = {table["param_types"][n]: s for n, s in by_name.items()}
    return by_name, by_num


# ---------------------------------------------------------------- structure

def test_ids_are_dense_and_in_order(table):
    ids = [ev["id"] for ev in table["events"]]
    assert ids == list(range(len(ids)))
    assert len(ids) % 2 == 0


def test_enum_names_unique(table):
    enums = [ev["enum"] for ev in table["events"]]
    assert len(enums) == len(set(enums))
    assert all(e.startswith("PPME_") for e in enums)


def test_enter_exit_pairs(table):
    events = table["events"]
    for i in range(0, len(events), 2):
        enter, exit_ = events[i], events[i + 1]
        assert enter["enum"].endswith("_E"), enter["enum"]
        assert exit_["enum"].endswith("_X"), exit_["enum"]
        assert enter["enum"][:-2] == exit_["enum"][:-2], (enter["enum"], exit_["enum"])
        # An unused exit slot is named "NA"; otherwise both halves share the name.
        if not exit_.get("unused") and not enter.get("unused"):
            assert enter["name"] == exit_["name"], (enter["enum"], enter["name"], exit_["name"])


def test_known_numbering_anchors(table):
    """Spot checks of libscap numbers that real captures depend on."""
    by_enum = {ev["enum"]: ev["id"] for ev in table["events"]}
    assert by_enum["PPME_GENERIC_E"] == 0
    assert by_enum["PPME_SYSCALL_OPEN_E"] == 2
    assert by_enum["PPME_SYSCALL_EXECVE_8_E"] == 12
    assert by_enum["PPME_SYSCALL_CLONE_11_E"] == 14
    assert by_enum["PPME_SCHEDSWITCH_6_E"] == 152
    assert by_enum["PPME_SYSCALL_EXECVE_19_E"] == 292
    assert by_enum["PPME_SYSCALL_OPENAT_2_E"] == 306
    assert by_enum["PPME_SYSCALL_NEWFSTATAT_E"] == 418
    assert by_enum["PPME_SYSCALL_DELETE_MODULE_X"] == 425


def test_categories_and_flags_exist(table):
    cats, flags = table["categories"], table["event_flags"]
    for ev in table["events"]:
        for c in ev["category"].split("|"):
            assert c in cats, (ev["enum"], c)
        for f in ev["flags"]:
            assert f in flags, (ev["enum"], f)
        assert bool(ev.get("unused")) == ("EF_UNUSED" in ev["flags"]), ev["enum"]


def test_params_reference_known_types_and_flag_sets(table):
    types, fmts, sets = table["param_types"], table["print_formats"], table["flag_sets"]
    for ev in table["events"]:
        names = [p[0] for p in ev["params"]]
        assert len(names) == len(set(names)), ev["enum"]
        for p in ev["params"]:
            assert len(p) in (3, 4), (ev["enum"], p)
            assert p[1] in types, (ev["enum"], p)
            assert p[2] in fmts, (ev["enum"], p)
            if len(p) == 4:
                extra = p[3]
                if p[1] == "PT_DYN":
                    assert isinstance(extra, list) and extra, (ev["enum"], p)
                    for v in extra:
                        assert len(v) == 3 and v[1] in types and v[2] in fmts, (ev["enum"], v)
                elif p[1] == "PT_FSRELPATH":
                    assert isinstance(extra, int) and 0 <= extra < len(ev["params"]), (ev["enum"], p)
                else:
                    assert isinstance(extra, str) and extra in sets, (ev["enum"], p)
            else:
                assert p[1] != "PT_DYN", (ev["enum"], p)


def test_flag_sets_well_formed(table):
    for name, entries in table["flag_sets"].items():
        for entry in entries:
            assert len(entry) == 2 and isinstance(entry[0], str), (name, entry)
            assert isinstance(entry[1], int) and 0 <= entry[1] < 2**32, (name, entry)


def test_param_types_and_print_formats_numbering(table):
    pt, pf = table["param_types"], table["print_formats"]
    assert list(pt.values()) == list(range(len(pt)))
    assert pt["PT_NONE"] == 0 and pt["PT_DYN"] == 27 and pt["PT_ENUMFLAGS32"] == 46
    assert pf == {"PF_NA": 0, "PF_DEC": 1, "PF_HEX": 2, "PF_10_PADDED_DEC": 3,
                  "PF_ID": 4, "PF_DIR": 5, "PF_OCT": 6}


def test_syscalls_and_routes(table):
    codes = [c for c, _ in table["syscalls"]]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    assert table["syscalls"][0] == [0, "unknown"]
    names = {n for _, n in table["syscalls"]}
    enums = {ev["enum"]: ev for ev in table["events"]}
    nrs = [r[0] for r in table["x86_64"]]
    assert nrs == sorted(nrs) and len(nrs) == len(set(nrs))
    for nr, name, enter in table["x86_64"]:
        if enter is None:
            continue
        assert name in names, name
        assert enter in enums and enums[enter]["id"] % 2 == 0, (nr, name, enter)
        assert "EF_OLD_VERSION" not in enums[enter]["flags"], (nr, name, enter)
    route = {name: enter for _, name, enter in table["x86_64"]}
    assert route["openat"] == "PPME_SYSCALL_OPENAT_2_E"
    assert route["execve"] == "PPME_SYSCALL_EXECVE_19_E"
    assert route["read"] == "PPME_SYSCALL_READ_E"


def test_fixed_type_sizes(table, type_sizes):
    by_name, _ = type_sizes
    assert set(by_name) == set(table["param_types"])
    for name, size in EXPECTED_SIZES.items():
        assert by_name[name] == size, name


# ---------------------------------------------------------------- generator

def test_header_is_up_to_date():
    r = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_header_defines(table):
    text = HEADER.read_text(encoding="utf-8")
    assert f"#define FE_EVENT_MAX {len(table['events'])}\n" in text
    nmax = max(len(ev["params"]) for ev in table["events"])
    assert f"#define FE_MAX_EVENT_PARAMS {nmax}\n" in text
    assert f"#define FE_SYSCALL_MAX {table['syscalls'][-1][0] + 1}\n" in text
    assert f"#define FE_X86_64_SYSCALL_MAX {table['x86_64'][-1][0] + 1}\n" in text


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.parametrize("std", ["gnu11", "c99"])
def test_header_compiles(tmp_path, std):
    src = tmp_path / "use.c"
    src.write_text(
        '#include "falco_events.h"\n'
        "int use(int t) { return fe_event_table[t].nparams + fe_param_type_size[PT_FD]"
        " + fe_x86_64_syscalls[0].enter_event + fe_flag_sets[1].count; }\n"
        "int use_only_names(void) { return fe_syscall_names[1] != 0; }\n"
    )
    r = subprocess.run(
        ["gcc", f"-std={std}", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
         "-I", str(HEADER.parent), "-x", "c", str(src)],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- rules coverage

def _resolve_items(expr, lists):
    out = []
    for tok in re.split(r"[,\s]+", expr):
        tok = tok.strip().strip("\"'")
        if not tok:
            continue
        if tok in lists:
            out.extend(_resolve_items(" ".join(map(str, lists[tok])), lists))
        else:
            out.append(tok)
    return out


def _rule_evt_types(path):
    docs = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    lists, conditions, typed_lists = {}, [], set()
    for item in docs:
        if not isinstance(item, dict):
            continue
        if "list" in item:
            lists.setdefault(item["list"], []).extend(item.get("items") or [])
        if "condition" in item and isinstance(item["condition"], str):
            conditions.append(item["condition"])
    found = set()
    for cond in conditions:
        for m in re.finditer(r"evt\.type\s+in\s+\(([^)]*)\)", cond):
            for tok in re.split(r"[,\s]+", m.group(1)):
                if tok.strip() in lists:
                    typed_lists.add(tok.strip())
            found.update(_resolve_items(m.group(1), lists))
        for m in re.finditer(r"evt\.type\s*!?=\s*([A-Za-z0-9_]+)", cond):
            found.add(m.group(1))
    for name, items in lists.items():
        if name.endswith(("_syscalls", "_events")) or name in typed_lists:
            found.update(_resolve_items(" ".join(map(str, items)), lists))
    return found


def test_rule_evt_types_are_known(table):
    rules = COMPAT / "rules"
    if not rules.is_dir():
        pytest.skip(f"{rules} is absent (shared compat data not mounted)")
    known = {ev["name"] for ev in table["events"]} | {n for _, n in table["syscalls"]}
    missing = {}
    for path in sorted(rules.rglob("*.yaml")):
        for t in _rule_evt_types(path):
            if t not in known:
                missing.setdefault(t, []).append(path.name)
    assert not missing, missing


# ---------------------------------------------------------------- captures

EV_BLOCKS = {0x204: (False, False, False), 0x216: (False, True, False), 0x221: (False, True, True),
             0x208: (True, False, False), 0x217: (True, True, False), 0x222: (True, True, True)}


def iter_capture_events_for_table_test(path, nparams_of):
    """Yield (event_type, [param lengths]) for every event block of a .scap.

    A deliberately small local reader for this test only; nparams_of(type)
    gives the table's nparams, used to recover nparams in old EV/EVF blocks.
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    off = 0
    while off + 12 <= len(raw):
        btype, blen = struct.unpack_from("<II", raw, off)
        if blen < 12 or off + blen > len(raw):
            break
        if btype in EV_BLOCKS:
            has_flags, v2, large = EV_BLOCKS[btype]
            body = off + 8 + 2 + (4 if has_flags else 0)
            ts, tid, elen, etype = struct.unpack_from("<QQIH", raw, body)
            lsize = 4 if large else 2
            if v2:
                (n,) = struct.unpack_from("<I", raw, body + 22)
                hdr = 26
            else:
                hdr, n = 22, None
                for cand in range(nparams_of(etype), -1, -1):
                    lens = struct.unpack_from(f"<{cand}H", raw, body + hdr) if cand else ()
                    if hdr + 2 * cand + sum(lens) == elen:
                        n = cand
                        break
                assert n is not None, f"{path.name}@{off}: cannot derive nparams of type {etype}"
            fmt = "<%d%s" % (n, "I" if large else "H")
            lens = list(struct.unpack_from(fmt, raw, body + hdr)) if n else []
            assert hdr + lsize * n + sum(lens) == elen, f"{path.name}@{off}: bad lengths"
            yield etype, lens
        off += blen


def _captures():
    root = COMPAT / "captures"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


@pytest.mark.parametrize("capture", _captures() or [None], ids=lambda p: p and f"{p.parent.name}/{p.name}")
def test_capture_events_match_table(table, type_sizes, capture):
    if capture is None:
        pytest.skip(f"{COMPAT / 'captures'} is absent (shared compat data not mounted)")
    events = table["events"]
    _, size_of = type_sizes
    types = table["param_types"]

    def nparams_of(t):
        return len(events[t]["params"]) if t < len(events) else 0

    count = 0
    for etype, lens in iter_capture_events_for_table_test(capture, nparams_of):
        count += 1
        assert etype < len(events), f"event type {etype} >= FE_EVENT_MAX"
        ev = events[etype]
        assert not ev.get("unused"), f"unused event {ev['enum']} in capture"
        assert len(lens) <= len(ev["params"]), (ev["enum"], len(lens))
        for p, n in zip(ev["params"], lens):
            size = size_of[types[p[1]]]
            if size:
                assert n == size, f"{ev['enum']}.{p[0]} ({p[1]}) has {n} bytes, expected {size}"
    if count == 0:
        pytest.skip(f"{capture.name} holds no event blocks")


# ---- both drivers fill the same events ------------------------------------

def _dispatched(path: Path, start: str) -> set[str]:
    """PPME_* case labels of the dispatch switch that begins at `start`."""
    text = path.read_text()
    body = text[text.index(start):]
    body = body[:body.index("\n}\n")]
    return set(re.findall(r"case (PPME_\w+):", body))


BPF_DISPATCH = (REPO / "driver" / "bpf" / "falco.bpf.c",
                "static __always_inline int dispatch(__u32 type)")
KMOD_DISPATCH = (REPO / "driver" / "kmod" / "fillers.c",
                 "void fk_fill(struct fk_evt *e, u16 type)")
# Syscalls that once fell back to generic events and now have their own
# filler in both drivers (issue #5); setreuid, setregid and setfsuid stay
# generic: the event table (libs) has no event for them.
CONVERTED = ("setuid", "setgid", "setresuid", "setresgid", "capset", "prctl",
             "pipe", "pipe2", "fcntl", "socketpair", "listen", "mkdir",
             "mkdirat", "rmdir", "unlinkat", "mknod", "mknodat", "eventfd",
             "eventfd2", "pidfd_open", "pidfd_getfd", "io_uring_setup")


def test_drivers_fill_the_same_events():
    bpf, kmod = _dispatched(*BPF_DISPATCH), _dispatched(*KMOD_DISPATCH)
    assert len(bpf) > 100
    assert bpf == kmod, (f"only eBPF: {sorted(bpf - kmod)}; "
                         f"only kmod: {sorted(kmod - bpf)}")


def test_converted_syscalls_have_fillers(table):
    filled = _dispatched(*BPF_DISPATCH) & _dispatched(*KMOD_DISPATCH)
    routes = {name: enter for nr, name, *rest in table["x86_64"]
              for enter in rest[:1]}
    for name in CONVERTED:
        enter = routes[name]
        assert enter and enter != "PPME_GENERIC_E", name
        exit_ = table["events"][_event_id(table, enter) + 1]["enum"]
        assert enter in filled and exit_ in filled, name
    for name in ("setreuid", "setregid", "setfsuid"):
        assert routes[name] == "PPME_GENERIC_E", name


def _event_id(table, enum: str) -> int:
    return next(e["id"] for e in table["events"] if e["enum"] == enum)

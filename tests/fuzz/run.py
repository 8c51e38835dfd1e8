"""Long fuzz budget: run one target of `targets.py` under atheris (libFuzzer).

    python tests/fuzz/run.py TARGET [N] [--timeout S] [--workdir DIR]
    python tests/fuzz/run.py TARGET --replay FILE...   # re-run saved inputs
    python tests/fuzz/run.py --list

N inputs (default 1,000,000), each under a per-input timeout (default 10 s:
a hang is reported like a crash).  Seeds come from the real data (captures,
rule files, conditions corpus) and are written to WORKDIR/TARGET/seeds; new
interesting inputs go to WORKDIR/TARGET/corpus and crashing/hanging inputs
to WORKDIR/TARGET/crash-* (copy them to tests/fuzz/regressions/TARGET/ so
pytest replays them).  Only the target's clean rejections are caught;
any other exception is a crash.  The Python code of falco and
falco_engine is coverage-instrumented (not PyYAML's: 10x slower); the
Cython engine is not (atheris then mutates it as a black box, guided by
the Python around it).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))


def _write_seeds(target, seed_dir: Path) -> int:
    seed_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for data in target.seeds():
        data = data[:target.max_len]
        (seed_dir / hashlib.sha1(data).hexdigest()).write_bytes(data)
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?")
    ap.add_argument("runs", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--timeout", type=int, default=10, help="seconds per input")
    ap.add_argument("--workdir", default=str(HERE.parents[1] / "build" / "fuzz"))
    ap.add_argument("--replay", nargs="+", metavar="FILE")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--no-instrument", action="store_true",
                    help="black-box mutation only (faster, no coverage guidance)")
    args, extra = ap.parse_known_args()

    import targets as T
    if args.list or not args.target:
        for name in T.FACTORIES:
            print(name)
        return 0
    if args.target not in T.FACTORIES:
        ap.error(f"unknown target {args.target!r}: one of {', '.join(T.FACTORIES)}")

    if args.replay:
        target = T.get(args.target)
        bad = 0
        for f in args.replay:
            try:
                T.run_guarded(target, Path(f).read_bytes())
                print(f"ok    {f}")
            except Exception:              # noqa: BLE001 - report every crash
                bad += 1
                print(f"CRASH {f}")
                traceback.print_exc()
        return 1 if bad else 0

    import atheris
    if args.no_instrument:
        target = T.get(args.target)
    else:
        with atheris.instrument_imports(include=["falco", "falco_engine"]):
            target = T.get(args.target)
    work = Path(args.workdir) / args.target
    corpus, seeds = work / "corpus", work / "seeds"
    corpus.mkdir(parents=True, exist_ok=True)
    nseeds = _write_seeds(target, seeds)
    print(f"fuzz {args.target}: {args.runs} inputs, timeout {args.timeout}s, "
          f"{nseeds} seeds, clean = {[c.__name__ for c in target.clean]}", flush=True)

    import time
    stats = {"n": 0, "t0": time.monotonic()}

    def report() -> None:
        dt = time.monotonic() - stats["t0"]
        print(f"fuzz {args.target}: {stats['n']} inputs in {dt:.0f}s "
              f"({stats['n'] / max(dt, 1e-9):.0f}/s), 0 crashes so far", flush=True)

    def one(data: bytes) -> None:
        T.run_guarded(target, data)
        stats["n"] += 1
        if stats["n"] % 100_000 == 0 or stats["n"] == args.runs:
            report()

    argv = [sys.argv[0], f"-runs={args.runs}", f"-timeout={args.timeout}",
            f"-max_len={target.max_len}", "-rss_limit_mb=3072", "-print_final_stats=1", "-len_control=0",
            f"-artifact_prefix={work}/", *extra, str(corpus), str(seeds)]
    atheris.Setup(argv, one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())

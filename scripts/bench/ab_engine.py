#!/usr/bin/env python3
"""Compare the engine's time of two built trees, alternating runs.

    scripts/bench/ab_engine.py TREE_A TREE_B [--pairs 4] [--rounds 20] [--rules FILE]

Each run imports its own tree's compiled engine.  An editable install maps
`falco_engine` to the checkout it was made from whatever PYTHONPATH says,
so each run gets a directory holding only a `falco_engine` link to its
tree's engine/, first on the path, and prints the module it loaded.
The figure is time_state_split's: the engine's own time within a replay
pass (best of --rounds), next to decoding alone; runs alternate A B / B A
so a drift in the machine's load meets both.  The summary is the median,
over the pairs, of B's engine time over A's in the same pair: two runs
next to each other meet the same load, where the best of each arm over
the whole comparison can pair one arm's quiet minute with the other's
busy one (on these shared machines decoding alone moves by a third
within twenty minutes).  Each arm's median share (its engine time over
decoding alone, in one run) is printed too.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = r"""
import sys
import falco_engine.state as st
from falco.bench.replay import time_state_split
extra = {"rules_text": sys.argv[3]} if sys.argv[3] else {}
split = time_state_split(sys.argv[1], rounds=int(sys.argv[2]), **extra)
print(f"{st.__file__}\t{split.state_seconds * 1e3:.2f}\t{split.decode_seconds * 1e3:.2f}")
"""


def run_arm(tree: Path, links: Path, capture: Path, rounds: int, rules: str) -> tuple[str, float, float]:
    env = dict(os.environ, PYTHONPATH=f"{links}{os.pathsep}{tree}")
    out = subprocess.run([sys.executable, "-c", RUN, str(capture), str(rounds), rules],
                         env=env, cwd=links, capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"{tree}: the run failed: {last}")
    module, state_ms, decode_ms = out.stdout.strip().splitlines()[-1].split("\t")
    return module, float(state_ms), float(decode_ms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree_a", type=Path)
    ap.add_argument("tree_b", type=Path)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--rules", type=Path, help="a rules file instead of the never-matching rule")
    ap.add_argument("--capture", type=Path, help="default: 502Error looped to 500k events")
    args = ap.parse_args()
    rules = args.rules.read_text() if args.rules else ""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        capture = args.capture
        if capture is None:
            sys.path.insert(0, str(args.tree_b.resolve()))
            from falco.bench.replay import make_looped_capture
            src = args.tree_b.resolve().parent / "shared" / "compat" / "captures" / "sysdig_inspect" / "502Error.scap"
            capture = work / "looped.scap"
            make_looped_capture(src, capture, 500_000)
        arms = {}
        for name, tree in (("A", args.tree_a.resolve()), ("B", args.tree_b.resolve())):
            links = work / name
            links.mkdir()
            (links / "falco_engine").symlink_to(tree / "engine")
            arms[name] = (tree, links)
        ratios = []
        shares: dict[str, list[float]] = {"A": [], "B": []}
        for i in range(args.pairs):
            engine_ms = {}
            for name in ("AB" if i % 2 == 0 else "BA"):
                tree, links = arms[name]
                module, state_ms, decode_ms = run_arm(tree, links, capture, args.rounds, rules)
                if not module.startswith(str(links)):
                    print(f"{name}: loaded {module}, not {tree}/engine", file=sys.stderr)
                    return 1
                engine_ms[name] = state_ms
                shares[name].append(state_ms / decode_ms)
                print(f"{name}  engine {state_ms:6.2f} ms  decode alone {decode_ms:6.2f} ms  "
                      f"share {state_ms / decode_ms:.3f}", flush=True)
            ratios.append(engine_ms["B"] / engine_ms["A"])
        ratios.sort()
        print(f"B/A engine time, median of {len(ratios)} pairs: {statistics.median(ratios):.3f} "
              f"(pairs {ratios[0]:.3f} .. {ratios[-1]:.3f})")
        # The engine's share of decoding in the same run moves less with
        # the machine's phase than either time does.
        print(f"median share: A {statistics.median(shares['A']):.3f}  "
              f"B {statistics.median(shares['B']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Replay throughput on a looped capture, next to `sysdig -r FILE -q`.

Decode only, then with each rule set given (-r, repeatable), each next to
sysdig running the same rules as one or-ed filter.

usage: scripts/bench_decode.py [SOURCE.scap] [--events N] [-r RULES ...]
"""
import argparse
import sys
import tempfile
from pathlib import Path

from falco.bench.replay import (make_looped_capture, time_decode, time_rules,
                                time_sysdig, union_filter)

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared/compat/captures/sysdig_inspect/502Error.scap"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE))
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("-r", "--rules", action="append", default=[],
                    help="a rule file to time (repeatable: each is one row)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        looped = Path(tmp) / "looped.scap"
        n = make_looped_capture(args.source, looped, args.events)
        ours = time_decode(looped)
        ref = time_sysdig(looped, n)
        print(f"capture: {n} events ({looped.stat().st_size >> 20} MiB) from {args.source}")
        print(f"falco decode : {ours.rate:12,.0f} ev/s  ({ours.seconds:.3f} s)")
        if ref is None:
            print("sysdig -q    : not installed")
        else:
            print(f"sysdig -r -q : {ref.rate:12,.0f} ev/s  ({ref.seconds:.3f} s)")
            print(f"ratio        : {ours.rate / ref.rate:.2f}x sysdig")
        for rules in args.rules:
            timing, nrules, alerts = time_rules(looped, [rules])
            print(f"rules {rules}: {nrules} rules, {alerts} alerts")
            print(f"  falco      : {timing.rate:12,.0f} ev/s  ({timing.seconds:.3f} s)")
            try:
                ref = time_sysdig(looped, n, union_filter([rules]), repeat=1)
            except Exception as exc:            # sysdig may not know a field
                print(f"  sysdig     : cannot run this filter ({str(exc)[:80]})")
                continue
            if ref is not None:
                print(f"  sysdig     : {ref.rate:12,.0f} ev/s  ({ref.seconds:.3f} s)")
                print(f"  ratio      : {timing.rate / ref.rate:.2f}x sysdig")
    return 0


if __name__ == "__main__":
    sys.exit(main())

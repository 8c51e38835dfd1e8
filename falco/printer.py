"""Event lines as `sysdig -r FILE` prints them (for `falco events`)."""
from __future__ import annotations

import time

from falco_engine import params, table
from falco_engine.params import StateView


def format_time(ts_ns: int) -> str:
    """%evt.time: local wall-clock time with nanoseconds."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{ns:09d}"


def format_args(ev, state: StateView | None = None) -> str:
    """%evt.args: name=value pairs of the parameters the table names."""
    info = table.EVENTS[ev.type]
    if ev.type <= 1:
        return ""                       # generic events: sysdig shows no args
    out = []
    for i, pinfo in enumerate(info.params[:ev.nparams]):
        raw = ev.param(i)
        out.append(f"{pinfo.name}={params.render(pinfo, raw, ev.tid, state)}")
    return " ".join(out)


def format_event(ev, comm: str | None, state: StateView | None = None) -> str:
    """The default sysdig line: num time cpu comm (tid) dir type args."""
    return (f"{ev.num} {format_time(ev.ts)} {ev.cpu} {comm or '<NA>'} ({ev.tid}) "
            f"{ev.dir} {ev.name} {format_args(ev, state)}")

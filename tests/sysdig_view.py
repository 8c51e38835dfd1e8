"""Which of our events sysdig 0.29.3 shows, and under which evt.num.

The reference tool is built on the Falco libraries of March 2022, and three
things it does differ from a current reader, for reasons of its age, not of
the capture:
- event types newer than its table (useradded, groupadded, ...) are skipped
  by its libscap *before* numbering, so its evt.num skips them too;
- internal events (procinfo, scapevent) are numbered but never printed;
- container events at the very start of a capture are consumed while the
  capture is opened: numbered, never printed.
"""
from __future__ import annotations

from falco_engine import table

# Number of event types in the libscap event table sysdig 0.29.3 ships.
SYSDIG_0_29_EVENT_MAX = 336

# Syscall names the 2022 table spelled differently (same PPM_SC code).
SYSDIG_0_29_SYSCALL_NAMES = {"rt_sigreturn": "sigreturn", "unknown": "<unknown>"}


def sysdig_view(events):
    """Yield (sysdig evt.num, event) for each event sysdig 0.29.3 prints."""
    num = 0
    leading = True
    for ev in events:
        if ev.type >= SYSDIG_0_29_EVENT_MAX:
            continue
        num += 1
        is_container = ev.name == "container"
        if leading and is_container:
            continue
        leading = False
        if ev.category & table.EC_INTERNAL:
            continue
        yield num, ev


def sysdig_type_name(ev) -> str:
    return SYSDIG_0_29_SYSCALL_NAMES.get(ev.name, ev.name)

"""Text outputs escape control characters from event data (file names and
command lines are chosen by whoever is being watched)."""
from __future__ import annotations

import struct

from falco.pipeline import build_detector
from falco.rules import load_rules
from falco_engine import table
from falco_engine.decoder import scan_records

OPENAT_X = next(e.id for e in table.EVENTS if e.name == "openat" and e.id % 2 == 1
                and len(e.params) == 7)


def _record(etype: int, values: dict[str, bytes]) -> bytes:
    info = table.EVENTS[etype]
    raws = []
    for p in info.params:
        if p.name in values:
            raws.append(values[p.name])
        else:
            size = table.PARAM_TYPE_SIZE[p.type] if p.type < len(table.PARAM_TYPE_SIZE) else 0
            raws.append(b"\0" * size)
    body = b"".join(struct.pack("<H", len(r)) for r in raws) + b"".join(raws)
    return struct.pack("<QQIHI", 1_500_000_000_000_000_000, 42, 26 + len(body), etype,
                       len(raws)) + body


def test_newlines_and_escapes_do_not_forge_lines():
    rule = """
- rule: Any openat
  desc: test
  condition: evt.type = openat
  output: "opened %evt.arg.name"
  priority: INFO
"""
    loaded = load_rules([("t.yaml", rule)])
    assert not loaded.errors
    det = build_detector(loaded)
    name = b"/tmp/a\nFAKE: Critical forged\x1b[31m\0"
    batch = scan_records(_record(OPENAT_X, {"fd": struct.pack("<q", 3),
                                            "name": name}))
    alerts = list(det.run([batch]))
    assert len(alerts) == 1
    text = alerts[0].output
    assert "\n" not in text and "\x1b" not in text
    assert text == "opened /tmp/a\\nFAKE: Critical forged\\x1b[31m"
    # JSON keeps the value itself: the JSON encoder escapes it.
    assert alerts[0].output_fields["evt.arg.name"] == "/tmp/a\nFAKE: Critical forged\x1b[31m"

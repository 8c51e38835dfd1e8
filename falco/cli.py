"""The `falco` command line: parse, build one config, call the library.

Exit codes (stable): 0 success, 1 a runtime error (unreadable capture,
invalid rules), 2 bad usage.
"""
from __future__ import annotations

import json
import sys

import click

from falco.capture import CaptureError, open_capture

CAPTURE_OPTION = click.option(
    "-e", "--capture", "capture_path", required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Read events from this .scap capture (plain or gzip).")
LIMIT_OPTION = click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=None,
    help="Stop after this many events.")


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"falco: error: {message}", err=True)
    ctx.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="falco")
def main() -> None:
    """Runtime security: judge kernel events against Falco rules.

    Exit codes: 0 success, 1 runtime error (bad capture, bad rules),
    2 bad usage.
    """


@main.command()
@CAPTURE_OPTION
@LIMIT_OPTION
@click.option("-A", "--all", "show_all", is_flag=True,
              help="Also show internal events (procinfo, ...) as `sysdig -D` does.")
@click.pass_context
def events(ctx: click.Context, capture_path: str, limit: int | None,
           show_all: bool) -> None:
    """Print the events of a capture, one line each, like `sysdig -r`."""
    from falco.printer import format_event
    from falco_engine import table

    internal = table.EC_INTERNAL
    shown = 0
    out = sys.stdout
    try:
        with open_capture(capture_path) as cap:
            threads = cap.tables.threads
            for batch in cap.batches():
                for ev in batch:
                    if not show_all and ev.category & internal:
                        continue
                    t = threads.get(ev.tid)
                    out.write(format_event(ev, t.comm if t else None) + "\n")
                    shown += 1
                    if limit is not None and shown >= limit:
                        return
    except CaptureError as exc:
        out.flush()
        _fail(ctx, str(exc))


@main.command()
@CAPTURE_OPTION
@click.option("-w", "--write", "out_path", required=True,
              type=click.Path(dir_okay=False, writable=True),
              help="Write the capture here.")
@click.option("-z", "--compress", is_flag=True, help="gzip the output.")
@LIMIT_OPTION
@click.pass_context
def capture(ctx: click.Context, capture_path: str, out_path: str,
            compress: bool, limit: int | None) -> None:
    """Write a .scap capture that libscap tools (sysdig, Falco) read.

    The source is a capture today; the live drivers come next.
    """
    from falco.capture.scap_writer import ScapWriter

    written = 0
    try:
        with open_capture(capture_path) as cap, \
                ScapWriter(out_path, cap.tables, compress) as writer:
            for batch in cap.batches():
                room = len(batch) if limit is None else min(len(batch), limit - written)
                written += writer.write_batch(batch, 0, room)
                if limit is not None and written >= limit:
                    break
    except CaptureError as exc:
        _fail(ctx, f"{exc} ({written} events written to {out_path} before it)")
    click.echo(f"wrote {written} events to {out_path}", err=True)


@main.command("list-events")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_events(as_json: bool) -> None:
    """The event table: every event type with its parameters."""
    from falco_engine import table

    rows = [e for e in table.EVENTS if e.name and not e.unused]
    if as_json:
        click.echo(json.dumps([
            {"id": e.id, "name": e.name, "dir": ">" if e.id % 2 == 0 else "<",
             "params": [{"name": p.name, "type": table.PARAM_TYPE_NAMES[p.type]}
                        for p in e.params]}
            for e in rows], indent=1))
        return
    for e in rows:
        args = ", ".join(f"{table.PARAM_TYPE_NAMES[p.type]} {p.name}" for p in e.params)
        click.echo(f"{e.id:4d} {'>' if e.id % 2 == 0 else '<'} {e.name}({args})")

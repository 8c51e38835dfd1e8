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
@click.option("-e", "--capture", "capture_path", type=click.Path(exists=True, dir_okay=False),
              help="Copy this capture instead of recording the host.")
@click.option("-w", "--write", "out_path", required=True,
              type=click.Path(dir_okay=False, writable=True),
              help="Write the capture here.")
@click.option("-z", "--compress", is_flag=True, help="gzip the output.")
@click.option("-M", "duration", type=click.FloatRange(min=0), default=5.0,
              show_default=True, help="Seconds to record the host for.")
@LIMIT_OPTION
@click.pass_context
def capture(ctx: click.Context, capture_path: str | None, out_path: str,
            compress: bool, duration: float, limit: int | None) -> None:
    """Write a .scap capture that libscap tools (sysdig, Falco) read.

    Records this host with the eBPF driver (every syscall, -M seconds), or
    copies a capture given with -e.
    """
    from falco.capture.scap_writer import ScapWriter

    written = 0
    if capture_path is None:
        from falco.live.live_capture import BpfUnavailable, LiveCapture

        try:
            live = LiveCapture(None)
        except BpfUnavailable as exc:
            _fail(ctx, f"cannot record this host: {exc}")
        try:
            with ScapWriter(out_path, live.tables, compress) as writer:
                for batch in live.batches(duration):
                    room = len(batch) if limit is None else min(len(batch), limit - written)
                    written += writer.write_batch(batch, 0, room)
                    if limit is not None and written >= limit:
                        live.stop()
        finally:
            counters = live.counters()
            live.close()
        click.echo(f"wrote {written} events to {out_path} "
                   f"({counters['drops']} dropped by the driver)", err=True)
        return
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


RULES_OPTION = click.option(
    "-r", "--rules", "rules_paths", multiple=True,
    type=click.Path(exists=True),
    help="Rule file or directory (repeatable; later files modify earlier ones). "
         "Default: the bundled rules.")


def _default_rules() -> list[str]:
    from pathlib import Path

    here = Path(__file__).resolve().parent
    for cand in (here / "data" / "rules", here.parent / "rules"):
        stable = cand / "falco_rules.yaml"
        if stable.exists():
            return [str(stable)]
    return []


def _default_capture() -> str | None:
    from pathlib import Path

    sample = Path(__file__).resolve().parent / "data" / "sample.scap"
    return str(sample) if sample.exists() else None


@main.command()
@click.option("-e", "--capture", "capture_path", type=click.Path(exists=True, dir_okay=False),
              help="Replay this .scap capture instead of watching the host.")
@RULES_OPTION
@click.option("-D", "disable_names", multiple=True, metavar="SUBSTRING",
              help="Disable rules whose name contains SUBSTRING (repeatable).")
@click.option("-T", "disable_tags", multiple=True, metavar="TAG",
              help="Disable rules with this tag (repeatable).")
@click.option("-t", "enable_tags", multiple=True, metavar="TAG",
              help="Run only rules with this tag (repeatable).")
@click.option("--priority", "min_priority", default="debug", show_default=True,
              help="Load only rules at least this severe.")
@click.option("--all-matches", is_flag=True,
              help="Report every matching rule per event (rule_matching: all).")
@click.option("--json", "as_json", is_flag=True, help="Alerts as Falco JSON lines.")
@click.option("--profile-rules", is_flag=True,
              help="At exit, print per rule: evaluations, matches, time spent.")
@click.option("-M", "duration", type=click.FloatRange(min=0), default=None,
              help="Stop a live run after this many seconds.")
@LIMIT_OPTION
@click.pass_context
def run(ctx: click.Context, capture_path: str | None, rules_paths: tuple[str, ...],
        disable_names: tuple[str, ...], disable_tags: tuple[str, ...],
        enable_tags: tuple[str, ...], min_priority: str, all_matches: bool,
        as_json: bool, profile_rules: bool, duration: float | None,
        limit: int | None) -> None:
    """Judge events against rules and print alerts.

    Replays a capture with -e; without it, watches this host with the
    eBPF driver, or replays the bundled sample capture where live capture
    is not possible.
    """
    from falco.pipeline import RuleSelection, alert_json, alert_text, build_detector
    from falco.rules import Priority, load_rule_files

    prio = Priority.parse(min_priority)
    if prio is None:
        raise click.BadParameter(f"unknown priority {min_priority!r}", param_hint="--priority")
    paths = list(rules_paths) or _default_rules()
    if not paths:
        _fail(ctx, "no rules given and no bundled rules found")
    loaded = load_rule_files(paths)
    for w in loaded.warnings:
        click.echo(f"falco: warning: {w}", err=True)
    if loaded.errors:
        for e in loaded.errors:
            click.echo(f"falco: error: {e}", err=True)
        ctx.exit(1)
    selection = RuleSelection(prio, disable_names, disable_tags, enable_tags)
    detector = build_detector(loaded, selection, first_match=not all_matches,
                              profile=profile_rules)
    if profile_rules:
        ctx.call_on_close(lambda: _print_profile(detector))
    for w in detector.warnings:
        click.echo(f"falco: warning: {w}", err=True)
    click.echo(f"falco: {len(detector.rules)} rules loaded from {', '.join(paths)}", err=True)

    if capture_path is None:
        live = _open_live(detector)
        if live is not None:
            _run_live(ctx, live, detector, as_json, limit, duration)
            return
        capture_path = _default_capture()
        if capture_path is None:
            _fail(ctx, "live capture is not possible here and no sample capture "
                       "is bundled: give a capture with -e")
        click.echo(f"falco: replaying the bundled sample capture {capture_path}", err=True)
    shown = 0
    out = sys.stdout
    try:
        with open_capture(capture_path) as cap:
            detector.seed(cap.tables)
            for alert in detector.run(cap.batches()):
                out.write((alert_json(alert) if as_json else alert_text(alert)) + "\n")
                shown += 1
                if limit is not None and shown >= limit:
                    break
    except CaptureError as exc:
        out.flush()
        _fail(ctx, str(exc))
    finally:
        out.flush()
    click.echo(f"falco: {detector.engine.events} events, {shown} alerts", err=True)


def _print_profile(detector) -> None:
    """Which rule makes the agent slow: per-rule cost, most expensive first."""
    rows = sorted(detector.rules, key=lambda r: r.ns, reverse=True)
    total = sum(r.ns for r in rows) or 1
    click.echo(f"{'rule':<60} {'evals':>10} {'matches':>8} {'ms':>9} {'ns/eval':>8} {'share':>6}",
               err=True)
    for r in rows:
        per = r.ns / r.evals if r.evals else 0
        click.echo(f"{r.name[:60]:<60} {r.evals:>10} {r.matches:>8} {r.ns / 1e6:>9.2f} "
                   f"{per:>8.0f} {100 * r.ns / total:>5.1f}%", err=True)


def _open_live(detector):
    """The eBPF driver with the syscalls the rules need, or None (and why)."""
    from falco.live.live_capture import BpfUnavailable, LiveCapture, interest_codes

    try:
        return LiveCapture(interest_codes(r.evttypes for r in detector.rules))
    except BpfUnavailable as exc:
        click.echo(f"falco: live capture unavailable: {exc}", err=True)
        return None


def _run_live(ctx: click.Context, live, detector, as_json: bool,
              limit: int | None, duration: float | None) -> None:
    import signal

    from falco.pipeline import alert_json, alert_text

    def _stop(signum, frame):
        live.stop()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    out = sys.stdout
    shown = 0
    click.echo(f"falco: watching this host with the eBPF driver ({live.source.mode})",
               err=True)
    try:
        detector.seed(live.tables)
        for alert in detector.run(live.batches(duration)):
            out.write((alert_json(alert) if as_json else alert_text(alert)) + "\n")
            out.flush()
            shown += 1
            if limit is not None and shown >= limit:
                live.stop()
    finally:
        counters = live.counters()
        live.close()
        for s, h in old.items():
            signal.signal(s, h)
    click.echo(f"falco: {detector.engine.events} events, {shown} alerts, "
               f"{counters['drops']} dropped by the driver "
               f"(ring full {counters['drops_buffer']}, too large "
               f"{counters['drops_max_size']}), {counters['faults']} read faults",
               err=True)


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

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
    """Print the events of a capture, one line each, like `sysdig -r`.

    Process names, fd names and user names come from the state engine, as
    sysdig shows them.
    """
    from falco.pipeline import new_state
    from falco.printer import format_event
    from falco_engine import table

    internal = table.EC_INTERNAL
    shown = 0
    out = sys.stdout
    state = new_state()
    view = None
    if state is not None:
        from falco_engine.state_view import StateView
        view = StateView(state)

    class _Done(Exception):
        pass

    def emit(ev, thread) -> None:
        nonlocal shown
        if not show_all and ev.category & internal:
            return
        comm = None if thread is None else thread.comm.decode("utf-8", "replace")
        out.write(format_event(ev, comm, view) + "\n")
        shown += 1
        if limit is not None and shown >= limit:
            raise _Done

    try:
        with open_capture(capture_path) as cap:
            threads = cap.tables.threads
            if state is not None:
                state.seed(cap.tables)
            for batch in cap.batches():
                if state is not None:
                    state.process_batch_debug(
                        batch, lambda ctx: emit(ctx.event, ctx.thread))
                else:
                    for ev in batch:
                        t = threads.get(ev.tid)
                        emit(ev, None if t is None else _Named(t.comm))
    except _Done:
        return
    except CaptureError as exc:
        out.flush()
        _fail(ctx, str(exc))


class _Named:
    """A thread seen only in the capture's process list (no state engine)."""

    def __init__(self, comm: str) -> None:
        self.comm = comm.encode("utf-8", "surrogateescape")


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
         "Default: falco.yaml's rules_files, else the bundled rules.")


@main.command()
@click.option("-c", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="falco.yaml to use (default: $FALCO_CONFIG, /etc/falco/falco.yaml, "
                   "then the packaged one).")
@click.option("-o", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a falco.yaml key (repeatable; list[0]=v, list[]=v).")
@click.option("-e", "--capture", "capture_path", type=click.Path(exists=True, dir_okay=False),
              help="Replay this .scap capture instead of watching the host.")
@click.option("--driver", type=click.Choice(["auto", "kmod", "ebpf"]), default=None,
              help="Live driver: auto (the kernel module if loaded, else eBPF), kmod, "
                   "ebpf.  Default: falco.yaml's engine.kind.")
@RULES_OPTION
@click.option("-D", "disable_names", multiple=True, metavar="SUBSTRING",
              help="Disable rules whose name contains SUBSTRING (repeatable).")
@click.option("-T", "disable_tags", multiple=True, metavar="TAG",
              help="Disable rules with this tag (repeatable).")
@click.option("-t", "enable_tags", multiple=True, metavar="TAG",
              help="Run only rules with this tag (repeatable).")
@click.option("--priority", "min_priority", default=None,
              help="Load only rules at least this severe (default: falco.yaml's priority).")
@click.option("--all-matches", is_flag=True,
              help="Report every matching rule per event (rule_matching: all).")
@click.option("--json", "as_json", is_flag=True, help="Alerts as Falco JSON lines.")
@click.option("-U", "unbuffered", is_flag=True, help="Unbuffered outputs.")
@click.option("-A", "all_events", is_flag=True,
              help="Capture every syscall, not only those the rules and state need.")
@click.option("--dry-run", is_flag=True, help="Load config and rules, then exit.")
@click.option("--allow-insecure-files", is_flag=True,
              help="Load rules and falco.yaml even when users other than falco's "
                   "could change them (refused by default: they could blind it).")
@click.option("--profile-rules", is_flag=True,
              help="At exit, print per rule: evaluations, matches, time spent.")
@click.option("-M", "duration", type=click.FloatRange(min=0), default=None,
              help="Stop a live run after this many seconds.")
@LIMIT_OPTION
@click.pass_context
def run(ctx: click.Context, config_path: str | None, overrides: tuple[str, ...],
        capture_path: str | None, driver: str | None, rules_paths: tuple[str, ...],
        disable_names: tuple[str, ...], disable_tags: tuple[str, ...],
        enable_tags: tuple[str, ...], min_priority: str | None, all_matches: bool,
        as_json: bool, unbuffered: bool, all_events: bool, dry_run: bool,
        allow_insecure_files: bool, profile_rules: bool, duration: float | None,
        limit: int | None) -> None:
    """Judge events against rules and send alerts to the configured outputs.

    Replays a capture with -e; without it, watches this host with the
    eBPF driver, or replays the bundled sample capture where live capture
    is not possible.  Exit codes: 0 done, 1 runtime error (bad config,
    rules or capture; or syscall_event_drops' exit action), 2 bad usage.
    """
    from falco import app
    from falco.config import ConfigError, configure_logging, load_config

    def log(line: str) -> None:
        click.echo(line, err=True)

    if (disable_names or disable_tags) and enable_tags:
        _fail(ctx, "You can not specify both disabled (-D/-T) and enabled (-t) rules")

    try:
        cfg = load_config(config_path, list(overrides))
    except ConfigError as exc:
        _fail(ctx, str(exc))
    for w in cfg.warnings:
        log(f"falco: warning: {w}")
    configure_logging(cfg)
    if as_json:
        cfg.json_output = True
    if unbuffered:
        cfg.buffered_outputs = False
    opts = app.RunOptions(capture=capture_path, rules=list(rules_paths),
                          disable_names=disable_names, disable_tags=disable_tags,
                          enable_tags=enable_tags, priority=min_priority,
                          all_matches=all_matches, profile=profile_rules,
                          duration=duration, limit=limit, dry_run=dry_run,
                          all_events=all_events, config_overrides=overrides,
                          driver=driver, allow_insecure_files=allow_insecure_files)
    try:
        code = app.run(cfg, opts, log, stdout=sys.stdout)
    except app.AppError as exc:
        _fail(ctx, str(exc))
    ctx.exit(code)


@main.command()
@click.option("-r", "--rules", "rules_paths", multiple=True, required=True,
              type=click.Path(exists=True),
              help="Rule file or directory to check (repeatable, loaded in order).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.pass_context
def validate(ctx: click.Context, rules_paths: tuple[str, ...], as_json: bool) -> None:
    """Load rule files as `falco run` would and report errors and warnings.

    Exit 0 when they load (warnings allowed), 1 when they do not.
    """
    from falco.pipeline import build_detector
    from falco.rules import load_rule_files

    loaded = load_rule_files(list(rules_paths))
    compile_warnings: list[str] = []
    if loaded.ok:
        compile_warnings = build_detector(loaded).warnings
    if as_json:
        def diag(d):
            return {"code": d.code, "message": d.message, "file": d.filename,
                    "line": d.line, "column": d.column, "item_type": d.item_type,
                    "item_name": d.item_name}
        click.echo(json.dumps({
            "ok": loaded.ok, "files": list(rules_paths),
            "rules": len(loaded.rules),
            "errors": [diag(d) for d in loaded.errors],
            "warnings": [diag(d) for d in loaded.warnings]
            + [{"code": "ENGINE", "message": w} for w in compile_warnings],
        }, indent=1))
    else:
        for w in loaded.warnings:
            click.echo(f"warning: {w}", err=True)
        for w in compile_warnings:
            click.echo(f"warning: {w}", err=True)
        for e in loaded.errors:
            click.echo(f"error: {e}", err=True)
        verdict = "Ok" if loaded.ok else "Invalid"
        extra = f", with {len(loaded.warnings) + len(compile_warnings)} warnings" \
            if loaded.ok and (loaded.warnings or compile_warnings) else ""
        click.echo(f"{', '.join(rules_paths)}: {verdict}{extra} ({len(loaded.rules)} rules)")
    ctx.exit(0 if loaded.ok else 1)


@main.command("list-fields")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_fields(as_json: bool) -> None:
    """Every field conditions and outputs can use: name, type, meaning."""
    from falco.pipeline import extractor_factories
    from falco_engine import fields

    factories = extractor_factories()

    def supported(info) -> bool:
        arg = "0" if info.arg_required else None
        return any(f(info.name, arg, info.type, info.name) is not None for f in factories)

    rows = fields.all_fields()
    if as_json:
        click.echo(json.dumps([
            {"name": f.name, "type": f.type, "desc": f.description,
             "arg": f.arg.value, "filter_only": f.filter_only,
             "list_valued": f.list_valued, "deprecated": f.deprecated,
             "supported": supported(f)} for f in rows], indent=1))
        return
    for f in rows:
        flags = []
        if f.arg.value != "none":
            flags.append(f"arg: {f.arg.value}")
        if not supported(f):
            flags.append("not extracted yet")
        if f.deprecated:
            flags.append("deprecated")
        note = f" [{'; '.join(flags)}]" if flags else ""
        click.echo(f"{f.name:<32} {f.type:<10} {f.description}{note}")


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable results.")
@click.option("-v", "--verbose", is_flag=True, help="Also show the alerts of passing cases.")
@click.pass_context
def ruletest_command(ctx: click.Context, paths: tuple[str, ...], as_json: bool,
                     verbose: bool) -> None:
    """Run rule unit tests: `falco test RULES... TESTS...`.

    PATHS are rule files, test files or directories of either (searched
    recursively for .yaml/.yml); a test file is a mapping with a `tests:`
    key. Rules under test are enabled even when their file disables them.

    Exit codes: 0 every case passed (or was skipped), 1 a case failed or
    errored, or rules or tests did not load, 2 bad usage.
    """
    from falco.rules import load_rules
    from falco.ruletest import ERROR, FAIL, PASS, SKIP, FormatError, RuleTestRunner, collect

    try:
        rule_texts, test_files = collect(list(paths))
    except FormatError as exc:
        _fail(ctx, str(exc))
        return
    except OSError as exc:
        _fail(ctx, f"{exc.filename}: {exc.strerror or exc}")
        return
    if not test_files:
        raise click.UsageError("no test files among PATHS (a test file has a 'tests:' key)")
    if not rule_texts:
        raise click.UsageError("no rule files among PATHS")
    loaded = load_rules(rule_texts)
    if not loaded.ok:
        for e in loaded.errors:
            click.echo(f"error: {e}", err=True)
        ctx.exit(1)
    runner = RuleTestRunner(loaded, sources=rule_texts)
    results = runner.run_files(test_files)
    counts = {PASS: 0, FAIL: 0, SKIP: 0, ERROR: 0}
    for r in results:
        counts[r.status] += 1
    if as_json:
        click.echo(json.dumps({"ok": counts[FAIL] + counts[ERROR] == 0, "counts": counts,
                               "cases": [r.to_json() for r in results]}, indent=1))
    else:
        for r in results:
            click.echo(f"{r.status.upper():5} {r.case.where} {r.case.name}")
            if r.status != PASS and r.message:
                click.echo(f"      {r.message}")
            for line in r.diff:
                click.echo(f"      {line}")
            if verbose and r.status == PASS:
                for a in r.alerts:
                    click.echo(f"      alert: {a.rule}: {a.output}")
        click.echo(f"falco test: {counts[PASS]} passed, {counts[FAIL]} failed, "
                   f"{counts[ERROR]} errors, {counts[SKIP]} skipped", err=True)
    ctx.exit(0 if counts[FAIL] + counts[ERROR] == 0 else 1)


@main.group()
def bench() -> None:
    """Throughput benchmarks, next to the reference tool."""


@bench.command("replay")
@click.option("-e", "--capture", "capture_path", type=click.Path(exists=True, dir_okay=False),
              help="Capture to loop (default: the largest shared capture, else the sample).")
@click.option("--events", type=click.IntRange(min=1000), default=500_000, show_default=True,
              help="Loop the capture until it holds this many events.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_replay(capture_path: str | None, events: int, as_json: bool) -> None:
    """Replay throughput: decode, +state, +default rules, +upstream stable
    rules, +the sysdig oracle's filters; each next to `sysdig -r -q`
    (with the same filters for the last row) measured in the same run."""
    import tempfile
    from pathlib import Path

    from falco import app
    from falco.bench.replay import replay_report

    compat = Path(__file__).resolve().parents[2] / "shared" / "compat"
    source = capture_path
    if source is None:
        big = compat / "captures" / "sysdig_inspect" / "502Error.scap"
        source = str(big) if big.exists() else app.bundled_capture()
    upstream = compat / "rules" / "falcosecurity-rules-5.1.0" / "falco_rules.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        report = replay_report(source, events, app.bundled_rules(),
                               [str(upstream)] if upstream.exists() else [],
                               compat / "sysdig_oracle.jsonl", tmp)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(f"capture: {report['events']} events looped from {report['source']}")
    click.echo(f"{'configuration':<40} {'ev/s':>14} {'sysdig ev/s':>14} {'ratio':>7}  notes")
    for r in report["rows"]:
        ref = r.get("sysdig_events_per_s")
        ratio = r.get("ratio_to_sysdig")
        notes = f"{r['rules']} rules, {r['alerts']} alerts" if "rules" in r else ""
        if "state_ns_per_event" in r:
            paired = ""
            if "throughput_vs_decode_median" in r:
                paired = (f" (best of each side; median of {r['rounds']} paired "
                          f"rounds {r['throughput_vs_decode_median']:.0%}")
                if "throughput_vs_decode_quartiles" in r:
                    q1, q3 = r["throughput_vs_decode_quartiles"]
                    paired += f", quartiles {q1:.0%}-{q3:.0%}"
                paired += ")"
            notes = (f"{r['throughput_vs_decode']:.0%} of decode's rate{paired}, "
                     f"+{r['state_ns_per_event']:.1f} ns/event; in one pass, "
                     f"the engine's own time is {r['in_pass_state_vs_decode']:.0%} "
                     f"of decoding's ({r['in_pass_state_ns_per_event']:.1f} ns/event)")
        click.echo(f"{r['name']:<40} {r['events_per_s']:>14,.0f} "
                   f"{(f'{ref:,.0f}' if ref else '-'):>14} "
                   f"{(f'{ratio:.2f}' if ratio else '-'):>7}  {notes}")


@bench.command("live")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="How long the workload runs in each row.")
@click.option("--workload", type=click.Choice(["getppid", "openclose", "forkexec", "connect"]),
              default="getppid", show_default=True, help="The C syscall loop to measure.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_live(seconds: float, workload: str, as_json: bool) -> None:
    """Live overhead: ns per workload op with no driver, with the probe
    filtering the workload out, with `falco run`'s pipeline recording every
    call, and with a minimal C libbpf consumer of the same probe; events/s,
    drops by reason, CPU% and RSS; then the highest 0-drop rate.  Needs
    root, BTF, the probe, gcc and libbpf-dev."""
    from falco.bench.live import BenchUnavailable, format_report, live_report

    try:
        report = live_report(workload, seconds,
                             log=lambda s: click.echo(s, err=True))
    except BenchUnavailable as exc:
        click.echo(f"falco: bench live unavailable: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(format_report(report))


@bench.command("kmod")
@click.option("--kernel", "kernels", multiple=True, metavar="VERSION",
              help="Debian kernel to boot (repeatable; default: every /boot/vmlinuz-* "
                   "with headers).")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Rounds of the three modes; medians are reported.")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=0.5, show_default=True,
              help="How long (guest time) the getppid loop runs in each mode and round.")
@click.option("--clock", type=click.Choice(["icount", "wall"]), default="icount",
              show_default=True,
              help="icount: TCG counting guest instructions (repeatable, host load "
                   "does not matter); wall: the guest's clock (KVM or TCG, noisy).")
@click.option("--accel", type=click.Choice(["kvm", "tcg"]), default=None,
              help="qemu accelerator for --clock wall (default: KVM when usable, else TCG).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_kmod(kernels: tuple[str, ...], rounds: int, seconds: float, clock: str,
               accel: str | None, as_json: bool) -> None:
    """Kernel module overhead in a booted Debian kernel (qemu): ns per
    getppid with no module, with falco.ko and with Debian's scap.ko
    (falcosecurity-scap-dkms), each drained by the same C consumer; the
    overhead ratio falco / scap, records delivered and drops."""
    from falco.bench.kmod import BenchUnavailable, format_report, kmod_report

    try:
        report = kmod_report(list(kernels) or None, rounds, seconds, accel, clock,
                             log=lambda s: click.echo(s, err=True))
    except BenchUnavailable as exc:
        click.echo(f"falco: bench kmod unavailable: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=1))
    else:
        click.echo(format_report(report))
    if not all(k["ok"] for k in report["kernels"]):
        sys.exit(1)


@bench.command("scale")
@click.option("--events", type=click.IntRange(min=1000), default=1_000_000, show_default=True,
              help="Loop the capture until it holds this many events.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_scale(events: int, as_json: bool) -> None:
    """How cost grows: events/s with 1, 25, 100, 300 rules; with 1k vs 100k
    threads in the state table; peak RSS of `falco run` over the capture."""
    import tempfile
    from pathlib import Path

    from falco import app
    from falco.bench.replay import scaling_report

    compat = Path(__file__).resolve().parents[2] / "shared" / "compat"
    big = compat / "captures" / "sysdig_inspect" / "502Error.scap"
    source = str(big) if big.exists() else app.bundled_capture()
    with tempfile.TemporaryDirectory() as tmp:
        report = scaling_report(source, events, app.bundled_rules(), tmp)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(f"capture: {report['events']} events looped from {source}")
    for r in report["rows"]:
        click.echo(f"{r['name']:<34} {r['events_per_s']:>14,.0f} ev/s")
    click.echo(f"falco run peak RSS (default rules, whole capture): "
               f"{report['falco_run_max_rss_mb']:.0f} MiB")


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

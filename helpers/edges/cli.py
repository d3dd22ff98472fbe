"""python -m helpers: report on an image, build one, record builds to replay, or make a base image.

Bad input never shows a traceback: one ``error: …`` line on stderr and exit
status 2.

A report is the command run most, and a fresh process each time, so it loads
neither the Docker SDK nor the builders: ``build``, ``record`` and ``base``
import what they run when they run (the Docker SDK alone costs a report about
a tenth of a second, a fifth of its time on the large benchmark image).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

from ..ground.errors import LayerLabError
from ..ground.settings import Settings
from ..ground.sizes import format_bytes
from ..measuring.analysis import Analysis
from ..orchestration.sources import analyze_source
from .arguments import EXIT_BAD_INPUT, parse

EXIT_OVER_BUDGET = 1
#: A reader that stopped reading (``… | head``): what a shell reports for a process SIGPIPE ended
#: (128 + SIGPIPE, 13 on Linux; a constant, as :mod:`signal` costs a report half a millisecond to import).
EXIT_BROKEN_PIPE = 128 + 13


def _emit(analysis: Analysis, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        print(json.dumps({**analysis.to_json(), **(extra or {})}, indent=2))
    else:
        from ..views.report import text_report  # what --json never needs

        print(text_report(analysis))


def _report(args: SimpleNamespace, settings: Settings) -> int:
    budget = None
    if args.max_reclaimable is not None or args.min_efficiency is not None:
        from ..views.budget import Budget, parse_budget_size, parse_ratio  # only a gate needs the budget's words

        budget = Budget(
            parse_budget_size(args.max_reclaimable) if args.max_reclaimable is not None else None,
            parse_ratio(args.min_efficiency) if args.min_efficiency is not None else None,
        )
    analysis = analyze_source(args.source, platform=args.platform, verify=args.verify or None, settings=settings)
    broken = budget.broken(analysis) if budget is not None else []
    verdict = None
    if budget is not None:
        verdict = {"budget": {"max_reclaimable_bytes": budget.max_reclaimable, "min_efficiency": budget.min_efficiency,
                              "within": not broken, "broken": broken}}
    _emit(analysis, args.json, verdict)
    for line in broken:
        print(line, file=sys.stderr)
    return EXIT_OVER_BUDGET if broken else 0


def _build(args: SimpleNamespace, settings: Settings) -> None:
    from ..orchestration.builds import build  # the Docker SDK, on first use
    from .progress import print_progress

    context = Path(args.context)
    dockerfile = Path(args.file) if args.file else context / "Dockerfile"
    built = build(dockerfile, context, name=args.tag or context.resolve().name, tag=args.tag,
                  progress=print_progress(sys.stderr, steps=True), engine=args.engine,
                  network=True if args.network else None, settings=settings)
    _emit(built.analysis, args.json)


def _record(args: SimpleNamespace, settings: Settings) -> None:
    from ..orchestration.lab import record  # the Docker SDK, on first use
    from .progress import print_progress

    variants = {name: Path(dockerfile) for name, dockerfile in args.variant}
    made = record(variants, args.output, args.context, progress=print_progress(sys.stderr, steps=True),
                  settings=settings)
    print(f"wrote {made.path}: {', '.join(made.analyses)}, {made.describe()}")


def _base(args: SimpleNamespace, settings: Settings) -> None:
    from ..building.bases import provide
    from ..reading.daemon import docker_client  # the Docker SDK, on first use

    folders = [Path(args.rootfs)] if args.rootfs else list(settings.rootfs)
    done = provide(args.image, folders, mirror=args.mirror or settings.debian_mirror,
                   client=None if args.no_docker else docker_client())
    how = "made now with debuerreotype" if done["made_now"] else "found"
    line = f"{args.image}: rootfs {done['tarball']} ({how}, {format_bytes(done['bytes'])})"
    if "docker_id" in done:
        line += f"; made in the Docker Engine as {done['docker_id'][:19]}"
    print(line)


_COMMANDS = {"report": _report, "build": _build, "record": _record, "base": _base}


def _stdout_closed() -> int:
    """The reader of stdout went away (``… | head``): stop quietly, as Python's documentation advises for SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's last flush at exit has somewhere to go
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def run_as_program() -> None:
    """``python -m helpers``: run the command line, then end the process (a report without the teardown)."""
    argv = sys.argv[1:]
    quick = argv[:1] == ["report"]
    if quick:
        gc.disable()  # a report makes no garbage cycles worth collecting before its process ends
    end_process(main(argv), quick=quick)


def end_process(status: int, quick: bool) -> None:
    """End the process with ``status``; with ``quick``, without the interpreter's teardown when nothing needs it.

    Tearing the interpreter down frees every object module by module: for a small
    image's report that is about 4 ms, a fifth of the interpreter's own start-up
    (``benchmarks/reader.py``, start-up), and it does nothing a finished report needs:
    a report writes no file, only its output, flushed here. So a report's process
    ends at once (:func:`os._exit`), unless something still wants the teardown: an
    exit handler (a temporary folder's cleanup, a coverage tool), or a thread still
    running. Then, and for every other command, it ends as usual.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        status = _stdout_closed()
    handlers = getattr(atexit, "_ncallbacks", None)  # CPython's count of exit handlers; elsewhere, the usual exit
    threads = sys.modules.get("threading")
    if quick and handlers is not None and handlers() == 0 and (threads is None or threads.active_count() == 1):
        os._exit(status)
    sys.exit(status)


#: The cyclic collector's first threshold while a command runs (Python's default is 700).  A report
#: makes tens of thousands of small tuples that can hold no cycle, and at the default the collector
#: walked them over and over: a quarter of a 34,000-entry report's time, measured in
#: ``benchmarks/reader.py``.  Collections still come, a few times a second at most.
COLLECT_EVERY = 50_000


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit status.  The ``LAYERLAB_*`` settings are read here, once, and handed down."""
    thresholds = gc.get_threshold()
    gc.set_threshold(COLLECT_EVERY, *thresholds[1:])
    try:
        return _main(argv)
    finally:
        gc.set_threshold(*thresholds)


def _main(argv: list[str] | None) -> int:
    try:
        args = parse(sys.argv[1:] if argv is None else list(argv))
        try:
            status = _COMMANDS[args.command](args, Settings.from_environment())
        except LayerLabError as exc:
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not in the interpreter's exit
    except BrokenPipeError:
        return _stdout_closed()
    return status or 0

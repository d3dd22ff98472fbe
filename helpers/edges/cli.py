"""python -m helpers: report on an image, build one, record builds to replay, or make a base image.

Bad input never shows a traceback: one ``error: …`` line on stderr and exit
status 2.

A report is the command run most, and a fresh process each time, so it loads
neither the Docker SDK nor the builders: ``build``, ``record`` and ``base``
import what they run when they run (the Docker SDK alone costs a report about
a tenth of a second, a fifth of its time on the large benchmark image).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from pathlib import Path

from ..ground.errors import LayerLabError
from ..ground.settings import Settings
from ..ground.sizes import format_bytes
from ..measuring.analysis import Analysis
from ..orchestration.sources import analyze_source
from ..reading.source import check_platform
from ..views.budget import Budget, parse_budget_size, parse_ratio
from ..views.report import text_report

EXIT_BAD_INPUT = 2
EXIT_OVER_BUDGET = 1
#: A reader that stopped reading (``… | head``): what a shell reports for a process SIGPIPE ended.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
#: Options whose value may look like a negative number (``-5MB``), so that their own parser refuses it.
_SIGNED_OPTIONS = ("--max-reclaimable", "--min-efficiency")
_NEGATIVE = re.compile(r"-[0-9.]")


def _emit(analysis: Analysis, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        print(json.dumps({**analysis.to_json(), **(extra or {})}, indent=2))
    else:
        print(text_report(analysis))


def _report(args: argparse.Namespace, settings: Settings) -> int:
    budget = Budget(
        parse_budget_size(args.max_reclaimable) if args.max_reclaimable is not None else None,
        parse_ratio(args.min_efficiency) if args.min_efficiency is not None else None,
    )
    analysis = analyze_source(args.source, platform=args.platform, verify=args.verify or None, settings=settings)
    broken = budget.broken(analysis)
    verdict = None
    if budget.max_reclaimable is not None or budget.min_efficiency is not None:
        verdict = {"budget": {"max_reclaimable_bytes": budget.max_reclaimable, "min_efficiency": budget.min_efficiency,
                              "within": not broken, "broken": broken}}
    _emit(analysis, args.json, verdict)
    for line in broken:
        print(line, file=sys.stderr)
    return EXIT_OVER_BUDGET if broken else 0


def _build(args: argparse.Namespace, settings: Settings) -> None:
    from ..orchestration.builds import build  # the Docker SDK, on first use
    from .progress import print_progress

    context = Path(args.context)
    dockerfile = Path(args.file) if args.file else context / "Dockerfile"
    built = build(dockerfile, context, name=args.tag or context.resolve().name, tag=args.tag,
                  progress=print_progress(sys.stderr, steps=True), engine=args.engine,
                  network=True if args.network else None, settings=settings)
    _emit(built.analysis, args.json)


def _platform(text: str) -> str:
    try:
        return check_platform(text)
    except LayerLabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _variant(text: str) -> tuple[str, str]:
    name, sep, dockerfile = text.partition("=")
    if not sep or not name or not dockerfile:
        raise argparse.ArgumentTypeError(f"expected NAME=DOCKERFILE, got {text!r}")
    return name, dockerfile


def _record(args: argparse.Namespace, settings: Settings) -> None:
    from ..orchestration.lab import record  # the Docker SDK, on first use
    from .progress import print_progress

    variants = {name: Path(dockerfile) for name, dockerfile in args.variant}
    made = record(variants, args.output, args.context, progress=print_progress(sys.stderr, steps=True),
                  settings=settings)
    print(f"wrote {made.path}: {', '.join(made.analyses)}, {made.describe()}")


def _base(args: argparse.Namespace, settings: Settings) -> None:
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


class _Parser(argparse.ArgumentParser):
    """argparse, with bad usage reported like any bad input: one ``error:`` line, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    main = _Parser(prog="python -m helpers", description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True, parser_class=_Parser)

    report = commands.add_parser("report", help="measure every layer of an image")
    report.add_argument("source", help="an archive, an OCI layout directory, or an image in the local engine")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument("--platform", type=_platform,
                        help="OS/ARCH[/VARIANT] to pick from a multi-platform index (default linux/amd64)")
    report.add_argument("--verify", action="store_true",
                        help="also check the digests of uncompressed layers on disk (reads every byte instead of "
                             "seeking past file contents; compressed layers are always checked)")
    report.add_argument("--max-reclaimable", metavar="SIZE",
                        help="budget: fail (exit 1) when reclaimable bytes exceed SIZE, e.g. 5MB or 512KiB")
    report.add_argument("--min-efficiency", metavar="RATIO",
                        help="budget: fail (exit 1) when efficiency (final/stored bytes) is below RATIO, e.g. 0.9")
    report.set_defaults(run=_report)

    build = commands.add_parser("build", help="build with the Docker Engine or the embedded builder, then report")
    build.add_argument("context", help="the build context folder")
    build.add_argument("-f", "--file", help="the Dockerfile (default: CONTEXT/Dockerfile)")
    build.add_argument("-t", "--tag", help="tag the result (default: layerlab/<folder>:latest)")
    build.add_argument("--json", action="store_true", help="print one JSON object")
    build.add_argument("--engine", choices=["docker", "embedded"],
                       help="who builds (default: LAYERLAB_ENGINE, else Docker if it answers, else embedded)")
    build.add_argument("--network", action="store_true",
                       help="give RUN steps the network even in offline mode, for apt-get and Debian's package "
                            "registry (nothing is pulled either way)")
    build.set_defaults(run=_build)

    record = commands.add_parser("record", help="build variants for real and write a recording to replay later")
    record.add_argument("output", help="the recording to write, e.g. notebooks/recordings/NAME.json.gz")
    record.add_argument("-v", "--variant", action="append", type=_variant, required=True, metavar="NAME=DOCKERFILE",
                        help="a variant to build (repeat for each)")
    record.add_argument("--context", help="the build context (default: each Dockerfile's folder)")
    record.set_defaults(run=_record)

    base = commands.add_parser(
        "base", help="make a base image the way its official image is made, for builds that cannot pull",
        description="alpine:X.Y.Z is FROM scratch + ADD Alpine's minirootfs tarball + CMD [\"/bin/sh\"]; "
                    "debian:SUITE-slim is a rootfs made by debuerreotype (as root, from this machine's Debian "
                    "mirror) + CMD [\"bash\"]. The embedded builder needs only the tarball, in a folder of "
                    "LAYERLAB_ROOTFS.",
    )
    base.add_argument("image", help="alpine:X.Y.Z or debian:SUITE-slim")
    base.add_argument("--rootfs", metavar="DIR",
                      help="where the tarball is, or where a Debian one is made (default: the first folder of "
                           "LAYERLAB_ROOTFS)")
    base.add_argument("--mirror", help="the Debian mirror to make it from (default: LAYERLAB_DEBIAN_MIRROR, else "
                                       "this machine's apt configuration)")
    base.add_argument("--no-docker", action="store_true",
                      help="only find or make the tarball; do not make the image in the Docker Engine")
    base.set_defaults(run=_base)
    return main


def _joined_signed_values(argv: list[str]) -> list[str]:
    """``--max-reclaimable -5MB`` as ``--max-reclaimable=-5MB``: argparse would take ``-5MB`` for an option.

    The option's own parser then refuses the value and says why.  (Abbreviations
    argparse accepts, such as ``--max-rec``, are joined too.)
    """
    joined: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            return joined + argv[index:]
        takes_signed = any(len(word) > 4 and option.startswith(word) for option in _SIGNED_OPTIONS)
        if takes_signed and index + 1 < len(argv) and _NEGATIVE.match(argv[index + 1]):
            joined.append(f"{word}={argv[index + 1]}")
            index += 2
            continue
        joined.append(word)
        index += 1
    return joined


def _stdout_closed() -> int:
    """The reader of stdout went away (``… | head``): stop quietly, as Python's documentation advises for SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's last flush at exit has somewhere to go
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit status.  The ``LAYERLAB_*`` settings are read here, once, and handed down."""
    try:
        args = parser().parse_args(_joined_signed_values(sys.argv[1:] if argv is None else list(argv)))
        try:
            status = args.run(args, Settings.from_environment())
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

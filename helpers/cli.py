"""``python -m helpers``: report on an image, build one and report on it, or record builds to replay.

Bad input never shows a traceback: one ``error: …`` line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .analysis import Analysis, analyze_source
from .errors import LayerLabError
from .report import text_report

EXIT_BAD_INPUT = 2
EXIT_OVER_BUDGET = 1


def _emit(analysis: Analysis, as_json: bool) -> None:
    if as_json:
        print(json.dumps(analysis.to_json(), indent=2))
    else:
        print(text_report(analysis))


def _report(args: argparse.Namespace) -> int:
    from .budget import Budget, parse_budget_size, parse_ratio

    budget = Budget(
        parse_budget_size(args.max_reclaimable) if args.max_reclaimable is not None else None,
        parse_ratio(args.min_efficiency) if args.min_efficiency is not None else None,
    )
    analysis = analyze_source(args.source, platform=args.platform, verify=args.verify or None)
    _emit(analysis, args.json)
    broken = budget.broken(analysis)
    for line in broken:
        print(line, file=sys.stderr)
    return EXIT_OVER_BUDGET if broken else 0


def _build(args: argparse.Namespace) -> None:
    from .engine import build, print_progress

    context = Path(args.context)
    dockerfile = Path(args.file) if args.file else context / "Dockerfile"
    built = build(dockerfile, context, name=args.tag or context.resolve().name, tag=args.tag,
                  progress=print_progress(sys.stderr), engine=args.engine)
    _emit(built.analysis, args.json)


def _variant(text: str) -> tuple[str, str]:
    name, sep, dockerfile = text.partition("=")
    if not sep or not name or not dockerfile:
        raise argparse.ArgumentTypeError(f"expected NAME=DOCKERFILE, got {text!r}")
    return name, dockerfile


def _record(args: argparse.Namespace) -> None:
    from .engine import print_progress
    from .recording import record

    variants = {name: Path(dockerfile) for name, dockerfile in args.variant}
    made = record(variants, args.output, args.context, progress=print_progress(sys.stderr))
    print(f"wrote {made.path}: {', '.join(made.analyses)}, {made.describe()}")


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
    report.add_argument("--platform", help="OS/ARCH to pick from a multi-platform index (default linux/amd64)")
    report.add_argument("--verify", action="store_true",
                        help="also check the digests of uncompressed layers on disk (reads every byte instead of "
                             "seeking past file contents; compressed layers are always checked)")
    report.add_argument("--max-reclaimable", metavar="SIZE",
                        help="budget: fail (exit 1) when reclaimable bytes exceed SIZE, e.g. 5MB or 512KiB")
    report.add_argument("--min-efficiency", metavar="RATIO",
                        help="budget: fail (exit 1) when efficiency (final/stored bytes) is below RATIO, e.g. 0.9")
    report.set_defaults(run=_report)

    build = commands.add_parser("build", help="build with the Docker Engine, then report")
    build.add_argument("context", help="the build context folder")
    build.add_argument("-f", "--file", help="the Dockerfile (default: CONTEXT/Dockerfile)")
    build.add_argument("-t", "--tag", help="tag the result (default: layerlab/<folder>:latest)")
    build.add_argument("--json", action="store_true", help="print one JSON object")
    build.add_argument("--engine", choices=["docker", "embedded"],
                       help="who builds (default: LAYERLAB_ENGINE, else Docker if it answers, else embedded)")
    build.set_defaults(run=_build)

    record = commands.add_parser("record", help="build variants for real and write a recording to replay later")
    record.add_argument("output", help="the recording to write, e.g. notebooks/recordings/NAME.json.gz")
    record.add_argument("-v", "--variant", action="append", type=_variant, required=True, metavar="NAME=DOCKERFILE",
                        help="a variant to build (repeat for each)")
    record.add_argument("--context", help="the build context (default: each Dockerfile's folder)")
    record.set_defaults(run=_record)
    return main


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit status."""
    args = parser().parse_args(argv)
    try:
        status = args.run(args)
    except LayerLabError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return status or 0

"""The command line's arguments: ``report``'s plain form read directly, everything else by :mod:`argparse`.

Why not argparse for everything: importing it (with :mod:`gettext` and :mod:`locale`) and
building this parser cost a report about 5 ms, a quarter of the interpreter's own start-up here
(``benchmarks/reader.py``, start-up), and a CI gate runs the report on every build. So the form
a script writes, ``report [--json] [--verify] [--platform P] [--max-reclaimable S]
[--min-efficiency R] SOURCE`` with whole option names, each at most once, is read by
:func:`plain_report`. Anything else (``--help``, an abbreviation, a repeat, ``--``, a value that
looks like an option, anything wrong) goes to argparse, which reads it or says what is wrong; the
tests check that both read every plain form alike.
"""

from __future__ import annotations

from types import SimpleNamespace

from ..ground.errors import LayerLabError
from ..reading.source import check_platform

TYPE_CHECKING = False  # typing's own flag costs importing typing
if TYPE_CHECKING:
    import argparse

#: What ``python -m helpers --help`` says first.
DESCRIPTION = "python -m helpers: report on an image, build one, record builds to replay, or make a base image."
#: The exit status of bad input, usage included: one ``error: …`` line on stderr.
EXIT_BAD_INPUT = 2
#: Options whose value may look like a negative number (``-5MB``), so that their own parser refuses it.
_SIGNED_OPTIONS = ("--max-reclaimable", "--min-efficiency")
_REPORT_SWITCHES = {"--json": "json", "--verify": "verify"}
_REPORT_VALUES = {"--platform": "platform", "--max-reclaimable": "max_reclaimable",
                  "--min-efficiency": "min_efficiency"}


def parse(argv: list[str]) -> SimpleNamespace:
    """``argv`` read: its ``command`` and that command's options; bad usage exits with status 2 and one line."""
    return plain_report(argv) or SimpleNamespace(**vars(parser().parse_args(_joined_signed_values(argv))))


def plain_report(argv: list[str]) -> SimpleNamespace | None:
    """``report``'s plain form read as argparse reads it, or ``None`` to leave ``argv`` to argparse."""
    if not argv or argv[0] != "report":
        return None
    read: dict[str, object] = {"source": None, "json": False, "verify": False, "platform": None,
                               "max_reclaimable": None, "min_efficiency": None}
    seen: set[str] = set()
    words = iter(argv[1:])
    for word in words:
        if word in _REPORT_SWITCHES:
            key, value = _REPORT_SWITCHES[word], True
        elif word.startswith("--"):
            name, equals, value = word.partition("=")
            if name not in _REPORT_VALUES:
                return None
            key = _REPORT_VALUES[name]
            if not equals:
                value = next(words, None)
                if value is None or value.startswith("-"):
                    return None
        elif word.startswith("-") or read["source"] is not None:
            return None
        else:
            key, value = "source", word
        if key in seen:
            return None
        seen.add(key)
        read[key] = value
    if read["source"] is None:
        return None
    if read["platform"] is not None:
        try:
            check_platform(read["platform"])
        except LayerLabError:
            return None  # argparse says what is wrong with it, in its words
    return SimpleNamespace(command="report", **read)


def _platform(text: str) -> str:
    import argparse

    try:
        return check_platform(text)
    except LayerLabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _variant(text: str) -> tuple[str, str]:
    import argparse

    name, sep, dockerfile = text.partition("=")
    if not sep or not name or not dockerfile:
        raise argparse.ArgumentTypeError(f"expected NAME=DOCKERFILE, got {text!r}")
    return name, dockerfile


def parser() -> argparse.ArgumentParser:
    """The command-line interface, whole (argparse, with bad usage reported like any bad input)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str):  # type: ignore[override]
            self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")

    main = _Parser(prog="python -m helpers", description=DESCRIPTION)
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

    record = commands.add_parser("record", help="build variants for real and write a recording to replay later")
    record.add_argument("output", help="the recording to write, e.g. notebooks/recordings/NAME.json.gz")
    record.add_argument("-v", "--variant", action="append", type=_variant, required=True, metavar="NAME=DOCKERFILE",
                        help="a variant to build (repeat for each)")
    record.add_argument("--context", help="the build context (default: each Dockerfile's folder)")

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
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if takes_signed and following[:1] == "-" and following[1:2] in tuple("0123456789."):
            joined.append(f"{word}={argv[index + 1]}")
            index += 2
            continue
        joined.append(word)
        index += 1
    return joined

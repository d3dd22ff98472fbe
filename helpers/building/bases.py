"""Base images made the way the official ones are, for machines that cannot pull them.

Two recipes, each the one its distribution's official image follows:

* ``alpine:X.Y.Z`` is ``FROM scratch``, ``ADD alpine-minirootfs-X.Y.Z-<arch>.tar.gz /``,
  ``CMD ["/bin/sh"]`` (docker-alpine's Dockerfile): Alpine's own minirootfs
  tarball becomes the image's single layer, byte for byte;
* ``debian:SUITE-slim`` is a root filesystem made by **debuerreotype**, the
  tool Debian's official images are made with (init, minimizing config,
  ``apt-get update`` and ``full-upgrade``, slimify, tar), then ``FROM scratch``,
  ``ADD`` it, ``CMD ["bash"]``.  It is made from whatever the mirror serves
  today, not from a snapshot, so it is *like* the official image, not the same
  bytes: every build says the base was made locally.

The tarballs are looked for (and a Debian one is made) in the folders of
``LAYERLAB_ROOTFS``; :func:`find_rootfs` is how both engines find them.  The
Debian mirror is read from this machine's own apt configuration
(:func:`debian_mirror`), or ``LAYERLAB_DEBIAN_MIRROR``; no mirror's name is
written anywhere in this package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..ground.errors import BaseImageMissing, LayerLabError
from ..ground.settings import MIRROR_VARIABLE, ROOTFS_VARIABLE
from .checksums import verified_copy

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@dataclass(frozen=True)
class Recipe:
    """How the official image of one repository is made from a root filesystem tarball."""

    repository: str
    #: The tarball's file name for a tag, as a glob (``{tag}`` is filled in).
    tarball: str
    cmd: tuple[str, ...]

    def pattern(self, tag: str) -> str:
        return self.tarball.format(tag=tag)


RECIPES = {
    "alpine": Recipe("alpine", "alpine-minirootfs-{tag}-*.tar.gz", ("/bin/sh",)),
    "debian": Recipe("debian", "debian-{tag}-rootfs.tar", ("bash",)),
}


def _split(image: str) -> tuple[str, str]:
    """``docker.io/library/alpine:3.20.3`` → ``("alpine", "3.20.3")``; anyone else's image keeps its path.

    Only Docker Hub's official images (``alpine``, ``library/alpine``,
    ``docker.io/library/alpine``) are what the recipes make: ``someone/alpine``
    is someone else's image.
    """
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return name.removeprefix("docker.io/").removeprefix("library/"), tag


def recipe_for(image: str) -> Recipe | None:
    """The recipe that makes ``image`` (``None`` for an image this package cannot make)."""
    return RECIPES.get(_split(image)[0])


#: What a tag may be (Docker's own rule): nothing a file pattern could widen, nor a path climb out of a folder with.
_TAG = re.compile(r"[\w][\w.-]{0,127}")


def find_rootfs(image: str, folders: Iterable[Path]) -> Path | None:
    """The rootfs tarball ``image`` is made from, in ``folders`` (``LAYERLAB_ROOTFS``: the settings' ``rootfs``)."""
    recipe = recipe_for(image)
    tag = _split(image)[1]
    if recipe is None or not _TAG.fullmatch(tag) or ".." in tag:
        return None
    pattern = recipe.pattern(tag)
    for folder in folders:
        for candidate in sorted(folder.glob(pattern)):
            if candidate.is_file():
                return candidate
    return None


def dockerfile(image: str, tarball: Path) -> str:
    """The official recipe's Dockerfile for ``image`` made from ``tarball``."""
    recipe = recipe_for(image)
    if recipe is None:
        raise LayerLabError(f"no recipe makes {image}", f"one of: {', '.join(f'{r}:TAG' for r in RECIPES)}")
    return f"FROM scratch\nADD {tarball.name} /\nCMD {json.dumps(list(recipe.cmd))}\n"


def label(base: dict) -> str:
    """A base's provenance in a few words, the same from either engine: ``alpine:3.20.3 0fa29340cc77, made locally``.

    ``base`` is what :func:`helpers.building.engine.describe_base` (or the embedded
    builder's :meth:`~helpers.building.embedded.EmbeddedBuilder.describe_base`) says of it.
    """
    short = base["id"].split(":")[-1][:12]
    return f"{base['image']} {short}, {base['made']}"


# ---------------------------------------------------------------- the Debian mirror


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source of an apt configuration."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def apt_sources(root: Path = Path("/")) -> list[AptSource]:
    """The enabled ``deb`` sources of the apt configuration under ``root``.

    Both formats: deb822 ``etc/apt/sources.list.d/*.sources`` (read with
    python-debian) and one-line ``etc/apt/sources.list`` and ``*.list``.
    Unreadable or malformed files are skipped: they cannot name a mirror.
    """
    from debian import deb822

    found: list[AptSource] = []
    apt = root / "etc" / "apt"
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        try:
            paragraphs = list(deb822.Deb822.iter_paragraphs(path.read_text(errors="replace").splitlines(),
                                                            use_apt_pkg=False))
        except (OSError, ValueError):
            continue
        for p in paragraphs:
            if "deb" not in p.get("Types", "").split() or p.get("Enabled", "yes").strip().lower() == "no":
                continue
            for uri in p.get("URIs", "").split():
                found.append(AptSource(uri, tuple(p.get("Suites", "").split()), tuple(p.get("Components", "").split())))
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
            if len(words) >= 3 and words[0] == "deb":
                found.append(AptSource(words[1], (words[2],), tuple(words[3:])))
    return found


def debian_mirror(root: Path = Path("/"), override: str = "") -> tuple[str, str | None]:
    """The Debian archive mirror to make bases from, and its security mirror (or ``None``).

    ``override`` (``LAYERLAB_DEBIAN_MIRROR``: the settings' ``debian_mirror``), else the first ``deb``
    source in this machine's apt configuration whose URI is a Debian archive
    (its path ends in ``/debian``); the security mirror is the first source
    ending in ``/debian-security``.
    """
    sources = apt_sources(root)
    security = next((s.uri for s in sources if s.uri.rstrip("/").endswith("/debian-security")), None)
    if override:
        return override, security
    archive = next((s.uri for s in sources if s.uri.rstrip("/").endswith("/debian")), None)
    if archive is None:
        raise BaseImageMissing(
            "this machine's apt configuration names no Debian mirror (a `deb` source ending in /debian)",
            f"set {MIRROR_VARIABLE} to a Debian mirror's URL",
        )
    return archive, security


def debian_sources(suite: str, mirror: str, security: str | None) -> str:
    """The deb822 ``debian.sources`` of an official Debian image, pointing at ``mirror`` (and ``security``)."""
    from debian import deb822

    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    entries = [deb822.Deb822({"Types": "deb", "URIs": mirror, "Suites": f"{suite} {suite}-updates",
                              "Components": "main", "Signed-By": keyring})]
    if security:
        entries.append(deb822.Deb822({"Types": "deb", "URIs": security, "Suites": f"{suite}-security",
                                      "Components": "main", "Signed-By": keyring}))
    return "\n".join(entry.dump() for entry in entries)


# ---------------------------------------------------------------- making the rootfs


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = ([line for line in (done.stderr or done.stdout).splitlines() if line.strip()] or ["no output"])[-1]
        raise LayerLabError(f"{what} failed: {last}", "see the message; the mirror may not answer")


def make_debian_rootfs(tag: str, into: Path, mirror: str = "") -> Path:
    """Make ``debian-TAG-rootfs.tar`` (e.g. ``bookworm-slim``) in ``into`` with debuerreotype, as root.

    The steps of Debian's official images: ``debuerreotype-init`` from the
    mirror, the deb822 sources list, ``debuerreotype-minimizing-config``,
    ``apt-get update`` and ``full-upgrade``, ``debuerreotype-slimify`` (for a
    ``-slim`` tag), and ``debuerreotype-tar`` without ``/etc/machine-id``.  The
    tarball appears whole or not at all (it is written aside, then renamed).
    """
    suite, _, variant = tag.partition("-")
    if not re.fullmatch(r"[a-z]+", suite) or variant not in ("", "slim"):
        raise LayerLabError(f"debian:{tag} is not a tag this recipe makes", "use debian:SUITE or debian:SUITE-slim")
    if shutil.which("debuerreotype-init") is None:
        raise BaseImageMissing("making a Debian base needs debuerreotype, which is not installed",
                               "apt-get install debuerreotype")
    if os.geteuid() != 0:
        raise BaseImageMissing("debuerreotype must run as root (it bootstraps a root filesystem)",
                               "run this command as root, or pull the official image where the internet is")
    archive, security = debian_mirror(override=mirror)
    into.mkdir(parents=True, exist_ok=True)
    target = into / f"debian-{tag}-rootfs.tar"
    work = Path(tempfile.mkdtemp(prefix=".debuerreotype-", dir=into))
    try:
        rootfs = work / "rootfs"
        _run(["debuerreotype-init", "--non-debian", "--keyring", str(DEBIAN_KEYRING), str(rootfs), suite, archive],
             f"bootstrapping Debian {suite} from {archive}")
        (rootfs / "etc" / "apt" / "sources.list").unlink(missing_ok=True)
        (rootfs / "etc" / "apt" / "sources.list.d" / "debian.sources").write_text(
            debian_sources(suite, archive, security))
        _run(["debuerreotype-minimizing-config", str(rootfs)], "configuring the rootfs for containers")
        _run(["debuerreotype-apt-get", str(rootfs), "update", "-qq"], "apt-get update in the rootfs")
        _run(["debuerreotype-apt-get", str(rootfs), "full-upgrade", "-yqq"], "apt-get full-upgrade in the rootfs")
        if variant == "slim":
            _run(["debuerreotype-slimify", str(rootfs)], "slimming the rootfs")
        partial = work / target.name
        _run(["debuerreotype-tar", "--exclude", "./etc/machine-id", str(rootfs), str(partial)], "writing the tarball")
        os.replace(partial, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


# ---------------------------------------------------------------- into the Docker Engine


def import_into_docker(image: str, tarball: Path, client) -> str:
    """Build ``image`` in the Docker Engine of ``client`` from ``tarball`` by the official recipe, offline; its ID."""
    from ..reading.daemon import APIError, BuildError  # loaded when the engine is first asked

    with tempfile.TemporaryDirectory(prefix="layerlab-base-") as context:
        verified_copy(tarball, Path(context) / tarball.name)  # the bytes checked are the bytes the engine gets
        (Path(context) / "Dockerfile").write_text(dockerfile(image, tarball))
        try:
            made, _log = client.images.build(path=context, tag=image, network_mode="none", rm=True, pull=False)
        except (BuildError, APIError) as exc:
            raise LayerLabError(f"the engine could not make {image} from {tarball.name}: {exc}",
                                "check the tarball") from exc
    return made.id


def provide(image: str, folders: Sequence[Path], *, mirror: str = "", client=None) -> dict:
    """Make sure ``image`` can be built on offline: find (or, for Debian, make) its tarball, then load Docker.

    ``folders`` are where the tarball is looked for, and a Debian one is made in
    the first (the command line passes ``--rootfs DIR``, else ``LAYERLAB_ROOTFS``).  With a Docker
    ``client``, the image is also made in that engine.  The embedded builder
    needs only the tarball, in a folder of ``LAYERLAB_ROOTFS``.  Returns what was done.
    """
    recipe = recipe_for(image)
    if recipe is None:
        raise LayerLabError(f"no recipe makes {image}", f"one of: {', '.join(f'{r}:TAG' for r in RECIPES)}")
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise BaseImageMissing(f"{folder} is a file, not a folder of rootfs tarballs",
                                   f"pass --rootfs DIR (a folder), or set {ROOTFS_VARIABLE} to folders")
    tarball = find_rootfs(image, folders)
    made_now = False
    if tarball is None:
        if recipe.repository != "debian":
            where = ", ".join(map(str, folders)) or f"({ROOTFS_VARIABLE} is not set)"
            raise BaseImageMissing(f"no {recipe.pattern(_split(image)[1])} in {where}",
                                   "download Alpine's minirootfs tarball for that release into the folder")
        if not folders:
            raise BaseImageMissing("there is no folder to make the rootfs in",
                                   f"pass --rootfs DIR or set {ROOTFS_VARIABLE}")
        tarball = make_debian_rootfs(_split(image)[1], folders[0], mirror)
        made_now = True
    done = {"image": image, "tarball": str(tarball), "bytes": tarball.stat().st_size, "made_now": made_now}
    if client is not None:
        done["docker_id"] = import_into_docker(image, tarball, client)
    else:
        verified_copy(tarball)
    return done

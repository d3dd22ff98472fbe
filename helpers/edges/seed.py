"""The book's example, as printed, and its two shapes for any Alpine release and Django version.

The book ("Reducing the size of containers") prints the *single-RUN* shape on
``alpine:3.7``; the series builds the *multi-RUN* shape beside it, with the
second ``RUN`` split into install, use and removal.
"""

from __future__ import annotations

from ..orchestration.wheels import Wheels

#: The book's Dockerfile, exactly as printed.
BOOK_DOCKERFILE = """FROM alpine:3.7
RUN apk add python3
RUN apk add py3-pip && \\
    pip3 install django && \\
    apk del py3-pip
"""


#: The book's ``apk`` commands, in its order: what Alpine's own apk is asked about on each release.
BOOK_APK_STEPS = ("apk add python3", "apk add py3-pip", "apk del py3-pip")
#: Every wheel the book's ``pip3 install django`` installs on ``alpine:3.7`` (Python 3.6), pinned:
#: Django 3.2, the last release for Python 3.6, and what it needs there.
BOOK_WHEELS = Wheels(("django==3.2.25", "asgiref==3.4.1", "pytz==2026.6", "sqlparse==0.4.4",
                      "typing-extensions==4.1.1"), "3.6")


#: Every wheel ``pip3 install django`` installs on Debian bookworm (Python 3.11), pinned: the book's shape with
#: real packages (``notebooks/dockerfiles/techniques/``), where pip in the build cannot reach PyPI.
DEBIAN_WHEELS = Wheels(("django==5.2.19", "asgiref==3.13.0", "sqlparse==0.6.1"), "3.11")
#: The same, with pip's own wheel beside them: a build can run pip from it (``python3 pip-….whl/pip``) in a mount,
#: so pip itself is never installed (``notebooks/dockerfiles/mounts/``).
MOUNT_WHEELS = Wheels((*DEBIAN_WHEELS.pins, "pip==25.3"), "3.11")


def seed_variants(alpine: str = "3.7", django: str | None = None, pip_flags: str = "") -> dict[str, str]:
    """The multi-RUN and single-RUN Dockerfiles of the book's example.

    ``alpine`` is the release tag; ``django`` pins a version (``None`` keeps the
    book's unpinned ``django``); ``pip_flags`` adds options to ``pip3 install``,
    for example ``--break-system-packages`` on releases with PEP 668.  With the
    defaults, the single-RUN variant is :data:`BOOK_DOCKERFILE` exactly.
    """
    requirement = f"django=={django}" if django else "django"
    install = " ".join(part for part in ("pip3 install", pip_flags, requirement) if part)
    head = f"FROM alpine:{alpine}\nRUN apk add python3\n"
    return {
        "multi-RUN": head + f"RUN apk add py3-pip\nRUN {install}\nRUN apk del py3-pip\n",
        "single-RUN": head + f"RUN apk add py3-pip && \\\n    {install} && \\\n    apk del py3-pip\n",
    }


def lab_variants(base: str = "alpine:3.20.3", build_dep_bytes: int = 16 * 1024 * 1024) -> dict[str, str]:
    """The layer lab's two Dockerfiles (notebook 00): a stand-in build dependency made, used and removed.

    The multi-RUN variant ships the whole dependency in its layer L1; the
    single-RUN variant never commits it.  The stand-in is random bytes: like the
    compressed files real packages are made of (libraries, wheels, archives), they
    do not compress, so a pull moves about as many bytes as the layer stores.
    (Zeros would compress about 1000:1 and make the waste vanish on the wire.)
    Its size is fixed, so every prediction holds to the byte; its contents are
    new at each build, as a fresh build's digests are anyway.
    """
    install = f"head -c {build_dep_bytes} /dev/urandom > /opt/build-dep.bin"
    use = "sha256sum /opt/build-dep.bin > /artifact.sha256"
    remove = "rm /opt/build-dep.bin"
    return {
        "multi-RUN": f"FROM {base}\nRUN {install}\nRUN {use}\nRUN {remove}\n",
        "single-RUN": f"FROM {base}\nRUN {install} && \\\n    {use} && \\\n    {remove}\n",
    }


def apt_variants(packages: str = "python3-django", base: str = "debian:bookworm-slim") -> dict[str, str]:
    """Docker's own advice for apt, measured: ``update``, ``install`` and removing the lists, split and chained.

    * ``three RUNs``: ``apt-get update``, ``apt-get install -y PACKAGES`` and
      ``rm -rf /var/lib/apt/lists/*``, each its own layer (the lists ship anyway);
    * ``one RUN``: the three chained, as Docker's best-practice guide writes it;
    * ``one RUN, no recommends``: the same with ``--no-install-recommends``.
    """
    update, remove = "apt-get update", "rm -rf /var/lib/apt/lists/*"

    def chained(flags: str) -> str:
        return f"FROM {base}\nRUN {update} && \\\n    apt-get install -y {flags}{packages} && \\\n    {remove}\n"

    return {
        "three RUNs": f"FROM {base}\nRUN {update}\nRUN apt-get install -y {packages}\nRUN {remove}\n",
        "one RUN": chained(""),
        "one RUN, no recommends": chained("--no-install-recommends "),
    }


#: Lines of the configuration each fleet service writes (about 250 KB of text).
FLEET_SETTINGS = 20_000


def fleet_variants(base: str, services: int = 10, squashed: bool = False) -> dict[str, str]:
    """A fleet of small services on one base: the same app (``COPY app/``), each with its own configuration.

    Each Dockerfile's first stage, ``service``, is the service itself.  With
    ``squashed``, a second stage flattens it into one layer (``FROM scratch``,
    ``COPY --from=service / /``), which is the shape a full squash gives and
    builds with either engine.  The build context is a folder with ``app/``.
    """
    variants = {}
    repository = base.split(":")[0].rsplit("/", 1)[-1]
    for number in range(1, services + 1):
        name = f"svc-{number:02d}"
        text = (
            f"FROM {base} AS service\n"
            "COPY app/ /srv/app/\n"
            f"RUN mkdir -p /srv/config && echo {name} > /srv/config/name && \\\n"
            f"    seq 1 {FLEET_SETTINGS} | sed 's/^/{name} setting /' > /srv/config/settings.txt\n"
            'CMD ["/bin/sh", "/srv/app/serve.sh"]\n'
        )
        if squashed:
            text += 'FROM scratch\nCOPY --from=service / /\nCMD ["/bin/sh", "/srv/app/serve.sh"]\n'
        variants[f"{repository} {name}" + (", squashed" if squashed else "")] = text
    return variants

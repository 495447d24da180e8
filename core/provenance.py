"""What made a result: package and dependency versions, git revision, host and device (for run manifests, exports and
``score --out``). Standard library only; nothing here imports the heavy packages it names."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

# the packages whose versions can change a number: metric dependencies (SciPy, scikit-image, PyWavelets, OpenCV), the
# task stacks (ultralytics, mmsegmentation/mmengine/mmcv, pysodmetrics) and the tensor libraries
VERSIONED = (
    "torch", "torchvision", "numpy", "scipy", "scikit-image", "PyWavelets", "opencv-python-headless", "pillow",
    "pandas", "ultralytics", "mmsegmentation", "mmengine", "mmcv-lite", "pysodmetrics", "ray", "submitit",
)  # fmt: skip


def versions() -> dict[str, str]:
    """``{"ivifbench": …, "python": …, package: version}`` for the installed packages of :data:`VERSIONED`."""
    from importlib.metadata import PackageNotFoundError, version

    from ivifbench import __version__

    out = {"ivifbench": __version__, "python": platform.python_version()}
    for pkg in VERSIONED:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def git_revision(where: str | Path | None = None) -> str | None:
    """The checkout's ``HEAD`` (with ``-dirty`` when tracked files changed), or ``None`` outside a git checkout."""
    here = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        rev = out.stdout.strip()
        if rev:
            dirty = subprocess.run(
                ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=5, check=False,
            ).stdout.strip()  # fmt: skip
            return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def host() -> dict[str, Any]:
    """Host name, platform and CPU count."""
    return {"host": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count()}

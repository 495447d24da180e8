"""Keep ultralytics off the network, in one place: call :func:`setup_offline` before anything imports ``ultralytics``.

ultralytics reaches for the network at import (an online check), at dataset check (a font download, even with
``YOLO_OFFLINE=1`` and ``plots=False``), on update checks, analytics and integration callbacks, and AMP checks. The recipe
here makes zero connections (``tests/test_detection_offline.py`` asserts it):

* ``YOLO_OFFLINE=1`` and ``YOLO_AUTOINSTALL=0`` (and no ``ULTRALYTICS_API_KEY``) in the environment;
* ``YOLO_CONFIG_DIR`` pointed at a folder ivifbench owns (``$IVIFBENCH_HOME/ultralytics``, default
  ``${XDG_CACHE_HOME:-~/.cache}/ivifbench/ultralytics``), so the user's own ultralytics settings are never touched;
* a TTF at ``<config>/Ultralytics/Arial.ttf`` and ``Arial.Unicode.ttf`` (a copy of matplotlib's bundled DejaVuSans), so the
  font check finds a file instead of downloading one;
* settings ``sync`` and every integration (ClearML, Comet, DVC, MLflow, Ray Tune, TensorBoard, W&B) off, no API key;
* ``ULTRALYTICS_SAFE_LOAD=1``: ultralytics loads every checkpoint with ``torch.load(weights_only=True)`` against an
  allow-list of its own and torch's model classes (DESIGN.md: a checkpoint never unpickles arbitrary objects);
* and, by the callers: ``amp=False`` on CPU, the CUDA AMP check (which downloads a model) skipped, absolute paths in
  ``data.yaml``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ivifbench.errors import IvifError

#: settings turned off: analytics sync and every logging integration ultralytics knows
OFF_SETTINGS = (
    "sync",
    "clearml",
    "comet",
    "dvc",
    "mlflow",
    "raytune",
    "tensorboard",
    "wandb",
    "vscode_msg",
    "openvino_msg",
)
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def config_root() -> Path:
    """The folder ivifbench owns for ultralytics' config: ``$IVIFBENCH_HOME/ultralytics`` or the XDG cache default."""
    home = os.environ.get("IVIFBENCH_HOME")
    if home:
        return Path(home).expanduser() / "ultralytics"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "ivifbench" / "ultralytics"


def _install_fonts(folder: Path) -> None:
    """Copy matplotlib's bundled DejaVuSans.ttf to ``folder`` as every font name ultralytics may fetch."""
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not source.is_file():
        raise IvifError(f"{source}: matplotlib's bundled font is missing; reinstall matplotlib")
    folder.mkdir(parents=True, exist_ok=True)
    for name in FONT_NAMES:
        target = folder / name
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)  # atomic: parallel runs never see half a font


def setup_offline(config_dir: str | Path | None = None) -> ModuleType:
    """Make ultralytics network-free, then import and return it.

    Safe to call many times. When ultralytics was already imported by someone else, its config folder is fixed; the fonts
    and settings are then put into the folder it uses.

    Args:
        config_dir: the folder for ``YOLO_CONFIG_DIR`` (default :func:`config_root`).

    Returns:
        the ``ultralytics`` module.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    os.environ.pop("ULTRALYTICS_API_KEY", None)
    if "ultralytics" not in sys.modules:
        root = Path(config_dir) if config_dir is not None else config_root()
        root = root.expanduser().absolute()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IvifError(f"{root}: cannot create the ultralytics config folder ({exc}); set IVIFBENCH_HOME") from exc
        os.environ["YOLO_CONFIG_DIR"] = str(root)
        _install_fonts(root / "Ultralytics")  # ultralytics appends "Ultralytics" to YOLO_CONFIG_DIR

    saved = None if "ultralytics" in sys.modules else _global_state()
    import ultralytics
    import ultralytics.nn.tasks as ul_tasks
    from ultralytics import utils as ul_utils

    if saved is not None:
        _restore_global_state(saved)

    ul_tasks.SAFE_LOAD = True  # read at call time; covers an ultralytics imported before this function ran
    _restore_pil_open()

    _install_fonts(Path(ul_utils.USER_CONFIG_DIR))
    settings = ul_utils.SETTINGS
    wanted: dict[str, bool | str] = {key: False for key in OFF_SETTINGS if key in settings}
    if settings.get("api_key"):
        wanted["api_key"] = ""
    changed = {key: value for key, value in wanted.items() if settings.get(key) != value}
    if changed:
        settings.update(changed)
    return ultralytics


def _restore_pil_open() -> None:
    """Undo ultralytics' process-wide ``PIL.Image.open`` patch.

    On import, ultralytics replaces ``PIL.Image.open`` with a wrapper that, on an unreadable file, tries to install and
    import ``pi-heif`` instead of raising ``UnidentifiedImageError``: every later reader in the process (fusing a sweep's
    next pair, scoring) then fails with ``No module named 'pi_heif'`` on one bad image. Datasets here are never HEIF.
    """
    from PIL import Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is not original:
        Image.open = original


def _global_state() -> dict[str, Any]:
    """The process-wide settings ultralytics changes on import (print options, OpenCV's thread count)."""
    import cv2
    import numpy as np
    import torch

    opts = torch._tensor_str.PRINT_OPTS
    torch_opts = {k: getattr(opts, k) for k in ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")}
    return {"numpy": np.get_printoptions(), "torch": torch_opts, "cv2_threads": cv2.getNumThreads()}


def _restore_global_state(saved: dict[str, Any]) -> None:
    """Put back what importing ultralytics changed, so a detection run leaves the rest of the process as it was
    (its ``{:11.5g}`` NumPy float format changed every printed array, e.g. the API's doctests)."""
    import cv2
    import numpy as np
    import torch

    np.set_printoptions(**saved["numpy"])
    torch.set_printoptions(**saved["torch"])
    cv2.setNumThreads(saved["cv2_threads"])

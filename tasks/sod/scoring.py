"""Salient-object scores with pysodmetrics 1.6.2, under the names the leaderboard uses.

Conventions (``metrics.md`` §8): predictions are 8-bit maps (pysodmetrics divides by 255 and min-max normalises each
map); ground truth is ``mask > 128``. ``Sm`` is the S-measure with alpha 0.5. The F-measures use β² = 0.3
(pysodmetrics' ``beta`` argument *is* β²); their 256-threshold curve is averaged over images first, so ``maxF`` is the
maximum and ``meanF`` the mean of that averaged curve, and ``adpF`` uses the per-image threshold min(2·mean, 1). The
E-measures follow the same scheme; pysodmetrics (like the MATLAB code) divides the E-measure's alignment sum by N − 1
for N pixels, so a perfect map scores N / (N − 1), a hair above 1. ``MAE`` is the mean absolute error (lower is better), ``wF`` the weighted F-measure
(β = 1).

Ground truth is scored as pysodmetrics and the MATLAB toolboxes score it: the 8-bit grey mask, foreground where > 128
(a bool mask is taken as it is). Training targets use :func:`ivifbench.datasets.labels.read_mask` (> 127); the two differ
only on pixels that are exactly 128.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ivifbench.errors import InputError

SOD_METRICS: tuple[str, ...] = ("Sm", "maxF", "meanF", "adpF", "maxE", "meanE", "adpE", "MAE", "wF")
"""The keys of every SOD ``metrics.json``, in table order."""

METRIC_DIRECTIONS: dict[str, bool] = {name: name != "MAE" for name in SOD_METRICS}
"""Metric name → higher is better (only MAE is lower-is-better)."""

F_BETA2 = 0.3
S_ALPHA = 0.5


class SODScorer:
    """Accumulates pysodmetrics' S-, F-, E-, weighted-F-measure and MAE over (map, mask) pairs.

    Call :meth:`step` once per image, then :meth:`results`.
    """

    def __init__(self) -> None:
        import py_sod_metrics as sod

        with warnings.catch_warnings():  # Fmeasure warns that FmeasureV2 will replace it; it is what §8 specifies
            warnings.simplefilter("ignore")
            self._fm = sod.Fmeasure(beta=F_BETA2)
        self._sm = sod.Smeasure(alpha=S_ALPHA)
        self._em = sod.Emeasure()
        self._wfm = sod.WeightedFmeasure()
        self._mae = sod.MAE()
        self.count = 0

    def step(self, pred: np.ndarray, gt: np.ndarray, name: str = "prediction") -> None:
        """Add one image.

        Args:
            pred: the H×W saliency map, uint8 (0–255) as written to disk.
            gt: the H×W ground truth, bool (or uint8, foreground > 128).
            name: what to call the image in an error (e.g. its file).

        Raises:
            InputError: the shapes differ or the map is not an 8-bit single-channel array.
        """
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.dtype != np.uint8 or pred.ndim != 2:
            raise InputError(
                f"{name}: a saliency map must be an 8-bit one-channel image, got {pred.dtype} {pred.shape}"
            )
        if gt.ndim != 2:
            raise InputError(f"{name}: the ground-truth mask must be one channel, got shape {gt.shape}")
        if pred.shape != gt.shape:
            raise InputError(
                f"{name}: map is {pred.shape[1]}×{pred.shape[0]} but its ground truth is {gt.shape[1]}×{gt.shape[0]}"
            )
        gt8 = (gt.astype(bool) if gt.dtype == bool else gt > 128).astype(np.uint8) * 255
        for metric in (self._fm, self._sm, self._em, self._wfm, self._mae):
            metric.step(pred=pred, gt=gt8)
        self.count += 1

    def results(self) -> dict[str, float]:
        """The nine scores (see the module docstring), as plain floats."""
        if self.count == 0:
            raise InputError("no images were scored")
        fm = self._fm.get_results()["fm"]
        em = self._em.get_results()["em"]
        return {
            "Sm": float(self._sm.get_results()["sm"]),
            "maxF": float(fm["curve"].max()),
            "meanF": float(fm["curve"].mean()),
            "adpF": float(fm["adp"]),
            "maxE": float(em["curve"].max()),
            "meanE": float(em["curve"].mean()),
            "adpE": float(em["adp"]),
            "MAE": float(self._mae.get_results()["mae"]),
            "wF": float(self._wfm.get_results()["wfm"]),
        }


def score_arrays(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Score (uint8 map, bool mask) pairs; see :class:`SODScorer`."""
    scorer = SODScorer()
    for i, (pred, gt) in enumerate(pairs):
        scorer.step(pred, gt, name=f"image {i}")
    return scorer.results()


def read_map(path: str | Path) -> np.ndarray:
    """Read a saliency map or a GT mask as an H×W uint8 array (colour is reduced to its luma; 16-bit scaled to 8)."""
    from ivifbench.imageio import read_image, to_uint8

    img = read_image(path, role="ir")
    return to_uint8(img.pixels[..., 0])


def score_folder(maps: str | Path, masks: Mapping[str, Path]) -> dict[str, float]:
    """Score the maps in ``maps`` (``<id>.png``) against the ground-truth masks ``{id: path}``.

    Every mask needs its map: a missing map is an error that names it (a partial folder would flatter the method).
    """
    from ivifbench.imageio import list_images

    found = list_images(maps)
    missing = sorted(set(masks) - set(found))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"{Path(maps) / (missing[0] + '.png')}: no saliency map for '{missing[0]}'{more}")
    scorer = SODScorer()
    for key in sorted(masks):
        scorer.step(read_map(found[key]), read_map(masks[key]), name=str(found[key]))
    return scorer.results()

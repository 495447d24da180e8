"""Maintained libraries as oracles: wherever SciPy, scikit-image or scikit-learn compute the very definition a
convention uses, our value must equal theirs to round-off.

Each row of ``ORACLES`` names a metric, a convention, the library call that computes the same number, and why the
definitions agree. The inputs are real triples from ../shared (skipped when it is absent): TNO 08 fused by DenseFuse,
TNO 05 fused by IFCNN (saturated, flat IR patches) and VIFB 'walking' fused by ADF (colour; scored here as OpenCV grey,
and per channel for the ``vifb`` rows). Values are 0..255 integers, as every toolkit reads them.

Tolerance: ``rtol 1e-12``. The library and the engine do the same arithmetic in another order (histogram bins summed
otherwise, a 2-D Gaussian against two 1-D passes), so only round-off may differ; the largest relative difference
measured is 1.8e-15 (MI, TNO 05). ``cddfuse``'s SSIM is scikit-image's own float32 arithmetic (1e-16 apart).

Where a library does NOT compute a convention's definition, nothing is forced; measured on TNO 08 (DenseFuse):

* PSNR/RMSE ``vifb``: VIFB takes the Euclidean norm of the difference un-squared ("MES"); skimage's PSNR is the textbook
  one (59.56 dB for VIFB against 22.83 dB; RMSE 0.0719 against 18.41). Canonical PSNR/RMSE are the textbook ones.
* SSIM ``tang`` (MATLAB ``ssim``: replicate padding, mean of the whole 'same' map) is *not* skimage's mean, which crops
  the border (0.76740 against 0.76468); it is skimage's map of the edge-padded images, and that is the oracle used.
* SSIM ``cddfuse`` in float64 (what skimage computes on float64 input) differs by 1.1e-7 relative: CDDFuse passed
  float32 arrays, so the oracle passes float32 too.
* MI ``tang``: Tang's Hab.m puts 254 and 255 into one joint bin (a uint8 saturation), so sklearn's MI differs
  (4.31185 bits against 4.31155); the oracle adds the marginal-entropy correction the quirk implies (see the row).
* NMI with skimage's defaults (100 bins over the data range, no ``normalize1``): 0.7651 against our 0.6705; with 256
  bins on ``normalize1``-ed planes it is exact. CE: ``scipy.stats.entropy(p_S, p_F)`` is infinite where F lacks a grey
  value S has; VIFB drops those bins without renormalising, so the oracle is ``scipy.special.rel_entr`` on VIFB's bins.
* No maintained library installed here computes MS-SSIM, VIF/VIFF, Qabf/Nabf, Qy/Qc/Qw, Qcb/Qcv, Qp or MEF-SSIM as
  their conventions define them; those are checked against transcriptions (tests/test_metrics_independent.py) or
  published values (tests/test_metrics_golden.py). PyWavelets is not an oracle for FMI_w: it is FMI_w's own wavelet
  transform (the metric calls ``pywt.dwt2``), and no other metric here is wavelet-based (Qw is Piella's weighted
  index, not a wavelet metric).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage, special, stats
from skimage.measure import shannon_entropy
from skimage.metrics import (
    mean_squared_error,
    normalized_mutual_information,
    peak_signal_noise_ratio,
    structural_similarity,
)
from sklearn.metrics import mutual_info_score, normalized_mutual_info_score

from ivifbench.metrics import compute

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RTOL = 1e-12
Arr = np.ndarray
Oracle = Callable[[Arr, Arr, Arr], float]

TRIPLES = {
    "tno08-densefuse": ("fused/DenseFuse/tno/08.png", "tno/ir/08.png", "tno/vi/08.png"),
    "tno05-ifcnn": ("fused/IFCNN/tno/05.png", "tno/ir/05.png", "tno/vi/05.png"),
    "vifb-walking-adf": ("fused/ADF/vifb/walking.jpg", "vifb/input/IR/walking.jpg", "vifb/input/VI/walking.jpg"),
}


# ----------------------------------------------------------------------------------------------------------------------
# inputs (plain NumPy; nothing from ivifbench but the values under test)
# ----------------------------------------------------------------------------------------------------------------------


def _grey(path: Path) -> Arr:
    """The grey 0..255 values a toolkit reads: an 'L' image as stored, a colour one by OpenCV's BGR2GRAY (uint8)."""
    im = Image.open(path)
    if im.mode == "L":
        return np.asarray(im).astype(np.float64)
    rgb = np.ascontiguousarray(np.asarray(im.convert("RGB"))[..., ::-1])
    return cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY).astype(np.float64)


def _raw(path: Path) -> Arr:
    """H×W (an 'L' image) or H×W×3 values 0..255 as float64."""
    im = Image.open(path)
    return np.asarray(im if im.mode == "L" else im.convert("RGB")).astype(np.float64)


@pytest.fixture(scope="module")
def triples(shared_data: Path) -> dict[str, tuple[Arr, Arr, Arr]]:
    out = {}
    for name, paths in TRIPLES.items():
        files = [shared_data / p for p in paths]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            pytest.skip(f"oracle inputs not found: {', '.join(missing)}")
        out[name] = tuple(_grey(p) for p in files)
    return out  # type: ignore[return-value]


def _ours(f: Arr, a: Arr, b: Arr, metric: str, convention: str) -> float:
    """Our value for one triple (H×W or H×W×C arrays → B×C×H×W tensors)."""

    def t(x: Arr) -> torch.Tensor:
        return torch.from_numpy(x if x.ndim == 3 else x[..., None]).permute(2, 0, 1)[None]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compute(t(f), t(a), t(b), metrics=metric, convention=convention)[metric].item()


# ----------------------------------------------------------------------------------------------------------------------
# the library side
# ----------------------------------------------------------------------------------------------------------------------


def _labels(x: Arr) -> Arr:
    return x.astype(np.int64).ravel()


def _mround(x: Arr) -> Arr:
    """MATLAB ``round`` (halves away from zero), as LIU's ``normalize1`` and VIFB's ``int16`` do."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _minmax255(x: Arr) -> Arr:
    """LIU's ``normalize1`` / VIFB's MI binning: min-max to [0, 1], then ``round(·255)``."""
    lo, hi = x.min(), x.max()
    return _mround((x - lo) / (hi - lo) * 255)


def _hist_entropy(x: Arr) -> float:
    return float(stats.entropy(np.bincount(_labels(x), minlength=256), base=2))


def _sk_ssim_wang(x: Arr, y: Arr) -> float:
    """Wang's ssim_index: Gaussian σ 1.5 (skimage truncates at 3.5σ: the same 11 taps), population covariance,
    L = 255, K = (0.01, 0.03), mean over the 'valid' region (skimage crops (11 − 1)/2 px, where its padding ends)."""
    return float(
        structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    )


def _sk_ssim_matlab(x: Arr, y: Arr) -> float:
    """MATLAB ``ssim`` on doubles (DynamicRange 1): replicate-padded 11×11 Gaussian σ 1.5, mean of the whole map. The
    map is skimage's full map of the edge-padded images, cut back to the original pixels."""
    xp, yp = np.pad(x, 5, mode="edge"), np.pad(y, 5, mode="edge")
    _, smap = structural_similarity(
        xp, yp, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, full=True
    )
    return float(smap[5:-5, 5:-5].mean())


def _mi_tang(f: Arr, s: Arr) -> float:
    """Tang's Hab.m in bits: joint histogram with 254 and 255 merged, marginals exact. sklearn's MI of the merged
    labels is H(S')+H(F')−H(S',F'); adding H(S)−H(S') and H(F)−H(F') gives H(S)+H(F)−H(S',F')."""
    fq, sq = np.minimum(f, 254), np.minimum(s, 254)
    mi = mutual_info_score(_labels(sq), _labels(fq)) / math.log(2)
    return mi + _hist_entropy(s) - _hist_entropy(sq) + _hist_entropy(f) - _hist_entropy(fq)


def _ce(f: Arr, a: Arr, b: Arr) -> float:
    pf = np.bincount(_labels(f), minlength=256) / f.size
    total = 0.0
    for s in (a, b):
        ps = np.bincount(_labels(s), minlength=256) / s.size
        ok = (ps > 0) & (pf > 0)
        total += float(special.rel_entr(ps[ok], pf[ok]).sum()) / math.log(2)
    return total / 2


def _stack(a: Arr, b: Arr) -> Arr:
    return np.concatenate((a, b))


def _pearson(x: Arr, y: Arr) -> float:
    return float(stats.pearsonr(x.ravel(), y.ravel())[0])


ORACLES: list[tuple[str, str, Oracle, str]] = [
    # (metric, convention, library value, why the definitions agree)
    ("EN", "canonical", lambda f, a, b: _hist_entropy(f), "scipy.stats.entropy of the 256-bin counts, base 2"),
    ("EN", "cddfuse", lambda f, a, b: float(shannon_entropy(f, base=2)), "skimage entropy over the grey values"),
    ("SD", "canonical", lambda f, a, b: float(np.std(f)), "population SD (NumPy ddof=0)"),
    (
        "MI",
        "canonical",
        lambda f, a, b: sum(mutual_info_score(_labels(s), _labels(f)) for s in (a, b)) / math.log(2),
        "sklearn mutual_info_score (nats) of the grey labels, over ln 2 for bits",
    ),
    (
        "MI",
        "cddfuse",
        lambda f, a, b: sum(mutual_info_score(f.ravel(), s.ravel()) for s in (a, b)),
        "CDDFuse's own call: sklearn mutual_info_score on the flattened float images, nats",
    ),
    (
        "MI",
        "vifb",
        lambda f, a, b: sum(mutual_info_score(_labels(_minmax255(s)), _labels(_minmax255(f))) for s in (a, b)),
        "sklearn MI (nats) of VIFB's min-max int16(x·255) bins (on 8-bit data a one-to-one relabelling: equal to"
        " cddfuse's value)",
    ),
    ("MI", "tang", lambda f, a, b: sum(_mi_tang(f, s) for s in (a, b)), "sklearn MI plus the 254/255 correction"),
    (
        "NMI",
        "canonical",
        lambda f, a, b: sum(
            normalized_mutual_info_score(_labels(_minmax255(s)), _labels(_minmax255(f)), average_method="arithmetic")
            for s in (a, b)
        ),
        "Hossny's 2·MI/(H(S)+H(F)) is sklearn's arithmetic-mean NMI, on normalize1-ed planes",
    ),
    (
        "NMI",
        "canonical",
        lambda f, a, b: sum(
            2 - 2 / normalized_mutual_information(_minmax255(s), _minmax255(f), bins=256) for s in (a, b)
        ),
        "skimage's Studholme Y = (H(S)+H(F))/H(S,F) gives 2·MI/(H(S)+H(F)) = 2 − 2/Y; 256 bins on 0..255 data are"
        " one bin per grey value",
    ),
    (
        "PSNR",
        "canonical",
        lambda f, a, b: float(peak_signal_noise_ratio(_stack(a, b), _stack(f, f), data_range=255)),
        "½(MSE_A + MSE_F) is the MSE of the stacked pair (equal sizes); skimage PSNR, peak 255",
    ),
    (
        "PSNR",
        "cddfuse",
        lambda f, a, b: float(peak_signal_noise_ratio(_stack(a, b), _stack(f, f), data_range=f.max())),
        "CDDFuse's peak is max(F)",
    ),
    (
        "PSNR",
        "tang",
        lambda f, a, b: float(peak_signal_noise_ratio(_stack(a, b) / 255, _stack(f, f) / 255, data_range=255)),
        "Tang: 20·log10(255/√MSE) with the MSE of [0, 1] data",
    ),
    (
        "MSE",
        "canonical",
        lambda f, a, b: float(mean_squared_error(_stack(a, b), _stack(f, f))),
        "skimage MSE of the stacked pair",
    ),
    (
        "MSE",
        "tang",
        lambda f, a, b: float(mean_squared_error(_stack(a, b) / 255, _stack(f, f) / 255)),
        "Tang's MSE of [0, 1] data",
    ),
    (
        "RMSE",
        "canonical",
        lambda f, a, b: math.sqrt(mean_squared_error(_stack(a, b), _stack(f, f))),
        "√ of the stacked MSE",
    ),
    ("CC", "canonical", lambda f, a, b: (_pearson(a, f) + _pearson(b, f)) / 2, "scipy.stats.pearsonr, mean of two"),
    ("CC", "cddfuse", lambda f, a, b: (_pearson(a, f) + _pearson(b, f)) / 2, "as canonical (NaN only on flat planes)"),
    ("SCD", "canonical", lambda f, a, b: _pearson(f - b, a) + _pearson(f - a, b), "pearsonr of the differences"),
    ("SSIM", "canonical", lambda f, a, b: (_sk_ssim_wang(f, a) + _sk_ssim_wang(f, b)) / 2, "see _sk_ssim_wang; mean"),
    ("SSIM", "vifb", lambda f, a, b: _sk_ssim_wang(f, a) + _sk_ssim_wang(f, b), "see _sk_ssim_wang; VIFB sums"),
    ("SSIM", "tang", lambda f, a, b: (_sk_ssim_matlab(f, a) + _sk_ssim_matlab(f, b)) / 2, "see _sk_ssim_matlab"),
    (
        "SSIM",
        "cddfuse",
        lambda f, a, b: sum(
            float(structural_similarity(f.astype(np.float32), s.astype(np.float32), data_range=2)) for s in (a, b)
        ),
        "CDDFuse's call: skimage defaults (7×7 uniform, sample covariance) on float32, data_range 2 (0.19's float"
        " default), summed",
    ),
    ("CE", "canonical", lambda f, a, b: _ce(f, a, b), "scipy.special.rel_entr summed over VIFB's bins, base 2"),
    (
        "EI",
        "canonical",
        lambda f, a, b: float(
            np.hypot(ndimage.sobel(f, axis=1, mode="nearest"), ndimage.sobel(f, axis=0, mode="nearest")).mean()
        ),
        "scipy.ndimage.sobel with replicated borders ('nearest') is fspecial('sobel') under imfilter 'replicate'",
    ),
    (
        "AG",
        "canonical",
        lambda f, a, b: float(
            np.sqrt(sum(g * g for g in np.gradient(f)) / 2).sum() / ((f.shape[0] - 1) * (f.shape[1] - 1))
        ),
        "numpy.gradient is MATLAB gradient (central inside, one-sided at the border)",
    ),
]


@pytest.mark.parametrize(
    ("metric", "convention", "oracle"),
    [pytest.param(m, c, o, id=f"{m}-{c}-{i}") for i, (m, c, o, _) in enumerate(ORACLES)],
)
def test_library_oracle(triples: dict[str, tuple[Arr, Arr, Arr]], metric: str, convention: str, oracle: Oracle) -> None:
    for name, (f, a, b) in triples.items():
        want = oracle(f, a, b)
        got = _ours(f, a, b, metric, convention)
        assert math.isfinite(want), (name, want)
        assert got == pytest.approx(want, rel=RTOL, abs=0), f"{name}: ours {got!r}, library {want!r}"


def test_oracles_tell_conventions_apart(triples: dict[str, tuple[Arr, Arr, Arr]]) -> None:
    """The oracles are sharp enough to fail: each differs from a neighbouring convention by far more than RTOL."""
    f, a, b = triples["tno05-ifcnn"]  # has grey values 254 and 255
    mi_bits = sum(mutual_info_score(_labels(s), _labels(f)) for s in (a, b)) / math.log(2)
    assert abs(_ours(f, a, b, "MI", "tang") - mi_bits) > 1e-3  # Tang's 254/255 joint bin matters (2.2790 vs 2.2661)
    f, a, b = triples["vifb-walking-adf"]
    assert abs(_ours(f, a, b, "SSIM", "tang") - (_sk_ssim_wang(f, a) + _sk_ssim_wang(f, b)) / 2) > 1e-3
    f64 = structural_similarity(f, a, data_range=2) + structural_similarity(f, b, data_range=2)
    assert _ours(f, a, b, "SSIM", "cddfuse") != f64  # float32 arithmetic is part of the convention


def test_vifb_per_channel_oracle(shared_data: Path) -> None:
    """``vifb`` scores every channel of a colour triple (F and VI channel k against the grey IR, or IR's own channel k)
    and averages: the library values per channel, averaged, are the same number."""
    paths = [shared_data / p for p in TRIPLES["vifb-walking-adf"]]
    if not all(p.is_file() for p in paths):
        pytest.skip("VIFB 'walking' triple not found")
    f, a, b = (_raw(p) for p in paths)
    assert f.ndim == 3 and b.ndim == 3

    def channel(x: Arr, k: int) -> Arr:
        return x[..., k] if x.ndim == 3 else x

    rows: list[tuple[str, Oracle]] = [
        ("EN", lambda f, a, b: _hist_entropy(f)),
        ("MI", lambda f, a, b: sum(mutual_info_score(_labels(_minmax255(s)), _labels(_minmax255(f))) for s in (a, b))),
        ("SSIM", lambda f, a, b: _sk_ssim_wang(f, a) + _sk_ssim_wang(f, b)),
    ]
    for metric, oracle in rows:
        want = float(np.mean([oracle(*(channel(x, k) for x in (f, a, b))) for k in range(3)]))
        assert _ours(f, a, b, metric, "vifb") == pytest.approx(want, rel=RTOL, abs=0), metric

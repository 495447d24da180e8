"""SOD scoring: known answers, pysodmetrics called directly, the 8-bit PNG round trip and bad inputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivifbench.errors import InputError
from ivifbench.tasks.sod.scoring import METRIC_DIRECTIONS, SOD_METRICS, SODScorer, score_arrays, score_folder


def _masks(n: int = 3, h: int = 48, w: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for _ in range(n):
        cy, cx, r = rng.uniform(15, 33), rng.uniform(15, 49), rng.uniform(8, 14)
        out.append((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
    return out


def _soft(mask: np.ndarray, seed: int) -> np.ndarray:
    """A plausible imperfect saliency map: a blurred, shifted, noisy version of the mask, as uint8."""
    import cv2

    rng = np.random.default_rng(seed)
    m = np.roll(mask.astype(np.float32), 2, axis=1)
    m = cv2.GaussianBlur(m, (0, 0), 2.0) * 0.8 + rng.uniform(0, 0.25, mask.shape).astype(np.float32)
    return np.clip(m * 255 + 0.5, 0, 255).astype(np.uint8)


def test_keys_and_directions() -> None:
    assert SOD_METRICS == ("Sm", "maxF", "meanF", "adpF", "maxE", "meanE", "adpE", "MAE", "wF")
    assert METRIC_DIRECTIONS["MAE"] is False
    assert all(METRIC_DIRECTIONS[k] for k in SOD_METRICS if k != "MAE")


def test_gt_as_prediction_is_perfect() -> None:
    masks = _masks()
    r = score_arrays((m.astype(np.uint8) * 255, m) for m in masks)
    assert set(r) == set(SOD_METRICS)
    assert r["Sm"] == pytest.approx(1.0, abs=1e-9)
    assert r["MAE"] == 0.0
    assert r["maxF"] == pytest.approx(1.0, abs=1e-9)
    assert r["adpF"] == pytest.approx(1.0, abs=1e-9)
    # pysodmetrics (like the MATLAB E-measure code) divides the alignment sum by N - 1 pixels, so a perfect map gives
    # N / (N - 1), not exactly 1
    n = masks[0].size
    assert r["maxE"] == pytest.approx(n / (n - 1), abs=1e-9)
    assert r["adpE"] == pytest.approx(n / (n - 1), abs=1e-9)
    assert r["wF"] == pytest.approx(1.0, abs=1e-6)
    # the F curve has 256 thresholds; only threshold 0 (everything salient) is imperfect for a binary map
    assert 0.99 < r["meanF"] < 1.0


def test_inverted_prediction_scores_badly() -> None:
    masks = _masks()
    r = score_arrays(((~m).astype(np.uint8) * 255, m) for m in masks)
    assert r["MAE"] == pytest.approx(1.0)
    assert r["Sm"] < 0.1
    assert r["wF"] < 0.05
    assert r["adpF"] < 0.05
    assert r["maxE"] < 0.5


def test_values_equal_pysodmetrics_called_directly() -> None:
    import py_sod_metrics as sod

    masks = _masks(4)
    preds = [_soft(m, i) for i, m in enumerate(masks)]
    ours = score_arrays(zip(preds, masks, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fm = sod.Fmeasure(beta=0.3)
    sm, em, wfm, mae = sod.Smeasure(alpha=0.5), sod.Emeasure(), sod.WeightedFmeasure(), sod.MAE()
    for p, m in zip(preds, masks, strict=True):
        gt = m.astype(np.uint8) * 255
        for metric in (fm, sm, em, wfm, mae):
            metric.step(pred=p, gt=gt)
    f = fm.get_results()["fm"]
    e = em.get_results()["em"]
    assert ours["Sm"] == pytest.approx(float(sm.get_results()["sm"]), rel=1e-12)
    assert ours["maxF"] == pytest.approx(float(f["curve"].max()), rel=1e-12)
    assert ours["meanF"] == pytest.approx(float(f["curve"].mean()), rel=1e-12)
    assert ours["adpF"] == pytest.approx(float(f["adp"]), rel=1e-12)
    assert ours["maxE"] == pytest.approx(float(e["curve"].max()), rel=1e-12)
    assert ours["MAE"] == pytest.approx(float(mae.get_results()["mae"]), rel=1e-12)
    assert ours["wF"] == pytest.approx(float(wfm.get_results()["wfm"]), rel=1e-12)
    # an imperfect map is neither perfect nor hopeless
    assert 0.5 < ours["Sm"] < 0.99 and 0.0 < ours["MAE"] < 0.5


def test_maxf_is_the_max_of_the_image_averaged_curve() -> None:
    """maxF averages the per-image curves first: it is not the mean of per-image maxima."""
    import py_sod_metrics as sod

    masks = _masks(3)
    preds = [_soft(m, 10 + i) for i, m in enumerate(masks)]
    ours = score_arrays(zip(preds, masks, strict=True))
    per_image_max = []
    for p, m in zip(preds, masks, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fm = sod.Fmeasure(beta=0.3)
        fm.step(pred=p, gt=m.astype(np.uint8) * 255)
        per_image_max.append(fm.get_results()["fm"]["curve"].max())
    assert ours["maxF"] <= float(np.mean(per_image_max)) + 1e-12


def test_score_folder_reads_8bit_pngs(tmp_path: Path) -> None:
    masks = _masks(2)
    gts = {}
    for i, m in enumerate(masks):
        Image.fromarray(_soft(m, i)).save(tmp_path / f"{i}.png")
        gts[str(i)] = tmp_path / f"gt{i}.png"
        Image.fromarray(m.astype(np.uint8) * 255).save(gts[str(i)])
    direct = score_arrays((_soft(m, i), m) for i, m in enumerate(masks))
    assert score_folder(tmp_path, gts) == pytest.approx(direct, rel=1e-12)


def test_missing_map_names_the_file(tmp_path: Path) -> None:
    m = _masks(1)[0]
    gt = tmp_path / "gt.png"
    Image.fromarray(m.astype(np.uint8) * 255).save(gt)
    (tmp_path / "maps").mkdir()
    with pytest.raises(InputError, match=r"maps/7\.png"):
        score_folder(tmp_path / "maps", {"7": gt})


def test_bad_inputs() -> None:
    m = _masks(1)[0]
    scorer = SODScorer()
    with pytest.raises(InputError, match="64×48"):
        scorer.step(np.zeros((40, 40), np.uint8), m, name="x.png")
    with pytest.raises(InputError, match="8-bit"):
        scorer.step(m.astype(np.float32), m)
    with pytest.raises(InputError, match="no images"):
        scorer.results()

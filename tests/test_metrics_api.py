"""The metric engine's public surface: registry and metadata, conventions, compute(), score_folders, the accumulator,
and ``ivifbench score``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ivifbench.cli import main
from ivifbench.errors import InputError, IvifError, NotFoundError
from ivifbench.metrics import (
    CONVENTIONS,
    METRICS,
    METRICS_VERSION,
    NOT_IMPLEMENTED,
    MetricAccumulator,
    MetricSpec,
    compute,
    score_folders,
)
from ivifbench.metrics.engine import resolve_metrics

LOWER_IS_BETTER = {"Qcv", "Nabf", "Nabf_petrovic", "MSE", "RMSE", "CE"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_registry_metadata_is_complete() -> None:
    for name in METRICS.names():
        spec = METRICS.get(name)
        assert isinstance(spec, MetricSpec) and spec.name == name
        assert spec.higher_is_better == (name not in LOWER_IS_BETTER), name
        lo, hi = spec.value_range
        assert lo < hi, name
        assert spec.reference and spec.reference_code, name
        assert "canonical" in spec.conventions, name
        assert set(spec.conventions) <= set(CONVENTIONS.names()), name
    assert {"EN", "SD", "SF", "AG", "MI", "VIF", "Qabf", "SSIM", "PSNR", "MSE", "CC", "SCD"} <= set(METRICS.names())
    assert not METRICS.get("EN").needs_sources and METRICS.get("MI").needs_sources


def test_conventions_are_named_and_describe_colour() -> None:
    assert CONVENTIONS.names() == sorted(["canonical", "vifb", "tang", "tang-legacy", "cddfuse"])
    for name in CONVENTIONS.names():
        conv = CONVENTIONS.get(name)
        assert "colour" in conv.description and "\n" not in conv.description
    with pytest.raises(NotFoundError, match="did you mean 'tang'"):
        CONVENTIONS.get("tnag")


def test_vifb_convention_has_its_13_metrics() -> None:
    assert set(resolve_metrics(None, "vifb")) == {
        "EN",
        "SD",
        "SF",
        "AG",
        "EI",
        "MI",
        "CE",
        "PSNR",
        "RMSE",
        "Qabf",
        "SSIM",
        "Qcb",
        "Qcv",
    }
    assert set(resolve_metrics("all", "cddfuse")) == {
        "EN",
        "SD",
        "SF",
        "AG",
        "MI",
        "MSE",
        "CC",
        "PSNR",
        "SCD",
        "VIF",
        "Qabf",
        "SSIM",
    }


def test_metric_name_errors(monkeypatch) -> None:
    with pytest.raises(NotFoundError, match="did you mean 'Qabf'"):
        resolve_metrics("EN,Qabff")
    with pytest.raises(NotFoundError, match="no 'vifb' variant"):
        resolve_metrics("VIF", "vifb")
    # NOT_IMPLEMENTED may be empty (every metric the field reports is in); the mechanism must keep working
    monkeypatch.setitem(NOT_IMPLEMENTED, "Qfuture", "needs something not written yet")
    with pytest.raises(NotFoundError, match="not implemented yet: needs something not written yet"):
        resolve_metrics("EN,Qfuture")
    assert resolve_metrics("qabf, en ,EN") == ["Qabf", "EN"]
    assert resolve_metrics("qp") == ["Qp"]


def _rand(shape, seed=0):
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed)).double()


def test_compute_shapes_devices_and_input_errors() -> None:
    f, a, b = _rand((3, 3, 40, 44), 1), _rand((3, 1, 40, 44), 2), _rand((3, 3, 40, 44), 3)
    out = compute(f, a, b, "EN,MI,Qabf,SSIM")
    assert list(out) == ["EN", "MI", "Qabf", "SSIM"]
    assert all(v.shape == (3,) and v.dtype == torch.float64 for v in out.values())
    out8 = compute(f.to(torch.uint8), a.to(torch.uint8), b.to(torch.uint8), "EN")
    assert torch.equal(out8["EN"], out["EN"])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        compute(f / 255, a / 255, b / 255, "EN")
    with pytest.raises(InputError, match="share B, H and W"):
        compute(f, a[:, :, :30], b, "EN")
    with pytest.raises(InputError, match="C in"):
        compute(f[:, :2], a, b, "EN")
    with pytest.raises(InputError, match="SSIM needs images of at least 11×11"):
        compute(f[..., :8, :8], a[..., :8, :8], b[..., :8, :8], "SSIM")


def test_accumulator_matches_numpy() -> None:
    acc = MetricAccumulator("EN,SD", convention="tang")
    values = []
    for seed in range(3):
        f, a, b = (_rand((2, 1, 24, 24), seed * 3 + k) for k in range(3))
        values.append(acc.update(f, a, b)["SD"])
    allv = torch.cat(values).numpy()
    res = acc.compute()
    assert res["SD"]["count"] == 6
    assert math.isclose(res["SD"]["mean"], allv.mean(), rel_tol=1e-12)
    assert math.isclose(res["SD"]["std"], allv.std(), rel_tol=1e-12)
    acc.reset()
    assert math.isnan(acc.compute()["EN"]["mean"])


def _write(folder: Path, name: str, arr: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(32, 40), (32, 40), (36, 30)]):
        ir = rng.integers(0, 256, (h, w), dtype=np.uint8)
        vis = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        fused = ((ir.astype(int)[..., None] + vis) // 2).astype(np.uint8)
        _write(tmp_path / "ir", f"{i:03d}.png", ir)
        _write(tmp_path / "vi", f"{i:03d}.png", vis)
        _write(tmp_path / "fused", f"{i:03d}.png", fused)
    return tmp_path / "ir", tmp_path / "vi", tmp_path / "fused"


def test_score_folders_long_table(folders) -> None:
    ir, vi, fu = folders
    df = score_folders(ir, vi, fu, "EN,MI,SSIM", "canonical", batch_size=2, progress=False)
    assert list(df.columns) == ["image", "metric", "convention", "value"]
    assert len(df) == 9 and set(df["image"]) == {"000", "001", "002"}
    assert (df["convention"] == "canonical").all()
    # batched per size, same values as scoring one by one
    from ivifbench.metrics.folders import read_raw

    t = [torch.from_numpy(read_raw(d / "002.png").transpose(2, 0, 1)[None].copy()) for d in (fu, ir, vi)]
    one = compute(*t, "MI")["MI"]
    assert float(df[(df.image == "002") & (df.metric == "MI")]["value"].iloc[0]) == pytest.approx(float(one[0]))


def test_score_folders_errors_name_the_file(folders) -> None:
    ir, vi, fu = folders
    (fu / "001.png").unlink()
    with pytest.raises(InputError, match="001"):
        score_folders(ir, vi, fu, "EN", progress=False)
    _write(fu, "001.png", np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(InputError, match=r"001\.png is 10×10"):
        score_folders(ir, vi, fu, "EN", progress=False)


def test_cli_score_writes_csv_and_summary(folders, tmp_path: Path, capsys) -> None:
    ir, vi, fu = folders
    out = tmp_path / "scores.csv"
    rc = main(
        [
            "score",
            "--ir",
            str(ir),
            "--vis",
            str(vi),
            "--fused",
            str(fu),
            "--metrics",
            "EN,SD,Qabf",
            "--convention",
            "tang",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    df = pd.read_csv(out, dtype={"image": str})
    assert list(df.columns) == ["image", "metric", "convention", "value"] and len(df) == 9
    meta = json.loads((tmp_path / "scores.csv.json").read_text())
    assert meta["convention"] == "tang" and meta["metrics_version"] == METRICS_VERSION and meta["n_images"] == 3
    assert set(meta["metrics"]) == {"EN", "SD", "Qabf"} and meta["metrics"]["Qabf"]["version"] >= 1
    assert {"scipy", "scikit-image", "PyWavelets", "torch"} <= set(meta["versions"]) and "git_revision" in meta
    assert meta["timings"]["score_seconds"] > 0 and meta["host"] and meta["device"] in ("cpu", "cuda")
    printed = capsys.readouterr().out
    assert "tang" in printed and "rgb2gray" in printed and "Qabf" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--metrics", "EN,Qabff"], "did you mean 'Qabf'"), (["--convention", "vifbb"], "did you mean 'vifb'")],
)
def test_cli_unknown_names(folders, args, message, capsys) -> None:
    ir, vi, fu = folders
    rc = main(["score", "--ir", str(ir), "--vis", str(vi), "--fused", str(fu), *args])
    assert rc == NotFoundError.exit_code
    assert message in capsys.readouterr().err
    assert issubclass(NotFoundError, IvifError)


def test_default_set_leaves_out_only_the_slow_metrics():
    from ivifbench.metrics.engine import SLOW_METRICS, resolve_metrics

    every = resolve_metrics("all")
    default = resolve_metrics("default")
    assert set(every) - set(default) == SLOW_METRICS & set(every)
    assert {"EN", "SD", "SF", "AG", "MI", "VIF", "Qabf", "SSIM"} <= set(default)

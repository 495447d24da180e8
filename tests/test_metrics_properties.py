"""Properties every metric must have: known extremes, invariances, and no silent NaN on degenerate images."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metric_images import smooth_image as _image

from ivifbench.errors import InputError
from ivifbench.metrics import CONVENTIONS, METRICS, compute

ALL = METRICS.names()
# Qc is not symmetric in (A, B) by definition: LIU/MEFB set the similarity to 0 where λ < 0 and to 1 where λ > 1.
SYMMETRIC = [n for n in ALL if METRICS.get(n).needs_sources and n != "Qc"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def triple() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a, b = _image(1, (2, 1, 180, 184)), _image(2, (2, 1, 180, 184))
    return torch.round((a + b) / 2), a, b


def test_every_metric_gives_one_finite_value_per_image(triple) -> None:
    f, a, b = triple
    out = compute(f, a, b)
    assert set(out) == set(ALL)
    for name, v in out.items():
        assert v.shape == (2,), name
        assert v.dtype == torch.float64, name
        assert torch.isfinite(v).all(), f"{name}: {v}"
        lo, hi = METRICS.get(name).value_range
        assert ((v >= lo - 1e-9) & (v <= hi + 1e-9)).all(), f"{name}={v.tolist()} outside {lo, hi}"


@pytest.mark.parametrize("name", ["SSIM", "MS_SSIM", "CC", "Qw", "Qy", "Qc"])
def test_fused_equal_to_both_sources_is_perfect(name: str, triple) -> None:
    _, a, _ = triple
    v = compute(a, a, a, [name])[name]
    assert torch.allclose(v, torch.ones_like(v), atol=1e-9), (name, v)


def test_known_extremes_when_fused_is_a_source(triple) -> None:
    _, a, b = triple
    out = compute(a, a, b, ["MSE", "CE", "PSNR", "RMSE", "Qabf", "Nabf", "Qcv", "VIF"])
    out_same = compute(a, a, a, ["MSE", "CE", "PSNR", "RMSE", "Qabf", "Nabf", "Qcv", "VIF"])
    assert torch.all(out_same["MSE"] == 0) and torch.all(out_same["RMSE"] == 0)
    assert torch.all(out_same["PSNR"] == math.inf)
    assert torch.allclose(out_same["CE"], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(
        out_same["Nabf"], torch.zeros(2, dtype=torch.float64)
    )  # no gradient stronger than both sources
    assert torch.allclose(out_same["Qcv"], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(
        out_same["VIF"], torch.full((2,), 2.0, dtype=torch.float64)
    )  # each source preserved exactly: 1 + 1
    # Qabf of F = A = B: every pixel keeps strength and angle: Tg/(1+e^{kg·(G−Dg)}) · Ta/(…) with G = g_F (the
    # reference's tie branch), so the value sits just under Tg·Ta; with fix_equal it is Qg(1)·Ta/(1+e^{22·(−0.2)}).
    assert (out_same["Qabf"] > 0.97).all() and (out_same["Qabf"] < 0.9994 * 0.9879 + 1e-12).all()
    assert (out["MSE"] > 0).all()


def test_mutual_information_extremes(triple) -> None:
    _, a, _ = triple
    en = compute(a, a, a, ["EN"])["EN"]
    mi = compute(a, a, a, ["MI"])["MI"]
    assert torch.allclose(mi, 2 * en)  # MI(A, A) = H(A), twice
    assert torch.allclose(compute(a, a, a, ["NMI"])["NMI"], torch.full((2,), 2.0, dtype=torch.float64))


@pytest.mark.parametrize("name", SYMMETRIC)
def test_swapping_sources_does_not_change_symmetric_metrics(name: str, triple) -> None:
    f, a, b = triple
    v1 = compute(f, a, b, [name])[name]
    v2 = compute(f, b, a, [name])[name]
    assert torch.allclose(v1, v2, rtol=1e-10, atol=1e-12), (name, v1, v2)


@pytest.mark.parametrize("convention", CONVENTIONS.names())
@pytest.mark.parametrize("kind", ["constant", "zeros", "tiny"])
def test_degenerate_images_give_a_number_or_a_clear_error(convention: str, kind: str) -> None:
    if kind == "tiny":
        f, a, b = _image(3, (1, 1, 8, 8)), _image(4, (1, 1, 8, 8)), _image(5, (1, 1, 8, 8))
    else:
        level = 0.0 if kind == "zeros" else 128.0
        f = a = b = torch.full((1, 1, 64, 64), level, dtype=torch.float64)
    names = [n for n in METRICS.names() if convention in METRICS.get(n).conventions]
    for name in names:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                v = compute(f, a, b, [name], convention)[name]
            except InputError as exc:
                assert name in str(exc) and "at least" in str(exc), str(exc)
                continue
        if torch.isnan(v).any():  # allowed only where the toolkit itself gives NaN, and then never silently
            assert convention != "canonical", f"canonical {name} is NaN on {kind} images"
            assert any(name in str(w.message) for w in caught), f"{convention} {name} NaN without a warning"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    h=st.integers(41, 64),
    w=st.integers(41, 64),
    shift=st.integers(-40, 40),
)
def test_random_images_stay_in_range_and_finite(seed: int, h: int, w: int, shift: int) -> None:
    f = _image(seed, (1, 1, h, w))
    a = _image(seed + 1, (1, 1, h, w), smooth=False)
    b = (_image(seed + 2, (1, 1, h, w)) + shift).clamp(0, 255)
    # MS-SSIM needs 176×176, VIFF 65×65, MEF-SSIM 44×44
    names = [n for n in ALL if n not in ("MS_SSIM", "VIFF") and (n != "MEF_SSIM" or min(h, w) >= 44)]
    out = compute(f, a, b, names)
    for name, v in out.items():
        assert torch.isfinite(v).all(), (name, v)
        lo, hi = METRICS.get(name).value_range
        assert lo - 1e-9 <= float(v) <= hi + 1e-9, (name, float(v))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4))
def test_batch_equals_one_by_one(seed: int, k: int) -> None:
    f, a, b = (_image(seed + i, (k, 1, 44, 45)) for i in range(3))
    names = ["EN", "SD", "SF", "AG", "MI", "VIF", "Qabf", "SSIM", "Qcb"]
    batched = compute(f, a, b, names)
    for i in range(k):
        single = compute(f[i : i + 1], a[i : i + 1], b[i : i + 1], names)
        for n in names:
            assert torch.allclose(batched[n][i], single[n][0], rtol=1e-12, atol=1e-12), n


def test_colour_handling_per_convention() -> None:
    g = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (1, 3, 32, 32), generator=g).double()
    grey = CONVENTIONS.get("canonical").to_grey(rgb)
    assert grey.shape == (1, 1, 32, 32) and torch.equal(grey, grey.round())
    f, a, b = CONVENTIONS.get("vifb").prepare(rgb, rgb[:, :1], rgb)
    assert f.shape[1] == a.shape[1] == b.shape[1] == 3
    # VIFB's EN is the mean of the channel entropies
    en = compute(rgb, rgb[:, :1], rgb, ["EN"], "vifb")["EN"]
    per = [compute(rgb[:, k : k + 1], rgb[:, :1], rgb[:, k : k + 1], ["EN"], "vifb")["EN"] for k in range(3)]
    assert torch.allclose(en, sum(per) / 3)


def test_torch_filter_backend_matches_scipy(monkeypatch) -> None:
    """GPUs run the torch shifted-sum filters; on a CPU they must give the SciPy path's values to round-off."""
    from ivifbench.metrics import filters

    f, a, b = (_image(20 + i, (2, 3, 50, 47)) for i in range(3))
    names = [n for n in ALL if n not in ("MS_SSIM", "VIFF")]  # MS-SSIM needs 176×176, VIFF 65×65

    def both() -> dict:
        out = compute(f, a[:, :1], b, names)
        for conv in ("vifb", "tang", "tang-legacy", "cddfuse"):
            out |= {f"{conv}/{k}": v for k, v in compute(f, a[:, :1], b, None, conv).items()}
        return out

    ref = both()
    monkeypatch.setattr(filters, "BACKEND", "torch")
    got = both()
    for n in ref:
        assert torch.allclose(got[n], ref[n], rtol=1e-10, atol=1e-12), (n, got[n], ref[n])

"""Q_P (Zhao et al. 2007) and the phase congruency under it (metrics/phase.py).

No published per-image Q_P values exist for our data, so the checks are:

* the ``"phasecong3"`` flavour against phasepack 1.5 (A. Muldal's port of Kovesi's ``phasecong3.m``), which shares
  every step with LIU's ``myphasecong3`` (FFT grids with the odd-size conventions, log-Gabor radial filters, the
  0.45/15 low-pass, energy, sigmoid weighting, moments) except the ones listed in the module docstring;
* the ``"liu"`` flavour against a plain NumPy transcription of ``myphasecong3.m`` written loop by loop (direct
  inverse FFTs for the noise model, MATLAB's ``fftshift`` low-pass, ``median``), covering those differences;
* hand-checked answers (a step edge, flat planes, contrast invariance) and the metric's properties.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from metric_images import smooth_image as _image

from ivifbench.errors import InputError
from ivifbench.metrics import METRICS, compute
from ivifbench.metrics.phase import _hermitian_part_sums, _lowpass, phase_congruency, q_zhao

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tno(shared_data: Path, kind: str, n: str = "01") -> torch.Tensor:
    from PIL import Image

    path = shared_data / ("fused/DenseFuse/tno" if kind == "fused" else f"tno/{kind}") / f"{n}.png"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.float64))


# --- phase congruency: the phasecong3 flavour against phasepack -------------------------------------------------


def _phasepack(img: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "pyfftw not found, falling back on fftpack", at import
        phasepack = pytest.importorskip("phasepack")
        m_max, m_min, _, _, pc, _, _ = phasepack.phasecong(
            img, nscale=4, norient=6, minWaveLength=3, mult=2.1, sigmaOnf=0.55, k=2.0, cutOff=0.5, g=10.0
        )
    return m_max, m_min, np.stack(pc)


def _compare_with_phasepack(img: np.ndarray) -> float:
    m_max, m_min, pc = _phasepack(img)
    ours = phase_congruency(torch.from_numpy(img), flavour="phasecong3", per_orientation=True)
    worst = 0.0
    for theirs, mine in ((m_max, ours.max_moment), (m_min, ours.min_moment), (pc, ours.per_orientation)):
        worst = max(worst, float(np.abs(theirs - mine.numpy()).max()))
    return worst


@pytest.mark.parametrize("shape", [(64, 80), (61, 77)])  # even and odd sizes take different grid branches
def test_phasecong3_flavour_matches_phasepack_synthetic(shape) -> None:
    """Maps in [0, 1]; measured agreement ≤ 1e-13 (FFT round-off), so 1e-12 leaves room for other FFT libraries."""
    img = _image(3, (1, 1, *shape))[0, 0].numpy()
    assert _compare_with_phasepack(img) < 1e-12


def test_phasecong3_flavour_matches_phasepack_on_tno(shared_data: Path) -> None:
    ir = _tno(shared_data, "ir")
    img = ir[100:301, 200:451].contiguous().numpy()  # 201×251: odd both ways, real texture and noise
    assert _compare_with_phasepack(img) < 1e-12


# --- phase congruency: the liu flavour against a transcription of myphasecong3.m -------------------------------


def _myphasecong3(im: np.ndarray, nscale=4, norient=6, min_wl=3.0, mult=2.1, sigma_onf=0.55, dtheta=1.2, k=2.0):
    """``myphasecong3.m`` (LIU) line by line in NumPy: returns (pc, M, m)."""
    eps, cut_off, g = 1e-4, 0.5, 10.0
    rows, cols = im.shape
    theta_sigma = math.pi / norient / dtheta
    imagefft = np.fft.fft2(im)

    def rng(n):
        return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1) if n % 2 else np.arange(-n / 2, n / 2) / n

    x, y = np.meshgrid(rng(cols), rng(rows))
    radius = np.sqrt(x**2 + y**2)
    radius[rows // 2, cols // 2] = 1
    theta = np.arctan2(-y, x)
    radius, theta = np.fft.ifftshift(radius), np.fft.ifftshift(theta)
    sintheta, costheta = np.sin(theta), np.cos(theta)
    # lowpassfilter.m as shipped with the toolbox: grid (j - fix(n/2) - 1)/n over j = 1..n, then fftshift
    lx = (np.ones((rows, 1)) * np.arange(1, cols + 1) - (cols // 2 + 1)) / cols
    ly = (np.arange(1, rows + 1)[:, None] * np.ones((1, cols)) - (rows // 2 + 1)) / rows
    lp = np.fft.fftshift(1.0 / (1.0 + (np.sqrt(lx**2 + ly**2) / 0.45) ** 30))
    log_gabor = []
    for s in range(nscale):
        fo = 1.0 / (min_wl * mult**s)
        lgab = np.exp(-(np.log(radius / fo) ** 2) / (2 * np.log(sigma_onf) ** 2)) * lp
        lgab[0, 0] = 0
        log_gabor.append(lgab)
    total_energy = np.zeros_like(im)
    total_sum_an = np.zeros_like(im)
    covx2, covy2, covxy = np.zeros_like(im), np.zeros_like(im), np.zeros_like(im)
    for o in range(norient):
        angl = o * math.pi / norient
        ds = sintheta * math.cos(angl) - costheta * math.sin(angl)
        dc = costheta * math.cos(angl) + sintheta * math.sin(angl)
        spread = np.exp(-(np.abs(np.arctan2(ds, dc)) ** 2) / (2 * theta_sigma**2))
        sum_e, sum_o, sum_an = np.zeros_like(im), np.zeros_like(im), np.zeros_like(im)
        eo, ifft_filters = [], []
        for s in range(nscale):
            filt = log_gabor[s] * spread
            ifft_filters.append(np.real(np.fft.ifft2(filt)) * math.sqrt(rows * cols))
            eo.append(np.fft.ifft2(imagefft * filt))
            an = np.abs(eo[s])
            sum_an, sum_e, sum_o = sum_an + an, sum_e + eo[s].real, sum_o + eo[s].imag
            if s == 0:
                em_n = np.sum(filt**2)
                max_an = an
            else:
                max_an = np.maximum(max_an, an)
        x_energy = np.sqrt(sum_e**2 + sum_o**2) + eps
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = np.zeros_like(im)
        for s in range(nscale):
            e, od = eo[s].real, eo[s].imag
            energy = energy + e * mean_e + od * mean_o - np.abs(e * mean_o - od * mean_e)
        noise_power = -np.median(np.abs(eo[0]) ** 2) / math.log(0.5) / em_n
        est_an2 = sum(np.sum(f**2) for f in ifft_filters)
        est_aiaj = sum(
            np.sum(ifft_filters[i] * ifft_filters[j]) for i in range(nscale - 1) for j in range(i + 1, nscale)
        )
        tau = math.sqrt((2 * noise_power * est_an2 + 4 * noise_power * est_aiaj) / 2)
        threshold = (tau * math.sqrt(math.pi / 2) + k * math.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
        energy = np.maximum(energy - threshold, 0)
        width = sum_an / (max_an + eps) / nscale
        weight = 1.0 / (1 + np.exp((cut_off - width) * g))
        total_sum_an += sum_an
        total_energy += weight * energy
        pc_o = weight * energy / sum_an
        covx, covy = pc_o * math.cos(angl), pc_o * math.sin(angl)
        covx2, covy2, covxy = covx2 + covx**2, covy2 + covy**2, covxy + covx * covy
    pc = total_energy / (total_sum_an + eps)
    covx2, covy2, covxy = covx2 / (norient / 2), covy2 / (norient / 2), covxy / norient
    denom = np.sqrt(covxy**2 + (covx2 - covy2) ** 2) + eps
    return pc, (covy2 + covx2 + denom) / 2, (covy2 + covx2 - denom) / 2


@pytest.mark.parametrize("shape", [(48, 64), (45, 59)])
def test_liu_flavour_matches_myphasecong3_transcription(shape) -> None:
    img = _image(5, (1, 1, *shape))[0, 0]
    ref = _myphasecong3(img.numpy())
    ours = phase_congruency(img)
    for theirs, mine in zip(ref, ours[:3], strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs, rtol=0, atol=1e-12)


def test_liu_flavour_matches_transcription_on_tno(shared_data: Path) -> None:
    img = _tno(shared_data, "vi")[200:281, 300:397].contiguous()  # 81×97
    ref = _myphasecong3(img.numpy())
    ours = phase_congruency(img)
    for theirs, mine in zip(ref, ours[:3], strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs, rtol=0, atol=1e-12)


def test_noise_model_sums_equal_direct_inverse_ffts() -> None:
    """Parseval shortcut for Σₓ fₛ² and Σₓ fᵢf_j, fₛ = real(ifft2(Hₛ))·√(HW), on odd and even sizes."""
    for rows, cols in ((16, 20), (15, 21)):
        filt = torch.rand(4, rows, cols, generator=torch.Generator().manual_seed(rows), dtype=torch.float64)
        spatial = torch.fft.ifft2(filt).real * math.sqrt(rows * cols)
        sq = (spatial**2).sum()
        cross = sum((spatial[i] * spatial[j]).sum() for i in range(4) for j in range(i + 1, 4))
        got_sq, got_cross = _hermitian_part_sums(filt)
        torch.testing.assert_close(got_sq, sq, rtol=1e-12, atol=0)
        torch.testing.assert_close(got_cross, cross, rtol=1e-12, atol=0)


def test_liu_lowpass_is_fftshifted() -> None:
    """LIU's lowpassfilter.m uses fftshift: for odd sizes its centre lands on the last index, for even on [0, 0]."""
    odd = _lowpass(15, 21, "liu", torch.float64, None)
    for w in (odd[0], odd[:, 0]):
        w0 = torch.roll(w, 1)  # moved back so that its centre is at index 0: then w0[j] == w0[-j]
        assert torch.equal(w0, torch.roll(torch.flip(w0, [0]), 1))
        assert not torch.equal(w, torch.roll(torch.flip(w, [0]), 1))
    even = _lowpass(16, 20, "liu", torch.float64, None)
    assert torch.equal(even, _lowpass(16, 20, "phasecong3", torch.float64, None))
    assert even[0, 0] == 1.0


# --- phase congruency: known answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["liu", "phasecong3"])
def test_step_edge(flavour: str) -> None:
    """A vertical step: PC ≈ 0.72 on the two edge columns, small elsewhere (the 0.72 is the discrete filter bank's
    frequency-spread weight and low-pass; both flavours agree on it)."""
    x = torch.zeros(1, 1, 64, 128, dtype=torch.float64)
    x[..., 64:] = 200
    r = phase_congruency(x, flavour=flavour, per_orientation=True)
    edge = r.pc[0, 0, :, 63:65]
    assert ((edge > 0.68) & (edge < 0.76)).all()
    assert r.pc[0, 0, :, 20:50].max() < 0.1 and r.pc[0, 0, :, 80:110].max() < 0.1
    assert (r.max_moment[0, 0, :, 63:65] > 0.4).all()
    if flavour == "phasecong3":  # raised-cosine spread: orientations ≥ 60° from the edge normal see nothing
        assert (r.per_orientation[0, 0, 2:5, :, 63:65] == 0).all()
        assert (r.min_moment[0, 0, :, 63:65] < 0.2 * r.max_moment[0, 0, :, 63:65]).all()
    else:  # the Gaussian spread leaks into every orientation, and PC is amplitude-normalised: all respond
        assert (r.per_orientation[0, 0, :, :, 63:65] > 0.6).all()


def test_contrast_invariance_and_flat_planes() -> None:
    x = _image(8, (2, 1, 50, 60))
    a, b = phase_congruency(x), phase_congruency(0.5 * x + 40)
    torch.testing.assert_close(a.pc, b.pc, rtol=0, atol=1e-3)  # ε = 1e-4 terms are the only scale dependence
    flat = phase_congruency(torch.full((1, 1, 32, 32), 77.0, dtype=torch.float64))
    for t in flat[:3]:
        assert torch.isfinite(t).all()
    assert flat.pc.abs().max() < 1e-6


# --- Q_P ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def triple():
    a, b = _image(1, (2, 1, 72, 76)), _image(2, (2, 1, 72, 76))
    return torch.round((a + b) / 2), a, b


def test_registered_with_metadata() -> None:
    spec = METRICS.get("Qp")
    assert spec.fn is q_zhao and spec.higher_is_better and spec.needs_sources
    assert spec.value_range == (-1.0, 1.0)
    assert set(spec.conventions) == {"canonical"}
    assert "metricZhao" in spec.reference_code and "golden" in spec.notes


def test_range_symmetry_and_ordering(triple) -> None:
    f, a, b = triple
    v = compute(f, a, b, ["Qp"])["Qp"]
    assert v.shape == (2,) and v.dtype == torch.float64
    assert ((v > 0) & (v < 1)).all(), v
    torch.testing.assert_close(v, compute(f, b, a, ["Qp"])["Qp"], rtol=1e-12, atol=0)
    perfect = compute(a, a, a, ["Qp"])["Qp"]
    assert ((perfect > 0.9) & (perfect <= 1 + 1e-12)).all(), perfect  # < 1: LIU does not mask the fused map
    noise = _image(7, (2, 1, 72, 76))
    assert (compute(noise, a, b, ["Qp"])["Qp"] < v).all()
    assert (v < perfect).all()


def test_equal_to_one_when_every_pixel_is_a_feature(triple) -> None:
    """With all-true masks (threshold below 0) F = A = B correlates perfectly in every window: exactly 1 up to
    round-off. (At the real threshold 0.1 LIU's unmasked fused map keeps it just below 1, as checked above.)"""
    _, a, _ = triple
    torch.testing.assert_close(q_zhao(a, a, a, threshold=-1.0), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-9)


def test_batched_and_colour_planes(triple) -> None:
    f, a, b = triple
    batched = q_zhao(f, a, b)
    single = torch.cat([q_zhao(f[i : i + 1], a[i : i + 1], b[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(batched, single, rtol=1e-12, atol=1e-14)
    # per-plane scoring averaged over C (as VIFB-style inputs would be)
    f3 = torch.cat((f[:1], f[1:], f[:1]), 1)
    a3 = torch.cat((a[:1], a[1:], a[:1]), 1)
    b3 = torch.cat((b[:1], b[1:], b[:1]), 1)
    torch.testing.assert_close(q_zhao(f3, a3, b3), ((2 * single[0] + single[1]) / 3)[None], rtol=1e-12, atol=1e-14)


def test_degenerate_inputs_never_silent_nan() -> None:
    c = torch.full((1, 1, 40, 40), 100.0, dtype=torch.float64)
    a, b = _image(3, (1, 1, 40, 40)), _image(4, (1, 1, 40, 40))
    assert q_zhao(c, c, c).item() == 1.0  # no feature in either source: nothing to lose
    assert q_zhao(a, c, c).item() == 1.0
    assert q_zhao(c, a, b).item() == 0.0  # a blank fused image preserves nothing (the toolbox: NaN)
    v = q_zhao(a, c, b).item()  # one flat source: the other one's features are scored
    assert math.isfinite(v) and 0 < v <= 1
    with pytest.raises(InputError, match="at least 11×11"):
        compute(*(_image(s, (1, 1, 8, 8)) for s in range(3)), ["Qp"])


def test_cpu_chunking_does_not_change_values(monkeypatch) -> None:
    from ivifbench.metrics import engine

    f, a, b = (_image(30 + i, (3, 1, 40, 44)) for i in range(3))
    monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 0)
    whole = compute(f, a, b, ["Qp"])["Qp"]
    monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 40 * 44)
    assert torch.equal(whole, compute(f, a, b, ["Qp"])["Qp"])


def test_tno_regression_value(shared_data: Path) -> None:
    """TNO 01, DenseFuse. Not a golden value (none exists): pins this implementation against unnoticed changes."""
    a, b, f = (_tno(shared_data, k)[None, None] for k in ("ir", "vi", "fused"))
    v = compute(f, a, b, ["Qp"])["Qp"].item()
    assert math.isclose(v, REGRESSION_TNO01_DENSEFUSE, rel_tol=1e-6), v


REGRESSION_TNO01_DENSEFUSE = 0.2545461901801246

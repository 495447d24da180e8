"""Phase congruency (Kovesi) and the phase-congruency fusion metric Q_P (Zhao et al. 2007), metrics.md §4.

Phase congruency is defined through log-Gabor filters, which only exist in the frequency domain, so the filtering is
done by FFT here as in every reference implementation (this is the algorithm, not a shortcut). Everything is float64
(complex128 spectra) and batched over any leading dimensions; Q_P works on B×C×H×W planes holding 0..255 and returns
shape (B,), averaged over C.

Two flavours of phase congruency are implemented, because the field's Q_P does not use Kovesi's published
``phasecong3.m``:

* ``"liu"`` (default): ``myphasecong3.m`` from Z. Liu's fusion-metric toolbox, which ``metricZhao.m`` (LIU, MEFB)
  calls. Despite its name it is Kovesi's 2005 ``phasecong2`` plus an overall PC map: Gaussian angular spread,
  noise power from the median of the squared smallest-scale responses, the 1.7 rescaling of the threshold,
  width = ΣA/max A/nscale, and ``covxy/norient``.
* ``"phasecong3"``: Kovesi's later ``phasecong3.m`` as ported by phasepack 1.5 (A. Muldal), kept to check the shared
  machinery against that independent code: raised-cosine angular spread, Rayleigh τ = median(A₁)/√(ln 4),
  width = (ΣA/max A − 1)/(nscale − 1), ``4·covxy/norient``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ivifbench.metrics.filters import check_min_size, gaussian_1d, separable_same

_EPS = 1e-4  # Kovesi's `epsilon`
_FLAT = 1e-10  # ΣA below this (in 0..255 units): a flat plane whose FFT residue is round-off; its PC is set to 0
FLAVOURS = ("liu", "phasecong3")


class PhaseCongruency(NamedTuple):
    """Phase-congruency maps of a ``…×H×W`` input (same leading shape)."""

    pc: Tensor
    """Overall phase congruency ΣₒW·E / (ΣₒΣₛA + ε) (Kovesi's PC₂), ``…×H×W``."""
    max_moment: Tensor
    """M, the maximum moment of the PC covariance (edge strength), ``…×H×W``."""
    min_moment: Tensor
    """m, the minimum moment (corner strength), ``…×H×W``."""
    per_orientation: Tensor | None = None
    """PCₒ = Wₒ·Eₒ / ΣₛAₛₒ for each orientation, ``…×norient×H×W`` (only when asked for)."""


def _centred_axis(n: int, dtype: torch.dtype, device: torch.device | str | None) -> Tensor:
    """Kovesi's normalised frequency axis: ``[-(n-1)/2 : (n-1)/2]/(n-1)`` for odd n, ``[-n/2 : n/2-1]/n`` for even."""
    if n % 2:
        return (torch.arange(n, dtype=dtype, device=device) - (n - 1) / 2) / (n - 1)
    return (torch.arange(n, dtype=dtype, device=device) - n / 2) / n


def _lowpass(rows: int, cols: int, flavour: str, dtype: torch.dtype, device: torch.device | str | None) -> Tensor:
    """Butterworth low-pass 1/(1 + (r/0.45)^30), origin at [0, 0].

    ``"liu"`` follows the ``lowpassfilter.m`` that toolbox ships: the grid is (j − ⌊n/2⌋)/n (no n−1 for odd n) and it
    is moved with ``fftshift``, so for an odd size the filter's centre lands on index n−1 instead of 0 (one frequency
    bin off; kept). ``"phasecong3"`` uses the filter grid and ``ifftshift`` (origin exactly at [0, 0]).
    """
    if flavour == "liu":
        x = (torch.arange(cols, dtype=dtype, device=device) - cols // 2) / cols
        y = (torch.arange(rows, dtype=dtype, device=device) - rows // 2) / rows
        shifts = (rows // 2, cols // 2)  # fftshift
    else:
        x, y = _centred_axis(cols, dtype, device), _centred_axis(rows, dtype, device)
        shifts = (-(rows // 2), -(cols // 2))  # ifftshift
    radius = torch.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
    lp = 1.0 / (1.0 + (radius / 0.45) ** 30)
    return torch.roll(lp, shifts=shifts, dims=(0, 1))


def _filter_bank(
    rows: int,
    cols: int,
    nscale: int,
    norient: int,
    min_wavelength: float,
    mult: float,
    sigma_onf: float,
    d_theta_on_sigma: float,
    flavour: str,
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> tuple[Tensor, Tensor]:
    """Radial log-Gabor components (nscale×H×W, low-passed, 0 at DC) and angular spreads (norient×H×W).

    Grid: x, y on :func:`_centred_axis`, r = √(x²+y²) with the centre value replaced by 1 (so log r is finite),
    θ = atan2(−y, x); both ``ifftshift``-ed so that DC sits at [0, 0].
    """
    x = _centred_axis(cols, dtype, device)[None, :]
    y = _centred_axis(rows, dtype, device)[:, None]
    radius = torch.sqrt(x * x + y * y)
    radius[rows // 2, cols // 2] = 1.0
    theta = torch.atan2(-y, x).expand(rows, cols)
    unshift = (-(rows // 2), -(cols // 2))
    radius = torch.roll(radius, shifts=unshift, dims=(0, 1))
    theta = torch.roll(theta, shifts=unshift, dims=(0, 1))
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)

    lp = _lowpass(rows, cols, flavour, dtype, device)
    denom = 2 * math.log(sigma_onf) ** 2
    radial = []
    for s in range(nscale):
        fo = 1.0 / (min_wavelength * mult**s)
        lg = torch.exp(-(torch.log(radius / fo) ** 2) / denom) * lp
        lg[0, 0] = 0.0
        radial.append(lg)

    spreads = []
    theta_sigma = math.pi / norient / d_theta_on_sigma
    for o in range(norient):
        angl = o * math.pi / norient
        ds = sin_t * math.cos(angl) - cos_t * math.sin(angl)
        dc = cos_t * math.cos(angl) + sin_t * math.sin(angl)
        dtheta = torch.abs(torch.atan2(ds, dc))
        if flavour == "liu":
            spreads.append(torch.exp(-(dtheta**2) / (2 * theta_sigma**2)))
        else:
            spreads.append((torch.cos(torch.clamp(dtheta * norient / 2, max=math.pi)) + 1) / 2)
    return torch.stack(radial), torch.stack(spreads)


def _median(x: Tensor) -> Tensor:
    """Median over the last two dims, the mean of the two middle values for an even count (MATLAB/NumPy)."""
    flat = x.reshape(*x.shape[:-2], -1)
    n = flat.shape[-1]
    if n % 2:
        return flat.kthvalue(n // 2 + 1, dim=-1).values
    lo = flat.kthvalue(n // 2, dim=-1).values[..., None]  # one selection; the next order statistic by two passes
    above = torch.where(flat > lo, flat, torch.inf).amin(-1, keepdim=True)
    hi = torch.where((flat <= lo).sum(-1, keepdim=True) > n // 2, lo, above)
    return ((lo + hi) / 2)[..., 0]


def _hermitian_part_sums(filt: Tensor) -> tuple[Tensor, Tensor]:
    """Σₓ Σₛ fₛ(x)² and Σₓ Σ_{i<j} fᵢ(x)f_j(x) for fₛ = real(ifft2(Hₛ))·√(HW), the spatial filters of LIU's noise model.

    By Parseval these equal the same sums over frequencies of the Hermitian parts Hˢ(k) = (H(k) + H(−k))/2 (H is
    real), which avoids nscale inverse FFTs; equal to round-off (checked in the tests).
    """
    flipped = torch.roll(torch.flip(filt, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))
    herm = (filt + flipped) / 2
    sum_sq = (herm * herm).sum()
    total = herm.sum(0)
    cross = ((total * total).sum() - sum_sq) / 2
    return sum_sq, cross


def phase_congruency(
    x: Tensor,
    *,
    nscale: int = 4,
    norient: int = 6,
    min_wavelength: float = 3.0,
    mult: float = 2.1,
    sigma_onf: float = 0.55,
    d_theta_on_sigma: float = 1.2,
    k: float = 2.0,
    cut_off: float = 0.5,
    g: float = 10.0,
    flavour: str = "liu",
    per_orientation: bool = False,
) -> PhaseCongruency:
    """Phase congruency of every ``H×W`` plane of ``x`` (Kovesi 1999, 2003), with the maximum and minimum moments.

    Per orientation o (angle φₒ = oπ/norient) and scale s (centre frequency fₛ = 1/(min_wavelength·multˢ)) the
    filter is Gₛₒ(r, θ) = exp(−ln²(r/fₛ)/(2 ln² σ_onf)) · LP(r) · Sₒ(θ) (0 at DC) and EOₛₒ = ifft2(fft2(x)·Gₛₒ), whose
    real and imaginary parts are the even and odd responses eₛ, oₛ and Aₛ = |EOₛₒ|. Then

    * weighted mean phase (Ē, Ō) = (Σeₛ, Σoₛ)/(√((Σeₛ)² + (Σoₛ)²) + ε), ε = 1e-4;
    * energy Eₒ = max(Σₛ (eₛĒ + oₛŌ − |eₛŌ − oₛĒ|) − T, 0) with the noise threshold T below;
    * frequency-spread weight Wₒ = 1/(1 + exp(g·(cut_off − width)));
    * PCₒ = WₒEₒ/ΣₛAₛ; PC = ΣₒWₒEₒ/(ΣₒΣₛAₛ + ε);
    * moments: a = ΣPCₒ²cos²φₒ/(norient/2), b = ΣPCₒ²sin²φₒ/(norient/2), c = ΣPCₒ²cosφₒ sinφₒ · κ,
      d = √(c² + (a−b)²) + ε, M = (a + b + d)/2, m = (a + b − d)/2.

    Flavour ``"liu"`` (``myphasecong3.m``, what Q_P uses): Sₒ = exp(−Δθ²/(2σθ²)) with σθ = π/norient/d_theta_on_sigma;
    noise power P = (median(A₁²)/ln 2)/ΣG₁ₒ², E[noise energy²] = 2PΣₓΣₛfₛ² + 4PΣₓΣ_{i<j}fᵢf_j with fₛ the real
    spatial filters (ifft2 ·√(HW)), τ = √(E/2), T = τ(√(π/2) + k√(2 − π/2))/1.7; width = ΣA/(max A + ε)/nscale;
    κ = 1/norient (the toolbox's, although its comment says 2/(norient/2)).
    Flavour ``"phasecong3"`` (Kovesi's ``phasecong3.m`` as in phasepack 1.5): Sₒ = (1 + cos(min(Δθ·norient/2, π)))/2
    (``d_theta_on_sigma`` unused); τ = median(A₁)/√(ln 4), τ_tot = τ(1 − mult⁻ⁿˢᶜᵃˡᵉ)/(1 − mult⁻¹),
    T = max(τ_tot(√(π/2) + k√((4 − π)/2)), ε); width = (ΣA/(max A + ε) − 1)/(nscale − 1); κ = 4/norient.
    phasecong3 returns no overall PC; the same PC₂ formula is used for it here.

    Medians are over every pixel of a plane, the mean of the two middle values for an even count, as MATLAB's. Where
    ΣₛAₛ ≤ 1e-10 (an exactly flat plane, whose spectrum is round-off) PCₒ is 0 instead of the toolkits' 0/0.
    Frequency grids follow the MATLAB code, including its odd-size quirks (see :func:`_centred_axis`, :func:`_lowpass`).

    Args:
        x: ``…×H×W`` real tensor (any scale; the metrics pass 0..255). Computed in float64.
        flavour: ``"liu"`` or ``"phasecong3"``.
        per_orientation: also return the per-orientation PCₒ maps.

    Returns:
        :class:`PhaseCongruency` (pc, max_moment, min_moment, per_orientation), float64.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown phase-congruency flavour {flavour!r}; use one of {FLAVOURS}")
    x = x.to(torch.float64)
    rows, cols = x.shape[-2:]
    if rows < 2 or cols < 2:
        raise ValueError(f"phase congruency needs at least 2×2 pixels; got {cols}×{rows}")
    radial, spread = _filter_bank(
        rows, cols, nscale, norient, min_wavelength, mult, sigma_onf, d_theta_on_sigma, flavour, x.dtype, x.device
    )
    spectrum = torch.view_as_real(torch.fft.fft2(x))  # …×H×W×2
    total_energy = torch.zeros_like(x)
    total_sum_an = torch.zeros_like(x)
    covx2 = torch.zeros_like(x)
    covy2 = torch.zeros_like(x)
    covxy = torch.zeros_like(x)
    per_orient = []
    # Scale by scale as the MATLAB code (its summation order over scales), which also keeps every temporary at one
    # plane stack: large enough allocations are otherwise mapped afresh (page faults) for each temporary.
    for o in range(norient):
        angl = o * math.pi / norient
        filt = radial * spread[o]  # nscale×H×W
        responses = []
        for s in range(nscale):
            eo = torch.view_as_real(torch.fft.ifft2(torch.view_as_complex(spectrum * filt[s, :, :, None])))
            even, odd = eo[..., 0], eo[..., 1]
            amp2 = torch.addcmul(even * even, odd, odd)
            amp = torch.sqrt(amp2)
            if s == 0:
                sum_e, sum_o, sum_an, max_an = even.clone(), odd.clone(), amp, amp
                noise_stat = amp2 if flavour == "liu" else amp
            else:
                sum_e += even
                sum_o += odd
                sum_an = sum_an + amp
                max_an = torch.maximum(max_an, amp)
            responses.append(eo)
        x_energy = torch.sqrt(torch.addcmul(sum_e * sum_e, sum_o, sum_o)) + _EPS
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        # Σₛ(eₛĒ + oₛŌ) = (Σeₛ)Ē + (Σoₛ)Ō (equal to round-off); the |eₛŌ − oₛĒ| terms need every scale
        energy = torch.addcmul(sum_e * mean_e, sum_o, mean_o)
        for eo in responses:
            energy -= torch.addcmul(eo[..., 0] * mean_o, eo[..., 1], mean_e, value=-1).abs_()
        del responses, eo, even, odd

        if flavour == "liu":
            noise_power = (_median(noise_stat) / math.log(2)) / (filt[0] ** 2).sum()
            sum_an2, sum_aiaj = _hermitian_part_sums(filt)
            tau = torch.sqrt((2 * noise_power * sum_an2 + 4 * noise_power * sum_aiaj) / 2)
            threshold = tau * (math.sqrt(math.pi / 2) + k * math.sqrt(2 - math.pi / 2)) / 1.7
            width = sum_an / (max_an + _EPS) / nscale
        else:
            tau = _median(noise_stat) / math.sqrt(math.log(4))
            total_tau = tau * (1 - (1 / mult) ** nscale) / (1 - 1 / mult)
            threshold = (total_tau * (math.sqrt(math.pi / 2) + k * math.sqrt((4 - math.pi) / 2))).clamp(min=_EPS)
            width = (sum_an / (max_an + _EPS) - 1) / (nscale - 1)
        energy = torch.clamp(energy - threshold[..., None, None], min=0)
        weight = 1.0 / (1.0 + torch.exp((cut_off - width) * g))
        weighted = weight * energy
        flat = sum_an <= _FLAT
        pc_o = torch.where(flat, 0.0, weighted / torch.where(flat, 1.0, sum_an))
        if per_orientation:
            per_orient.append(pc_o)
        total_energy += weighted
        total_sum_an += sum_an
        cx, cy = pc_o * math.cos(angl), pc_o * math.sin(angl)
        covx2 += cx * cx
        covy2 += cy * cy
        covxy += cx * cy

    pc = total_energy / (total_sum_an + _EPS)
    covx2 = covx2 / (norient / 2)
    covy2 = covy2 / (norient / 2)
    covxy = covxy / norient if flavour == "liu" else covxy * (4 / norient)
    denom = torch.sqrt(covxy * covxy + (covx2 - covy2) ** 2) + _EPS
    max_moment = (covy2 + covx2 + denom) / 2
    min_moment = (covy2 + covx2 - denom) / 2
    return PhaseCongruency(pc, max_moment, min_moment, torch.stack(per_orient, -3) if per_orientation else None)


def _masked_correlation(
    src1: Tensor, src2: Tensor, fused: Tensor, pc1: Tensor, pc2: Tensor, threshold: float, c: float
) -> Tensor:
    """``correlation_coeffcient`` of ``metricZhao.m`` for a stack of feature maps (…×K×H×W, K features).

    Source maps are zeroed outside their masks (pcᵢ > threshold; the 'max' map, taken from the source with the larger
    PC, outside pc_max > threshold); the fused map is not masked. With Gaussian 11/1.5 'same' (zero-padded) local
    statistics, ρᵢ = (σᵢF + C)/(√|σᵢ²σ_F²| + C) on mask i and 0 elsewhere; the score is Σ max(ρ₁, ρ₂, ρ_max)/|mask_max|.
    """
    first = pc1 > pc2
    mask1 = (pc1 > threshold).unsqueeze(-3)
    mask2 = (pc2 > threshold).unsqueeze(-3)
    mask3 = (torch.where(first, pc1, pc2) > threshold).unsqueeze(-3)
    src_max = torch.where(first.unsqueeze(-3), src1, src2)
    s1, s2, s3 = src1 * mask1, src2 * mask2, src_max * mask3
    stack = torch.stack(
        (s1, s2, s3, fused, s1 * s1, s2 * s2, s3 * s3, fused * fused, s1 * fused, s2 * fused, s3 * fused)
    )
    taps = gaussian_1d(11, 1.5, dtype=fused.dtype, device=fused.device)
    mu1, mu2, mu3, muf, e11, e22, e33, eff, e1f, e2f, e3f = separable_same(stack, taps)
    var_f = eff - muf * muf
    best: Tensor | None = None
    for mu, e_ss, e_sf, mask in ((mu1, e11, e1f, mask1), (mu2, e22, e2f, mask2), (mu3, e33, e3f, mask3)):
        var_s = e_ss - mu * mu
        cov = e_sf - mu * muf
        rho = torch.where(mask, (cov + c) / (torch.sqrt(torch.abs(var_s * var_f)) + c), 0.0)
        best = rho if best is None else torch.maximum(best, rho)
    count = mask3.sum((-2, -1))
    assert best is not None  # three sources always
    score = best.sum((-2, -1)) / count.clamp(min=1)
    return torch.where(count > 0, score, 1.0)


def q_zhao(
    fused: Tensor,
    ir: Tensor,
    vis: Tensor,
    *,
    threshold: float = 0.1,
    c: float = 1e-4,
    nscale: int = 4,
    norient: int = 6,
) -> Tensor:
    """Q_P (Zhao, Laganière & Liu, IJICIC 3(6A) 2007, pp. 1433–1447): phase-congruency feature preservation.

    Each image's phase congruency PC, maximum moment M and minimum moment m come from :func:`phase_congruency`
    (flavour ``"liu"``, i.e. ``myphasecong3``: nscale 4, norient 6, min wavelength 3, mult 2.1, σ_onf 0.55,
    dθ/σ 1.2, k 2, cut-off 0.5, g 10). For each feature X ∈ {PC, M, m} (LIU ``metricZhao.m``, used unchanged by MEFB):

    * masks: mask_A = [PC_A > 0.1], mask_B = [PC_B > 0.1], mask_max = [max(PC_A, PC_B) > 0.1]; X_max takes X of
      the source with the larger PC (B on ties);
    * ρ_S = (σ_{S,F} + C)/(√|σ_S²σ_F²| + C), C = 1e-4, from Gaussian 11/1.5 zero-padded 'same' local statistics of
      the masked source map mask_S·X_S and the (unmasked) fused map X_F, on mask_S and 0 elsewhere;
    * P_X = Σ_pixels max(ρ_A, ρ_B, ρ_max) / |mask_max|.

    Q_P = P_PC · P_M · P_m (LIU's exponents are all 1). Each ρ lies in (−1, 1], so |Q_P| ≤ 1; real images give
    (0, 1). Because the fused map is not masked, Q_P(F=A=B) is slightly below 1 wherever a mask boundary falls inside
    a window (LIU's arithmetic, kept). Where the fused map is locally constant, ρ = C/C = 1 whatever the source
    holds: a quirk of the formula, kept (it does not arise on real images, whose PC maps are never flat over a whole
    11×11 window of a feature pixel).

    Degenerate planes, where the toolbox gives NaN (0/0 in PCₒ on a flat plane): a flat plane's PC, M and m are
    taken as 0, ε/2 and −ε/2 (no feature); when neither source has a feature pixel, Q_P = 1 (nothing to preserve);
    a flat fused plane against sources with features scores 0 (the formula alone would give ≈ 1 there).
    Planes are scored separately and averaged over C. Raises InputError below 11×11 (the correlation window).
    """
    check_min_size(fused, 11, "Qp")
    stack = torch.stack((ir, vis, fused))  # 3×B×C×H×W
    feats = phase_congruency(stack, nscale=nscale, norient=norient, flavour="liu")
    pc = feats.pc
    maps = torch.stack((feats.pc, feats.max_moment, feats.min_moment), -3)  # 3×B×C×3×H×W
    p = _masked_correlation(maps[0], maps[1], maps[2], pc[0], pc[1], threshold, c)  # B×C×3
    q = p.prod(-1)
    # A flat fused plane: the toolbox's 0/0 (NaN) would otherwise become C/C = 1 in every window
    flat_f = fused.amax((-2, -1)) == fused.amin((-2, -1))
    featured = (torch.maximum(pc[0], pc[1]) > threshold).any(-1).any(-1)
    return torch.where(flat_f & featured, 0.0, q).mean(1)

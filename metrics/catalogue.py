"""The metric registry: every implemented metric with its metadata and per-convention options (metrics.md §3–4, §9)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

from ivifbench.metrics import fmi, gradient, information, perceptual, phase, statistics, structural, visual_fidelity
from ivifbench.metrics.csf_strips import TILINGS as CSF_TILINGS
from ivifbench.metrics.spec import MetricSpec
from ivifbench.metrics.strip_rules import TILINGS
from ivifbench.registry import Registry

INF = math.inf
ALL = ("canonical", "vifb", "tang", "tang-legacy", "cddfuse")

METRICS: Registry[MetricSpec] = Registry("metric", group="ivifbench.metrics")


def _same(*conventions: str, **options: Any) -> dict[str, dict[str, Any]]:
    return {c: dict(options) for c in conventions}


_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "EN",
        information.entropy,
        True,
        (0.0, 8.0),
        "Roberts, van Aardt & Ahmed, J. Appl. Remote Sens. 2008 (Shannon entropy)",
        "Tang toolkit entropy(uint8); VIFB; CDDFuse Evaluator.EN",
        {**_same("canonical", "tang", "tang-legacy", "cddfuse"), "vifb": {"bins": "floor"}},
        needs_sources=False,
    ),
    MetricSpec(
        "SD",
        statistics.standard_deviation,
        True,
        (0.0, 127.5),
        "Rao, Int. J. Remote Sens. 1997 (standard deviation)",
        "Tang toolkit SD (2023); VIFB 'Variance' (which is the SD); CDDFuse Evaluator.SD",
        {**_same("canonical", "vifb", "tang", "cddfuse"), "tang-legacy": {"uint8_saturating": True}},
        needs_sources=False,
        notes="population SD; tang-legacy emulates the pre-2023 uint8 saturation (SD ≈ 8–11)",
    ),
    MetricSpec(
        "SF",
        gradient.spatial_frequency,
        True,
        (0.0, INF),
        "Eskicioglu & Fisher, IEEE Trans. Commun. 1995",
        "Tang toolkit SF; CDDFuse Evaluator.SF; VIFB spatialFrequency (M×3N layout for colour)",
        {**_same("canonical", "tang", "cddfuse"), "vifb": {"variant": "vifb"}, "tang-legacy": {"scale": 1 / 255}},
        needs_sources=False,
    ),
    MetricSpec(
        "AG",
        gradient.average_gradient,
        True,
        (0.0, INF),
        "Cui et al., Opt. Commun. 2015 (average gradient)",
        "Tang toolkit AG and VIFB (MATLAB gradient, /(M−1)(N−1)); CDDFuse Evaluator.AG (/MN)",
        {**_same("canonical", "vifb", "tang", "tang-legacy"), "cddfuse": {"denominator": "MN"}},
        needs_sources=False,
    ),
    MetricSpec(
        "EI",
        gradient.edge_intensity,
        True,
        (0.0, INF),
        "Rajalingam & Priya, 2018 (edge intensity)",
        "VIFB edge intensity (Sobel, replicate borders)",
        _same("canonical", "vifb"),
        needs_sources=False,
    ),
    MetricSpec(
        "MI",
        information.mutual_information,
        True,
        (0.0, INF),
        "Qu, Zhang & Yan, Electron. Lett. 2002",
        "Tang toolkit MI/Hab.m (bits, 254/255 quirk); VIFB (nats, min-max binning); CDDFuse (sklearn, nats)",
        {
            "canonical": {},
            "vifb": {"base": math.e, "minmax": True},
            **_same("tang", "tang-legacy", tang_quirk=True),
            "cddfuse": {"base": math.e},
        },
    ),
    MetricSpec(
        "NMI",
        information.normalized_mutual_information,
        True,
        (0.0, 2.0),
        "Hossny, Nahavandi & Creighton, Electron. Lett. 2008",
        "LIU toolkit (normalize1 before binning)",
        _same("canonical"),
    ),
    MetricSpec(
        "CE",
        information.cross_entropy,
        False,
        (0.0, INF),
        "cross entropy (a KL divergence), as in VIFB",
        "VIFB cross entropy",
        _same("canonical", "vifb"),
    ),
    MetricSpec(
        "MSE",
        statistics.mse,
        False,
        (0.0, 255.0**2),
        "mean squared error to the sources, averaged",
        "Tang toolkit MSE ([0,1] scale); CDDFuse Evaluator.MSE (0–255)",
        {"canonical": {}, **_same("tang", "tang-legacy", scale=1 / 255**2), "cddfuse": {}},
    ),
    MetricSpec(
        "RMSE",
        statistics.rmse,
        False,
        (0.0, 255.0),
        "root mean squared error to the sources",
        "canonical √MSE; VIFB rmse (½Σ‖S−F‖₂/MN, kept for parity)",
        {"canonical": {}, "vifb": {"variant": "vifb"}},
    ),
    MetricSpec(
        "PSNR",
        statistics.psnr,
        True,
        (0.0, INF),
        "peak signal-to-noise ratio (Jagalingam & Hegde 2015)",
        "canonical 255²/MSE; Tang (+48.13 dB); CDDFuse (peak max F); VIFB (un-squared norm)",
        {
            "canonical": {},
            "vifb": {"variant": "vifb"},
            **_same("tang", "tang-legacy", variant="tang"),
            "cddfuse": {"variant": "cddfuse"},
        },
        notes="+inf when the fused image equals both sources",
    ),
    MetricSpec(
        "CC",
        statistics.correlation_coefficient,
        True,
        (-1.0, 1.0),
        "Pearson correlation coefficient (Deshmukh & Bhosale 2010)",
        "Tang toolkit CC; CDDFuse Evaluator.CC",
        {"canonical": {}, **_same("tang", "tang-legacy", "cddfuse", nan_on_flat=True)},
        notes="canonical scores a constant plane 0; the toolkits give NaN",
    ),
    MetricSpec(
        "SCD",
        statistics.scd,
        True,
        (-2.0, 2.0),
        "Aslantas & Bendes, AEU 2015 (sum of the correlations of differences)",
        "Tang toolkit SCD; CDDFuse Evaluator.SCD",
        {"canonical": {}, **_same("tang", "tang-legacy", "cddfuse", nan_on_flat=True)},
        notes="canonical scores a constant plane 0; the toolkits give NaN",
    ),
    MetricSpec(
        "VIF",
        visual_fidelity.vif,
        True,
        (0.0, INF),
        "Sheikh & Bovik, IEEE TIP 2006 (pixel-domain VIF), summed over the two sources",
        "vifp_mscale in Tang's toolkit; CDDFuse Evaluator.VIFF (compare_viff)",
        {
            "canonical": {},
            "tang": {"flat_value": None},
            "tang-legacy": {"saturate_uint8": True, "flat_value": None},
            "cddfuse": {"flat_value": 1.0},
        },
        notes="a source with no variance anywhere scores its term 1 (CDDFuse's NaN → 1); needs ≥17×17",
    ),
    MetricSpec(
        "Qabf",
        gradient.qabf,
        True,
        (0.0, 1.0),
        "Xydeas & Petrović, Electron. Lett. 2000",
        "the circulated Qabf.m (VIFB, Tang, CDDFuse: identical); gA==gF branch kept",
        {**_same("canonical", "vifb", "tang", "cddfuse"), "tang-legacy": {"scale": 1 / 255}},
    ),
    MetricSpec(
        "Nabf",
        gradient.nabf,
        False,
        (0.0, 1.0),
        "Shreyamsha Kumar, SIViP 2013 (modified Nabf)",
        "objective_fusion_perform_fn (Kumar; VIFB methods/CBF), NABF output",
        _same("canonical", variant="modified"),
        version=2,
    ),
    MetricSpec(
        "Nabf_petrovic",
        gradient.nabf,
        False,
        (0.0, 2.0),
        "Petrović & Xydeas, 2005 (fusion artefacts)",
        "objective_fusion_perform_fn (Kumar), NABF1 output",
        _same("canonical", variant="petrovic"),
        version=2,
    ),
    MetricSpec(
        "SSIM",
        structural.ssim,
        True,
        (-1.0, 1.0),
        "Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004",
        "Wang ssim_index (canonical: mean of the two; VIFB: sum); scikit-image 0.19 (CDDFuse: sum); MATLAB ssim (Tang)",
        {
            "canonical": {},
            "vifb": {"variant": "vifb"},
            **_same("tang", "tang-legacy", variant="tang"),
            "cddfuse": {"variant": "cddfuse"},
        },
        notes="vifb and cddfuse sum the two sources (range −2…2); cddfuse emulates scikit-image's float32 arithmetic; tang's variant is not checked against MATLAB",
    ),
    MetricSpec(
        "MS_SSIM",
        structural.ms_ssim,
        True,
        (0.0, 1.0),
        "Wang, Simoncelli & Bovik, Asilomar 2003 (multi-scale SSIM)",
        "Wang's msssim.m; negative cs clamped as pytorch_msssim; mean of the two sources",
        _same("canonical"),
        notes="needs ≥176×176",
    ),
    MetricSpec(
        "Qy",
        structural.q_yang,
        True,
        (-1.0, 1.0),
        "Yang, Zhang, Wang & Li, Inf. Fusion 2008",
        "LIU/MEFB metricYang (C = 2e-16, NaN pixels dropped as MEFB)",
        _same("canonical"),
    ),
    MetricSpec(
        "Qc",
        structural.q_cvejic,
        True,
        (0.0, 1.0),
        "Cvejic, Łoza, Bull & Canagarajah, Int. J. Signal Process. 2006",
        "LIU/MEFB metricCvejic",
        _same("canonical"),
    ),
    MetricSpec(
        "Qw",
        structural.q_piella_weighted,
        True,
        (-1.0, 1.0),
        "Piella & Heijmans, ICIP 2003 (weighted fusion quality index)",
        "LIU metricPeilla Q_W (not MEFB's gradient-image 'Qw')",
        _same("canonical"),
        version=2,
    ),
    MetricSpec(
        "Qcb",
        perceptual.q_chen_blum,
        True,
        (0.0, 1.0),
        "Chen & Blum, Image Vis. Comput. 2009",
        "VIFB/LIU metricChenBlum",
        {"canonical": {}, "vifb": {"drop_nan": False}},
        notes="canonical drops 0/0 pixels from the mean; VIFB keeps MATLAB's NaN",
    ),
    MetricSpec(
        "Qcv",
        perceptual.q_chen_varshney,
        False,
        (0.0, INF),
        "Chen & Varshney, Inf. Fusion 2007",
        "VIFB/LIU metricChen",
        _same("canonical", "vifb"),
    ),
    MetricSpec(
        "FMI_pixel",
        fmi.fmi,
        True,
        (0.0, 1.0),
        "Haghighat & Razian, AICT 2014 (Fast-FMI); Haghighat, Aghagolzadeh & Seyedarabi, Comput. Electr. Eng. 2011",
        "Haghighat's fmi.m (3×3 windows, Nelsen mixture of a Fréchet bound and independence, φ = c/ρ_bound), feature"
        " 'none'; re-written from fmi.m (copies in TANG and MEFB), not run against MATLAB",
        _same("canonical", feature="none"),
        notes="raw pixels (feature 'none'); TANG/MEFB's fmi.m defaults to 'edge', so their 'FMI_pixel' differs;"
        " no golden values exist: checked against a window-by-window transcription of fmi.m"
        " (tests/test_metrics_independent.py); single windows can exceed 1 (φ > 1 gives negative joint-pdf entries)",
        version=3,
    ),
    MetricSpec(
        "FMI_dct",
        fmi.fmi,
        True,
        (0.0, 1.0),
        "Haghighat & Razian, AICT 2014 (Fast-FMI)",
        "fmi.m with feature 'dct': dct2 of the whole image (= scipy dctn(norm='ortho')), then the 3×3 windows",
        _same("canonical", feature="dct"),
        notes="no golden values exist: checked against a window-by-window transcription of fmi.m"
        " (tests/test_metrics_independent.py)",
        version=3,
    ),
    MetricSpec(
        "FMI_w",
        fmi.fmi,
        True,
        (0.0, 1.0),
        "Haghighat & Razian, AICT 2014 (Fast-FMI)",
        "fmi.m with feature 'wavelet': one-level dwt2(x,'dmey') tiled [cA cH; cV cD] and re-ranged to [0, 1]"
        " (PyWavelets, 'symmetric')",
        _same("canonical", feature="wavelet"),
        notes="PyWavelets' dmey has 62 taps against MATLAB's 102 (pywt #261): cannot match MATLAB bit-for-bit;"
        " no golden values: checked against a transcription of fmi.m using the same PyWavelets wavelet"
        " (tests/test_metrics_independent.py)",
        version=3,
    ),
    MetricSpec(
        "VIFF",
        visual_fidelity.viff,
        True,
        (0.0, INF),
        "Han, Cai, Cao & Xu, Inf. Fusion 2013 (multi-resolution VIF for fusion)",
        "MEFB VIFF_Public.m as metrics.md §4 describes it (σ_n² = 0.005·255², min-g source, p = [1 0 .15 1]/2.15)",
        _same("canonical"),
        notes="VIFF_Public.m has no contrast-sensitivity pre-filter (none applied here); its sRGB→Lab L conversion of"
        " colour input is NOT applied (the convention's grey is used); no golden values exist: checked against a NumPy"
        " transcription of VIFF_Public.m (tests/test_metrics_independent.py); needs ≥65×65 (all four scales non-empty)",
    ),
    MetricSpec(
        "MEF_SSIM",
        structural.mef_ssim,
        True,
        (0.0, 1.0),
        "Ma, Zeng & Wang, IEEE TIP 2015 (MEF-SSIM), with {IR, VIS} as the exposure stack",
        "Ma's mef_ms_ssim.m/mef_ssim.m (MEFB copy): 11×11 uniform window for patch strength and consistency,"
        " Gaussian 11/1.5 window for the SSIM statistics, K = 0.03, 3 levels, w = [.0448 .2856 .3001]/Σ",
        _same("canonical"),
        notes="window statistics in closed form; negative level scores clamped to 0; no golden values exist: checked"
        " against a window-by-window transcription of mef_ssim.m (tests/test_metrics_independent.py); needs ≥44×44",
        version=2,
    ),
    MetricSpec(
        "Qp",
        phase.q_zhao,
        True,
        (-1.0, 1.0),
        "Zhao, Laganière & Liu, IJICIC 3(6A) 2007, pp. 1433–1447 (phase-congruency feature measurement)",
        "LIU metricZhao / MEFB (myphasecong3: nscale 4, norient 6, λ_min 3, mult 2.1, σ_onf .55, dθ/σ 1.2, k 2,"
        " cut-off .5, g 10; features thresholded at PC > 0.1; Gaussian 11/1.5 'same', C = 1e-4; P_pc·P_M·P_m)",
        _same("canonical"),
        notes="re-written from LIU's MATLAB (myphasecong3 is Kovesi's phasecong2 with an overall PC map, not"
        " phasecong3); the filter bank, energy and moments match phasepack 1.5 (Kovesi's phasecong3) to 3e-14 in that"
        " flavour, and LIU's differences match a NumPy transcription of myphasecong3 to 1e-12; no golden values exist."
        " Bound (−1, 1]; real images give (0, 1). The fused feature map is not masked (as LIU), so Qp(F=A=B) is"
        " slightly below 1. Flat planes (toolbox NaN): featureless sources → 1, a flat fused image → 0."
        " Needs ≥11×11; about 1.1 s per 480×640 image on one CPU thread (FFT-bound)",
    ),
)

# decimals a report shows; left out (None) where the magnitude depends on the convention (MSE: 0–255² or [0, 1])
_DECIMALS = {"EN": 3, "SD": 2, "SF": 2, "AG": 3, "EI": 2, "MI": 3, "NMI": 3, "CE": 3, "RMSE": 2, "PSNR": 2, "CC": 3,
             "SCD": 3, "VIF": 3, "Qabf": 3, "Nabf": 4, "Nabf_petrovic": 4, "SSIM": 3, "MS_SSIM": 3, "Qy": 3, "Qc": 3,
             "Qw": 3, "Qcb": 3, "Qcv": 1, "FMI_pixel": 3, "FMI_dct": 3, "FMI_w": 3, "VIFF": 3, "MEF_SSIM": 3,
             "Qp": 3}  # fmt: skip
_SPECS = tuple(
    dataclasses.replace(
        s, decimals=_DECIMALS.get(s.name, s.decimals), tiling={**TILINGS, **CSF_TILINGS}.get(s.name, s.tiling)
    )
    for s in _SPECS
)
ORDER: tuple[str, ...] = tuple(s.name for s in _SPECS)
"""The built-in metrics in presentation order (plugins follow, sorted)."""

for _s in _SPECS:
    METRICS.register(_s.name, _s)

METRICS_VERSION = hashlib.sha256(";".join(f"{s.name}={s.version}" for s in _SPECS).encode()).hexdigest()[:12]
"""The built-in metrics' versions in one string: a sweep's score units are keyed by it, so bumping any metric's
``version`` re-scores instead of reusing stored values.

History: version 2 (2026-11) of FMI_pixel/dct/w, MEF_SSIM, Nabf, Nabf_petrovic and Qw follows the original code
(fmi.m, mef_ssim.m, Kumar's and LIU's), as checked by tests/test_metrics_independent.py. Version 3 (2026-11) of the
FMI family decides constant (saturated) windows exactly (c = 0, term 0) instead of by round-off."""

NOT_IMPLEMENTED: dict[str, str] = {}
"""Metrics the field reports that this engine does not have yet, with the reason (asked for by name → clear error)."""

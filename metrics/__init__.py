"""Fusion-quality metrics (functional, batched, device-agnostic) and their conventions (``metrics.md``).

>>> from ivifbench.metrics import compute
>>> values = compute(fused, ir, vis, metrics="EN,MI,Qabf", convention="tang")  # B×C×H×W, raw 0..255

``METRICS`` holds every metric with its metadata, ``CONVENTIONS`` the toolkits whose numbers can be reproduced,
``score_folders`` scores folders of images into a long table, ``MetricAccumulator`` streams mean and std.

The names below load on first use (PEP 562): importing this package (or a command module) imports neither torch nor
pandas until a metric is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ivifbench import lazy

if TYPE_CHECKING:
    from ivifbench.metrics.accumulator import MetricAccumulator
    from ivifbench.metrics.catalogue import METRICS, METRICS_VERSION, NOT_IMPLEMENTED
    from ivifbench.metrics.conventions import CONVENTIONS, Convention
    from ivifbench.metrics.engine import compute, resolve_metrics
    from ivifbench.metrics.folders import score_folders
    from ivifbench.metrics.gradient import average_gradient, edge_intensity, nabf, qabf, spatial_frequency
    from ivifbench.metrics.information import cross_entropy, entropy, mutual_information, normalized_mutual_information
    from ivifbench.metrics.perceptual import q_chen_blum, q_chen_varshney
    from ivifbench.metrics.phase import PhaseCongruency, phase_congruency, q_zhao
    from ivifbench.metrics.spec import MetricSpec
    from ivifbench.metrics.statistics import correlation_coefficient, mse, psnr, rmse, scd, standard_deviation
    from ivifbench.metrics.structural import ms_ssim, q_cvejic, q_piella_weighted, q_yang, ssim
    from ivifbench.metrics.visual_fidelity import vif

_LAZY = {
    "MetricAccumulator": "ivifbench.metrics.accumulator",
    "METRICS": "ivifbench.metrics.catalogue",
    "METRICS_VERSION": "ivifbench.metrics.catalogue",
    "NOT_IMPLEMENTED": "ivifbench.metrics.catalogue",
    "CONVENTIONS": "ivifbench.metrics.conventions",
    "Convention": "ivifbench.metrics.conventions",
    "compute": "ivifbench.metrics.engine",
    "resolve_metrics": "ivifbench.metrics.engine",
    "score_folders": "ivifbench.metrics.folders",
    "average_gradient": "ivifbench.metrics.gradient",
    "edge_intensity": "ivifbench.metrics.gradient",
    "nabf": "ivifbench.metrics.gradient",
    "qabf": "ivifbench.metrics.gradient",
    "spatial_frequency": "ivifbench.metrics.gradient",
    "cross_entropy": "ivifbench.metrics.information",
    "entropy": "ivifbench.metrics.information",
    "mutual_information": "ivifbench.metrics.information",
    "normalized_mutual_information": "ivifbench.metrics.information",
    "q_chen_blum": "ivifbench.metrics.perceptual",
    "q_chen_varshney": "ivifbench.metrics.perceptual",
    "PhaseCongruency": "ivifbench.metrics.phase",
    "phase_congruency": "ivifbench.metrics.phase",
    "q_zhao": "ivifbench.metrics.phase",
    "MetricSpec": "ivifbench.metrics.spec",
    "correlation_coefficient": "ivifbench.metrics.statistics",
    "mse": "ivifbench.metrics.statistics",
    "psnr": "ivifbench.metrics.statistics",
    "rmse": "ivifbench.metrics.statistics",
    "scd": "ivifbench.metrics.statistics",
    "standard_deviation": "ivifbench.metrics.statistics",
    "ms_ssim": "ivifbench.metrics.structural",
    "q_cvejic": "ivifbench.metrics.structural",
    "q_piella_weighted": "ivifbench.metrics.structural",
    "q_yang": "ivifbench.metrics.structural",
    "ssim": "ivifbench.metrics.structural",
    "vif": "ivifbench.metrics.visual_fidelity",
}


def __getattr__(name: str) -> Any:
    return lazy.load(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CONVENTIONS",
    "METRICS",
    "METRICS_VERSION",
    "NOT_IMPLEMENTED",
    "Convention",
    "MetricAccumulator",
    "MetricSpec",
    "PhaseCongruency",
    "average_gradient",
    "compute",
    "correlation_coefficient",
    "cross_entropy",
    "edge_intensity",
    "entropy",
    "ms_ssim",
    "mse",
    "mutual_information",
    "nabf",
    "normalized_mutual_information",
    "phase_congruency",
    "psnr",
    "q_chen_blum",
    "q_chen_varshney",
    "q_cvejic",
    "q_piella_weighted",
    "q_yang",
    "q_zhao",
    "qabf",
    "resolve_metrics",
    "rmse",
    "scd",
    "score_folders",
    "spatial_frequency",
    "ssim",
    "standard_deviation",
    "vif",
]

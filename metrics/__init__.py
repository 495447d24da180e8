"""Fusion-quality metrics (functional, batched, device-agnostic) and their conventions (``metrics.md``).

>>> from ivifbench.metrics import compute
>>> values = compute(fused, ir, vis, metrics="EN,MI,Qabf", convention="tang")  # B×C×H×W, raw 0..255

``METRICS`` holds every metric with its metadata, ``CONVENTIONS`` the toolkits whose numbers can be reproduced,
``score_folders`` scores folders of images into a long table, ``MetricAccumulator`` streams mean and std.
"""

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
from ivifbench.metrics.vif import vif

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

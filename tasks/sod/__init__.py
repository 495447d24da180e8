"""Downstream salient object detection (VT5000 / VT821 / VT1000): SegFormer saliency network, pysodmetrics scores.

Importing this package is light; torch and mmseg load when a run starts.
"""

from ivifbench.tasks.sod.scoring import METRIC_DIRECTIONS, SOD_METRICS, SODScorer, score_arrays, score_folder
from ivifbench.tasks.sod.task import PROTOCOLS, RUN_OPTIONS, SODTask

__all__ = [
    "METRIC_DIRECTIONS",
    "PROTOCOLS",
    "RUN_OPTIONS",
    "SOD_METRICS",
    "SODScorer",
    "SODTask",
    "score_arrays",
    "score_folder",
]

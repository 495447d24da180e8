"""Datasets: native-layout readers, checks and synthetic replicas.

Readers are registered lazily (``"module:attr"``), so listing names imports nothing heavy. Get one with
``DATASETS.get("m3fd")(root)``; write a replica with ``DATASETS.get("m3fd").synthesize(out, pairs=8, seed=0)``.
"""

from ivifbench.datasets.base import DATASETS, CheckReport, DatasetReader, Pair

_READERS = {
    "tno": "ivifbench.datasets.fusion_sets:TNO",
    "roadscene": "ivifbench.datasets.fusion_sets:RoadScene",
    "vifb": "ivifbench.datasets.fusion_sets:VIFB",
    "kaist": "ivifbench.datasets.fusion_sets:KAIST",
    "flir": "ivifbench.datasets.fusion_sets:FLIRAligned",
    "msrs": "ivifbench.datasets.segmentation:MSRS",
    "fmb": "ivifbench.datasets.segmentation:FMB",
    "m3fd": "ivifbench.datasets.detection:M3FD",
    "llvip": "ivifbench.datasets.detection:LLVIP",
    "vt5000": "ivifbench.datasets.sod:VT5000",
    "vt821": "ivifbench.datasets.sod:VT821",
    "vt1000": "ivifbench.datasets.sod:VT1000",
}
for _name, _target in _READERS.items():
    if _name not in DATASETS:
        DATASETS.register(_name, _target)

__all__ = ["DATASETS", "CheckReport", "DatasetReader", "Pair"]

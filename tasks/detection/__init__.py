"""Downstream detection: ultralytics YOLO trained and evaluated on one method's fused M3FD or LLVIP images.

``DetectionTask`` (registered as ``detection``) runs the protocols; :mod:`.prepare` writes the YOLO dataset,
:mod:`.boxes` converts VOC boxes exactly, :mod:`.engine` drives ultralytics and :mod:`.offline` keeps it off the
network. Importing this package does not import ultralytics or torch.
"""

from ivifbench.tasks.detection.boxes import YoloBox, voc_to_yolo, yolo_to_voc
from ivifbench.tasks.detection.task import PROTOCOLS, RUN_OPTIONS, DetectionTask

__all__ = ["PROTOCOLS", "RUN_OPTIONS", "DetectionTask", "YoloBox", "voc_to_yolo", "yolo_to_voc"]

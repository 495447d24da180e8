"""VOC ↔ YOLO box conversion: exact on the real M3FD and LLVIP annotations, and on every integer box of small images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivifbench.datasets.labels import read_voc_xml
from ivifbench.errors import InputError
from ivifbench.tasks.detection.boxes import YoloBox, clip_voc, voc_to_yolo, yolo_to_voc

REAL = [("m3fd", "m3fd/M3FD_Detection/Annotation", 10, 106), ("llvip", "llvip/LLVIP/Annotations", 6, None)]


@pytest.mark.parametrize(("name", "folder", "files", "boxes"), REAL, ids=[r[0] for r in REAL])
def test_round_trip_real_annotations(shared_data: Path, name: str, folder: str, files: int, boxes: int | None) -> None:
    xmls = sorted((shared_data / folder).glob("*.xml"))
    assert len(xmls) == files
    n = 0
    for xml in xmls:
        ann = read_voc_xml(xml)
        for o in ann.objects:
            yb = YoloBox(0, *voc_to_yolo(o.xmin, o.ymin, o.xmax, o.ymax, ann.width, ann.height))
            assert all(0.0 <= v <= 1.0 for v in (yb.cx, yb.cy, yb.w, yb.h)), (xml, o)
            back = YoloBox.parse(yb.line())  # through the label-file text, as ultralytics reads it
            assert yolo_to_voc(back.cx, back.cy, back.w, back.h, ann.width, ann.height) == (
                o.xmin,
                o.ymin,
                o.xmax,
                o.ymax,
            ), (xml, o)
            n += 1
    assert n > 0 and (boxes is None or n == boxes)


def test_known_values() -> None:
    assert voc_to_yolo(1, 1, 640, 480, 640, 480) == (0.5, 0.5, 1.0, 1.0)  # the whole image
    assert voc_to_yolo(1, 1, 10, 20, 100, 200) == (0.05, 0.05, 0.1, 0.1)  # first 10×20 pixels
    assert voc_to_yolo(5, 5, 5, 5, 10, 10) == (0.45, 0.45, 0.1, 0.1)  # one pixel
    assert YoloBox(2, 0.5, 0.25, 0.125, 1.0).line() == "2 0.5000000000 0.2500000000 0.1250000000 1.0000000000"
    with pytest.raises(InputError):
        voc_to_yolo(1, 1, 2, 2, 0, 10)
    with pytest.raises(InputError, match="5 fields"):
        YoloBox.parse("0 0.5 0.5")


def test_round_trip_every_box_of_odd_sizes() -> None:
    rng = np.random.default_rng(0)
    for width, height in ((1, 1), (7, 5), (1024, 768), (1280, 1024), (4093, 3001)):
        for _ in range(500):
            x0, x1 = sorted(int(v) for v in rng.integers(1, width + 1, 2))
            y0, y1 = sorted(int(v) for v in rng.integers(1, height + 1, 2))
            yb = YoloBox.parse(YoloBox(0, *voc_to_yolo(x0, y0, x1, y1, width, height)).line())
            assert yolo_to_voc(yb.cx, yb.cy, yb.w, yb.h, width, height) == (x0, y0, x1, y1)


def test_clip() -> None:
    assert clip_voc(1, 1, 10, 10, 10, 10) == ((1.0, 1.0, 10.0, 10.0), False)
    assert clip_voc(0, 1, 11, 10, 10, 10) == ((1.0, 1.0, 10.0, 10.0), True)
    assert clip_voc(12, 1, 15, 10, 10, 10) == (None, True)  # wholly outside
    assert clip_voc(5, 5, 3, 8, 10, 10) == (None, True)  # inverted

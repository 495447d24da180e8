"""Label file I/O: VOC XML (round trip on the real M3FD and LLVIP files), label maps and masks, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivifbench.datasets.labels import (
    VocAnnotation,
    VocObject,
    box_problems,
    read_label_map,
    read_mask,
    read_voc_xml,
    write_label_map,
    write_mask,
    write_voc_xml,
)
from ivifbench.errors import InputError


def _real_xml(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "m3fd/M3FD_Detection/Annotation").glob("*.xml"))
    files += sorted((shared_data / "llvip/LLVIP/Annotations").glob("*.xml"))
    if len(files) < 16:
        pytest.skip("real M3FD/LLVIP annotations not found in ../shared/data")
    return files


def test_voc_round_trip_on_real_annotations(shared_data: Path, tmp_path: Path) -> None:
    for path in _real_xml(shared_data):
        ann = read_voc_xml(path)
        assert ann.objects, path
        again = read_voc_xml(write_voc_xml(tmp_path / path.name, ann))
        assert again == ann, path


def test_voc_values_as_written(shared_data: Path) -> None:
    _real_xml(shared_data)
    m3fd = read_voc_xml(shared_data / "m3fd/M3FD_Detection/Annotation/00000.xml")
    assert (m3fd.filename, m3fd.width, m3fd.height) == ("00000.png", 1024, 768)
    assert m3fd.objects[0] == VocObject("People", 46, 372, 82, 478, 0)
    assert {o.name for o in m3fd.objects} == {"People", "Car"}
    assert isinstance(m3fd.objects[0].xmin, int)
    llvip = read_voc_xml(shared_data / "llvip/LLVIP/Annotations/190001.xml")
    assert (llvip.width, llvip.height, llvip.depth) == (1280, 1024, 1)
    assert llvip.objects[1] == VocObject("person", 1204, 304, 1280, 531, difficult=0, truncated=1)
    assert box_problems(llvip, ["person"], 1280, 1024) == []


def test_voc_float_corners_kept(tmp_path: Path) -> None:
    ann = VocAnnotation("a.png", 10, 8, [VocObject("car", 1.5, 2, 9.25, 8.0, difficult=1)])
    back = read_voc_xml(write_voc_xml(tmp_path / "a.xml", ann))
    assert back == ann
    assert isinstance(back.objects[0].xmin, float) and isinstance(back.objects[0].ymin, int)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("<annotation><size><width>4</width>", "not well-formed"),
        ("<notvoc/>", "not a VOC"),
        ("<annotation><filename>a</filename></annotation>", "no <size>"),
        (
            "<annotation><size><width>4</width><height>4</height></size><object><name>a</name></object></annotation>",
            "no <bndbox>",
        ),
        (
            "<annotation><size><width>4</width><height>4</height></size><object><name>a</name><bndbox>"
            "<xmin>x</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
            "not a number",
        ),
    ],
)
def test_voc_bad_files(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(InputError, match=needle) as err:
        read_voc_xml(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_voc_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such annotation"):
        read_voc_xml(tmp_path / "nope.xml")


def test_box_problems() -> None:
    ann = VocAnnotation(
        "a.png", 10, 8, [VocObject("car", 0, 1, 5, 5), VocObject("dog", 1, 1, 10, 8), VocObject("car", 5, 1, 4, 3)]
    )
    problems = box_problems(ann, ["car"], 10, 8)
    assert any("object 1" in p and "outside" in p for p in problems)
    assert any("'dog'" in p for p in problems)
    assert any("object 3" in p and "inverted" in p for p in problems)
    assert any("<size>" in p for p in box_problems(ann, ["car", "dog"], 12, 8))


def test_label_map_grey_palette_16bit(tmp_path: Path) -> None:
    ids = np.arange(12, dtype=np.int64).reshape(3, 4) % 9
    grey = write_label_map(tmp_path / "g.png", ids)
    assert read_label_map(grey).dtype == np.int64
    assert np.array_equal(read_label_map(grey), ids)
    pal = write_label_map(tmp_path / "p.png", ids, palette=[(i * 20, 255 - i * 20, 7) for i in range(9)])
    assert Image.open(pal).mode == "P"
    assert np.array_equal(read_label_map(pal), ids)  # palette indices, not colours
    big = (ids * 1000).astype(np.uint16)
    Image.fromarray(big).save(tmp_path / "w.png")
    assert np.array_equal(read_label_map(tmp_path / "w.png"), big.astype(np.int64))  # never scaled


def test_label_map_rgb(tmp_path: Path) -> None:
    palette = [(0, 0, 0), (64, 0, 128), (64, 64, 0)]
    ids = np.array([[0, 1], [2, 1]])
    rgb = np.array([[palette[i] for i in row] for row in ids], dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(InputError, match="RGB colour label"):
        read_label_map(tmp_path / "c.png")
    assert np.array_equal(read_label_map(tmp_path / "c.png", palette), ids)
    assert np.array_equal(
        read_label_map(tmp_path / "c.png", {0: (0, 0, 0), 1: (64, 0, 128), 7: (64, 64, 0)}), [[0, 1], [7, 1]]
    )
    with pytest.raises(InputError, match="not in the palette"):
        read_label_map(tmp_path / "c.png", palette[:2])
    grey_rgb = np.repeat(ids.astype(np.uint8)[..., None], 3, -1)
    Image.fromarray(grey_rgb).save(tmp_path / "gr.png")
    assert np.array_equal(read_label_map(tmp_path / "gr.png"), ids)


def test_label_map_bad_files(tmp_path: Path) -> None:
    write_label_map(tmp_path / "g.png", np.zeros((40, 40), np.int64))
    data = (tmp_path / "g.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_label_map(tmp_path / "t.png")
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InputError, match="not an integer label"):
        read_label_map(tmp_path / "f.tif")
    with pytest.raises(InputError, match="no such label"):
        read_label_map(tmp_path / "missing.png")


def test_mask(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 127, 128, 255]], np.uint8)).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == [[False, False, True, True]]
    Image.fromarray(np.array([[0, 32767, 32768, 65535]], np.uint16)).save(tmp_path / "m16.png")
    assert read_mask(tmp_path / "m16.png").tolist() == [[False, False, True, True]]
    Image.fromarray(np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)).save(tmp_path / "rgb.png")
    assert read_mask(tmp_path / "rgb.png").tolist() == [[False, True]]
    m = np.eye(5, dtype=bool)
    assert np.array_equal(read_mask(write_mask(tmp_path / "w.png", m)), m)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="unreadable"):
        read_mask(tmp_path / "bad.png")

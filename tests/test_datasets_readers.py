"""Native-layout readers: the real samples in ../shared/data, every replica, and every planted problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivifbench.datasets import DATASETS, Pair, open_dataset
from ivifbench.datasets.detection import M3FD
from ivifbench.datasets.labels import VocObject, read_voc_xml, write_voc_xml
from ivifbench.errors import InputError
from ivifbench.imageio import read_image

SMALL = (128, 96)
ALL = ("flir", "fmb", "kaist", "llvip", "m3fd", "msrs", "roadscene", "tno", "vifb", "vt1000", "vt5000", "vt821")

# (dataset, folder under ../shared/data, pairs per split, labels per split)
REAL = [
    ("m3fd", "m3fd", {"all": 10}, {"all": 10}),
    ("llvip", "llvip", {"train": 1, "test": 5}, {"train": 1, "test": 5}),
    ("msrs", "msrs", {"train": 8, "test": 3}, {"train": 0, "test": 0}),
    ("tno", "tno", {"all": 42}, {"all": 0}),
    ("roadscene", "roadscene", {"all": 30}, {"all": 0}),
    ("vifb", "vifb", {"all": 21}, {"all": 0}),
]


def test_registry_lists_every_layout() -> None:
    assert tuple(DATASETS.names()) == ALL
    for name in ALL:
        cls = DATASETS.get(name)
        assert cls.name == name and cls.splits and cls.description and "fusion" in cls.tasks
    assert DATASETS.get("m3fd").classes == ("People", "Car", "Bus", "Motorcycle", "Lamp", "Truck")
    assert len(DATASETS.get("msrs").classes) == 9 and len(DATASETS.get("fmb").classes) == 15


@pytest.mark.parametrize(("name", "folder", "counts", "labels"), REAL, ids=[r[0] for r in REAL])
def test_real_sample(shared_data: Path, name: str, folder: str, counts: dict, labels: dict) -> None:
    if not (shared_data / folder).is_dir():
        pytest.skip(f"no {folder} sample")
    reader = DATASETS.get(name)(shared_data / folder)
    report = reader.check()
    assert report.problems == [] and report.ok
    assert report.counts == counts and report.labels == labels
    pairs = reader.pairs()
    assert len(pairs) == sum(counts.values())
    assert all((isinstance(p, Pair) and p.ir.stem == p.id) or name == "m3fd" for p in pairs)
    assert [p.id for p in pairs if p.split == pairs[0].split] == sorted(
        p.id for p in pairs if p.split == pairs[0].split
    )
    assert all((p.label is not None) == bool(labels[p.split]) for p in pairs)


def test_real_msrs_notes_missing_labels(shared_data: Path) -> None:
    if not (shared_data / "msrs").is_dir():
        pytest.skip("no msrs sample")
    report = DATASETS.get("msrs")(shared_data / "msrs").check()
    assert len(report.notes) == 2 and all("Segmentation_labels" in n for n in report.notes)


def test_real_m3fd_root_forms_and_split_file(shared_data: Path, tmp_path: Path) -> None:
    if not (shared_data / "m3fd").is_dir():
        pytest.skip("no m3fd sample")
    inner = M3FD(shared_data / "m3fd/M3FD_Detection")
    assert [p.id for p in inner.pairs()] == [p.id for p in M3FD(shared_data / "m3fd").pairs()]
    (tmp_path / "val.txt").write_text("# val\nVis/00471.png\n00000\n")
    reader = M3FD(shared_data / "m3fd", split_files={"val": tmp_path / "val.txt"})
    assert reader.splits == ("all", "val")
    assert [p.id for p in reader.pairs("val")] == ["00000", "00471"]
    assert all(p.split == "val" and p.label is not None for p in reader.pairs("val"))


def test_m3fd_split_file_problems(tmp_path: Path) -> None:
    root = DATASETS.get("m3fd").synthesize(tmp_path / "m", pairs=2, size=SMALL)
    (tmp_path / "bad.txt").write_text("00001\n99999\n")
    bad = M3FD(root, split_files={"train": tmp_path / "bad.txt"})
    with pytest.raises(InputError, match="99999"):
        bad.pairs("train")
    report = bad.check()
    assert report.counts == {"all": 2, "train": 1}
    assert len(report.problems) == 1 and "99999" in report.problems[0]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(InputError, match="lists no ids"):
        M3FD(root, split_files={"val": tmp_path / "empty.txt"})


def test_unknown_split_and_wrong_root(tmp_path: Path) -> None:
    root = DATASETS.get("llvip").synthesize(tmp_path / "l", pairs=2, size=SMALL)
    with pytest.raises(InputError, match="no split 'val'"):
        DATASETS.get("llvip")(root).pairs("val")
    with pytest.raises(InputError, match="not a m3fd root"):
        DATASETS.get("m3fd")(root)
    with pytest.raises(InputError, match="not found"):
        DATASETS.get("tno")(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ALL)
def test_replica_reads_and_checks(tmp_path: Path, name: str) -> None:
    cls = DATASETS.get(name)
    root = cls.synthesize(tmp_path / name, pairs=5, seed=3, size=SMALL)
    reader = cls(root)
    report = reader.check()
    assert report.problems == [] and report.ok, report.problems
    assert sum(report.counts.values()) == 5 and all(report.counts[s] >= 1 for s in cls.splits)
    pairs = reader.pairs()
    assert len(pairs) == 5 and len({p.id for p in pairs}) == 5
    ir, vis = read_image(pairs[0].ir, "ir"), read_image(pairs[0].vis, "vis")
    assert ir.size == vis.size == (SMALL[1], SMALL[0])
    if getattr(cls, "label_kind", None):
        assert report.labels == report.counts and all(p.label is not None and p.label.is_file() for p in pairs)
    else:
        assert all(p.label is None for p in pairs)


# ----------------------------------------------------------------------------------------------- planted problems
@pytest.fixture
def m3fd_root(tmp_path: Path) -> Path:
    return DATASETS.get("m3fd").synthesize(tmp_path / "m3fd", pairs=4, seed=1, size=SMALL) / "M3FD_Detection"


def _problems(name: str, root: Path) -> list[str]:
    return DATASETS.get(name)(root).check().problems


def test_missing_partner(m3fd_root: Path) -> None:
    (m3fd_root / "Vis/00001.png").unlink()
    problems = _problems("m3fd", m3fd_root)
    assert len(problems) == 1 and "Ir/00001.png" in problems[0] and "no visible partner" in problems[0]
    with pytest.raises(InputError, match=r"00001\.png.*datasets check"):
        M3FD(m3fd_root).pairs()


def test_size_mismatch(m3fd_root: Path) -> None:
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(m3fd_root / "Vis/00002.png")
    problems = _problems("m3fd", m3fd_root)
    assert any("Vis/00002.png" in p and "128×96" in p and "60×50" in p for p in problems)


def test_truncated_image(m3fd_root: Path) -> None:
    path = m3fd_root / "Ir/00003.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    problems = _problems("m3fd", m3fd_root)
    assert len(problems) == 1 and "Ir/00003.png" in problems[0] and "truncated" in problems[0]


def test_truncated_jpeg(tmp_path: Path) -> None:
    root = DATASETS.get("llvip").synthesize(tmp_path / "l", pairs=2, size=SMALL) / "LLVIP"
    path = root / "visible/train/010001.jpg"
    path.write_bytes(path.read_bytes()[:600])
    problems = _problems("llvip", root)
    assert len(problems) == 1 and "010001.jpg" in problems[0] and "truncated" in problems[0]


def test_16bit_ir_is_read(m3fd_root: Path) -> None:
    ir8 = np.asarray(Image.open(m3fd_root / "Ir/00000.png").convert("L"))
    Image.fromarray(ir8.astype(np.uint16) * 257).save(m3fd_root / "Ir/00000.png")
    assert _problems("m3fd", m3fd_root) == []
    loaded = read_image(M3FD(m3fd_root).pairs()[0].ir, "ir")
    assert loaded.bit_depth == 16
    assert np.allclose(loaded.pixels[..., 0], ir8 / 255.0, atol=1e-6)


def test_corrupt_xml_unknown_class_and_box_outside(m3fd_root: Path) -> None:
    (m3fd_root / "Annotation/00000.xml").write_text("<annotation><size><width>")
    ann = read_voc_xml(m3fd_root / "Annotation/00001.xml")
    objects = [VocObject("Dog", 1, 1, 5, 5), VocObject("Car", 100, 50, 129, 97), *ann.objects]
    write_voc_xml(m3fd_root / "Annotation/00001.xml", ann.__class__(ann.filename, ann.width, ann.height, objects))
    problems = _problems("m3fd", m3fd_root)
    assert any("00000.xml" in p and "not well-formed" in p for p in problems)
    assert any("00001.xml" in p and "'Dog'" in p for p in problems)
    assert any("00001.xml" in p and "outside" in p for p in problems)
    assert len(problems) == 3


def test_missing_and_orphan_labels(m3fd_root: Path) -> None:
    (m3fd_root / "Annotation/00002.xml").rename(m3fd_root / "Annotation/09999.xml")
    problems = _problems("m3fd", m3fd_root)
    assert any("00002.xml" in p and "missing label" in p for p in problems)
    assert any("09999.xml" in p and "without an image" in p for p in problems)


def test_duplicate_stem(m3fd_root: Path) -> None:
    Image.open(m3fd_root / "Ir/00000.png").save(m3fd_root / "Ir/00000.jpg")
    problems = _problems("m3fd", m3fd_root)
    assert any("stem '00000'" in p for p in problems)


def test_segmentation_label_problems(tmp_path: Path) -> None:
    root = DATASETS.get("msrs").synthesize(tmp_path / "msrs", pairs=4, size=SMALL)
    labels = sorted((root / "train/Segmentation_labels").glob("*.png"))
    bad = np.asarray(Image.open(labels[0])).copy()
    bad[0, 0] = 9
    bad[0, 1] = 255  # the ignore value is allowed
    Image.fromarray(bad).save(labels[0])
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(labels[1])
    problems = _problems("msrs", root)
    assert any(labels[0].name in p and "ids 9 outside" in p for p in problems)
    assert any(labels[1].name in p and "10×10" in p for p in problems)
    assert len(problems) == 2
    colour = np.zeros((SMALL[1], SMALL[0], 3), np.uint8)
    colour[..., 0] = 64
    colour[..., 2] = 128  # 'car' in the MSRS palette: accepted as an RGB label with the dataset's palette
    Image.fromarray(colour).save(labels[1])
    assert len(_problems("msrs", root)) == 1


def test_sod_mask_problems(tmp_path: Path) -> None:
    root = DATASETS.get("vt821").synthesize(tmp_path / "vt", pairs=3, size=SMALL) / "VT821"
    Image.fromarray(np.asarray(Image.open(root / "GT/1.png")) // 255).save(root / "GT/1.png")  # 0/1 mask
    (root / "GT/2.png").unlink()
    problems = _problems("vt821", root)
    assert any("GT/1.png" in p and "0/255" in p for p in problems)
    assert any("GT/2.png" in p and "missing label" in p for p in problems)


def test_kaist_and_flir_problems(tmp_path: Path) -> None:
    kaist = DATASETS.get("kaist").synthesize(tmp_path / "k", pairs=4, size=SMALL)
    assert [p.id for p in DATASETS.get("kaist")(kaist).pairs("test")] == ["set06_V000_I00000"]
    (kaist / "set00/V000/visible/I00001.jpg").unlink()
    assert any("lwir/I00001.jpg" in p for p in _problems("kaist", kaist))
    flir = DATASETS.get("flir").synthesize(tmp_path / "f", pairs=4, size=SMALL)
    reader = DATASETS.get("flir")(flir)
    assert [p.id for p in reader.pairs("validation")] == ["FLIR_00004"]
    (flir / "align/JPEGImages/FLIR_00001_RGB.jpg").unlink()
    assert any("FLIR_00001_RGB.jpg" in p for p in _problems("flir", flir))
    (flir / "align/align_validation.txt").unlink()
    assert any("align_validation.txt" in p for p in _problems("flir", flir))


def test_fusion_only_m3fd_and_shared_annotation_folder(tmp_path: Path) -> None:
    root = DATASETS.get("m3fd").synthesize(tmp_path / "m", pairs=2, size=SMALL) / "M3FD_Detection"
    for xml in (root / "Annotation").iterdir():
        xml.unlink()
    (root / "Annotation").rmdir()  # as M3FD_Fusion: Ir/ and Vis/ only
    report = open_dataset("m3fd", root).check()
    assert report.ok and report.labels == {"all": 0} and "fusion only" in report.notes[0]
    assert all(p.label is None for p in open_dataset("m3fd", root).pairs())
    llvip = DATASETS.get("llvip").synthesize(tmp_path / "l", pairs=2, size=SMALL) / "LLVIP"
    for xml in (llvip / "Annotations").iterdir():
        xml.unlink()
    (llvip / "Annotations").rmdir()
    problems = open_dataset("llvip", llvip).check().problems
    assert len(problems) == 1 and "Annotations/: missing label folder" in problems[0]

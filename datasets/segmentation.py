"""Segmentation datasets with integer label maps: MSRS (9 classes) and FMB (15 classes)."""

from __future__ import annotations

from typing import ClassVar

from ivifbench.datasets.folder_pairs import FolderPairReader, SplitDirs
from ivifbench.datasets.synth import Preset, Scene


class MSRS(FolderPairReader):
    """MSRS (Tang et al., PIAFusion 2022): 1444 aligned 640×480 pairs (1083 train / 361 test), MFNet's 9 classes.

    Layout: ``{train,test}/{ir,vi,Segmentation_labels}/<id>.png`` (ids end in D for day, N for night). Labels are
    8-bit grey PNGs of class ids 0..8: unlabelled, car, person, bike, curve, car_stop, guardrail, color_cone, bump.
    Class 0 ("unlabelled") is a real class, scored as SeAFusion and later IVIF papers do; 255 is accepted as
    mmseg's ignore value (MSRS itself has none). Labels are optional: a split without ``Segmentation_labels`` is
    fusion-only, and ``check`` says so in its notes.
    """

    name = "msrs"
    synth_pairs = 48  # the msrs quick-protocol reference replica (see the task's README)
    description = "MSRS: 1444 road-scene IR/visible pairs (train/test), 9-class segmentation labels"
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    tasks = ("fusion", "segmentation")
    classes = ("unlabelled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")
    palette = (
        (0, 0, 0),
        (64, 0, 128),
        (64, 64, 0),
        (0, 128, 192),
        (0, 0, 192),
        (128, 128, 0),
        (64, 64, 128),
        (192, 128, 128),
        (192, 64, 0),
    )
    ignore_index = 255
    layout: ClassVar[dict[str, SplitDirs]] = {
        s: SplitDirs(f"{s}/ir", f"{s}/vi", f"{s}/Segmentation_labels") for s in ("train", "test")
    }
    label_kind = "seg"
    labels_optional = True
    synth_shares: ClassVar[dict[str, float]] = {"train": 0.75, "test": 0.25}
    preset = Preset(
        {1: "car", 2: "person", 3: "bicycle", 4: "curb", 5: "car_stop", 6: "guardrail", 7: "cone", 8: "bump"},
        all_things=True,
        overlap=True,
        objects=(0, 2),
        night=0.5,
    )

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """MSRS names: a 5-digit number and D (day) or N (night), as the scene was drawn."""
        return f"{index + 1:05d}{'N' if scene.night else 'D'}"


class FMB(FolderPairReader):
    """FMB (Liu et al., SegMiF, ICCV 2023): 1500 aligned 800×600 pairs (1220 train / 280 test), 15 classes.

    Layout (from third-party loaders; no sample was found): ``{train,test}/{Infrared,Visible,Label}/<id>.png``, plus a
    ``color/`` visualisation folder that the reader ignores and the replica does not write. Labels are 8-bit grey
    class ids. The class order is ASSUMED (from a third-party loader; no official class list was found):
    background, Road, Sidewalk, Building, Lamp, Sign, Vegetation, Sky, Person, Car, Truck, Bus, Motorcycle, Bicycle,
    Pole. 255 is accepted as the ignore value (mmseg's default); class 0 (background) is a scored class.
    """

    name = "fmb"
    synth_pairs = 48  # the fmb quick-protocol reference replica (see the task's README)
    description = "FMB: 1500 IR/visible pairs (train/test), 15-class segmentation labels (class order assumed)"
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    tasks = ("fusion", "segmentation")
    classes = (
        "background",
        "Road",
        "Sidewalk",
        "Building",
        "Lamp",
        "Sign",
        "Vegetation",
        "Sky",
        "Person",
        "Car",
        "Truck",
        "Bus",
        "Motorcycle",
        "Bicycle",
        "Pole",
    )
    class_order_assumed = True
    # FMB: no official colour table was found; background black, then the 14 colours a third-party FMB loader uses
    # (ASSUMED, for visualisation only: scoring never uses colours).
    palette = (
        (0, 0, 0),
        (228, 228, 179),
        (133, 57, 181),
        (177, 162, 67),
        (50, 178, 200),
        (199, 45, 132),
        (84, 172, 66),
        (79, 73, 179),
        (166, 99, 76),
        (253, 121, 66),
        (91, 165, 137),
        (152, 97, 155),
        (140, 153, 105),
        (158, 215, 222),
        (90, 113, 135),
    )
    ignore_index = 255
    layout: ClassVar[dict[str, SplitDirs]] = {
        s: SplitDirs(f"{s}/Infrared", f"{s}/Visible", f"{s}/Label") for s in ("train", "test")
    }
    label_kind = "seg"
    synth_shares: ClassVar[dict[str, float]] = {"train": 0.75, "test": 0.25}
    preset = Preset(
        {
            4: "lamp",
            5: "sign",
            8: "person",
            9: "car",
            10: "truck",
            11: "bus",
            12: "motorcycle",
            13: "bicycle",
            14: "pole",
        },
        stuff={"road": 1, "sidewalk": 2, "building": 3, "vegetation": 6, "sky": 7},
        all_things=True,
        overlap=True,
        objects=(0, 2),
        night=0.35,
    )

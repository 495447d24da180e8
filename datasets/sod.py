"""RGB-T salient object detection datasets with binary GT masks: VT5000, VT821, VT1000."""

from __future__ import annotations

from typing import ClassVar

from ivifbench.datasets.folder_pairs import FolderPairReader, SplitDirs
from ivifbench.datasets.synth import Preset, Scene

_SOD_PRESET = Preset({1: "blob"}, salient=True, night=0.25)


class _SOD(FolderPairReader):
    tasks = ("fusion", "sod")
    classes = ("background", "salient")
    label_kind = "mask"
    ir_ext = ".jpg"
    vis_ext = ".jpg"
    ir_stored_rgb = True  # thermal images are released as 3-channel JPEGs
    preset = _SOD_PRESET

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """Plain numbers, as the releases name their files."""
        return str(index + 1)


class VT5000(_SOD):
    """VT5000 (Tu et al., 2022): 5000 aligned RGB-T pairs (2500 train / 2500 test) with binary GT masks.

    Layout: ``VT5000/{Train,Test}/{RGB,T,GT}/<id>`` (RGB and T ``.jpg``, GT ``.png`` 0/255; the root may be ``VT5000``
    itself or the folder holding it). ``T`` is the IR image, ``RGB`` the visible one.
    """

    name = "vt5000"
    synth_pairs = 200  # the vt5000 quick-protocol reference replica (see the task's README)
    description = "VT5000: 5000 RGB-T pairs (Train/Test) with salient-object GT masks"
    splits: ClassVar[tuple[str, ...]] = ("Train", "Test")
    native_dirname = "VT5000"
    layout: ClassVar[dict[str, SplitDirs]] = {s: SplitDirs(f"{s}/T", f"{s}/RGB", f"{s}/GT") for s in ("Train", "Test")}
    synth_shares: ClassVar[dict[str, float]] = {"Train": 0.75, "Test": 0.25}


class VT821(_SOD):
    """VT821 (Wang et al., 2018): 821 RGB-T pairs with GT masks, one split (a test set).

    Layout: ``VT821/{RGB,T,GT}/<id>`` (the root may be ``VT821`` itself or the folder holding it).
    """

    name = "vt821"
    description = "VT821: 821 RGB-T pairs with salient-object GT masks (test only)"
    splits: ClassVar[tuple[str, ...]] = ("test",)
    native_dirname = "VT821"
    layout: ClassVar[dict[str, SplitDirs]] = {"test": SplitDirs("T", "RGB", "GT")}


class VT1000(_SOD):
    """VT1000 (Tu et al., 2019): 1000 RGB-T pairs with GT masks, one split (a test set).

    Layout: ``VT1000/{RGB,T,GT}/<id>`` (the root may be ``VT1000`` itself or the folder holding it).
    """

    name = "vt1000"
    description = "VT1000: 1000 RGB-T pairs with salient-object GT masks (test only)"
    splits: ClassVar[tuple[str, ...]] = ("test",)
    native_dirname = "VT1000"
    layout: ClassVar[dict[str, SplitDirs]] = {"test": SplitDirs("T", "RGB", "GT")}

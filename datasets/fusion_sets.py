"""Fusion-only datasets: TNO, RoadScene, VIFB, KAIST and FLIR-aligned."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from ivifbench.datasets.folder_pairs import FolderPairReader, Scan, SplitDirs, list_by_stem
from ivifbench.datasets.synth import Preset, Scene
from ivifbench.errors import InputError

_STREET = {0: "person", 1: "car", 2: "bus", 3: "bicycle", 4: "lamp"}


class TNO(FolderPairReader):
    """TNO Image Fusion Dataset (Toet), as the 42-pair test set of Tang's evaluation toolkit: ``ir/``, ``vi/``.

    Files ``01.png`` ... ``42.png``; both modalities are grey (often stored as RGB), sizes vary per pair. One split.
    """

    name = "tno"
    description = "TNO: grey IR/visible pairs of military and surveillance scenes (42-pair test set)"
    splits: ClassVar[tuple[str, ...]] = ("all",)
    layout: ClassVar[dict[str, SplitDirs]] = {"all": SplitDirs("ir", "vi")}
    native_dirname = "TNO"
    ir_stored_rgb = True
    vis_stored_rgb = True
    preset = Preset({0: "person", 1: "car", 2: "truck"}, objects=(1, 4), night=0.5, grey_visible=True)

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """Two-digit numbers from 01, as the 42-pair set."""
        return f"{index + 1:02d}"


class RoadScene(FolderPairReader):
    """RoadScene (Xu et al., FusionDN/U2Fusion): 221 aligned road pairs from FLIR ADAS video.

    Layout: ``cropinfrared/FLIR_<n>.jpg`` (grey JPEG) and ``crop_LR_visible/FLIR_<n>.jpg`` (RGB JPEG). The upstream
    ``crop_HR_visible/`` is not pixel-aligned to the IR and is not read. One split.
    """

    name = "roadscene"
    description = "RoadScene: 221 aligned IR/visible road pairs (FLIR ADAS frames)"
    splits: ClassVar[tuple[str, ...]] = ("all",)
    layout: ClassVar[dict[str, SplitDirs]] = {"all": SplitDirs("cropinfrared", "crop_LR_visible")}
    native_dirname = "RoadScene"
    ir_ext = ".jpg"
    vis_ext = ".jpg"
    preset = Preset(_STREET, objects=(2, 5), night=0.3)

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """``FLIR_<5 digits>``, as the release."""
        return f"FLIR_{index + 1:05d}"


class VIFB(FolderPairReader):
    """VIFB (Zhang et al., CVPRW 2020): 21 IR/visible pairs in ``input/IR`` and ``input/VI`` (JPEG, sizes vary).

    The root is the VIFB folder that holds ``input/`` (or ``input`` itself). IR is partly stored as RGB. One split.
    """

    name = "vifb"
    description = "VIFB: 21 IR/visible pairs of the VIFB benchmark (input/IR, input/VI)"
    splits: ClassVar[tuple[str, ...]] = ("all",)
    layout: ClassVar[dict[str, SplitDirs]] = {"all": SplitDirs("IR", "VI")}
    native_dirname = "input"
    ir_ext = ".jpg"
    vis_ext = ".jpg"
    ir_stored_rgb = True
    preset = Preset(_STREET, objects=(1, 4), night=0.4)

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """Word-like names (VIFB names its pairs, e.g. ``manCar``)."""
        return f"{'night' if scene.night else 'day'}Scene{index + 1:02d}"


class KAIST(FolderPairReader):
    """KAIST multispectral pedestrian (Hwang et al., CVPR 2015): 95k aligned colour/thermal 640×512 video frames.

    Layout assumed (the official release, ``kaist-cvpr15/images``): ``setNN/VNNN/{lwir,visible}/INNNNN.jpg``; the root
    is the folder holding the ``setNN`` folders (or the one holding ``images/``). Splits follow the benchmark: ``train``
    = set00-set05, ``test`` = set06-set11. Frame names repeat across videos, so a pair's id is
    ``setNN_VNNN_INNNNN``. ``lwir`` frames are grey stored as 3-channel JPEG. Fusion only (the pedestrian boxes in
    ``annotations/`` are not read).
    """

    name = "kaist"
    description = "KAIST: aligned colour/thermal pedestrian video frames (train set00-05, test set06-11), fusion only"
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    native_dirname = "images"
    sets: ClassVar[dict[str, tuple[str, ...]]] = {
        "train": tuple(f"set{i:02d}" for i in range(6)),
        "test": tuple(f"set{i:02d}" for i in range(6, 12)),
    }
    ir_ext = ".jpg"
    vis_ext = ".jpg"
    ir_stored_rgb = True
    synth_shares: ClassVar[dict[str, float]] = {"train": 0.75, "test": 0.25}
    preset = Preset({0: "person", 1: "car", 2: "bicycle"}, objects=(1, 4), night=0.35)

    def _looks_like(self, root: Path) -> bool:
        return root.is_dir() and any(re.fullmatch(r"set\d\d", p.name) and p.is_dir() for p in root.iterdir())

    def _expected(self) -> str:
        return "setNN/VNNN/{lwir,visible}/"

    def _missing_split(self, split: str) -> str:
        sets = self.sets[split]
        return f"{self.root}/: split '{split}' is missing (none of {sets[0]}..{sets[-1]})"

    def _scan(self, split: str) -> Scan:
        scan = Scan()
        found_any = False
        for set_name in self.sets[split]:
            set_dir = self.root / set_name
            if not set_dir.is_dir():
                continue
            for video in sorted(p for p in set_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                found_any = True
                ir_dir, vis_dir = video / "lwir", video / "visible"
                if not ir_dir.is_dir() or not vis_dir.is_dir():
                    scan.problems.append(f"{video}/: needs both lwir/ and visible/")
                    continue
                ir, vis = list_by_stem(ir_dir, scan.problems), list_by_stem(vis_dir, scan.problems)
                for stem in sorted(set(ir) - set(vis)):
                    scan.problems.append(f"{ir[stem]}: no visible partner '{stem}.*' in {vis_dir}/")
                for stem in sorted(set(vis) - set(ir)):
                    scan.problems.append(f"{vis[stem]}: no infrared partner '{stem}.*' in {ir_dir}/")
                for stem in sorted(set(ir) & set(vis)):
                    scan.pairs[f"{set_name}_{video.name}_{stem}"] = (ir[stem], vis[stem])
        scan.missing = not found_any
        return scan

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """``setNN_V000_INNNNN``: train frames in set00, test frames in set06."""
        return f"{cls.sets[split][0]}_V000_I{k:05d}"

    @classmethod
    def synth_paths(cls, root: Path, split: str, stem: str) -> tuple[Path, Path, Path | None]:
        """``setNN/V000/{lwir,visible}/INNNNN.jpg``."""
        set_name, video, frame = stem.split("_")
        base = root / set_name / video
        return base / "lwir" / f"{frame}{cls.ir_ext}", base / "visible" / f"{frame}{cls.vis_ext}", None

    @classmethod
    def synth_root(cls, out: Path) -> Path:
        """KAIST replicas start at ``out`` (the ``setNN`` folders)."""
        return out


class FLIRAligned(FolderPairReader):
    """FLIR-aligned (Zhang et al., ICIP 2020): 5142 aligned pairs cut from FLIR ADAS v1 (4129 train / 1013 validation).

    Layout assumed: the widely shared ``align/`` release used by CFT, ICAFusion and others::

        align/JPEGImages/FLIR_<n>_PreviewData.jpeg   (thermal, grey JPEG)
        align/JPEGImages/FLIR_<n>_RGB.jpg             (visible, aligned to the thermal frame)
        align/Annotations/FLIR_<n>_PreviewData.xml    (boxes; not read: fusion only)
        align/align_train.txt, align/align_validation.txt   (one id per line)

    because FLIR ADAS itself is not pixel-aligned, and this release is the aligned version that IVIF and multispectral
    detection papers cite. The root is ``align`` or the folder holding it; the split lists may also be in
    ``ImageSets/Main/``, the images in ``AnnotatedImages/``. A split line may be ``FLIR_08864``,
    ``FLIR_08864_PreviewData`` or a path; the pair id is ``FLIR_<n>``.
    """

    name = "flir"
    description = "FLIR-aligned: 5142 aligned thermal/RGB road pairs (train/validation), fusion only"
    splits: ClassVar[tuple[str, ...]] = ("train", "validation")
    native_dirname = "align"
    ir_ext = ".jpeg"
    vis_ext = ".jpg"
    synth_shares: ClassVar[dict[str, float]] = {"train": 0.75, "validation": 0.25}
    preset = Preset({0: "person", 1: "car", 2: "bicycle"}, objects=(2, 5), night=0.3)

    def _looks_like(self, root: Path) -> bool:
        return (root / "JPEGImages").is_dir() or (root / "AnnotatedImages").is_dir()

    def _expected(self) -> str:
        return "JPEGImages/, align_train.txt, align_validation.txt"

    def _images(self) -> Path:
        return self.root / "JPEGImages" if (self.root / "JPEGImages").is_dir() else self.root / "AnnotatedImages"

    def _split_file(self, split: str) -> Path:
        for folder in (self.root, self.root / "ImageSets" / "Main"):
            if (folder / f"align_{split}.txt").is_file():
                return folder / f"align_{split}.txt"
        return self.root / f"align_{split}.txt"

    def _missing_split(self, split: str) -> str:
        return f"{self._split_file(split)}: split list for '{split}' is missing"

    def _scan(self, split: str) -> Scan:
        scan = Scan()
        listing = self._split_file(split)
        if not listing.is_file():
            scan.missing = True
            return scan
        images = self._images()
        for line in listing.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pid = re.sub(r"_(PreviewData|RGB)$", "", Path(line.replace("\\", "/")).stem)
            ir = next(
                (p for p in (images / f"{pid}_PreviewData.jpeg", images / f"{pid}_PreviewData.jpg") if p.is_file()),
                None,
            )
            vis = next((p for p in (images / f"{pid}_RGB.jpg", images / f"{pid}_RGB.jpeg") if p.is_file()), None)
            if ir is None:
                scan.problems.append(
                    f"{images / (pid + '_PreviewData.jpeg')}: missing thermal image listed in {listing.name}"
                )
            if vis is None:
                scan.problems.append(f"{images / (pid + '_RGB.jpg')}: missing visible image listed in {listing.name}")
            if ir is not None and vis is not None:
                scan.pairs[pid] = (ir, vis)
        if not scan.pairs and not scan.problems:
            raise InputError(f"{listing}: lists no pairs")
        return scan

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """``FLIR_<5 digits>``."""
        return f"FLIR_{index + 1:05d}"

    @classmethod
    def synth_paths(cls, root: Path, split: str, stem: str) -> tuple[Path, Path, Path | None]:
        """Both images in ``JPEGImages/``; the split lists are written by :meth:`synth_extras`."""
        images = root / "JPEGImages"
        return images / f"{stem}_PreviewData{cls.ir_ext}", images / f"{stem}_RGB{cls.vis_ext}", None

    @classmethod
    def synth_extras(cls, out: Path, root: Path, pairs: int, seed: int) -> None:
        """Write ``align_train.txt`` and ``align_validation.txt``."""
        lists: dict[str, list[str]] = {s: [] for s in cls.splits}
        for index, (split, _k) in enumerate(cls.synth_plan(pairs)):
            lists[split].append(f"FLIR_{index + 1:05d}")
        for split, ids in lists.items():
            (root / f"align_{split}.txt").write_text("".join(i + "\n" for i in ids), encoding="utf-8")

"""Label files: Pascal VOC XML boxes, integer segmentation label maps, binary salient-object masks.

Every reader here validates and fails with one :class:`~ivifbench.errors.InputError` line that names the file and says
what to do.

Conventions:

* **VOC boxes** are kept exactly as written: corners ``xmin, ymin, xmax, ymax`` are 1-based and inclusive in the VOC
  convention (a box covering the first pixel column is ``xmin = 1``; an object spanning columns 0..9 in 0-based pixel
  indices is written ``xmin = 1, xmax = 10``). Numbers stay as written (``int`` when the text is an integer, ``float``
  when it has a fraction); no offset is applied here, converters (e.g. VOC → YOLO) own that step.
* **Label maps** are integer class ids, never scaled: a grey (``L``/16-bit) PNG gives its values, a palette (``P``) PNG
  gives its palette indices, an RGB colour label is an error unless a palette (colour of each id) is given.
* **Masks** are foreground where the 8-bit value is > 127 (16-bit: > 32767).
"""

from __future__ import annotations

import numbers
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ivifbench.errors import InputError
from ivifbench.paths import temp_sibling

Number = int | float


@dataclass(frozen=True)
class VocObject:
    """One VOC ``<object>``: class name and 1-based inclusive corners, as written in the file."""

    name: str
    xmin: Number
    ymin: Number
    xmax: Number
    ymax: Number
    difficult: int = 0
    truncated: int | None = None  # written only when not None


@dataclass(frozen=True)
class VocAnnotation:
    """One VOC XML file: the image it describes, its size and its objects."""

    filename: str
    width: int
    height: int
    objects: list[VocObject] = field(default_factory=list)
    depth: int = 3
    folder: str = ""


def _text(elem: ET.Element, tag: str, path: Path, where: str) -> str:
    child = elem.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise InputError(f"{path}: {where} has no <{tag}>; fix or re-export the annotation")
    return child.text.strip()


def _number(text: str, path: Path, what: str) -> Number:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}: {what} is '{text}', not a number; fix the annotation") from None
    if not np.isfinite(value):
        raise InputError(f"{path}: {what} is '{text}', not a finite number; fix the annotation")
    return value


def _int(text: str, path: Path, what: str) -> int:
    value = _number(text, path, what)
    if isinstance(value, float):
        if not value.is_integer():
            raise InputError(f"{path}: {what} is '{text}', not an integer; fix the annotation")
        value = int(value)
    return value


def read_voc_xml(path: str | Path) -> VocAnnotation:
    """Read a Pascal VOC XML annotation.

    Corners are returned as written (1-based, inclusive; see the module docstring). ``difficult`` defaults to 0 when
    absent; ``truncated`` is ``None`` when absent.

    Raises:
        InputError: the file is missing, not well-formed XML (e.g. truncated), not a VOC ``<annotation>``, or has an
            object without a name or box, or a non-numeric coordinate or size.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such annotation file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(
            f"{path}: not well-formed XML ({exc}); the file is corrupt or truncated, re-export it"
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    if root.tag != "annotation":
        raise InputError(f"{path}: root element is <{root.tag}>, not a VOC <annotation>; pass a Pascal VOC XML file")
    filename = (root.findtext("filename") or "").strip()
    size = root.find("size")
    if size is None:
        raise InputError(f"{path}: no <size> element; VOC annotations must give the image width and height")
    width = _int(_text(size, "width", path, "<size>"), path, "<size><width>")
    height = _int(_text(size, "height", path, "<size>"), path, "<size><height>")
    depth_text = (size.findtext("depth") or "").strip()
    depth = _int(depth_text, path, "<size><depth>") if depth_text else 3
    objects: list[VocObject] = []
    for i, obj in enumerate(root.iter("object")):
        where = f"object {i + 1}"
        name = _text(obj, "name", path, where)
        box = obj.find("bndbox")
        if box is None:
            raise InputError(f"{path}: {where} ('{name}') has no <bndbox>; fix the annotation")
        corners = [
            _number(_text(box, tag, path, f"{where} <bndbox>"), path, f"{where} {tag}")
            for tag in ("xmin", "ymin", "xmax", "ymax")
        ]
        diff_text = (obj.findtext("difficult") or "").strip()
        trunc_text = (obj.findtext("truncated") or "").strip()
        objects.append(
            VocObject(
                name,
                corners[0],
                corners[1],
                corners[2],
                corners[3],
                difficult=_int(diff_text, path, f"{where} difficult") if diff_text else 0,
                truncated=_int(trunc_text, path, f"{where} truncated") if trunc_text else None,
            )
        )
    folder = (root.findtext("folder") or "").strip()
    return VocAnnotation(filename, width, height, objects, depth=depth, folder=folder)


def _fmt(value: Number) -> str:
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    return str(int(value)) + ".0" if value.is_integer() else repr(value)


def write_voc_xml(path: str | Path, annotation: VocAnnotation) -> Path:
    """Write ``annotation`` as a Pascal VOC XML file (corners written exactly as given); return the path.

    The output reads back with :func:`read_voc_xml` to an equal :class:`VocAnnotation`.
    """
    path = Path(path)
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = annotation.folder
    ET.SubElement(root, "filename").text = annotation.filename
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(annotation.width)
    ET.SubElement(size, "height").text = str(annotation.height)
    ET.SubElement(size, "depth").text = str(annotation.depth)
    ET.SubElement(root, "segmented").text = "0"
    for obj in annotation.objects:
        o = ET.SubElement(root, "object")
        ET.SubElement(o, "name").text = obj.name
        ET.SubElement(o, "pose").text = "Unspecified"
        if obj.truncated is not None:
            ET.SubElement(o, "truncated").text = str(obj.truncated)
        ET.SubElement(o, "difficult").text = str(obj.difficult)
        box = ET.SubElement(o, "bndbox")
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            ET.SubElement(box, tag).text = _fmt(getattr(obj, tag))
    ET.indent(root, space="\t")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    tmp.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n")
    tmp.replace(path)
    return path


def box_problems(annotation: VocAnnotation, classes: Iterable[str], width: int, height: int) -> list[str]:
    """Problems of ``annotation`` against a class list and the image's size (one phrase each, without the path).

    A box is inside the image when ``1 <= xmin <= xmax <= width`` and ``1 <= ymin <= ymax <= height`` (VOC corners).
    """
    names = set(classes)
    out: list[str] = []
    if (annotation.width, annotation.height) != (width, height):
        out.append(f"<size> says {annotation.width}×{annotation.height} but the image is {width}×{height}")
    for i, o in enumerate(annotation.objects):
        if names and o.name not in names:
            out.append(f"object {i + 1} has class '{o.name}', not one of {', '.join(sorted(names))}")
        if not (1 <= o.xmin <= o.xmax <= width and 1 <= o.ymin <= o.ymax <= height):
            out.append(
                f"object {i + 1} ('{o.name}') box ({o.xmin}, {o.ymin}, {o.xmax}, {o.ymax}) is outside the "
                f"{width}×{height} image or inverted"
            )
    return out


def _open(path: Path, what: str) -> Image.Image:
    if not path.is_file():
        raise InputError(f"{path}: no such {what} file")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: unreadable or truncated {what} ({exc}); re-export or remove it") from exc
    return img


def read_label_map(
    path: str | Path, palette: Sequence[Sequence[int]] | Mapping[int, Sequence[int]] | None = None
) -> np.ndarray:
    """Read a segmentation label image as an H×W ``int64`` array of class ids (never scaled).

    Args:
        path: a grey (8- or 16-bit) or palette PNG whose values/indices are class ids; or an RGB colour label when
            ``palette`` is given.
        palette: the RGB colour of each class id (a sequence indexed by id, or a ``{id: (r, g, b)}`` mapping); only
            used for RGB labels. A colour not in it is an error.

    Raises:
        InputError: missing, unreadable or truncated file; a floating-point image; an RGB label with colours and no
            palette, or a colour that the palette lacks.
    """
    path = Path(path)
    img = _open(path, "label")
    try:
        mode = img.mode
        if mode in ("L", "P", "1"):
            return np.asarray(img).astype(np.int64)
        if mode in ("LA", "PA"):
            return np.asarray(img)[..., 0].astype(np.int64)
        if mode.startswith("I;16") or mode == "I":
            arr = np.asarray(img).astype(np.int64)
            if arr.min(initial=0) < 0:
                raise InputError(f"{path}: label has negative values; class ids must be >= 0")
            return arr
        if mode in ("RGB", "RGBA"):
            rgb = np.asarray(img)[..., :3]
            if palette is None:
                if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
                    return rgb[..., 0].astype(np.int64)  # grey ids stored as RGB
                raise InputError(
                    f"{path}: RGB colour label; class ids must be stored as a grey or palette PNG "
                    "(or pass the dataset's palette to convert colours)"
                )
            return _colours_to_ids(rgb, palette, path)
        raise InputError(f"{path}: label image mode '{mode}' is not an integer label; save it as an 8-bit grey PNG")
    finally:
        img.close()


def _colours_to_ids(
    rgb: np.ndarray, palette: Sequence[Sequence[int]] | Mapping[int, Sequence[int]], path: Path
) -> np.ndarray:
    items = palette.items() if isinstance(palette, Mapping) else enumerate(palette)
    code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2].astype(np.int64)
    lut: dict[int, int] = {}
    for cid, colour in items:
        r, g, b = (int(c) for c in colour)
        lut[(r << 16) | (g << 8) | b] = int(cid)
    uniq, inverse = np.unique(code, return_inverse=True)
    ids = np.empty(len(uniq), dtype=np.int64)
    for k, c in enumerate(uniq.tolist()):
        if c not in lut:
            raise InputError(
                f"{path}: colour ({c >> 16}, {(c >> 8) & 255}, {c & 255}) is not in the palette; fix the label or the palette"
            )
        ids[k] = lut[c]
    return ids[inverse].reshape(code.shape)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a binary (salient-object) mask as an H×W ``bool`` array: foreground where the value is > 127.

    Grey 8-bit masks are thresholded at > 127; 16-bit at > 32767; RGB and palette masks by their BT.601 luma.

    Raises:
        InputError: missing, unreadable or truncated file, or a floating-point image.
    """
    path = Path(path)
    img = _open(path, "mask")
    try:
        mode = img.mode
        if mode == "1":
            return np.asarray(img).astype(bool)
        if mode.startswith("I;16") or mode == "I":
            return np.asarray(img).astype(np.int64) > 32767
        if mode in ("L", "LA"):
            arr = np.asarray(img)
            return (arr[..., 0] if arr.ndim == 3 else arr) > 127
        if mode in ("P", "PA", "RGB", "RGBA"):
            return np.asarray(img.convert("L")) > 127
        raise InputError(f"{path}: mask image mode '{mode}' is not supported; save it as an 8-bit grey PNG (0/255)")
    finally:
        img.close()


def write_label_map(path: str | Path, ids: np.ndarray, palette: Sequence[Sequence[int]] | None = None) -> Path:
    """Write class ids as an 8-bit grey PNG (or a palette PNG when ``palette`` is given), atomically."""
    path = Path(path)
    arr = np.asarray(ids)
    if arr.ndim != 2 or arr.min(initial=0) < 0 or arr.max(initial=0) > 255:
        raise InputError(f"{path}: label map must be H×W with ids in 0..255")
    img = Image.fromarray(arr.astype(np.uint8))
    if palette is not None:
        flat = [int(c) for colour in palette for c in colour]
        img.putpalette(flat + [0] * (768 - len(flat)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    img.save(tmp, format="PNG")
    tmp.replace(path)
    return path


def write_mask(path: str | Path, mask: np.ndarray) -> Path:
    """Write a boolean mask as an 8-bit 0/255 grey PNG, atomically."""
    path = Path(path)
    arr = np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    Image.fromarray(arr).save(tmp, format="PNG")
    tmp.replace(path)
    return path

"""Output/input overlap checks: a command never writes where it reads.

Every command that writes refuses, with one line, an output folder that is, contains or lies inside one of its input
folders (``fuse --out`` over the visible folder would replace the sources).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from ivifbench.errors import InputError


def temp_sibling(path: Path) -> Path:
    """A hidden temporary name beside ``path`` for an atomic write (write it, then ``replace``), unique per process and
    call: two processes writing the same file (two runs of ``datasets synth`` into one folder) never share it."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def _real(p: str | Path) -> Path:
    # resolve symlinks so that a link to an input folder counts as that folder
    return Path(p).expanduser().resolve()


def static_prefix(path: str) -> Path:
    """The part of a path template before its first ``{placeholder}`` component (``/a/{dataset}/x`` → ``/a``)."""
    parts = Path(path).expanduser().parts
    keep = []
    for part in parts:
        if "{" in part:
            break
        keep.append(part)
    return Path(*keep) if keep else Path(".")


def overlap(a: str | Path, b: str | Path) -> bool:
    """Whether folder ``a`` is, contains or lies inside folder ``b``."""
    ra, rb = _real(a), _real(b)
    return ra == rb or ra.is_relative_to(rb) or rb.is_relative_to(ra)


def check_outputs_apart(outputs: Mapping[str, str | Path], inputs: Mapping[str, str | Path]) -> None:
    """Raise :class:`InputError` when an output folder is, contains or lies inside an input folder.

    ``outputs`` and ``inputs`` map a label (``--out``, ``--vis``, ``method 'x' path``) to a folder.
    """
    for olabel, opath in outputs.items():
        for ilabel, ipath in inputs.items():
            if overlap(opath, ipath):
                ro, ri = _real(opath), _real(ipath)
                how = "is" if ro == ri else ("lies inside" if ro.is_relative_to(ri) else "contains")
                raise InputError(
                    f"{olabel} {opath} {how} {ilabel} {ipath}: writing there could overwrite the inputs; "
                    "choose an output folder outside every input folder"
                )


def check_output_file(label: str, path: str | Path, inputs: Mapping[str, str | Path]) -> None:
    """An output *file* must not be a folder and must not lie inside an input folder."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{label} {p} is a folder; name a file")
    for ilabel, ipath in inputs.items():
        if _real(p).is_relative_to(_real(ipath)):
            raise InputError(f"{label} {p} lies inside {ilabel} {ipath}; write it outside the input folders")


def check_output_folder(label: str, path: str | Path) -> None:
    """An output folder must not be an existing file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{label} {p} is an existing file, not a folder; name a folder")

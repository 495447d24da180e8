"""What a worker does with one unit. Workers never touch the store: they return a record the driver commits.

:func:`execute_unit` takes a unit as a plain dict (so it crosses process and Ray boundaries) and returns a plain dict
(a :class:`~ivifbench.store.UnitRecord`'s fields). Any exception becomes a ``failed`` record with its traceback.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ivifbench.errors import IvifError


def execute_unit(unit: dict[str, Any]) -> dict[str, Any]:
    """Run one unit; never raises (failures come back as ``status: failed`` with the error and traceback)."""
    rec: dict[str, Any] = {
        k: unit.get(k) for k in ("key", "slot", "kind", "method", "dataset", "split", "task", "protocol", "seed")
    }
    rec["spec"] = {k: v for k, v in unit["spec"].items() if k != "pairs"}
    rec["started"] = time.time()
    rec["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    cpu0 = _cpu_seconds()
    log = unit.get("log") if unit.get("capture") else None
    try:
        fn = {"fuse": _fuse, "score": _score, "task": _task}[unit["kind"]]
        with _redirect_output(log):
            rec.update(fn(unit))
        rec["status"] = "ok"
        # CPU seconds (all threads and child processes): a timing that does not depend on how busy the machine was
        rec.setdefault("payload", {})["cpu_seconds"] = round(_cpu_seconds() - cpu0, 3)
    except (Exception, SystemExit) as exc:  # every failure is recorded, the sweep carries on
        rec["status"] = "failed"
        rec["error"] = str(exc) if isinstance(exc, IvifError) else f"{type(exc).__name__}: {exc}"
        rec["error"] = rec["error"].strip().splitlines()[0][:500] if rec["error"].strip() else type(exc).__name__
        rec["traceback"] = traceback.format_exc()
    rec["finished"] = time.time()
    return rec


@contextlib.contextmanager
def _redirect_output(path: str | None) -> Iterator[None]:
    """In a worker process: send the unit's stdout/stderr (training logs, warnings) to its log file, not the terminal
    where the driver draws its progress bars."""
    if not path:
        yield
        return
    import sys

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", encoding="utf-8") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _cpu_seconds() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# ----------------------------------------------------------------------------------------------------------------------


def _link(src: Path, dst: Path) -> None:
    """Make ``dst`` point at ``src`` (symlink; copy where links are not possible)."""
    if dst.is_symlink() or dst.exists():
        if dst.is_symlink() and os.readlink(dst) == str(src):
            return
        dst.unlink()
    try:
        dst.symlink_to(src)
    except OSError:
        import shutil

        shutil.copy2(src, dst)


def _stage_pairs(pairs: list[list[Any]], stage: Path) -> tuple[Path, Path]:
    """``stage/ir/<id><ext>`` and ``stage/vis/<id><ext>`` links for exactly these pairs (pairing by id)."""
    ir_dir, vis_dir = stage / "ir", stage / "vis"
    for d in (ir_dir, vis_dir):
        d.mkdir(parents=True, exist_ok=True)
    want_ir = {f"{pid}{Path(ir).suffix}": Path(ir) for pid, ir, _vis, *_ in pairs}
    want_vis = {f"{pid}{Path(vis).suffix}": Path(vis) for pid, _ir, vis, *_ in pairs}
    for d, want in ((ir_dir, want_ir), (vis_dir, want_vis)):
        for p in d.iterdir():
            if p.name not in want:
                p.unlink()
        for name, src in want.items():
            _link(src.resolve(), d / name)
    return ir_dir, vis_dir


def _fuse(unit: dict[str, Any]) -> dict[str, Any]:
    from ivifbench.fusion.external import FolderMethod, load_method
    from ivifbench.fusion.spec import MethodSpec

    spec = unit["spec"]
    mspec = MethodSpec.model_validate(spec["method"])
    out_dir = Path(spec["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = [tuple(p) for p in spec["pairs"]]
    ids = [p[0] for p in pairs]
    method = load_method(mspec, device=spec.get("device", "cpu"))
    if isinstance(method, FolderMethod):
        written, failed = _import_folder(method, unit["dataset"], unit["split"], pairs, out_dir)
        fingerprint = method.fingerprint(unit["dataset"], unit["split"], ids)
    else:
        from ivifbench.fusion.apply import fuse_pairs

        rep = fuse_pairs(method, [(p[0], Path(p[1]), Path(p[2])) for p in pairs], out_dir, progress=False)
        written, failed = rep.written, rep.failed
        fingerprint = method.fingerprint()
    for p in out_dir.iterdir():  # a fused folder holds exactly this split's ids
        if p.is_file() and p.suffix == ".png" and p.stem not in set(ids):
            p.unlink()
    if failed:
        first = next(iter(sorted(failed)))
        raise IvifError(f"{len(failed)} of {len(pairs)} pairs failed; first, {first}: {failed[first]}")
    info = method.info.to_dict()
    return {
        "payload": {"n_images": len(written), "out_dir": str(out_dir), "fingerprint": fingerprint},
        "fused": [(pid, str(out_dir / f"{pid}.png"), ir, vis) for pid, ir, vis, *_ in pairs],
        "method_info": (unit["method"], fingerprint, info),
    }


def _import_folder(
    method: Any, dataset: str, split: str, pairs: list[tuple[Any, ...]], out_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """Copy a folder method's images into the fused layout as PNG, checking each against its source pair's size."""
    import numpy as np

    from ivifbench.imageio import read_image, write_png

    files = method.files(dataset, split, [p[0] for p in pairs])
    written: list[str] = []
    failed: dict[str, str] = {}
    for pid, _ir_path, vis_path, *_ in pairs:
        src = files.get(pid)
        if src is None:
            failed[pid] = f"{method.folder(dataset, split)}: no fused image named '{pid}.*'"
            continue
        try:
            img = read_image(src, "fused")
            vis = read_image(vis_path, "vis")
        except IvifError as exc:
            failed[pid] = str(exc)
            continue
        if img.size != vis.size:
            failed[pid] = f"{src} is {img.size[1]}×{img.size[0]}, its source pair is {vis.size[1]}×{vis.size[0]}"
            continue
        px = img.pixels
        if px.shape[2] == 1 and vis.pixels.shape[2] == 3:
            px = np.repeat(px, 3, axis=2)  # grey fused output for a colour pair: stored as grey RGB
        write_png(out_dir / f"{pid}.png", px)
        written.append(pid)
    return written, failed


def _score(unit: dict[str, Any]) -> dict[str, Any]:
    from ivifbench.registry import import_string

    spec = unit["spec"]
    pairs = spec["pairs"]
    ir_dir, vis_dir = _stage_pairs(pairs, Path(spec["stage_dir"]))
    fused_dir = Path(spec["fused_dir"])
    missing = [p[0] for p in pairs if not (fused_dir / f"{p[0]}.png").is_file()]
    if missing:
        raise IvifError(
            f"{fused_dir}: {len(missing)} fused image(s) missing (first '{missing[0]}.png'); rerun the fuse unit"
        )
    engine = import_string(spec["engine"])
    names = spec["metrics"]
    metric_names: Any = "all" if names == "all" else list(names)  # "all": every metric the convention defines
    kwargs: dict[str, Any] = {}
    import inspect

    params = inspect.signature(engine).parameters  # type: ignore[arg-type]
    for k in ("device", "batch_size"):
        if k in params and spec.get(k) is not None:
            kwargs[k] = spec[k]
    if "progress" in params:
        kwargs["progress"] = False
    df = engine(ir_dir, vis_dir, fused_dir, metric_names, spec["convention"], **kwargs)  # type: ignore[operator]
    rows = [(str(r.image), str(r.metric), str(r.convention), float(r.value)) for r in df.itertuples(index=False)]
    want = {p[0] for p in pairs}
    got = {r[0] for r in rows}
    if want - got:
        raise IvifError(
            f"the metric engine returned no values for {len(want - got)} image(s), e.g. '{sorted(want - got)[0]}'"
        )
    return {
        "image_metrics": rows,
        "metric_info": _metric_info(spec["engine"], sorted({r[1] for r in rows})),
        "payload": {"n_images": len(want), "n_values": len(rows), "metrics": sorted({r[1] for r in rows})},
    }


def _engine_registry(engine: str) -> Any:
    import importlib

    try:
        return getattr(importlib.import_module(engine.partition(":")[0]), "METRICS", None)
    except ImportError:
        return None


def _metric_info(engine: str, names: list[str]) -> list[tuple[str, str, bool | None, dict[str, Any]]]:
    metrics = _engine_registry(engine)
    out = []
    for n in names:
        hib, info = None, {}
        if metrics is not None and n in metrics:
            spec = metrics.get(n)
            hib = getattr(spec, "higher_is_better", None)
            for attr in ("description", "reference", "range", "unit", "full_name", "name", "version"):
                v = getattr(spec, attr, None)
                if v is not None and isinstance(v, str | int | float | tuple | list):
                    info[attr] = v
        out.append((n, "fusion", hib, info))
    return out


def _task(unit: dict[str, Any]) -> dict[str, Any]:
    from ivifbench.tasks import TASKS

    spec = unit["spec"]
    fused_dirs = {s: Path(p) for s, p in spec["fused_dirs"].items()}
    run_dir = Path(spec["run_dir"])
    merged = run_dir / "fused"  # one folder of <id>.png over every split, as Task.run expects
    merged.mkdir(parents=True, exist_ok=True)
    want: dict[str, Path] = {}
    for split, pairs in spec["pairs"].items():
        for pid, *_ in pairs:
            src = fused_dirs[split] / f"{pid}.png"
            if not src.is_file():
                raise IvifError(f"{src}: fused image missing; rerun the fuse unit")
            want[f"{pid}.png"] = src.resolve()
    for p in merged.iterdir():
        if p.name not in want:
            p.unlink()
    for name, src in want.items():
        _link(src, merged / name)
    task_cls = TASKS.get(unit["task"])
    task = task_cls()
    overrides = dict(spec.get("overrides") or {})
    import inspect

    if "device" in inspect.signature(task.run).parameters and "device" not in overrides:
        overrides["device"] = spec.get("device", "cpu")
    result = task.run(
        dataset=unit["dataset"],
        root=Path(spec["root"]),
        fused=merged,
        out=run_dir / "run",
        protocol=unit["protocol"],
        seed=int(unit["seed"]),
        **overrides,
    )
    values = [(k, float(v)) for k, v in result.metrics.items() if v is not None]
    directions = dict(getattr(task_cls, "metric_directions", {}) or {})

    def direction(metric: str) -> bool | None:
        if metric in directions:
            return directions[metric]
        head = metric.split("/", 1)[0]  # "AP50/Car" follows "AP50"'s direction
        return directions.get(head)

    return {
        "task_results": values,
        "metric_info": [(k, unit["task"], direction(k), {}) for k, _ in values],
        "payload": {"details": _jsonable(result.details)},
    }


def _jsonable(obj: Any) -> Any:
    import json

    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        return json.loads(json.dumps(obj, default=str))

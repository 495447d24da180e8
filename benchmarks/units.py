"""What a worker does with one unit. Workers never touch the store: they return a record the driver commits.

:func:`execute_unit` takes a unit as a plain dict (so it crosses process and Ray boundaries) and returns a plain dict
(a :class:`~ivifbench.store.UnitRecord`'s fields). Any exception becomes a ``failed`` record with its traceback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from ivifbench.benchmarks.unit_types import FuseUnit, ScoreUnit, TaskUnit, Unit, unit_from_dict
from ivifbench.errors import IvifError

if TYPE_CHECKING:
    import pandas as pd


class ScoreEngine(Protocol):
    """What a suite's ``metrics.engine`` is called with (``ivifbench.metrics:score_folders`` is one): three folders
    paired by file stem, the metric names (or ``"all"``) and the convention; a long DataFrame with ``image, metric,
    convention, value`` comes back. A custom engine takes the three keywords (or ``**kwargs``)."""

    def __call__(
        self, ir_dir: Path, vis_dir: Path, fused_dir: Path, metrics: Any, convention: str, /, *, batch_size: int,
        device: str, progress: bool,
    ) -> pd.DataFrame: ...  # fmt: skip


def execute_unit(unit: dict[str, Any]) -> dict[str, Any]:
    """Run one unit; never raises (failures come back as ``status: failed`` with the error and traceback)."""
    rec: dict[str, Any] = {
        k: unit.get(k) for k in ("key", "slot", "kind", "method", "dataset", "split", "task", "protocol", "seed")
    }
    rec["spec"] = {}
    rec["started"] = time.time()
    rec["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    cpu0 = _cpu_seconds()
    log = unit.get("log") if unit.get("capture") else None
    try:
        typed = unit_from_dict(unit)
        rec["spec"] = typed.record_spec()
        with _redirect_output(log):
            rec.update(run(typed))
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


def run(unit: Unit) -> dict[str, Any]:
    """Do one unit's work; return the record fields (payload, rows) the driver commits. Raises on failure."""
    if isinstance(unit, FuseUnit):
        return run_fuse(unit)
    if isinstance(unit, ScoreUnit):
        return run_score(unit)
    if isinstance(unit, TaskUnit):
        return run_task(unit)
    raise TypeError(f"not a unit: {unit!r}")


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
        shutil.copy2(src, dst)


def _stage_pairs(pairs: Sequence[Sequence[Any]], stage: Path) -> tuple[Path, Path]:
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


def run_fuse(unit: FuseUnit) -> dict[str, Any]:
    from ivifbench.fusion.external import load_method
    from ivifbench.fusion.fused import FusedSet

    out = FusedSet(unit.out_dir)
    out.root.mkdir(parents=True, exist_ok=True)
    ids = [p[0] for p in unit.pairs]
    dataset, split = unit.dataset, str(unit.split)
    method = load_method(unit.method_spec, device=unit.device)
    rep = method.produce(dataset, split, unit.pairs, out)
    fingerprint = method.split_fingerprint(dataset, split, ids)
    out.prune(ids, written=rep.written)  # stale images this unit's earlier runs wrote go; nothing else
    if rep.failed:
        first = next(iter(sorted(rep.failed)))
        raise IvifError(f"{len(rep.failed)} of {len(ids)} pairs failed; first, {first}: {rep.failed[first]}")
    return {
        "payload": {"n_images": len(rep.written), "out_dir": str(out.root), "fingerprint": fingerprint},
        "fused": [(pid, str(out.path(pid)), ir, vis) for pid, ir, vis, *_ in unit.pairs],
        "method_info": (unit.method, fingerprint, method.info.to_dict()),
    }


def run_score(unit: ScoreUnit) -> dict[str, Any]:
    from ivifbench.fusion.fused import FusedSet
    from ivifbench.registry import import_string

    pairs = unit.pairs
    ir_dir, vis_dir = _stage_pairs(pairs, Path(unit.stage_dir))
    fused_dir = Path(unit.fused_dir)
    missing = FusedSet(fused_dir).missing(p[0] for p in pairs)
    if missing:
        raise IvifError(
            f"{fused_dir}: {len(missing)} fused image(s) missing (first '{missing[0]}.png'); rerun the fuse unit"
        )
    engine = cast(ScoreEngine, import_string(unit.engine))
    names = unit.metrics
    metric_names: Any = "all" if names == "all" else list(names)  # "all": every metric the convention defines
    df = engine(ir_dir, vis_dir, fused_dir, metric_names, unit.convention, batch_size=unit.batch_size,
                device=unit.device, progress=False)  # fmt: skip
    rows = [(str(r.image), str(r.metric), str(r.convention), float(r.value)) for r in df.itertuples(index=False)]
    want = {p[0] for p in pairs}
    got = {r[0] for r in rows}
    if want - got:
        raise IvifError(
            f"the metric engine returned no values for {len(want - got)} image(s), e.g. '{sorted(want - got)[0]}'"
        )
    return {
        "image_metrics": rows,
        "metric_info": _metric_info(unit.engine, sorted({r[1] for r in rows})),
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


def run_task(unit: TaskUnit) -> dict[str, Any]:
    from ivifbench.fusion.fused import FusedSet
    from ivifbench.tasks import TASKS

    fused_dirs = {s: Path(p) for s, p in unit.fused_dirs.items()}
    run_dir = Path(unit.run_dir)
    merged = FusedSet(run_dir / "fused", per_split=True)  # every split the task reads, in the one layout
    merged.root.mkdir(parents=True, exist_ok=True)
    want: dict[Path, Path] = {}
    for split, pairs in unit.pairs.items():
        for pid, *_ in pairs:
            src = FusedSet(fused_dirs[split]).path(pid)
            if not src.is_file():
                raise IvifError(f"{src}: fused image missing; rerun the fuse unit")
            want[merged.path(pid, split)] = src.resolve()
    folders = {p.parent for p in want}
    for p in sorted(merged.root.rglob("*"), reverse=True):  # what an earlier run left that this one does not use
        if p.is_dir() and not p.is_symlink():
            if p not in folders:
                shutil.rmtree(p)
        elif p not in want:
            p.unlink()
    for dst, src in want.items():
        dst.parent.mkdir(parents=True, exist_ok=True)
        _link(src, dst)
    task_cls = TASKS.get(str(unit.task))
    overrides = dict(unit.overrides)
    overrides.setdefault("device", unit.device)  # the suite's device, unless the task's overrides say otherwise
    result = task_cls().run(
        dataset=unit.dataset,
        root=Path(unit.root),
        fused=merged.root,
        out=run_dir / "run",
        protocol=str(unit.protocol),
        seed=int(unit.seed or 0),
        **overrides,
    )
    values = [(k, float(v)) for k, v in result.metrics.items() if v is not None]
    headline = list(getattr(task_cls, "headline", ()) or ())

    def info(metric: str) -> dict[str, Any]:
        return {"headline": headline.index(metric)} if metric in headline else {}

    return {
        "task_results": values,
        "metric_info": [(k, str(unit.task), task_cls.direction(k), info(k)) for k, _ in values],
        "payload": {"details": _jsonable(result.details), "n": result.n, "notes": result.notes, "input": result.input},
    }


def _jsonable(obj: Any) -> Any:
    import json

    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        return json.loads(json.dumps(obj, default=str))

"""The three kinds of unit, typed: :class:`FuseUnit`, :class:`ScoreUnit`, :class:`TaskUnit` (DESIGN.md, "Units and keys").

A unit is the smallest piece of work worth caching. Each class builds its own key (a hash of everything that can
change its result) and slot (what it fills; a new key for a slot supersedes the old) in ``make``; its run function is
in :mod:`ivifbench.benchmarks.units` (``run_fuse``, ``run_score``, ``run_task``). ``to_dict`` / :func:`unit_from_dict` carry a unit
across process and Ray boundaries as plain data.

The keys hash exactly what the string-and-dict units of earlier versions hashed, in the same order, so stored results
stay valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from ivifbench import __version__
from ivifbench.fusion.spec import MethodSpec

FUSE_VERSION = "1"  # bump when the fuse unit's output format changes
SCORE_VERSION = "1"
TASK_RUNNER_VERSION = "1"
STAGES = ("fuse", "score", "task")

PairRow = tuple[str, str, str, str | None]  # (id, infrared path, visible path, label path or None)
Kind = Literal["fuse", "score", "task"]


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass(kw_only=True)
class Unit:
    """What every unit has: its key, slot, the method and dataset it is about, the units it waits for, its log."""

    kind: ClassVar[Kind]
    key: str
    slot: str
    method: str
    dataset: str
    device: str = "cpu"
    split: str | None = None
    task: str | None = None
    protocol: str | None = None
    seed: int | None = None
    deps: list[str] = field(default_factory=list)
    log: str | None = None  # where a worker process writes the unit's stdout/stderr
    capture: bool = False  # send stdout/stderr to ``log`` (worker processes; the driver's own units print)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.method}/{self.dataset}/{self.split}"

    def record_spec(self) -> dict[str, Any]:
        """What the store records as the unit's spec (its inputs, without the pair list)."""
        raise NotImplementedError

    def outputs_present(self) -> bool:
        """Whether the files this unit wrote are still there (only fuse units keep files others read)."""
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(kw_only=True)
class FuseUnit(Unit):
    """One method on one dataset split → ``<out>/fused/<method>/<dataset>/<split>/<id>.png``."""

    kind: ClassVar[Kind] = "fuse"
    method_spec: MethodSpec
    pairs: list[PairRow]
    out_dir: str

    @classmethod
    def make(
        cls, spec: MethodSpec, fingerprint: str, dataset: str, split: str, file_hash: str, pairs: list[PairRow],
        out_dir: str, device: str,
    ) -> FuseUnit:  # fmt: skip
        key = "fuse-" + digest(["fuse", FUSE_VERSION, __version__, spec.name, fingerprint, dataset, split, file_hash])
        return cls(key=key, slot=f"fuse|{spec.name}|{dataset}|{split}", method=spec.name, dataset=dataset,
                   split=split, device=device, method_spec=spec, pairs=pairs, out_dir=out_dir)  # fmt: skip

    def record_spec(self) -> dict[str, Any]:
        return {"method": self.method_spec.model_dump(), "device": self.device, "out_dir": self.out_dir}

    def outputs_present(self) -> bool:
        from ivifbench.fusion.fused import FusedSet

        return FusedSet(self.out_dir).complete([p[0] for p in self.pairs])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "method_spec": self.method_spec.model_dump()}


@dataclass(kw_only=True)
class ScoreUnit(Unit):
    """One method's fused split scored with the fusion metrics (per-image rows)."""

    kind: ClassVar[Kind] = "score"
    metrics: list[str] | Literal["all"]
    convention: str
    engine: str
    batch_size: int
    pairs: list[PairRow]
    fused_dir: str
    stage_dir: str

    @classmethod
    def make(
        cls, fuse: FuseUnit, metrics: list[str] | Literal["all"], convention: str, engine: str, engine_version: str,
        batch_size: int, stage_dir: str,
    ) -> ScoreUnit:  # fmt: skip
        key = "score-" + digest(
            ["score", SCORE_VERSION, __version__, fuse.key, metrics, convention, engine, engine_version]
        )
        return cls(key=key, slot=f"score|{fuse.method}|{fuse.dataset}|{fuse.split}|{convention}", method=fuse.method,
                   dataset=fuse.dataset, split=fuse.split, device=fuse.device, deps=[fuse.key], metrics=metrics,
                   convention=convention, engine=engine, batch_size=batch_size, pairs=fuse.pairs,
                   fused_dir=fuse.out_dir, stage_dir=stage_dir)  # fmt: skip

    def record_spec(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "convention": self.convention, "engine": self.engine,
                "batch_size": self.batch_size, "device": self.device, "fused_dir": self.fused_dir,
                "stage_dir": self.stage_dir}  # fmt: skip


@dataclass(kw_only=True)
class TaskUnit(Unit):
    """One downstream task × method × seed: train and evaluate on the fused images of every split."""

    kind: ClassVar[Kind] = "task"
    root: str
    fused_dirs: dict[str, str]  # split -> the fuse unit's folder
    pairs: dict[str, list[PairRow]]  # split -> pairs
    run_dir: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.task}/{self.method}/{self.dataset}/{self.protocol}/seed{self.seed}"

    @classmethod
    def make(
        cls, task: str, task_version: str, fuses: list[FuseUnit], root: str, protocol: str, seed: int,
        overrides: dict[str, Any], run_dir: str, device: str, *, method: str, dataset: str,
    ) -> TaskUnit:  # fmt: skip
        fks = {str(f.split): f.key for f in fuses}
        key = "task-" + digest(
            ["task", TASK_RUNNER_VERSION, __version__, task, task_version, method, dataset, sorted(fks.items()),
             protocol, seed, overrides]
        )  # fmt: skip
        return cls(key=key, slot=f"task|{task}|{method}|{dataset}|{protocol}|{seed}", method=method, dataset=dataset,
                   task=task, protocol=protocol, seed=seed, device=device, deps=list(fks.values()), root=root,
                   fused_dirs={str(f.split): f.out_dir for f in fuses}, pairs={str(f.split): f.pairs for f in fuses},
                   run_dir=run_dir, overrides=overrides)  # fmt: skip

    def record_spec(self) -> dict[str, Any]:
        return {"root": self.root, "fused_dirs": self.fused_dirs, "run_dir": self.run_dir,
                "overrides": self.overrides, "device": self.device}  # fmt: skip


UNIT_TYPES: dict[str, type[Unit]] = {"fuse": FuseUnit, "score": ScoreUnit, "task": TaskUnit}


def unit_from_dict(data: dict[str, Any]) -> Unit:
    """The typed unit a :meth:`Unit.to_dict` came from (in a worker process, or through Ray)."""
    cls = UNIT_TYPES[data["kind"]]
    known = {f.name for f in dataclasses.fields(cls)}
    fields = {k: v for k, v in data.items() if k in known}  # executors may add their own keys
    if cls is FuseUnit:
        fields["method_spec"] = MethodSpec.model_validate(fields["method_spec"])
    for name in ("pairs",):
        if isinstance(fields.get(name), list):
            fields[name] = [tuple(p) for p in fields[name]]
    return cls(**fields)

"""Suite → units (:mod:`ivifbench.benchmarks.unit_types`): the smallest pieces of work worth caching
(DESIGN.md, "Units and keys"):

* :class:`FuseUnit`  — one method on one dataset split → ``<out>/fused/<method>/<dataset>/<split>/<id>.png``;
* :class:`ScoreUnit` — one method's fused split scored with the fusion metrics (per-image rows);
* :class:`TaskUnit`  — one downstream task × method × seed (train + evaluate on the fused images of every split).

Each unit's key hashes everything that can change its result: the method fingerprint (name, version, parameters,
weights hash; a callable's source; a folder's file contents), the dataset name, split and file list (content hashes),
the metric set and convention or the task, its version, protocol, seed and overrides, and the package version. A unit's
*slot* is what it fills (kind + method + dataset + split/task/protocol/seed); a new key for a slot supersedes the old.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivifbench.benchmarks.suite import DatasetSpec, MethodSpec, MetricsSpec, Suite
from ivifbench.benchmarks.unit_types import STAGES, FuseUnit, ScoreUnit, TaskUnit, Unit, digest
from ivifbench.errors import IvifError

if TYPE_CHECKING:
    from ivifbench.fusion.external import FusedSource

__all__ = ["STAGES", "Plan", "PreparedDataset", "PreparedMethod", "Unit", "make_plan"]


@dataclass
class PreparedDataset:
    name: str
    root: Path
    synthetic: bool
    splits: tuple[str, ...]  # every split of the reader
    score_splits: tuple[str, ...]
    pairs: dict[str, list[tuple[str, str, str, str | None]]]  # split -> [(id, ir, vis, label)]
    file_hash: dict[str, str]  # split -> hash of its file list and contents
    reader_info: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedMethod:
    spec: MethodSpec
    fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None  # why it is not run
    source: FusedSource | None = None  # what fuses (None when skipped)


@dataclass
class Plan:
    suite: Suite
    out: Path
    datasets: dict[str, PreparedDataset]
    methods: dict[str, PreparedMethod]
    units: list[Unit]

    @property
    def skipped(self) -> dict[str, str]:
        return {n: m.skipped for n, m in self.methods.items() if m.skipped}

    def by_key(self) -> dict[str, Unit]:
        return {u.key: u for u in self.units}


# ----------------------------------------------------------------------------------------------------------------------
# file hashing with a (path, size, mtime) cache so that a rerun does not reread every image


class FileHashCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._data: dict[str, list[Any]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._data = {}
        self._dirty = False

    def sha(self, file: str | Path) -> str:
        p = Path(file)
        try:
            st = p.stat()
        except OSError:
            return "missing"
        k = str(p.resolve())
        hit = self._data.get(k)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        from ivifbench.fusion.base import file_sha256

        sha = file_sha256(p)
        self._data[k] = [st.st_size, st.st_mtime_ns, sha]
        self._dirty = True
        return sha

    def save(self) -> None:
        if self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(self._data))
            tmp.replace(self.path)
            self._dirty = False


# ----------------------------------------------------------------------------------------------------------------------
# datasets


def synth_root(out: Path, spec: DatasetSpec) -> Path:
    s = spec.synthetic
    assert s is not None
    size = f"-{s.wh[0]}x{s.wh[1]}" if s.wh else ""
    return out / "data" / f"{spec.name}-synthetic-n{s.pairs}-seed{s.seed}{size}"


def synthesize_dataset(out: Path, spec: DatasetSpec) -> Path:
    """Generate (once) the seeded synthetic replica a dataset spec asks for, under ``<out>/data``; return its root."""
    from ivifbench.datasets import DATASETS

    s = spec.synthetic
    assert s is not None
    folder = synth_root(out, spec)
    marker = folder / ".ivifbench-synthetic.json"
    want = {"dataset": spec.name, "pairs": s.pairs, "seed": s.seed, "size": list(s.wh) if s.wh else None}
    if marker.is_file():
        try:
            got = json.loads(marker.read_text())
            if got.get("params") == want:
                return Path(got["root"])
        except (ValueError, KeyError):
            pass
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    reader = DATASETS.get(spec.name)
    kwargs: dict[str, Any] = {"pairs": s.pairs, "seed": s.seed}
    if s.size:
        kwargs["size"] = s.wh  # DatasetReader.synthesize takes a size
    # A killed synthesis leaves only a .partial-* folder; the caller holds the output lock, so any left is stale.
    for stale in folder.parent.glob(glob.escape(folder.name) + ".partial*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f"{folder.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")  # unique per process
    try:
        root = Path(reader.synthesize(tmp, **kwargs))
        rel = root.resolve().relative_to(tmp.resolve())
        try:
            tmp.replace(folder)  # atomic
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # another process finished the same replica first (same parameters, same bytes): keep its folder
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    root = folder / rel
    marker.write_text(json.dumps({"params": want, "root": str(root)}))
    return root


def prepare_dataset(out: Path, spec: DatasetSpec, hashes: FileHashCache) -> PreparedDataset:
    from ivifbench.datasets import DATASETS

    reader_cls = DATASETS.get(spec.name)
    if spec.synthetic is not None:
        root = synthesize_dataset(out, spec)
    else:
        root = Path(spec.root or "").expanduser().resolve()
    reader = reader_cls(root, **spec.options)
    splits = tuple(reader.splits)
    pairs: dict[str, list[tuple[str, str, str, str | None]]] = {}
    file_hash: dict[str, str] = {}
    for split in splits:
        found = reader.pairs(split)
        found = sorted(found, key=lambda p: p.id)
        if spec.limit:
            found = found[: spec.limit]
        pairs[split] = [(p.id, str(p.ir), str(p.vis), str(p.label) if p.label else None) for p in found]
        file_hash[split] = digest(
            [
                (pid, hashes.sha(ir), hashes.sha(vis), hashes.sha(lab) if lab else None)
                for pid, ir, vis, lab in pairs[split]
            ]
        )
    score_splits = tuple(spec.splits) if spec.splits else tuple(s for s in splits if pairs[s])
    return PreparedDataset(
        name=spec.name,
        root=root,
        synthetic=spec.synthetic is not None,
        splits=splits,
        score_splits=score_splits,
        pairs=pairs,
        file_hash=file_hash,
        reader_info={"classes": list(getattr(reader_cls, "classes", ()) or ())},
    )


# ----------------------------------------------------------------------------------------------------------------------
# methods


def prepare_method(spec: MethodSpec, device: str) -> PreparedMethod:
    """Instantiate the method once to get its fingerprint and metadata (folder methods hash per split later)."""
    from ivifbench.fusion.external import load_method
    from ivifbench.fusion.registry import METHODS

    pm = PreparedMethod(spec=spec)
    if spec.type == "registered" and not spec.weights:
        cls = METHODS.get(spec.registry_name)
        if cls.info.needs_weights:
            env = f"IVIFBENCH_{spec.registry_name.upper()}_WEIGHTS"
            reason = (
                f"weights not configured (set weights: in the suite, or the {env} environment variable"
                f"{', e.g. ' + cls.info.weights_source if cls.info.weights_source else ''})"
            )
            if spec.optional:
                pm.skipped = reason
                pm.info = cls.info.to_dict()
                return pm
            raise IvifError(f"method '{spec.name}': {reason}")
    pm.source = load_method(spec, device="cpu")
    pm.info = pm.source.info.to_dict()
    pm.info["type"] = spec.type
    # the manifest's one fingerprint per method; folder methods have one per split (in their fuse units' keys)
    pm.fingerprint = "folder" if spec.type == "folder" else pm.source.split_fingerprint("", "", ())
    return pm


# ----------------------------------------------------------------------------------------------------------------------
# plan


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def make_plan(suite: Suite, out: str | Path, *, device: str | None = None) -> Plan:
    """Prepare the datasets (synthesising replicas), fingerprint the methods and list every unit of the suite."""
    out = Path(out).resolve()
    device = resolve_device(device or suite.device)
    hashes = FileHashCache(out / ".cache" / "file-hashes.json")
    datasets = {d.name: prepare_dataset(out, d, hashes) for d in suite.datasets}
    methods = {m.name: prepare_method(m, device) for m in suite.methods}
    active = [n for n, m in methods.items() if not m.skipped]
    metric_methods = [m for m in (suite.metrics.methods or list(methods)) if m in active] if suite.metrics else []
    task_methods = [[m for m in (t.methods or list(methods)) if m in active] for t in suite.tasks]

    # which splits each (method, dataset) must fuse: the scored splits, and every non-empty split a task reads
    need: dict[tuple[str, str], set[str]] = {}
    for m in metric_methods:
        for d in datasets.values():
            need.setdefault((m, d.name), set()).update(d.score_splits)
    for t, names in zip(suite.tasks, task_methods, strict=True):
        d = datasets[t.dataset]
        for m in names:
            need.setdefault((m, d.name), set()).update(s for s in d.splits if d.pairs[s])
    fuses = {
        (m, dname, split): _fuse_unit(methods[m], datasets[dname], split, out, device, hashes)
        for (m, dname), splits in need.items()
        for split in sorted(splits)
    }
    units: list[Unit] = list(fuses.values())
    if suite.metrics is not None:
        units += [
            _score_unit(suite.metrics, fuses[(m, d.name, split)], out, conv)
            for m in metric_methods
            for d in datasets.values()
            for split in d.score_splits
            for conv in suite.conventions(d.name)
        ]
    for t, names in zip(suite.tasks, task_methods, strict=True):
        d = datasets[t.dataset]
        task_version = _task_version(t.name)
        for m in names:
            split_fuses = [fuses[(m, d.name, s)] for s in d.splits if (m, d.name, s) in fuses]
            for seed in t.seeds:
                run_dir = out / "tasks" / t.name / d.name / m / f"{t.protocol}-seed{seed}"
                units.append(TaskUnit.make(t.name, task_version, split_fuses, str(d.root), t.protocol, seed,
                                           t.overrides, str(run_dir), device, method=m, dataset=d.name))  # fmt: skip
    for u in units:
        u.log = str(out / "logs" / u.kind / (re.sub(r"[^A-Za-z0-9_.+-]+", "_", u.slot) + ".log"))
    hashes.save()
    return Plan(suite=suite, out=out, datasets=datasets, methods=methods, units=units)


def _fuse_unit(
    pm: PreparedMethod, d: PreparedDataset, split: str, out: Path, device: str, hashes: FileHashCache
) -> FuseUnit:
    assert pm.source is not None  # skipped methods have no units
    fingerprint = pm.source.split_fingerprint(d.name, split, [p[0] for p in d.pairs[split]], sha=hashes.sha)
    out_dir = out / "fused" / pm.spec.name / d.name / split
    return FuseUnit.make(pm.spec, fingerprint, d.name, split, d.file_hash[split], d.pairs[split], str(out_dir), device)


def _score_unit(ms: MetricsSpec, fuse: FuseUnit, out: Path, convention: str) -> ScoreUnit:
    stage_dir = out / "work" / "pairs" / fuse.dataset / str(fuse.split)
    engine = ms.engine or "ivifbench.metrics:score_folders"
    return ScoreUnit.make(fuse, ms.names, convention, engine, _engine_version(engine), ms.batch_size, str(stage_dir))


def _engine_version(engine: str) -> str:
    """The metric engine's version (``METRICS_VERSION`` or the package version of its module), for the score key."""
    module = engine.partition(":")[0]
    try:
        import importlib

        mod = importlib.import_module(module)
        return str(getattr(mod, "METRICS_VERSION", getattr(mod, "__version__", "")))
    except ImportError:
        return ""


def _task_version(name: str) -> str:
    from ivifbench.tasks import TASKS

    try:
        return str(getattr(TASKS.get(name), "version", "1"))
    except Exception:  # an unimportable task fails at run time with its own error
        return "?"

"""Suite → units. A unit is the smallest piece of work worth caching (DESIGN.md, "Units and keys"):

* ``fuse``  — one method on one dataset split → ``<out>/fused/<method>/<dataset>/<split>/<id>.png``;
* ``score`` — one method's fused split scored with the fusion metrics (per-image rows);
* ``task``  — one downstream task × method × seed (train + evaluate on the fused images of every split).

Each unit's key hashes everything that can change its result: the method fingerprint (name, version, parameters,
weights hash; a callable's source; a folder's file contents), the dataset name, split and file list (content hashes),
the metric set and convention or the task, its version, protocol, seed and overrides, and the package version. A unit's
*slot* is what it fills (kind + method + dataset + split/task/protocol/seed); a new key for a slot supersedes the old.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ivifbench import __version__
from ivifbench.benchmarks.suite import DatasetSpec, MethodSpec, Suite
from ivifbench.errors import IvifError

FUSE_VERSION = "1"  # bump when the fuse unit's output format changes
SCORE_VERSION = "1"
TASK_RUNNER_VERSION = "1"
STAGES = ("fuse", "score", "task")


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass
class Unit:
    """One unit of work; ``spec`` is everything a worker needs (JSON-serialisable)."""

    key: str
    slot: str
    kind: str
    method: str
    dataset: str
    split: str | None = None
    task: str | None = None
    protocol: str | None = None
    seed: int | None = None
    deps: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    log: str | None = None  # where a worker process writes the unit's stdout/stderr

    @property
    def label(self) -> str:
        if self.kind == "task":
            return f"{self.task}/{self.method}/{self.dataset}/{self.protocol}/seed{self.seed}"
        return f"{self.kind} {self.method}/{self.dataset}/{self.split}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        if "size" not in inspect.signature(reader.synthesize).parameters:
            raise IvifError(f"dataset '{spec.name}': its synthetic replica has no size option; remove synthetic.size")
        kwargs["size"] = s.wh
    tmp = folder.with_name(folder.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    root = Path(reader.synthesize(tmp, **kwargs))
    rel = root.resolve().relative_to(tmp.resolve())
    tmp.replace(folder)  # atomic: a killed synthesis leaves only a .partial folder
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
    from ivifbench.fusion.external import FolderMethod, load_method
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
    method = load_method(spec, device="cpu")
    pm.info = method.info.to_dict()
    pm.info["type"] = spec.type
    if isinstance(method, FolderMethod):
        pm.fingerprint = "folder"
    else:
        pm.fingerprint = method.fingerprint()
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
    from ivifbench.fusion.external import FolderMethod

    out = Path(out).resolve()
    device = resolve_device(device or suite.device)
    hashes = FileHashCache(out / ".cache" / "file-hashes.json")
    datasets = {d.name: prepare_dataset(out, d, hashes) for d in suite.datasets}
    methods = {m.name: prepare_method(m, device) for m in suite.methods}
    active = [n for n, m in methods.items() if not m.skipped]

    # which splits each (method, dataset) must fuse
    need: dict[tuple[str, str], set[str]] = {}
    metric_methods: list[str] = []
    if suite.metrics is not None:
        metric_methods = [m for m in (suite.metrics.methods or list(methods)) if m in active]
        for m in metric_methods:
            for d in datasets.values():
                need.setdefault((m, d.name), set()).update(d.score_splits)
    task_methods: dict[int, list[str]] = {}
    for i, t in enumerate(suite.tasks):
        task_methods[i] = [m for m in (t.methods or list(methods)) if m in active]
        d = datasets[t.dataset]
        for m in task_methods[i]:
            need.setdefault((m, d.name), set()).update(s for s in d.splits if d.pairs[s])

    units: list[Unit] = []
    fuse_keys: dict[tuple[str, str, str], str] = {}
    for (m, dname), splits in need.items():
        pm, d = methods[m], datasets[dname]
        for split in sorted(splits):
            ids = [p[0] for p in d.pairs[split]]
            if pm.spec.type == "folder":
                fm = FolderMethod(m, pm.spec.path or "", version=pm.spec.version)
                fp = fm.fingerprint(dname, split, ids, sha=hashes.sha)
            else:
                fp = pm.fingerprint
            key = "fuse-" + digest(["fuse", FUSE_VERSION, __version__, m, fp, dname, split, d.file_hash[split]])
            fuse_keys[(m, dname, split)] = key
            units.append(
                Unit(
                    key=key,
                    slot=f"fuse|{m}|{dname}|{split}",
                    kind="fuse",
                    method=m,
                    dataset=dname,
                    split=split,
                    spec={
                        "method": pm.spec.model_dump(),
                        "device": device,
                        "pairs": d.pairs[split],
                        "out_dir": str(out / "fused" / m / dname / split),
                    },
                )
            )
    if suite.metrics is not None:
        ms = suite.metrics
        names = ms.names if ms.names != "all" else "all"
        engine = getattr(ms, "engine", None) or "ivifbench.metrics:score_folders"
        for m in metric_methods:
            for d in datasets.values():
                for split in d.score_splits:
                    fk = fuse_keys[(m, d.name, split)]
                    key = "score-" + digest(
                        ["score", SCORE_VERSION, __version__, fk, names, ms.convention, engine, _engine_version(engine)]
                    )
                    units.append(
                        Unit(
                            key=key,
                            slot=f"score|{m}|{d.name}|{split}|{ms.convention}",
                            kind="score",
                            method=m,
                            dataset=d.name,
                            split=split,
                            deps=[fk],
                            spec={
                                "metrics": names,
                                "convention": ms.convention,
                                "engine": engine,
                                "batch_size": ms.batch_size,
                                "device": device,
                                "pairs": d.pairs[split],
                                "fused_dir": str(out / "fused" / m / d.name / split),
                                "stage_dir": str(out / "work" / "pairs" / d.name / split),
                            },
                        )
                    )
    for i, t in enumerate(suite.tasks):
        d = datasets[t.dataset]
        task_version = _task_version(t.name)
        for m in task_methods[i]:
            fks = {s: fuse_keys[(m, d.name, s)] for s in d.splits if (m, d.name, s) in fuse_keys}
            for seed in t.seeds:
                key = "task-" + digest(
                    ["task", TASK_RUNNER_VERSION, __version__, t.name, task_version, m, d.name, sorted(fks.items()),
                     t.protocol, seed, t.overrides]
                )  # fmt: skip
                run_dir = out / "tasks" / t.name / d.name / m / f"{t.protocol}-seed{seed}"
                units.append(
                    Unit(
                        key=key,
                        slot=f"task|{t.name}|{m}|{d.name}|{t.protocol}|{seed}",
                        kind="task",
                        method=m,
                        dataset=d.name,
                        task=t.name,
                        protocol=t.protocol,
                        seed=seed,
                        deps=list(fks.values()),
                        spec={
                            "root": str(d.root),
                            "fused_dirs": {s: str(out / "fused" / m / d.name / s) for s in fks},
                            "pairs": {s: d.pairs[s] for s in fks},
                            "run_dir": str(run_dir),
                            "overrides": t.overrides,
                            "device": device,
                        },
                    )
                )
    for u in units:
        u.log = str(out / "logs" / u.kind / (re.sub(r"[^A-Za-z0-9_.+-]+", "_", u.slot) + ".log"))
    hashes.save()
    return Plan(suite=suite, out=out, datasets=datasets, methods=methods, units=units)


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

"""The downstream-task template: ``Task.run`` drives ``prepare → train → evaluate`` once, for every task.

A task declares its datasets, one settings model per protocol (:class:`~ivifbench.tasks.settings.TaskSettings`), its
headline metrics and their directions, and the packages whose versions matter, and writes three methods:

* ``prepare(run)``: the input images (fused, visible or infrared) plus the dataset's labels → the task's native
  dataset under ``run.out``; returns whatever ``train``/``evaluate`` need;
* ``train(run, data)``: train a model and return it (``None`` for a protocol that only evaluates);
* ``evaluate(run, data, model)``: an :class:`Evaluation` — named numbers, sample sizes, task details.

Everything else is here, once: settings parsing, the device rule, the ``limit`` rule (:mod:`~ivifbench.tasks.inputs`),
finding each pair's image, seeding and pinned threads (:func:`ivifbench.seeding.seeded`, around all three steps), the
versions record, small-sample notes, timings and the result file (``out/metrics.json``, schema :class:`TaskResult`).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ivifbench.errors import InputError, IvifError
from ivifbench.registry import Registry
from ivifbench.seeding import seeded
from ivifbench.tasks.inputs import InputImages, limit_pairs
from ivifbench.tasks.settings import TaskSettings, load_settings

__all__ = ["SMALL_SAMPLE", "TASKS", "Evaluation", "Task", "TaskResult", "TaskRun", "resolve_device"]

RESULT_SCHEMA = 2
SMALL_SAMPLE = 50  # fewer evaluated images than this gets a visible note: method differences may be noise
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class TaskResult:
    """What one task run produced (``out/metrics.json``).

    ``metrics``: flat named numbers (per-class keys are ``<name>/<class>``); ``n``: sample sizes (``eval_images``,
    ``train_images`` and the task's own, e.g. ``eval_boxes`` or ``eval_pixels``); ``notes``: plain sentences a reader
    must see (a split reused, a small sample); ``details``: settings (``protocol_settings``), ``versions``, ``device``,
    ``timings_s``, the input and the task's own record.
    """

    task: str
    dataset: str
    protocol: str
    seed: int
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    input: str = "fused"  # fused | visible | infrared
    n: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schema: int = RESULT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str))
        return path


@dataclass
class Evaluation:
    """What ``evaluate`` returns.

    ``splits`` names the dataset split each role used (``train``, ``val``, ``eval``), so the template can say when
    one split served two roles; ``timings_s`` adds the task's own timings to the template's.
    """

    metrics: dict[str, float]
    n: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, str | None] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass
class TaskRun:
    """One run's context, handed to ``prepare``, ``train`` and ``evaluate``."""

    task: str
    dataset: str
    root: Path
    reader: Any  # the dataset's reader (``DATASETS.get(dataset)(root)``)
    out: Path  # a folder this run owns
    protocol: str
    seed: int
    settings: Any  # the protocol's settings model
    device: str  # "cpu" or "cuda:N", from the one device rule
    images: InputImages
    progress: Progress | None = None
    verbose: bool = False

    def pairs(self, split: str | None) -> list[Any]:
        """The pairs of ``split`` under the one ``limit`` rule."""
        return limit_pairs(self.reader.pairs(split), self.settings.limit)

    def image(self, pair: Any) -> Path:
        """The image the network sees for ``pair`` (its fused image, or the visible/infrared one)."""
        return self.images.path(self.reader, pair)

    def tick(self, stage: str, done: int, total: int) -> None:
        """Report progress within a step (``stage`` e.g. ``"epoch"`` or ``"iteration"``); the template reports the
        steps themselves as ``prepare``/``train``/``evaluate``/``done``, ``done`` of 3."""
        if self.progress is not None:
            self.progress(stage, done, total)


def resolve_device(value: str | None) -> str:
    """The one device rule: ``auto`` → ``cuda:0`` when torch sees a GPU, else ``cpu``; ``cuda``/``N`` → ``cuda:N``."""
    text = str(value if value is not None else "auto").strip().lower()
    if text == "cpu":
        return "cpu"
    import torch

    if text == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if text.isdigit():
        text = f"cuda:{text}"
    if text == "cuda":
        text = "cuda:0"
    if not (text.startswith("cuda:") and text[5:].isdigit()):
        raise InputError(f"device must be auto, cpu, cuda or cuda:N, got {value!r}")
    if not torch.cuda.is_available():
        raise InputError(f"device '{value}' asked for, but torch sees no CUDA device; use device=cpu or auto")
    if int(text[5:]) >= torch.cuda.device_count():
        raise InputError(f"device '{value}': torch sees {torch.cuda.device_count()} CUDA device(s)")
    return text


class Task:
    """Base class of a downstream task; subclasses write ``prepare``, ``train`` and ``evaluate``."""

    name: ClassVar[str]
    datasets: ClassVar[tuple[str, ...]]
    protocols: ClassVar[Mapping[str, type[TaskSettings]]] = {}  # protocol name → its settings model
    version: ClassVar[str] = "1"
    headline: ClassVar[tuple[str, ...]] = ()  # the metrics a leaderboard shows, in order
    # metric name → higher_is_better; a per-class "<name>/<class>" follows "<name>"
    metric_directions: ClassVar[dict[str, bool]] = {}
    packages: ClassVar[tuple[str, ...]] = ()  # distributions whose versions are recorded with each result

    # ----------------------------------------------------------------------------------------- declared contract
    def prepare(self, run: TaskRun) -> Any:
        raise NotImplementedError

    def train(self, run: TaskRun, data: Any) -> Any:
        raise NotImplementedError

    def evaluate(self, run: TaskRun, data: Any, model: Any) -> Evaluation:
        raise NotImplementedError

    @contextmanager
    def session(self, run: TaskRun) -> Iterator[None]:
        """Held around prepare/train/evaluate (a task may set thread counts or quiet a library here)."""
        yield

    # ---------------------------------------------------------------------------------------------- class helpers
    @classmethod
    def check_request(cls, dataset: str, protocol: str) -> None:
        """Raise a one-line :class:`IvifError` unless this task supports ``dataset`` and ``protocol``."""
        if dataset not in cls.datasets:
            raise IvifError(
                f"task '{cls.name}' does not support dataset '{dataset}' (supported: {', '.join(cls.datasets)})"
            )
        if protocol not in cls.protocols:
            raise IvifError(f"task '{cls.name}' has no protocol '{protocol}' (protocols: {', '.join(cls.protocols)})")

    @classmethod
    def settings(cls, protocol: str, overrides: Mapping[str, Any] | None = None) -> TaskSettings:
        """The protocol's settings with ``overrides`` applied and checked (one-line error naming the key)."""
        if protocol not in cls.protocols:
            raise IvifError(f"task '{cls.name}' has no protocol '{protocol}' (protocols: {', '.join(cls.protocols)})")
        return load_settings(cls.name, protocol, cls.protocols[protocol], dict(overrides or {}))

    @classmethod
    def direction(cls, metric: str) -> bool | None:
        """``higher_is_better`` of ``metric`` (a per-class ``AP50/Car`` follows ``AP50``)."""
        if metric in cls.metric_directions:
            return cls.metric_directions[metric]
        return cls.metric_directions.get(metric.split("/", 1)[0])

    @classmethod
    def versions(cls) -> dict[str, str]:
        """The one versions record: ivifbench, the task, Python and the task's packages."""
        from importlib.metadata import PackageNotFoundError, version

        from ivifbench import __version__

        out = {"ivifbench": __version__, "task": f"{cls.name} {cls.version}", "python": platform.python_version()}
        for pkg in cls.packages:
            try:
                out[pkg] = version(pkg)
            except PackageNotFoundError:
                out[pkg] = "missing"
        return out

    # ------------------------------------------------------------------------------------------------ the template
    def start(
        self,
        *,
        dataset: str,
        root: Path,
        fused: Path | None,
        out: Path,
        protocol: str = "quick",
        seed: int = 0,
        input: str | None = None,
        **overrides: Any,
    ) -> TaskRun:
        """Check the request and build the run's context (what :meth:`run` does before ``prepare``)."""
        from ivifbench.datasets import DATASETS

        self.check_request(dataset, protocol)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise InputError(f"seed must be an integer in [0, 2^32), got {seed!r}")
        settings = self.settings(protocol, overrides)
        images = InputImages.of(fused, input)
        device = resolve_device(settings.device)
        out = Path(out).absolute()
        out.mkdir(parents=True, exist_ok=True)
        reader = DATASETS.get(dataset)(Path(root))
        return TaskRun(self.name, dataset, Path(root), reader, out, protocol, seed, settings, device, images)

    def run(
        self,
        *,
        dataset: str,
        root: Path,
        fused: Path | None,
        out: Path,
        protocol: str = "quick",
        seed: int = 0,
        input: str | None = None,
        progress: Progress | None = None,
        verbose: bool = False,
        **overrides: Any,
    ) -> TaskResult:
        """Prepare, train and evaluate one input's images; write ``out/metrics.json``; return the result.

        Args:
            dataset: dataset name (e.g. ``"m3fd"``).
            root: the dataset root in its native layout (labels are read from here).
            fused: folder of fused images (``<id>.png`` or ``<split>/<id>.png``); ``None`` means ``input``.
            out: a folder this run owns.
            protocol: one of the task's protocols.
            seed: the training seed, 0 ≤ seed < 2³².
            input: without ``fused``: ``"visible"`` (default) or ``"infrared"``, the single-modality baselines.
            progress: called as ``(stage, done, total)`` while the run goes.
            verbose: let the engine print its own log.
            overrides: protocol settings to change (e.g. ``epochs=3``), recorded in the result.
        """
        t0 = time.perf_counter()
        run = self.start(
            dataset=dataset, root=root, fused=fused, out=out, protocol=protocol, seed=seed, input=input, **overrides
        )
        run.progress, run.verbose = progress, verbose
        settings, images, device = run.settings, run.images, run.device
        timings: dict[str, float] = {}
        # seeded before anything is built (a model's random initialisation is part of the run), on pinned threads
        with seeded(seed, threads=settings.threads) as repro, self.session(run):
            run.tick("prepare", 0, 3)
            data = self.prepare(run)
            timings["prepare"] = time.perf_counter() - t0
            run.tick("train", 1, 3)
            t = time.perf_counter()
            model = self.train(run, data)
            timings["train"] = time.perf_counter() - t
            run.tick("evaluate", 2, 3)
            t = time.perf_counter()
            ev = self.evaluate(run, data, model)
            timings["eval"] = time.perf_counter() - t
            run.tick("done", 3, 3)
        timings = {**timings, **ev.timings_s, "total": time.perf_counter() - t0}
        details = {
            **ev.details,
            **images.record(),
            "root": str(root),
            "protocol_settings": settings.record(),
            "overrides": {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()},
            "limit": settings.limit,
            "device": device,
            "splits": ev.splits,
            "versions": self.versions(),
            "reproducibility": {k: v for k, v in repro.items() if k != "versions"},  # one versions record: above
            "timings_s": {k: round(float(v), 3) for k, v in timings.items()},
        }
        result = TaskResult(
            task=self.name,
            dataset=dataset,
            protocol=protocol,
            seed=seed,
            metrics=ev.metrics,
            details=details,
            input=images.kind,
            n=dict(ev.n),
            notes=sample_notes(ev),
        )
        result.write_json(out / "metrics.json")
        return result


def sample_notes(ev: Evaluation) -> list[str]:
    """The sentences a reader must see next to the numbers: a split serving two roles, a small sample."""
    notes = []
    sp = ev.splits
    if sp.get("eval") and sp.get("val") == sp["eval"]:
        notes.append(f"val = test: the evaluated split '{sp['eval']}' also served as the validation split")
    if sp.get("eval") and sp.get("train") == sp["eval"]:
        notes.append(f"trained and evaluated on the same split '{sp['eval']}'")
    n_eval = ev.n.get("eval_images")
    if n_eval is not None and n_eval < SMALL_SAMPLE:
        extra = ", ".join(
            f"{v} {k.removeprefix('eval_')}" for k, v in ev.n.items() if k.startswith("eval_") and k != "eval_images"
        )
        notes.append(
            f"small sample: {n_eval} evaluated images{f' ({extra})' if extra else ''}, under {SMALL_SAMPLE}; "
            "differences between methods may be noise"
        )
    return notes


TASKS: Registry[type[Task]] = Registry("task", group="ivifbench.tasks")
TASKS.register("detection", "ivifbench.tasks.detection:DetectionTask")
TASKS.register("segmentation", "ivifbench.tasks.segmentation:SegmentationTask")
TASKS.register("sod", "ivifbench.tasks.sod:SODTask")

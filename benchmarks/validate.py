"""Every problem in a suite before any work starts (``ivifbench validate`` and ``ivifbench run`` share it).

Each section asks the registry that owns the names: methods (:data:`ivifbench.fusion.registry.METHODS`), datasets
(:data:`ivifbench.datasets.DATASETS` and each reader's splits), the metric engine's own ``METRICS`` and
``CONVENTIONS``, and each task's :meth:`~ivifbench.tasks.base.Task.check_request`.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

from ivifbench.benchmarks.suite import DatasetSpec, MethodSpec, MetricsSpec, Suite, TaskSpec
from ivifbench.errors import IvifError

__all__ = ["check_suite"]


def check_suite(suite: Suite) -> tuple[list[str], list[str]]:
    """Every problem in a suite before any work starts: ``(errors, notes)``.

    Errors: unknown method/dataset/metric/task names (with "did you mean"), missing roots, folders, weights files,
    unknown splits, protocols, tasks on datasets they do not support, task methods not in the suite. Notes: optional
    methods that will be skipped, and why.
    """
    errors: list[str] = []
    notes: list[str] = []
    method_names = [m.name for m in suite.methods]
    dataset_names = [d.name for d in suite.datasets]
    for i, m in enumerate(suite.methods):
        _check_method(f"methods[{i}] '{m.name}'", m, errors, notes)
    for i, d in enumerate(suite.datasets):
        errors += _check_dataset(f"datasets[{i}] '{d.name}'", d)
    if suite.metrics is not None:
        errors += _check_metrics(suite.metrics, method_names)
    for i, t in enumerate(suite.tasks):
        errors += _check_task(f"tasks[{i}] '{t.name}'", t, method_names, dataset_names)
    if not suite.methods:
        errors.append("methods: the suite names no method")
    if not suite.datasets:
        errors.append("datasets: the suite names no dataset")
    return errors, notes


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=2, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _weights_env_hint(spec: MethodSpec) -> str:
    return f"IVIFBENCH_{spec.registry_name.upper()}_WEIGHTS"


def _check_method(where: str, m: MethodSpec, errors: list[str], notes: list[str]) -> None:
    if m.type == "registered":
        _check_registered(where, m, errors, notes)
    elif m.type == "callable":
        from ivifbench.registry import import_string

        try:
            import_string(m.target or "")
        except IvifError as exc:
            errors.append(f"{where}: {exc}")
    elif m.type == "folder":
        base = Path((m.path or "").split("{", 1)[0]).expanduser()
        if not base.exists():
            errors.append(f"{where}: folder of fused images not found: {m.path}")


def _check_registered(where: str, m: MethodSpec, errors: list[str], notes: list[str]) -> None:
    from ivifbench.fusion.registry import METHODS

    if m.registry_name not in METHODS:
        errors.append(f"{where}: {METHODS.suggest(m.registry_name)}")
        return
    try:
        cls = METHODS.get(m.registry_name)
        info = getattr(cls, "info", None)
        needs = bool(info and info.needs_weights)
        source = info.weights_source if info and needs else ""
    except Exception as exc:
        errors.append(f"{where}: cannot import method: {exc}")
        return
    if m.weights:
        if not Path(m.weights).expanduser().is_file():
            errors.append(f"{where}: weights file not found: {m.weights}")
    elif needs:
        msg = (
            f"{where}: needs weights (set weights: PATH, e.g. via ${{{_weights_env_hint(m)}}}; "
            f"get them from {source or 'the method authors'})"
        )
        (notes if m.optional else errors).append(msg + (" — skipped" if m.optional else ""))


def _check_dataset(where: str, d: DatasetSpec) -> list[str]:
    from ivifbench.datasets import DATASETS

    if d.name not in DATASETS:
        return [f"{where}: {DATASETS.suggest(d.name)}"]
    try:
        reader_cls = DATASETS.get(d.name)
    except Exception as exc:
        return [f"{where}: cannot import dataset reader: {exc}"]
    errors: list[str] = []
    splits = tuple(reader_cls.splits)
    if d.root is not None:
        root = Path(d.root).expanduser()
        if not root.is_dir():
            errors.append(f"{where}: root not found: {d.root} (point root: at the folder in the native layout)")
        else:
            try:
                splits = tuple(reader_cls(root, **d.options).splits)
            except Exception as exc:
                errors.append(f"{where}: cannot open {d.root}: {exc}")
    for s in d.splits or ():
        if s not in splits:
            errors.append(f"{where}: no split '{s}' (splits: {', '.join(splits)})")
    return errors


def _check_metrics(spec: MetricsSpec, method_names: list[str]) -> list[str]:
    errors: list[str] = []
    module_name = spec.engine.partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return [f"metrics.engine: cannot import the metric engine '{module_name}' ({exc})"]
    if not callable(getattr(module, spec.engine.partition(":")[2] or "score_folders", None)):
        errors.append(f"metrics.engine: '{spec.engine}' is not a function")
    metrics = getattr(module, "METRICS", None)
    if spec.names != "all" and metrics is not None:
        for n in spec.names:
            if n not in metrics:
                errors.append(f"metrics.names: {metrics.suggest(n)}")
    conventions = sorted(getattr(module, "CONVENTIONS", None) or [])
    if conventions and spec.convention not in conventions:
        errors.append(
            f"metrics.convention: unknown convention '{spec.convention}'{_did_you_mean(spec.convention, conventions)}"
            f" (conventions: {', '.join(conventions)})"
        )
    for name in spec.methods or ():
        if name not in method_names:
            errors.append(
                f"metrics.methods: '{name}' is not in this suite's methods{_did_you_mean(name, method_names)}"
            )
    return errors


def _check_task(where: str, t: TaskSpec, method_names: list[str], dataset_names: list[str]) -> list[str]:
    from ivifbench.tasks import TASKS

    errors: list[str] = []
    if t.name not in TASKS:
        errors.append(f"{where}: {TASKS.suggest(t.name)}")
    else:
        try:
            TASKS.get(t.name).check_request(t.dataset, t.protocol)  # the task's own rule for datasets and protocols
        except IvifError as exc:
            errors.append(f"{where}: {exc}")
        except Exception as exc:
            errors.append(f"{where}: cannot import task: {exc}")
    if t.dataset not in dataset_names:
        errors.append(f"{where}: dataset '{t.dataset}' is not in this suite's datasets ({', '.join(dataset_names)})")
    for name in t.methods or ():
        if name not in method_names:
            errors.append(f"{where}: method '{name}' is not in this suite's methods{_did_you_mean(name, method_names)}")
    for k in ("weights", "pretrained", "checkpoint"):  # file-valued overrides: say now, not after hours of fusing
        if k not in t.overrides:
            continue
        v = t.overrides[k]
        if v is None or v == "":
            errors.append(f"{where}: overrides.{k} is empty (an unset environment variable?); name the file")
        elif isinstance(v, str) and "{" not in v and not Path(v).expanduser().is_file():
            errors.append(f"{where}: overrides.{k}: file not found: {v}")
    return errors

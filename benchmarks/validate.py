"""Every problem in a suite before any work starts (``ivifbench validate`` and ``ivifbench run`` share it): whatever
``run`` or one of its units would reject is found here first, so that a suite that validates runs.

Rules (besides the schema's: seed ranges, names, types): unknown method/dataset/metric/task/convention names; metric ×
convention support; missing roots, splits, folders and weights; folder methods' coverage of every dataset split they
must serve and their path placeholders; callable targets that do not import or are not callable; unset ``${VAR}``s in
paths; task datasets, protocols and methods; file-valued task overrides.

Each section asks the registry that owns the names: methods (:data:`ivifbench.fusion.registry.METHODS`), datasets
(:data:`ivifbench.datasets.DATASETS` and each reader's splits), the metric engine's own ``METRICS`` and
``CONVENTIONS``, and each task's :meth:`~ivifbench.tasks.base.Task.check_request`.
"""

from __future__ import annotations

import difflib
import importlib
import string
from collections.abc import Mapping
from pathlib import Path

from ivifbench.benchmarks.suite import DatasetSpec, MethodSpec, MetricsSpec, Suite, TaskSpec, unset_variables
from ivifbench.errors import IvifError

__all__ = ["RULES", "check_suite"]

RULES = (
    "schema: types, unknown keys, seed ranges (synthetic seed >= 0, task seeds in [0, 2**32)), synthetic sizes",
    "unique method and dataset names",
    "registered methods exist and import; weights files exist or the method is optional",
    "method parameters: known names, valid types and ranges (each method's declared parameters)",
    "callable targets import (an import-time exception is one line) and are callable",
    "folder methods: the folder exists, placeholders are only {dataset} and {split}",
    "folder methods: an image for every pair of every dataset split the suite makes them serve",
    "unset ${VAR} in any path, target, weights or task override",
    "datasets exist, roots exist and open, named splits exist",
    "metric names exist in the metric engine; the engine imports",
    "conventions exist (suite-wide and per dataset)",
    "every metric has a variant under every convention a dataset is scored with",
    "metrics.methods and task methods are the suite's",
    "tasks exist, accept their dataset and protocol, and their dataset is the suite's",
    "task overrides pass the task's own settings model for the protocol (names, types, ranges)",
    "file-valued task overrides (weights, pretrained, checkpoint) are set and exist",
    "the suite names at least one method and one dataset",
)
"""What :func:`check_suite` checks, one line per kind of rule."""


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
    errors += _check_unset(suite)
    for i, m in enumerate(suite.methods):
        _check_method(f"methods[{i}] '{m.name}'", m, errors, notes)
    pairs: dict[str, dict[str, list[str]] | None] = {}
    for i, d in enumerate(suite.datasets):
        errs, pairs[d.name] = _check_dataset(f"datasets[{i}] '{d.name}'", d)
        errors += errs
    if suite.metrics is not None:
        errors += _check_metrics(suite.metrics, method_names)
        errors += _check_conventions(suite)
    for i, t in enumerate(suite.tasks):
        errors += _check_task(f"tasks[{i}] '{t.name}'", t, method_names, dataset_names)
    errors += _check_folder_coverage(suite, pairs)
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
        errors += _check_callable(where, m.target or "")
    elif m.type == "folder":
        fields = _placeholders(m.path or "")
        if fields is None:
            errors.append(f"{where}: path '{m.path}' is not a valid template (a lone '{{' or '}}'?)")
            return
        bad = sorted(fields - {"dataset", "split"})
        if bad:
            errors.append(
                f"{where}: path placeholder {{{bad[0]}}} is unknown; use {{dataset}} and {{split}} (path: {m.path})"
            )
            return
        base = Path((m.path or "").split("{", 1)[0]).expanduser()
        if not base.exists():
            errors.append(f"{where}: folder of fused images not found: {m.path}")


def _placeholders(path: str) -> set[str] | None:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(path) if f is not None}
    except ValueError:
        return None


def _check_callable(where: str, target: str) -> list[str]:
    """The target imports (any exception while importing is one line) and is callable (a function or a class)."""
    from ivifbench.registry import import_string

    try:
        obj = import_string(target)
    except IvifError as exc:
        return [f"{where}: {exc}"]
    except Exception as exc:  # the module raised while importing: its first line is what the user needs
        first = (str(exc).strip().splitlines() or [""])[0]
        return [f"{where}: importing '{target}' raised {type(exc).__name__}: {first}"]
    if not callable(obj):
        return [f"{where}: target '{target}' is a {type(obj).__name__}, not a function or class"]
    return []


def _check_unset(suite: Suite) -> list[str]:
    """``${VAR}`` left in a path by :func:`~ivifbench.benchmarks.suite.expand_env`: the variable is unset."""
    found: list[tuple[str, str]] = []
    for i, m in enumerate(suite.methods):
        for key in ("path", "target"):
            found += [(f"methods[{i}] '{m.name}'.{key}", v) for v in unset_variables(getattr(m, key) or "")]
    for i, d in enumerate(suite.datasets):
        found += [(f"datasets[{i}] '{d.name}'.root", v) for v in unset_variables(d.root or "")]
        found += [(f"datasets[{i}] '{d.name}'.options.{k}", v) for k, o in d.options.items() if isinstance(o, str)
                  for v in unset_variables(o)]  # fmt: skip
    for i, t in enumerate(suite.tasks):
        found += [(f"tasks[{i}] '{t.name}'.overrides.{k}", v) for k, o in t.overrides.items() if isinstance(o, str)
                  for v in unset_variables(o)]  # fmt: skip
    if suite.metrics is not None:
        found += [("metrics.engine", v) for v in unset_variables(suite.metrics.engine)]
    return [f"{where}: environment variable {var} is not set (export it, or write ${{{var}:-default}})"
            for where, var in found]  # fmt: skip


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
    from ivifbench.fusion.registry import check_params

    # the method's declared parameters: the run's create_method would refuse the same ones
    errors.extend(f"{where}: {problem}" for problem in check_params(m.registry_name, m.params))
    if m.weights:
        if not Path(m.weights).expanduser().is_file():
            errors.append(f"{where}: weights file not found: {m.weights}")
    elif needs:
        msg = (
            f"{where}: needs weights (set weights: PATH, e.g. via ${{{_weights_env_hint(m)}}}; "
            f"get them from {source or 'the method authors'})"
        )
        (notes if m.optional else errors).append(msg + (" — skipped" if m.optional else ""))


def _check_dataset(where: str, d: DatasetSpec) -> tuple[list[str], dict[str, list[str]] | None]:
    """Errors, and the pair ids per split as the run will use them (``None`` for a synthetic replica, made later)."""
    from ivifbench.datasets import DATASETS

    if d.name not in DATASETS:
        return [f"{where}: {DATASETS.suggest(d.name)}"], None
    try:
        reader_cls = DATASETS.get(d.name)
    except Exception as exc:
        return [f"{where}: cannot import dataset reader: {exc}"], None
    errors: list[str] = []
    splits = tuple(reader_cls.splits)
    ids: dict[str, list[str]] | None = None
    if d.root is not None and not unset_variables(d.root):
        root = Path(d.root).expanduser()
        if not root.is_dir():
            errors.append(f"{where}: root not found: {d.root} (point root: at the folder in the native layout)")
        else:
            try:
                reader = reader_cls(root, **d.options)
                splits = tuple(reader.splits)
                ids = {}
                for s in splits:
                    found = sorted(p.id for p in reader.pairs(s))
                    ids[s] = found[: d.limit] if d.limit else found
            except Exception as exc:
                errors.append(f"{where}: cannot open {d.root}: {exc}")
                ids = None
    for s in d.splits or ():
        if s not in splits:
            errors.append(f"{where}: no split '{s}' (splits: {', '.join(splits)})")
    return errors, ids


def _check_conventions(suite: Suite) -> list[str]:
    """Every convention exists, and every metric has a variant under each convention a dataset is scored with (an
    unsupported metric would fail the whole score unit after all the fusing)."""
    if suite.metrics is None:
        return []
    try:
        module = importlib.import_module(suite.metrics.engine.partition(":")[0])
    except ImportError:
        return []  # reported by _check_metrics
    known = sorted(getattr(module, "CONVENTIONS", None) or [])
    registry = getattr(module, "METRICS", None)
    errors: list[str] = []
    users: dict[str, list[str]] = {}  # convention -> datasets scored with it
    for i, d in enumerate(suite.datasets):
        where = f"datasets[{i}] '{d.name}'.convention" if d.convention else "metrics.convention"
        for c in suite.conventions(d.name):
            if known and c not in known:
                msg = f"{where}: unknown convention '{c}'{_did_you_mean(c, known)} (conventions: {', '.join(known)})"
                if msg not in errors:
                    errors.append(msg)
                continue
            users.setdefault(c, []).append(d.name)
    if registry is None or suite.metrics.names == "all":
        return errors  # "all" means each convention's own set
    for n in suite.metrics.names:
        if n not in registry:
            continue  # reported by _check_metrics
        variants = getattr(registry.get(n), "conventions", None)
        if variants is None:
            continue
        for c, datasets in users.items():
            if c not in variants:
                errors.append(
                    f"metrics.names: '{n}' has no '{c}' variant (used for {', '.join(datasets)}); it follows "
                    f"{', '.join(variants)}. Drop it, or see `ivifbench metrics list --convention {c}`"
                )
    return errors


def _folder_needs(suite: Suite) -> dict[str, dict[str, set[str] | None]]:
    """Per folder method: per dataset, the splits it must serve (``None``: every split that has pairs)."""
    folder = [m.name for m in suite.methods if m.type == "folder"]
    need: dict[str, dict[str, set[str] | None]] = {m: {} for m in folder}
    if suite.metrics is not None:
        for m in folder:
            if suite.metrics.methods is None or m in suite.metrics.methods:
                for d in suite.datasets:
                    cur = need[m].get(d.name, set())
                    need[m][d.name] = None if cur is None or d.splits is None else cur | set(d.splits)
    for t in suite.tasks:
        for m in folder:
            if t.methods is None or m in t.methods:
                need[m][t.dataset] = None  # a task trains and evaluates on every split
    return need


def _check_folder_coverage(suite: Suite, pairs: dict[str, dict[str, list[str]] | None]) -> list[str]:
    """A folder method has an image for every pair of every dataset split it serves (real datasets; a synthetic
    replica's pairs exist only once it is made, so only its folders are checked)."""
    from ivifbench.errors import InputError
    from ivifbench.fusion.external import FolderMethod

    errors: list[str] = []
    for i, m in enumerate(suite.methods):
        fields = _placeholders(m.path or "") if m.type == "folder" else None
        if not m.path or fields is None or fields - {"dataset", "split"}:
            continue
        if not Path(m.path.split("{", 1)[0]).expanduser().exists():
            continue  # reported already
        where = f"methods[{i}] '{m.name}'"
        fm = FolderMethod(m.name, m.path)
        for ds, splits in _folder_needs(suite).get(m.name, {}).items():
            ids = pairs.get(ds)
            if ids is None:
                continue
            for split in sorted(splits if splits is not None else [s for s, v in ids.items() if v]):
                want = ids.get(split, [])
                if not want:
                    continue
                try:
                    files = fm.files(ds, split, want)
                except InputError as exc:
                    errors.append(f"{where}: no fused images for {ds}/{split}: {exc}")
                    continue
                missing = [k for k, v in files.items() if v is None]
                if missing:
                    errors.append(
                        f"{where}: {len(missing)} of {len(want)} fused images missing for {ds}/{split} "
                        f"(first: '{missing[0]}'; looked in {fm.folder(ds, split)})"
                    )
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
            task_cls = TASKS.get(t.name)
            task_cls.check_request(t.dataset, t.protocol)  # the task's own rule for datasets and protocols
            if isinstance(task_cls.protocols, Mapping):  # and its own settings model for the overrides
                task_cls.settings(t.protocol, t.overrides)
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
        elif isinstance(v, str) and unset_variables(v):
            continue  # reported by _check_unset
        elif isinstance(v, str) and "{" not in v and not Path(v).expanduser().is_file():
            errors.append(f"{where}: overrides.{k}: file not found: {v}")
    return errors

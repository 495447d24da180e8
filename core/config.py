"""Suite configuration: the pydantic models of a suite YAML, loading (one level of ``include:``) and validation.

A suite names methods (with parameters and weights), datasets (a root or a synthetic replica, splits, ``limit``), the
fusion metrics and their convention, and the downstream tasks with their protocol, seeds and overrides::

    name: my-sweep
    version: 1
    include: base.yaml              # optional, one level; this file's keys win (lists of named items merge by name)
    methods:
      - average                     # a registered method (built-in or plugin)
      - {name: weighted, params: {w: 0.7}}
      - {name: sage, weights: ${IVIFBENCH_SAGE_WEIGHTS}, optional: true}
      - {name: mine, type: callable, target: "mypkg.fusion:fuse"}
      - {name: published, type: folder, path: /data/fused/published/{dataset}}
    datasets:
      - {name: msrs, root: /data/MSRS, splits: [test], limit: 50}
      - {name: m3fd, synthetic: {pairs: 12, seed: 0}}
    metrics: {names: [EN, SD, SF, AG], convention: canonical}
    tasks:
      - {name: detection, dataset: m3fd, methods: [average, max], protocol: quick, seeds: [0], overrides: {epochs: 2}}

``${VAR}`` and ``${VAR:-default}`` in strings are expanded from the environment; ``~`` in paths is expanded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ivifbench.errors import IvifError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SuiteError(IvifError):
    """A suite file that cannot be read or does not validate; the message lists every problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class MethodSpec(_Model):
    """One method of a sweep.

    ``type``: ``registered`` (a name in the method registry, built-in or plugin), ``callable`` (``target`` is
    ``module:function`` taking ``(ir, vis)`` tensors, or a class: a FusionMethod subclass or any callable class), or
    ``folder`` (precomputed fused images: ``path`` holds ``<id>.png`` files, optionally with ``{dataset}`` and ``{split}``
    placeholders; without placeholders, ``path/<dataset>/<split>``, ``path/<dataset>`` and ``path`` are tried in turn).
    """

    name: str
    type: Literal["registered", "callable", "folder"] = "registered"
    method: str | None = None  # registry name when it differs from ``name`` (e.g. two parameterisations of one method)
    target: str | None = None
    path: str | None = None
    weights: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    optional: bool = False  # skip (and say why in the report) when weights are not configured, instead of failing
    trained_on: list[str] = Field(default_factory=list)  # extra in-domain datasets (folder/callable methods)
    version: str | None = None  # for callable/folder methods: bump to invalidate the cache by hand
    colour: Literal["luminance", "native"] = "luminance"  # callables: fuse (ir, y) and keep chroma, or (ir, vis)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", v):
            raise ValueError(f"method name '{v}' must be letters, digits, '_', '-', '.', '+' (it names a folder)")
        return v

    @model_validator(mode="after")
    def _fields_for_type(self) -> MethodSpec:
        if self.type == "callable" and not self.target:
            raise ValueError(f"method '{self.name}': type 'callable' needs target: 'module:function'")
        if self.type == "folder" and not self.path:
            raise ValueError(f"method '{self.name}': type 'folder' needs path: the folder of fused images")
        return self

    @property
    def registry_name(self) -> str:
        return self.method or self.name


class SyntheticSpec(_Model):
    pairs: int = Field(8, ge=2, le=10000)
    seed: int = 0
    size: int | tuple[int, int] | None = None  # (width, height), or one number for a square; default: the replica's

    @field_validator("size")
    @classmethod
    def _size_ok(cls, v: Any) -> Any:
        if v is None:
            return v
        w, h = (v, v) if isinstance(v, int) else v
        if not (16 <= w <= 8192 and 16 <= h <= 8192):
            raise ValueError(f"synthetic size {w}×{h} is out of range")
        return v

    @property
    def wh(self) -> tuple[int, int] | None:
        if self.size is None:
            return None
        return (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)  # type: ignore[return-value]


class DatasetSpec(_Model):
    """One dataset: its registry ``name`` and either a ``root`` in the native layout or a ``synthetic`` replica."""

    name: str
    root: str | None = None
    synthetic: SyntheticSpec | None = None
    splits: list[str] | None = None  # splits scored with the fusion metrics (default: every split of the dataset)
    limit: int | None = Field(None, ge=1)  # first N pairs (by id) of each split
    options: dict[str, Any] = Field(default_factory=dict)  # reader options, e.g. m3fd split_files: {train: ids.txt}

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.root is None) == (self.synthetic is None):
            raise ValueError(f"dataset '{self.name}': give exactly one of root: PATH or synthetic: {{pairs: N}}")
        return self


class MetricsSpec(_Model):
    names: list[str] | Literal["all"] = Field(default_factory=lambda: ["EN", "SD", "SF", "AG"])
    convention: str = "canonical"
    methods: list[str] | None = None  # default: every method
    batch_size: int = Field(8, ge=1)
    engine: str = "ivifbench.metrics:score_folders"  # the scoring function (module:function), for custom engines


class TaskSpec(_Model):
    name: str
    dataset: str
    methods: list[str] | None = None  # default: every method
    protocol: str = "quick"
    seeds: list[int] = Field(default_factory=lambda: [0])
    overrides: dict[str, Any] = Field(default_factory=dict)


class ReportSpec(_Model):
    formats: list[Literal["md", "tex", "csv", "html"]] = Field(default_factory=lambda: ["md", "tex", "csv", "html"])
    grid_images: int = Field(3, ge=0, le=20)  # fused-image grid: pairs per dataset in the HTML report


class Suite(_Model):
    name: str
    version: str | int = 1
    description: str = ""
    methods: list[MethodSpec] = Field(default_factory=list)
    datasets: list[DatasetSpec] = Field(default_factory=list)
    metrics: MetricsSpec | None = Field(default_factory=MetricsSpec)
    tasks: list[TaskSpec] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)
    device: str = "auto"

    @field_validator("methods", mode="before")
    @classmethod
    def _bare_names(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"name": m} if isinstance(m, str) else m for m in v]
        return v

    @field_validator("datasets", mode="before")
    @classmethod
    def _bare_datasets(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"name": d, "synthetic": {}} if isinstance(d, str) else d for d in v]
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        for what, names in (("method", [m.name for m in self.methods]), ("dataset", [d.name for d in self.datasets])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what} names must be unique; repeated: {', '.join(dup)}")
        return self

    def method(self, name: str) -> MethodSpec:
        return next(m for m in self.methods if m.name == name)

    def dataset(self, name: str) -> DatasetSpec:
        return next(d for d in self.datasets if d.name == name)


# ----------------------------------------------------------------------------------------------------------------------
# loading


def expand_env(value: Any) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree (unset, no default → '')."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def builtin_suites() -> dict[str, Path]:
    """The suites shipped with the package (``quick``, ``paper``, ``full``), by name."""
    folder = Path(__file__).resolve().parent.parent / "benchmarks" / "suites"
    try:
        from importlib.resources import files

        folder = Path(str(files("ivifbench.benchmarks") / "suites"))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - only when the package is not installed
        pass
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_suite_path(ref: str | Path) -> Path:
    """A suite file path, or the name of a built-in suite (``quick``, ``paper``, ``full``)."""
    p = Path(ref).expanduser()
    if p.is_file():
        return p
    suites = builtin_suites()
    if str(ref) in suites:
        return suites[str(ref)]
    import difflib

    close = difflib.get_close_matches(str(ref), list(suites), n=2)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise SuiteError(f"{ref}: no such suite file{hint} (built-in suites: {', '.join(suites)})")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read suite ({exc})") from exc
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML ({str(exc).splitlines()[0]} …)") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SuiteError(
            f"{path}: a suite is a YAML mapping (name:, methods:, datasets:, …), got {type(data).__name__}"
        )
    return data


def _merge_named(base: list[Any], over: list[Any]) -> list[Any]:
    def key(item: Any) -> Any:
        return item if isinstance(item, str) else (item.get("name") if isinstance(item, dict) else repr(item))

    out = {key(i): i for i in base}
    for i in over:
        out[key(i)] = i
    return list(out.values())


def load_suite_dict(ref: str | Path) -> tuple[dict[str, Any], Path]:
    """Read a suite file (or built-in name) with its one level of ``include:`` merged in; env vars expanded."""
    path = resolve_suite_path(ref)
    data = _read_yaml(path)
    include = data.pop("include", None)
    if include:
        includes = [include] if isinstance(include, str) else list(include)
        merged: dict[str, Any] = {}
        for inc in includes:
            inc_path = (path.parent / inc) if not Path(inc).is_absolute() else Path(inc)
            if not inc_path.is_file() and str(inc) in builtin_suites():
                inc_path = builtin_suites()[str(inc)]
            if not inc_path.is_file():
                raise SuiteError(f"{path}: include '{inc}' not found (looked at {inc_path})")
            inc_data = _read_yaml(inc_path)
            if "include" in inc_data:
                raise SuiteError(f"{inc_path}: included suites cannot include others (one level of include:)")
            merged = _merge(merged, inc_data)
        data = _merge(merged, data)
    return expand_env(data), path


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if k in ("methods", "datasets") and isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = _merge_named(out[k], v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def _format_validation(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "suite"
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{loc}: {msg}")
    return problems


def parse_suite(data: dict[str, Any], source: str = "suite") -> Suite:
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        problems = _format_validation(exc)
        raise SuiteError(f"{source}: {len(problems)} problem(s): " + "; ".join(problems)) from exc


def load_suite(ref: str | Path) -> Suite:
    """Load and schema-validate a suite (no registry or file checks; see :func:`check_suite` for those)."""
    data, path = load_suite_dict(ref)
    return parse_suite(data, str(path))


# ----------------------------------------------------------------------------------------------------------------------
# semantic checks (every problem at once)


def _weights_env_hint(spec: MethodSpec) -> str:
    return f"IVIFBENCH_{spec.registry_name.upper()}_WEIGHTS"


def check_suite(suite: Suite) -> tuple[list[str], list[str]]:
    """Every problem in a suite before any work starts: ``(errors, notes)``.

    Errors: unknown method/dataset/metric/task names (with "did you mean"), missing roots, folders, weights files,
    unknown splits, protocols, tasks on datasets they do not support, task methods not in the suite. Notes: optional
    methods that will be skipped, and why.
    """
    from ivifbench.datasets import DATASETS
    from ivifbench.fusion.registry import METHODS
    from ivifbench.tasks import TASKS

    errors: list[str] = []
    notes: list[str] = []
    method_names = [m.name for m in suite.methods]
    for i, m in enumerate(suite.methods):
        where = f"methods[{i}] '{m.name}'"
        if m.type == "registered":
            if m.registry_name not in METHODS:
                errors.append(f"{where}: {METHODS.suggest(m.registry_name)}")
                continue
            try:
                cls = METHODS.get(m.registry_name)
                needs = bool(getattr(cls, "info", None) and cls.info.needs_weights)
                source = cls.info.weights_source if needs else ""
            except Exception as exc:
                errors.append(f"{where}: cannot import method: {exc}")
                continue
            if m.weights:
                if not Path(m.weights).expanduser().is_file():
                    errors.append(f"{where}: weights file not found: {m.weights}")
            elif needs:
                msg = (
                    f"{where}: needs weights (set weights: PATH, e.g. via ${{{_weights_env_hint(m)}}}; "
                    f"get them from {source or 'the method authors'})"
                )
                (notes if m.optional else errors).append(msg + (" — skipped" if m.optional else ""))
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
    dataset_names = [d.name for d in suite.datasets]
    for i, d in enumerate(suite.datasets):
        where = f"datasets[{i}] '{d.name}'"
        if d.name not in DATASETS:
            errors.append(f"{where}: {DATASETS.suggest(d.name)}")
            continue
        try:
            reader_cls = DATASETS.get(d.name)
        except Exception as exc:
            errors.append(f"{where}: cannot import dataset reader: {exc}")
            continue
        if d.root is not None and not Path(d.root).expanduser().is_dir():
            errors.append(f"{where}: root not found: {d.root} (point root: at the folder in the native layout)")
        splits = tuple(reader_cls.splits)
        if d.root is not None and Path(d.root).expanduser().is_dir():
            try:
                splits = tuple(reader_cls(Path(d.root).expanduser(), **d.options).splits)
            except Exception as exc:
                errors.append(f"{where}: cannot open {d.root}: {exc}")
        for s in d.splits or ():
            if s not in splits:
                errors.append(f"{where}: no split '{s}' (splits: {', '.join(splits)})")
    if suite.metrics is not None:
        errors += _check_metrics(suite.metrics, method_names)
    for i, t in enumerate(suite.tasks):
        where = f"tasks[{i}] '{t.name}'"
        if t.name not in TASKS:
            errors.append(f"{where}: {TASKS.suggest(t.name)}")
            task_cls = None
        else:
            try:
                task_cls = TASKS.get(t.name)
            except Exception as exc:
                errors.append(f"{where}: cannot import task: {exc}")
                task_cls = None
        if t.dataset not in dataset_names:
            errors.append(
                f"{where}: dataset '{t.dataset}' is not in this suite's datasets ({', '.join(dataset_names)})"
            )
        if task_cls is not None:
            supported = getattr(task_cls, "datasets", ())
            if supported and t.dataset not in supported:
                errors.append(f"{where}: does not support dataset '{t.dataset}' (supports: {', '.join(supported)})")
            protocols = getattr(task_cls, "protocols", ())
            if protocols and t.protocol not in protocols:
                errors.append(f"{where}: unknown protocol '{t.protocol}' (protocols: {', '.join(protocols)})")
        for name in t.methods or ():
            if name not in method_names:
                errors.append(
                    f"{where}: method '{name}' is not in this suite's methods{_did_you_mean(name, method_names)}"
                )
        for k in ("weights", "pretrained", "checkpoint"):  # file-valued overrides: say now, not after hours of fusing
            if k not in t.overrides:
                continue
            v = t.overrides[k]
            if v is None or v == "":
                errors.append(f"{where}: overrides.{k} is empty (an unset environment variable?); name the file")
            elif isinstance(v, str) and "{" not in v and not Path(v).expanduser().is_file():
                errors.append(f"{where}: overrides.{k}: file not found: {v}")
    if not suite.methods:
        errors.append("methods: the suite names no method")
    if not suite.datasets:
        errors.append("datasets: the suite names no dataset")
    return errors, notes


def _did_you_mean(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=2, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _check_metrics(spec: MetricsSpec, method_names: list[str]) -> list[str]:
    import importlib

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

"""A suite: the pydantic models of a suite YAML and loading (one level of ``include:``); checks live in ``validate``.

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
      - {name: vifb, root: /data/VIFB, convention: vifb}   # a dataset's own convention(s) win over metrics.convention
      - {name: m3fd, synthetic: {pairs: 12, seed: 0}}
    metrics: {names: [EN, SD, SF, AG], convention: [canonical, tang]}   # one name or a list; the first ranks
    report: {names: {msrs: MSRS, gff: GFF}, order: [sage, gff], decimals: {EN: 2}, layout: split}
    tasks:
      - {name: detection, dataset: m3fd, methods: [average, max], protocol: quick, seeds: [0], overrides: {epochs: 2}}

``${VAR}`` and ``${VAR:-default}`` in strings are expanded from the environment; ``~`` in paths is expanded. An unset
variable without a default stays as written (``validate`` and ``run`` name it), except in ``weights:``, where it means
"no weights configured" (an ``optional`` method is then skipped).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ivifbench.errors import IvifError
from ivifbench.fusion.spec import MethodSpec

__all__ = [
    "DatasetSpec",
    "MethodSpec",
    "MetricsSpec",
    "ReportSpec",
    "Suite",
    "SuiteError",
    "SyntheticSpec",
    "TaskSpec",
    "builtin_suites",
    "expand_env",
    "load_suite",
    "load_suite_dict",
    "parse_suite",
    "resolve_suite_path",
    "unset_variables",
]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SUITES_DIR = Path(__file__).resolve().parent / "suites"


class SuiteError(IvifError):
    """A suite file that cannot be read or does not validate; the message lists every problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


SEED_MAX = 2**32 - 1  # task seeds seed NumPy and torch generators, which take 32-bit seeds


class SyntheticSpec(_Model):
    pairs: int = Field(8, ge=2, le=10000)
    seed: int = Field(0, ge=0, le=SEED_MAX)
    size: int | tuple[int, int] | None = None  # (width, height), or one number for a square; default: the replica's

    @field_validator("size")
    @classmethod
    def _size_ok(cls, v: Any) -> Any:
        if v is None:
            return v
        w, h = (v, v) if isinstance(v, int) else v
        if not (64 <= w <= 8192 and 48 <= h <= 8192):  # the replicas' own bounds (datasets.common.synthesize)
            raise ValueError(f"synthetic size {w}×{h} is out of range (64×48 to 8192×8192)")
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
    convention: str | list[str] | None = None  # this dataset's metric convention(s); default: metrics.convention

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.root is None) == (self.synthetic is None):
            raise ValueError(f"dataset '{self.name}': give exactly one of root: PATH or synthetic: {{pairs: N}}")
        return self


class MetricsSpec(_Model):
    names: list[str] | Literal["all"] = Field(default_factory=lambda: ["EN", "SD", "SF", "AG"])
    convention: str | list[str] = "canonical"  # one or several; each score is stored with its convention
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

    @field_validator("seeds")
    @classmethod
    def _seeds_ok(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if not 0 <= s <= SEED_MAX]
        if bad:
            raise ValueError(f"seed {bad[0]} is out of range; seeds are 0 … 2**32 - 1 ({SEED_MAX})")
        return v


REPORT_FORMATS: tuple[Literal["md", "tex", "csv", "html"], ...] = ("md", "tex", "csv", "html")


class ReportSpec(_Model):
    formats: list[Literal["md", "tex", "csv", "html"]] = Field(default_factory=lambda: list(REPORT_FORMATS))
    grid_images: int = Field(3, ge=0, le=20)  # fused-image grid: pairs per dataset in the HTML report
    names: dict[str, str] = Field(default_factory=dict)  # display names of methods, datasets, metrics (by id)
    order: list[str] = Field(default_factory=list)  # row order of the per-dataset tables (the rest follow, A–Z)
    decimals: dict[str, int] = Field(default_factory=dict)  # per metric, overriding the metric's own
    layout: Literal["split", "wide", "landscape"] = "split"  # LaTeX: fit a column, table*, or sidewaystable


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
    # seconds a unit of each kind may run before it is killed and recorded failed (0: no limit); run --timeout wins
    timeouts: dict[Literal["fuse", "score", "task"], float] = Field(default_factory=dict)

    @field_validator("timeouts")
    @classmethod
    def _timeouts_ok(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [f"{k}: {x}" for k, x in v.items() if not 0 <= x < float("inf")]
        if bad:
            raise ValueError(f"timeouts must be finite seconds ≥ 0 (0: no limit); got {', '.join(bad)}")
        return v

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

    @model_validator(mode="after")
    def _unset_weights(self) -> Suite:
        # weights: ${VAR} with VAR unset means "not configured" (optional methods are then skipped), not a file
        for m in self.methods:
            if m.weights is not None and (m.weights == "" or _ENV.fullmatch(m.weights)):
                m.weights = None
        return self

    def method(self, name: str) -> MethodSpec:
        return next(m for m in self.methods if m.name == name)

    def conventions(self, dataset: str) -> list[str]:
        """The conventions ``dataset`` is scored under, its primary (ranked) one first."""
        own = self.dataset(dataset).convention
        if own:
            return list(dict.fromkeys([own] if isinstance(own, str) else own))
        if self.metrics is None:
            return []
        conv = self.metrics.convention
        return list(dict.fromkeys([conv] if isinstance(conv, str) else conv))

    def dataset(self, name: str) -> DatasetSpec:
        return next(d for d in self.datasets if d.name == name)


# ----------------------------------------------------------------------------------------------------------------------
# loading


def expand_env(value: Any) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree; an unset (or empty) variable
    without a default stays as written, so that validation can name it instead of a path silently becoming ''."""
    if isinstance(value, str):
        return _ENV.sub(
            lambda m: os.environ.get(m.group(1)) or (m.group(2) if m.group(2) is not None else m.group(0)), value
        )
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def unset_variables(value: str) -> list[str]:
    """The ``${VAR}`` references :func:`expand_env` left in ``value`` (their variables are unset)."""
    return [m.group(1) for m in _ENV.finditer(value) if m.group(2) is None]


def builtin_suites() -> dict[str, Path]:
    """The suites shipped with the package (``quick``, ``paper``, ``full``), by name."""
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.yaml"))}


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
    """Load and schema-validate a suite (no registry or file checks; see :func:`ivifbench.benchmarks.validate.check_suite`)."""
    data, path = load_suite_dict(ref)
    return parse_suite(data, str(path))

"""``ivifbench task NAME``: one method's images through a downstream task, over seeds — one command per registered task.

The commands are made from the task registry when the CLI runs, so a plugin task (entry point ``ivifbench.tasks``, or
``TASKS.register``) gets ``ivifbench task NAME`` with the same options as the built-in ones. It lives in benchmarks/
(the floor above fusion and tasks) because it fuses and then runs a task, like a one-unit sweep.

``--method M`` fuses the dataset's pairs with M first (``--weights``, ``--param``), unless ``--fused DIR`` gives M's
fused images; ``--method visible`` / ``--method infrared`` run the single-modality baselines. Quiet by default: the
engine's own log goes to ``OUT/task.log`` and a progress bar shows the stages (``-v`` prints the engine's log).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

BASELINES = ("visible", "infrared")


class _RegistryGroup(TyperGroup):
    """A click group with one command per name in the task registry, made when the CLI runs (plugins included)."""

    _loaded = False

    def _load(self) -> None:
        # on first use, not when the CLI is built: the registry imports pydantic and the task settings (~0.15 s),
        # which `ivifbench fuse` and the other commands should not pay
        if not self._loaded:
            self._loaded = True
            from ivifbench.tasks import TASKS

            for name in TASKS.names():  # names only: no task module is imported for --help
                if name not in self.commands:
                    self.add_command(_click_command(name), name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._load()
        return list(super().list_commands(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        self._load()
        return super().get_command(ctx, cmd_name)


def _click_command(task: str) -> Any:  # typer's own click Command
    single = typer.Typer(add_completion=False)
    single.command(task)(_command(task))
    return typer.main.get_command(single)


app = typer.Typer(cls=_RegistryGroup, help="Run a downstream task on one method's images.", no_args_is_help=True)


def aggregate(results: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per metric: mean, sample std (0 for one seed) and n over seeds, ignoring NaN values."""
    out: dict[str, dict[str, float]] = {}
    for key in sorted({k for r in results for k in r}):
        vals = [r[key] for r in results if key in r and not math.isnan(r[key])]
        if not vals:
            out[key] = {"mean": math.nan, "std": math.nan, "n": 0}
            continue
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        out[key] = {"mean": mean, "std": std, "n": len(vals)}
    return out


def fuse_dataset(
    method: str,
    dataset: str,
    root: Path,
    out: Path,
    *,
    weights: Path | None = None,
    params: dict[str, Any] | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> Path:
    """Fuse every pair of ``dataset`` with ``method`` into ``out/<split>/<id>.png`` (kept ones are reused); ``out``."""
    from ivifbench.datasets import DATASETS
    from ivifbench.errors import IvifError
    from ivifbench.fusion import create_method
    from ivifbench.fusion.apply import fuse_pairs
    from ivifbench.tasks.base import resolve_device

    fusion = create_method(method, weights=weights, device=resolve_device(device), **(params or {}))
    reader = DATASETS.get(dataset)(root)
    by_split: dict[str, list[tuple[str, Path, Path]]] = {}
    for p in reader.pairs():
        by_split.setdefault(p.split, []).append((p.id, p.ir, p.vis))
    for split, pairs in by_split.items():
        report = fuse_pairs(fusion, pairs, out / split, progress=progress, skip_existing=True)
        if report.failed:
            pid, reason = next(iter(report.failed.items()))
            raise IvifError(f"{method} failed on {len(report.failed)} {dataset} pair(s), first '{pid}': {reason}")
    return out


def run_task(
    task: str,
    method: str,
    dataset: str,
    root: Path,
    fused: Path | None,
    protocol: str,
    seeds: str,
    out: Path,
    overrides: list[str],
    *,
    weights: Path | None = None,
    params: list[str] | None = None,
    verbose: bool = True,
    progress: Any = None,
    status: Any = None,
) -> Path:
    """Run ``task`` once per seed under ``out/seed<k>/`` and write ``out/metrics.json`` (per-seed and mean ± std).

    Without ``fused``, ``method`` is fused first into ``out/fused`` (or is a baseline: ``visible``/``infrared``).
    """
    from ivifbench import __version__
    from ivifbench.errors import InputError, IvifError
    from ivifbench.params import parse_assignments
    from ivifbench.tasks import TASKS

    cls = TASKS.get(task)
    cls.check_request(dataset, protocol)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise IvifError(f"--seeds must be comma-separated integers, got '{seeds}'") from exc
    bad = [s for s in seed_list if not 0 <= s < 2**32]
    if bad:  # checked before any fusing: seeds feed NumPy and torch generators, which take 32-bit seeds
        raise IvifError(f"--seeds: {bad[0]} is out of range; seeds are integers in [0, 2^32)")
    settings = parse_assignments(overrides)
    cls.settings(protocol, settings)  # a bad setting fails before any fusing
    method_params = parse_assignments(params or [])
    baseline = method in BASELINES
    if baseline and (fused is not None or weights is not None or method_params):
        raise InputError(
            f"--method {method} is a baseline (the {method} images): it takes no --fused/--weights/--param"
        )
    if fused is not None and (weights is not None or method_params):
        raise InputError("--fused gives the method's fused images: --weights/--param would not be used; drop them")
    source: dict[str, Any] = {"method": method}
    if baseline:
        source["input"] = method
    elif fused is not None:
        source.update({"input": "fused", "fused": str(fused), "fused_by": "given (--fused)"})
    else:
        if status is not None:
            status(f"fusing {dataset} with {method}")
        fused = fuse_dataset(
            method,
            dataset,
            root,
            out / "fused",
            weights=weights,
            params=method_params,
            device=str(settings.get("device") or "cpu"),
            progress=verbose,
        )
        source.update(
            {"input": "fused", "fused": str(fused), "fused_by": f"ivifbench {__version__}: {method}"}
            | ({"weights": str(weights)} if weights else {})
            | ({"params": method_params} if method_params else {})
        )
    per_seed = []
    for seed in seed_list:
        tick = progress(seed) if progress is not None else None
        result = cls().run(
            dataset=dataset,
            root=root,
            fused=fused,
            out=out / f"seed{seed}",
            protocol=protocol,
            seed=seed,
            input=None if fused is not None else source["input"],
            progress=tick,
            verbose=verbose,
            **settings,
        )
        per_seed.append(result)
    notes = list(dict.fromkeys(n for r in per_seed for n in r.notes))
    summary = {
        "task": task,
        **source,
        "dataset": dataset,
        "protocol": protocol,
        "seeds": seed_list,
        "overrides": settings,
        "ivifbench_version": __version__,
        "task_version": cls.version,
        "headline": list(cls.headline),
        "n": per_seed[0].n if per_seed else {},
        "notes": notes,
        "metrics": aggregate([r.metrics for r in per_seed]),
        "per_seed": [r.to_dict() for r in per_seed],
    }
    path = out / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return path


@contextmanager
def _engine_log(log: Path, quiet: bool) -> Iterator[Any]:
    """While quiet, everything written to stdout/stderr (the engine's log) goes to ``log``; yields the terminal."""
    if not quiet:
        yield sys.stderr
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1)
    with open(log, "a", buffering=1) as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            with redirect_stdout(fh), redirect_stderr(fh):
                yield terminal
        finally:
            fh.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            terminal.close()


def _summary(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    head = data.get("headline") or [k for k in data["metrics"] if "/" not in k]
    lines = [
        f"{data['task']} on {data['dataset']} ({data['protocol']}), {data['method']} "
        f"[{data.get('input')}], seeds {','.join(map(str, data['seeds']))}:",
        "  "
        + ", ".join(
            f"{k} {m['mean']:.4f}" + (f" ± {m['std']:.4f}" if m["n"] > 1 else "")
            for k in head
            if (m := data["metrics"].get(k))
        ),
    ]
    if data.get("n"):
        n = sorted(data["n"].items(), key=lambda kv: (kv[0] != "eval_images", kv[0]))  # the evaluated images first
        lines.append("  n: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in n))
    lines += [f"  note: {n}" for n in data.get("notes") or []]
    return lines


def _command(task: str) -> Any:  # one command per task, same options
    def command(
        method: str = typer.Option(
            ...,
            "--method",
            help="Method to fuse with (registered name), or 'visible'/'infrared' for the single-modality baselines.",
        ),
        dataset: str = typer.Option(
            ..., "--dataset", help="Dataset name, one the task supports (a wrong one lists them)."
        ),
        root: Path = typer.Option(..., "--root", help="Dataset root in its native layout."),
        fused: Path | None = typer.Option(
            None, "--fused", help="The method's fused images (<split>/<id>.png or <id>.png) instead of fusing here."
        ),
        weights: Path | None = typer.Option(None, "--weights", help="Weights file for the method, when it needs one."),
        param: list[str] = typer.Option([], "--param", help="Method parameter key=value (repeatable)."),
        protocol: str = typer.Option("quick", "--protocol", help="quick (CPU, minutes), paper (published, GPU), ..."),
        seeds: str = typer.Option("0", "--seeds", help="Comma-separated seeds; results give mean ± std."),
        out: Path = typer.Option(..., "--out", help="Output folder (metrics.json, task.log, the runs' folders)."),
        set_: list[str] = typer.Option([], "--set", help="Task setting key=value (repeatable), e.g. epochs=3."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the engine's own log."),
    ) -> None:
        from ivifbench.paths import check_output_folder, check_outputs_apart
        from ivifbench.progress import make_progress

        check_output_folder("--out", out)  # before anything is written there (task.log first)
        check_outputs_apart({"--out": out}, {"--root": root, **({"--fused": fused} if fused is not None else {})})
        log = out / "task.log"
        with _engine_log(log, quiet=not verbose) as terminal:
            if verbose:
                path = run_task(
                    task, method, dataset, root, fused, protocol, seeds, out, set_, weights=weights, params=param
                )
            else:
                # the bar on the terminal (gone when done or failed); the engine's output in task.log
                bar = make_progress(transient=True, file=terminal)
                with bar:
                    row = bar.add_task(f"{task}", total=3 * len(seeds.split(",")), rate="")
                    done = {"n": 0}

                    def per_seed(seed: int) -> Any:
                        base = done["n"]

                        def tick(stage: str, step: int, total: int) -> None:
                            if stage in ("prepare", "train", "evaluate", "done"):  # the template's steps
                                bar.update(row, completed=base + step, description=f"{task} seed {seed}: {stage}")
                                done["n"] = base + step
                            else:
                                bar.update(row, description=f"{task} seed {seed}: {stage} {step}/{total}")

                        return tick

                    try:
                        path = run_task(
                            task, method, dataset, root, fused, protocol, seeds, out, set_,
                            weights=weights, params=param, verbose=False, progress=per_seed,
                            status=lambda text: bar.update(row, description=f"{task}: {text}"),
                        )  # fmt: skip
                    except Exception as exc:
                        from ivifbench.errors import IvifError

                        if not isinstance(exc, IvifError):
                            print(f"the engine's log: {log}", file=terminal)
                        raise
        for line in _summary(path):
            typer.echo(line)
        typer.echo(f"results: {path}" + ("" if verbose else f" (engine log: {log})"))

    command.__doc__ = f"Run the {task} task on one method's images (fused here, given by --fused, or a baseline)."
    return command

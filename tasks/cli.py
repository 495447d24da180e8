"""``ivifbench task detection|segmentation|sod``: one method's fused images through a downstream task, over seeds."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import typer

app = typer.Typer(help="Run a downstream task on one method's fused images.", no_args_is_help=True)


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
) -> Path:
    """Run ``task`` once per seed under ``out/seed<k>/`` and write ``out/metrics.json`` (per-seed and mean ± std)."""
    from ivifbench import __version__
    from ivifbench.errors import IvifError
    from ivifbench.params import parse_assignments
    from ivifbench.tasks import TASKS

    cls = TASKS.get(task)
    cls.check_request(dataset, protocol)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise IvifError(f"--seeds must be comma-separated integers, got '{seeds}'") from exc
    params = parse_assignments(overrides)
    per_seed = []
    for seed in seed_list:
        result = cls().run(
            dataset=dataset, root=root, fused=fused, out=out / f"seed{seed}", protocol=protocol, seed=seed, **params
        )
        per_seed.append(result)
        typer.echo(f"seed {seed}: " + ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items() if "/" not in k))
    summary = {
        "task": task,
        "method": method,
        "dataset": dataset,
        "protocol": protocol,
        "seeds": seed_list,
        "overrides": params,
        "ivifbench_version": __version__,
        "task_version": cls.version,
        "metrics": aggregate([r.metrics for r in per_seed]),
        "per_seed": [r.to_dict() for r in per_seed],
    }
    path = out / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return path


def _command(task: str, datasets: str) -> Callable[..., None]:  # one command per task, same options
    def command(
        method: str = typer.Option(
            ..., "--method", help="Method name (labels the results; fused images come from --fused)."
        ),
        dataset: str = typer.Option(..., "--dataset", help=f"One of: {datasets}."),
        root: Path = typer.Option(..., "--root", help="Dataset root in its native layout."),
        fused: Path | None = typer.Option(
            None, "--fused", help="Folder of fused images named <id>.png (default: the visible images)."
        ),
        protocol: str = typer.Option(
            "quick", "--protocol", help="quick (CPU, minutes) or paper (published settings, GPU)."
        ),
        seeds: str = typer.Option("0", "--seeds", help="Comma-separated seeds; results give mean ± std."),
        out: Path = typer.Option(..., "--out", help="Output folder (metrics.json and the task's run folders)."),
        set_: list[str] = typer.Option([], "--set", help="Protocol override key=value (repeatable), e.g. epochs=3."),
    ) -> None:
        path = run_task(task, method, dataset, root, fused, protocol, seeds, out, set_)
        typer.echo(f"results: {path}")

    command.__doc__ = f"Run the {task} task ({datasets})."
    return command


app.command("detection")(_command("detection", "m3fd, llvip"))
app.command("segmentation")(_command("segmentation", "msrs, fmb"))
app.command("sod")(_command("sod", "vt5000, vt821, vt1000"))

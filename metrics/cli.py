"""``ivifbench score``: score a folder of fused images against its IR/visible pairs (heavy imports stay inside)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer


def score(
    ir: Path = typer.Option(..., "--ir", help="Folder of infrared images."),
    vis: Path = typer.Option(..., "--vis", help="Folder of visible images (paired with --ir by file stem)."),
    fused: Path = typer.Option(..., "--fused", help="Folder of fused images (one per pair, same stem)."),
    metrics: str = typer.Option(
        "default",
        "--metrics",
        help="Comma-separated names (EN,SD,MI,...), 'default' (all but the slow FMI family and Qp) or 'all'.",
    ),
    convention: str = typer.Option(
        "canonical", "--convention", help="canonical, vifb, tang, tang-legacy or cddfuse (see metrics.md)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Write the long table (image,metric,convention,value) here, and FILE.csv.json with how it was made.",
    ),
    batch_size: int = typer.Option(8, "--batch-size", help="Images scored together."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
) -> None:
    """Score fused images with the fusion-quality metrics and print mean and std per metric."""
    from rich.console import Console
    from rich.table import Table

    from ivifbench.errors import InputError
    from ivifbench.metrics import CONVENTIONS, METRICS, resolve_metrics, score_folders

    conv = CONVENTIONS.get(convention)  # unknown → NotFoundError with "did you mean"
    names = resolve_metrics(metrics, convention)
    if out is not None and out.suffix.lower() != ".csv":
        raise InputError(f"--out {out}: write the table as a .csv file")
    if out is not None:
        from ivifbench.paths import check_output_file

        check_output_file("--out", out, {"--ir": ir, "--vis": vis, "--fused": fused})
    import time

    started = time.time()
    table = score_folders(ir, vis, fused, names, convention, batch_size=batch_size, device=device, progress=True)
    timings = {"score_seconds": round(time.time() - started, 3)}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
        _write_provenance(out, names, conv, ir, vis, fused, table["image"].nunique(), timings, device)

    grouped = table.groupby("metric", sort=False)["value"]
    stats = grouped.agg(["mean", "count"]).assign(std=grouped.std(ddof=0))  # population std, as MetricAccumulator
    summary = Table(
        title=f"{table['image'].nunique()} images · convention '{conv.name}' · colour: {conv.colour}",
        caption=(
            "std is the population std over images; ↑ higher is better, ↓ lower is better"
            + (f"; written to {out}" if out is not None else "")
        ),
    )
    for col, justify in (("metric", "left"), ("", "center"), ("mean", "right"), ("std", "right"), ("n", "right")):
        summary.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name in names:
        row = stats.loc[name]
        arrow = "↑" if METRICS.get(name).higher_is_better else "↓"
        summary.add_row(name, arrow, f"{row['mean']:.4f}", f"{row['std']:.4f}", str(int(row["count"])))
    Console().print(summary)


def _write_provenance(
    out: Path,
    names: list[str],
    conv,
    ir: Path,
    vis: Path,
    fused: Path,
    n_images: int,
    timings: dict[str, float] | None = None,
    device: str | None = None,
) -> Path:
    """``FILE.csv.json`` beside the table: what made its numbers (versions, convention, colour handling, inputs)."""
    import json
    import platform

    import torch

    from ivifbench import __version__, provenance
    from ivifbench.metrics import METRICS, METRICS_VERSION

    meta = {
        "ivifbench": __version__,
        "metrics_version": METRICS_VERSION,
        "convention": conv.name,
        "colour": conv.colour,
        "metrics": {
            n: {"version": METRICS.get(n).version, "reference_code": METRICS.get(n).reference_code} for n in names
        },
        "inputs": {"ir": str(ir.resolve()), "vis": str(vis.resolve()), "fused": str(fused.resolve())},
        "n_images": int(n_images),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "versions": provenance.versions(),  # SciPy, scikit-image, PyWavelets … change some metrics' numbers
        "git_revision": provenance.git_revision(),
        **provenance.host(),
        "device": device or ("cuda" if torch.cuda.is_available() else "cpu"),
        "timings": timings or {},
    }
    path = out.with_name(out.name + ".json")
    path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path

"""``ivifbench score``: score a folder of fused images against its IR/visible pairs (heavy imports stay inside)."""

from __future__ import annotations

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
    out: Path | None = typer.Option(None, "--out", help="Write the long table (image,metric,convention,value) here."),
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
    table = score_folders(ir, vis, fused, names, convention, batch_size=batch_size, device=device, progress=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)

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

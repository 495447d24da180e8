"""``ivifbench score``: score a folder of fused images against its IR/visible pairs (heavy imports stay inside)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
        "canonical",
        "--convention",
        help="canonical, vifb, tang, tang-legacy or cddfuse (`ivifbench metrics list` shows what each has).",
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

    from ivifbench.devices import check_device
    from ivifbench.errors import InputError
    from ivifbench.metrics import CONVENTIONS, METRICS, resolve_metrics, score_folders

    device = check_device("--device", device)
    conv = CONVENTIONS.get(convention)  # unknown → NotFoundError with "did you mean"
    names = resolve_metrics(metrics, convention)
    lacking = missing_under(metrics, convention)
    if lacking:
        typer.echo(
            f"note: convention '{convention}' has no {', '.join(lacking)}; left out "
            f"(`ivifbench metrics list --convention {convention}`)",
            err=True,
        )
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


def missing_under(metrics: str, convention: str) -> list[str]:
    """The metrics ``'default'``/``'all'`` would include but ``convention`` does not define (named metrics without
    the variant are an error instead)."""
    from ivifbench.metrics import METRICS
    from ivifbench.metrics.catalogue import ORDER
    from ivifbench.metrics.engine import SLOW_METRICS

    key = metrics.strip().lower()
    if key not in ("all", "default"):
        return []
    names = [n for n in ORDER if key == "all" or n not in SLOW_METRICS]
    return [n for n in names if convention not in METRICS.get(n).conventions]


metrics_app = typer.Typer(help="The fusion-quality metrics and their conventions.", no_args_is_help=True)


@metrics_app.command("list")
def list_metrics(
    convention: str | None = typer.Option(
        None, "--convention", "-c", help="Only the metrics this convention defines (canonical, vifb, tang, …)."
    ),
) -> None:
    """Every metric with its direction, range and conventions (docs/metrics.md has the formulas)."""
    import math

    from ivifbench.metrics import CONVENTIONS, METRICS
    from ivifbench.metrics.catalogue import ALL, ORDER

    def conv_order(cs: Iterable[str]) -> list[str]:
        return sorted(cs, key=lambda c: (ALL.index(c) if c in ALL else len(ALL), c))

    names = list(ORDER) + [n for n in METRICS.names() if n not in ORDER]
    if convention is not None:
        conv = CONVENTIONS.get(convention)  # unknown → NotFoundError with "did you mean"
        names = [n for n in names if convention in METRICS.get(n).conventions]
        typer.echo(f"convention '{conv.name}': {conv.description}")
        typer.echo(f"{len(names)} metrics; colour: {conv.colour}")

    def rng(v: float) -> str:
        return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:g}"

    rows = [("metric", "dir", "range", "conventions")]
    for n in names:
        m = METRICS.get(n)
        rows.append((n, "↑" if m.higher_is_better else "↓", f"{rng(m.value_range[0])}…{rng(m.value_range[1])}",
                     ", ".join(conv_order(m.conventions))))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    if convention is None:
        typer.echo(
            f"conventions: {', '.join(conv_order(CONVENTIONS.names()))}; formulas and references: docs/metrics.md"
        )


def _write_provenance(
    out: Path,
    names: list[str],
    conv: Any,
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

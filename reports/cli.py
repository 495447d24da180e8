"""``ivifbench report``: build the report tables from a results store."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    results: Path = typer.Option(
        Path("ivifbench-out"), "--results", "-r", help="Results folder (holding results.db) or the .db file."
    ),
    format: str = typer.Option(
        "md,tex,csv,html", "--format", "-f", help="Comma-separated formats: md, tex, csv, html."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: RESULTS/report)."),
    grid_images: int = typer.Option(3, "--grid-images", help="Pairs per dataset in the HTML fused-image grid."),
    failures: bool = typer.Option(False, "--failures", help="Print the failed units with their tracebacks and exit."),
) -> None:
    """Build report tables (md, tex, csv, html) from a results store."""
    from ivifbench.errors import IvifError
    from ivifbench.reports import write_reports

    db = results if results.suffix == ".db" else results / "results.db"
    if not db.is_file():
        raise IvifError(f"{db}: no results store; run `ivifbench run --out {results}` first or pass --results DIR")
    if failures:
        from ivifbench.store import ResultsStore

        with ResultsStore(db, readonly=True) as store:
            failed = store.units(status="failed")
            for u in failed:
                full = store.unit(u["key"]) or {}
                typer.echo(
                    f"== {u['kind']} {u['method']}/{u['dataset']}/{u['split'] or u['task']} ({u['key']}): {u['error']}"
                )
                typer.echo((full.get("traceback") or "").rstrip())
            typer.echo(f"{len(failed)} failed unit(s)")
        return
    formats = [f.strip() for f in format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("md", "tex", "csv", "html")]
    if bad:
        raise IvifError(f"unknown format(s) {', '.join(bad)}; choose from md, tex, csv, html")
    dest = out or db.parent / "report"
    for p in write_reports(db, dest, formats=formats, grid_images=grid_images):
        typer.echo(str(p))

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
    suite: str = typer.Option(None, "--suite", help="Show what the latest run of this suite names."),
    run: str = typer.Option(None, "--run", help="Show what this run's suite named (a run id from the store)."),
    methods: str = typer.Option(None, "--methods", help="Only these methods (comma-separated)."),
    everything: bool = typer.Option(False, "--all", help="Every result in the store, from every run and suite."),
) -> None:
    """Build report tables (md, tex, csv, html) from a results store.

    By default the report shows what the latest run's suite names (its methods, datasets, tasks and conventions);
    --suite, --run, --methods and --all choose otherwise. The header states the scope.
    """
    from ivifbench.errors import IvifError
    from ivifbench.reports import write_reports

    db = results if results.suffix == ".db" else results / "results.db"
    if not db.is_file():
        raise IvifError(f"{db}: no results store; run `ivifbench run --out {results}` first or pass --results DIR")
    from ivifbench.store import ResultsStore

    with ResultsStore(db, readonly=True) as checked:  # damage anywhere gets the recovery hint, not a partial report
        checked.check_integrity()
    if failures:
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
    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    scope = {"suite": suite, "run_id": run, "methods": chosen, "everything": everything}
    for p in write_reports(db, dest, formats=formats, grid_images=grid_images, **scope):
        typer.echo(str(p))

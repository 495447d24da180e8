"""Results store → tidy tables → leaderboards (md/tex/csv/html) and figures."""

from __future__ import annotations

from pathlib import Path


def write_reports(
    store: str | Path,
    out: str | Path,
    formats: list[str] | tuple[str, ...] = ("md", "tex", "csv", "html"),
    grid_images: int = 3,
) -> list[Path]:
    """Build every table from the store and write the requested formats under ``out``; return the files written.

    ``leaderboard.md`` (md), ``leaderboard.tex`` (tex), ``leaderboard.csv`` + ``fusion_metrics.csv`` +
    ``task_results.csv`` (csv), ``report.html`` (html, self-contained).
    """
    from ivifbench.reports.render import render_md, render_tex, write_csv
    from ivifbench.reports.tables import build_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rep = build_report(store)
    written: list[Path] = []
    for fmt in formats:
        if fmt == "md":
            p = out / "leaderboard.md"
            p.write_text(render_md(rep), encoding="utf-8")
            written.append(p)
        elif fmt == "tex":
            p = out / "leaderboard.tex"
            p.write_text(render_tex(rep), encoding="utf-8")
            written.append(p)
        elif fmt == "csv":
            written += write_csv(rep, out)
        elif fmt == "html":
            from ivifbench.reports.html import render_html

            p = out / "report.html"
            p.write_text(render_html(rep, grid_images=grid_images), encoding="utf-8")
            written.append(p)
        else:
            from ivifbench.errors import IvifError

            raise IvifError(f"unknown report format '{fmt}' (formats: md, tex, csv, html)")
    return written


__all__ = ["write_reports"]

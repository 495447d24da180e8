"""Results store → tidy tables → leaderboards (md/tex/csv/html) and figures."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

FORMATS = ("md", "tex", "csv", "html")
# every file a report folder can hold: all of them are replaced together, so none is ever left from an older report
REPORT_FILES = ("leaderboard.md", "leaderboard.tex", "leaderboard.csv", "fusion_metrics.csv", "task_results.csv",
                "report.html")  # fmt: skip


def write_reports(
    store: str | Path,
    out: str | Path,
    formats: list[str] | tuple[str, ...] = FORMATS,
    grid_images: int = 3,
    **scope: Any,
) -> list[Path]:
    """Build every table from the store and write the requested formats under ``out``; return the files written.

    ``leaderboard.md`` (md), ``leaderboard.tex`` (tex), ``leaderboard.csv`` + ``fusion_metrics.csv`` +
    ``task_results.csv`` (csv), ``report.html`` (html, self-contained). ``scope`` (``suite=``, ``run_id=``,
    ``methods=``, ``everything=``) chooses what the report shows; by default the latest run's suite.

    All formats are rendered first; only then do they replace the report files in ``out``, and every older report
    file there goes, so a report that fails leaves no stale file beside fresh ones (and raises).
    """
    from ivifbench.errors import IvifError
    from ivifbench.reports.render import render_md, render_tex, write_csv
    from ivifbench.reports.tables import build_report

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise IvifError(f"unknown report format '{bad[0]}' (formats: {', '.join(FORMATS)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rep = build_report(store, **scope)
    with tempfile.TemporaryDirectory(dir=out, prefix=".report-") as tmp_name:
        tmp = Path(tmp_name)
        staged: list[Path] = []
        try:
            for fmt in formats:
                if fmt == "md":
                    staged.append(tmp / "leaderboard.md")
                    staged[-1].write_text(render_md(rep), encoding="utf-8")
                elif fmt == "tex":
                    staged.append(tmp / "leaderboard.tex")
                    staged[-1].write_text(render_tex(rep), encoding="utf-8")
                elif fmt == "csv":
                    staged += write_csv(rep, tmp)
                elif fmt == "html":
                    from ivifbench.reports.html import render_html

                    staged.append(tmp / "report.html")
                    staged[-1].write_text(render_html(rep, grid_images=grid_images), encoding="utf-8")
        except BaseException:
            for name in REPORT_FILES:  # the old report no longer matches the store
                (out / name).unlink(missing_ok=True)
            raise
        for name in REPORT_FILES:
            if not (tmp / name).exists():
                (out / name).unlink(missing_ok=True)
        written = []
        for p in staged:
            dest = out / p.name
            shutil.move(str(p), dest)
            written.append(dest)
    return written


__all__ = ["FORMATS", "write_reports"]

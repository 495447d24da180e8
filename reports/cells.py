"""One table cell: its numbers and marks (:func:`table_cells`), kept apart from how a format writes them
(:func:`number`, :func:`cell_text`), so that more per-cell statistics (intervals, significance marks) are one more field
here and one more line in each renderer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivifbench.reports.tables import Table


@dataclass(frozen=True)
class Cell:
    mean: float | None  # None: no value (a failed or missing unit)
    std: float | None
    decimals: int
    mark: str | None = None  # "best" | "second" | None
    flag: str = ""  # a footnote marker, e.g. "†" (in-domain)
    ci: tuple[float, float] | None = None  # 95 % interval of the mean
    tied: bool = False  # not the best, but not distinguishable from it (paired test, Holm-corrected)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def number(v: float | None, decimals: int) -> str:
    """A fixed number of decimals (so that a column aligns); '—' for no value; no '-0.000'."""
    if _missing(v):
        return "—"
    s = f"{float(v):.{decimals}f}"  # type: ignore[arg-type]
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def auto_decimals(values: Any) -> int:
    """About three significant digits for the column's largest magnitude (1 to 4 decimals)."""
    finite = [abs(float(v)) for v in values if not _missing(v) and math.isfinite(float(v))]
    top = max(finite, default=0.0)
    if top == 0:
        return 2
    return int(min(4, max(1, 2 - math.floor(math.log10(top)))))


def table_cells(t: Table) -> dict[tuple[str, str], Cell]:
    """Every (method, column) cell of ``t``: value, std, decimals, best/second mark and footnote flag."""
    out: dict[tuple[str, str], Cell] = {}
    for c in t.values.columns:
        best, second = t.best_two(c)
        d = t.decimals.get(c, 2)
        for m in t.values.index:
            v = t.values.at[m, c]
            s: Any = None
            if t.std is not None and c in t.std.columns and m in t.std.index:
                s = t.std.at[m, c]
            mean = None if _missing(v) else float(v)
            mark = "best" if m in best else "second" if m in second else None
            out[(m, c)] = Cell(
                mean, None if _missing(s) else float(s), d, mark, t.flags.get((m, c), ""),
                t.ci.get((m, c)), (m, c) in t.tied and mark != "best",
            )  # fmt: skip
    return out


def cell_text(c: Cell) -> tuple[str, str]:
    """(mean, std) as text with the cell's decimals; std is '' when there is none."""
    if c.mean is None:
        return "—", ""
    return number(c.mean, c.decimals), ("" if c.std is None else number(c.std, c.decimals))


def ci_text(c: Cell) -> str:
    """The interval as ``[a, b]`` with the cell's decimals, or ''."""
    if c.ci is None or c.mean is None:
        return ""
    return f"[{number(c.ci[0], c.decimals)}, {number(c.ci[1], c.decimals)}]"


def rank_text(t: Table, method: str, rank: str) -> str:
    """The leaderboard's rank with its bootstrap 95 % range: ``2 (1–3)``, or the rank alone."""
    r = t.rank_range.get(method)
    if r is None or rank == "—":
        return rank
    return f"{rank} ({r[0]}–{r[1]})" if r[0] != r[1] else f"{rank} ({r[0]})"

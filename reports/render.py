"""Markdown, LaTeX (booktabs) and CSV renderers over :mod:`ivifbench.reports.tables`.

Cell values come from :func:`ivifbench.reports.cells.table_cells`; these functions only write them. Every user string
goes through :mod:`ivifbench.reports.escape`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ivifbench.reports.cells import Cell, cell_text, ci_text, rank_text, table_cells
from ivifbench.reports.escape import md, one_line, tex
from ivifbench.reports.tables import Report, Table


def arrow(hib: bool | None) -> str:
    return "" if hib is None else (" ↑" if hib else " ↓")


def cell(t: Table, method: str, col: str) -> str:
    """One cell as plain text: 'mean ± std' with the column's decimals, or '—'."""
    mean, std = cell_text(table_cells(t)[(method, col)])
    return f"{mean} ± {std}" if std else mean


def _extra_cell(v: Any, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if col in ("rank", "max change") or (col not in ("Borda", "Borda (fusion)", "mean rank") and float(v).is_integer()):
        return str(int(v))
    return f"{float(v):.1f}" if col != "mean rank" else f"{float(v):.2f}"


def extra_columns(t: Table) -> list[str]:
    """The extra columns shown after the values ('rank' goes first, as 'Rank')."""
    return [c for c in (t.extra.columns if t.extra is not None else []) if c != "rank"]


def has_rank(t: Table) -> bool:
    return t.extra is not None and "rank" in t.extra.columns


def scope_line(rep: Report) -> str:
    return f"Scope: {rep.scope.label}."


def run_lines(rep: Report) -> list[str]:
    """The header: the run the scope comes from (plain text; each renderer escapes it)."""
    run = rep.run
    out = [scope_line(rep)]
    if not run:
        return out
    man = run.get("manifest", {})
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.get("started") or 0))
    v = man.get("versions", {})
    dev = man.get("device", {})
    out.append(
        f"Suite '{run.get('suite')}' v{run.get('suite_version')}, run {run.get('run_id')} ({when}, {run.get('status')}); "
        f"ivifbench {v.get('ivifbench', '?')}, torch {v.get('torch', '?')}, git {man.get('git_revision') or 'n/a'}; "
        f"device {dev.get('device', '?')}{' (' + dev['gpu'] + ')' if dev.get('gpu') else ''} on {man.get('host', '?')}."
    )
    return out


def skipped_lines(rep: Report) -> list[str]:
    return [f"Method '{m}' was skipped: {why}." for m, why in sorted(rep.skipped.items())]


def failure_lines(rep: Report, limit: int = 20) -> list[str]:
    f = rep.failures
    if f is None or f.empty:
        return []
    lines = [f"{len(f)} unit(s) failed (their numbers are missing; `ivifbench report --failures` shows tracebacks):"]
    for r in f.head(limit).itertuples():
        what = (
            f"{r.task}/{r.method}/{r.dataset}/seed{int(r.seed) if r.seed == r.seed else '?'}"
            if r.kind == "task"
            else f"{r.kind} {r.method}/{r.dataset}/{r.split}"
        )
        lines.append(f"{what}: {one_line(r.error)}")
    return lines


def all_tables(rep: Report) -> list[Table]:
    return [*rep.tables, *rep.sensitivity]


# ---------------------------------------------------------------------------------------------------------------- md


def _md_cell(c: Cell) -> str:
    mean, std = cell_text(c)
    s = f"{mean} ± {std}" if std else mean
    s += c.flag + ("≈" if c.tied else "")
    if ci := ci_text(c):
        s += f" {ci}"
    if c.mark == "best":
        return f"**{s}**"
    if c.mark == "second":
        return f"_{s}_"
    return s


def md_table(t: Table) -> str:
    cols = list(t.values.columns)
    extra = extra_columns(t)
    head = ["Method", *[md(f"{t.label(c)}{arrow(t.directions.get(c))}") for c in cols], *[md(c) for c in extra]]
    if has_rank(t):
        head = ["Rank", *head]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] * (1 + has_rank(t)) + ["---:"] * (len(head) - 1 - has_rank(t))) + "|"]  # fmt: skip
    cells = table_cells(t)
    for m in t.values.index:
        row = [md(f"{t.row_label(m)}{t.row_flags.get(m, '')}"), *[_md_cell(cells[(m, c)]) for c in cols]]
        if t.extra is not None:
            ex = t.extra.loc[m]
            row += [_extra_cell(ex[c], c) for c in extra]
            if has_rank(t):
                row = [rank_text(t, m, _extra_cell(ex["rank"], "rank")), *row]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_md(rep: Report) -> str:
    out = ["# ivifbench leaderboard", ""]
    out += [*(md(s) for s in run_lines(rep)), ""]
    if rep.leaderboard is not None:
        out += ["## Leaderboard", "", md_table(rep.leaderboard), ""]
        out += [md(n) for n in rep.leaderboard.notes] + [""]
    else:
        out += ["No results in the store yet.", ""]
    out.append("Best per column in **bold**, second in _italics_ (by each metric's direction; none where all tie).")
    out.append("")
    for t in all_tables(rep):
        out += [f"## {md(t.title)}", "", md_table(t), "", *(md(n) for n in t.notes), ""]
    sk = skipped_lines(rep)
    if sk:
        out += ["## Skipped", ""] + [f"- {md(s)}" for s in sk] + [""]
    fl = failure_lines(rep)
    if fl:
        out += ["## Failures", "", md(fl[0]), ""] + [f"- {md(s)}" for s in fl[1:]] + [""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------------------------- tex

# Widths (pt) for sizing tables at \footnotesize (8 pt Computer Modern): a paper's column (CVPR/ICCV 3.25 in; IEEE and
# ACM are a little wider), its text width, and a landscape page's text height.
TEX_WIDTH = {"split": 234.0, "wide": 496.0, "landscape": 650.0}
_TABCOLSEP = 3.0


def _text_width(s: str) -> float:
    w = 0.0
    for ch in s:
        w += 4.0 if ch.isdigit() else 2.2 if ch in ".,:;'" else 6.0 if ch.isupper() else 4.2 if ch.isalpha() else 4.5
    return w


def _head_lines(label: str, width: float = 50.0) -> list[str]:
    """A header broken into lines of about ``width`` pt at word boundaries (no header widens a column by itself)."""
    words = label.split(" ")
    lines: list[str] = []
    for w in words:
        if lines and _text_width(lines[-1] + " " + w) <= width:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return lines


def _tex_head(label: str) -> str:
    lines = _head_lines(label)
    if len(lines) == 1:
        return tex(lines[0])
    return r"\begin{tabular}[b]{@{}c@{}}" + r"\\".join(tex(x) for x in lines) + r"\end{tabular}"


def _tex_cell(c: Cell, with_std: bool) -> str:
    mean, std = cell_text(c)
    if c.mean is None:
        return r"\multicolumn{2}{c}{--}" if with_std else "--"

    def mark(s: str) -> str:
        s = rf"\underline{{{s}}}" if c.mark == "second" else s
        return rf"\textbf{{{s}}}" if c.mark == "best" or c.tied else s  # ties with the best bold too (footnote)

    flag = (tex(c.flag) if c.flag else "") + (r"$^{\ast}$" if c.tied else "")
    if with_std:
        return f"{mark(mean)} & {mark(std or '0')}{flag}"
    return mark(mean) + flag


def _col_width(t: Table, col: str, cells: dict[tuple[str, str], Cell], with_std: bool) -> float:
    body = 0.0
    for m in t.values.index:
        mean, std = cell_text(cells[(m, col)])
        w = (
            _text_width(mean)
            + (8.8 + _text_width(std or "0") if with_std else 0.0)
            + (5.0 if cells[(m, col)].flag else 0)
            + (5.0 if cells[(m, col)].tied else 0)
        ) * (1.08 if cells[(m, col)].mark == "best" or cells[(m, col)].tied else 1.0)  # bold is wider
        body = max(body, w)
    head = max(_text_width(x) for x in _head_lines(f"{t.label(col)} ↑"))
    return max(body, head) + 2 * _TABCOLSEP


def _chunks(t: Table, layout: str) -> list[tuple[list[str], bool]]:
    """Value columns split into groups that fit the layout's width, in order (the metric groups of the catalogue
    stay together as far as the width allows); the bool says whether the extra columns follow in that group."""
    cells = table_cells(t)
    cols = list(t.values.columns)
    with_std = t.std is not None
    names = [f"{t.row_label(m)}{t.row_flags.get(m, '')}" for m in t.values.index]
    fixed = max([_text_width("Method"), *(_text_width(n) for n in names)]) + 2 * _TABCOLSEP
    if has_rank(t):
        ranks = [rank_text(t, m, _extra_cell(t.extra.at[m, "rank"], "rank")) for m in t.values.index]  # type: ignore[union-attr]
        fixed += max(_text_width(x) for x in ["Rank", *ranks]) + 2 * _TABCOLSEP
    extras = sum(max(_text_width(x) for x in _head_lines(c)) + 2 * _TABCOLSEP for c in extra_columns(t))
    room = TEX_WIDTH.get(layout, TEX_WIDTH["split"]) - fixed
    widths = [_col_width(t, c, cells, with_std) for c in cols]
    groups: list[list[str]] = [[]]
    used = 0.0
    for c, w in zip(cols, widths, strict=True):
        if groups[-1] and used + w > room:
            groups.append([])
            used = 0.0
        groups[-1].append(c)
        used += w
    out = [(g, False) for g in groups if g]
    if extra_columns(t):
        if out and used + extras <= room:
            out[-1] = (out[-1][0], True)
        else:
            out.append(([], True))
    return out or [([], True)]


def tex_tabular(t: Table, cols: list[str], with_extra: bool) -> list[str]:
    with_std = t.std is not None
    extra = extra_columns(t) if with_extra else []
    spec = ("r" if has_rank(t) else "") + "l"
    spec += (r"r@{\,$\pm$\,}l" if with_std else "r") * len(cols) + "r" * len(extra)
    head = ["Method"]
    for c in cols:
        h = _tex_head(f"{t.label(c)}{arrow(t.directions.get(c))}")
        head.append(rf"\multicolumn{{2}}{{c}}{{{h}}}" if with_std else h)
    head += [_tex_head(c) for c in extra]
    if has_rank(t):
        head = ["Rank", *head]
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    cells = table_cells(t)
    for m in t.values.index:
        row = [tex(f"{t.row_label(m)}{t.row_flags.get(m, '')}"), *[_tex_cell(cells[(m, c)], with_std) for c in cols]]
        if t.extra is not None:
            row += [tex(_extra_cell(t.extra.at[m, c], c)) for c in extra]
            if has_rank(t):
                row = [tex(rank_text(t, m, _extra_cell(t.extra.at[m, "rank"], "rank"))), *row]
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return lines


def tex_table(t: Table, layout: str = "split") -> str:
    """One float: ``table`` with the columns split into stacked tabulars that fit a paper's column (``split``),
    ``table*`` across both columns (``wide``), or a ``sidewaystable`` (``landscape``); never shrunk."""
    env = {"split": "table", "wide": "table*", "landscape": "sidewaystable"}.get(layout, "table")
    lines = [rf"\begin{{{env}}}[t]" if env != "sidewaystable" else rf"\begin{{{env}}}", r"\centering", r"\footnotesize"]
    lines += [rf"\setlength{{\tabcolsep}}{{{_TABCOLSEP:g}pt}}", rf"\caption{{{tex(t.title)}}}", rf"\label{{tab:{_label(t.key)}}}"]  # fmt: skip
    for i, (cols, with_extra) in enumerate(_chunks(t, layout)):
        if i:
            lines.append(r"\par\medskip")
        lines += tex_tabular(t, cols, with_extra)
    marks = r" Best in \textbf{bold}, second \underline{underlined}." if t.kind != "sensitivity" else ""
    if t.tied:
        from ivifbench.reports.significance import ALPHA, TIE_NOTE

        marks += r" \textbf{Bold}$^{\ast}$: " + tex(TIE_NOTE.split(", α")[0]) + rf", $\alpha = {ALPHA}$."
    # the cells' intervals stay in md/html/csv (a paper table keeps mean ± std); ties are bold with a footnote instead
    notes = " ".join(tex(n) for n in t.notes if not n.startswith(("≈", "[a, b]")))
    lines.append(rf"\par\smallskip\parbox{{\linewidth}}{{\scriptsize {notes}{marks}}}")
    lines.append(rf"\end{{{env}}}")
    return "\n".join(lines)


def _label(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-:." else "-" for ch in key)


def render_tex(rep: Report) -> str:
    layout = rep.display.layout
    pkgs = r"\usepackage{booktabs}" + (r" and \usepackage{rotating}" if layout == "landscape" else "")
    out = [f"% ivifbench report; needs {pkgs}"]
    out += [f"% {tex(s)}" for s in run_lines(rep)]
    out.append("")
    if rep.leaderboard is not None:
        out += [tex_table(rep.leaderboard, layout), ""]
    for t in all_tables(rep):
        out += [tex_table(t, layout), ""]
    for s in skipped_lines(rep):
        out.append(f"% {tex(s)}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------------------- csv


def write_csv(rep: Report, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    p = folder / "fusion_metrics.csv"
    rep.fusion.to_csv(p, index=False)
    paths.append(p)
    p = folder / "task_results.csv"
    rep.tasks.to_csv(p, index=False)
    paths.append(p)
    if rep.leaderboard is not None:
        lb = (rep.leaderboard.full if rep.leaderboard.full is not None else rep.leaderboard.values).copy()
        for c in rep.leaderboard.extra.columns:  # type: ignore[union-attr]
            lb[c] = rep.leaderboard.extra[c]  # type: ignore[index]
        p = folder / "leaderboard.csv"
        lb.to_csv(p, index=True)
        paths.append(p)
    return paths

"""Markdown, LaTeX (booktabs) and CSV renderers over :mod:`ivifbench.reports.tables`."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ivifbench.reports.tables import Report, Table


def fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    v = float(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def fmt_std(v: Any) -> str:
    v = float(v)
    if v == 0:
        return "0"
    return f"{v:.2g}" if abs(v) < 1000 else f"{v:.0f}"


def arrow(hib: bool | None) -> str:
    return "" if hib is None else (" ↑" if hib else " ↓")


def cell(t: Table, method: str, col: str) -> str:
    v = t.values.at[method, col]
    if pd.isna(v):
        return "—"
    s = fmt(v)
    if t.std is not None and col in t.std.columns and method in t.std.index and not pd.isna(t.std.at[method, col]):
        s += f" ± {fmt_std(t.std.at[method, col])}"
    return s


def _extra_cell(v: Any, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if col == "rank":
        return str(int(v))
    return f"{float(v):.1f}" if col != "mean rank" else f"{float(v):.2f}"


def run_lines(rep: Report) -> list[str]:
    run = rep.run
    if not run:
        return []
    man = run.get("manifest", {})
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.get("started") or 0))
    v = man.get("versions", {})
    dev = man.get("device", {})
    out = [
        f"Suite '{run.get('suite')}' v{run.get('suite_version')}, run {run.get('run_id')} ({when}, {run.get('status')}); "
        f"ivifbench {v.get('ivifbench', '?')}, torch {v.get('torch', '?')}, git {man.get('git_revision') or 'n/a'}; "
        f"device {dev.get('device', '?')}{' (' + dev['gpu'] + ')' if dev.get('gpu') else ''} on {man.get('host', '?')}."
    ]
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
        lines.append(f"{what}: {r.error}")
    return lines


# ---------------------------------------------------------------------------------------------------------------- md


def md_table(t: Table) -> str:
    cols = list(t.values.columns)
    head = ["Method", *[f"{c}{arrow(t.directions.get(c))}" for c in cols]]
    if t.extra is not None:
        head = ["Rank", "Method", *head[1:], *[c for c in t.extra.columns if c != "rank"]]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
    best = {c: t.best_two(c) for c in cols}
    for m in t.values.index:
        row = []
        for c in cols:
            s = cell(t, m, c)
            s += t.flags.get((m, c), "")
            b, sec = best[c]
            if m in b:
                s = f"**{s}**"
            elif m in sec:
                s = f"_{s}_"
            row.append(s)
        name = f"{m}{t.row_flags.get(m, '')}"
        if t.extra is not None:
            ex = t.extra.loc[m]
            lines.append(
                "| " + " | ".join([_extra_cell(ex["rank"], "rank"), name, *row,
                                   *[_extra_cell(ex[c], c) for c in t.extra.columns if c != "rank"]]) + " |"
            )  # fmt: skip
        else:
            lines.append("| " + " | ".join([name, *row]) + " |")
    return "\n".join(lines)


def render_md(rep: Report) -> str:
    out = ["# ivifbench leaderboard", ""]
    out += [*run_lines(rep), ""]
    if rep.leaderboard is not None:
        out += ["## Leaderboard", "", md_table(rep.leaderboard), ""]
        out += [f"{n}" for n in rep.leaderboard.notes] + [""]
    else:
        out += ["No results in the store yet.", ""]
    out.append("Best per column in **bold**, second in _italics_ (by each metric's direction).")
    out.append("")
    for t in rep.tables:
        out += [f"## {t.title}", "", md_table(t), "", *t.notes, ""]
    sk = skipped_lines(rep)
    if sk:
        out += ["## Skipped", ""] + [f"- {s}" for s in sk] + [""]
    fl = failure_lines(rep)
    if fl:
        out += ["## Failures", "", fl[0], ""] + [f"- {s}" for s in fl[1:]] + [""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------------------------- tex

_TEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "±": r"$\pm$", "†": r"$^\dagger$", "—": "--",
            "↑": r"$\uparrow$", "↓": r"$\downarrow$", "–": "--", "·": r"$\cdot$"}  # fmt: skip


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in str(s))


def tex_table(t: Table) -> str:
    cols = list(t.values.columns)
    extra_cols = [c for c in (t.extra.columns if t.extra is not None else []) if c != "rank"]
    ncol = 1 + len(cols) + len(extra_cols) + (1 if t.extra is not None else 0)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{tex_escape(t.title)}}}",
        rf"\label{{tab:{t.key}}}",
        r"\resizebox{\linewidth}{!}{%",
        r"\begin{tabular}{" + ("r" if t.extra is not None else "") + "l" + "r" * (len(cols) + len(extra_cols)) + "}",
        r"\toprule",
    ]
    head = [
        "Method",
        *[tex_escape(f"{c}{arrow(t.directions.get(c))}") for c in cols],
        *[tex_escape(c) for c in extra_cols],
    ]
    if t.extra is not None:
        head = ["Rank", *head]
    lines.append(" & ".join(head) + r" \\")
    lines.append(r"\midrule")
    best = {c: t.best_two(c) for c in cols}
    for m in t.values.index:
        row = []
        for c in cols:
            s = tex_escape(cell(t, m, c))
            b, sec = best[c]
            if m in b:
                s = rf"\textbf{{{s}}}"
            elif m in sec:
                s = rf"\underline{{{s}}}"
            row.append(s + tex_escape(t.flags.get((m, c), "")))
        name = tex_escape(f"{m}{t.row_flags.get(m, '')}")
        cells = [name, *row]
        if t.extra is not None:
            ex = t.extra.loc[m]
            cells = [_extra_cell(ex["rank"], "rank"), *cells, *[_extra_cell(ex[c], c) for c in extra_cols]]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    notes = " ".join(tex_escape(n) for n in t.notes)
    if notes:
        lines.append(rf"\par\smallskip\footnotesize {notes} Best in \textbf{{bold}}, second \underline{{underlined}}.")
    lines.append(r"\end{table}")
    assert ncol > 0
    return "\n".join(lines)


def render_tex(rep: Report) -> str:
    out = [
        "% ivifbench report — needs \\usepackage{booktabs} and \\usepackage{graphicx}",
        "% " + " ".join(run_lines(rep)),
        "",
    ]
    if rep.leaderboard is not None:
        out += [tex_table(rep.leaderboard), ""]
    for t in rep.tables:
        out += [tex_table(t), ""]
    for s in skipped_lines(rep):
        out.append(f"% {s}")
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

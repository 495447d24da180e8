"""A static, single-file HTML report: tables, a bar chart per metric, a radar chart per method, and a grid of fused
images per dataset with their sources. Every figure and image is embedded (data URIs), so it opens without a server.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ivifbench.reports.render import _extra_cell, arrow, cell, failure_lines, run_lines, skipped_lines
from ivifbench.reports.tables import Report, Table

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem} th,td{padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left} thead th{border-bottom:2px solid #333} tbody tr:last-child td{border-bottom:2px solid #333}
table.lb th:nth-child(2),table.lb td:nth-child(2){text-align:left}
td.best{font-weight:bold} td.second{text-decoration:underline} .note{color:#555;font-size:.85rem;margin:.2rem 0}
.figs{display:flex;flex-wrap:wrap;gap:1rem} .figs img{border:1px solid #eee}
.grid{border-collapse:collapse} .grid td,.grid th{padding:2px;text-align:center;font-size:.8rem} .grid img{display:block;max-width:180px}
.meta{color:#444;font-size:.9rem} .warn{color:#a40}
"""

_CHECK = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var p = document.getElementById('render-check');
  p.setAttribute('data-images', imgs.length); p.setAttribute('data-images-ok', ok);
  p.setAttribute('data-tables', document.querySelectorAll('table').length);
  p.textContent = ok + ' of ' + imgs.length + ' images rendered';
});
</script>
"""


def _png(fig: object) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(uri: str, alt: str, width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    return f'<img src="{uri}" alt="{html.escape(alt)}"{w}>'


def html_table(t: Table) -> str:
    cols = list(t.values.columns)
    extra_cols = [c for c in (t.extra.columns if t.extra is not None else []) if c != "rank"]
    head = ["Method", *[f"{c}{arrow(t.directions.get(c))}" for c in cols], *extra_cols]
    if t.extra is not None:
        head = ["Rank", *head]
    out = [f'<table class="{"lb" if t.extra is not None else "t"}" id="{html.escape(t.key)}"><thead><tr>']
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    best = {c: t.best_two(c) for c in cols}
    for m in t.values.index:
        out.append("<tr>")
        if t.extra is not None:
            out.append(f"<td>{_extra_cell(t.extra.at[m, 'rank'], 'rank')}</td>")
        out.append(f"<td>{html.escape(m + t.row_flags.get(m, ''))}</td>")
        for c in cols:
            b, sec = best[c]
            cls = "best" if m in b else "second" if m in sec else ""
            txt = html.escape(cell(t, m, c) + t.flags.get((m, c), ""))
            out.append(f'<td class="{cls}">{txt}</td>' if cls else f"<td>{txt}</td>")
        for c in extra_cols:
            out.append(f"<td>{_extra_cell(t.extra.at[m, c], c)}</td>")  # type: ignore[union-attr]
        out.append("</tr>")
    out.append("</tbody></table>")
    out += [f'<p class="note">{html.escape(n)}</p>' for n in t.notes]
    return "".join(out)


def _bar_charts(rep: Report) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    f = rep.fusion
    for metric, g in f.groupby("metric", sort=True):
        labels = [f"{d}" if g[g.dataset == d].split.nunique() == 1 else f"{d}/{s}" for d, s in
                  g[["dataset", "split"]].drop_duplicates().itertuples(index=False)]  # fmt: skip
        keys = list(g[["dataset", "split"]].drop_duplicates().itertuples(index=False, name=None))
        methods = sorted(g.method.unique())
        width = 0.8 / max(1, len(methods))
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + 0.5 * len(keys) * max(1, len(methods)) * 0.6), 3.0))
        x = np.arange(len(keys))
        for i, m in enumerate(methods):
            gm = g[g.method == m].set_index(["dataset", "split"])
            vals = [gm["mean"].get(k, np.nan) for k in keys]
            err = [gm["std"].get(k, 0.0) for k in keys]
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, vals, width, yerr=err, label=m, capsize=2)
        hib = g.higher_is_better.dropna()
        ax.set_title(f"{metric}{arrow(bool(hib.iloc[0]) if len(hib) else None)}")
        ax.set_xticks(x, labels)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        figs.append(_img(_png(fig), f"bar chart {metric}"))
    t = rep.tasks
    if not t.empty:
        for (task, metric), g in t.groupby(["task", "metric"], sort=True):
            if "/" in metric:
                continue
            fig, ax = plt.subplots(figsize=(4.0, 3.0))
            g = g.sort_values("method")
            ax.bar(g.dataset + " · " + g.method, g["mean"], yerr=g["std"].fillna(0), capsize=2, color="#4a7")
            hib = g.higher_is_better.dropna()
            ax.set_title(f"{task} {metric}{arrow(bool(hib.iloc[0]) if len(hib) else None)}")
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
            figs.append(_img(_png(fig), f"bar chart {task} {metric}"))
    return figs


def _radars(rep: Report) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = rep.fusion
    if f.empty:
        return []
    # per metric: mean over datasets of each method's min-max-normalised score, oriented so outward is better
    norm = []
    for (_ds, _sp, _cv, metric), g in f.groupby(["dataset", "split", "convention", "metric"]):
        lo, hi = g["mean"].min(), g["mean"].max()
        hib = g.higher_is_better.dropna()
        up = bool(hib.iloc[0]) if len(hib) else True
        s = (g["mean"] - lo) / (hi - lo) if hi > lo else g["mean"] * 0 + 0.5
        norm.append(pd.DataFrame({"method": g.method, "metric": metric, "score": s if up else 1 - s}))
    n = pd.concat(norm).groupby(["method", "metric"])["score"].mean().unstack("metric")
    metrics = list(n.columns)
    if len(metrics) < 3:
        return []
    angles = np.linspace(0, 2 * math.pi, len(metrics), endpoint=False).tolist()
    out = []
    for m in n.index:
        vals = n.loc[m].fillna(0).tolist()
        fig = plt.figure(figsize=(2.8, 2.8))
        ax = fig.add_subplot(111, polar=True)
        ax.plot([*angles, angles[0]], [*vals, vals[0]], color="#c33")
        ax.fill([*angles, angles[0]], [*vals, vals[0]], color="#c33", alpha=0.25)
        ax.set_xticks(angles, metrics, fontsize=7)
        ax.set_yticks([0.5, 1.0], ["", ""])
        ax.set_ylim(0, 1)
        ax.set_title(m, fontsize=9)
        out.append(_img(_png(fig), f"radar {m}"))
    return out


def _thumb(path: str | None, size: int = 160) -> str | None:
    if not path or not Path(path).is_file():
        return None
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy()
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _grids(rep: Report, per_dataset: int) -> list[str]:
    fz = rep.fused
    if fz.empty or per_dataset <= 0:
        return []
    out = []
    for ds, g in fz.groupby("dataset", sort=True):
        split = sorted(g.split.unique(), key=lambda s: (s not in ("test", "val"), s))[0]
        g = g[g.split == split]
        methods = sorted(g.method.unique())
        images = sorted(g.image.unique())[:per_dataset]
        rows = ['<table class="grid"><thead><tr><th>image</th><th>infrared</th><th>visible</th>']
        rows += [f"<th>{html.escape(m)}</th>" for m in methods]
        rows.append("</tr></thead><tbody>")
        for img in images:
            gi = g[g.image == img].set_index("method")
            first = gi.iloc[0]
            rows.append(f"<tr><td>{html.escape(img)}</td>")
            for src, label in ((first.ir_path, "infrared"), (first.vis_path, "visible")):
                uri = _thumb(src)
                rows.append(f"<td>{_img(uri, f'{label} {img}') if uri else '—'}</td>")
            for m in methods:
                uri = _thumb(gi.path.get(m)) if m in gi.index else None
                rows.append(f"<td>{_img(uri, f'{m} {img}') if uri else '—'}</td>")
            rows.append("</tr>")
        rows.append("</tbody></table>")
        out.append(f"<h3>{html.escape(ds)} ({html.escape(split)})</h3>" + "".join(rows))
    return out


def render_html(rep: Report, grid_images: int = 3) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>ivifbench report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>ivifbench report</h1>",
    ]
    parts += [f'<p class="meta">{html.escape(s)}</p>' for s in run_lines(rep)]
    parts += [f'<p class="warn">{html.escape(s)}</p>' for s in skipped_lines(rep)]
    fl = failure_lines(rep)
    if fl:
        parts.append(f'<p class="warn">{html.escape(fl[0])}</p><ul>')
        parts += [f"<li>{html.escape(s)}</li>" for s in fl[1:]]
        parts.append("</ul>")
    if rep.leaderboard is not None:
        parts += ["<h2>Leaderboard</h2>", html_table(rep.leaderboard)]
    else:
        parts.append("<p>No results in the store yet.</p>")
    parts.append(
        '<p class="note">Best per column in <b>bold</b>, second <u>underlined</u> (by each metric\'s direction).</p>'
    )
    for t in rep.tables:
        parts += [f"<h2>{html.escape(t.title)}</h2>", html_table(t)]
    bars = _bar_charts(rep)
    if bars:
        parts += ["<h2>Charts per metric</h2>", '<div class="figs">', *bars, "</div>"]
    radars = _radars(rep)
    if radars:
        parts += [
            "<h2>Profile per method</h2>",
            '<p class="note">Each fusion metric min–max normalised across methods per dataset (outward is better), '
            "averaged over datasets.</p>",
            '<div class="figs">',
            *radars,
            "</div>",
        ]
    grids = _grids(rep, grid_images)
    if grids:
        parts += ["<h2>Fused images</h2>", *grids]
    parts.append('<p id="render-check" class="note"></p>')
    parts.append(_CHECK)
    parts.append("</body></html>")
    return "\n".join(parts)

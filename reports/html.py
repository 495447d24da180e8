"""A static, single-file HTML report: tables, dot plots per dataset × convention (one colour per method in every
chart), a radar chart per method, and a grid of fused images per dataset with their sources. Every figure and image
is embedded (data URIs), so it opens without a server.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ivifbench.reports.cells import cell_text, ci_text, rank_text, table_cells
from ivifbench.reports.escape import htm
from ivifbench.reports.render import (
    _extra_cell,
    all_tables,
    arrow,
    extra_columns,
    failure_lines,
    has_rank,
    run_lines,
    skipped_lines,
)
from ivifbench.reports.tables import Report, Table

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1400px;color:#222;padding:0 1.5rem}
h1{margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.tw{overflow-x:auto;max-width:100%} table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{padding:.25rem .45rem;text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left} thead th{border-bottom:2px solid #333} tbody tr:last-child td{border-bottom:2px solid #333}
table.lb th:nth-child(2),table.lb td:nth-child(2){text-align:left}
td.best{font-weight:bold} td.second{text-decoration:underline} .ci{color:#777;font-size:.8em;white-space:nowrap} .note{color:#555;font-size:.85rem;margin:.2rem 0;max-width:75rem}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(640px,1fr));gap:1rem}
.charts figure{margin:0} .charts img{width:100%;height:auto;border:1px solid #eee}
.charts figcaption{font-size:.85rem;color:#444}
.radars{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:.5rem} .radars img{width:100%;height:auto}
.gridbox{overflow:auto;max-width:100%;max-height:80vh;border:1px solid #ddd;margin:.5rem 0}
.grid{border-collapse:collapse;margin:0} .grid td,.grid th{padding:2px;text-align:center;font-size:.8rem;white-space:normal}
.grid th{position:sticky;top:0;background:#fff} .grid img{display:block;width:150px;height:auto}
.meta{color:#444;font-size:.9rem} .warn{color:#a40} .legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:50%;margin-right:.3rem;vertical-align:middle}
"""

# the browser test reads these attributes; nothing is shown
_CHECK = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var p = document.getElementById('render-check');
  p.setAttribute('data-images', imgs.length); p.setAttribute('data-images-ok', ok);
  p.setAttribute('data-tables', document.querySelectorAll('table').length);
  p.setAttribute('data-page-width', document.documentElement.scrollWidth);
  p.setAttribute('data-view-width', window.innerWidth);
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
    return f'<img src="{uri}" alt="{htm(alt)}"{w}>'


def html_table(t: Table) -> str:
    cols = list(t.values.columns)
    extra = extra_columns(t)
    head = ["Method", *[f"{t.label(c)}{arrow(t.directions.get(c))}" for c in cols], *extra]
    if has_rank(t):
        head = ["Rank", *head]
    out = [f'<div class="tw"><table class="{"lb" if has_rank(t) else "t"}" id="{htm(t.key)}"><thead><tr>']
    out += [f"<th>{htm(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    cells = table_cells(t)
    for m in t.values.index:
        out.append("<tr>")
        if has_rank(t):
            out.append(f"<td>{htm(rank_text(t, m, _extra_cell(t.extra.at[m, 'rank'], 'rank')))}</td>")  # type: ignore[union-attr]
        out.append(f"<td>{htm(t.row_label(m) + t.row_flags.get(m, ''))}</td>")
        for c in cols:
            cl = cells[(m, c)]
            mean, std = cell_text(cl)
            txt = htm((f"{mean} ± {std}" if std else mean) + cl.flag + ("≈" if cl.tied else ""))
            if ci := ci_text(cl):
                txt += f' <span class="ci">{htm(ci)}</span>'
            out.append(f'<td class="{cl.mark}">{txt}</td>' if cl.mark else f"<td>{txt}</td>")
        for c in extra:
            out.append(f"<td>{_extra_cell(t.extra.at[m, c], c)}</td>")  # type: ignore[union-attr]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    out += [f'<p class="note">{htm(n)}</p>' for n in t.notes]
    return "".join(out)


def method_colours(rep: Report) -> dict[str, str]:
    """One colour per method, the same in every chart (methods in display order, tab10 then tab20)."""
    from matplotlib import colormaps

    names = set(rep.fusion.method) | set(rep.tasks.method)
    ordered = rep.method_order(names)
    cmap = colormaps["tab10" if len(ordered) <= 10 else "tab20"]
    n = cmap.N
    from matplotlib.colors import to_hex

    return {m: to_hex(cmap(i % n)) for i, m in enumerate(ordered)}


def _legend(rep: Report, colours: dict[str, str]) -> str:
    return (
        '<p class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{htm(rep.display.name(m))}</span>' for m, c in colours.items())
        + "</p>"
    )


def _dot_panel(
    title: str, frame: pd.DataFrame, methods: list[str], colours: dict[str, str], rep: Report, ncols: int = 4
) -> str | None:
    """One figure: a dot plot per metric (mean ± std per method, axis fitted to the values, not from 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(frame.metric))
    if not metrics:
        return None
    ncols = min(ncols, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    height = 0.5 + 0.22 * len(methods)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.6 * ncols + 1.0, height * nrows + 0.4), squeeze=False, sharey=True
    )
    y = {m: i for i, m in enumerate(reversed(methods))}
    for k, metric in enumerate(metrics):
        ax = axes[k // ncols][k % ncols]
        g = frame[(frame.metric == metric) & frame.method.isin(list(y)) & frame["mean"].notna()]
        ys = [y[m] for m in g.method]
        cs = [colours.get(m, "#333") for m in g.method]
        mean, std = g["mean"].to_numpy(float), g["std"].fillna(0).to_numpy(float)
        lo, hi = mean - std, mean + std
        if "ci_low" in g:  # the 95 % interval of the mean where the report has one
            lo, hi = (
                g["ci_low"].fillna(g["mean"] - g["std"].fillna(0)),
                g["ci_high"].fillna(g["mean"] + g["std"].fillna(0)),
            )
            lo, hi = lo.to_numpy(float), hi.to_numpy(float)
        ax.hlines(ys, lo, hi, colors=cs, linewidth=1.2)  # one call per panel: fast at 10+ methods
        ax.scatter(mean, ys, c=cs, s=22, zorder=3)
        hib = g.higher_is_better.dropna()
        ax.set_title(f"{rep.display.name(metric)}{arrow(bool(hib.iloc[0]) if len(hib) else None)}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", color="#eee")
        ax.margins(x=0.15)
    for k in range(len(metrics), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    for row in axes:
        row[0].set_yticks(list(y.values()), [rep.display.name(m) for m in y], fontsize=8)
    fig.tight_layout()
    return f"<figure>{_img(_png(fig), title)}<figcaption>{htm(title)}</figcaption></figure>"


def _charts(rep: Report, colours: dict[str, str]) -> list[str]:
    out = []
    f = rep.fusion
    if not f.empty:
        for (ds, split, conv), g in f.groupby(["dataset", "split", "convention"], sort=True):
            methods = rep.method_order(g.method.unique())
            table = next((t for t in rep.tables if t.key == f"fusion-{ds}-{split}-{conv}"), None)
            if table is not None:  # the table's metric order (the catalogue's), not alphabetical
                rank = {c: i for i, c in enumerate(table.values.columns)}
                g = g.assign(_o=g.metric.map(lambda c, r=rank: r.get(c, len(r)))).sort_values("_o", kind="stable")
                if table.ci:
                    ci = [table.ci.get((m, c), (math.nan, math.nan)) for m, c in zip(g.method, g.metric, strict=True)]
                    g = g.assign(ci_low=[a for a, _ in ci], ci_high=[b for _, b in ci])
            title = f"{rep.display.name(ds)} ({split}), convention {conv}"
            fig = _dot_panel(title, g, methods, colours, rep)
            if fig:
                out.append(fig)
    t = rep.tasks
    if not t.empty:
        for (task, ds, proto), g in t.groupby(["task", "dataset", "protocol"], sort=True):
            g = g[~g.metric.str.contains("/")]
            methods = rep.method_order(g.method.unique())
            fig = _dot_panel(f"{task} on {rep.display.name(ds)} ({proto})", g, methods, colours, rep)
            if fig:
                out.append(fig)
    return out


def _radars(rep: Report, colours: dict[str, str]) -> list[str]:
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
    for m in rep.method_order(n.index):
        vals = n.loc[m].fillna(0).tolist()
        colour = colours.get(m, "#c33")
        fig = plt.figure(figsize=(2.8, 2.8))
        ax = fig.add_subplot(111, polar=True)
        ax.plot([*angles, angles[0]], [*vals, vals[0]], color=colour)
        ax.fill([*angles, angles[0]], [*vals, vals[0]], color=colour, alpha=0.25)
        ax.set_xticks(angles, [rep.display.name(x) for x in metrics], fontsize=7)
        ax.set_yticks([0.5, 1.0], ["", ""])
        ax.set_ylim(0, 1)
        ax.set_title(rep.display.name(m), fontsize=9)
        out.append(_img(_png(fig), f"radar {m}"))
    return out


def _thumb(path: str | None, size: int = 160) -> str | None:
    if not path or not Path(path).is_file():
        return None
    from PIL import Image

    try:
        with Image.open(path) as src:
            im = src.convert("RGB") if src.mode not in ("L", "RGB") else src.copy()
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
        methods = rep.method_order(g.method.unique())
        images = sorted(g.image.unique(), key=lambda s: (s.lower(), s))[:per_dataset]
        rows = ['<div class="gridbox"><table class="grid"><thead><tr><th>image</th><th>infrared</th><th>visible</th>']
        rows += [f"<th>{htm(rep.display.name(m))}</th>" for m in methods]
        rows.append("</tr></thead><tbody>")
        for img in images:
            gi = g[g.image == img].set_index("method")
            first = gi.iloc[0]
            rows.append(f"<tr><td>{htm(img)}</td>")
            for src, label in ((first.ir_path, "infrared"), (first.vis_path, "visible")):
                uri = _thumb(src)
                rows.append(f"<td>{_img(uri, f'{label} {img}') if uri else '—'}</td>")
            for m in methods:
                uri = _thumb(gi.path.get(m)) if m in gi.index else None
                rows.append(f"<td>{_img(uri, f'{m} {img}') if uri else '—'}</td>")
            rows.append("</tr>")
        rows.append("</tbody></table></div>")
        out.append(f"<h3>{htm(rep.display.name(ds))} ({htm(split)})</h3>" + "".join(rows))
    return out


def render_html(rep: Report, grid_images: int = 3) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>ivifbench report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>ivifbench report</h1>",
    ]
    parts += [f'<p class="meta">{htm(s)}</p>' for s in run_lines(rep)]
    parts += [f'<p class="warn">{htm(s)}</p>' for s in skipped_lines(rep)]
    fl = failure_lines(rep)
    if fl:
        parts.append(f'<p class="warn">{htm(fl[0])}</p><ul>')
        parts += [f"<li>{htm(s)}</li>" for s in fl[1:]]
        parts.append("</ul>")
    if rep.leaderboard is not None:
        parts += ["<h2>Leaderboard</h2>", html_table(rep.leaderboard)]
    else:
        parts.append("<p>No results in the store yet.</p>")
    parts.append(
        '<p class="note">Best per column in <b>bold</b>, second <u>underlined</u> (by each metric\'s direction; none '
        "where all tie).</p>"
    )
    for t in all_tables(rep):
        parts += [f"<h2>{htm(t.title)}</h2>", html_table(t)]
    colours = method_colours(rep) if not (rep.fusion.empty and rep.tasks.empty) else {}
    charts = _charts(rep, colours)
    if charts:
        parts += [
            "<h2>Charts</h2>",
            '<p class="note">Mean per method with its 95 % bootstrap interval over images (tasks: ± std over seeds); '
            "each axis spans that metric's values (it does not start at 0), "
            "so small differences show.</p>",
            _legend(rep, colours),
            '<div class="charts">',
            *charts,
            "</div>",
        ]
    radars = _radars(rep, colours)
    if radars:
        parts += [
            "<h2>Profile per method</h2>",
            '<p class="note">Each fusion metric min–max normalised across methods per dataset and convention (outward'
            " is better), averaged.</p>",
            '<div class="radars">',
            *radars,
            "</div>",
        ]
    grids = _grids(rep, grid_images)
    if grids:
        parts += ["<h2>Fused images</h2>", *grids]
    parts.append('<p id="render-check" hidden></p>')
    parts.append(_CHECK)
    parts.append("</body></html>")
    return "\n".join(parts)

"""Reports from a hand-made store: directions, best/second marks, Borda with missing cells, in-domain flags, notes,
every format, the `report` command, and the HTML in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ivifbench.imageio import write_png
from ivifbench.reports import write_reports
from ivifbench.reports.tables import build_report
from ivifbench.store import ResultsStore, UnitRecord

# per method: EN (↑) and MAEish (↓) per image; "c" has no task result (missing cell)
EN = {"a": [7.0, 7.2], "b": [6.0, 6.4], "c": [7.5, 7.5]}
DIFF = {"a": [0.2, 0.2], "b": [0.1, 0.3], "c": [0.4, 0.4]}
MAP = {"a": [0.50, 0.54], "b": [0.60, 0.62]}


def make_store(root: Path) -> Path:
    db = root / "results.db"
    imgs = root / "imgs"
    rng = np.random.default_rng(0)
    with ResultsStore(db) as s:
        s.start_run("r1", "demo", "1", {}, {"skipped_methods": {"sage": "weights not configured"}, "host": "h",
                                            "versions": {"ivifbench": "0.1.0"}, "device": {"device": "cpu"}})  # fmt: skip
        for m in EN:
            fused = []
            for i in range(2):
                ir = write_png(imgs / "ir" / f"p{i}.png", rng.random((24, 32)).astype(np.float32))
                vis = write_png(imgs / "vis" / f"p{i}.png", rng.random((24, 32, 3)).astype(np.float32))
                f = write_png(imgs / m / f"p{i}.png", rng.random((24, 32, 3)).astype(np.float32))
                fused.append((f"p{i}", str(f), str(ir), str(vis)))
            s.commit_unit(UnitRecord(key=f"fuse-{m}", slot=f"fuse|{m}|msrs|test", kind="fuse", status="ok", method=m,
                                     dataset="msrs", split="test", fused=fused,
                                     method_info=(m, "fp", {"name": m, "trained_on": ["msrs"] if m == "b" else []})))  # fmt: skip
            rows = [(f"p{i}", "EN", "canonical", EN[m][i]) for i in range(2)]
            rows += [(f"p{i}", "DIFF", "canonical", DIFF[m][i]) for i in range(2)]
            s.commit_unit(UnitRecord(key=f"score-{m}", slot=f"score|{m}|msrs|test|canonical", kind="score", status="ok",
                                     method=m, dataset="msrs", split="test", image_metrics=rows,
                                     metric_info=[("EN", "fusion", True, {}), ("DIFF", "fusion", False, {})]))  # fmt: skip
        for m, vals in MAP.items():
            for seed, v in enumerate(vals):
                s.commit_unit(UnitRecord(key=f"task-{m}-{seed}", slot=f"task|detection|{m}|m3fd|quick|{seed}", kind="task",
                                         status="ok", method=m, dataset="m3fd", task="detection", protocol="quick", seed=seed,
                                         task_results=[("mAP50", v), ("AP50/Car", v / 2)], spec={"overrides": {"epochs": 2}},
                                         metric_info=[("mAP50", "detection", True, {}), ("AP50/Car", "detection", True, {})]))  # fmt: skip
        s.commit_unit(UnitRecord(key="task-c-0", slot="task|detection|c|m3fd|quick|0", kind="task", status="failed",
                                 method="c", dataset="m3fd", task="detection", protocol="quick", seed=0,
                                 error="RuntimeError: out of memory", traceback="Traceback ..."))  # fmt: skip
        s.finish_run("r1", status="finished with failures", n_ok=9, n_failed=1, n_cached=0,
                     manifest={"skipped_methods": {"sage": "weights not configured"}, "host": "h",
                               "versions": {"ivifbench": "0.1.0"}, "device": {"device": "cpu"}})  # fmt: skip
    return db


def test_tables_directions_borda_and_flags(tmp_path: Path) -> None:
    rep = build_report(make_store(tmp_path))
    fus = rep.fusion.set_index(["method", "metric"])
    assert fus.loc[("a", "EN"), "mean"] == pytest.approx(7.1) and fus.loc[("a", "EN"), "std"] == pytest.approx(
        np.std([7.0, 7.2], ddof=1)
    )
    assert fus.loc[("b", "DIFF"), "higher_is_better"] is False or fus.loc[("b", "DIFF"), "higher_is_better"] == 0
    lb = rep.leaderboard
    assert lb is not None
    # c has no detection result → no Borda total, no mean rank, listed last
    assert pd.isna(lb.extra.at["c", "Borda"]) and pd.isna(lb.extra.at["c", "mean rank"])
    assert list(lb.values.index)[-1] == "c"
    # columns: msrs DIFF (↓: b 0.2 = a 0.2 tie, c worst), msrs EN (↑: c, a, b), detection mAP50 (↑: b, a)
    # Borda = methods beaten (ties split): a: DIFF 1.5, EN 1, mAP 0 → 2.5; b: DIFF 1.5, EN 0, mAP 1 → 2.5
    assert lb.extra.at["a", "Borda"] == pytest.approx(2.5) and lb.extra.at["b", "Borda"] == pytest.approx(2.5)
    assert lb.extra.at["a", "rank"] == lb.extra.at["b", "rank"] == 1
    assert lb.extra.at["c", "Borda (fusion)"] == pytest.approx(0 + 2)
    # shown: the mean rank over the dataset's fusion metrics (↓) and the task's headline number
    assert list(lb.values.columns) == ["msrs fusion rank", "detection m3fd mAP50"]
    # a: DIFF 1.5, EN 2 → 1.75; b: 1.5, 3 → 2.25; c: 3, 1 → 2
    assert lb.values.at["a", "msrs fusion rank"] == pytest.approx(1.75)
    assert lb.values.at["c", "msrs fusion rank"] == pytest.approx(2.0)
    best, second = lb.best_two("msrs fusion rank")
    assert best == {"a"} and second == {"c"}
    assert lb.flags.get(("b", "msrs fusion rank")) == "†"
    assert lb.full is not None and {"msrs EN", "msrs DIFF", "detection m3fd mAP50"} <= set(lb.full.columns)
    assert not any("AP50/Car" in c for c in lb.full.columns)


def test_all_formats(tmp_path: Path) -> None:
    db = make_store(tmp_path)
    files = write_reports(db, tmp_path / "report")
    names = {p.name for p in files}
    assert {
        "leaderboard.md",
        "leaderboard.tex",
        "leaderboard.csv",
        "fusion_metrics.csv",
        "task_results.csv",
        "report.html",
    } <= names
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "EN ↑" in md and "DIFF ↓" in md
    assert "convention 'canonical'" in md and "protocol 'quick' with overrides epochs=2" in md
    assert "**7.500 ± 0.000 [7.500, 7.500]**" in md  # c has the best EN (3 decimals: EN's metadata), its 95 % CI
    assert "_7.100 ± 0.141 [7.000, 7.200]_" in md and "≈" not in md
    assert "2 images are too few for the paired test" in md  # the smallest two-sided p over 2 pairs is 0.5
    assert "b†" in md and "trained on this dataset" in md
    assert "Method 'sage' was skipped: weights not configured" in md
    assert "## Failures" in md and "out of memory" in md
    tex = (tmp_path / "report" / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    # lower-is-better: the smallest DIFF is bold (a and b tie at 0.2), the next is underlined
    assert re.search(r"\\textbf\{0\.2", tex) and re.search(r"\\underline\{0\.4", tex)
    assert r"\textbf{7.500}" in tex and r"\underline{7.100}" in tex
    assert r"EN $\uparrow$" in tex and r"DIFF $\downarrow$" in tex and r"\resizebox" not in tex
    csv = pd.read_csv(tmp_path / "report" / "leaderboard.csv", index_col=0)
    assert csv.at["a", "msrs EN"] == pytest.approx(7.1) and pd.isna(csv.at["c", "Borda"])
    tidy = pd.read_csv(tmp_path / "report" / "fusion_metrics.csv")
    assert set(tidy.columns) >= {"dataset", "split", "convention", "method", "metric", "mean", "std", "n"}


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ivifbench.cli import main

    make_store(tmp_path)
    assert main(["report", "--results", str(tmp_path), "--format", "md,csv", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "leaderboard.md").is_file() and not (tmp_path / "r" / "report.html").exists()
    assert main(["report", "--results", str(tmp_path), "--failures"]) == 0
    assert "out of memory" in capsys.readouterr().out
    assert main(["report", "--results", str(tmp_path / "nowhere")]) == 2
    assert main(["report", "--results", str(tmp_path), "--format", "pdf"]) == 2


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_html_renders_in_a_headless_browser(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    make_store(tmp_path)
    html = write_reports(tmp_path / "results.db", tmp_path / "report", formats=["html"])[0]
    text = html.read_text()
    assert 'src="file:' not in text and "http" not in text.split("<body>")[1].split("</body>")[0].replace(
        "https://", ""
    )
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    for width in (1280, 1920):
        dom = subprocess.run([browser, *flags, f"--window-size={width},900", "--virtual-time-budget=5000",
                              "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=90)  # fmt: skip
        assert dom.returncode == 0, dom.stderr[-2000:]
        check = re.search(r'id="render-check"[^>]*', dom.stdout)
        assert check, dom.stdout[-2000:]
        attrs = dict(re.findall(r'data-([\w-]+)="(\d+)"', check.group(0)))
        n_img = int(attrs["images"])
        # charts: one per dataset × convention and per task; grid: 2 pairs × (IR + visible + 3 methods)
        assert n_img >= 2 + 2 * 5 and int(attrs["images-ok"]) == n_img
        assert int(attrs["tables"]) >= 4  # leaderboard, fusion msrs, detection m3fd, image grid
        assert int(attrs["page-width"]) <= int(attrs["view-width"])  # nothing widens the page (grids scroll in a box)
        assert '<td class="best">' in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, "--window-size=1200,900", f"--screenshot={shot}", html.as_uri()],
                   capture_output=True, timeout=90, check=True)  # fmt: skip
    from PIL import Image

    px = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert px.shape == (900, 1200) and px.std() > 10  # not a blank page

"""Paper-ready reports: escaping in every format, fixed decimals, display names and order, no marks on ties, scoped
reports, conventions as an axis (per-convention tables, the sensitivity table, each dataset counted once), and the
LaTeX compiled by pdflatex at a two-column paper's width."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from report_stores import EVIL, NINE, TEN, add_run, add_scores, suite_config

from ivifbench.reports import REPORT_FILES, write_reports
from ivifbench.reports.tables import build_report
from ivifbench.store import ResultsStore, UnitRecord

NOW = time.time()


def _nine_by_ten(tmp_path: Path, report: dict | None = None, name: str = EVIL) -> Path:
    db = tmp_path / "results.db"
    add_run(db, "r1", suite_config(name, TEN, {"vifb": None, "tno": None}, report=report), NOW)
    add_scores(db, TEN, "vifb", "canonical")
    add_scores(db, TEN, "tno", "canonical", seed=1)
    return db


def test_malicious_names_are_inert_in_every_format(tmp_path: Path) -> None:
    db = _nine_by_ten(tmp_path, report={"names": {"gff": "G<b>F</b>F\n\\input{x}"}})
    write_reports(db, tmp_path / "r", formats=["md", "tex", "html"])
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    tex = (tmp_path / "r" / "leaderboard.tex").read_text()
    html = (tmp_path / "r" / "report.html").read_text()
    for text in (md, html):
        assert "<script>alert" not in text and "<b>F</b>" not in text
        assert "&lt;script&gt;" in text
    assert "\\input{" not in tex and "<" not in tex and ">" not in tex
    # the suite name stays on its comment line: every line that mentions it is a comment
    assert all(line.startswith("%") for line in tex.splitlines() if "passwd" in line)
    assert r"\textbackslash{}input\{/etc/passwd\}" in tex and r"\textless{}script\textgreater{}" in tex
    # in Markdown, the name cannot open a table cell or emphasis
    line = next(x for x in md.splitlines() if "passwd" in x)
    assert r"\| \*\*x\*\*" in line and "\n" not in line


def test_fixed_decimals_names_order_and_overrides(tmp_path: Path) -> None:
    db = _nine_by_ten(
        tmp_path,
        report={"names": {"gff": "GFF", "tno": "TNO"}, "order": ["SAGE", "CDDFuse"], "decimals": {"PSNR": 1}},
    )
    rep = build_report(db)
    tno = next(t for t in rep.tables if t.dataset == "tno")
    assert tno.title == "Fusion metrics — TNO (canonical)"
    assert list(tno.values.columns) == ["EN", "SD", "SF", "AG", "MI", "PSNR", "VIF", "Qabf", "SSIM"]  # catalogue order
    # the suite's order first, then case-insensitive (U2Fusion between tardal and weighted, not before 'average')
    assert list(tno.values.index) == ["SAGE", "CDDFuse", "average", "densefuse", "gff", "max", "SeAFusion", "tardal",
                                      "U2Fusion", "weighted"]  # fmt: skip
    assert tno.decimals["EN"] == 3 and tno.decimals["SSIM"] == 3 and tno.decimals["PSNR"] == 1
    md = (write_reports(db, tmp_path / "r", formats=["md"])[0]).read_text()
    rows = [x for x in md.splitlines() if x.startswith("| GFF |")]
    # "mean ± std", then "≈" when not distinguishable from the best, then the 95 % interval
    assert rows and all(re.search(r"\| \d+\.\d{3} ± \d+\.\d{3}≈? \[\d+\.\d{3}, \d+\.\d{3}\] \|", r) for r in rows)
    psnr = [re.findall(r"\d+\.\d ± \d+\.\d(?!\d)", r) for r in rows]
    assert all(psnr)


def test_no_marks_when_every_value_ties(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    with ResultsStore(db) as s:
        for m in ("a", "b", "c"):
            s.commit_unit(UnitRecord(key=f"t-{m}", slot=f"task|detection|{m}|m3fd|quick|0", kind="task", status="ok",
                                     method=m, dataset="m3fd", task="detection", protocol="quick", seed=0,
                                     task_results=[("mAP50", 0.0), ("mAP50-95", 0.1 if m == "a" else 0.0)],
                                     metric_info=[("mAP50", "detection", True, {}), ("mAP50-95", "detection", True, {})]))  # fmt: skip
    rep = build_report(db)
    t = rep.tables[0]
    assert t.best_two("mAP50") == (set(), set())
    assert t.best_two("mAP50-95") == ({"a"}, {"b", "c"})
    md = (write_reports(db, tmp_path / "r", formats=["md"])[0]).read_text()
    assert "**0.000**" not in md


def _pdflatex() -> str | None:
    return shutil.which("pdflatex")


def test_latex_compiles_at_two_column_width_without_shrinking(tmp_path: Path) -> None:
    if _pdflatex() is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-recommended; .ci/run installs it)")
    db = _nine_by_ten(tmp_path)
    add_scores(db, TEN, "tno", "tang", metrics=NINE[:6], seed=2)  # a second convention: the sensitivity table
    add_run(db, "r2", suite_config(EVIL, TEN, {"vifb": None, "tno": ["canonical", "tang"]}), NOW + 1)
    tex = write_reports(db, tmp_path / "r", formats=["tex"])[0]
    body = tex.read_text()
    assert r"\resizebox" not in body and r"\scalebox" not in body
    assert "Convention sensitivity" in body
    # a CVPR-sized two-column page: 6.875 in text, 3.28 in columns
    (tmp_path / "r" / "paper.tex").write_text(
        "\\documentclass[10pt,twocolumn,letterpaper]{article}\n"
        "\\setlength{\\textwidth}{6.875in}\\setlength{\\textheight}{8.875in}\\setlength{\\columnsep}{0.3125in}\n"
        "\\setlength{\\oddsidemargin}{-0.1875in}\\setlength{\\topmargin}{-0.5in}\n"
        "\\usepackage{booktabs}\n\\begin{document}\nText.\n\\input{leaderboard}\n\\end{document}\n"
    )
    run = subprocess.run([_pdflatex(), "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
                         cwd=tmp_path / "r", capture_output=True, text=True, timeout=180)  # fmt: skip
    log = (tmp_path / "r" / "paper.log").read_text(errors="replace")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)[:3]
    assert (tmp_path / "r" / "paper.pdf").stat().st_size > 10_000


def test_layouts_wide_and_landscape(tmp_path: Path) -> None:
    db = _nine_by_ten(tmp_path, report={"layout": "wide"})
    body = write_reports(db, tmp_path / "r", formats=["tex"])[0].read_text()
    assert r"\begin{table*}" in body
    fusion = body.split(r"\caption{Fusion metrics --- tno (canonical)}")[1].split(r"\end{table*}")[0]
    assert fusion.count(r"\begin{tabular}{l") == 2  # nine metrics with their std: two groups across the page
    db2 = _nine_by_ten(tmp_path / "l", report={"layout": "landscape"})
    assert r"\begin{sidewaystable}" in write_reports(db2, tmp_path / "l" / "r", formats=["tex"])[0].read_text()


# ---------------------------------------------------------------------------------------------------------- scope


def test_default_scope_is_the_latest_suite(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    add_run(db, "r1", suite_config("s", ["a", "b", "c"], {"tno": None}), NOW)
    add_scores(db, ["a", "b", "c"], "tno", "canonical")
    add_run(db, "r2", suite_config("s", ["a", "b"], {"tno": None}), NOW + 1)  # c removed from the suite
    rep = build_report(db)
    assert set(rep.tables[0].values.index) == {"a", "b"}
    assert "suite 's' as of run r2" in rep.scope.label
    assert set(build_report(db, everything=True).tables[0].values.index) == {"a", "b", "c"}
    assert set(build_report(db, run_id="r1").tables[0].values.index) == {"a", "b", "c"}
    assert set(build_report(db, methods=["a"]).tables[0].values.index) == {"a"}
    md = write_reports(db, tmp_path / "r", formats=["md"])[0].read_text()
    assert "Scope: suite 's' as of run r2" in md and "| c |" not in md


def test_report_command_scope_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ivifbench.cli import main

    db = tmp_path / "results.db"
    add_run(db, "r1", suite_config("one", ["a", "b"], {"tno": None}), NOW)
    add_scores(db, ["a", "b"], "tno", "canonical")
    add_run(db, "r2", suite_config("two", ["x", "y"], {"tno": None}), NOW + 1)
    add_scores(db, ["x", "y"], "tno", "canonical", seed=3)
    out = tmp_path / "r"
    assert main(["report", "-r", str(tmp_path), "-o", str(out), "-f", "md"]) == 0
    assert "| x |" in (out / "leaderboard.md").read_text() and "| a |" not in (out / "leaderboard.md").read_text()
    assert main(["report", "-r", str(tmp_path), "-o", str(out), "-f", "md", "--suite", "one"]) == 0
    assert "| a |" in (out / "leaderboard.md").read_text() and "| x |" not in (out / "leaderboard.md").read_text()
    assert main(["report", "-r", str(tmp_path), "-o", str(out), "-f", "md", "--all", "--methods", "a,x"]) == 0
    text = (out / "leaderboard.md").read_text()
    assert "| a |" in text and "| x |" in text and "| b |" not in text and "every result in the store" in text
    assert main(["report", "-r", str(tmp_path), "-o", str(out), "--suite", "three"]) == 2
    assert "no run of that suite" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- conventions


def test_conventions_per_dataset_and_sensitivity(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    methods = ["a", "b", "c"]
    cfg = suite_config("conv", methods, {"vifb": ["vifb", "canonical"], "tno": ["tang", "canonical"]})
    add_run(db, "r1", cfg, NOW)
    add_scores(db, methods, "vifb", "vifb", metrics=["EN", "SD"])
    add_scores(db, methods, "vifb", "canonical", metrics=["EN", "SD", "VIF"], shift={"a": 10.0})  # a wins here
    add_scores(db, methods, "tno", "tang", metrics=["EN"])
    add_scores(db, methods, "tno", "canonical", metrics=["EN"])
    add_scores(db, methods, "tno", "cddfuse", metrics=["EN"])  # not in the suite: out of scope
    rep = build_report(db)
    keys = {(t.dataset, t.convention) for t in rep.tables}
    assert keys == {("vifb", "vifb"), ("vifb", "canonical"), ("tno", "tang"), ("tno", "canonical")}
    lb = rep.leaderboard
    assert lb is not None and lb.full is not None
    # each dataset once, under its first convention: vifb EN/SD under vifb, tno EN under tang
    assert sorted(lb.full.columns) == ["tno EN", "vifb EN", "vifb SD"]
    assert "vifb: vifb" in " ".join(lb.notes) and "tno: tang" in " ".join(lb.notes)
    sens = {t.dataset: t for t in rep.sensitivity}
    assert set(sens) == {"vifb", "tno"}
    v = sens["vifb"]
    assert list(v.values.columns) == ["vifb", "canonical"]  # the primary convention first
    # under vifb, c > b > a (the store gives later methods higher values); under canonical a leads (+10)
    assert v.values.at["a", "vifb"] == 3 and v.values.at["a", "canonical"] == 1
    assert v.extra is not None and v.extra.at["a", "max change"] == 2
    assert "the 2 metrics every convention has (EN, SD)" in v.notes[0]


def test_two_suites_into_one_out_never_crash_or_double_count(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    add_run(db, "r1", suite_config("one", ["a", "b"], {"tno": None}, convention="canonical"), NOW)
    add_scores(db, ["a", "b"], "tno", "canonical")
    add_run(db, "r2", suite_config("two", ["a", "b"], {"tno": None}, convention="tang"), NOW + 1)
    add_scores(db, ["a", "b"], "tno", "tang")
    files = write_reports(db, tmp_path / "r", everything=True)  # HTML included: charts per dataset × convention
    assert {p.name for p in files} >= {"report.html", "leaderboard.md"}
    rep = build_report(db, everything=True)
    assert rep.leaderboard is not None and rep.leaderboard.full is not None
    assert all(c.startswith("tno ") for c in rep.leaderboard.full.columns) and len(rep.leaderboard.full.columns) == 9
    assert {t.convention for t in rep.tables} == {"canonical", "tang"} and len(rep.sensitivity) == 1


def test_failed_report_leaves_no_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _nine_by_ten(tmp_path)
    out = tmp_path / "r"
    write_reports(db, out, formats=["md", "html"])
    assert (out / "report.html").is_file()

    def boom(*a: object, **k: object) -> str:
        raise ValueError("setting an array element with a sequence")

    monkeypatch.setattr("ivifbench.reports.html.render_html", boom)
    with pytest.raises(ValueError):
        write_reports(db, out, formats=["md", "html"])
    assert not any((out / n).exists() for n in REPORT_FILES)
    assert not [p for p in out.iterdir() if p.name.startswith(".report-")]


def test_csv_keeps_the_conventions(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    add_run(db, "r1", suite_config("s", ["a", "b"], {"tno": ["tang", "canonical"]}), NOW)
    add_scores(db, ["a", "b"], "tno", "tang", metrics=["EN"])
    add_scores(db, ["a", "b"], "tno", "canonical", metrics=["EN"])
    write_reports(db, tmp_path / "r", formats=["csv"])
    tidy = pd.read_csv(tmp_path / "r" / "fusion_metrics.csv")
    assert set(tidy.convention) == {"tang", "canonical"}


def test_run_exits_nonzero_when_the_report_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import test_sweep_fixtures as fx

    from ivifbench.benchmarks.runner import run_suite, summary_text
    from ivifbench.benchmarks.suite import load_suite

    fx.register_fakes()
    out = tmp_path / "out"
    (out / "report").mkdir(parents=True)
    (out / "report" / "report.html").write_text("stale")
    suite = fx.write_suite(tmp_path / "s.yaml", tasks=[], report={"formats": ["md", "html"]})

    def boom(*a: object, **k: object) -> str:
        raise ValueError("setting an array element with a sequence")

    monkeypatch.setattr("ivifbench.reports.html.render_html", boom)
    summary = run_suite(load_suite(suite), out, workers=0, progress=False)
    assert summary.failed == 0 and summary.exit_code == 1 and "array element" in (summary.report_error or "")
    assert "report NOT written" in summary_text(summary)
    assert not (out / "report" / "report.html").exists() and not (out / "report" / "leaderboard.md").exists()

"""reports/stats.py against SciPy (bootstrap, wilcoxon, t) and against hand-checkable cases."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ivifbench.reports import stats
from ivifbench.reports.stats import Column, bootstrap_ci, compare_to_best, holm, rank_stability, wilcoxon_signed_rank


def test_doctests() -> None:
    res = doctest.testmod(stats, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


@pytest.mark.parametrize("n", [2, 7, 40, 300])
def test_bootstrap_matches_scipy(n: int) -> None:
    x = np.random.default_rng(n).gamma(2.0, 3.0, n)
    ours = bootstrap_ci(x, n_resamples=999, seed=5)
    ref = sps.bootstrap((x,), np.mean, n_resamples=999, method="percentile", rng=np.random.default_rng(5))
    assert ours == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high), rel=1e-12)
    assert bootstrap_ci(x, n_resamples=999, seed=5) == ours  # reproducible
    assert n == 2 or bootstrap_ci(x, n_resamples=999, seed=6) != ours
    assert ours[0] <= x.mean() <= ours[1]


def test_bootstrap_degenerate() -> None:
    assert all(math.isnan(v) for v in bootstrap_ci([1.0]))
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert bootstrap_ci([1.0, np.nan, 3.0, 5.0], seed=1) == bootstrap_ci([1.0, 3.0, 5.0], seed=1)


CASES = {
    "exact": lambda r: (r.normal(0, 1, 12), r.normal(0.8, 1, 12)),
    "exact-50": lambda r: (r.normal(0, 1, 50), r.normal(0.2, 1, 50)),
    "ties-small": lambda r: (np.round(r.normal(0, 1, 10), 1), np.round(r.normal(0.5, 1, 10), 1)),
    "zeros-small": lambda r: (np.array([1.0, 2, 3, 4, 5, 6, 7, 8]), np.array([1.0, 2.5, 2, 4.5, 5, 7, 6.2, 9])),
    "asymptotic": lambda r: (r.normal(0, 1, 120), r.normal(0.1, 1, 120)),
    "ties-large": lambda r: (np.round(r.normal(0, 1, 60), 1), np.round(r.normal(0.3, 1, 60), 1)),
    "zeros-large": lambda r: (np.r_[np.zeros(5), r.normal(0, 1, 30)], np.r_[np.zeros(5), r.normal(0.5, 1, 30)]),
    "one-sided-data": lambda r: (np.arange(1.0, 9.0), np.arange(1.0, 9.0) + 0.5),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wilcoxon_matches_scipy(case: str, seed: int) -> None:
    x, y = CASES[case](np.random.default_rng(seed))
    ours = wilcoxon_signed_rank(x, y)
    ref = sps.wilcoxon(x, y)
    assert ours.statistic == pytest.approx(float(ref.statistic))
    assert ours.pvalue == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)


def test_wilcoxon_edges() -> None:
    r = wilcoxon_signed_rank([1.0, 2.0], [1.0, 2.0])
    assert r.n == 0 and math.isnan(r.pvalue)
    with pytest.raises(ValueError, match="one length"):
        wilcoxon_signed_rank([1.0, 2.0], [1.0])


def test_holm_matches_definition() -> None:
    p = [0.001, 0.2, 0.012, 0.04, np.nan]
    adj = holm(p)
    assert adj[:4] == pytest.approx([0.004, 0.2, 0.036, 0.08]) and math.isnan(adj[4])
    assert holm([]) == []
    # monotone in the raw p-values and never below them
    r = np.random.default_rng(0).uniform(0, 0.2, 20)
    a = np.array(holm(list(r)))
    assert (a >= r).all() and (np.diff(a[np.argsort(r)]) >= 0).all()


def test_compare_to_best_uses_holm_and_direction() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(10, 1, 30)
    noise = rng.normal(0, 0.05, 30)
    noise -= noise.mean()  # "close" is 0.005 below "best" on average: not a detectable difference
    samples = {
        "best": base + 1.0,
        "close": base + 1.0 + noise - 0.005,
        "far": base,
        "gone": np.full(30, np.nan),
    }
    c = compare_to_best(samples, higher_is_better=True)
    assert c["best"].tied_with_best and c["close"].tied_with_best and not c["far"].tied_with_best
    assert "gone" not in c
    raw = [sps.wilcoxon(samples[m], samples["best"]).pvalue for m in ("close", "far")]
    assert [c["close"].p_holm, c["far"].p_holm] == pytest.approx(holm(raw))
    low = compare_to_best({k: v for k, v in samples.items() if k != "gone"}, higher_is_better=False)
    assert low["far"].tied_with_best and math.isnan(low["far"].pvalue) and not low["best"].tied_with_best


def test_seed_interval_matches_scipy_t() -> None:
    x = np.array([70.1, 72.3, 71.0, 69.8])
    ref = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert stats.seed_interval(x) == pytest.approx(ref)
    assert all(math.isnan(v) for v in stats.seed_interval([1.0, 2.0]))


def test_rank_stability() -> None:
    rng = np.random.default_rng(0)
    n = 40
    base = rng.normal(0, 1, n)
    methods = ["a", "b", "c", "d"]
    # a and b are close (noisy), c clearly third, d clearly last, on two datasets' columns
    m1 = np.vstack([base + 2, base + 2 + rng.normal(0, 1, n), base, base - 3])
    m2 = np.vstack([base + 1, base + 1 + rng.normal(0, 1, n), base - 1, base - 4])
    cols = [Column(m1, True, "d1"), Column(-m2, False, "d2"), Column(m1[:, :1], True, "task")]
    r = rank_stability(methods, cols, n_resamples=500, seed=3)
    assert r == rank_stability(methods, cols, n_resamples=500, seed=3)
    assert (r["c"].low, r["c"].high) == (3, 3) and (r["d"].rank, r["d"].low, r["d"].high) == (4, 4, 4)
    assert r["a"].low == 1 and r["a"].high == 2 and r["b"].low == 1 and r["b"].high == 2
    assert 0 < r["a"].share_first < 1 and r["d"].share_first == 0
    assert {r["a"].rank, r["b"].rank} <= {1, 2}
    # a missing value takes the method out
    m3 = m1.copy()
    m3[3, 5] = np.nan
    assert "d" not in rank_stability(methods, [Column(m3, True, "d1")], n_resamples=50)
    with pytest.raises(ValueError, match="rows"):
        rank_stability(methods, [Column(m1[:2], True, "d1")])


def _tidy_images(n: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for ds in ("tno", "msrs"):
        base = rng.normal(5, 1, n)
        shift = {"strong": 1.0, "twin": 1.0 + 1e-3, "weak": -1.0}
        for m, s in shift.items():
            noise = rng.normal(0, 0.3 if m == "twin" else 0.05, n)
            for i in range(n):
                for metric, sign in (("EN", 1.0), ("MSE", -1.0)):
                    rows.append((m, ds, "test", f"{i:03d}", metric, "canonical", sign * (base[i] + s + noise[i])))
    return pd.DataFrame(rows, columns=["method", "dataset", "split", "image", "metric", "convention", "value"])


def test_fusion_significance_and_stability_from_tidy_frames() -> None:
    from ivifbench.reports.significance import (
        LeaderboardColumn,
        fusion_significance,
        leaderboard_stability,
        stability_text,
        task_intervals,
    )

    img = _tidy_images()
    sig = fusion_significance(img, {"EN": True, "MSE": False}, n_resamples=300)
    assert len(sig) == 2 * 2 * 3
    en = sig[(sig.dataset == "tno") & (sig.metric == "EN")].set_index("method")
    assert not en.loc["weak", "tied"] and en.loc["weak", "p_holm"] < 0.05
    assert en.loc[["strong", "twin"], "tied"].all() and en.best.sum() == 1
    g = img[(img.dataset == "tno") & (img.metric == "EN")]
    vals = {m: g[g.method == m].sort_values("image").value.to_numpy() for m in ("strong", "twin", "weak")}
    ref = compare_to_best(vals, True)
    assert en.loc["weak", "p_holm"] == pytest.approx(ref["weak"].p_holm)
    assert (en.loc["weak", "ci_low"], en.loc["weak", "ci_high"]) == bootstrap_ci(vals["weak"], n_resamples=300)
    mse = sig[(sig.dataset == "tno") & (sig.metric == "MSE")].set_index("method")
    assert not mse.loc["weak", "tied"]  # lower is better: "weak" has the largest MSE
    cols = [
        LeaderboardColumn("fusion", (ds, "test", "canonical"), m, m == "EN")
        for ds in ("tno", "msrs")
        for m in ("EN", "MSE")
    ]
    seeds = pd.DataFrame(
        [
            (m, "m3fd", "detection", "quick", s, "mAP50", v + s * 0.01)
            for m, v in (("strong", 0.5), ("twin", 0.49), ("weak", 0.1))
            for s in (0, 1, 2)
        ],
        columns=["method", "dataset", "task", "protocol", "seed", "metric", "value"],
    )
    cols.append(LeaderboardColumn("task", ("m3fd", "detection", "quick"), "mAP50", True))
    st = leaderboard_stability(["strong", "twin", "weak"], cols, img, seeds, n_resamples=300)
    assert (st["weak"].rank, st["weak"].low, st["weak"].high) == (3, 3, 3) and stability_text(
        st["weak"]
    ) == "3 (always)"
    assert st["strong"].low == 1 and st["twin"].high == 2
    ti = task_intervals(seeds).set_index("method")
    assert ti.loc["weak", "ci_low"] < 0.11 < ti.loc["weak", "ci_high"]


def test_reports_show_intervals_ties_and_rank_ranges(tmp_path: Path) -> None:
    from report_stores import BASE, add_scores

    from ivifbench.reports import write_reports
    from ivifbench.reports.tables import build_report

    db = tmp_path / "results.db"
    # per index +3 %, 1 % noise: c is best; b shifted up to c's level (a tie); a is 6 % behind (a real difference)
    add_scores(db, ["a", "b", "c"], "tno", "canonical", ["EN", "SD"], images=12, shift={"b": 0.03 * BASE["EN"]})
    add_scores(db, ["a", "b", "c"], "msrs", "canonical", ["EN", "SD"], images=12, seed=1)
    rep = build_report(db)
    tno = next(t for t in rep.tables if t.dataset == "tno")
    best = tno.values["EN"].idxmax()
    assert best in ("b", "c") and ({"b", "c"} - {best}).pop() in {m for m, c in tno.tied if c == "EN"}
    assert ("a", "EN") not in tno.tied and len(tno.ci) == 3 * 2
    lo, hi = tno.ci[("a", "EN")]
    assert lo < tno.values.at["a", "EN"] < hi
    lb = rep.leaderboard
    assert lb is not None and set(lb.rank_range) == {"a", "b", "c"} and lb.rank_range["a"] == (3, 3)
    files = {p.suffix: p.read_text() for p in write_reports(db, tmp_path / "r", formats=["md", "tex", "html"])}
    md, tex, html = files[".md"], files[".tex"], files[".html"]
    assert "≈ [" in md and "≈ not distinguishable from the best: two-sided Wilcoxon signed-rank test" in md
    assert "| 3 (3) | a |" in md and "95 % range of the method's Borda rank" in md
    assert r"$^{\ast}$" in tex and r"Wilcoxon signed-rank test over images" in tex and r"$\alpha = 0.05$" in tex
    assert '<span class="ci">[' in html and "≈" in html

"""Hand-made result stores for the report tests: real ResultsStore files written the way the runner writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ivifbench.store import ResultsStore, UnitRecord

NINE = ["EN", "SD", "SF", "AG", "MI", "PSNR", "SSIM", "Qabf", "VIF"]
TEN = ["SAGE", "densefuse", "gff", "average", "U2Fusion", "max", "SeAFusion", "tardal", "CDDFuse", "weighted"]
EVIL = "evil\n\\input{/etc/passwd} <script>alert(1)</script> | **x** & 100% $y$ #_~^"
LOWER_IS_BETTER = {"MSE", "CE", "Nabf", "Qcv"}
BASE = {"EN": 6.8, "SD": 35.0, "SF": 12.0, "AG": 4.5, "MI": 2.6, "PSNR": 62.0, "SSIM": 0.72, "Qabf": 0.48, "VIF": 0.61}


def suite_config(
    name: str,
    methods: list[str],
    datasets: dict[str, Any],
    convention: Any = "canonical",
    tasks: list[dict[str, Any]] | None = None,
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A suite as ``run`` stores it (``suite.model_dump``): only the keys the reports read."""
    ds = [{"name": d, **({"convention": c} if c else {})} for d, c in datasets.items()]
    return {"name": name, "methods": [{"name": m} for m in methods], "datasets": ds,
            "metrics": {"convention": convention}, "tasks": tasks or [], "report": report or {}}  # fmt: skip


def add_run(db: Path, run_id: str, config: dict[str, Any], started: float) -> None:
    with ResultsStore(db) as s:
        s.start_run(run_id, config["name"], "1", config, {"host": "h", "versions": {"ivifbench": "0.1.0"}})
        s._db.execute("UPDATE runs SET started = ? WHERE run_id = ?", (started, run_id))
        s.finish_run(run_id, status="finished", n_ok=1, n_failed=0, n_cached=0, manifest={"host": "h"})
        s._db.execute("UPDATE runs SET started = ? WHERE run_id = ?", (started, run_id))


def add_scores(
    db: Path,
    methods: list[str],
    dataset: str,
    convention: str,
    metrics: list[str] = NINE,
    *,
    images: int = 3,
    seed: int = 0,
    shift: dict[str, float] | None = None,
    run_id: str | None = None,
) -> None:
    """One score unit per method (``images`` per-image values around realistic magnitudes)."""
    rng = np.random.default_rng(seed)
    with ResultsStore(db) as s:
        for k, m in enumerate(methods):
            rows = []
            for metric in metrics:
                base = BASE.get(metric, 1.0) * (1 + 0.03 * k) + (shift or {}).get(m, 0.0)
                for i in range(images):
                    rows.append((f"img{i:02d}", metric, convention, float(base * (1 + 0.01 * rng.standard_normal()))))
            info = [(x, "fusion", x not in LOWER_IS_BETTER, {}) for x in metrics]
            rec = UnitRecord(
                key=f"score-{m}-{dataset}-{convention}",
                slot=f"score|{m}|{dataset}|test|{convention}",
                kind="score",
                status="ok",
                method=m,
                dataset=dataset,
                split="test",
                image_metrics=rows,
                metric_info=info,
            )
            s.commit_unit(rec, run_id=run_id)

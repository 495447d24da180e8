"""fuse_pairs batches pairs of one size across the whole list and reports in the caller's order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from ivifbench.fusion.apply import fuse_pairs
from ivifbench.fusion.classical import AverageFusion


class _Recording(AverageFusion):
    batches: list[tuple[int, int, int]]

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        self.batches.append((ir.shape[0], ir.shape[2], ir.shape[3]))
        return super().fuse_grey(ir, y)


def test_same_size_pairs_batch_across_the_list(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pairs = []
    for i, (h, w) in enumerate([(20, 30), (24, 16), (20, 30), (24, 16), (20, 30)]):
        for sub, shape in (("ir", (h, w)), ("vis", (h, w, 3))):
            (tmp_path / sub).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / sub / f"p{i}.png")
        pairs.append((f"p{i}", tmp_path / "ir" / f"p{i}.png", tmp_path / "vis" / f"p{i}.png"))
    method = _Recording()
    method.batches = []
    rep = fuse_pairs(method, pairs, tmp_path / "out", batch_size=4, progress=False)
    assert sorted(method.batches) == [(2, 24, 16), (3, 20, 30)]  # not five batches of one
    assert rep.written == [p[0] for p in pairs] and not rep.failed
    method.batches = []
    single = fuse_pairs(method, pairs, tmp_path / "one", batch_size=1, progress=False)
    assert len(method.batches) == 5 and single.written == rep.written
    for pid, *_ in pairs:  # batching does not change a pixel
        np.testing.assert_array_equal(
            np.asarray(Image.open(tmp_path / "out" / f"{pid}.png")),
            np.asarray(Image.open(tmp_path / "one" / f"{pid}.png")),
        )

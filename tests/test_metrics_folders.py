"""score_folders on mixed-size folders: grouping by size across the folder, worker threads, values per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ivifbench.errors import InputError
from ivifbench.metrics import compute, score_folders
from ivifbench.metrics.folders import plan_units, read_raw

METRICS = "EN,SD,MI,SCD,VIF,Qabf,SSIM"


def test_plan_groups_sizes_across_the_whole_folder() -> None:
    sizes = [(40, 30), (50, 20), (40, 30), (50, 20), (40, 30), (20, 20)]
    units = plan_units(sizes, batch_size=8, pixels=0)
    assert sorted(map(sorted, units)) == [[0, 2, 4], [1, 3], [5]]  # not consecutive runs: [0], [1], [2], ...
    assert units[0] == [0, 2, 4]  # most work first
    assert sorted(i for u in plan_units(sizes, 2, 0) for i in u) == list(range(6))
    assert max(len(u) for u in plan_units(sizes, 2, 0)) == 2  # batch_size caps a unit
    # the pixel budget caps a unit at what fits (but at least one image)
    assert {len(u) for u in plan_units([(40, 30)] * 5, 8, pixels=2 * 1200)} == {2, 1}
    assert {len(u) for u in plan_units([(40, 30)] * 3, 8, pixels=10)} == {1}


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Nine triples in five sizes, interleaved, with grey, RGB and grey-stored-as-RGB visible images."""
    rng = np.random.default_rng(1)
    shapes = [(32, 40), (48, 36), (32, 40), (40, 40), (48, 36), (32, 40), (33, 41), (40, 40), (36, 52)]
    for i, (h, w) in enumerate(shapes):
        ir = rng.integers(0, 256, (h, w), dtype=np.uint8)
        vis = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 3 == 1:
            vis = np.repeat(vis[..., :1], 3, axis=2)  # grey stored as RGB
        fused = ((ir.astype(int)[..., None] + vis) // 2).astype(np.uint8)
        if i % 4 == 0:
            fused = fused[..., 0]  # a grey fused image
        for folder, arr in (("ir", ir), ("vi", vis), ("fused", fused)):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(arr).save(tmp_path / folder / f"{i:02d}.png")
    return tmp_path / "ir", tmp_path / "vi", tmp_path / "fused"


@pytest.mark.parametrize("convention", ["canonical", "cddfuse"])
@pytest.mark.parametrize("threads", [1, 2])
def test_mixed_folder_scores_each_image_as_alone(mixed, convention: str, threads: int) -> None:
    ir, vi, fu = mixed
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        df = score_folders(ir, vi, fu, METRICS, convention, batch_size=3, progress=False)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before  # the worker pool restores the thread count
    names = METRICS.split(",")
    stems = [f"{i:02d}" for i in range(9)]
    assert df["image"].tolist() == [s for s in stems for _ in names]  # the folder's order, whatever the schedule
    assert df["metric"].tolist() == names * 9
    for stem in stems:
        t = [torch.from_numpy(read_raw(d / f"{stem}.png").transpose(2, 0, 1)[None].copy()) for d in (fu, ir, vi)]
        alone = compute(*t, names, convention)
        got = df[df.image == stem].set_index("metric")["value"]
        for n in names:
            assert got[n] == pytest.approx(float(alone[n][0]), rel=1e-12, abs=1e-12), (stem, n)


def test_a_bad_file_among_many_is_named(mixed) -> None:
    ir, vi, fu = mixed
    (fu / "05.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="05.png"):
        score_folders(ir, vi, fu, "EN,SD", batch_size=2, progress=False)

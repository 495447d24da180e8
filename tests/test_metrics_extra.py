"""Property tests for FMI_pixel, FMI_dct, FMI_w, VIFF and MEF_SSIM (no golden values exist for these)."""

from __future__ import annotations

import math

import pytest
import torch
from metric_images import smooth_image as _image

from ivifbench.errors import InputError
from ivifbench.metrics import METRICS, compute

EXTRA = ["FMI_pixel", "FMI_dct", "FMI_w", "VIFF", "MEF_SSIM"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def triple():
    a, b = _image(1, (2, 1, 72, 76)), _image(2, (2, 1, 72, 76))
    return torch.round((a + b) / 2), a, b


@pytest.mark.parametrize("name", EXTRA)
def test_spec_metadata(name: str) -> None:
    spec = METRICS.get(name)
    assert spec.higher_is_better
    assert "canonical" in spec.conventions
    assert spec.reference and spec.reference_code
    assert "golden" in spec.notes


@pytest.mark.parametrize("name", EXTRA)
def test_finite_in_range_and_symmetric(name: str, triple) -> None:
    f, a, b = triple
    v = compute(f, a, b, [name])[name]
    w = compute(f, b, a, [name])[name]
    assert v.shape == (2,) and v.dtype == torch.float64
    assert torch.isfinite(v).all()
    lo, hi = METRICS.get(name).value_range
    assert ((v >= lo - 1e-9) & (v <= hi + 1e-9)).all(), v
    torch.testing.assert_close(v, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", EXTRA)
def test_fused_equal_to_both_sources_is_one(name: str, triple) -> None:
    _, a, _ = triple
    v = compute(a, a, a, [name])[name]
    torch.testing.assert_close(v, torch.ones_like(v), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["FMI_pixel", "FMI_dct", "FMI_w", "MEF_SSIM"])
def test_fused_better_than_noise(name: str, triple) -> None:
    f, a, b = triple
    noise = _image(7, (2, 1, 72, 76))
    good = compute(f, a, b, [name])[name]
    bad = compute(noise, a, b, [name])[name]
    assert (good > bad).all(), (good, bad)


@pytest.mark.parametrize("name", EXTRA)
def test_batched_equals_one_by_one(name: str, triple) -> None:
    f, a, b = triple
    batched = compute(f, a, b, [name])[name]
    single = torch.cat([compute(f[i : i + 1], a[i : i + 1], b[i : i + 1], [name])[name] for i in range(2)])
    torch.testing.assert_close(batched, single, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", EXTRA)
def test_constant_images_never_silent_nan(name: str) -> None:
    c = torch.full((1, 1, 72, 72), 100.0, dtype=torch.float64)
    _, a, b = (None, _image(3, (1, 1, 72, 72)), _image(4, (1, 1, 72, 72)))
    for f, s1, s2 in ((c, c, c), (c, a, b), (a, c, c)):
        v = compute(f, s1, s2, [name])[name]
        assert not math.isnan(float(v)), name


@pytest.mark.parametrize("name", EXTRA)
def test_tiny_images_give_a_number_or_a_clear_error(name: str) -> None:
    x = _image(5, (1, 1, 8, 8))
    try:
        v = compute(x, x.flip(-1), x.flip(-2), [name])[name]
    except InputError as e:
        assert "at least" in str(e)
    else:
        assert torch.isfinite(v).all()


def test_colour_inputs_are_scored_as_grey(triple) -> None:
    f, a, b = triple
    rgb = f.expand(-1, 3, -1, -1)
    out = compute(rgb, a, b, EXTRA)
    ref = compute(f, a, b, EXTRA)
    for n in EXTRA:
        torch.testing.assert_close(out[n], ref[n])


def test_viff_weights_sum_to_one() -> None:
    from ivifbench.metrics.visual_fidelity import _VIFF_P

    assert math.isclose(sum(_VIFF_P), 1.0)


def test_fmi_feature_must_be_known(triple) -> None:
    from ivifbench.metrics.fmi import fmi

    f, a, b = triple
    with pytest.raises(InputError, match="unknown FMI feature"):
        fmi(f, a, b, feature="edge")


def test_cpu_chunking_does_not_change_values(monkeypatch) -> None:
    """compute() scores big CPU batches a few images at a time; the values must not depend on it."""
    from ivifbench.metrics import engine

    f, a, b = (_image(30 + i, (3, 1, 72, 76)) for i in range(3))
    names = ["EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM", "Qcb", "FMI_pixel", "VIFF", "MEF_SSIM"]
    monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 0)
    whole = compute(f, a, b, names)
    monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 72 * 76)  # one image per call
    chunked = compute(f, a, b, names)
    for n in names:
        assert torch.equal(whole[n], chunked[n]), n
    for conv in ("vifb", "tang", "cddfuse"):
        monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 0)
        whole = compute(f, a, b, ["EN", "MI", "SSIM"], conv)
        monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 72 * 76)
        assert all(torch.equal(whole[n], v) for n, v in compute(f, a, b, ["EN", "MI", "SSIM"], conv).items()), conv


def test_parallel_chunks_match_serial_and_restore_threads(monkeypatch) -> None:
    """With n torch threads the CPU chunks are scored by n workers; values and the thread setting are unchanged."""
    from ivifbench.metrics import engine

    f, a, b = (_image(40 + i, (4, 1, 40, 44)) for i in range(3))
    names = ["EN", "MI", "SCD", "VIF", "Qabf", "SSIM"]
    monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 40 * 44)  # one image per chunk
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = compute(f, a, b, names, "cddfuse")
        torch.set_num_threads(2)
        parallel = compute(f, a, b, names, "cddfuse")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    for n in names:
        assert torch.equal(serial[n], parallel[n]), n


def test_malloc_tuning_is_idempotent_and_can_be_switched_off(monkeypatch) -> None:
    import sys

    from ivifbench import malloc

    monkeypatch.setattr(malloc, "_state", None)
    monkeypatch.setenv("IVIFBENCH_MALLOC_TUNING", "0")
    assert malloc.tune_malloc() is False
    monkeypatch.setattr(malloc, "_state", None)
    monkeypatch.delenv("IVIFBENCH_MALLOC_TUNING")
    first = malloc.tune_malloc()
    assert first is malloc.tune_malloc()
    if sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver()):
        assert first is True


def test_shared_intermediates_are_made_once_per_block_and_only_for_the_same_tensors() -> None:
    from ivifbench.metrics.shared import shared, sharing

    x, y = torch.zeros(2), torch.zeros(2)
    calls = []

    def make() -> int:
        calls.append(1)
        return len(calls)

    assert shared("k", (x,), make) == 1 and shared("k", (x,), make) == 2  # outside a block: nothing kept
    with sharing():
        assert shared("k", (x,), make) == 3
        assert shared("k", (x,), make) == 3  # same key, same tensor
        assert shared("k", (y,), make) == 4  # equal values, another tensor
        assert shared("other", (y,), make) == 5
    assert shared("k", (x,), make) == 6  # the block's store is gone


def test_metrics_sharing_intermediates_score_as_when_alone() -> None:
    """Qy/Qc share 7×7 window moments, SSIM/Qw 11×11 ones, the Nabf variants their maps: same values either way."""
    f, a, b = (_image(50 + i, (2, 1, 60, 64)) for i in range(3))
    names = ["Qy", "Qc", "Qw", "SSIM", "Nabf", "Nabf_petrovic"]
    together = compute(f, a, b, names)
    for n in names:
        assert torch.equal(together[n], compute(f, a, b, [n])[n]), n
    tang = compute(f, a, b, ["SSIM"], "tang")["SSIM"]  # replicate padding: another window key, not the canonical one
    assert not torch.equal(tang, together["SSIM"])

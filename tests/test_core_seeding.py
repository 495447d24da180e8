"""``ivifbench.seeding.seeded``: seeds every global generator, pins threads, switches deterministic mode, restores."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ivifbench.errors import InputError
from ivifbench.seeding import pop_threads, seeded


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.random()), float(torch.rand(1))


def test_seeded_draws_repeat_and_state_is_restored() -> None:
    torch.set_num_threads(2)
    before = torch.are_deterministic_algorithms_enabled()
    with seeded(7, threads=1) as rec:
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.benchmark
        first = _draws()
    _draws()  # disturb every generator between the two scopes
    with seeded(7, threads=1):
        assert _draws() == first
    with seeded(8, threads=1):
        assert _draws() != first
    assert torch.get_num_threads() == 2 and torch.are_deterministic_algorithms_enabled() == before
    assert rec["seed"] == 7 and rec["torch_threads"] == 1 and rec["deterministic"] is True
    assert "torch" in rec["versions"] and "numpy" in rec["versions"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_threads_is_a_user_error(bad: object) -> None:
    with pytest.raises(InputError, match="threads must be a positive integer"):
        pop_threads({"threads": bad})
    with pytest.raises(InputError, match="threads must be a positive integer"), seeded(0, threads=bad):  # type: ignore[arg-type]
        pass
    assert pop_threads({}) == 1

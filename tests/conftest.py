"""Shared fixtures. Real-data tests read ../shared in place and skip with a reason when it is absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Two cores on CI: keep BLAS/torch from oversubscribing, and keep ultralytics & co. offline.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("YOLO_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_sessionstart(session: pytest.Session) -> None:
    """A new top-level folder (setup.py ROOTS) is invisible to an editable install made before it: say so once."""
    import ast
    import importlib.util

    tree = ast.parse((REPO / "setup.py").read_text())
    roots = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ROOTS"
    )
    missing = [name for name in roots if importlib.util.find_spec(name) is None]
    if missing:
        raise pytest.UsageError(
            f"{', '.join(missing)} not importable: the editable install predates them; run `pip install -e . --no-deps`"
        )


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; skips the test when it is not there."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED} not found: real-data tests need ../shared beside the repository")
    return SHARED


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Path:
    return shared_dir / "data"


@pytest.fixture(autouse=True, scope="session")
def _torch_threads() -> None:
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module (restored afterwards): small tensors gain nothing from splitting, and on a busy
    2-core runner the second thread mostly spin-waits. Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

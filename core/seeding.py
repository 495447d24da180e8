"""One seeding rule for every task: same seed and thread count → same numbers, whatever ran before in the process.

:func:`seeded` is the scope a task's prepare→train→evaluate runs in. On entry it seeds Python's ``random``, NumPy's
global state (mmseg's and ultralytics' augmentations draw from it) and torch (CPU and every CUDA device), switches on
torch's deterministic algorithms (``warn_only``: an op without a deterministic kernel warns instead of failing) with
cuDNN autotuning off and the cuBLAS workspace setting that makes CUDA matrix products reproducible, and pins torch's
intra-op thread count. On exit it restores the thread count and deterministic flags it found (a sweep runs many units
in one process). It yields the record that goes into the task's result (:func:`record`).

Why the thread count is pinned rather than left to the caller: on the CPU, oneDNN convolutions, batch-norm statistics
and ATen reductions split their sums per thread, so one thread and two threads give results that differ in the last
bits (about 1e-6 after one forward pass), and training amplifies that into different metrics. A fixed count (a task
setting, ``threads``, default 1) makes the numbers independent of ``OMP_NUM_THREADS`` and of the machine's cores.

Code that needs its own random stream takes a local generator (:func:`torch_generator`) derived from the seed rather
than drawing from global state. Data-loader workers are seeded by the libraries' own loaders (mmengine: sampler seed
and ``worker_init_fn`` from the Runner's ``randomness.seed``; ultralytics: a seeded loader generator and
``seed_worker``); mmseg's transforms draw from NumPy's global state, which is seeded here and by the Runner.

Heavy libraries (torch, NumPy) are imported inside the functions: this module sits in ``core`` and is imported by
command-line code whose start-up must stay fast.
"""

from __future__ import annotations

import os
import platform
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = [
    "CUBLAS_WORKSPACE",
    "DEFAULT_THREADS",
    "THREADS_HELP",
    "apply_deterministic",
    "pop_threads",
    "record",
    "seed_all",
    "seeded",
    "torch_generator",
]

#: cuBLAS needs a fixed workspace per stream for reproducible results (CUDA ≥ 10.2; see torch's "Reproducibility")
CUBLAS_WORKSPACE = ":4096:8"
#: the intra-op thread count a task computes with unless its ``threads`` setting says otherwise
DEFAULT_THREADS = 1
#: the ``--set threads=N`` help line every task shows
THREADS_HELP = (
    f"torch CPU threads the run computes with (default {DEFAULT_THREADS}; results are reproducible for a given "
    "count, and differ in the last bits between counts)"
)
#: libraries whose versions are recorded with every task result (absent ones are left out)
RECORDED_PACKAGES = (
    "torch",
    "numpy",
    "mmengine",
    "mmsegmentation",
    "mmcv-lite",
    "mmcv",
    "ultralytics",
    "pysodmetrics",
    "opencv-python-headless",
    "opencv-python",
)


def seed_all(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global state and torch (CPU and all CUDA devices) with ``seed``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def apply_deterministic() -> None:
    """Switch torch's deterministic algorithms on (``warn_only``), cuDNN autotuning off, the cuBLAS workspace fixed.

    :func:`seeded` calls it; call it again after a library that switches the mode off (ultralytics' trainer does).
    """
    import torch

    # read by cuBLAS when its handle is created; set before any CUDA matrix product of this process
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    # the NaN fill of every new tensor only guards reads of uninitialised memory; it costs a kernel per allocation
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]  # not in the stubs


def pop_threads(overrides: dict[str, Any]) -> int:
    """Take the ``threads`` setting out of a task's overrides (default :data:`DEFAULT_THREADS`), checked.

    Raises:
        InputError: not a positive integer.
    """
    value = overrides.pop("threads", None)
    if value is None:
        return DEFAULT_THREADS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        from ivifbench.errors import InputError

        raise InputError(f"threads must be a positive integer, got {value!r}")
    return value


def torch_generator(seed: int) -> Any:
    """A local CPU ``torch.Generator`` seeded with ``seed`` (samplers, shuffles, flips)."""
    import torch

    return torch.Generator().manual_seed(int(seed))


def _versions(packages: Sequence[str] = RECORDED_PACKAGES) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def record(seed: int, threads: int | None, deterministic: bool) -> dict[str, Any]:
    """What a task result records about how it was made reproducible: seed, threads, mode, devices, versions."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "seed": int(seed),
        "torch_threads": torch.get_num_threads() if threads is None else int(threads),
        "threads_pinned": threads is not None,
        "deterministic": bool(deterministic),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "versions": _versions(),
    }


@contextmanager
def seeded(seed: int, *, threads: int | None = DEFAULT_THREADS, deterministic: bool = True) -> Iterator[dict[str, Any]]:
    """Run a block seeded with ``seed`` on ``threads`` torch threads (``None``: leave them), deterministically.

    Yields the :func:`record` of the run. Thread count, deterministic-algorithm flags and cuDNN flags are restored on
    exit; the random states are not (the next unit seeds its own), nor ``CUBLAS_WORKSPACE_CONFIG`` (cuBLAS reads it
    once per handle, so it stays for the process).
    """
    import torch

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        from ivifbench.errors import InputError

        raise InputError(f"threads must be a positive integer, got {threads!r}")
    before = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.utils.deterministic.fill_uninitialized_memory,  # type: ignore[attr-defined]
    )
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if deterministic:
            apply_deterministic()
        seed_all(seed)
        yield record(seed, threads, deterministic)
    finally:
        n, det, warn, cudnn_det, cudnn_bench, fill = before
        torch.set_num_threads(n)
        torch.use_deterministic_algorithms(det, warn_only=warn)
        torch.backends.cudnn.deterministic = cudnn_det
        torch.backends.cudnn.benchmark = cudnn_bench
        torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]

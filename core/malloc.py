"""Keep freed image-sized buffers in the process instead of handing them back to the OS (glibc only).

CPU metric scoring allocates and frees dozens of plane-sized temporaries (2–10 MB each) per image. With glibc's
defaults each is a fresh ``mmap``: the kernel zeroes and page-faults every 4 KiB page again, ~6,000 faults per
480×640 image, a third of Qabf's time. Raising the mmap threshold and the heap's top pad lets ``malloc`` reuse freed
heap memory instead. The cost is memory kept by the process after use (at most the trim threshold, 256 MiB, per
arena). Opt out with ``IVIFBENCH_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_SETTINGS = ((_M_MMAP_THRESHOLD, 256 << 20), (_M_TRIM_THRESHOLD, 256 << 20), (_M_TOP_PAD, 64 << 20))
_state: bool | None = None


def tune_malloc() -> bool:
    """Apply the settings once per process; True when glibc accepted them (False elsewhere or when opted out)."""
    global _state
    if _state is None:
        _state = False
        if sys.platform.startswith("linux") and os.environ.get("IVIFBENCH_MALLOC_TUNING", "1") != "0":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt  # glibc only: musl and others have no mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
            _state = all(mallopt(param, value) == 1 for param, value in _SETTINGS)
    return _state


_trim: object | None = None


def release_free_memory() -> None:
    """Hand memory that ``free`` keeps back to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Scoring a large image strip by strip frees and reallocates strip-sized temporaries whose holes the heap cannot
    always reuse (small results land in them), so without this the process grows with the number of strips."""
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
                fn.argtypes, fn.restype = (ctypes.c_size_t,), ctypes.c_int
                _trim = fn
            except (OSError, AttributeError):
                pass
    if _trim:
        _trim(0)  # type: ignore[operator]

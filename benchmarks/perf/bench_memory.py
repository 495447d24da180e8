"""Peak memory and time per megapixel of whole ``ivifbench fuse`` and ``ivifbench score`` processes, by image size.

For each size it writes one synthetic 8-bit pair (grey IR, RGB visible: smooth structure, edges, a hot blob and
noise) into a temporary folder, runs ``ivifbench fuse --method METHOD`` on it, then ``ivifbench score`` (default
metric set) on the fused image, each as its own process, one after the other. For each process it prints:

- peak RSS: the largest resident set of the process or of any one of its descendants (their VmHWM, read from /proc
  every 50 ms; ``wait4``'s ``ru_maxrss``, which ``resource.getrusage(RUSAGE_CHILDREN)`` reports, would also count
  the pages the child shares with this process until it executes the command);
- tree peak: the largest sum of RSS over the process and its live descendants, sampled every 50 ms from /proc
  (what the machine has to hold when a command runs workers);
- both per megapixel, and wall time per megapixel.

::

    python benchmarks/perf/bench_memory.py [--sizes 1,4,16,64] [--method laplacian] [--no-score] [--no-fuse]

Sizes are in megapixels (square images). Wall times are only comparable on an idle machine.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_pair(folder: Path, side: int, seed: int = 0) -> None:
    """Write ``ir/p.png`` and ``vis/p.png`` (side × side), built by strips so that this process stays small."""
    rng = np.random.default_rng(seed)
    ir = np.empty((side, side), np.uint8)
    vis = np.empty((side, side, 3), np.uint8)
    xx = np.arange(side, dtype=np.float32)[None, :] / side
    for r0 in range(0, side, 512):
        yy = np.arange(r0, min(side, r0 + 512), dtype=np.float32)[:, None] / side
        base = 128 + 60 * np.sin(xx * 40) * np.cos(yy * 25)
        edges = 40 * (((xx * 37).astype(np.int32) + (yy * 23).astype(np.int32)) % 2)
        blob = 60 * (((xx - 0.5) ** 2 + (yy - 0.4) ** 2) < 0.02)
        n = yy.shape[0]
        ir[r0 : r0 + n] = np.clip(base + blob + rng.normal(0, 20, (n, side)), 0, 255).astype(np.uint8)
        for c, f in enumerate((0.8, 1.0, 1.1)):
            vis[r0 : r0 + n, :, c] = np.clip(base * f + edges + rng.normal(0, 25, (n, side)), 0, 255).astype(np.uint8)
    for sub, arr in (("ir", ir), ("vis", vis)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(folder / sub / "p.png", compress_level=1)


def _tree_rss_kib(pid: int) -> tuple[int, int]:
    """(sum of VmRSS, largest VmHWM) over ``pid`` and its live descendants, KiB (0, 0 once it is gone)."""
    total, hwm, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
                    elif line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total, hwm


def run_measured(cmd: list[str], log: Path) -> tuple[float, int, int]:
    """(wall s, peak RSS KiB of the largest single process, peak tree RSS KiB) of one whole command."""
    with open(log, "w") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        tree_peak, hwm_peak = [0], [0]
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                tree, hwm = _tree_rss_kib(proc.pid)
                tree_peak[0], hwm_peak[0] = max(tree_peak[0], tree), max(hwm_peak[0], hwm)
                done.wait(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (it and its reaped descendants)
        wall = time.perf_counter() - t
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} … failed ({proc.returncode}):\n{log.read_text()[-2000:]}")
    # ru_maxrss also counts the pages a child shares with this process between fork and exec; VmHWM, read while it
    # runs, is the executed program's own high-water mark (monotonic, so only the last 50 ms can escape it)
    return wall, hwm_peak[0] or int(usage.ru_maxrss), tree_peak[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", default="1,4,16,64", help="megapixels, comma-separated (square images)")
    ap.add_argument("--method", default="laplacian", help="fusion method for the fuse command")
    ap.add_argument("--no-fuse", action="store_true", help="skip measuring fuse (it still runs to make the images)")
    ap.add_argument("--no-score", action="store_true", help="skip the score command")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the temporary folder is removed
    exe = [sys.executable, "-m", "ivifbench.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="ivifbench-bench-memory-"))
    rows: list[tuple[str, float, float, int, int]] = []
    try:
        for mp in sizes:
            side = round(math.sqrt(mp * 1e6))
            real_mp = side * side / 1e6
            d = tmp / f"{side}"
            make_pair(d, side)
            fuse = [*exe, "fuse", "--method", args.method, "--ir", str(d / "ir"), "--vis", str(d / "vis")]
            wall, peak, tree = run_measured([*fuse, "--out", str(d / "fused")], d / "fuse.log")
            if not args.no_fuse:
                rows.append((f"fuse {args.method}", real_mp, wall, peak, tree))
                print(_line(*rows[-1]), flush=True)
            if not args.no_score:
                score = [*exe, "score", "--ir", str(d / "ir"), "--vis", str(d / "vis"), "--fused", str(d / "fused")]
                wall, peak, tree = run_measured([*score, "--out", str(d / "scores.csv")], d / "score.log")
                rows.append(("score default", real_mp, wall, peak, tree))
                print(_line(*rows[-1]), flush=True)
            if not args.keep:
                shutil.rmtree(d, ignore_errors=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _line(what: str, mp: float, wall: float, peak_kib: int, tree_kib: int) -> str:
    peak, tree = peak_kib / 1024, tree_kib / 1024
    return (
        f"{what:>18} {mp:6.1f} MP: peak RSS {peak:7.0f} MiB ({peak / mp:6.1f} MiB/MP), tree peak {tree:7.0f} MiB "
        f"({tree / mp:6.1f} MiB/MP), wall {wall:6.1f} s ({wall / mp:5.2f} s/MP)"
    )


if __name__ == "__main__":
    main()

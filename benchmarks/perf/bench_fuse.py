"""``ivifbench fuse --method sage`` as a whole process against a bare loop over the official SAGE student, same pairs.

The bare loop is what a user of the official release runs: one process that imports torch, loads the student with
the official weights, and for each pair reads the images with OpenCV, converts the visible image to YCrCb, runs the
student's forward (the release's layer order) on one pair at a time under ``no_grad``, recombines the chroma and
writes a PNG with OpenCV. Both sides run as whole processes (start-up, reading and writing included), interleaved,
``--runs`` times; the medians of wall and CPU time (user+sys of the process and its threads) are compared::

    python benchmarks/perf/bench_fuse.py [--weights PATH] [--root M3FD_ROOT] [--pairs 3] [--runs 3] [--batch-size N]

Defaults: the project's M3FD sample pairs and official student weights when they sit beside the repository;
otherwise name them with --root and --weights.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from ivifbench.benchmarks.perf.timing import whole_process

SHARED = Path(__file__).resolve().parents[3] / "shared"

_BARE_LOOP = """
import sys
from pathlib import Path
import cv2, numpy as np, torch
from ivifbench.fusion.sage.student import SageStudent
ir_dir, vis_dir, out_dir, weights = (Path(a) for a in sys.argv[1:5])
net = SageStudent()
state = torch.load(weights, map_location="cpu", weights_only=True)
state = state.get("state_dict", state) if isinstance(state, dict) else state
net.load_state_dict({k.removeprefix("student."): v for k, v in state.items() if not k.startswith("teacher.")})
net.eval()
out_dir.mkdir(parents=True, exist_ok=True)
with torch.no_grad():
    for p in sorted(ir_dir.iterdir()):
        ir = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
        vis = cv2.imread(str(vis_dir / p.name), cv2.IMREAD_COLOR)
        ycrcb = cv2.cvtColor(vis, cv2.COLOR_BGR2YCrCb).astype(np.float32) / 255.0
        y = torch.from_numpy(ycrcb[..., 0])[None, None]
        fused = net(y, torch.from_numpy(ir)[None, None])[0][0, 0].clamp(0, 1).numpy()  # the release's student(Y, IR)
        ycrcb[..., 0] = fused
        bgr = cv2.cvtColor(np.clip(ycrcb * 255.0, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)
        cv2.imwrite(str(out_dir / (p.stem + ".png")), bgr)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(SHARED / "weights/sage_student_official.pt"))
    ap.add_argument("--root", default=str(SHARED / "data/m3fd/M3FD_Detection"))
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=0, help="passed to ivifbench fuse (0: its default)")
    args = ap.parse_args()
    root, weights = Path(args.root), Path(args.weights)
    if not weights.is_file() or not (root / "Ir").is_dir():
        raise SystemExit(f"need {weights} and {root}/Ir, {root}/Vis (see --weights, --root)")
    tmp = Path(tempfile.mkdtemp(prefix="ivifbench-bench-fuse-"))
    try:
        ir, vis = tmp / "ir", tmp / "vis"
        ir.mkdir()
        vis.mkdir()
        for p in sorted((root / "Ir").glob("*.png"))[: args.pairs]:
            (ir / p.name).symlink_to(p.resolve())
            (vis / p.name).symlink_to((root / "Vis" / p.name).resolve())
        ours = [sys.executable, "-m", "ivifbench.cli", "fuse", "--method", "sage", "--weights", str(weights)]
        ours += ["--ir", str(ir), "--vis", str(vis)] + ["--batch-size", str(args.batch_size)] * (args.batch_size > 0)
        bare = [sys.executable, "-c", _BARE_LOOP, str(ir), str(vis)]
        times: dict[str, list[tuple[float, float]]] = {"ivifbench": [], "bare loop": []}
        for k in range(args.runs):
            for side, cmd in (("ivifbench", [*ours, "--out", str(tmp / f"ours{k}")]), ("bare loop", bare)):
                if side == "bare loop":
                    cmd = [*cmd, str(tmp / f"bare{k}"), str(weights)]
                times[side].append(whole_process(cmd)[:2])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {s: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for s, v in times.items()}
    print(f"{args.pairs} pairs from {root}, {args.runs} runs each, interleaved (whole processes)")
    for side, (wall, cpu) in med.items():
        print(
            f"{side:>10}: wall median {wall:.2f} s, CPU median {cpu:.2f} s  (walls {[round(t[0], 2) for t in times[side]]})"
        )
    print(
        f"ivifbench fuse vs the bare loop: wall {med['bare loop'][0] / med['ivifbench'][0]:.2f}x, "
        f"CPU {med['bare loop'][1] / med['ivifbench'][1]:.2f}x"
    )


if __name__ == "__main__":
    main()

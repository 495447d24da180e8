"""ivifbench from Python, as in a notebook: score arrays, fuse with two methods, run a suite, load its results."""

import sys
import tempfile

import numpy as np

import ivifbench

rng = np.random.default_rng(0)
ir, vis = rng.integers(0, 256, (2, 96, 128), dtype=np.uint8)  # or file paths, or torch tensors
fused = {m: ivifbench.fuse(m, ir, vis) for m in ("average", "laplacian")}
print({m: ivifbench.score(ir, vis, f, metrics="EN,SD,SSIM", as_dict=True) for m, f in fused.items()})
suite = sys.argv[1] if len(sys.argv) > 1 else "quick"  # the tests pass a tiny suite file
res = ivifbench.run(suite, out=tempfile.mkdtemp(), workers=0)
print(res.fusion.head(), res.tasks.head(), res.runs, sep="\n")
print(res.leaderboard())

"""The Python API: score, fuse, run and load results from a notebook or script.

Re-exported lazily from the top-level package, so ``import ivifbench`` stays light:

>>> import numpy as np
>>> import ivifbench
>>> rng = np.random.default_rng(0)
>>> ir, vis = rng.integers(0, 256, (2, 32, 32), dtype=np.uint8)
>>> fused = ivifbench.fuse("average", ir, vis)
>>> fused.shape, fused.dtype
((32, 32), dtype('float32'))
>>> table = ivifbench.score(ir, vis, fused, metrics="EN,SD")
>>> list(table.columns)
['EN', 'SD']
"""

from ivifbench.api.images import fuse, score
from ivifbench.api.results import Results, load_results, run

__all__ = ["Results", "fuse", "load_results", "run", "score"]

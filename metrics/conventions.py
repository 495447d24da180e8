"""The published conventions (which toolkit's arithmetic a number follows) and their colour handling (metrics.md §2).

A convention turns raw 8-bit inputs (float tensors holding 0..255) into what the toolkit's metrics saw: grey by the
toolkit's own weights and rounding, or (VIFB) every channel kept and scored separately. Metric functions then work on
B×C×H×W float64 planes and average their per-plane values over C, which is VIFB's colour rule and a no-op for grey.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ivifbench.metrics.filters import round_half_away
from ivifbench.registry import Registry


@dataclass(frozen=True)
class Convention:
    """A named toolkit convention: its one-line description (colour handling included) and its input preparation."""

    name: str
    description: str
    colour: str
    grey_weights: tuple[float, float, float] | None  # None: keep channels (per-channel scoring)
    rounding: Callable[[Tensor], Tensor] | None

    def to_grey(self, x: Tensor) -> Tensor:
        """B×3×H×W → B×1×H×W with the toolkit's weights and rounding; 1-channel input passes through."""
        if x.shape[1] == 1 or self.grey_weights is None:
            return x
        r, g, b = self.grey_weights
        y = r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]
        return self.rounding(y) if self.rounding is not None else y

    def prepare(self, fused: Tensor, ir: Tensor, vis: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Raw inputs → the planes the metric functions score (same C for all three)."""
        if self.grey_weights is None:  # per channel: VIFB pairs channel k of F and VI with IR (grey, or its channel k)
            c = max(fused.shape[1], ir.shape[1], vis.shape[1])
            return tuple(t.expand(-1, c, -1, -1) for t in (fused, ir, vis))  # type: ignore[return-value]
        return self.to_grey(fused), self.to_grey(ir), self.to_grey(vis)


CONVENTIONS: Registry[Convention] = Registry("convention")

_CONVENTIONS = (
    Convention(
        "canonical",
        "ivifbench's recommended definitions: float64 on 0–255, MI in bits, SSIM and VIF as in the papers;"
        " colour: grey by BT.601 luma (0.299, 0.587, 0.114), rounded to integers",
        "grey (BT.601 luma, rounded)",
        (0.299, 0.587, 0.114),
        round_half_away,
    ),
    Convention(
        "vifb",
        "VIFB's MATLAB toolkit (Zhang et al., CVPRW 2020), its 13 metrics with their quirks;"
        " colour: every channel scored separately (IR grey or its own channel) and the channel values averaged",
        "per channel, averaged",
        None,
        None,
    ),
    Convention(
        "tang",
        "Linfeng Tang's MATLAB toolkit as it is now (2023 rewrite); colour: grey by MATLAB rgb2gray"
        " (0.298936, 0.587043, 0.114021), rounded to uint8",
        "grey (MATLAB rgb2gray, rounded)",
        (0.298936021293775, 0.587043074451121, 0.114020904255103),
        round_half_away,
    ),
    Convention(
        "tang-legacy",
        "Tang's toolkit before its 2023 rewrite, which made the published TNO spreadsheet: uint8-saturating SD and VIF,"
        " SF and Qabf on [0,1] data; colour: grey by MATLAB rgb2gray, rounded to uint8",
        "grey (MATLAB rgb2gray, rounded)",
        (0.298936021293775, 0.587043074451121, 0.114020904255103),
        round_half_away,
    ),
    Convention(
        "cddfuse",
        "MMIF-CDDFuse's utils/Evaluator.py: MI in nats, PSNR peak max(F), SSIM of scikit-image with data_range 2, NaN VIF"
        " → 1; colour: grey by OpenCV (0.299, 0.587, 0.114), np.round (half to even)",
        "grey (OpenCV BGR2GRAY, np.round)",
        (0.299, 0.587, 0.114),
        torch.round,
    ),
)
for _c in _CONVENTIONS:
    CONVENTIONS.register(_c.name, _c)

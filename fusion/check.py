"""``ivifbench methods check NAME``: run a method on a few synthetic pairs before a sweep spends hours on it.

Checks, each reported as pass / fail with a reason: it loads; grey and colour batches come back with the right
shape and dtype, finite and in [0, 1]; colour is handled (a luminance method keeps the visible chroma; any method
keeps the channel count); an odd size works; two runs give the same output (determinism); a batch gives what the
images give one at a time; it writes PNGs through the same path a sweep uses.

``NAME`` is a registered method (built-in or plugin), ``module:function`` / ``module:Class``, or a suite-style
mapping (``{"type": "callable", "target": ..., "params": ...}``).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ivifbench.errors import IvifError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    warning: bool = False  # a soft finding (reported, does not fail the check)


@dataclass
class CheckResult:
    method: str
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok or c.warning for c in self.checks)

    def lines(self) -> list[str]:
        out = []
        for c in self.checks:
            mark = "ok  " if c.ok else ("warn" if c.warning else "FAIL")
            out.append(f"[{mark}] {c.name}" + (f": {c.detail}" if c.detail else ""))
        failed = sum(1 for c in self.checks if not c.ok and not c.warning)
        out.append(
            f"method '{self.method}': {'passed' if self.ok else f'{failed} check(s) failed'} ({self.seconds:.1f} s)"
        )
        return out


def synthetic_pairs(n: int = 2, size: tuple[int, int] = (48, 64), seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` seeded pairs: IR with warm blobs on a cool background, a textured colour visible image (B×1, B×3)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    irs, viss = [], []
    for _ in range(n):
        cx, cy = torch.rand(2, generator=g) * 0.6 + 0.2
        blob = torch.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / 0.01))
        ir = (0.15 + 0.7 * blob + 0.05 * torch.rand(h, w, generator=g)).clamp(0, 1)
        texture = 0.5 + 0.25 * torch.sin(xx * 40 + yy * 13) * torch.cos(yy * 31)
        base = torch.stack([texture * 0.9, texture * 0.7 + 0.1 * yy, 0.3 + 0.4 * xx])
        vis = (base + 0.2 * blob + 0.03 * torch.rand(3, h, w, generator=g)).clamp(0, 1)
        irs.append(ir[None])
        viss.append(vis)
    return torch.stack(irs), torch.stack(viss)


def _resolve(name: Any, weights: str | None, params: dict[str, Any], device: str) -> Any:
    from ivifbench.fusion.external import load_method
    from ivifbench.fusion.spec import MethodSpec

    if isinstance(name, dict):
        spec = MethodSpec.model_validate({"name": name.get("name", "method"), **name})
    elif ":" in str(name):
        spec = MethodSpec(name=str(name).rpartition(":")[2] or "method", type="callable", target=str(name), params=params,
                          weights=weights)  # fmt: skip
    else:
        spec = MethodSpec(name=str(name), params=params, weights=weights)
    if spec.type == "folder":
        raise IvifError(
            "a folder method has no code to check; `ivifbench datasets check` and the sweep check its images"
        )
    return load_method(spec, device=device)


def check_method(
    name: Any,
    *,
    weights: str | None = None,
    params: dict[str, Any] | None = None,
    device: str = "cpu",
    pairs: int = 2,
    size: tuple[int, int] = (48, 64),
) -> CheckResult:
    """Run every check on ``name``; never raises for a method's own failures (they are reported as checks)."""
    t0 = time.time()
    res = CheckResult(method=str(name))

    def attempt(check_name: str, fn: Any) -> Any:
        try:
            detail = fn()
        except Exception as exc:
            msg = str(exc) if isinstance(exc, IvifError) else f"{type(exc).__name__}: {exc}"
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb and not isinstance(exc, IvifError) else ""
            res.checks.append(Check(check_name, False, msg.splitlines()[0] + where if msg else type(exc).__name__))
            return None
        res.checks.append(Check(check_name, True, detail or ""))
        return True

    holder: dict[str, Any] = {}

    def load() -> str:
        holder["m"] = _resolve(name, weights, dict(params or {}), device)
        info = holder["m"].info
        res.method = info.name
        return f"{info.name} v{info.version}, colour mode {info.colour_mode}"

    if not attempt("loads", load):
        res.seconds = time.time() - t0
        return res
    m = holder["m"]
    ir, vis = synthetic_pairs(pairs, size)
    grey = vis.mean(1, keepdim=True)

    def contract(v: Tensor, label: str) -> str:
        out = m(ir, v)  # FusionMethod.__call__ checks shape, finiteness and range
        if out.dtype != torch.float32:
            raise IvifError(f"{label}: returned dtype {out.dtype}, expected torch.float32")
        holder[label] = out.detach().cpu()
        return f"{tuple(out.shape)} {str(out.dtype).removeprefix('torch.')} in [{float(out.min()):.3f}, {float(out.max()):.3f}]"

    attempt("grey batch: shape, dtype, finite, in [0, 1]", lambda: contract(grey, "grey"))
    attempt("colour batch: shape, dtype, finite, in [0, 1]", lambda: contract(vis, "colour"))

    def colour() -> str:
        from ivifbench.color import rgb_to_ycrcb

        out = holder.get("colour")
        if out is None:
            raise IvifError("no colour output to check")
        diff = float((rgb_to_ycrcb(out)[:, 1:] - rgb_to_ycrcb(vis)[:, 1:]).abs().mean())
        if m.info.colour_mode == "luminance" and diff > 0.02:
            raise IvifError(f"a luminance method changed the visible chroma (mean |ΔCbCr| = {diff:.3f})")
        if float((out[:, 0] - out[:, 1]).abs().max()) < 1e-6 and float((vis[:, 0] - vis[:, 1]).abs().max()) > 1e-3:
            raise IvifError("the colour output is grey although the visible input is in colour")
        return f"mean |ΔCbCr| vs visible = {diff:.4f}"

    attempt("colour handling (chroma kept)", colour)

    def odd_size() -> str:
        i2, v2 = synthetic_pairs(1, (37, 53), seed=1)
        out = m(i2, v2)
        return f"37×53 → {tuple(out.shape)}"

    attempt("odd image size", odd_size)

    def determinism() -> str:
        first = holder.get("colour")
        if first is None:
            raise IvifError("no colour output to compare")
        again = m(ir, vis).detach().cpu()
        d = float((again - first).abs().max())
        if d > 1e-5:
            raise IvifError(f"two runs differ by up to {d:.3g}; fix the seed or disable nondeterministic kernels")
        return f"max |Δ| = {d:.2g}"

    attempt("determinism (two runs agree)", determinism)

    def batching() -> str:
        first = holder.get("colour")
        if first is None:
            raise IvifError("no colour output to compare")
        if pairs < 2:
            return "skipped (one pair)"
        one = torch.cat([m(ir[i : i + 1], vis[i : i + 1]).detach().cpu() for i in range(ir.shape[0])])
        d = float((one - first).abs().max())
        if d > 1e-4:
            res.checks.append(
                Check("batch = one at a time", False, f"differ by up to {d:.3g} (batch statistics?)", True)
            )
            return None  # type: ignore[return-value]
        return f"max |Δ| = {d:.2g}"

    before = len(res.checks)
    ok = attempt("batch = one at a time", batching)
    if ok and len(res.checks) > before + 1:  # the soft warning was appended; drop the duplicate pass line
        res.checks.pop()

    def writes() -> str:
        import tempfile
        from pathlib import Path

        from ivifbench.imageio import read_image, write_png

        out = holder.get("colour")
        if out is None:
            raise IvifError("no output to write")
        with tempfile.TemporaryDirectory() as d:
            p = write_png(Path(d) / "x.png", out[0].permute(1, 2, 0).numpy())
            back = read_image(p).pixels
        return f"PNG round trip {back.shape[1]}×{back.shape[0]}×{back.shape[2]}"

    attempt("writes a fused PNG", writes)
    res.seconds = time.time() - t0
    return res


def check_command(
    name: str,
    weights: str | None = None,
    params: list[str] | None = None,
    device: str = "cpu",
) -> int:
    """The body of ``ivifbench methods check NAME [--weights PATH] [--param k=v ...] [--device D]``: prints the
    checks, returns the exit code (0 when every check passed, 1 otherwise)."""
    from ivifbench.params import parse_assignments

    res = check_method(name, weights=weights, params=parse_assignments(params or []), device=device)
    for line in res.lines():
        print(line)
    return 0 if res.ok else 1

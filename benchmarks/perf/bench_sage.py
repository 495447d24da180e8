"""SAGE performance: parameters, FLOPs, and fused images/second, batched against a straightforward per-image baseline.

Run: ``python benchmarks/perf/bench_sage.py [--size 1024x768] [--batch 4] [--runs 5] [--device auto]``
     ``[--weights PATH] [--train-step]``

* Parameters of the student (the release has 135,617) and of the teacher.
* FLOPs of one student forward at ``--size`` with ``torch.utils.flop_counter`` (2 FLOPs per multiply-add; thop-style
  "FLOPs" are half of this).
* Throughput, medians over ``--runs`` timed runs after one warm-up, all in this one process:
  - ``baseline``: the way the official ``test.py`` runs: one image at a time, default memory format, ``no_grad``;
  - ``batched``: ``--batch`` images per forward under ``inference_mode``;
  - ``batched+channels_last``: the same in channels-last memory format;
  - ``method``: ``SageFusion`` end to end (8-bit-exact colour conversion included), batched.
  On CUDA, times use ``torch.cuda.synchronize``; the paper reports 10.47 ms per 1024×768 pair on an RTX 4090.
* ``--train-step``: median seconds of one student and one teacher training step (forward, losses with a 2-block
  ViT-B SAM encoder of random weights, backward, Adam) at 192×256, batch 4, for estimating a full training run.

Weights do not change the timings; without ``--weights`` the student is randomly initialised. Measure, don't assert.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from ivifbench.fusion.sage.student import SageStudent
from ivifbench.fusion.sage.teacher import SageTeacher


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, runs: int, warmup: bool = True) -> list[float]:
    if warmup:  # allocations, kernel selection
        fn()
        _sync(device)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def count_flops(net: SageStudent, h: int, w: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 1, h, w)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net.cpu()(x, x)
    return int(counter.get_total_flops())


def teacher_flops(h: int, w: int) -> int:
    """Teacher forward FLOPs, attention included (the explicit attention path, which the counter sees)."""
    from torch.utils.flop_counter import FlopCounterMode

    from ivifbench.fusion.sage.teacher import Attention

    net = SageTeacher().eval()
    x, m = torch.rand(1, 1, h, w), torch.rand(1, 4, h, w)
    Attention.fused = False
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(x, x, m, m)
    finally:
        Attention.fused = True
    return int(counter.get_total_flops())


def train_step_times(
    device: torch.device, runs: int, crop: tuple[int, int] = (192, 256), batch: int = 4, warmup: bool = True
) -> dict[str, Any]:
    from ivifbench.fusion.sage.losses import LossWeights, student_loss, teacher_loss
    from ivifbench.fusion.sage.sam import SamFeatureEncoder

    torch.manual_seed(0)
    enc = SamFeatureEncoder("vit_b").to(device).eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    s_net, t_net = SageStudent().to(device), SageTeacher().to(device)
    opt_s, opt_t = torch.optim.Adam(s_net.parameters(), 2e-3), torch.optim.Adam(t_net.parameters(), 5e-4)
    h, w = crop
    y, ir = torch.rand(batch, 1, h, w, device=device), torch.rand(batch, 1, h, w, device=device)
    vp, ip = torch.rand(batch, 4, h, w, device=device), torch.rand(batch, 4, h, w, device=device)
    lw = LossWeights()

    def student_step() -> None:
        with torch.no_grad():
            t, tt = t_net(y, ir, vp, ip)
        s, st = s_net(y, ir)
        loss = student_loss(enc, s, st, t, tt, y, ir, vp, ip, lw)["total"]
        opt_s.zero_grad()
        loss.backward()
        opt_s.step()

    def teacher_step() -> None:
        with torch.no_grad():
            s, st = s_net(y, ir)
        t, tt = t_net(y, ir, vp, ip)
        loss = teacher_loss(enc, t, tt, y, ir, vp, ip, lw, s, st)["total"]
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()

    return {
        "student_step_s": statistics.median(timed(student_step, device, runs, warmup)),
        "teacher_step_s": statistics.median(timed(teacher_step, device, runs, warmup)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1024x768", help="W×H of the test images (M3FD: 1024x768)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--weights", default=None, help="student weights (optional; timings do not depend on them)")
    ap.add_argument("--train-step", action="store_true", help="also time training steps at 192×256, batch 4")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    w, h = (int(v) for v in args.size.lower().split("x"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; images {w}×{h}; batch {args.batch}; {args.runs} runs (median)")

    net = SageStudent()
    if args.weights:
        from ivifbench.fusion.sage.checkpoint import load_strict

        load_strict(net, args.weights, "SAGE student", prefix="student.")
    net.eval()
    print(f"student parameters: {sum(p.numel() for p in net.parameters()):,} (release: 135,617)")
    print(f"teacher parameters: {sum(p.numel() for p in SageTeacher().parameters()):,} (release: 2,787,043)")
    print(f"teacher FLOPs at 256×192: {teacher_flops(192, 256) / 1e9:.1f} G (release: about 225 G)")
    flops = count_flops(net, h, w)
    print(f"student FLOPs at {w}×{h}: {flops / 1e9:.1f} G (2×MAC; {flops / 2e9:.1f} G MAC)")

    net.to(device)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(args.batch, 1, h, w, generator=g).to(device)
    ir = torch.rand(args.batch, 1, h, w, generator=g).to(device)
    vis = (torch.round(torch.rand(args.batch, 3, h, w, generator=g) * 255) / 255).to(device)

    def baseline() -> None:
        with torch.no_grad():
            for i in range(args.batch):
                net(y[i : i + 1], ir[i : i + 1])

    def batched() -> None:
        with torch.inference_mode():
            net.fuse(y, ir)

    results = {"baseline (per image)": timed(baseline, device, args.runs)}
    results["batched"] = timed(batched, device, args.runs)
    net_cl = net.to(memory_format=torch.channels_last)
    y_cl, ir_cl = (t.contiguous(memory_format=torch.channels_last) for t in (y, ir))

    def batched_cl() -> None:
        with torch.inference_mode():
            net_cl.fuse(y_cl, ir_cl)

    results["batched+channels_last"] = timed(batched_cl, device, args.runs)
    net.to(memory_format=torch.contiguous_format)

    if args.weights:
        from ivifbench.fusion.sage import SageFusion

        method = SageFusion(weights=args.weights, device=device)

        def end_to_end() -> None:
            method(ir, vis)

        results["method (colour included)"] = timed(end_to_end, device, args.runs)

    base = statistics.median(results["baseline (per image)"])
    print(f"{'variant':28s} {'ms/image':>10s} {'images/s':>10s} {'speed-up':>9s}")
    for key, times in results.items():
        med = statistics.median(times)
        print(f"{key:28s} {1e3 * med / args.batch:10.2f} {args.batch / med:10.3f} {base / med:8.2f}×")

    if args.train_step:
        # a teacher step is ~3 TFLOP: on a CPU one untimed warm-up and one timed step are all that is affordable
        cpu = device.type == "cpu"
        steps = train_step_times(device, 1 if cpu else args.runs, warmup=not cpu)
        print(
            f"training step at 192×256, batch 4: student {steps['student_step_s']:.3f} s, "
            f"teacher {steps['teacher_step_s']:.3f} s (median)"
        )


if __name__ == "__main__":
    main()

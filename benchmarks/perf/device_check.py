"""The GPU device check behind ``device_check.sh``: what a data-centre GPU does with ivifbench, in one command.

Sections (each in its own process with its own time limit, so one failure or hang does not hide the others):

* ``sage``: the SAGE student's milliseconds per 1024×768 pair, batched (batch 8; channels-last on and off), after a
  warm-up, with ``torch.cuda.synchronize``; the official weights when ``--sage-weights`` names them, else random
  initialisation (the timing does not depend on the weights). The paper reports 10.47 ms per pair on an RTX 4090.
* ``metrics``: the default metric set (convention ``canonical``) on seeded 640×480 triples, ms per image on the device
  (batch 8), and the largest relative difference from the same images scored on the CPU (float64 both; they must agree
  to 1e-9).
* ``detection``, ``segmentation``, ``sod``: each task's ``paper`` protocol for a few iterations on a synthetic replica
  (``ivifbench datasets synth``), its pretrained-weights path fed by a randomly initialised file written here (a YOLOv8n
  checkpoint, MiT-B3 and MiT-B2 encoders). The numbers mean nothing; that the paths run on the device is the check.

``--dry`` runs everything on the CPU at toy sizes (tests use it; no GPU needed). Prints one line per section and a
summary; exits non-zero when a section failed. ``--only sage,metrics`` picks sections.

    python benchmarks/perf/device_check.py [--device cuda] [--dry] [--only ...] [--sage-weights PATH] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECTIONS = ("sage", "metrics", "detection", "segmentation", "sod")
# Seconds per section on a GPU (the whole check stays under 8 minutes) and in --dry mode on two CPU cores.
LIMITS = {"sage": 60, "metrics": 90, "detection": 110, "segmentation": 110, "sod": 90}
DRY_LIMITS = {"sage": 120, "metrics": 400, "detection": 400, "segmentation": 400, "sod": 300}


# ---------------------------------------------------------------- sections (each runs in a child process)
def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def section_sage(device: str, dry: bool, work: Path, sage_weights: str) -> dict[str, Any]:
    import torch

    from ivifbench.fusion.sage.checkpoint import load_strict
    from ivifbench.fusion.sage.student import SageStudent

    dev = torch.device(device)
    net = SageStudent()
    if sage_weights:
        load_strict(net, sage_weights, "SAGE student", prefix="student.")
    net.eval().to(dev)
    (h, w), batch, runs = ((192, 256), 2, 2) if dry else ((768, 1024), 8, 10)
    gen = torch.Generator().manual_seed(0)
    y, ir = (torch.rand(batch, 1, h, w, generator=gen).to(dev) for _ in range(2))
    out: dict[str, Any] = {"size": f"{w}x{h}", "batch": batch, "weights": "official" if sage_weights else "random"}
    for label, fmt in (("ms_per_pair", torch.contiguous_format), ("ms_per_pair_channels_last", torch.channels_last)):
        net.to(memory_format=fmt)
        a, b = y.contiguous(memory_format=fmt), ir.contiguous(memory_format=fmt)
        times = []
        with torch.inference_mode():
            for k in range(runs + 1):
                _sync(dev)
                t = time.perf_counter()
                net.fuse(a, b)
                _sync(dev)
                if k:  # the first run is the warm-up (cuDNN algorithm choice, allocations)
                    times.append((time.perf_counter() - t) / batch * 1000)
        out[label] = round(statistics.median(times), 3)
    return out


def _triples(n: int, h: int, w: int) -> tuple[Any, Any, Any]:
    """Seeded triples with image-like structure (smoothed noise, 0..255 integers), B×C×H×W float64."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)

    def img(c: int) -> Any:
        x = torch.rand(n, c, h // 8, w // 8, generator=gen, dtype=torch.float64)
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        x = x + 0.15 * torch.rand(n, c, h, w, generator=gen, dtype=torch.float64)
        return torch.round(x / x.amax() * 255)

    ir, vis = img(1), img(3)
    return torch.round((ir + vis) / 2), ir, vis


def section_metrics(device: str, dry: bool, work: Path, sage_weights: str) -> dict[str, Any]:
    import torch

    from ivifbench.metrics import compute, resolve_metrics

    dev = torch.device(device)
    (h, w), batch, cpu_images = ((192, 256), 1, 1) if dry else ((480, 640), 8, 2)
    f, a, b = _triples(batch, h, w)
    names = resolve_metrics("default", "canonical")
    compute(f[:1].to(dev), a[:1].to(dev), b[:1].to(dev), names, "canonical")  # warm-up
    times = []
    for _ in range(1 if dry else 3):
        _sync(dev)
        t = time.perf_counter()
        got = compute(f.to(dev), a.to(dev), b.to(dev), names, "canonical")
        _sync(dev)
        times.append((time.perf_counter() - t) / batch * 1000)
    ref = compute(f[:cpu_images], a[:cpu_images], b[:cpu_images], names, "canonical")
    worst, where = 0.0, ""
    for n in names:
        x, y = got[n][:cpu_images].cpu(), ref[n]
        both_nan = torch.isnan(x) & torch.isnan(y)
        rel = ((x - y).abs() / y.abs().clamp(min=1e-12)).masked_fill(both_nan, 0.0)
        if float(rel.max()) > worst or torch.isnan(rel).any():
            worst, where = float(rel.nan_to_num(nan=float("inf")).max()), n
    return {
        "size": f"{w}x{h}",
        "batch": batch,
        "metrics": len(names),
        "ms_per_image": round(statistics.median(times), 2),
        "max_rel_diff_vs_cpu": worst,
        "worst_metric": where,
        "values_equal": worst <= 1e-9,
    }


def _cli(*args: str, timeout: float) -> None:
    cmd = [sys.executable, "-m", "ivifbench.cli", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {(out.stderr or out.stdout).strip()[-800:]}")


def _task(task: str, dataset: str, device: str, dry: bool, work: Path, sets: list[str]) -> dict[str, Any]:
    root = work / f"{dataset}_replica"
    if not root.exists():
        _cli("datasets", "synth", dataset, "--out", str(root), "--pairs", "12", "--seed", "0", timeout=120)
    out = work / f"{task}_paper"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    args = ["task", task, "--method", "visible", "--dataset", dataset, "--root", str(root)]
    _cli(*args, "--protocol", "paper", "--out", str(out), *(x for s in sets for x in ("--set", s)), timeout=3600)
    result = json.loads((out / "metrics.json").read_text())
    means = {k: round(v["mean"], 4) for k, v in result["metrics"].items() if "/" not in k}
    return {"seconds": round(time.perf_counter() - t, 1), "metrics": means}


def section_detection(device: str, dry: bool, work: Path, sage_weights: str) -> dict[str, Any]:
    from ultralytics import YOLO

    weights = work / "yolov8n_random.pt"
    if not weights.exists():
        YOLO("yolov8n.yaml").save(str(weights))  # random initialisation, in a released checkpoint's layout
    sets = [f"weights={weights}", "epochs=2", "close_mosaic=1", "warmup_epochs=1", "batch=8", "workers=2"]
    if dry:
        sets += ["imgsz=64", "batch=4", "workers=0", "amp=false"]
    return _task("detection", "m3fd", device, dry, work, [*sets, f"device={device}"])


def section_segmentation(device: str, dry: bool, work: Path, sage_weights: str) -> dict[str, Any]:
    import torch

    from ivifbench.networks.segformer import build_mit_backbone

    weights = work / "mit_b3_random.pth"
    if not weights.exists():
        torch.save(build_mit_backbone("b3").state_dict(), weights)
    sets = [f"pretrained={weights}", "iters=20", "warmup=5", "batch=4", "num_workers=2", "log_interval=5"]
    if dry:
        sets += ["iters=2", "warmup=1", "batch=2", "crop=64x64", "num_workers=0", "log_interval=1"]
    return _task("segmentation", "msrs", device, dry, work, sets)


def section_sod(device: str, dry: bool, work: Path, sage_weights: str) -> dict[str, Any]:
    import torch

    from ivifbench.networks.segformer import build_mit_backbone

    weights = work / "mit_b2_random.pth"
    if not weights.exists():
        torch.save(build_mit_backbone("b2").state_dict(), weights)
    sets = [f"pretrained={weights}", "iters=20", "warmup=5", f"device={device}"]
    if dry:
        sets += ["iters=2", "warmup=1", "batch=2", "size=64", "eval_batch=2"]
    return _task("sod", "vt5000", device, dry, work, sets)


# ---------------------------------------------------------------- driver
def _child(args: argparse.Namespace) -> None:
    fn = globals()[f"section_{args.child}"]
    result = fn(args.device, args.dry, Path(args.work), args.sage_weights)
    print("RESULT " + json.dumps(result))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cuda (default), cuda:1, ... ; --dry forces cpu")
    ap.add_argument("--dry", action="store_true", help="CPU, toy sizes: checks that the script runs")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    ap.add_argument("--sage-weights", default="", help="official SAGE weights (optional; timing is the same)")
    ap.add_argument("--work", default="", help="scratch folder (default: a temporary one, removed afterwards)")
    ap.add_argument("--json", default="", help="also write the results here")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.device = "cpu" if args.dry else (args.device or "cuda")
    if args.child:
        _child(args)
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("error: no CUDA device visible to torch; run with --dry for the CPU check", file=sys.stderr)
            return 2
        print(f"device: {torch.cuda.get_device_name(torch.device(args.device))}, torch {torch.__version__}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ivifbench-device-check-"))
    work.mkdir(parents=True, exist_ok=True)
    limits = DRY_LIMITS if args.dry else LIMITS
    results: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        for name in only:
            cmd = [sys.executable, __file__, "--child", name, "--device", args.device, "--work", str(work)]
            cmd += ["--dry"] * args.dry + ["--sage-weights", args.sage_weights]
            t = time.perf_counter()
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=limits[name], check=False)
                lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
                if out.returncode == 0 and lines:
                    results[name] = {"ok": True, **json.loads(lines[-1][7:])}
                else:
                    results[name] = {"ok": False, "error": (out.stderr or out.stdout).strip()[-1500:]}
            except subprocess.TimeoutExpired:
                results[name] = {"ok": False, "error": f"over its {limits[name]} s limit"}
            results[name]["wall_s"] = round(time.perf_counter() - t, 1)
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    failed = [n for n, r in results.items() if not r["ok"] or r.get("values_equal") is False]
    print(
        f"device check: {len(results) - len(failed)}/{len(results)} sections ok in {time.perf_counter() - start:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("YOLO_OFFLINE", "1")
    sys.exit(main())

"""SAGE training: alternating bi-level distillation of the teacher (upper level) and the student (lower level).

The schedule as released (sage.md §4, §5): within an epoch, even batches update the student (teacher frozen) and odd
batches update the teacher (student frozen); before ``student_epoch`` every batch trains the teacher alone; the
segmentation term switches on at ``ini_epoch``. Adam (default betas), learning rates 5e-4 (teacher) and 2e-3
(student), each with a per-step cosine schedule over ``epochs × batches`` that steps only on its own updates.
Epochs count from 0 as in the release's loop, so ``student_epoch = 1`` means one epoch of teacher pre-training.

[INF] choices where sage.md is silent: in the teacher-only phase the teacher loss has no distillation terms (there is
no student output to distil from yet); both networks stay in train mode throughout (BatchNorm statistics of the
student also move during teacher steps, as they would in code that never calls ``eval()``).

Outputs in ``out``: ``student.safetensors`` (loads into ``SageFusion``), ``sage_state.safetensors`` (both networks,
optimisers; for ``--resume``), ``config.json`` (settings, progress, per-epoch losses, step times) and
``losses.jsonl`` (one line per step).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Adam
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader

from ivifbench.errors import IvifError
from ivifbench.fusion.sage.checkpoint import read_state_dict, save_safetensors
from ivifbench.fusion.sage.losses import LossWeights, student_loss, teacher_loss
from ivifbench.fusion.sage.student import SageStudent
from ivifbench.fusion.sage.teacher import SageTeacher

STATE_FILE = "sage_state.safetensors"
STUDENT_FILE = "student.safetensors"
CONFIG_FILE = "config.json"
LOG_FILE = "losses.jsonl"
# settings that must not change when a run is resumed (the rest, e.g. device, may)
RESUME_FIXED = ("dataset", "split", "batch_size", "crop", "seed", "k", "sam_size", "student_epoch", "max_pairs")


@dataclass
class SageTrainConfig:
    """Everything that defines a training run; written to ``config.json``."""

    dataset: str
    root: str
    out: str
    split: str | None = "train"
    epochs: int = 100
    batch_size: int = 4
    crop: tuple[int, int] = (192, 256)
    sam_checkpoint: str | None = None
    sam_size: str = "vit_b"
    sam_points_per_side: int | None = None
    mask_cache: str | None = None
    seg_checkpoint: str | None = None
    seg_config: str | None = None
    resume: bool = False
    seed: int = 2
    device: str = "auto"
    student_epoch: int = 1
    ini_epoch: int = 1
    lr_teacher: float = 5e-4
    lr_student: float = 2e-3
    eta_min: float = 1e-5
    k: int = 4
    max_pairs: int | None = None
    workers: int = 0
    progress: bool = True
    weights: LossWeights = field(default_factory=LossWeights)


@dataclass
class TrainResult:
    out: Path
    epochs_done: int
    history: list[dict[str, Any]]
    step_seconds: dict[str, float]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise IvifError(f"--device '{name}' is not a torch device (cpu, cuda, cuda:1, …)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise IvifError(f"--device {name}: CUDA is not available here; use --device cpu")
    return dev


def _optim_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, Tensor], list[dict[str, Any]]]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{pid}.{name}": t for pid, st in sd["state"].items() for name, t in st.items()}
    return tensors, sd["param_groups"]


def _load_optim(
    opt: torch.optim.Optimizer, tensors: dict[str, Tensor], prefix: str, groups: list[dict[str, Any]]
) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for key, t in tensors.items():
        if key.startswith(prefix + "."):
            pid, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[name] = t
    opt.load_state_dict({"state": state, "param_groups": groups})


class SageTrainer:
    """Builds everything a run needs from a :class:`SageTrainConfig` and runs it (see :func:`train`)."""

    def __init__(self, cfg: SageTrainConfig, log: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.log = log
        self.out = Path(cfg.out)
        self.device = resolve_device(cfg.device)
        self.w = cfg.weights
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise IvifError("--epochs and --batch-size must be at least 1")
        if cfg.sam_checkpoint is None:
            raise IvifError(
                "SAGE training needs SAM: pass --sam-checkpoint PATH (sam_vit_b_01ec64.pth from "
                "facebookresearch/segment-anything; nothing is downloaded)"
            )
        self._check_out_dir()
        torch.manual_seed(cfg.seed)
        self._build_data()
        self._build_models()

    # ---------------------------------------------------------------------------------------------------- setup

    def _check_out_dir(self) -> None:
        state = self.out / STATE_FILE
        if state.exists() and not self.cfg.resume:
            raise IvifError(
                f"{self.out} already holds a SAGE run; pass --resume to continue it or choose another --out"
            )
        if self.cfg.resume and not state.exists():
            raise IvifError(f"--resume: no {STATE_FILE} in {self.out}; start without --resume")

    def _build_data(self) -> None:
        from ivifbench.datasets import DATASETS
        from ivifbench.fusion.sage.data import SageTrainSet
        from ivifbench.fusion.sage.sam import SamFeatureEncoder, SamPriors

        cfg = self.cfg
        reader = DATASETS.get(cfg.dataset)(cfg.root)
        pairs = reader.pairs(cfg.split)
        if cfg.max_pairs is not None:
            pairs = pairs[: cfg.max_pairs]
        if not pairs:
            raise IvifError(f"dataset '{cfg.dataset}' at {cfg.root} has no pairs in split '{cfg.split}'")
        self.reader = reader
        overrides = {"points_per_side": cfg.sam_points_per_side} if cfg.sam_points_per_side else None
        cache = Path(cfg.mask_cache) if cfg.mask_cache else self.out / "sam_cache"
        self.priors = SamPriors(cfg.sam_checkpoint, cfg.sam_size, cache, self.device, overrides)  # type: ignore[arg-type]
        self.encoder = SamFeatureEncoder.from_checkpoint(cfg.sam_checkpoint, cfg.sam_size).to(self.device)  # type: ignore[arg-type]
        self.seg = None
        num_classes = len(getattr(reader, "classes", ()) or ()) or None
        ignore = reader.ignore_index if reader.ignore_index is not None else 255
        if cfg.seg_checkpoint:
            from ivifbench.fusion.sage.seg import SegGuidance

            if "segmentation" not in getattr(reader, "tasks", ()):
                raise IvifError(f"--seg-checkpoint: dataset '{cfg.dataset}' has no segmentation labels")
            self.seg = SegGuidance(cfg.seg_checkpoint, cfg.seg_config, num_classes, ignore, self.device)
            self.log(f"segmentation guidance on: SegFormer from {cfg.seg_checkpoint} (weight {self.w.teacher_seg})")
        else:
            self.log(
                "segmentation guidance off: no --seg-checkpoint given (the teacher trains without the 0.3·CE term)"
            )
        self.data = SageTrainSet(
            pairs,
            cfg.crop,
            self.priors,
            cfg.k,
            cfg.seed,
            read_labels=self.seg is not None,
            palette=getattr(reader, "palette", None),
            ignore_index=ignore,
        )
        self.batches = math.ceil(len(pairs) / cfg.batch_size)

    def _build_models(self) -> None:
        cfg = self.cfg
        self.student = SageStudent().to(self.device)
        self.teacher = SageTeacher(k=cfg.k).to(self.device)
        self.opt_s = Adam(self.student.parameters(), lr=cfg.lr_student)
        self.opt_t = Adam(self.teacher.parameters(), lr=cfg.lr_teacher)
        t_max = cfg.epochs * self.batches
        self.sched_s = CosineAnnealingLR(self.opt_s, T_max=t_max, eta_min=cfg.eta_min)
        self.sched_t = CosineAnnealingLR(self.opt_t, T_max=t_max, eta_min=cfg.eta_min)
        self.start_epoch = 0
        self.history: list[dict[str, Any]] = []
        if cfg.resume:
            self._load_state()

    # ---------------------------------------------------------------------------------------------------- state

    def _save(self, epoch: int, step_seconds: dict[str, float]) -> None:
        os_, gs = _optim_tensors(self.opt_s, "optim.student")
        ot, gt = _optim_tensors(self.opt_t, "optim.teacher")
        tensors = {f"student.{k}": v for k, v in self.student.state_dict().items()}
        tensors |= {f"teacher.{k}": v for k, v in self.teacher.state_dict().items()}
        tensors |= os_ | ot
        meta = {
            "epochs_done": epoch + 1,
            "groups_student": gs,
            "groups_teacher": gt,
            "sched_student": self.sched_s.state_dict(),
            "sched_teacher": self.sched_t.state_dict(),
        }
        save_safetensors(self.out / STATE_FILE, tensors, meta)
        save_safetensors(self.out / STUDENT_FILE, self.student.state_dict(), {"epochs_done": epoch + 1})
        record = {
            "config": {k: v for k, v in asdict(self.cfg).items() if k != "resume"},
            "epochs_done": epoch + 1,
            "history": self.history,
            "step_seconds": step_seconds,
            "sam": self.priors.settings(),
            "segmentation_guidance": self.cfg.seg_checkpoint is not None,
            "batches_per_epoch": self.batches,
            "torch": torch.__version__,
            "device": str(self.device),
        }
        tmp = self.out / f".{CONFIG_FILE}.tmp"
        tmp.write_text(json.dumps(record, indent=2, default=str))
        tmp.replace(self.out / CONFIG_FILE)

    def _load_state(self) -> None:
        from safetensors import safe_open

        record = json.loads((self.out / CONFIG_FILE).read_text())
        old = record["config"]
        now = asdict(self.cfg)
        for key in RESUME_FIXED:
            if json.dumps(old.get(key)) != json.dumps(now.get(key)):
                raise IvifError(f"--resume: '{key}' was {old.get(key)!r} in {self.out}, now {now.get(key)!r}; keep it")
        path = self.out / STATE_FILE
        with safe_open(str(path), "pt") as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        tensors = read_state_dict(path)
        self.student.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("student.")})
        self.teacher.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("teacher.")})
        _load_optim(self.opt_s, tensors, "optim.student", meta["groups_student"])
        _load_optim(self.opt_t, tensors, "optim.teacher", meta["groups_teacher"])
        self.sched_s.load_state_dict(meta["sched_student"])
        self.sched_t.load_state_dict(meta["sched_teacher"])
        t_max = self.cfg.epochs * self.batches
        if self.sched_s.T_max != t_max:  # --epochs changed: stretch the rest of the cosine to the new end
            self.log(
                f"--epochs {self.cfg.epochs} differs from the run's {old.get('epochs')}: cosine schedules now end there"
            )
            self.sched_s.T_max = self.sched_t.T_max = t_max
        self.start_epoch = int(meta["epochs_done"])
        self.history = [h for h in record.get("history", []) if h["epoch"] < self.start_epoch]
        self.log(f"resuming {self.out} after epoch {self.start_epoch}")

    # ---------------------------------------------------------------------------------------------------- steps

    def _batch(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def student_step(self, b: dict[str, Tensor]) -> dict[str, float]:
        with torch.no_grad():
            t, t_taps = self.teacher(b["y"], b["ir"], b["vi_patches"], b["ir_patches"])
        s, s_taps = self.student(b["y"], b["ir"])
        parts = student_loss(
            self.encoder, s, s_taps, t, t_taps, b["y"], b["ir"], b["vi_patches"], b["ir_patches"], self.w
        )
        self.opt_s.zero_grad(set_to_none=True)
        parts["total"].backward()
        self.opt_s.step()
        self.sched_s.step()
        return {k: float(v.detach()) for k, v in parts.items()}

    def teacher_step(self, b: dict[str, Tensor], distil: bool, seg_on: bool) -> dict[str, float]:
        s = s_taps = None
        if distil:
            with torch.no_grad():
                s, s_taps = self.student(b["y"], b["ir"])
        t, t_taps = self.teacher(b["y"], b["ir"], b["vi_patches"], b["ir_patches"])
        seg_ce = None
        if seg_on and self.seg is not None and bool(b["has_label"].any()):
            seg_ce = self.seg.loss(t, b["crcb"], b["label"])
        parts = teacher_loss(
            self.encoder, t, t_taps, b["y"], b["ir"], b["vi_patches"], b["ir_patches"], self.w, s, s_taps, seg_ce
        )
        self.opt_t.zero_grad(set_to_none=True)
        parts["total"].backward()
        self.opt_t.step()
        self.sched_t.step()
        return {k: float(v.detach()) for k, v in parts.items()}

    @torch.no_grad()
    def probe(self) -> dict[str, float]:
        """Losses on a fixed batch (the first pairs, one fixed crop each), in eval mode: a comparable number per epoch.

        The student is scored with its full loss against the current teacher, the teacher with its fusion terms
        (MSE + 2·gradient), so the figures do not depend on which batch happened to come last.
        """
        b = self._batch(self.data.probe_batch(self.cfg.batch_size))
        self.student.eval()
        self.teacher.eval()
        try:
            t, t_taps = self.teacher(b["y"], b["ir"], b["vi_patches"], b["ir_patches"])
            s, s_taps = self.student(b["y"], b["ir"])
            sl = student_loss(
                self.encoder, s, s_taps, t, t_taps, b["y"], b["ir"], b["vi_patches"], b["ir_patches"], self.w
            )
            tl = teacher_loss(self.encoder, t, t_taps, b["y"], b["ir"], b["vi_patches"], b["ir_patches"], self.w)
        finally:
            self.student.train()
            self.teacher.train()
        return {"probe_student": float(sl["total"]), "probe_teacher": float(tl["total"])}

    # ---------------------------------------------------------------------------------------------------- loop

    def run(self) -> TrainResult:
        from tqdm import tqdm

        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        if self.start_epoch >= cfg.epochs:
            self.log(f"{self.out}: {self.start_epoch} epochs already done (--epochs {cfg.epochs}); nothing to do")
            return TrainResult(self.out, self.start_epoch, self.history, {})
        self.data.precompute_masks(cfg.progress)
        log_path = self.out / LOG_FILE
        kept = [line for line in (log_path.read_text().splitlines() if log_path.exists() else [])]
        kept = [line for line in kept if json.loads(line)["epoch"] < self.start_epoch]
        log_path.write_text("".join(line + "\n" for line in kept))
        times: dict[str, list[float]] = {"student": [], "teacher": []}
        self.student.train()
        self.teacher.train()
        if self.start_epoch == 0:
            self.history.append({"epoch": -1, **self.probe()})  # before any update
        for epoch in range(self.start_epoch, cfg.epochs):
            self.data.set_epoch(epoch)
            order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
            # workers get a copy of the dataset made here, after set_epoch, so their crops follow the epoch too
            loader = DataLoader(
                self.data,
                batch_size=cfg.batch_size,
                sampler=order.tolist(),
                num_workers=cfg.workers,
                pin_memory=self.device.type == "cuda",
            )
            sums: dict[str, list[float]] = {"student": [], "teacher": []}
            bar = tqdm(loader, desc=f"SAGE epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress, leave=False)
            distil = epoch >= cfg.student_epoch
            with log_path.open("a") as logf:
                for i, batch in enumerate(bar):
                    b = self._batch(batch)
                    t0 = time.perf_counter()
                    if distil and i % 2 == 0:
                        net, parts = "student", self.student_step(b)
                    else:
                        net, parts = "teacher", self.teacher_step(b, distil, epoch >= cfg.ini_epoch)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    times[net].append(time.perf_counter() - t0)
                    if not math.isfinite(parts["total"]):
                        raise IvifError(
                            f"SAGE training diverged: {net} loss is {parts['total']} at epoch {epoch}, batch {i}"
                        )
                    sums[net].append(parts["total"])
                    logf.write(json.dumps({"epoch": epoch, "batch": i, "net": net, **parts}) + "\n")
                    bar.set_postfix({"net": net[0].upper(), **{k: f"{v:.4g}" for k, v in parts.items()}})
            entry = {
                "epoch": epoch,
                "student_loss": sum(sums["student"]) / len(sums["student"]) if sums["student"] else None,
                "teacher_loss": sum(sums["teacher"]) / len(sums["teacher"]) if sums["teacher"] else None,
                "lr_student": self.sched_s.get_last_lr()[0],
                "lr_teacher": self.sched_t.get_last_lr()[0],
                **self.probe(),
            }
            self.history.append(entry)
            step_seconds = {k: float(torch.tensor(v).median()) for k, v in times.items() if v}
            self._save(epoch, step_seconds)
            self.log(
                f"epoch {epoch + 1}/{cfg.epochs}: student {_fmt(entry['student_loss'])}, "
                f"teacher {_fmt(entry['teacher_loss'])}; fixed-batch probe: student {_fmt(entry['probe_student'])}, "
                f"teacher {_fmt(entry['probe_teacher'])} → {self.out / STUDENT_FILE}"
            )
        return TrainResult(
            self.out, cfg.epochs, self.history, {k: float(torch.tensor(v).median()) for k, v in times.items() if v}
        )


def _fmt(v: float | torch.Tensor | None) -> str:
    return "—" if v is None else f"{float(v):.4g}"


def train(cfg: SageTrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Train SAGE as configured; see the module docstring for the files it writes."""
    return SageTrainer(cfg, log).run()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

"""``train_sage``: the typer command the lead wires as ``ivifbench train sage``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train_sage(
    dataset: Annotated[str, typer.Option("--dataset", help="dataset name (fmb, msrs, m3fd, …) as in 'datasets list'")],
    root: Annotated[Path, typer.Option("--root", help="the dataset's root folder")],
    out: Annotated[Path, typer.Option("--out", help="run folder: checkpoints, config.json, losses.jsonl")],
    sam_checkpoint: Annotated[
        Path | None,
        typer.Option("--sam-checkpoint", help="SAM checkpoint (sam_vit_b_01ec64.pth); required, never downloaded"),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="split to train on")] = "train",
    epochs: Annotated[int, typer.Option("--epochs", help="epochs (release default 100)")] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 4,
    crop: Annotated[str, typer.Option("--crop", help="random crop H×W")] = "192x256",
    sam_size: Annotated[str, typer.Option("--sam-size", help="SAM configuration: vit_b, or tiny (tests)")] = "vit_b",
    sam_points_per_side: Annotated[
        int | None, typer.Option("--sam-points-per-side", help="override the mask generator's 128 points per side")
    ] = None,
    mask_cache: Annotated[
        Path | None, typer.Option("--mask-cache", help="SAM mask cache folder (default OUT/sam_cache)")
    ] = None,
    seg_checkpoint: Annotated[
        Path | None,
        typer.Option("--seg-checkpoint", help="trained SegFormer for the teacher's segmentation term (off without)"),
    ] = None,
    seg_config: Annotated[
        str | None, typer.Option("--seg-config", help="SegFormer variant b0…b5 (default: read from the checkpoint)")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run in --out")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 2,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N")] = "auto",
    student_epoch: Annotated[int, typer.Option("--student-epoch", help="teacher-only epochs before distillation")] = 1,
    ini_epoch: Annotated[int, typer.Option("--ini-epoch", help="epoch at which the segmentation term starts")] = 1,
    lr_teacher: Annotated[float, typer.Option("--lr-teacher")] = 5e-4,
    lr_student: Annotated[float, typer.Option("--lr-student")] = 2e-3,
    max_pairs: Annotated[int | None, typer.Option("--max-pairs", help="use only the first N pairs")] = None,
    workers: Annotated[int, typer.Option("--workers", help="data-loading processes (0: in the main process)")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Train SAGE (teacher with SPA + SAM priors, distilled into the student) on a dataset's IR/visible pairs."""
    from ivifbench.fusion.sage.data import parse_crop
    from ivifbench.fusion.sage.train import SageTrainConfig, train
    from ivifbench.paths import check_output_folder, check_outputs_apart

    check_output_folder("--out", out)
    outputs = {"--out": out, **({"--mask-cache": mask_cache} if mask_cache is not None else {})}
    check_outputs_apart(outputs, {"--root": root})

    cfg = SageTrainConfig(
        dataset=dataset,
        root=str(root),
        out=str(out),
        split=split,
        epochs=epochs,
        batch_size=batch_size,
        crop=parse_crop(crop),
        sam_checkpoint=str(sam_checkpoint) if sam_checkpoint else None,
        sam_size=sam_size,
        sam_points_per_side=sam_points_per_side,
        mask_cache=str(mask_cache) if mask_cache else None,
        seg_checkpoint=str(seg_checkpoint) if seg_checkpoint else None,
        seg_config=seg_config,
        resume=resume,
        seed=seed,
        device=device,
        student_epoch=student_epoch,
        ini_epoch=ini_epoch,
        lr_teacher=lr_teacher,
        lr_student=lr_student,
        max_pairs=max_pairs,
        workers=workers,
        progress=progress,
    )
    result = train(cfg, log=typer.echo)
    typer.echo(f"done: {result.epochs_done} epochs; student weights: {result.out / 'student.safetensors'}")


__all__ = ["train_sage"]

"""``ivifbench datasets``: list the known layouts, check a dataset root, write a synthetic replica."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ivifbench.errors import InputError, IvifError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="List, check and synthesise datasets.", no_args_is_help=True)


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 160  # logs and pipes: do not fold the table at 80 columns
    return console


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"256x192"`` (or ``256×192``) → ``(256, 192)``; ``None`` stays ``None``."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise InputError(f"--size '{text}' is not WIDTHxHEIGHT (e.g. 256x192)")
    return int(m.group(1)), int(m.group(2))


@app.command("list")
def list_() -> None:
    """List datasets: name, tasks, splits, number of classes, description."""
    from rich.table import Table

    from ivifbench.datasets import DATASETS

    table = Table(title="datasets")
    for col in ("name", "tasks", "splits", "classes", "description"):
        table.add_column(col, overflow="fold")
    for name in DATASETS.names():
        cls = DATASETS.get(name)
        n_classes = str(len(cls.classes)) if cls.classes else "-"
        if getattr(cls, "class_order_assumed", False):
            n_classes += " (order assumed)"
        table.add_row(name, ", ".join(cls.tasks), ", ".join(cls.splits), n_classes, cls.description)
    _console().print(table)


@app.command("check")
def check(
    name: str = typer.Argument(..., help="Dataset name (see `ivifbench datasets list`)."),
    root: Path = typer.Argument(..., help="The dataset's root folder, in its native layout."),
    split_file: list[str] = typer.Option(
        [], "--split-file", help="M3FD only: SPLIT=FILE, a split list to check (repeatable)."
    ),
) -> None:
    """Count pairs and labels per split and list every problem (exit code 1 when there is one)."""
    from rich.table import Table

    from ivifbench.datasets import DATASETS

    cls = DATASETS.get(name)
    if split_file:
        if name != "m3fd":
            raise InputError("--split-file applies to m3fd only (the other datasets have their splits)")
        files = {}
        for item in split_file:
            split, sep, path = item.partition("=")
            if not sep or not split or not path:
                raise InputError(f"--split-file '{item}' is not SPLIT=FILE")
            files[split] = path
        reader = cls(root, split_files=files)  # type: ignore[call-arg]
    else:
        reader = cls(root)
    start = time.perf_counter()
    report = reader.check(progress=True)
    console = _console()
    table = Table(title=f"{name} at {reader.root}")
    table.add_column("split")
    table.add_column("pairs", justify="right")
    labelled = bool(getattr(reader, "label_kind", None))
    if labelled:
        table.add_column("labels", justify="right")
    for split, count in report.counts.items():
        row = [split, str(count)]
        if labelled:
            row.append(str(report.labels.get(split, 0)))
        table.add_row(*row)
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", markup=False)
    took = f"({time.perf_counter() - start:.1f} s)"
    if report.problems:
        console.print(f"{len(report.problems)} problem(s) {took}:", style="bold red")
        for line in report.problems:
            console.print(line, markup=False)
        raise typer.Exit(1)
    if not report.ok:
        console.print(f"no pairs found {took}", style="bold red")
        raise typer.Exit(1)
    console.print(f"ok: no problems {took}", style="green")


@app.command("synth")
def synth(
    name: str = typer.Argument(..., help="Dataset name (see `ivifbench datasets list`)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the replica into (must be new or empty)."),
    pairs: int | None = typer.Option(
        None, "--pairs", help="Number of pairs over all splits (default: enough for the task's quick protocol)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)."),
    size: str | None = typer.Option(None, "--size", help="Image size WIDTHxHEIGHT (default 256x192)."),
) -> None:
    """Write a seeded synthetic replica of NAME in its native layout."""
    from ivifbench.datasets import DATASETS

    cls = DATASETS.get(name)
    wh = parse_size(size)
    start = time.perf_counter()
    try:
        root = cls.synthesize(out, pairs=cls.synth_pairs if pairs is None else pairs, seed=seed, size=wh)
    except OSError as exc:
        raise IvifError(f"{out}: cannot write the replica ({exc})") from exc
    written = cls(root).pairs()
    shown = ", ".join(f"{s} {sum(p.split == s for p in written)}" for s in cls.splits)
    typer.echo(f"wrote {name} replica ({shown}) to {root} in {time.perf_counter() - start:.1f} s")

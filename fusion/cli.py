"""``ivifbench methods list|info|check``, ``ivifbench fuse`` and ``ivifbench train sage``."""

from __future__ import annotations

from pathlib import Path

import typer

methods_app = typer.Typer(help="List, describe and check fusion methods.", no_args_is_help=True)
train_app = typer.Typer(help="Train a fusion method.", no_args_is_help=True)


@methods_app.command("list")
def list_methods() -> None:
    """List the registered fusion methods (built-in and plugins)."""
    from rich.console import Console
    from rich.table import Table

    from ivifbench.fusion import METHODS

    table = Table("name", "version", "colour", "weights", "description")
    for name in METHODS.names():
        try:
            info = METHODS.get(name).info
        except Exception as exc:  # a broken plugin is listed, not fatal
            table.add_row(name, "?", "?", "?", f"[red]cannot load: {exc}")
            continue
        table.add_row(name, info.version, info.colour_mode, "needed" if info.needs_weights else "-", info.description)
    Console().print(table)


@methods_app.command("info")
def info(name: str = typer.Argument(..., help="Method name.")) -> None:
    """Show a method's metadata: version, citation, licence, colour handling, weights, parameters."""
    from ivifbench.fusion import METHODS

    meta = METHODS.get(name).info
    for key, value in meta.to_dict().items():
        typer.echo(f"{key:>15}: {value}")


@methods_app.command("check")
def check(
    name: str = typer.Argument(..., help="Method name."),
    weights: Path | None = typer.Option(None, "--weights", help="Weights file, for methods that need one."),
    param: list[str] = typer.Option([], "--param", help="Method parameter as key=value (repeatable)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, ..."),
) -> None:
    """Run a method on a few synthetic pairs and check shape, dtype, range, colour handling and determinism."""
    from ivifbench.fusion.check import check_command

    raise typer.Exit(check_command(name, str(weights) if weights else None, param, device))


def fuse(
    method: str = typer.Option(..., "--method", help="Registered method name."),
    ir: Path = typer.Option(..., "--ir", help="Folder of infrared images."),
    vis: Path = typer.Option(..., "--vis", help="Folder of visible images (paired by file stem)."),
    out: Path = typer.Option(..., "--out", help="Output folder; fused PNGs are named by the input stem."),
    weights: Path | None = typer.Option(None, "--weights", help="Weights file, for methods that need one."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:1, ..."),
    batch_size: int = typer.Option(1, help="Pairs of one size fused together."),
    param: list[str] = typer.Option([], "--param", help="Method parameter as key=value (repeatable)."),
) -> None:
    """Fuse every IR/visible pair of two folders with one method."""
    from ivifbench.fusion import create_method
    from ivifbench.fusion.apply import fuse_pairs
    from ivifbench.imageio import pair_folders
    from ivifbench.params import parse_assignments

    fusion = create_method(method, weights=weights, device=device, **parse_assignments(param))
    report = fuse_pairs(fusion, pair_folders(ir, vis), out, batch_size=batch_size)
    typer.echo(f"{len(report.written)} fused images written to {out} in {report.seconds:.1f} s")
    if report.failed:
        for pid, reason in report.failed.items():
            typer.echo(f"failed {pid}: {reason}", err=True)
        typer.echo(f"error: {len(report.failed)} pair(s) failed (listed above); the others were written", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the fusion commands to the main app."""
    from ivifbench.fusion.sage.cli import train_sage

    app.add_typer(methods_app, name="methods")
    app.command(help="Fuse IR/visible folders with one method.")(fuse)
    train_app.command("sage", help="Train SAGE (teacher + student, bi-level distillation).")(train_sage)
    app.add_typer(train_app, name="train")

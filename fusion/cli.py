"""``ivifbench methods list|info|check|fetch|convert``, ``ivifbench fuse`` and ``ivifbench train sage``."""

from __future__ import annotations

from pathlib import Path

import typer

methods_app = typer.Typer(help="List, describe and check fusion methods.", no_args_is_help=True)
train_app = typer.Typer(help="Train a fusion method.", no_args_is_help=True)


@methods_app.command("list")
def list_methods() -> None:
    """List the registered fusion methods (built-in and plugins) and where each one's weights come from."""
    from rich.console import Console
    from rich.table import Table

    from ivifbench.fusion import METHODS
    from ivifbench.fusion.zoo.common import weights_status

    table = Table("name", "version", "colour", "weights", "description")
    for name in METHODS.names():
        try:
            info = METHODS.get(name).info
        except Exception as exc:  # a broken plugin is listed, not fatal
            table.add_row(name, "?", "?", "?", f"[red]cannot load: {exc}")
            continue
        weights = weights_status(name, info.card) if info.needs_weights else "-"
        table.add_row(name, info.version, info.colour_mode, weights, info.description)
    Console().print(table)


@methods_app.command("info")
def info(name: str = typer.Argument(..., help="Method name.")) -> None:
    """Show a method's metadata (paper, code, licence, weights, training data) and its declared parameters."""
    from ivifbench.fusion import METHODS
    from ivifbench.fusion.params import describe
    from ivifbench.fusion.zoo.common import weights_env_var, weights_status

    cls = METHODS.get(name)
    meta = cls.info
    skip = {"params", "card"}
    for key, value in meta.to_dict().items():
        if key not in skip and value not in ("", (), None):
            typer.echo(f"{key:>15}: {', '.join(value) if isinstance(value, tuple) else value}")
    if meta.needs_weights:
        typer.echo(f"{'weights':>15}: {weights_status(name, meta.card)} (set ${weights_env_var(name)} or --weights)")
    if meta.card is not None:
        typer.echo("published network:")
        for key, value in meta.to_dict()["card"].items():
            typer.echo(f"{key:>15}: {', '.join(value) if isinstance(value, (tuple, list)) else value}")
    model = getattr(cls, "Params", None)
    if model is None:
        typer.echo("parameters: not declared (any key=value is passed through unchecked)")
        return
    rows = describe(model)
    typer.echo("parameters:" + ("" if rows else " none"))
    for pname, ptype, default, text in rows:
        typer.echo(f"  {pname} ({ptype}, default {default}): {text}")


@methods_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="A published network with official weights (ivifbench methods list)."),
    url: str | None = typer.Option(None, "--url", help="Download from this mirror instead of the pinned URL."),
    out: Path | None = typer.Option(None, "--out", help="Where to store the file (default: the user cache)."),
) -> None:
    """Download a method's official weights from their pinned URL, check the sha256 and store them.

    The only command that downloads anything; runs never fetch by themselves.
    """
    from ivifbench.errors import IvifError
    from ivifbench.fusion import METHODS
    from ivifbench.fusion.zoo.common import fetch_weights, weights_env_var

    card = METHODS.get(name).info.card
    if card is None:
        raise IvifError(f"method '{name}' has no official weights to fetch (only published networks do)")
    typer.echo(f"downloading {url or card.weights_url}", err=True)
    path, downloaded = fetch_weights(name, card, url=url, dest=out)
    typer.echo(f"{'stored' if downloaded else 'already present'}: {path} (sha256 {card.weights_sha256[:12]}… verified)")
    typer.echo(f"use it with --weights {path}, or: export {weights_env_var(name)}={path}")


@methods_app.command("convert")
def convert(
    name: str = typer.Argument(..., help="A published network (caf, tardal, ...)."),
    weights: Path = typer.Option(..., "--weights", help="The official weights file."),
    out: Path = typer.Option(..., "--out", help="Output .safetensors file."),
) -> None:
    """Rewrite a method's weights as a plain safetensors file (read without pickle), which the method also loads."""
    from ivifbench.errors import IvifError
    from ivifbench.fusion import METHODS
    from ivifbench.fusion.base import file_sha256
    from ivifbench.fusion.zoo.common import save_safetensors

    cls = METHODS.get(name)
    if not hasattr(cls, "read_weights"):
        raise IvifError(f"method '{name}' has no weights to convert (only published networks do)")
    if not weights.is_file():
        raise IvifError(f"{weights}: weights file not found")
    state = cls.read_weights(weights)  # checked against the network: every key and shape
    meta = {
        "method": name,
        "version": cls.info.version,
        "source_file": weights.name,
        "source_sha256": file_sha256(weights),
    }
    save_safetensors(state, out, meta)
    typer.echo(f"{out}: {len(state)} tensors written (from {weights.name})")


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
    batch_size: int = typer.Option(1, min=1, help="Pairs of one size fused together."),
    param: list[str] = typer.Option([], "--param", help="Method parameter as key=value (repeatable)."),
) -> None:
    """Fuse every IR/visible pair of two folders with one method."""
    from ivifbench.devices import check_device
    from ivifbench.fusion import create_method
    from ivifbench.fusion.apply import fuse_pairs
    from ivifbench.imageio import pair_folders
    from ivifbench.params import parse_assignments
    from ivifbench.paths import check_output_folder, check_outputs_apart

    device = check_device("--device", device) or "cpu"
    check_output_folder("--out", out)
    check_outputs_apart({"--out": out}, {"--ir": ir, "--vis": vis})
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

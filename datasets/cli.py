"""Placeholder: `ivifbench datasets` (list | check | synth)."""

import typer

app = typer.Typer(help="List, check and synthesise datasets.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """List datasets."""

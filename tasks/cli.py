"""Placeholder: task commands."""

import typer

app = typer.Typer(help="Run a downstream task on one method's fused images.", no_args_is_help=True)

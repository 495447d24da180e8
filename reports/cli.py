"""Placeholder until reports land (issue 8)."""

import typer


def report() -> None:
    """Build reports (not yet implemented)."""
    raise typer.Exit(3)

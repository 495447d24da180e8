"""Placeholder until the metric engine lands (issue 3)."""

import typer


def score() -> None:
    """Score fused images (not yet implemented)."""
    raise typer.Exit(3)

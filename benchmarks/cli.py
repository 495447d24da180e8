"""Placeholder until the sweep runner lands (issue 8)."""

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def run() -> None:
        """Run a suite (not yet implemented)."""
        raise typer.Exit(3)

"""Placeholder: methods / fuse / train."""

import typer


def register(app: typer.Typer) -> None:
    pass

"""User-facing errors: the CLI prints their message as one line and exits non-zero (no traceback unless --debug)."""


class IvifError(Exception):
    """An error caused by the user's input or environment; its message says what is wrong and what to do."""

    exit_code = 2


class InputError(IvifError):
    """A bad input file or folder (missing, unreadable, wrong size, wrong depth)."""


class NotFoundError(IvifError):
    """An unknown registry name, or a file the user named that is not there."""

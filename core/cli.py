"""The ``ivifbench`` command line. Each concept folder owns its commands; this module assembles them.

Command modules import heavy libraries (torch models, ultralytics, mmseg) inside their functions, so ``--help`` is fast.
User errors (:class:`ivifbench.errors.IvifError`) print one line on stderr and exit non-zero; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import sys

import typer

from ivifbench import __version__
from ivifbench.errors import IvifError

app = typer.Typer(
    name="ivifbench",
    help="Infrared-visible image fusion benchmark: fusion metrics and downstream tasks in one leaderboard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ivifbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    _state["debug"] = debug


def _assemble() -> None:
    from ivifbench.benchmarks.cli import register as register_benchmarks
    from ivifbench.benchmarks.task_cli import app as task_app
    from ivifbench.datasets.cli import app as datasets_app
    from ivifbench.fusion.cli import register as register_fusion
    from ivifbench.merge import merge
    from ivifbench.metrics.cli import metrics_app, score
    from ivifbench.reports.cli import report
    from ivifbench.reports.export import export

    app.add_typer(datasets_app, name="datasets")
    register_fusion(app)  # methods, fuse, train
    app.command(help="Score fused images with the fusion-quality metrics.")(score)
    app.add_typer(metrics_app, name="metrics")
    app.command(help="Build report tables (md, tex, csv, html) from a results store.")(report)
    app.add_typer(task_app, name="task")
    register_benchmarks(app)  # run, validate
    app.command(help="Export a results store as JSON, CSV or Parquet files to share.")(export)
    app.command(help="Merge results stores from several machines into one, by unit key.")(merge)


_assemble()


def environment_error_line(exc: BaseException) -> str | None:
    """One line for the environment faults a user can cause and fix (read-only or full disk, damaged store), else None.

    The one translation point for ``OSError``/``sqlite3`` errors that reach the CLI, instead of a try/except per write.
    """
    import errno
    import sqlite3

    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
        where = exc.filename if exc.filename is not None else "the output folder"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"cannot write {where}: disk full; free space or choose another --out"
        why = "read-only file system" if exc.errno == errno.EROFS else "permission denied"
        return f"cannot write {where}: {why}; choose another --out"
    if isinstance(exc, OSError) and exc.errno in (errno.EEXIST, errno.ENOTDIR) and exc.filename is not None:
        return f"cannot write {exc.filename}: a file stands where a folder is needed; choose another --out"
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller --batch-size, fewer --workers, or lower IVIFBENCH_MAX_PIXELS"
    cause = exc.__cause__ or exc.__context__  # pandas wraps sqlite3's error in its own DatabaseError
    if not isinstance(exc, sqlite3.DatabaseError) and isinstance(cause, sqlite3.DatabaseError):
        exc = cause
    if isinstance(exc, sqlite3.DatabaseError):
        msg = str(exc)
        if "disk is full" in msg:
            return "cannot write the results store: disk full; free space or choose another --out"
        if "readonly" in msg or "read-only" in msg:
            return "cannot write the results store: read-only file system; choose another --out"
        if "malformed" in msg or "not a database" in msg:
            return (
                f"the results store is damaged ({msg}); move results.db aside and rerun the same command to "
                "recompute, or salvage it with `sqlite3 results.db .recover`"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line on stderr."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except IvifError as exc:
        if _state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # click usage errors are handled below; anything else is a bug or an environment problem
        # typer vendors its own click (typer._click), so usage errors are recognised by shape, not by class
        code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show") and isinstance(code, int):
            exc.show()
            return code
        if _state["debug"]:
            raise
        line = environment_error_line(exc)
        if line is not None:
            print(f"error: {line}", file=sys.stderr)
            return 1
        print(f"error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) else 0


def entry() -> None:
    """The program's entry point (the ``ivifbench`` script and ``python -m ivifbench.cli``): :func:`main`, then exit.

    Once the command is over, SIGINT and SIGTERM are ignored while the interpreter shuts down (seconds, with torch
    and worker pools to tear down): the work is done and its outcome printed, so a late Ctrl-C must not turn it into
    a silent death by signal. Python leaves ignored signals ignored through finalisation. Not done in :func:`main`,
    which tests and the API call in-process.

    The objects alive at that point are frozen out of the garbage collector: the interpreter's final collections
    would otherwise walk torch's whole object graph (~0.3 s of every command that imported it). Exit handlers,
    ``weakref.finalize`` callbacks and module teardown still run; only cyclic garbage left at exit is not collected.
    """
    import gc
    import signal

    code = main()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()

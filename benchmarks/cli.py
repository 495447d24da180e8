"""``ivifbench run`` and ``ivifbench validate``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        suite: str = typer.Argument(
            None, help="Suite YAML file, or a built-in suite name (quick, paper, full). Default: the quick suite."
        ),
        out: Path = typer.Option(
            Path("ivifbench-out"), "--out", "-o", help="Output folder (results.db, fused/, report/)."
        ),
        workers: int = typer.Option(
            None, "--workers", "-j", min=0, help="Worker processes (0: run in this process). Default: cores/2."
        ),
        executor: str = typer.Option("local", "--executor", help="local (processes), ray or slurm (via submitit)."),
        address: str = typer.Option(
            None, "--address", help="Ray cluster address (with --executor ray); default: a local Ray."
        ),
        partition: str = typer.Option(None, "--partition", help="Slurm partition (with --executor slurm)."),
        gpus_per_unit: int = typer.Option(
            0, "--gpus-per-unit", help="GPUs per Slurm job, one job per unit (>0 makes the device cuda)."
        ),
        cpus_per_unit: int = typer.Option(2, "--cpus-per-unit", help="CPUs per Slurm job."),
        time_limit: int = typer.Option(24 * 60, "--time-limit", help="Minutes per Slurm job."),
        overwrite: str = typer.Option(
            "missing", "--overwrite", help="never | missing | always: which stored units to redo."
        ),
        device: str = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:1 … (default: the suite's, auto)."),
        no_report: bool = typer.Option(False, "--no-report", help="Do not write the report at the end."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
        timeout: str = typer.Option(
            None,
            "--timeout",
            help="Seconds a unit may run before it is killed and recorded failed: N for every kind, or "
            "fuse=N,score=N,task=N (0: no limit). Default: the suite's timeouts:, else fuse/score 2 h, task 48 h.",
        ),
        wait: bool = typer.Option(
            False, "--wait", help="If another run writes into --out, wait for it to finish instead of exiting."
        ),
    ) -> None:
        """Run a benchmark suite: fuse, score, train+evaluate downstream tasks; resumable; writes a leaderboard."""
        from ivifbench.benchmarks.runner import RunInterrupted, parse_timeouts, run_suite, summary_text
        from ivifbench.benchmarks.suite import load_suite, resolve_suite_path
        from ivifbench.errors import IvifError

        if overwrite not in ("never", "missing", "always"):
            raise IvifError(f"--overwrite must be never, missing or always, not '{overwrite}'")
        if executor not in ("local", "ray", "slurm"):
            raise IvifError(f"--executor must be local, ray or slurm, not '{executor}'")
        options = None
        if executor == "slurm":
            options = {"partition": partition, "gpus_per_unit": gpus_per_unit, "cpus_per_unit": cpus_per_unit}
            options["timeout_min"] = time_limit
            if gpus_per_unit > 0 and device is None:
                device = "cuda"  # the driver may have no GPU; the jobs do
        elif partition or gpus_per_unit:
            raise IvifError("--partition and --gpus-per-unit go with --executor slurm")
        limits = parse_timeouts(timeout)
        ref = suite or "quick"
        path = resolve_suite_path(ref)
        s = load_suite(path)
        typer.echo(f"suite '{s.name}' v{s.version} ({path}) → {out.resolve()}", err=True)
        try:
            summary = run_suite(
                s,
                out,
                workers=workers,
                executor=executor,
                address=address,
                executor_options=options,
                overwrite=overwrite,  # type: ignore[arg-type]
                device=device,
                progress=not quiet,
                report=not no_report,
                suite_source=str(path),
                timeouts=limits,
                wait=wait,
            )
        except RunInterrupted as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(exc.exit_code) from None
        typer.echo(summary_text(summary))
        if summary.exit_code:
            raise typer.Exit(summary.exit_code)

    @app.command()
    def validate(
        suite: str = typer.Argument(..., help="Suite YAML file, or a built-in suite name."),
    ) -> None:
        """Check a suite before any work starts: every problem at once (names, roots, weights, splits, protocols)."""
        from ivifbench.benchmarks.suite import SuiteError, load_suite_dict, parse_suite
        from ivifbench.benchmarks.validate import check_suite

        data, path = load_suite_dict(suite)
        try:
            s = parse_suite(data, str(path))
        except SuiteError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        errors, notes = check_suite(s)
        for n in notes:
            typer.echo(f"note: {n}")
        if errors:
            typer.echo(f"{path}: {len(errors)} problem(s):", err=True)
            for e in errors:
                typer.echo(f"  - {e}", err=True)
            raise typer.Exit(2)
        from ivifbench.benchmarks.validate import RULES

        n_tasks = sum(len(t.seeds) * len(t.methods or s.methods) for t in s.tasks)
        typer.echo(
            f"{path}: suite '{s.name}' v{s.version} is valid: {len(s.methods)} methods, {len(s.datasets)} datasets, "
            f"{'no' if s.metrics is None else len(s.metrics.names) if s.metrics.names != 'all' else 'all'} metrics, "
            f"{len(s.tasks)} tasks ({n_tasks} task runs); {len(RULES)} kinds of check passed"
        )

"""``dlae sweep`` (Optuna sweeps over a base config) and ``dlae runs`` (the runs found under a folder)."""

from __future__ import annotations

from pathlib import Path

import click


def _folder(sweep_path: str, output: str | None) -> Path:
    path = Path(sweep_path)
    return Path(output) if output else path.parent / path.stem


@click.command()
@click.argument("sweep_path", metavar="SWEEP", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Sweep folder: trials.csv, sweep.db, runs/<hash>/ (default: beside SWEEP, named as it).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Trials at once on this machine; with GPUs visible each job gets its own (round robin "
                   "when jobs outnumber them).")
@click.option("--storage", default=None,
              help="Optuna database URL (postgresql://..., mysql://...) shared by the processes of one sweep "
                   "(default: sqlite in the sweep folder, or the sweep file's \"storage\").")
@click.option("--status", is_flag=True, help="Do not run: print the trials by objective, write results.csv and "
                                              "plots into the sweep folder.")
def sweep(sweep_path: str, output: str | None, jobs: int, storage: str | None, status: bool) -> None:
    """Run the trials of SWEEP (a sweep file naming a base config, the config paths to vary, the search
    and the objective) on Optuna. Run it again to continue an interrupted sweep; start it on several
    machines with one --storage to share the trials."""
    from dlae_core.experiments.sweep.spec import read_sweep
    from dlae_core.experiments.sweep.study import need_optuna

    need_optuna()  # before anything else: one line naming the extra
    folder = _folder(sweep_path, output)
    spec, base = read_sweep(sweep_path, check_config=not status)
    if status:
        return _status(spec, folder, storage)
    from dlae_core.experiments.sweep.runner import SweepInterrupted, run_sweep

    try:
        done, planned = run_sweep(spec, base, folder, jobs=jobs, storage=storage, echo=click.echo)
    except SweepInterrupted:
        click.echo(f"interrupted; finished trials are kept: run the same command again to continue "
                   f"(trials in {folder / 'trials.csv'})", err=True)
        raise click.exceptions.Exit(130) from None
    click.echo(f"done: {done} of {planned} trials finished; trials in {folder / 'trials.csv'}; "
               f"results: dlae sweep {sweep_path}{f' -o {output}' if output else ''} --status")


def _status(spec, folder: Path, storage: str | None) -> None:
    from rich.table import Table

    from dlae_core.cli.render import cli_console
    from dlae_core.experiments.sweep.plots import write_plots
    from dlae_core.experiments.sweep.report import sorted_rows, trial_rows, write_trials_csv
    from dlae_core.experiments.sweep.runner import open_existing

    study = open_existing(spec, folder, storage)
    columns, rows = trial_rows(study, spec)
    ranked = sorted_rows(rows, spec.metric, spec.direction)
    table = Table(title=f"sweep {spec.study!r}: {spec.metric} ({spec.direction}), best first")
    shown = [c for c in columns if c != "run"]
    for column in shown:
        table.add_column(column, overflow="fold")
    for row in ranked:
        table.add_row(*(_cell(row[c]) for c in shown))
    cli_console().print(table)
    results = write_trials_csv(study, spec, folder, "results.csv", rows=(columns, ranked))
    written, notes = write_plots(study, spec, rows, folder)
    for note in notes:
        click.echo(f"note: {note}")
    click.echo("wrote " + ", ".join(str(p) for p in [results, *written]))


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@click.command()
@click.argument("folder", required=False, default=".", type=click.Path(file_okay=False))
def runs(folder: str) -> None:
    """List the runs under FOLDER (default: here): config hash, status, best value, where."""
    from rich.table import Table

    from dlae_core.cli.render import cli_console
    from dlae_core.experiments.folders import find_runs

    found = find_runs(folder)
    if not found:
        click.echo(f"no runs under {folder!r} (a run leaves <model>.run.json beside its outputs)")
        return
    table = Table(title=f"{len(found)} run(s) under {folder}")
    for column in ("hash", "status", "technique", "epochs", "best", "started", "folder"):
        # the hash and status whole (they are what one searches for); the rest may fold
        table.add_column(column, overflow="fold", no_wrap=column in ("hash", "status"))
    for run in found:
        best = run["best"]
        best_text = f"{best['metric']} {best['value']:.6g} (epoch {best['epoch']})" if best else ""
        table.add_row(run["hash"], run["status"], run["technique"], str(run["epochs"] or ""), best_text,
                      run["started"], run["folder"])
    cli_console().print(table)


COMMANDS = (sweep, runs)

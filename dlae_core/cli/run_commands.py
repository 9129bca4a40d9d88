"""``dlae run`` and ``dlae predict``: the technique's session, carried out on the chosen backend."""

from __future__ import annotations

import click

from dlae_core.cli.loading import load_and_plan

BACKEND = click.option("--backend", "-b", default="torch", show_default=True, help="Framework to run on.")
OVERWRITE = click.option("--overwrite", is_flag=True, help="Allow replacing existing output files.")
PREDICTIONS = click.option("--predictions", type=click.Path(dir_okay=False), default=None,
                           help="Predictions HDF5 file (default: <kind>_predictions_date_..._time_....h5 here).")
QUIET = click.option("--quiet", "-q", is_flag=True, help="Silent mode: one line per epoch, no progress bars.")
WORKERS = click.option("--workers", type=click.IntRange(min=0), default=None,
                       help="Data-loader worker processes (default: from the CPU count).")


def _execute(config_path: str, backend: str, session: str | None, **options) -> None:
    from dlae_core.running.run import Run, RunOptions

    config, plan, registry = load_and_plan(config_path, check_data=True, session=session, backend=backend)
    engine = registry.backend(backend)
    technique = registry.techniques[plan.technique]
    run = Run(config, plan, registry, RunOptions(backend=backend, **options))
    kind = session or config.config_file.type_signal
    if kind == "Inference":
        path, count = technique.predict(run, engine)
        click.echo(f"wrote {count} predictions to {path}")
    else:
        technique.train(run, engine)


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@BACKEND
@OVERWRITE
@PREDICTIONS
@QUIET
@WORKERS
def run(config_path: str, backend: str, **options) -> None:
    """Carry out CONFIG's session (Train, Train from Checkpoint or Inference)."""
    _execute(config_path, backend, None, **options)


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@BACKEND
@OVERWRITE
@PREDICTIONS
@QUIET
@WORKERS
def predict(config_path: str, backend: str, **options) -> None:
    """Predict on paths.test_X with paths.load_model, whatever CONFIG's type_signal says."""
    _execute(config_path, backend, "Inference", **options)


COMMANDS = (run, predict)

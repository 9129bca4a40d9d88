"""``dlae run`` and ``dlae predict``: the technique's session, carried out on the chosen backend."""

from __future__ import annotations

import click

from dlae_core.cli.loading import load_and_plan
from dlae_core.errors import UsageError

BACKEND = click.option("--backend", "-b", default="torch", show_default=True, help="Framework to run on.")
OVERWRITE = click.option("--overwrite", is_flag=True, help="Allow replacing existing output files.")
PREDICTIONS = click.option("--predictions", type=click.Path(dir_okay=False), default=None,
                           help="Predictions HDF5 file (default: <kind>_predictions_date_..._time_....h5 here).")
QUIET = click.option("--quiet", "-q", is_flag=True, help="Silent mode: one line per epoch, no progress bars.")
WORKERS = click.option("--workers", type=click.IntRange(min=0), default=None,
                       help="Data-loader worker processes (default: from the CPU count).")


MLFLOW = click.option("--mlflow", metavar="URI", default=None,
                      help="Also log the session to MLflow at this tracking URI (e.g. sqlite:///mlflow.db; experiment "
                           "$MLFLOW_EXPERIMENT_NAME, default dlae): config, metrics per epoch, record, report, model. "
                           "Extra mlflow.")
NO_CACHE = click.option("--no-cache", is_flag=True,
                        help="Read the data files every epoch instead of keeping data that fit in memory in memory "
                             "(training_configurations.cache_data: false).")
RESUME = click.option("--resume", is_flag=True,
                      help="Continue from save_configurations.save_checkpoints_path (no config edit needed).")
PROCESSES = click.option("--processes", type=click.IntRange(min=1), default=None,
                         help="Data-parallel processes to start on this machine (default: one per GPU for hardware "
                              "multi-gpu on torch, else 1; with hardware cpu: CPU processes). Not needed under "
                              "torchrun or srun. See docs/DISTRIBUTED.md.")


def _execute(config_path: str, backend: str, session: str | None, *, resume: bool = False,
             no_cache: bool = False, **options) -> None:
    from dlae_core.running.allocator import keep_freed_memory
    from dlae_core.running.run import Run, RunOptions

    from dlae_core.cli.processes import data_parallel, first_line, launched, secondary_session

    keep_freed_memory()  # before the data and the model are allocated
    adjust = _adjustments(resume=resume, no_cache=no_cache)
    config, plan, registry = load_and_plan(config_path, check_data=True, session=session, backend=backend,
                                           adjust=adjust)
    engine = registry.backend(backend)
    kind = session or config.config_file.type_signal
    if kind != "Inference" and options.get("predictions"):
        raise UsageError(f"--predictions applies to Inference sessions; {config_path} is a {kind} session "
                         f"(predict with: dlae predict --backend {backend} {config_path} --predictions "
                         f"{options['predictions']})")
    if launched(engine, config, options.get("processes"), training=kind != "Inference"):
        return  # the worker processes it started ran the session (data-parallel)
    with data_parallel(engine, config) as (world, where):
        technique = registry.techniques[plan.technique]
        run = Run(config, plan, registry, RunOptions(backend=backend, **options))
        if not world.primary:  # rank 0 writes the outputs, the records and the progress
            secondary_session(technique, run, engine, training=kind != "Inference")
            return
        if kind == "Inference":
            _predict(technique, run, engine, config_path)
            return
        line = first_line(engine, world, where, config)
        if line:
            click.echo(line)
        _train(technique, run, engine, config_path)


def _train(technique, run, engine, config_path: str) -> None:
    from dlae_core.running.lock import hold_locks
    from dlae_core.running.record import RunRecord

    # the run record (<first output>.run.json: config, hash, versions, device, status, history) beside the
    # outputs, where it is on the first and the last line; pictures and report.html beside it
    record = RunRecord.begin(run, config_path)
    record.describe_device(engine)
    run = _with_mlflow(_with_report(run, record, technique), record, technique)
    with hold_locks(technique.output_paths(run.config)), record.session(click.echo):
        try:
            result = technique.train(run, engine)
        except KeyboardInterrupt:
            click.echo(f"interrupted; {resume_hint(run.config, run.options.backend, config_path)}", err=True)
            raise click.exceptions.Exit(130) from None
        record.done(result)
        _print_end(technique, run, result)


def _predict(technique, run, engine, config_path: str) -> None:
    import functools

    from dlae_core.report import finish_inference
    from dlae_core.running.record import RunRecord

    # the record goes beside the predictions file (<predictions>.run.json), pictures in <predictions>.report/
    record = RunRecord.begin_inference(run, config_path)
    record.describe_device(engine)
    record.at_end.append(functools.partial(finish_inference, technique=technique, config=run.config,
                                           registry=run.registry))
    _with_mlflow(run, record, None)
    with record.inference_session(click.echo) as session:
        path, count = technique.predict(run, engine)
        session.written(path, count)
        click.echo(f"wrote {count} predictions to {path}")


def _with_mlflow(run, record, technique):
    """``run`` logging to MLflow (``--mlflow URI``; dlae_core.report.mlflow_logger) beside ``record``;
    the store is opened here, so a wrong URI or a missing extra is one line before anything runs.
    Call it after the other end hooks are attached (the report is logged whole)."""
    import attrs

    if not run.options.mlflow:
        return run
    from dlae_core.report.mlflow_logger import MlflowLogger

    outputs = (lambda: technique.written_outputs(run.config)) if technique is not None else None
    logger = MlflowLogger(run.options.mlflow, record, outputs, echo=lambda line: click.echo(line, err=True))
    logger.attach(record)
    return attrs.evolve(run, options=attrs.evolve(run.options, watchers=(*run.options.watchers, logger)))


def _with_report(run, record, technique):
    """``run`` drawing its pictures beside ``record`` (and the page rebuilt with the final record)."""
    import functools

    import attrs

    from dlae_core.report import finish

    if record.report_folder is None:
        return run
    record.at_end.append(functools.partial(finish, technique=technique, config=run.config))
    return attrs.evolve(run, options=attrs.evolve(run.options, report_folder=str(record.report_folder)))


def _print_end(technique, run, result) -> None:
    for note in getattr(result, "notes", ()):
        click.echo(f"note: {note}")
    save = run.config.save_configurations
    if getattr(result, "epochs_run", None) == 0 and save.save_model_switch:
        # epochs 0 (or a checkpoint already at the last epoch): say plainly that nothing was trained
        click.echo(f"done: no epochs to run (training_configurations.epochs "
                   f"{run.config.training_configurations.epochs}); final model {save.save_model_path!r}")
        return
    written = ", ".join(f"{what} {str(path)!r}" for what, path in technique.written_outputs(run.config))
    click.echo(f"done: {written or 'no output files (save_configurations switches are off)'}")


def resume_from_checkpoint(config):
    """``config`` continuing from its own checkpoint file (``dlae run --resume``)."""
    from pathlib import Path

    path = config.save_configurations.save_checkpoints_path
    if not (config.save_configurations.save_checkpoints_switch and path):
        raise UsageError("--resume continues from save_configurations.save_checkpoints_path, but checkpoints "
                         "are off in this config (save_checkpoints_switch)")
    if not Path(path).is_file():
        raise UsageError(f"--resume: there is no checkpoint to continue from yet ({path!r} does not exist)")
    return config.evolve(paths={"load_checkpoint": path}, config_file={"type_signal": "Train from Checkpoint"})


def _adjustments(*, resume: bool, no_cache: bool):
    """The config changes the command line asks for (None: none), applied before the config is checked."""
    if not (resume or no_cache):
        return None

    def adjust(config):
        if no_cache:
            config = config.evolve(training_configurations={"cache_data": False})
        return resume_from_checkpoint(config) if resume else config

    return adjust


def resume_hint(config, backend: str, config_path: str) -> str:
    """How to go on after an interrupted training session, in one line."""
    from pathlib import Path

    save = config.save_configurations
    if save.save_checkpoints_switch and save.save_checkpoints_path and Path(save.save_checkpoints_path).is_file():
        return f"continue from the last checkpoint with: dlae run --backend {backend} {config_path} --resume"
    return "no checkpoint was written yet, so there is nothing to resume from (turn on save_checkpoints_switch)"


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@BACKEND
@OVERWRITE
@PREDICTIONS
@QUIET
@WORKERS
@RESUME
@NO_CACHE
@PROCESSES
@MLFLOW
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
@PROCESSES
@click.option("--sliding-window", is_flag=True,
              help="Predict images larger than the model input by overlapping patches (FCN, GAN).")
@click.option("--overlap", type=float, default=None, help="Sliding-window overlap in [0, 1) (default: config, 0.5).")
@click.option("--blending", type=click.Choice(["gaussian", "constant"]), default=None,
              help="Sliding-window blending (default: config, gaussian).")
@click.option("--image-format", type=click.Choice(["nifti", "png"]), default=None,
              help="Format of images written back for a folder test_X (default: as the sources).")
@click.option("--slice-axis", type=int, default=None,
              help="Axis (0, 1, 2) along which a 2-D model predicts the volumes of a folder test_X slice by slice "
                   "(default: 2).")
def predict(config_path: str, backend: str, sliding_window: bool, overlap: float | None, blending: str | None,
            image_format: str | None, slice_axis: int | None, **options) -> None:
    """Predict on paths.test_X with paths.load_model, whatever CONFIG's type_signal says. test_X may
    be an HDF5 file or a folder of NIfTI/DICOM/PNG/TIFF images; load_model a model file or a folder
    written by dlae export (run with onnxruntime alone)."""
    from dlae_core.medical.predicting import PredictExtras, predict_command

    extras = PredictExtras(sliding_window, overlap, blending, image_format, slice_axis)
    if not predict_command(config_path, backend, extras, **options):
        _execute(config_path, backend, "Inference", **options)


COMMANDS = (run, predict)

"""The inference session, the same on every backend: claim the predictions file, rebuild the
saved network, read ``paths.test_X`` as in training, write one dataset per sample."""

from __future__ import annotations

from pathlib import Path

from dlae_core.running.distributed import RankShare, current_world, ordered_outputs
from dlae_core.running.lock import hold_locks
from dlae_core.running.prediction import claim_predictions_path, saved_plan
from dlae_core.running.run import write_predictions


def load_saved_network(technique, backend, path: str, placement):
    """(model in inference mode, plan of the saved config, payload) of a model file."""
    from dlae_core.config.parser import parse_config

    payload = backend.read_model_file(path)
    plan = saved_plan(payload, backend.registry, path, technique=technique.saved_technique())
    role = payload.get("graph_role", "model")
    graph = plan.graphs[role]
    saved = parse_config(payload["config"], backend.registry, source=path)
    model = technique.build_network(backend, role, graph, saved, placement)
    backend.restore(model, graph, payload, path)
    return model, plan, payload


def predict_with_model(technique, run, backend, write=None) -> tuple[Path, int]:
    """Predictions of ``paths.load_model`` for every sample of ``paths.test_X``; the predictions file
    is locked against another prediction writing it for the whole session. ``write(technique, run,
    backend, out_path) -> count`` replaces the plain pass (sliding windows, ONNX models:
    dlae_core.medical.predicting). In a data-parallel run each process predicts its parts of the
    batches and rank 0 writes them all, in input order; the others write nothing."""
    world = current_world()
    if world.distributed and not world.primary:
        return Path(), (write or _write)(technique, run, backend, None)
    out_path = claim_predictions_path(run)
    try:
        with hold_locks([out_path], "prediction"):
            return out_path, (write or _write)(technique, run, backend, out_path)
    except BaseException:
        # a claimed default name that never received predictions is not left behind empty
        if not run.options.predictions and out_path.is_file() and out_path.stat().st_size == 0:
            out_path.unlink()
        raise


def _write(technique, run, backend, out_path: Path | None) -> int:
    """Predict and write ``out_path`` (None: a data-parallel rank other than 0, which only predicts
    its part and hands it to rank 0)."""
    config = run.config
    placement = backend.placement(config, len(run.plan.main.input_shapes[0]) - 1)
    model, plan, payload = load_saved_network(technique, backend, config.paths.load_model, placement)
    job = technique.prediction_job(run, plan, payload)
    batch_size, collective = config.training_configurations.batch_size, backend.collective()
    if out_path is None and collective is None:
        return 0  # a backend whose processes share no results: rank 0 predicts every sample
    if collective is None:
        batches = backend.predict_batches(model, job.samples, batch_size, run.options.workers, placement)
        items = ((name, output) for names, outputs in batches for name, output in zip(names, job.outputs(outputs)))
    else:  # this process's parts of the global batches; rank 0 gathers them in input order
        share = RankShare(job.samples, batch_size, collective.world)
        batches = backend.predict_batches(model, share, batch_size, run.options.workers, placement)
        items = ordered_outputs(((names, job.outputs(outputs)) for names, outputs in batches), share.steps, collective)
    if out_path is None:
        return sum(1 for _ in items)  # nothing: rank 0 receives them
    return write_predictions(out_path, items, job.attributes(backend.name))

"""The training session of a supervised technique, the same on every backend.

Order of work: refuse existing outputs, choose the placement, seed, prepare the data (core), let
the backend build the step engine (model, loss, optimizer), resume from a checkpoint, make the
backend's loaders (over data kept in memory where they fit: dlae_core.data.memory), and run the core's
epoch loop. With no epochs left to run (``epochs: 0``, or a
checkpoint already at ``epochs``) the model is saved as built (or resumed) and no batch is read.
"""

from __future__ import annotations

from dlae_core.data.memory import keep_in_memory
from dlae_core.report.reporter import for_session
from dlae_core.techniques.base import TrainResult
from dlae_core.training.epoch_gate import epoch_gate
from dlae_core.training.keep_better import KeepBetter


def train_supervised(technique, run, backend) -> TrainResult:
    """A Train / Train from Checkpoint session of ``technique`` (a SupervisedTechnique) on ``backend``."""
    config = run.config
    technique.refuse_outputs(run)
    graph = run.plan.main
    placement = backend.placement(config, len(graph.input_shapes[0]) - 1)
    backend.seed(config.augmentation.random_seed)
    data = technique.training_data(run, placement)
    engine = technique.training_engine(run, backend, data, placement)
    loop = technique.training_loop(run, engine, placement.note)
    reporter, skipped = for_session(technique, run, engine, backend)  # pictures, report.html (dlae run)
    loop.observers += ([reporter] if reporter is not None else []) + list(run.options.watchers)
    loop.observers += epoch_gate(config)  # a watching dlae sweep looks at each epoch before the next
    loop.note = "; ".join(line for line in (loop.note, skipped) if line)
    # read before anything is written: the earlier run's files are what a worse model must not replace
    loop.keep = KeepBetter.read(config, backend.read_model_file)
    if config.paths.load_checkpoint:
        loop.load_state(engine.resume(config.paths.load_checkpoint))
    if loop.start_epoch >= config.training_configurations.epochs:
        loop.save_final_model(loop.start_epoch - 1)
        return TrainResult(0, [], engine.model, notes=loop.keep.notes)
    data.train, data.validation, memory = keep_in_memory(data.train, data.validation,
                                                         enabled=config.training_configurations.cache_data)
    loop.lines.append(memory)
    batch_size, workers = config.training_configurations.batch_size, run.options.workers
    batches, set_epoch = backend.training_batches(data.train, batch_size, workers, placement)
    validation = (backend.evaluation_batches(data.validation, batch_size, workers, placement)
                  if data.validation is not None else None)
    result = loop.run(batches, validation, set_epoch=set_epoch)
    return TrainResult(result.last_epoch + 1 - loop.start_epoch, result.history, engine.model, result.stopped_early,
                       result.notes)

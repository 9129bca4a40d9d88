"""``dlae predict`` on data as it comes: a folder (or file) of NIfTI volumes, DICOM series or images as
``paths.test_X``, sliding-window inference, and exported ONNX folders as ``paths.load_model``.

The folder is read into a temporary HDF5 file named as dlae's data files (so preprocessing, data
checks and the predictions file work as for any test_X), a volume as its slices when the model is
a 2-D FCN or GAN (:mod:`dlae_core.medical.slicing`: stacked back into one output per volume), and
the predictions of FCN and GAN models are written back as images beside the predictions file
(:mod:`dlae_core.medical.writeback`). The session itself is the core's
(:func:`dlae_core.running.inference.predict_with_model`) with a writer that slides windows and/or
runs the ONNX model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import attrs
import click

from dlae_core.errors import DataError, Problem, UsageError, problem
from dlae_core.medical.images import read_volume, source_kind
from dlae_core.medical.slicing import SliceRegrouping, check_slice_axis, volume_slices
from dlae_core.medical.sliding import Window, sliding_outputs
from dlae_core.medical.writeback import (SourceInfo, choose_format, images_folder, refuse_images,
                                         write_images)


@attrs.frozen
class PredictExtras:
    """The options ``dlae predict`` adds: sliding windows (None: the config's keys), the format of
    written-back images (None: as the sources), the axis volumes are cut along for a 2-D model
    (None: :data:`~dlae_core.medical.slicing.DEFAULT_SLICE_AXIS`)."""

    sliding_window: bool = False
    overlap: float | None = None
    blending: str | None = None
    image_format: str | None = None
    slice_axis: int | None = None


def is_export_folder(path: str | None) -> bool:
    """Whether ``path`` is a folder written by ``dlae export`` (it holds dlae_export.json)."""
    return bool(path) and (Path(path) / "dlae_export.json").is_file()


def is_image_input(path: str | None) -> bool:
    """Whether ``path`` is a folder of image sources, or one image source (not an HDF5 file)."""
    return bool(path) and (Path(path).is_dir() or source_kind(Path(path)) is not None)


def window_of(config, extras: PredictExtras) -> Window | None:
    """The sliding window asked for by the options or the config, or None."""
    train = config.training_configurations
    if not (extras.sliding_window or train.sliding_window_switch):
        return None
    overlap = train.sliding_window_overlap if extras.overlap is None else extras.overlap
    return Window(overlap, extras.blending or train.sliding_window_blending)


def predict_command(config_path: str, backend: str, extras: PredictExtras, **options) -> bool:
    """Carry out ``dlae predict`` when it needs this module (and return True); False when the plain
    inference session applies (HDF5 test_X, a backend model file, no sliding window)."""
    from dlae_core.config.parser import load_config
    from dlae_core.plugin.registry import get_registry
    from dlae_core.running.paths import resolve_relative_paths

    config = resolve_relative_paths(load_config(config_path, get_registry()), Path(config_path).parent)
    window, onnx = window_of(config, extras), is_export_folder(config.paths.load_model)
    images = is_image_input(config.paths.test_X)
    if window is None and not onnx and not images:
        if extras.overlap is not None or extras.blending is not None:
            raise UsageError("--overlap and --blending apply to sliding-window inference; add --sliding-window")
        if extras.slice_axis is not None:
            raise UsageError("--slice-axis applies to a folder (or file) of images as paths.test_X, whose volumes a "
                             "2-D model predicts slice by slice")
        return False
    _one_process()
    with tempfile.TemporaryDirectory(prefix="dlae-predict-") as tmp:
        _predict(config_path, backend, extras, window, onnx, Path(tmp), options)
    return True


def _one_process() -> None:
    """Sliding windows, image folders and exported models are predicted by one process (a
    data-parallel start would have every process write the same files)."""
    from dlae_core.errors import UnsupportedSettingError
    from dlae_core.running.distributed import current_world

    world = current_world()
    if world.distributed:
        raise UnsupportedSettingError(f"dlae predict with sliding windows, a folder of images or an exported model "
                                      f"runs in one process, not as rank {world.rank} of {world.size}; start it "
                                      f"without torchrun or srun")


def _predict(config_path, backend, extras, window, onnx, tmp: Path, options: dict) -> None:
    from dlae_core.cli.loading import load_and_plan
    from dlae_core.running.inference import predict_with_model
    from dlae_core.running.run import Run, RunOptions

    sources, converted = [], tmp / "test_X.h5"

    def adjust(config):
        nonlocal sources
        if is_image_input(config.paths.test_X):
            sources = convert_inputs(Path(config.paths.test_X), converted, slice_axis_of(config, extras))
            return config.evolve(paths={"test_X": str(converted)})
        return config

    try:
        config, plan, registry = load_and_plan(config_path, check_data=window is None, session="Inference",
                                               backend=None if onnx else backend, adjust=adjust)
        if window is not None:
            _check_window_inputs(config, plan, registry)
    except DataError as exc:
        raise DataError(_relocate(exc.problems, converted, SliceRegrouping(sources))) from None
    technique = registry.techniques[plan.technique]
    writes_images = bool(sources) and technique.map_targets
    fmt = choose_format(sources, extras.image_format) if writes_images else None
    if writes_images and options.get("predictions"):
        refuse_images(images_folder(Path(options["predictions"])), options.get("overwrite", False))
    run = Run(config, plan, registry, RunOptions(backend="onnxruntime" if onnx else backend, **options))
    engine = None if onnx else registry.backend(backend)
    regroup = SliceRegrouping(sources) if sources else None
    path, count = predict_with_model(technique, run, engine, write=_writer(window, onnx, regroup))
    how = [text for text, used in (("sliding windows", window), ("volumes slice by slice", regroup and regroup.sliced))
           if used]
    click.echo(f"wrote {count} predictions to {path}" + (f" ({', '.join(how)})" if how else ""))
    if writes_images:
        refuse_images(images_folder(path), options.get("overwrite", False) or bool(options.get("predictions")))
        folder = write_images(path, sources, fmt, label_maps=_label_maps(technique, registry, config))
        click.echo(f"wrote {len(sources)} {fmt} image(s) to {folder}")


def _label_maps(technique, registry, config) -> bool:
    """FCN outputs become label maps unless the model regresses values (a dense loss); GAN outputs
    are images."""
    if technique.generates_images:
        return False
    loss = registry.losses.get(config.loss_function.loss)
    return loss is None or loss.target != "dense"


def slice_axis_of(config, extras: PredictExtras) -> int | None:
    """The axis volumes are cut along (a 2-D FCN or GAN model), or None (volumes are predicted whole);
    UsageError for ``--slice-axis`` with a model that is not one."""
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry

    registry = get_registry()
    plan = plan_model(config, registry)
    rank = len(plan.main.input_shapes[0]) - 1
    if registry.techniques[plan.technique].map_targets and rank == 2:
        return check_slice_axis(extras.slice_axis)
    if extras.slice_axis is not None:
        raise UsageError(f"--slice-axis: volumes are predicted slice by slice by 2-D FCN and GAN models; this is a "
                         f"{rank}-D {plan.technique} model. Received: --slice-axis {extras.slice_axis}")
    return None


def convert_inputs(path: Path, out: Path, slice_axis: int | None = None) -> list[SourceInfo]:
    """Read every image source of ``path`` into the HDF5 file ``out`` (datasets "0", "1", ... with a
    channel axis, in name order); with ``slice_axis``, each volume as its 2-D slices along that axis
    (one dataset each). DataError with every source that cannot be read."""
    import h5py

    from dlae_core.medical.sources import Source, find_sources

    if path.is_dir() and source_kind(path) != "dicom":
        listed, _ = find_sources(path)
    else:  # one file, or a folder that is one DICOM series
        listed = [Source(path.name, path)]
    if not listed:
        raise DataError([problem(str(path), "no image sources found", expected="PNG/JPEG/TIFF/BMP, NIfTI or DICOM "
                                 "files", received="an empty folder")])
    infos, problems, written = [], [], 0
    with h5py.File(out, "w") as handle:
        for source in listed:
            try:
                volume = read_volume(source.path)
            except DataError as exc:
                problems.extend(exc.problems)
                continue
            sliced = slice_axis is not None and volume.rank == 3
            if sliced:
                arrays = volume_slices(volume.array, volume.rank, slice_axis)
            else:
                arrays = [volume.array if volume.array.ndim > volume.rank else volume.array[..., None]]
            parts = tuple(str(written + i) for i in range(len(arrays)))
            for part, array in zip(parts, arrays):
                handle.create_dataset(part, data=array)
            written += len(parts)
            infos.append(SourceInfo(str(len(infos)), source.key, volume.kind, volume.affine, volume.rank,
                                    volume.source_shape, volume.header, parts, slice_axis if sliced else None))
    if problems:
        raise DataError(problems)
    return infos


def _relocate(problems, converted: Path, regroup: SliceRegrouping) -> list[Problem]:
    """Problems of the temporary test_X file, told in terms of the source files (and slices)."""
    out = []
    for p in problems:
        what = p.what
        for part in regroup.owner:
            what = what.replace(f"{converted}, sample {part!r}", regroup.label(part))
        out.append(attrs.evolve(p, what=what.replace(str(converted), "test_X")))
    return out


def _check_window_inputs(config, plan, registry) -> None:
    """Sliding windows take images of any size, but of the model's rank and channels."""
    from dlae_core.data.hdf5 import SampleFile, with_channel_axis

    technique = registry.techniques[plan.technique]
    if not technique.map_targets:
        raise UsageError(f"sliding-window inference is for models whose output is an image (FCN, GAN); "
                         f"{plan.technique} outputs one result per image")
    for key in ("load_model", "test_X"):
        if not getattr(config.paths, key) or not Path(getattr(config.paths, key)).exists():
            raise DataError([problem(f"paths.{key}", "an Inference session needs it", expected="an existing path",
                                     received=getattr(config.paths, key) or "")])
    want = tuple(plan.main.input_shapes[0])
    pre = config.preprocessing
    repeat = pre.repeat_X_quantity if pre.repeat_X_switch else 1
    problems = []
    with SampleFile(config.paths.test_X) as data:
        for name in data.names():
            shape = with_channel_axis(data.shape(name), len(want) - 1)
            if len(shape) != len(want) or shape[-1] * repeat != want[-1]:
                problems.append(problem("paths.test_X", f"{config.paths.test_X}, sample {name!r}: the input cannot be "
                                        f"cut into patches of the model input {want}", expected=f"{len(want) - 1}-D "
                                        f"images of any size with {want[-1] // repeat} channel(s)", received=shape))
    if problems:
        raise DataError(problems[:1] + ([problem("paths.test_X", f"{len(problems) - 1} more such sample(s)")]
                                        if len(problems) > 1 else []))


class BackendPredictor:
    """A saved model rebuilt on a backend: its plan, payload and prediction loop."""

    def __init__(self, technique, run, backend):
        from dlae_core.running.inference import load_saved_network

        self.backend, self.name = backend, backend.name
        self.placement = backend.placement(run.config, len(run.plan.main.input_shapes[0]) - 1)
        self.model, self.plan, self.payload = load_saved_network(technique, backend, run.config.paths.load_model,
                                                                 self.placement)

    def predict_batches(self, samples, batch_size: int, workers):
        return self.backend.predict_batches(self.model, samples, batch_size, workers, self.placement)


def _writer(window: Window | None, onnx: bool, regroup: SliceRegrouping | None):
    """The ``write`` of predict_with_model: the model (backend or ONNX), each sample whole or by
    sliding windows, stored as the technique's prediction job says, one dataset per source (a
    volume's slices stacked) when test_X was a folder of images."""

    def write(technique, run, backend, out_path: Path) -> int:
        from dlae_core.running.run import write_predictions

        if onnx:
            from dlae_core.medical.onnx_model import OnnxPredictor

            predictor = OnnxPredictor(technique, run, Path(run.config.paths.load_model))
        else:
            predictor = BackendPredictor(technique, run, backend)
        job = technique.prediction_job(run, predictor.plan, predictor.payload)
        batch = run.config.training_configurations.batch_size
        attributes = job.attributes(predictor.name)
        if window is None:
            items = ((name, output) for names, outputs in predictor.predict_batches(job.samples, batch,
                                                                                   run.options.workers)
                     for name, output in zip(names, job.outputs(outputs)))
        else:
            patch = tuple(predictor.plan.main.input_shapes[0][:-1])
            # patches are cut from an image already in memory: no loader worker processes
            items = sliding_outputs(job, lambda samples: predictor.predict_batches(samples, batch, 0), patch, window)
            attributes.update(sliding_window_overlap=window.overlap, sliding_window_blending=window.blending)
        if regroup is not None:
            items = regroup(items)
            if regroup.sliced:
                attributes.update(slice_axis=next(s.slice_axis for s in regroup.sources if s.slice_axis is not None))
        return write_predictions(out_path, items, attributes)

    return write

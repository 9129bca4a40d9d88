"""Every prebuilt config builds and trains one step on every backend, and ``dlae check`` agrees.

Two sources of configs (not part of the pytest suite; the fast in-suite sample is
``tests/test_pretrained_configs.py``):

* the originals: ``<workspace>/shared/dlae-original/{configs,prebuilt_configs}/*.json`` (skipped with a
  ``SKIP:`` line when the folder is absent). Each is rewritten for a reduced input size: the ``Input:``
  layers, the pretrained network's ``input_shape`` parameter, ``config_file.input_shape`` and the BBD
  anchor ``steps`` (scaled with the image); the pretrained weights are set to ``none``. The original
  decoders were written for 512x512 (3D: 128x128x64), so the size used is the smallest candidate at
  which the config plans (``--size`` first, then 64, 96, 128, 192, 256, 384, 512; 3D: ``--size-3d``,
  then 32, 64 with half the depth), found in-process before anything runs, and reported per config;
* the catalog: ``dlae prebuilt new NAME -o ... --input-shape (S, S, 1) --weights none`` (3D:
  ``(S, S, S/2, 1)``) with S = max(``--size``, the entry's smallest input).

Each config then gets a small generated data set of its kind (``dlae_core.data.synthetic``:
classification, segmentation, detection, translation; channels, classes and targets adapted to the
model), one epoch of one step (batch size = ``--samples`` training samples), a saved model and a CSV
history, and is run as ``dlae run --backend B CONFIG --overwrite --quiet --workers 0`` in a subprocess per
backend. ``dlae check CONFIG`` (torch vs tensorflow with shared weights, tolerance 1e-4) runs for the
catalog entries, and ``dlae inspect --json``'s parameter counts are compared with the counts of the models
both backends built (``check``'s table). The original ``densenet169_unet`` cannot be built (its fifth skip
merges a 256 map with a 512 one); it is expected to fail with one clean ``error:`` line (exit 2) on
``dlae validate`` of the unchanged file and on ``dlae run`` of the reduced one.

Usage (from the repository root)::

    python benchmarks/pretrained_configs.py                       # everything (hours on 2 CPU cores)
    python benchmarks/pretrained_configs.py --only resnet50_unet original:resnet50_unet --backends torch
    python benchmarks/pretrained_configs.py --sources catalog --size 96 --json results.json

Names for ``--only``: ``catalog:NAME``, ``original:NAME`` (e.g. ``original:example_cnn``) or a bare NAME
(both sources). Nothing is downloaded: every pretrained network gets ``weights none``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = ROOT.parent / "shared" / "dlae-original"
MACHINE = "2-core CPU, no GPU"
BROKEN = "densenet169_unet"  # the original's U-Net that cannot be built (tests/test_original_configs.py)
BROKEN_MESSAGE = "concatenate needs equal spatial shapes"
SIZES_2D = tuple(range(64, 513, 32))  # multiples of 32 up to the originals' 512
SIZES_3D = (16, 32, 64)
DATA_KEYS = ("train_X", "train_y", "validation_X", "validation_y", "test_X")
WIDE = {"COLUMNS": "250", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "NO_COLOR": "1"}


# -- results -------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One subprocess: a run on a backend, a check, an expected error."""

    ok: bool
    seconds: float
    code: int
    error: str = ""
    detail: dict = field(default_factory=dict)


@dataclass
class Case:
    source: str  # "original" or "catalog"
    name: str
    technique: str = ""
    shape: tuple = ()
    note: str = ""  # e.g. the smaller sizes that did not plan
    classes: int = 0  # CNN: the model's output size
    prepare_error: str = ""
    runs: dict = field(default_factory=dict)  # backend -> Step
    check: Step | None = None
    expected_error: dict = field(default_factory=dict)  # densenet169_unet: command -> Step

    @property
    def key(self) -> str:
        return f"{self.source}:{self.name}"


# -- dlae in a subprocess ----------------------------------------------------------------------------
# ``dlae`` with matplotlib hidden: dlae then skips its report pictures (dlae_core.report) with a note, as
# where the extra is not installed. Used for classifiers with more than MANY_CLASSES classes (the originals'
# 1000-class heads), whose confusion matrix with a number in each of its 10^6 cells does not finish
# drawing; --reports draws them anyway.
NO_REPORTS = ("import sys; sys.modules['matplotlib'] = None; sys.argv[0] = 'dlae'; "
              "from dlae_core.cli.main import main; main()")
MANY_CLASSES = 50


def dlae(args: list, timeout: float, cwd: Path | None = None, reports: bool = True) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds) of ``dlae ARGS`` in a fresh interpreter."""
    env = {**os.environ, **WIDE}
    start = time.perf_counter()
    command = ["-m", "dlae_core.cli.main"] if reports else ["-c", NO_REPORTS]
    try:
        done = subprocess.run([sys.executable, *command, *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=cwd)
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        code, out, err = -9, _text(expired.stdout), _text(expired.stderr) + f"\ntimeout after {timeout:.0f} s"
    return code, out, err, time.perf_counter() - start


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def error_line(out: str, err: str) -> str:
    """The line that says what went wrong: a traceback's last line, else the first ``error:`` line."""
    lines = [line.rstrip() for line in err.splitlines() if line.strip()]
    if any(line.startswith("Traceback") for line in lines):
        last = [line for line in lines if not line.startswith((" ", "\t"))]
        return "Traceback: " + (last[-1] if last else lines[-1])
    for prefix in ("error:", "parity check failed", "timeout after"):
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return found[0]
    tail = lines or [line for line in out.splitlines() if line.strip()]
    return tail[-1] if tail else ""


def error_lines(err: str) -> list[str]:
    """The ``error:`` lines of stderr (framework log noise left out)."""
    return [line for line in err.splitlines() if line.startswith("error:")]


# -- configs ---------------------------------------------------------------------------------------------
def literal(text):
    return ast.literal_eval(text) if isinstance(text, str) else text


def shape_text(shape) -> str:
    return str(tuple(int(v) for v in shape))


def plan_error(raw: dict) -> str:
    """'' when ``raw`` (a config dict) parses and plans, else the first problem's line."""
    from dlae_core.config.parser import parse_config
    from dlae_core.errors import DlaeError
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry

    registry = get_registry()
    try:
        plan_model(parse_config(raw, registry), registry)
    except DlaeError as error:
        problems = getattr(error, "problems", None)
        return problems[0].line() if problems else str(error).splitlines()[0]
    return ""


def plan_of(path: Path):
    from dlae_core.cli.loading import load_and_plan

    config, plan, registry = load_and_plan(str(path), check_data=False)
    return config, plan, registry


def main_input(raw: dict) -> tuple:
    """The shape of the first Input layer of the serial (else generator) list."""
    layers = raw["layers"]
    for name in ("serial_layer_list", "generator_layer_list"):
        entries = layers.get(name) or []
        if entries:
            first = entries[0]
            return tuple(literal(first.split(":", 1)[1]) if isinstance(first, str) else first["shape"])
    raise ValueError("no layer list")


def resized(raw: dict, spatial: tuple) -> dict:
    """A copy of the original config ``raw`` for input size ``spatial`` with weights ``none``."""
    from dlae_core.prebuilt.encoders import ENCODERS

    raw = json.loads(json.dumps(raw))
    old = main_input(raw)[:-1]

    def new_shape(shape: tuple) -> tuple:
        shape = tuple(shape)
        return tuple(spatial) + shape[len(old):] if shape[:len(old)] == old else shape

    for name, entries in raw["layers"].items():
        for i, entry in enumerate(entries or []):
            fields = entry.split(":")
            if fields[0] == "Input":
                fields[1] = shape_text(new_shape(literal(fields[1])))
            elif fields[0] in ENCODERS:
                fields[2] = "none"
                fields[3] = shape_text(new_shape(literal(fields[3])))
            entries[i] = ":".join(fields)
    config_file = raw["config_file"]
    config_file["input_shape"] = shape_text(new_shape(literal(config_file["input_shape"])))
    steps = raw.get("bbd_options", {}).get("steps")
    if raw["config_file"]["model_signal"] == "BBD" and steps not in (None, "", "None"):
        factor = spatial[0] / old[0]
        scaled = [s * factor for s in literal(steps)]
        raw["bbd_options"]["steps"] = str(tuple(int(s) if float(s).is_integer() else round(s, 4) for s in scaled))
    return raw


def reduce_original(raw: dict, args) -> tuple[dict | None, tuple, str]:
    """(reduced config or None, its input shape, a note naming the sizes that did not plan)."""
    shape = main_input(raw)
    spatial = shape[:-1]
    if len(spatial) == 2:
        if max(spatial) <= args.size:
            return raw, shape, "kept (already small)"
        candidates = sorted({args.size, *[s for s in SIZES_2D if s > args.size]})
        make = lambda s: (s, s)  # noqa: E731
    else:
        if max(spatial) <= args.size_3d:
            return raw, shape, "kept (already small)"
        candidates = sorted({args.size_3d, *[s for s in SIZES_3D if s > args.size_3d]})
        make = lambda s: (s, s, max(1, round(s * spatial[2] / spatial[0])))  # noqa: E731
    failed = []
    for size in candidates:
        if size > max(spatial):
            break
        reduced = resized(raw, make(size))
        problem = plan_error(reduced)
        if not problem:
            note = "; ".join(f"{s}: {p}" for s, p in failed)
            return reduced, main_input(reduced), (f"smaller sizes fail: {note}" if failed else "")
        failed.append((size, problem))
    return None, shape, "; ".join(f"{s}: {p}" for s, p in failed)


def finish_config(raw: dict, data: dict[str, Path], samples: int, typed: bool) -> dict:
    """One epoch of one step on the generated data, saving a model and a CSV history, nothing else."""
    value = (lambda v: v) if typed else (lambda v: str(v))
    raw = json.loads(json.dumps(raw))
    raw["config_file"]["type_signal"] = "Train"
    paths = raw.setdefault("paths", {})
    for key in DATA_KEYS:
        paths[key] = str(data[key])
    training = raw.setdefault("training_configurations", {})
    training.update(epochs=value(1), batch_size=value(samples), validation_split=value(0.0), hardware="cpu")
    saving = raw.setdefault("save_configurations", {})
    saving.update(save_model_switch=value(True), save_model_path="out/model.pt", save_csv_switch=value(True),
                  save_csv_path="out/history.csv", save_checkpoints_switch=value(False),
                  save_tensorboard_switch=value(False))
    return raw


# -- data --------------------------------------------------------------------------------------------------
def _read(path: Path) -> list[np.ndarray]:
    with h5py.File(path, "r") as handle:
        return [handle[name][()] for name in sorted(handle.keys(), key=int)]


def _write(path: Path, samples: list[np.ndarray]) -> None:
    with h5py.File(path, "w") as handle:
        for index, sample in enumerate(samples):
            handle.create_dataset(str(index), data=sample)


def _channels(x: np.ndarray, channels: int) -> np.ndarray:
    return x if x.shape[-1] == channels else np.repeat(x[..., :1], channels, axis=-1)


def _fit(vector: np.ndarray, size: int) -> np.ndarray:
    return np.resize(vector.astype(np.float32), (size,))


def write_data(folder: Path, plan, config, samples: int) -> dict[str, Path]:
    """Generated data of the kind the config's technique needs, shaped for its model, in ``folder``."""
    from dlae_core.data.synthetic import write_example_data
    from dlae_core.plugin.registry import get_registry

    technique = plan.technique
    registry = get_registry()
    if technique == "GAN":
        graph = plan.graphs["generator"]
    else:
        graph = plan.main
    shape = tuple(graph.input_shapes[0])
    spatial, channels = shape[:-1], shape[-1]
    out = tuple(graph.output_shape)
    loss = registry.losses.get(config.loss_function.loss)
    target = loss.target if loss is not None else "dense"
    switch = bool(config.preprocessing.categorical_switch)
    raw_dir = folder / "generated"
    if technique == "CNN":
        classes = out[-1]
        if len(spatial) == 2 and spatial[0] == spatial[1]:
            kind = "classification" if target in ("sparse", "onehot") else "regression"
            files = write_example_data(raw_dir, kind, n=samples, size=spatial[0], seed=0,
                                       classes=min(max(classes, 2), 4), overwrite=True)
            convert_x = lambda x: _channels(x, channels)  # noqa: E731
        else:  # 3D (or non-square): segmentation volumes cropped to the input, labels from the index
            size = max(max(spatial[:2]), 2 * spatial[2] if len(spatial) == 3 else 0, 8)
            kind = "segmentation3d" if len(spatial) == 3 else "segmentation"
            files = write_example_data(raw_dir, kind, n=samples, size=size, seed=0, overwrite=True)
            crop = tuple(slice(0, s) for s in spatial)
            convert_x = lambda x: _channels(x[crop], channels)  # noqa: E731
        def convert_y(y, index):
            if target == "dense":
                return _fit(np.asarray(y, dtype=np.float32).ravel() if y.size <= 3 else
                            np.array([index % 2, 0.5, 0.25], dtype=np.float32), classes)
            label = int(np.ravel(y)[0]) if kind in ("classification",) else index % min(classes, 4)
            label = min(label, classes - 1)
            if target == "onehot" and not switch:
                return np.eye(classes, dtype=np.float32)[label]
            return np.array([label], dtype=np.int64)
    elif technique == "FCN":
        classes = out[-1]
        kind = "segmentation" if len(spatial) == 2 else "segmentation3d"
        files = write_example_data(raw_dir, kind, n=samples, size=spatial[0], seed=0, overwrite=True)
        convert_x = lambda x: _channels(x, channels)  # noqa: E731

        def convert_y(y, index):
            labels = np.minimum(y, classes - 1)
            if target == "onehot" and not switch:
                return np.eye(classes, dtype=np.float32)[labels]
            return labels
    elif technique == "BBD":
        number = int(config.bbd_options.number_classes)
        files = write_example_data(raw_dir, "detection", n=samples, size=spatial[0], seed=0, overwrite=True)
        convert_x = lambda x: _channels(x, channels)  # noqa: E731

        def convert_y(y, index):
            y = y.copy()
            y[:, 0] = np.minimum(y[:, 0], number)
            return y
    elif technique == "GAN":
        files = write_example_data(raw_dir, "translation", n=samples, size=spatial[0], seed=0, overwrite=True)
        convert_x = lambda x: _channels(x, channels)  # noqa: E731
        convert_y = lambda y, index: _channels(y, out[-1])  # noqa: E731
    else:
        raise ValueError(f"no generated data for technique {technique}")
    written = {}
    for key in DATA_KEYS:
        target_path = folder / f"{key}.h5"
        values = _read(files[key])
        if key.endswith("_X"):
            values = [convert_x(v) for v in values]
        else:
            values = [convert_y(v, i) for i, v in enumerate(values)]
        _write(target_path, values)
        written[key] = target_path
    shutil.rmtree(raw_dir, ignore_errors=True)
    return written


# -- cases -------------------------------------------------------------------------------------------------
def original_files() -> list[tuple[str, Path]]:
    found = sorted(ORIGINAL.glob("configs/*.json")) + sorted(ORIGINAL.glob("prebuilt_configs/*.json"))
    return [(p.stem, p) for p in found]


def catalog_names() -> list[str]:
    from dlae_core.prebuilt import ENTRIES

    return list(ENTRIES)


def wanted(source: str, name: str, only: list[str] | None) -> bool:
    return not only or name in only or f"{source}:{name}" in only


def prepare_original(case: Case, path: Path, folder: Path, args) -> Path | None:
    raw = json.loads(path.read_text())
    case.technique = raw["config_file"]["model_signal"]
    reduced, shape, note = reduce_original(raw, args)
    case.note = note
    if case.name == BROKEN:
        # broken at every size: take the size at which the fixed list (the misplaced fifth skip target
        # moved before the last resize convolution, as in tests/test_original_configs.py) builds, so that
        # the one error left is the original's own bad merge
        fixed = json.loads(json.dumps(raw))
        layers = fixed["layers"]["serial_layer_list"]
        last_resize = max(i for i, s in enumerate(layers[:61]) if s.startswith("Resize convolution 2D"))
        layers.insert(last_resize, layers.pop(61))
        _, fixed_shape, _ = reduce_original(fixed, args)
        reduced = resized(raw, fixed_shape[:-1])
        shape = main_input(reduced)
        case.note = "expected error: " + (plan_error(reduced) or "(plans!)")
    if reduced is None:
        case.prepare_error = f"no candidate size plans: {note}"
        return None
    case.shape = shape
    return write_case(case, reduced, folder, args, typed=False)


def prepare_catalog(case: Case, folder: Path, args) -> Path | None:
    from dlae_core.prebuilt import PrebuiltError, generate, get_entry, minimum_size

    entry = get_entry(case.name)
    case.technique = entry.technique
    if entry.rank == 2:
        side = max(args.size, minimum_size(entry))
        shape = (side, side, 1)
    else:
        shape = None
        for side in sorted({args.size_3d, *[s for s in SIZES_3D if s > args.size_3d]}):
            try:
                generate(case.name, (side, side, side // 2, 1))
            except PrebuiltError:
                continue
            shape = (side, side, side // 2, 1)
            break
        if shape is None:
            case.prepare_error = "no 3D size up to 64 accepted"
            return None
    case.shape = shape
    classes = {"CNN": ["--classes", 3], "FCN": ["--classes", 3], "BBD": ["--classes", 2]}.get(entry.technique, [])
    generated = folder / "prebuilt.json"
    code, out, err, _ = dlae(["prebuilt", "new", case.name, "-o", generated, "--input-shape", shape_text(shape),
                              "--weights", "none", "--overwrite", *classes], args.timeout)
    if code != 0:
        case.prepare_error = "dlae prebuilt new: " + error_line(out, err)
        return None
    return write_case(case, json.loads(generated.read_text()), folder, args, typed=True)


def write_case(case: Case, raw: dict, folder: Path, args, typed: bool) -> Path | None:
    """Write the config (placeholder data paths first, to plan it), the data, then the final config."""
    from dlae_core.errors import DlaeError

    draft = folder / "draft.json"
    placeholders = {key: folder / "data" / f"{key}.h5" for key in DATA_KEYS}
    draft.write_text(json.dumps(finish_config(raw, placeholders, args.samples, typed), indent=1))
    try:
        config, plan, _ = plan_of(draft)
    except DlaeError as error:
        if case.name == BROKEN and case.source == "original":
            return draft
        problems = getattr(error, "problems", None)
        case.prepare_error = problems[0].line() if problems else str(error).splitlines()[0]
        return None
    data = write_data(folder / "data", plan, config, args.samples)
    if plan.technique == "CNN":
        case.classes = int(plan.main.output_shape[-1])
    final = folder / "config.json"
    final.write_text(json.dumps(finish_config(raw, data, args.samples, typed), indent=1))
    draft.unlink()
    return final


# -- steps -------------------------------------------------------------------------------------------------
def run_backend(config: Path, backend: str, args, reports: bool = True) -> Step:
    """``dlae run --backend B`` on a copy of the config in its own folder; model file and history checked."""
    folder = config.parent / backend
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    copy = folder / "config.json"
    shutil.copy(config, copy)
    code, out, err, seconds = dlae(["run", "--backend", backend, copy, "--overwrite", "--quiet", "--workers",
                                    args.workers], args.timeout, reports=reports)
    history = folder / "out" / "history.csv"
    # model.pt; CycleGAN: model_generator1.pt and model_generator2.pt
    models = sorted(p.name for p in (folder / "out").glob("model*.pt"))
    rows = len(history.read_text().strip().splitlines()) - 1 if history.is_file() else 0
    detail = {"model_files": models, "history_rows": rows}
    ok = code == 0 and bool(models) and rows >= 1
    error = "" if ok else (error_line(out, err) if code != 0 else f"exit 0 but model files {models}, "
                                                                    f"{rows} history rows")
    if not args.keep:
        shutil.rmtree(folder / "out", ignore_errors=True)
    return Step(ok, seconds, code, error, detail)


def parse_check(out: str) -> list[dict]:
    """The parameter rows of ``dlae check``'s tables: one per graph."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if len(cells) > 6 and cells[1] == "parameters":
            rows.append({"backends": [cells[2], cells[3]], "expected": cells[4], "result": cells[6]})
    return rows


def counts(text: str) -> tuple[int, int]:
    trainable, frozen = (int(v.replace(",", "")) for v in text.split("/"))
    return trainable, frozen


def run_check(config: Path, args) -> Step:
    code, out, err, seconds = dlae(["check", config, "--backends", "torch,tensorflow"], args.timeout)
    rows = parse_check(out)
    parity = "parity ok:" in out
    # dlae inspect (the core's counts) against both built models
    icode, iout, ierr, _ = dlae(["inspect", "--json", config], args.timeout)
    inspect_ok, inspected = False, None
    if icode == 0 and rows:
        report = json.loads(iout)
        inspected = (report["trainable_params"], report["non_trainable_params"])
        # per backend: the built graphs' counts summed, against the core's (dlae inspect) totals
        built = [tuple(map(sum, zip(*[counts(row["backends"][b]) for row in rows]))) for b in (0, 1)]
        inspect_ok = all(b == inspected for b in built) and all(row["result"] == "ok" for row in rows)
    detail = {"parameters": rows, "inspect": inspected, "inspect_ok": inspect_ok, "parity_line": parity}
    ok = code == 0 and parity and inspect_ok
    error = "" if ok else (error_line(out, err) if code != 0 else
                           f"inspect {inspected} vs built {[r['backends'] for r in rows]}")
    return Step(ok, seconds, code, error, detail)


def expect_clean_error(args_list: list, args) -> Step:
    """A command that must fail with exit 2 and exactly one ``error:`` line naming the bad merge."""
    code, out, err, seconds = dlae(args_list, args.timeout)
    lines = error_lines(err)
    ok = code == 2 and len(lines) == 1 and "Traceback" not in err and BROKEN_MESSAGE in lines[0]
    return Step(ok, seconds, code, lines[0] if len(lines) == 1 else error_line(out, err),
                {"error_lines": len(lines)})


# -- reporting -----------------------------------------------------------------------------------------------
def cell(step: Step | None) -> str:
    if step is None:
        return "-"
    return f"{'ok' if step.ok else 'FAIL'} {step.seconds:5.0f}s"


def print_row(case: Case, backends: list[str]) -> None:
    shape = "x".join(str(v) for v in case.shape[:-1]) if case.shape else "-"
    parts = [f"{case.key:38s}", f"{case.technique:4s}", f"{shape:>10s}"]
    if case.expected_error:
        parts.append("  ".join(f"{k}: {cell(v)}" for k, v in case.expected_error.items()))
    else:
        parts += [f"{b}: {cell(case.runs.get(b))}" for b in backends] + [f"check: {cell(case.check)}"]
    errors = [case.prepare_error] + [s.error for s in [*case.runs.values(), case.check,
                                                        *case.expected_error.values()] if s and s.error and not s.ok]
    errors = [e for e in errors if e]
    print("  ".join(parts) + (f"  | {errors[0][:300]}" if errors else ""), flush=True)


def summary(cases: list[Case], backends: list[str], seconds: float) -> list[str]:
    lines = []
    for source in ("original", "catalog"):
        group = [c for c in cases if c.source == source]
        if not group:
            continue
        normal = [c for c in group if not c.expected_error]
        text = [f"{source}: {len(group)} configs"]
        for backend in backends:
            passed = sum(1 for c in normal if c.runs.get(backend) and c.runs[backend].ok)
            text.append(f"built and trained on {backend}: {passed}/{len(normal)}")
        checked = [c for c in group if c.check]
        if checked:
            text.append(f"parity ok: {sum(c.check.ok for c in checked)}/{len(checked)} "
                        f"(failed {sum(not c.check.ok for c in checked)})")
        broken = [c for c in group if c.expected_error]
        for c in broken:
            text.append(f"{c.name}: clean one-line error {sum(s.ok for s in c.expected_error.values())}/"
                        f"{len(c.expected_error)}")
        run_time = sum(s.seconds for c in group for s in [*c.runs.values(), *c.expected_error.values()])
        check_time = sum(c.check.seconds for c in group if c.check)
        text.append(f"run time {run_time / 60:.1f} min, check time {check_time / 60:.1f} min")
        lines.append("; ".join(text))
        sizes: dict[str, list[str]] = {}
        for c in group:
            if c.shape:
                sizes.setdefault("x".join(map(str, c.shape[:-1])), []).append(c.name)
        lines.append("  sizes: " + "; ".join(f"{k}: {len(v)}" for k, v in sorted(sizes.items())))
    lines.append(f"total wall time {seconds / 60:.1f} min ({MACHINE})")
    failures = [(c.key, what, s.error) for c in cases for what, s in
                [*c.runs.items(), ("check", c.check), *c.expected_error.items()] if s and not s.ok]
    failures += [(c.key, "prepare", c.prepare_error) for c in cases if c.prepare_error]
    lines.append(f"failures: {len(failures)}")
    lines += [f"  {key} [{what}]: {error}" for key, what, error in failures]
    return lines


def save_json(path: str | None, cases: list[Case], args, seconds: float) -> None:
    if not path:
        return
    data = {"machine": MACHINE, "args": vars(args), "seconds": seconds,
            "cases": [{**asdict(c), "key": c.key} for c in cases]}
    Path(path).write_text(json.dumps(data, indent=1, default=str))


# -- main ------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=96, help="reduced 2D input side (default 96); a config that "
                        "needs more gets the smallest candidate that builds")
    parser.add_argument("--size-3d", type=int, default=16, help="reduced 3D input side (depth scaled), default 16")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="catalog:NAME, original:NAME or NAME")
    parser.add_argument("--sources", nargs="+", choices=("original", "catalog"), default=["original", "catalog"])
    parser.add_argument("--backends", default="torch,tensorflow", help="comma-separated (default torch,tensorflow)")
    parser.add_argument("--check", choices=("catalog", "encoders", "all", "none"), default="catalog",
                        help="which configs get `dlae check` (default: every catalog entry)")
    parser.add_argument("--samples", type=int, default=2, help="training samples = batch size (one step)")
    parser.add_argument("--workers", type=int, default=0, help="dlae run --workers (default 0)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    parser.add_argument("--workdir", help="keep the configs and data here (default: a temp dir, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the trained models (~1 GB each for U-Nets)")
    parser.add_argument("--json", dest="json_out", metavar="OUT", help="write every result to OUT")
    parser.add_argument("--list", action="store_true", help="only print the sizes each original gets, run nothing")
    parser.add_argument("--resume", metavar="JSON", help="take the cases a --json file of an interrupted run holds "
                        "from it and run the rest")
    parser.add_argument("--reports", action="store_true", help=f"let dlae draw its report pictures for "
                        f"classifiers with more than {MANY_CLASSES} classes too (default: matplotlib is hidden from "
                        f"those runs, so their pictures are skipped)")
    return parser.parse_args(argv)


def load_cases(path: str) -> tuple[list[Case], float]:
    """The cases (and seconds) of a --json file."""
    data = json.loads(Path(path).read_text())
    cases = []
    for c in data["cases"]:
        step = lambda value: Step(**value) if value else None  # noqa: E731
        cases.append(Case(c["source"], c["name"], c["technique"], tuple(c["shape"]), c["note"], c.get("classes", 0),
                          c["prepare_error"], {k: step(v) for k, v in c["runs"].items()}, step(c["check"]),
                          {k: step(v) for k, v in c["expected_error"].items()}))
    return cases, float(data.get("seconds", 0.0))


def main(argv=None) -> int:
    args = parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    sources = list(args.sources)
    if "original" in sources and not ORIGINAL.is_dir():
        print(f"SKIP: {ORIGINAL} not found; the originals are left out.")
        sources.remove("original")
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dlae_bench_pretrained_"))
    work.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[Case, Path | None]] = []
    if "original" in sources:
        todo += [(Case("original", name), path) for name, path in original_files()
                 if wanted("original", name, args.only)]
    if "catalog" in sources:
        todo += [(Case("catalog", name), None) for name in catalog_names() if wanted("catalog", name, args.only)]
    cases, earlier = load_cases(args.resume) if args.resume else ([], 0.0)
    done = {c.key for c in cases}
    todo = [(case, path) for case, path in todo if case.key not in done]
    print(f"{len(todo)} configs ({len(cases)} more from --resume), backends {', '.join(backends)}, size {args.size} "
          f"(3D {args.size_3d}), work dir {work}", flush=True)
    start = time.perf_counter() - earlier
    try:
        for case, path in todo:
            folder = work / case.source / case.name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            if case.source == "original":
                config = prepare_original(case, path, folder, args)
            else:
                config = prepare_catalog(case, folder, args)
            cases.append(case)
            if args.list or config is None:
                print(f"{case.key:38s} {case.technique:4s} {case.shape}  {case.note or case.prepare_error}", flush=True)
                continue
            if case.source == "original" and case.name == BROKEN:
                case.expected_error["validate original"] = expect_clean_error(
                    ["validate", "--skip-data", path], args)
                for backend in backends:
                    case.expected_error[f"run {backend}"] = expect_clean_error(
                        ["run", "--backend", backend, config, "--overwrite", "--quiet"], args)
            else:
                for backend in backends:
                    case.runs[backend] = run_backend(config, backend, args,
                                                     reports=args.reports or case.classes <= MANY_CLASSES)
                encoder = case.source == "catalog" and _has_encoder(case.name)
                if set(backends) >= {"torch", "tensorflow"} and (
                        args.check == "all" or (args.check == "catalog" and case.source == "catalog") or
                        (args.check == "encoders" and encoder)):
                    case.check = run_check(config, args)
            print_row(case, backends)
            save_json(args.json_out, cases, args, time.perf_counter() - start)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start
    save_json(args.json_out, cases, args, seconds)
    if not args.list:
        print()
        print("\n".join(summary(cases, backends, seconds)))
    failed = any(c.prepare_error or any(not s.ok for s in [*c.runs.values(), *c.expected_error.values()]) or
                 (c.check and not c.check.ok) for c in cases)
    return 1 if failed else 0


def _has_encoder(name: str) -> bool:
    from dlae_core.prebuilt import ENTRIES

    return ENTRIES[name].encoder is not None


if __name__ == "__main__":
    sys.exit(main())

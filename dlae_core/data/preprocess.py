"""Per-sample preprocessing shared by every backend.

numpy only. One sample goes through two stages:

``Preprocessor.load(split, name) -> (x, y)``
    read X (and y unless the split has no targets); append a channel axis to X
    when it has one dimension less than the model input (to y likewise for the
    per-pixel targets of FCN/GAN; a scalar CNN target becomes ``(1,)``); cast
    both to float32; repeat X's channels (``np.repeat`` along the last axis:
    c0,c0,c0,c1,...); featurewise centering ``x - mean`` and standardization
    ``x / (std + 1e-6)`` with the per-channel training-set :class:`FeatureStats`;
    samplewise centering ``x - mean(x)`` and standardization
    ``x / (std(x) + 1e-6)`` (over all elements). The same in training, validation
    and test. A sample holding NaN or Inf, and (where class labels are expected) a
    target label that is not a whole number, raise DataError naming the file, its
    config key and the sample: bad data found while training is located like the
    problems of ``dlae validate``, which reads only a few samples.

(training only: :meth:`Preprocessor.zca`, then augmentation, see ``augment.py``)

``Preprocessor.finish(x, y) -> (x, y)``
    intensity normalization of X with :attr:`Preprocessor.x_norm` and of y with
    :attr:`Preprocessor.y_norm` (see :class:`Normalization`; y is only normalized
    by ``*_xy`` types for FCN/GAN), then, when :attr:`Preprocessor.categories` is
    set, one-hot encoding of y: truncate to integers, require 0 <= label <
    categories, replace a last axis of length 1 by ``categories`` float32 columns
    (so a CNN label ``(1,)`` becomes ``(categories,)``), otherwise append the axis.

A backend that augments on its accelerator reproduces ``finish`` per sample
from these attributes (the formulas are in :class:`Normalization`).
"""

from __future__ import annotations

import attrs
import numpy as np

from dlae_core.errors import DataError, problem
from dlae_core.data.hdf5 import SampleFile, add_channel_axis

EPSILON = 1e-6  # featurewise / samplewise standardization: x / (std + EPSILON)
_DATA_KEYS = ("train_X", "train_y", "validation_X", "validation_y", "test_X")


@attrs.frozen(eq=False)
class FeatureStats:
    """Per-channel ``mean`` and ``std`` (shape (channels,)) of the training inputs, after
    channel repetition and before any centering."""

    mean: np.ndarray
    std: np.ndarray


@attrs.frozen
class Normalization:
    """One intensity normalization.

    ``kind`` is ``"none"``, ``"samplewise"`` (lo, hi = min and max of the sample
    over all its elements) or ``"global"`` (lo, hi = ``low``, ``high`` from
    minimum/maximum_image_intensity). With u = (a - lo) / (hi - lo):
    unity gives u, negpos (``negpos=True``) gives 2 (u - 0.5). Skipped (the array
    is returned unchanged) when hi == lo.

    ``"channels"`` (``normalization_type: imagenet``): channel c of the result is
    ``(a[..., order[c]] - offset[c]) * scale[c]`` (see :mod:`dlae_core.pretrained.imagenet`).
    """

    kind: str = "none"
    negpos: bool = False
    low: float = 0.0
    high: float = 1.0
    order: tuple[int, ...] = ()
    offset: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()

    def apply(self, a: np.ndarray) -> np.ndarray:
        """Normalize one sample (any shape); float32 in, float32 out."""
        if self.kind == "none" or a.size == 0:
            return a
        if self.kind == "channels":
            offset, scale = np.asarray(self.offset, np.float32), np.asarray(self.scale, np.float32)
            return ((a[..., list(self.order)] - offset) * scale).astype(np.float32, copy=False)
        lo, hi = (a.min(), a.max()) if self.kind == "samplewise" else (self.low, self.high)
        if hi == lo:
            return a
        u = (a - np.float32(lo)) / np.float32(hi - lo)
        return (2 * (u - np.float32(0.5)) if self.negpos else u).astype(np.float32, copy=False)

    def invert(self, a: np.ndarray) -> np.ndarray:
        """Map normalized values back (``global`` only; other kinds return ``a``)."""
        if self.kind != "global" or self.high == self.low:
            return a
        u = a / np.float32(2) + np.float32(0.5) if self.negpos else a
        return (u * np.float32(self.high - self.low) + np.float32(self.low)).astype(np.float32, copy=False)

    @property
    def range_text(self) -> str:
        return "[-1, 1]" if self.negpos else "[0, 1]"


def normalizations(preprocessing, map_targets: bool, network: str | None = None,
                   channels: int = 3) -> tuple[Normalization, Normalization]:
    """(X normalization, y normalization) of a ``preprocessing`` config section; targets are
    normalized (``*_xy``) only when they are maps (``map_targets``, a property of the technique).
    ``imagenet`` needs the pretrained ``network`` of the layer list and the input ``channels``."""
    kind = preprocessing.normalization_type
    if kind == "none":
        return Normalization(), Normalization()
    if kind == "imagenet":
        from dlae_core.pretrained.imagenet import imagenet_normalization

        order, offset, scale = imagenet_normalization(network, channels)
        return Normalization("channels", order=order, offset=offset, scale=scale), Normalization()
    scope, rng, targets = kind.split("_")
    negpos = rng == "negpos"
    lows, highs = preprocessing.minimum_image_intensity, preprocessing.maximum_image_intensity

    def make(index: int) -> Normalization:
        if scope == "samplewise":
            return Normalization("samplewise", negpos)
        i = min(index, len(lows) - 1, len(highs) - 1)
        return Normalization("global", negpos, float(lows[i]), float(highs[i]))

    y_norm = make(1) if targets == "xy" and map_targets else Normalization()
    return make(0), y_norm


def one_hot(y: np.ndarray, categories: int, where: str = "a target") -> np.ndarray:
    """Truncate ``y`` to integer labels and one-hot encode them as float32.

    A last axis of length 1 is replaced by the class axis; otherwise one is
    appended. Raises DataError naming the first value outside 0..categories-1.
    """
    y = np.asarray(y)
    if not np.isfinite(y).all():
        raise DataError([problem("preprocessing.categories", f"{where} holds NaN or Inf where class labels "
                                 "are expected", expected=f"integers 0..{categories - 1}", received="NaN/Inf")])
    labels = y.astype(np.int64)
    bad = labels[(labels < 0) | (labels >= categories)]
    if bad.size:
        value = int(bad.flat[0])
        raise DataError([problem("preprocessing.categories", f"{where} holds the class label {value}, outside "
                                 f"0..{categories - 1} ({categories} categories)",
                                 expected=f"integers 0..{categories - 1} (or more categories)", received=value)])
    if labels.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return np.eye(categories, dtype=np.float32)[labels]


def zca_whiten(x: np.ndarray, epsilon: float) -> np.ndarray:
    """Per-sample "ZCA": image rows are the observations.

    F = x reshaped to (rows, -1); Σ = FᵀF / rows = V diag(λ) Vᵀ;
    W = V diag(1/√(λ + ε)) Vᵀ; result F·W reshaped. Computed from the thin SVD
    F = U s Vᵀ (λ = s²/rows): F·W = U diag(s/√(s²/rows + ε)) Vᵀ, which is equal
    (F has no component in Σ's null space) and much cheaper for wide samples.
    """
    f = x.reshape(x.shape[0], -1).astype(np.float64)
    u, s, vt = np.linalg.svd(f, full_matrices=False)
    scale = s / np.sqrt(s * s / f.shape[0] + epsilon)
    return ((u * scale) @ vt).reshape(x.shape).astype(np.float32)


class Preprocessor:
    """The per-sample preprocessing of one config and model plan (picklable).

    ``stats`` is required when featurewise centering or standardization is on:
    compute it with :func:`dlae_core.data.datasets.feature_stats` from a
    Preprocessor without stats, then use :meth:`with_stats`.

    Attributes a backend may read: ``technique``, ``input_shape``,
    ``output_shape``, ``spatial_rank`` (2 or 3), ``repeat``, ``x_norm``,
    ``y_norm`` (:class:`Normalization`), ``categories`` (int, or None without
    one-hot), ``target_kind`` (``"labels"``: class maps of FCN/GAN -- label maps, or
    stored one-hot maps of a one-hot loss -- resampled nearest-neighbour; ``"dense"``:
    continuous maps, bilinear; ``"vector"``: CNN/BBD targets, never resampled), ``zca_epsilon``,
    ``fill_mode``, ``cval``, ``shuffle``.
    """

    def __init__(self, config, plan, registry, stats: FeatureStats | None = None):
        pre, aug = config.preprocessing, config.augmentation
        technique = registry.techniques[plan.technique]
        self.technique = plan.technique
        self.input_shape = tuple(plan.main.input_shapes[0])
        self.output_shape = tuple(plan.main.output_shape)
        self.spatial_rank = len(self.input_shape) - 1
        self.repeat = pre.repeat_X_quantity if pre.repeat_X_switch else 1
        info = registry.losses.get(config.loss_function.loss)
        self.loss_target = info.target if info is not None else "dense"
        categorical = pre.categorical_switch and technique.categorical_targets
        self.categories: int | None = pre.categories if categorical else None
        self.pixel_targets = technique.map_targets
        labels = categorical or self.loss_target in ("sparse", "onehot")
        self.target_kind = ("labels" if labels else "dense") if self.pixel_targets else "vector"
        network = next((use.spec.type for graph in plan.graphs.values() for use in graph.networks), None)
        self.x_norm, self.y_norm = normalizations(pre, technique.map_targets, network,
                                                  self.input_shape[-1])
        self.featurewise = (aug.featurewise_centering_switch, aug.featurewise_normalization_switch)
        self.samplewise = (aug.samplewise_centering_switch, aug.samplewise_normalization_switch)
        self.zca_epsilon = aug.zca_epsilon
        self.fill_mode, self.cval = aug.fill_mode, float(aug.cval)
        self.shuffle = config.training_configurations.shuffle_data_switch
        self.stats = stats
        self._files: dict[str, SampleFile] = {}
        #: decoded samples kept in memory (dlae_core.data.memory.ReadCache; None: read from disk each time)
        self.read_cache = None
        # the config key of each data file, to locate data problems found while training
        self._keys = {}
        for key in _DATA_KEYS:
            path = getattr(config.paths, key, None)
            if path and path not in self._keys:
                self._keys[path] = f"paths.{key}"
        # integer class labels expected in the y files (one-hot encoded here, or read by a sparse loss)
        self.integer_labels = self.categories is not None or self.loss_target == "sparse"

    # -- files ---------------------------------------------------------------------------
    def _file(self, path: str) -> SampleFile:
        if path not in self._files:
            self._files[path] = SampleFile(path)
        return self._files[path]

    def close(self) -> None:
        """Close the HDF5 files this process opened (they re-open on next use)."""
        for handle in self._files.values():
            handle.close()

    @property
    def needs_stats(self) -> bool:
        """True when featurewise centering or standardization is switched on."""
        return any(self.featurewise)

    def with_stats(self, stats: FeatureStats) -> "Preprocessor":
        """A copy using ``stats`` for featurewise centering/standardization."""
        other = object.__new__(Preprocessor)
        other.__dict__.update(self.__dict__, stats=stats, _files={})
        return other

    # -- stage 1: load ---------------------------------------------------------------------
    def data_error(self, path: str, name: str, what: str, expected: str, received: object) -> DataError:
        """A DataError about sample ``name`` of the data file ``path``, located at its config key
        (``paths.train_X`` ...) like the problems of ``dlae validate``."""
        key = self._keys.get(path)
        if key is None:
            return DataError([problem(str(path), f"sample {name!r}: {what}", expected=expected, received=received)])
        return DataError([problem(key, f"{path}, sample {name!r}: {what}", expected=expected, received=received)])

    def _finite(self, values: np.ndarray, path: str, name: str) -> None:
        """DataError naming the file and sample when ``values`` hold NaN or Inf."""
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
            raise self.data_error(path, name, "contains NaN or Inf values", "finite numbers",
                                  f"{nan} NaN, {inf} Inf")

    def _integers(self, values: np.ndarray, path: str, name: str) -> None:
        """DataError naming the file and sample for class labels that are not whole numbers (they
        would be truncated: 1.5 trained as class 1)."""
        if values.dtype.kind != "f":
            return
        fractional = values[values != np.floor(values)]
        if fractional.size:
            shown = sorted({float(v) for v in fractional.ravel()[:1000]})[:5]
            what = f"holds {fractional.size} class label(s) that are not whole numbers, such as {shown[0]:g}"
            raise self.data_error(path, name, what, "integer class labels (0, 1, 2, ...)", shown)

    def read_x(self, split, name: str) -> np.ndarray:
        """X of sample ``name``: channel axis, float32, repeated channels (no standardization).
        DataError (naming the file and sample) for NaN or Inf values."""
        if self.read_cache is not None:
            kept = self.read_cache.get("x", split.x_path, name)
            if kept is not None:
                return kept
        raw = self._file(split.x_path).read(name)
        self._finite(raw, split.x_path, name)
        x = add_channel_axis(raw, self.spatial_rank).astype(np.float32)
        return np.repeat(x, self.repeat, axis=-1) if self.repeat > 1 else x

    def read_y(self, split, name: str) -> np.ndarray | None:
        """y of sample ``name`` as float32 (channel axis for FCN/GAN, ``(1,)`` for a scalar);
        None when the split has no targets. DataError (naming the file and sample) for NaN or Inf
        values and, where class labels are expected (:attr:`integer_labels`), for labels that are not
        whole numbers."""
        if split.y_path is None:
            return None
        if self.read_cache is not None:
            kept = self.read_cache.get("y", split.y_path, name)
            if kept is not None:
                return kept
        raw = self._file(split.y_path).read(name)
        self._finite(raw, split.y_path, name)
        if self.integer_labels:
            self._integers(raw, split.y_path, name)
        y = raw.astype(np.float32)
        if self.pixel_targets:
            return add_channel_axis(y, len(self.output_shape) - 1)
        return y.reshape(1) if y.ndim == 0 else y

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Featurewise then samplewise centering/standardization, as switched on."""
        center, scale = self.featurewise
        if center or scale:
            if self.stats is None:
                raise ValueError("featurewise centering/standardization needs FeatureStats: compute "
                                 "feature_stats() on the training split and pass them (with_stats)")
            if center:
                x = x - self.stats.mean.astype(np.float32)
            if scale:
                x = x / (self.stats.std.astype(np.float32) + np.float32(EPSILON))
        center, scale = self.samplewise
        if center:
            x = x - x.mean(dtype=np.float64).astype(np.float32)
        if scale:
            x = x / np.float32(x.std(dtype=np.float64) + EPSILON)
        return x.astype(np.float32, copy=False)

    def load(self, split, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Stage 1 of the pipeline (module docstring): ``(x, y)``, y None for a test split."""
        return self.standardize(self.read_x(split, name)), self.read_y(split, name)

    def zca(self, x: np.ndarray) -> np.ndarray:
        """ZCA whitening when ``zca_epsilon`` is set (training with augmentation only)."""
        return x if self.zca_epsilon is None else zca_whiten(x, self.zca_epsilon)

    # -- stage 2: finish -------------------------------------------------------------------
    def finish(self, x: np.ndarray, y: np.ndarray | None = None,
               name: str | None = None, path: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Stage 2: intensity normalization, then one-hot; ``name`` (and the y file ``path``) only
        label errors."""
        x = self.x_norm.apply(x)
        if y is not None:
            y = self.y_norm.apply(y)
            if self.categories is not None:
                sample = f"sample {name!r}" if name is not None else "a target"
                y = one_hot(y, self.categories, f"{path}, {sample}" if path and name is not None else sample)
        return x, y

    # -- predictions -----------------------------------------------------------------------
    def inverse_target(self, y: np.ndarray) -> np.ndarray:
        """Map normalized target-space outputs (e.g. GAN generator predictions) back to the
        target file's units; unchanged unless the targets were normalized with global bounds."""
        return self.y_norm.invert(y)

    @property
    def target_space(self) -> str:
        """Words describing what :meth:`inverse_target` returns."""
        norm = self.y_norm
        if norm.kind == "none":
            return "target units (targets are not normalized)"
        if norm.kind == "global":
            return (f"target units (mapped back from {norm.range_text} to "
                    f"[{norm.low:g}, {norm.high:g}])")
        return f"{norm.range_text} per sample (samplewise target normalization cannot be inverted)"

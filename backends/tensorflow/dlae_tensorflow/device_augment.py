"""Batched augmentation on the training device (GPU), with the core's sampled parameters, in
TensorFlow ops (usable inside tf.function).

The tf.data readers only load and standardize samples (``TrainingSamples(on_device=True)``); the
affine warp, flips, brightness, channel shift, normalization and one-hot then run here on whole
batches. The geometry equals :func:`dlae_core.data.augment.apply_params` (scipy) for the same
parameters, fill modes included: every output pixel reads the input position
``matrix @ (row, col, 1)`` (after the flips, see ``augment.input_coordinates``), which is mapped
per fill mode exactly as dlae_torch.device_augment does it with ``grid_sample`` (nearest: clamp;
reflect: about -0.5 and n - 0.5; wrap: scipy's period n - 1; constant: cval wherever the position
lies outside [0, n - 1]) and sampled bilinearly (X, dense targets) or at the nearest pixel (label
maps) with gathers. Volumes use the same 2D map on every slice.

On the CPU the core's numpy/scipy path (in the tf.data readers) is used instead, as in torch.
"""

from __future__ import annotations

import tensorflow as tf


def _map_coordinate(p: tf.Tensor, n: int, fill_mode: str) -> tf.Tensor:
    """Input positions (pixels) -> positions inside [0, n - 1] per fill mode (before sampling)."""
    last = float(n - 1)
    if fill_mode == "reflect":
        period = 2.0 * n
        q = tf.math.floormod(p + 0.5, period)
        q = tf.where(q > n, period - q, q)
        p = q - 0.5
    elif fill_mode == "wrap":
        period = max(n - 1, 1)
        p = tf.where((p < 0) | (p > last), tf.math.floormod(p, float(period)), p)
    return tf.clip_by_value(p, 0.0, last)


def _coordinates(matrix: tf.Tensor, hflip: tf.Tensor, vflip: tf.Tensor, rows: int, cols: int):
    """(B, rows, cols) input row and column positions read by every output pixel."""
    r, c = tf.meshgrid(tf.range(rows, dtype=tf.float32), tf.range(cols, dtype=tf.float32), indexing="ij")
    r, c = r[None], c[None]
    c = tf.where(tf.reshape(tf.cast(hflip, tf.bool), (-1, 1, 1)), cols - 1.0 - c, c)
    r = tf.where(tf.reshape(tf.cast(vflip, tf.bool), (-1, 1, 1)), rows - 1.0 - r, r)
    m = tf.cast(matrix, tf.float32)

    def entry(i, j):
        return tf.reshape(m[:, i, j], (-1, 1, 1))

    return (entry(0, 0) * r + entry(0, 1) * c + entry(0, 2),
            entry(1, 0) * r + entry(1, 1) * c + entry(1, 2))


def _warp(planes: tf.Tensor, pr: tf.Tensor, pc: tf.Tensor, *, linear: bool, fill_mode: str, cval: float):
    """planes (B, rows, cols, K) float32; pr, pc (B, rows, cols) input positions."""
    shape = tf.shape(planes)
    batch, rows, cols = shape[0], planes.shape[1], planes.shape[2]
    flat = tf.reshape(planes, (-1, tf.shape(planes)[3]))
    base = tf.reshape(tf.range(batch) * (rows * cols), (-1, 1, 1))
    qr, qc = _map_coordinate(pr, rows, fill_mode), _map_coordinate(pc, cols, fill_mode)

    def read(ir, ic):
        return tf.gather(flat, base + ir * cols + ic)

    if linear:
        r0, c0 = tf.floor(qr), tf.floor(qc)
        wr, wc = (qr - r0)[..., None], (qc - c0)[..., None]
        r0, c0 = tf.cast(r0, tf.int32), tf.cast(c0, tf.int32)
        r1, c1 = tf.minimum(r0 + 1, rows - 1), tf.minimum(c0 + 1, cols - 1)
        top = read(r0, c0) * (1 - wc) + read(r0, c1) * wc
        bottom = read(r1, c0) * (1 - wc) + read(r1, c1) * wc
        out = top * (1 - wr) + bottom * wr
    else:
        out = read(tf.cast(tf.round(qr), tf.int32), tf.cast(tf.round(qc), tf.int32))
    if fill_mode == "constant":
        outside = (pr < 0) | (pr > rows - 1.0) | (pc < 0) | (pc > cols - 1.0)
        out = tf.where(outside[..., None], tf.constant(cval, out.dtype), out)
    return out


def warp_channels_last(array: tf.Tensor, coords, *, linear: bool, fill_mode: str, cval: float) -> tf.Tensor:
    """Warp (B, rows, cols[, slices], C) with one 2D map per sample applied to every plane."""
    shape = tf.shape(array)
    planes = tf.reshape(tf.cast(array, tf.float32), tf.concat([shape[:1], [array.shape[1], array.shape[2], -1]], 0))
    out = _warp(planes, *coords, linear=linear, fill_mode=fill_mode, cval=cval)
    return tf.reshape(out, shape)


def augment_batch(batch: dict, *, fill_mode: str, cval: float, target_kind: str) -> tuple[tf.Tensor, tf.Tensor]:
    """Apply the packed per-sample parameters of ``batch`` (from TrainingSamples(on_device=True))."""
    x, y = tf.cast(batch["x"], tf.float32), batch.get("y")
    coords = _coordinates(batch["matrix"], batch["hflip"], batch["vflip"], x.shape[1], x.shape[2])
    x = warp_channels_last(x, coords, linear=True, fill_mode=fill_mode, cval=cval)
    view = tf.concat([[-1], tf.ones([x.shape.rank - 1], tf.int32)], 0)
    x = (x + tf.reshape(tf.cast(batch["channel_shift"], tf.float32), view)) \
        * tf.reshape(tf.cast(batch["brightness"], tf.float32), view)
    if y is not None and target_kind != "vector":
        y = warp_channels_last(y, coords, linear=target_kind != "labels", fill_mode=fill_mode, cval=cval)
    return x, y


def normalize(a: tf.Tensor, norm) -> tf.Tensor:
    """Batched :class:`dlae_core.data.preprocess.Normalization` (per sample)."""
    if norm.kind == "none":
        return a
    if norm.kind == "channels":  # imagenet: reorder, subtract and scale per channel (channels last)
        picked = tf.gather(a, list(norm.order), axis=-1)
        return (picked - tf.constant(norm.offset, a.dtype)) * tf.constant(norm.scale, a.dtype)
    flat = tf.reshape(a, (tf.shape(a)[0], -1))
    if norm.kind == "samplewise":
        lo, hi = tf.reduce_min(flat, axis=1), tf.reduce_max(flat, axis=1)
    else:
        lo = tf.fill(tf.shape(flat)[:1], tf.constant(norm.low, a.dtype))
        hi = tf.fill(tf.shape(flat)[:1], tf.constant(norm.high, a.dtype))
    span = hi - lo
    safe = tf.where(span == 0, tf.ones_like(span), span)
    u = (flat - lo[:, None]) / safe[:, None]
    if norm.negpos:
        u = 2 * (u - 0.5)
    return tf.reshape(tf.where((span == 0)[:, None], flat, u), tf.shape(a))


def one_hot(y: tf.Tensor, categories: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(one-hot float32, ``invalid``): labels outside 0..categories-1 (or NaN/Inf) cannot be raised
    inside a graph, so ``invalid`` = [1, first invalid value] (else [0, 0]) is checked by the trainer
    (:func:`invalid_label_error`)."""
    y = tf.cast(y, tf.float32)
    if y.shape.rank > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    finite = tf.math.is_finite(y)
    labels = tf.cast(tf.where(finite, y, -1.0), tf.int64)  # truncation, as numpy's astype
    bad = (labels < 0) | (labels >= categories) | ~finite
    any_bad = tf.reduce_any(bad)
    first = tf.cond(any_bad, lambda: tf.boolean_mask(y, bad)[0], lambda: tf.constant(0.0))
    return tf.one_hot(labels, categories, dtype=tf.float32), tf.stack([tf.cast(any_bad, tf.float32), first])


def invalid_label_error(invalid, categories: int):
    """The DataError of an ``invalid`` value from :func:`one_hot`, or None when the labels were valid."""
    flag, value = (float(v) for v in invalid)
    if not flag:
        return None
    from dlae_core.errors import DataError, problem

    shown = int(value) if value == value and abs(value) != float("inf") else value
    return DataError([problem("preprocessing.categories", f"a training target holds the class label {shown}, "
                              f"outside 0..{categories - 1}", received=shown)])


def finish_batch(x: tf.Tensor, y: tf.Tensor, preprocessor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Normalization and one-hot of a batch, as Preprocessor.finish does per sample; returns
    (x, y, invalid) (see :func:`one_hot`)."""
    x = normalize(x, preprocessor.x_norm)
    invalid = tf.zeros((2,), tf.float32)
    if y is not None:
        y = normalize(tf.cast(y, tf.float32), preprocessor.y_norm)
        if preprocessor.categories is not None:
            y, invalid = one_hot(y, preprocessor.categories)
    return x, y, invalid

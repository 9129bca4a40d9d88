"""Random geometric and intensity augmentation, framework-free.

The parameters of one sample's augmentation are drawn here, in the core, from a
``numpy.random.Generator``: the same seed gives the same augmented sample on
every backend. A backend either applies them on the CPU with
:func:`apply_params` (scipy), or on its accelerator from the packed arrays
(:meth:`AugmentParams.as_arrays`, :func:`affine_grid_matrix`).

Geometry (identical to the Keras 2.2.4 image-data-generator transform), in
homogeneous (row, col) pixel-index coordinates::

    R = [[cos t, -sin t, 0], [sin t, cos t, 0], [0, 0, 1]]       rotation t (degrees drawn)
    T = [[1, 0, t_r], [0, 1, t_c], [0, 0, 1]]                     shift (rows, cols)
    H = [[1, -sin s, 0], [0, cos s, 0], [0, 0, 1]]                shear s (degrees drawn)
    Z = [[z_r, 0, 0], [0, z_c, 0], [0, 0, 1]]                     zoom (> 1 zooms out)
    O = [[1, 0, o_r], [0, 1, o_c], [0, 0, 1]],  o_r = rows/2 + 0.5,  o_c = cols/2 + 0.5
    matrix = O @ R @ T @ H @ Z @ inv(O)

``matrix`` maps an *output* pixel (r, c, 1) to the *input* position it samples
(exactly what ``scipy.ndimage.affine_transform(x, matrix[:2, :2], matrix[:2, 2])``
does). Hence a positive shift t_r moves the content *up* by t_r rows, and a
positive angle turns the content clockwise on screen (row axis down). The
centre (rows/2 + 0.5) is the Keras 2.2.4 one, one pixel below/right of the true
centre (rows - 1)/2; it is kept for compatibility. Flips come after the affine
resampling; brightness and channel shift act on X only::

    X <- flips((affine(X) + channel_shift) * brightness)
"""

from __future__ import annotations

import math

import attrs
import numpy as np

FILL_MODES = ("nearest", "constant", "reflect", "wrap")
TARGET_KINDS = ("labels", "dense", "vector")
_DRAWS = 10  # uniform numbers drawn per sample, whatever the switches (see sample_params)


@attrs.frozen(eq=False)
class AugmentParams:
    """The random augmentation of one sample.

    ``matrix``: (3, 3) float64 output -> input map in (row, col) pixel coordinates
    (module docstring); ``hflip``/``vflip``: reverse columns / rows after the
    affine; ``brightness``: factor multiplying X (1.0 when off); ``channel_shift``:
    value added to every element of X (0.0 when off).
    """

    matrix: np.ndarray
    hflip: bool = False
    vflip: bool = False
    brightness: float = 1.0
    channel_shift: float = 0.0

    @classmethod
    def identity(cls) -> "AugmentParams":
        """Parameters that leave a sample unchanged."""
        return cls(np.eye(3))

    @property
    def is_geometric_identity(self) -> bool:
        """True when the affine is the identity (no resampling needed)."""
        return bool(np.array_equal(self.matrix, np.eye(3)))

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Numpy arrays a data loader can batch: matrix (3, 3) float32, hflip/vflip bool,
        brightness/channel_shift float32 scalars."""
        return {"matrix": np.asarray(self.matrix, np.float32), "hflip": np.bool_(self.hflip),
                "vflip": np.bool_(self.vflip), "brightness": np.float32(self.brightness),
                "channel_shift": np.float32(self.channel_shift)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "AugmentParams":
        """Inverse of :meth:`as_arrays` (the matrix comes back as float64)."""
        return cls(np.asarray(arrays["matrix"], np.float64), bool(arrays["hflip"]), bool(arrays["vflip"]),
                   float(arrays["brightness"]), float(arrays["channel_shift"]))


def _clean(matrix: np.ndarray) -> np.ndarray:
    """Snap entries within 1e-9 of an integer (trigonometric noise such as cos 90°)."""
    near = np.round(matrix)
    return np.where(np.abs(matrix - near) < 1e-9, near, matrix)


def transform_matrix(spatial_shape: tuple, theta: float = 0.0, shift: tuple = (0.0, 0.0),
                     shear: float = 0.0, zoom: tuple = (1.0, 1.0)) -> np.ndarray:
    """The centred output -> input matrix for angles in degrees and shifts in pixels."""
    t, s = math.radians(theta), math.radians(shear)
    rotate = np.array([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0], [0.0, 0.0, 1.0]])
    move = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]], [0.0, 0.0, 1.0]])
    slant = np.array([[1.0, -math.sin(s), 0.0], [0.0, math.cos(s), 0.0], [0.0, 0.0, 1.0]])
    scale = np.diag([zoom[0], zoom[1], 1.0])
    rows, cols = spatial_shape[:2]
    o_r, o_c = rows / 2 + 0.5, cols / 2 + 0.5
    centre = np.array([[1.0, 0.0, o_r], [0.0, 1.0, o_c], [0.0, 0.0, 1.0]])
    reset = np.array([[1.0, 0.0, -o_r], [0.0, 1.0, -o_c], [0.0, 0.0, 1.0]])
    return _clean(centre @ rotate @ move @ slant @ scale @ reset)


def _between(u: float, low: float, high: float) -> float:
    return float(low + (high - low) * u)


def sample_params(rng: np.random.Generator, aug_config, spatial_shape: tuple) -> AugmentParams:
    """Draw one sample's augmentation from ``rng`` with the ``augmentation`` config section.

    Exactly ten uniform numbers are drawn, in this order, whatever is switched on
    (so enabling one option does not change the others): rotation, row shift,
    column shift, shear, row zoom, column zoom, channel shift, horizontal flip,
    vertical flip, brightness. Ranges: rotation U(-r, r) degrees; shifts U(-v, v)
    times rows (height_shift) / cols (width_shift) when v < 1, else pixels; shear
    U(-v, v) degrees; zooms U(1 - z, 1 + z) each; channel shift
    U(-channel_shift_range, +channel_shift_range); flips with probability 0.5 when
    their switch is on; brightness U(low, high) when brightness_range is set.
    ``spatial_shape`` is (rows, cols[, slices]); only rows and cols are used.
    """
    u = rng.random(_DRAWS)
    rows, cols = spatial_shape[:2]
    a = aug_config
    theta = _between(u[0], -a.rotation_range, a.rotation_range)
    t_r = _between(u[1], -a.height_shift, a.height_shift) * (rows if a.height_shift < 1 else 1)
    t_c = _between(u[2], -a.width_shift, a.width_shift) * (cols if a.width_shift < 1 else 1)
    shear = _between(u[3], -a.shear_range, a.shear_range)
    zoom = (_between(u[4], 1 - a.zoom_range, 1 + a.zoom_range), _between(u[5], 1 - a.zoom_range, 1 + a.zoom_range))
    shift = _between(u[6], -a.channel_shift_range, a.channel_shift_range)
    low, high = a.brightness_range if a.brightness_range is not None else (1.0, 1.0)
    matrix = transform_matrix((rows, cols), theta, (t_r, t_c), shear, zoom)
    return AugmentParams(matrix, bool(a.horizontal_flip_switch and u[7] < 0.5),
                         bool(a.vertical_flip_switch and u[8] < 0.5), _between(u[9], low, high), shift)


def _resample(array: np.ndarray, matrix: np.ndarray, order: int, mode: str, cval: float) -> np.ndarray:
    """Apply the 2D map to every (rows, cols) plane of ``array`` (rows, cols, ...)."""
    from scipy import ndimage  # on first use: importing it costs every run 0.35 s
    planes = array.reshape(array.shape[0], array.shape[1], -1)
    out = np.empty_like(planes)
    linear, offset = matrix[:2, :2], matrix[:2, 2]
    for k in range(planes.shape[2]):
        ndimage.affine_transform(planes[:, :, k], linear, offset, output=out[:, :, k], order=order,
                                 mode=mode, cval=cval, prefilter=False)
    return out.reshape(array.shape)


def _flip(array: np.ndarray, params: AugmentParams) -> np.ndarray:
    if params.hflip:
        array = array[:, ::-1]
    if params.vflip:
        array = array[::-1]
    return np.ascontiguousarray(array)


def apply_params(x: np.ndarray, y: np.ndarray | None, params: AugmentParams, fill_mode: str = "nearest",
                 cval: float = 0.0, target_kind: str = "dense") -> tuple[np.ndarray, np.ndarray | None]:
    """Augment one channels-last sample: ``x`` (rows, cols[, slices], ch), ``y`` its target.

    X: every (rows, cols) plane (each channel, and each slice of a volume) is
    resampled bilinearly (order 1) with ``fill_mode``/``cval`` (scipy.ndimage
    names, which Keras used directly), then ``(x + channel_shift) * brightness``,
    then the flips. ``target_kind``: ``"labels"`` (class-label maps) get the same
    geometry with nearest-neighbour sampling (order 0, so labels stay integers),
    ``"dense"`` (continuous maps) bilinear, ``"vector"`` (CNN targets) is left
    untouched. Neither brightness nor channel shift touches y. Returns new arrays.
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, not {fill_mode!r}")
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target_kind must be one of {TARGET_KINDS}, not {target_kind!r}")
    geometric = not params.is_geometric_identity
    x = _resample(x, params.matrix, 1, fill_mode, cval) if geometric else np.array(x)
    if params.channel_shift != 0.0:
        x = x + np.asarray(params.channel_shift, x.dtype)
    if params.brightness != 1.0:
        x = x * np.asarray(params.brightness, x.dtype)
    x = _flip(x, params)
    if y is not None and target_kind != "vector":
        order = 0 if target_kind == "labels" else 1
        y = _resample(y, params.matrix, order, fill_mode, cval) if geometric else np.array(y)
        y = _flip(y, params)
    return x, y


def pixel_to_normalized(spatial_shape: tuple) -> np.ndarray:
    """S: (row, col, 1) pixel indices -> (x, y, 1) of ``affine_grid(align_corners=False)``.

    x = (2 col + 1) / W - 1 and y = (2 row + 1) / H - 1, W = cols, H = rows.
    """
    rows, cols = spatial_shape[:2]
    return np.array([[0.0, 2.0 / cols, 1.0 / cols - 1.0], [2.0 / rows, 0.0, 1.0 / rows - 1.0], [0.0, 0.0, 1.0]])


def affine_grid_matrix(params: AugmentParams, spatial_shape: tuple, include_flips: bool = True) -> np.ndarray:
    """The (2, 3) float32 ``theta`` of ``torch.nn.functional.affine_grid(..., align_corners=False)``.

    Derivation. ``affine_grid`` gives every output pixel, in normalized coordinates
    (x = column, y = row, both in (-1, 1), pixel centres at (2i + 1)/n - 1),
    the normalized input position ``theta @ (x, y, 1)`` that ``grid_sample`` reads.
    With S = :func:`pixel_to_normalized` (pixel (row, col, 1) -> normalized
    (x, y, 1)) and the pixel-space map ``matrix`` (output -> input), the same map in
    normalized space is ``S @ matrix @ inv(S)``; theta is its first two rows.
    Flips after the affine read output column c from column W-1-c, which is
    x -> -x in normalized coordinates, so with ``include_flips`` theta is
    ``S @ matrix @ inv(S) @ diag(-1 if hflip, -1 if vflip, 1)``.

    Use: a channels-first batch (B, C, H, W) with one theta per sample;
    ``grid = affine_grid(theta, (B, C, H, W), align_corners=False)``, then
    ``grid_sample(x, grid, mode="bilinear", align_corners=False, padding_mode=...)``
    (``"nearest"`` for label targets). Volumes: put slices into the channel axis
    ((B, slices*C, rows, cols)), the same 2D map applies to every slice. Fill modes,
    made exactly equal to scipy (scipy's edge rules differ from padding_mode
    inside the half-pixel border strip, so compute in pixel units
    p = ((g + 1) * n - 1) / 2 from the grid g, per axis with n = W or H):

    * ``nearest``: ``padding_mode="border"`` (exact).
    * ``reflect``: ``padding_mode="reflection"`` (exact: both reflect about -0.5 and n-0.5).
    * ``constant``: ``padding_mode="zeros"``, then set every output whose p lies outside
      [0, n-1] on either axis to ``cval`` (scipy reads cval there, even 0.01 outside).
    * ``wrap``: scipy's "wrap" has period n-1 (the first and last samples coincide):
      p outside [0, n-1] becomes ``p mod (n-1)``; then convert back and sample with
      ``padding_mode="border"``.

    Brightness and channel shift are then applied to X as in :func:`apply_params`.
    """
    to_norm = pixel_to_normalized(spatial_shape)
    full = to_norm @ np.asarray(params.matrix, np.float64) @ np.linalg.inv(to_norm)
    if include_flips:
        full = full @ np.diag([-1.0 if params.hflip else 1.0, -1.0 if params.vflip else 1.0, 1.0])
    return full[:2].astype(np.float32)


def input_coordinates(params: AugmentParams, spatial_shape: tuple, include_flips: bool = True) -> np.ndarray:
    """(2, rows, cols) input pixel (row, col) read by every output pixel (flips included).

    A reference for backends that sample with their own primitives:
    ``scipy.ndimage.map_coordinates(plane, input_coordinates(p, shape), order=1, mode=...)``
    equals the geometric part of :func:`apply_params` on that plane.
    """
    rows, cols = spatial_shape[:2]
    r, c = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing="ij")
    if include_flips and params.hflip:
        c = cols - 1 - c
    if include_flips and params.vflip:
        r = rows - 1 - r
    m = np.asarray(params.matrix, np.float64)
    return np.stack([m[0, 0] * r + m[0, 1] * c + m[0, 2], m[1, 0] * r + m[1, 1] * c + m[1, 2]])

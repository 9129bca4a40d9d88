"""2-D models on volumes, slice by slice: ``dlae predict`` with a 2-D FCN or GAN model and a
folder holding NIfTI volumes, DICOM series or TIFF stacks.

Each volume is cut along one spatial axis (``--slice-axis``; default 2, the last: a NIfTI's k axis,
a DICOM series' slice axis, a TIFF stack's pages) into 2-D images that enter ``test_X`` as samples
of their own, so each slice is preprocessed and predicted exactly as a 2-D image would be
(samplewise normalization is per slice). The slices' outputs are stacked back along the same axis
into one output per volume, so the predictions file holds one dataset per source and the
written-back image has the volume's voxel grid: the source's affine and header apply unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from dlae_core.errors import UsageError

SLICE_AXES = (0, 1, 2)
DEFAULT_SLICE_AXIS = 2


def check_slice_axis(axis: int | None) -> int:
    """``axis`` (None: the default), or UsageError when it is not a spatial axis of a volume."""
    if axis is None:
        return DEFAULT_SLICE_AXIS
    if axis not in SLICE_AXES:
        raise UsageError(f"--slice-axis: a volume is cut along one of its spatial axes. Expected one of "
                         f"{', '.join(map(str, SLICE_AXES))}. Received: {axis}")
    return axis


def volume_slices(array: np.ndarray, rank: int, axis: int) -> list[np.ndarray]:
    """The 2-D slices of a volume along spatial ``axis``, each channels-last (rows, cols, channels);
    ``array`` holds ``rank`` (3) spatial axes, then channels when there are several."""
    channels_last = array if array.ndim > rank else array[..., None]
    return [np.ascontiguousarray(s) for s in np.moveaxis(channels_last, axis, 0)]


class SliceRegrouping:
    """Turns the stream of per-sample outputs (named as test_X's datasets) into one output per
    source: a sliced volume's slice outputs stacked along its slice axis, a whole source's output
    renamed to its predictions name. ``sources``: :class:`~dlae_core.medical.writeback.SourceInfo`
    whose ``parts`` are their test_X dataset names, in slice order."""

    def __init__(self, sources):
        self.sources = list(sources)
        self.owner = {part: (source, index) for source in self.sources for index, part in enumerate(source.parts)}

    @property
    def sliced(self) -> bool:
        return any(source.slice_axis is not None for source in self.sources)

    def __call__(self, items: Iterable[tuple[str, np.ndarray]]) -> Iterator[tuple[str, np.ndarray]]:
        pending: dict[str, dict[int, np.ndarray]] = {}
        for part, output in items:
            source, index = self.owner[part]
            if source.slice_axis is None:
                yield source.name, output
                continue
            done = pending.setdefault(source.name, {})
            done[index] = np.asarray(output)
            if len(done) == len(source.parts):
                del pending[source.name]
                yield source.name, np.stack([done[i] for i in range(len(source.parts))], axis=source.slice_axis)

    def label(self, part: str) -> str:
        """How a problem of test_X dataset ``part`` names its source: ``source 'key'`` (and the slice)."""
        source, index = self.owner[part]
        where = f"source {source.key!r}"
        return where if source.slice_axis is None else f"{where}, slice {index} along axis {source.slice_axis}"

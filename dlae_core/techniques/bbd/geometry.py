"""Per-predictor-layer BBD settings: counts must match the number of hooks."""

from __future__ import annotations

from dlae_core.errors import Problem, problem


def check_bbd_geometry(bbd, n_layers: int) -> list[Problem]:
    """Problems with scales/aspect ratios/steps/offsets for ``n_layers`` predictor layers."""
    out = []
    if bbd.scaling_type == "per predictor layer" and len(bbd.scales) != n_layers + 1:
        out.append(problem("bbd_options.scales", f"per-layer scales need one value per predictor layer plus one "
                           f"({n_layers + 1} for {n_layers} hooks)", received=bbd.scales))
    if bbd.aspect_ratios_type == "per predictor layer" and len(bbd.aspect_ratios) != n_layers:
        out.append(problem("bbd_options.aspect_ratios", f"per-layer aspect ratios need one tuple per predictor "
                           f"layer ({n_layers})", received=len(bbd.aspect_ratios)))
    for key in ("steps", "offsets"):
        value = getattr(bbd, key)
        if value is not None and len(value) != n_layers:
            out.append(problem(f"bbd_options.{key}", f"{key} need one entry per predictor layer ({n_layers}), or None",
                               received=value))
    return out

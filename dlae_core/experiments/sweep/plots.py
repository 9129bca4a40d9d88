"""PNG plots of a sweep (matplotlib, extra ``sweep``): the objective per trial, the objective against each
parameter, and Optuna's parameter importances."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_plots"]


def write_plots(study, sweep, rows: list[dict], folder: Path) -> tuple[list[Path], list[str]]:
    """(files written, notes on plots left out)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], ['plots need matplotlib: pip install "dlae[sweep]"']
    from dlae_core.running.outputs import write_atomic

    metric, written, notes = sweep.metric, [], []
    scored = [r for r in rows if r[metric] != ""]

    def save(figure, name: str) -> None:
        path = folder / name
        write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
        plt.close(figure)
        written.append(path)

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot([r["number"] for r in scored], [float(r[metric]) for r in scored], "o")
    axis.set(xlabel="trial", ylabel=metric, title=f"{metric} per trial ({sweep.direction})")
    save(figure, "objective.png")

    count = len(sweep.parameters)
    figure, axes = plt.subplots(1, count, figsize=(4 * count, 3.5), squeeze=False)
    for axis, parameter in zip(axes[0], sweep.parameters):
        xs = [r[parameter.path] for r in scored]
        numeric = parameter.values is None
        axis.plot([float(x) for x in xs] if numeric else xs, [float(r[metric]) for r in scored], "o")
        if numeric and parameter.log:
            axis.set_xscale("log")
        axis.set(xlabel=parameter.path, ylabel=metric)
        axis.tick_params(axis="x", labelrotation=30)
    save(figure, "parameters.png")

    try:
        import optuna

        importances = optuna.importance.get_param_importances(study)
    except Exception as exc:  # too few finished trials, a single value, ...: said, not fatal
        notes.append(f"no parameter-importance chart: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return written, notes
    figure, axis = plt.subplots(figsize=(6, 0.6 * len(importances) + 1.5))
    names = list(importances)[::-1]
    axis.barh(names, [importances[n] for n in names])
    axis.set(xlabel="importance (fANOVA)", title=f"parameter importance for {metric}")
    save(figure, "importance.png")
    return written, notes

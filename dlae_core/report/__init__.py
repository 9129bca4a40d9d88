"""What a person looks at after a run: pictures (PNG) and one self-contained ``report.html`` in the
folder ``<first output>.report/`` beside the run record (dlae_core.running.record).

* :mod:`.charts`   -- charts (Pillow, :mod:`.plot`): curves, confusion matrix with precision/recall, predicted vs true
* :mod:`.images`   -- Pillow/numpy pictures: overlays, grids, boxes, middle slices
* :mod:`.pictures` -- what is collected from the model and which pictures a technique gets
* :mod:`.html`     -- report.html (pictures inlined as data URIs)
* :mod:`.reporter` -- drawing at checkpoint times and at the end, in a background thread
* :func:`rebuild`  -- ``dlae report``: redraw the curves and the page from the files a run left

Needs the extra ``report`` (Pillow, tensorboardX); without it a run trains and says so in one note.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["rebuild"]


def rebuild(record_path: str | Path) -> Path:
    """Redraw the curves (from the CSV history, else the record's) and write report.html again for
    the run recorded at ``record_path``; sample pictures drawn during training are kept as they are.
    Returns the page's path."""
    from dlae_core.extras import require
    from dlae_core.report import charts, html, pictures
    from dlae_core.report.reporter import read_csv_history
    from dlae_core.running.outputs import write_atomic
    from dlae_core.running.record import load_record, report_folder

    require("report", "dlae report")
    record = load_record(record_path)
    folder = report_folder(record_path)
    save = (record.get("config") or {}).get("save_configurations", {})
    csv_path = Path(save["save_csv_path"]) if save.get("save_csv_switch") and save.get("save_csv_path") else None
    inference = record.get("session") == "Inference"  # its config's CSV is the training's: no curves
    history = [] if inference else read_csv_history(csv_path) or record.get("history") or []
    entries = [entry for entry in pictures.read_manifest(folder) if entry["file"] != "curves.png"]
    if history:
        folder.mkdir(parents=True, exist_ok=True)
        png = charts.curves(history)
        write_atomic(folder / "curves.png", lambda tmp: tmp.write_bytes(png))
        entries.insert(0, {"file": "curves.png", "title": "Training curves",
                           "caption": "loss and monitors per epoch (train solid, validation dashed); learning rate "
                                      "dotted, right axis"})
    import json

    text = json.dumps(entries, indent=1)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / pictures.MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return html.write_report(folder, record)


def finish(record, *, technique, config) -> None:
    """At the end of ``dlae run`` (a RunRecord hook): the page again with the final record; for a
    technique that drew no pictures while training (GAN, plugins) the curves and its own images now."""
    import json

    from dlae_core.extras import missing_modules
    from dlae_core.report import html, pictures
    from dlae_core.report.reporter import TIMING, read_csv_history

    folder = record.report_folder
    if folder is None or "PIL" in missing_modules("report"):
        return
    timing = folder / TIMING
    if timing.is_file():
        record.data["report_seconds"] = json.loads(timing.read_text(encoding="utf-8"))
    manifest = folder / pictures.MANIFEST
    if not (manifest.is_file() and manifest.stat().st_mtime >= record.started_at):  # none drawn by this run
        if record.data.get("status") != "finished":
            return
        save = config.save_configurations
        csv_path = Path(save.save_csv_path) if save.save_csv_switch and save.save_csv_path else None
        history = read_csv_history(csv_path) or record.data.get("history") or []
        extra = [(title, path) for title, path in technique.report_images(config) if Path(path).is_file()]
        if not history and not extra:
            return
        pictures.draw(folder, history, None, extra)
    html.write_report(folder, record.data)


def finish_inference(record, *, technique, config, registry) -> None:
    """At the end of an Inference session (a RunRecord hook): its pictures (dlae_core.report.inference)
    and report.html in ``<predictions>.report/``; nothing without the extra ``report`` (a note says so)
    or when the session did not finish."""
    from dlae_core.extras import install_hint, missing_modules
    from dlae_core.report import html, inference

    folder = record.report_folder
    missing = [name for name in missing_modules("report") if name == "PIL"]
    if missing:
        import click

        click.echo(f"note: pictures and report.html skipped ({', '.join(missing)} not installed; run: "
                   f"{install_hint('report')})")
        return
    if folder is None or record.data.get("status") != "finished":
        return
    loss = registry.losses.get(config.loss_function.loss)
    inference.draw(folder, technique, config, Path(record.data["predictions"]), loss is not None and loss.target == "dense")
    html.write_report(folder, record.data)

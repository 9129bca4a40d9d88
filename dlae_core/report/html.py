"""``report.html``: one self-contained page per run (opens offline: the pictures are inlined as
``data:`` URIs, the style is inline, there is no script and no link to anything outside the file)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from dlae_core.report.pictures import read_manifest
from dlae_core.running.outputs import write_atomic

REPORT_NAME = "report.html"

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1000px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
figure{margin:1.5em 0}img{max-width:100%;image-rendering:pixelated;border:1px solid #eee}
figcaption{color:#555;font-size:90%}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:85%}"""

#: (record key, label) of the summary table, in order
SUMMARY = (("status", "status"), ("exit_code", "exit code"), ("error", "error"), ("technique", "technique"),
           ("session", "session"), ("backend", "backend"), ("hash", "config hash"), ("config_path", "config"),
           ("predictions", "predictions file"), ("predicted", "samples predicted"), ("mlflow", "MLflow run"),
           ("command", "command"), ("seed", "seed"), ("started", "started"), ("ended", "ended"),
           ("duration_s", "duration (s)"), ("epochs_run", "epochs run"), ("best", "best epoch"),
           ("device", "device"), ("versions", "versions"))


def _cell(value) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, [], {}))
    return html.escape(str(value))


def render(record: dict | None, pictures: list[dict], folder: Path) -> str:
    """The page of ``record`` (run.json; None: pictures only) with the manifest's pictures from ``folder``."""
    record = record or {}
    title = f"dlae run {record.get('hash', '')} ({record.get('technique', '')}, {record.get('status', 'no record')})"
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><table>"]
    for key, label in SUMMARY:
        if record.get(key) not in (None, "", {}):
            parts.append(f"<tr><th>{label}</th><td>{_cell(record[key])}</td></tr>")
    parts.append("</table>")
    for entry in pictures:
        source = folder / entry["file"]
        if not source.is_file():
            continue
        data = base64.b64encode(source.read_bytes()).decode("ascii")
        parts.append(f"<figure><h2>{html.escape(entry['title'])}</h2>"
                     f"<img alt=\"{html.escape(entry['title'])}\" src=\"data:image/png;base64,{data}\">"
                     f"<figcaption>{html.escape(entry.get('caption', ''))}</figcaption></figure>")
    if record.get("config"):
        config = html.escape(json.dumps(record["config"], indent=1))
        parts.append(f"<details><summary>config (typed form)</summary><pre>{config}</pre></details>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(folder: Path, record: dict | None) -> Path:
    """Write ``folder/report.html`` from the pictures listed in ``folder``'s manifest, atomically."""
    text = render(record, read_manifest(folder), folder)
    return write_atomic(Path(folder) / REPORT_NAME, lambda tmp: tmp.write_text(text, encoding="utf-8"))

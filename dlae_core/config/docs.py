"""Render docs/CONFIG.md from the schema, so the documentation cannot drift from the code.

Regenerate with ``python -m dlae_core.config.docs > docs/CONFIG.md``; a test compares them.
"""

from __future__ import annotations

import attrs

from dlae_core.config.schema import REQUIRED, SECTIONS

USED_BY = {"C": "CNN", "F": "FCN", "G": "GAN", "B": "BBD"}

HEADER = """# dlae configuration keys

Generated from `dlae_core/config/schema.py` by `python -m dlae_core.config.docs`; do not edit by hand.

A config is one JSON object with the sections below and `layers` (three lists of layer strings or
layer objects; see LAYER_GRAMMAR in the spec and `dlae list layers`). Values may be written in the
original string form (`"True"`, `"0.5"`, `"(3, 3)"`, `"0.1, 0.9"`) or the typed form (`true`, `0.5`,
`[3, 3]`, `[0.1, 0.9]`). Absent keys, and empty strings, take the default shown. Keys marked **new**
do not exist in the original DLAE; their defaults reproduce the original behaviour.
"""


def _default_text(field, kind) -> str:
    if field.default is REQUIRED:
        return "required"
    text = kind.format(field.default)
    return f"`{text}`" if text else '`""`'


def render() -> str:
    lines = [HEADER]
    for name, cls in SECTIONS.items():
        lines += [f"## `{name}`", "", "| key | default | accepts | used by | meaning |", "|---|---|---|---|---|"]
        for field in attrs.fields(cls):
            meta, kind = field.metadata, field.metadata["kind"]
            accepts = "a registered name" if meta["registry"] else kind.describe()
            used = ", ".join(USED_BY[c] for c in meta["used_by"]) or "none"
            key = f"`{field.name}`" + (" **new**" if meta["new"] else "")
            doc = meta["doc"].replace("|", "\\|")
            lines.append(f"| {key} | {_default_text(field, kind)} | {accepts.replace('|', '/')} | {used} | {doc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")

"""docs/CONFIG.md is generated from the schema and must not drift from it."""

from pathlib import Path

import attrs

from dlae_core.config import docs
from dlae_core.config.schema import SECTIONS

ROOT = Path(__file__).resolve().parents[1]


def test_config_doc_is_up_to_date():
    text = (ROOT / "docs" / "CONFIG.md").read_text()
    assert text == docs.render(), "regenerate with: python -m dlae_core.config.docs > docs/CONFIG.md"


def test_config_doc_lists_every_key_once():
    text = (ROOT / "docs" / "CONFIG.md").read_text()
    for name, cls in SECTIONS.items():
        assert f"## `{name}`" in text
        for field in attrs.fields(cls):
            assert text.count(f"| `{field.name}`") >= 1, field.name
    assert "`precision` **new**" in text

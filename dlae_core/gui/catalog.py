"""New configs for the page: from the prebuilt catalog (``dlae prebuilt``), from an example
(``dlae example``), or an empty one for a technique."""

from __future__ import annotations

from pathlib import Path

from dlae_core.gui import editing


def prebuilt_entries() -> list[dict]:
    """The catalog as ``dlae prebuilt list`` shows it, with each entry's default shape and classes."""
    from dlae_core.prebuilt import ENTRIES

    return [{"name": e.name, "technique": e.technique, "encoder": e.encoder, "description": e.description,
             "default_shape": str(tuple(e.default_shape)), "default_classes": e.default_classes,
             "pretrained": e.pretrained, "family": e.family} for e in ENTRIES.values()]


def prebuilt_config(name: str, input_shape: str | None, classes: int | None, weights: str | None, registry) -> dict:
    """The page form of catalog entry ``name`` generated for the shape, classes and weights (each
    None for the entry's default), as ``dlae prebuilt new`` writes it; PrebuiltError, one line, when
    they do not fit the entry."""
    from dlae_core.cli.prebuilt_commands import _parse_shape
    from dlae_core.prebuilt import build_config, generate

    model = generate(name, _parse_shape(input_shape or None), None if classes in (None, "") else int(classes),
                     weights or None)
    return editing.page_form(build_config(model), registry)


def example_names() -> list[str]:
    from dlae_core.cli.example_commands import EXAMPLES

    return sorted(EXAMPLES)


def write_example(name: str, folder: str, overwrite: bool) -> Path:
    """``dlae example NAME FOLDER``: its config and generated data; returns the config's path."""
    from dlae_core.cli.example_commands import EXAMPLES
    from dlae_core.cli.example_commands import write_example as write
    from dlae_core.errors import UsageError

    if name not in EXAMPLES:
        raise UsageError(f"unknown example {name!r}; one of {', '.join(sorted(EXAMPLES))}")
    return write(name, Path(folder).expanduser().resolve(), overwrite=overwrite).resolve()


def new_config(technique: str, registry) -> dict:
    """A config to build from nothing: the technique, a Train session and an Input layer in each of
    its lists (the generator and discriminator for GAN); every other key takes its default."""
    shape = "(64, 64, 1)"
    lists = ("generator_layer_list", "discriminator_layer_list") if technique == "GAN" else ("serial_layer_list",)
    raw = {"config_file": {"model_signal": technique, "type_signal": "Train", "input_shape": shape},
           "layers": {name: [f"Input:{shape}"] for name in lists}}
    return editing.page_form(raw, registry)

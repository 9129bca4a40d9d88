"""``dlae prebuilt list|show|new``: the prebuilt model catalog (:mod:`dlae_core.prebuilt`)."""

from __future__ import annotations

from pathlib import Path

import click

_SHAPE_HELP = 'Input shape with channels, e.g. "(256, 256, 1)" (3D: "(64, 64, 32, 1)"). Default: the entry\'s.'
_CLASSES_HELP = ("CNN/FCN: classes (default 2; lenet5 10); BBD: object classes without the background "
                 "(default 1); GAN: channels of the generated image (default: the input's).")
_WEIGHTS_HELP = "Encoder weights for the pretrained entries: none (default) or imagenet."


def _options(function):
    function = click.option("--weights", default=None, metavar="imagenet|none", help=_WEIGHTS_HELP)(function)
    function = click.option("--classes", type=int, default=None, help=_CLASSES_HELP)(function)
    return click.option("--input-shape", "input_shape", default=None, metavar="SHAPE", help=_SHAPE_HELP)(function)


def _parse_shape(text: str | None) -> tuple | None:
    if text is None:
        return None
    from dlae_core.config.values import Shape, ValueProblem
    from dlae_core.errors import problem
    from dlae_core.prebuilt import PrebuiltError

    try:
        return Shape(min_rank=3, max_rank=4).parse(text)
    except ValueProblem as exc:
        raise PrebuiltError(problem("--input-shape", "invalid input shape", expected=exc.expected,
                                    received=text).line()) from None


def _generate(name: str, input_shape: str | None, classes: int | None, weights: str | None):
    from dlae_core.prebuilt import generate

    return generate(name, _parse_shape(input_shape), classes, weights)


@click.group()
def prebuilt() -> None:
    """The prebuilt model catalog: the original's prebuilt models as ready configs for any input shape."""


@prebuilt.command(name="list")
def list_() -> None:
    """List the catalog: name, technique, encoder and what each model is."""
    from dlae_core.cli.render import print_rows
    from dlae_core.prebuilt import ENTRIES

    rows = [(e.name, e.technique, e.encoder or "-", e.description) for e in ENTRIES.values()]
    print_rows(f"{len(rows)} prebuilt models (dlae prebuilt show NAME, dlae prebuilt new NAME -o CONFIG)",
               ("name", "technique", "encoder", "description"), rows)


@prebuilt.command()
@click.argument("name")
@_options
def show(name: str, input_shape: str | None, classes: int | None, weights: str | None) -> None:
    """Show NAME's key settings and layer list (for the defaults, or the given shape and classes)."""
    from dlae_core.errors import ConfigError
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry
    from dlae_core.config.parser import parse_config
    from dlae_core.prebuilt import build_config, key_settings

    model = _generate(name, input_shape, classes, weights)
    click.echo(f"{model.entry.name}: {model.entry.description}")
    width = max(len(key) for key, _ in key_settings(model))
    for key, value in key_settings(model):
        click.echo(f"  {key.ljust(width)}  {value}")
    registry = get_registry()
    try:
        plan = plan_model(parse_config(build_config(model), registry), registry)
    except ConfigError as exc:
        click.echo(f"  {'graph check'.ljust(width)}  {exc.lines()[0]}")
    else:
        trainable, frozen = (sum(g.totals()[i] for g in plan.graphs.values()) for i in (0, 1))
        if model.entry.technique == "BBD":
            shapes = "predictor maps " + ", ".join("x".join(map(str, s[:2])) for s in plan.main.hook_shapes())
        else:
            shapes = ", ".join(f"{role} -> {g.output_shape}" for role, g in plan.graphs.items())
        click.echo(f"  {'output'.ljust(width)}  {shapes}; {trainable + frozen:,} parameters")
    for list_name, layers in model.layers.items():
        click.echo(f"{list_name} ({len(layers)} layers):")
        for index, text in enumerate(layers):
            click.echo(f"  {index:3d}  {text}")


@prebuilt.command()
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The config file to write.")
@_options
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT file.")
def new(name: str, output: str, input_shape: str | None, classes: int | None, weights: str | None,
        overwrite: bool) -> None:
    """Write a complete, ready config for NAME to OUTPUT (data paths are placeholders in data/ beside it)."""
    from dlae_core.plugin.registry import get_registry
    from dlae_core.prebuilt import DATA_FILES, config_text
    from dlae_core.running.outputs import write_text_atomic

    model = _generate(name, input_shape, classes, weights)
    text = config_text(model, get_registry())
    path = Path(output)
    write_text_atomic(path, text, overwrite=overwrite)
    technique = model.entry.technique
    count = {"BBD": f"{model.classes} object class(es)", "GAN": f"{model.classes} output channel(s)"}.get(
        technique, f"{model.classes} classes")
    folder = path.parent / "data"
    files = ", ".join(Path(p).name for key, p in DATA_FILES.items() if key != "test_X")
    run = "dlae run --backend torch " + str(path)
    click.echo(f"wrote {path} ({model.entry.name}: {technique}, input {model.input_shape}, {count}); put the data "
               f"in {folder}: {files} (and test_X.h5 for dlae predict), then: {run}")


COMMANDS = (prebuilt,)

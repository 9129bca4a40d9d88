"""``dlae info``: what a user pastes into a bug report -- versions, backends and the devices they see,
plugins, the weights cache folder and which optional extras are usable."""

from __future__ import annotations

import click


def _lines(frameworks: bool) -> list[str]:
    from dlae_core.extras import EXTRAS, install_hint, missing_modules
    from dlae_core.plugin.registry import get_registry
    from dlae_core.pretrained.download import weights_dir
    from dlae_core.running.record import library_versions

    lines = [f"{name}: {value}" for name, value in library_versions().items()]
    registry = get_registry()
    for name, info in registry.items["backends"].items():
        missing = info.missing()
        if missing:
            lines.append(f"backend {name}: not usable (needs {', '.join(missing)})")
        elif not frameworks:
            lines.append(f"backend {name}: installed (framework not loaded: --no-frameworks)")
        else:
            lines.append(f"backend {name}: {_device_line(registry.backend(name).device_info())}")
    for loaded in registry.pm.dlae_loaded:
        lines.append(f"plugin {loaded.name}: {loaded.distribution or '-'} {loaded.version or ''}".rstrip())
    lines.append(f"weights cache: {weights_dir()}")
    for extra, (_, purpose) in EXTRAS.items():
        missing = missing_modules(extra)
        state = "usable" if not missing else f"missing {', '.join(missing)} ({install_hint(extra)})"
        lines.append(f"extra {extra}: {state} -- {purpose}")
    return lines


def _device_line(info: dict) -> str:
    gpus = info.get("gpus") or []
    shown = ", ".join(f"{g['name']}" + (f" ({g['memory_gib']} GiB)" if g.get("memory_gib") else "") for g in gpus)
    cuda = f", CUDA {info['cuda']}" if info.get("cuda") else ", no CUDA build"
    return f"{info.get('framework')} {info.get('version')}{cuda}; GPUs: {shown or 'none visible'}"


@click.command()
@click.option("--no-frameworks", is_flag=True, help="Do not import torch/TensorFlow (no versions of theirs, no GPUs).")
def info(no_frameworks: bool) -> None:
    """Versions, backends and their GPUs, plugins, the weights cache folder and the usable extras."""
    for line in _lines(not no_frameworks):
        click.echo(line)


@click.command()
@click.argument("where", metavar="RUN", type=click.Path(exists=True))
def report(where: str) -> None:
    """Rebuild report.html of a run: RUN is a run record (<model>.run.json) or the folder of a run's
    outputs (every record there). The curves are redrawn from the CSV history (else the record)."""
    from dlae_core.errors import UsageError
    from dlae_core.report import rebuild
    from dlae_core.running.record import RECORD_SUFFIX, find_records

    records = find_records(where)
    if not records:
        raise UsageError(f"{where!r} holds no run record (*{RECORD_SUFFIX}); dlae run writes one beside the "
                         f"first output of a run")
    for record in records:
        click.echo(f"wrote {rebuild(record)}")


COMMANDS = (info, report)

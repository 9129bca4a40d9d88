"""Shared steps of the CLI commands: load a config and plan its model."""

from __future__ import annotations

from dlae_core.errors import DataError


def load_and_plan(path: str, *, check_data: bool, registry=None, session: str | None = None):
    """Parse, check and plan ``path``; with ``check_data`` also check its data files.
    Returns (config, plan, registry). Raises ConfigError / DataError / ConfigFileError."""
    from dlae_core.config.parser import load_config
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry

    registry = registry or get_registry()
    config = load_config(path, registry)
    plan = plan_model(config, registry)
    if check_data:
        from dlae_core.data.checks import check_data as run_checks

        problems = run_checks(config, plan, registry, session=session)
        if problems:
            raise DataError(problems)
    return config, plan, registry

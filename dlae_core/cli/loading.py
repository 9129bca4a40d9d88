"""Shared steps of the CLI commands: load a config and plan its model."""

from __future__ import annotations

from pathlib import Path

from dlae_core.errors import DataError


def load_and_plan(path: str, *, check_data: bool, registry=None, session: str | None = None,
                  backend: str | None = None, adjust=None):
    """Parse, check and plan ``path`` (relative paths in it are relative to its folder). With ``backend``, that backend is checked first (unknown or
    not installed) and every component without an implementation for it is reported before any
    data is read; with ``check_data`` the data files are checked last. ``adjust(config) -> config``
    changes the parsed config before it is planned (``dlae run --resume``).
    Returns (config, plan, registry). Raises BackendUnavailableError / ConfigError /
    UnimplementedComponentsError / DataError / ConfigFileError."""
    from dlae_core.config.parser import load_config
    from dlae_core.planning.implementations import check_implementations
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry
    from dlae_core.running.paths import resolve_relative_paths

    registry = registry or get_registry()
    if backend is not None:
        registry.check_backend(backend)
    config = resolve_relative_paths(load_config(path, registry), Path(path).parent)
    if adjust is not None:  # e.g. dlae run --resume
        config = adjust(config)
    plan = plan_model(config, registry)
    if backend is not None:
        check_implementations(config, plan, registry, backend)
    if check_data:
        from dlae_core.data.checks import check_data as run_checks

        problems = run_checks(config, plan, registry, session=session)
        if problems:
            raise DataError(problems)
    return config, plan, registry

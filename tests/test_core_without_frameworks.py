"""dlae_core works without torch, tensorflow and keras: the CLI's validate and list run in a process
where importing them raises ImportError, and no dlae_core module imports one at module level."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import dlae_core

FRAMEWORKS = ("torch", "tensorflow", "keras")
CORE_DIR = Path(dlae_core.__file__).resolve().parent

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set({blocked!r})

    class BlockFrameworks(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked in this test (no deep-learning framework installed)")
            return None

    sys.meta_path.insert(0, BlockFrameworks())
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED:
            del sys.modules[name]
""").format(blocked=FRAMEWORKS)


def run_blocked(body: str) -> subprocess.CompletedProcess:
    code = BLOCKER + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_blocker_really_blocks():
    result = run_blocked("""
        try:
            import torch
        except ImportError as exc:
            print("blocked:", exc)
        else:
            print("imported")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("blocked: torch is blocked")


def test_validate_and_list_without_frameworks(tmp_path, write_config, minimal_typed_config):
    config = write_config(tmp_path, minimal_typed_config())
    result = run_blocked(f"""
        import io, contextlib, json
        from dlae_core.cli.main import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cli.main(["validate", "--skip-data", {str(config)!r}], standalone_mode=False)
            cli.main(["list", "layers", "--names"], standalone_mode=False)
            cli.main(["list", "losses", "--names"], standalone_mode=False)
        loaded = sorted({{m.partition(".")[0] for m in sys.modules}} & BLOCKED)
        print(json.dumps({{"out": out.getvalue(), "frameworks": loaded}}))
    """)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    lines = report["out"].splitlines()
    assert lines[0] == f"OK {config}: CNN Train, input (8, 8, 3), serial_layer_list 6 nodes -> (2,), 626 parameters"
    assert "Convolution 2D" in lines and "InceptionResNetV2" in lines and "Hook connection source" in lines
    assert "categorical_crossentropy" in lines
    assert report["frameworks"] == []
    assert "Traceback" not in result.stderr


def test_validate_errors_without_frameworks(tmp_path, write_config, minimal_typed_config):
    config = write_config(tmp_path, minimal_typed_config(optimizer={"optimizer": "adam"}))
    result = run_blocked(f"""
        from dlae_core.cli.main import cli
        cli.main(["validate", "--skip-data", {str(config)!r}])
    """)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: optimizer.optimizer: unknown optimizer.")
    assert "Traceback" not in result.stderr


def test_every_core_module_imports_without_frameworks():
    result = run_blocked("""
        import importlib, pkgutil, json
        import dlae_core
        failed = {}
        for info in pkgutil.walk_packages(dlae_core.__path__, "dlae_core."):
            try:
                importlib.import_module(info.name)
            except ImportError as exc:
                failed[info.name] = str(exc)
        loaded = sorted({m.partition(".")[0] for m in sys.modules} & BLOCKED)
        print(json.dumps({"failed": failed, "frameworks": loaded}))
    """)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"failed": {}, "frameworks": []}


def _module_level_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Imports executed when the module is imported: module body and class bodies, including
    if/try/with blocks, but not function bodies or ``if TYPE_CHECKING:`` blocks."""
    found: list[tuple[int, str]] = []

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    found.append((node.lineno, node.module))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)
            elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, (ast.With, ast.For, ast.While)):
                visit(node.body)
                visit(getattr(node, "orelse", []))

    visit(tree.body)
    return found


def test_the_scanner_finds_module_level_imports():
    tree = ast.parse(textwrap.dedent("""
        import os
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import torch
        try:
            import tensorflow as tf
        except ImportError:
            tf = None
        class A:
            import keras.layers
        def f():
            import torch
    """))
    assert [name for _, name in _module_level_imports(tree)] == ["os", "typing", "tensorflow", "keras.layers"]


def test_no_core_module_imports_a_framework_at_module_level():
    sources = sorted(CORE_DIR.rglob("*.py"))
    assert len(sources) > 20
    offenders = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, name in _module_level_imports(tree):
            if name.partition(".")[0] in FRAMEWORKS:
                offenders.append(f"{path.relative_to(CORE_DIR.parent)}:{lineno}: import {name}")
    assert offenders == []

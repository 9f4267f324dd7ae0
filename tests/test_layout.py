"""The package's shape, enforced: layering, public names, sizes, typed API.

``deploy/`` runs at deploy time, offline, often on machines where nothing but the
lock should be trusted: it must import nothing from ``index/`` or ``locking/`` (no
HTTP client, no resolver), and ``reqlock.verify`` must stay that light.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import reqlock

PACKAGE = Path(reqlock.__file__).parent
ROOT = Path(__file__).parent.parent
# Modules the deploy side may use besides itself: pure, no network, no resolver.
SHARED = {
    "custom_targets",
    "errors",
    "files",
    "lockcheck",
    "lockfile",
    "pipcall",
    "progress",
    "targets",
    "urls",
}


def _modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages([str(PACKAGE)], "reqlock.")
        if "__main__" not in m.name
    )


def _imports(path: Path) -> set[str]:
    """Every reqlock module ``path`` imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {name for name in found if name.startswith("reqlock.")}


def test_deploy_imports_nothing_from_index_or_locking() -> None:
    for path in sorted((PACKAGE / "deploy").glob("*.py")):
        for name in _imports(path):
            part = name.split(".")[1]
            assert part == "deploy" or part in SHARED or name == "reqlock", (path.name, name)
    for shared in SHARED:
        for name in _imports(PACKAGE / f"{shared}.py"):
            assert name.split(".")[1] in SHARED, (shared, name)


def _run(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env
    )
    return proc.stdout


def test_the_verify_path_loads_no_http_client_and_no_resolver() -> None:
    code = (
        "import sys, json, reqlock\n"
        "reqlock.verify; reqlock.sync; reqlock.export_requirements; reqlock.read_lock\n"
        "import reqlock.deploy.verify, reqlock.deploy.sync, reqlock.deploy.export\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(_run(code))
    for heavy in ("httpx", "httpcore", "resolvelib", "reqlock.index", "reqlock.locking"):
        assert not [m for m in loaded if m == heavy or m.startswith(heavy + ".")], heavy


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_public_names_are_never_shadowed_by_submodules(order: str) -> None:
    modules = _modules() if order == "forward" else _modules()[::-1]
    code = (
        "import importlib, json, sys, types, reqlock\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "bad = [n for n in reqlock.__all__ if isinstance(getattr(reqlock, n), types.ModuleType)]\n"
        "print(json.dumps(bad))\n"
    )
    assert json.loads(_run(code, *modules)) == []
    # And the other way round: public names first, then every submodule.
    code = (
        "import importlib, json, sys, types, reqlock\n"
        "[getattr(reqlock, n) for n in reqlock.__all__]\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "bad = [n for n in reqlock.__all__ if isinstance(getattr(reqlock, n), types.ModuleType)]\n"
        "print(json.dumps(bad))\n"
    )
    assert json.loads(_run(code, *modules)) == []
    assert callable(reqlock.verify)


def test_modules_and_functions_stay_small() -> None:
    too_big: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 500:
            too_big.append(f"{path.relative_to(PACKAGE)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 100:
                    too_big.append(f"{path.relative_to(PACKAGE)}:{node.name}: {length} lines")
    assert too_big == []


def test_the_package_ships_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_a_client_of_the_public_api_type_checks_strictly(tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    if mypy is None:  # pragma: no cover - the test extra installs it
        pytest.fail("mypy is not installed; it is part of the test extra")
    proc = subprocess.run(
        [
            mypy,
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path),
            "--python-version",
            "3.10",
            str(ROOT / "tests" / "client" / "uses_api.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # not the repository: its pyproject's mypy settings must not apply
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""How ``reqlock verify`` starts: what it imports, when the inventory starts, and
the bytecode the inventory script runs from."""

from __future__ import annotations

import argparse
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reqlock.cli import deploy as cli_deploy
from reqlock.cli.main import main
from reqlock.deploy import inventory as inventory_module
from reqlock.deploy import inventory_launch
from tests.test_inventory import fake_install, site_packages
from tests.test_inventory_isolation import make_env

SRC = str(Path(__file__).resolve().parent.parent / "src")
EMPTY_LOCK = 'lock-version = "1.0"\ncreated-by = "t"\npackages = []\n'


def _run(code: str, *args: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtual environment with nothing installed: it matches an empty lock."""
    return make_env(tmp_path_factory.mktemp("bare") / "venv")


def test_the_verify_command_loads_no_lock_side(tmp_path: Path, bare_python: str) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(EMPTY_LOCK)
    code = (
        "import json, sys\n"
        "from reqlock.cli.main import main\n"
        "code = main(['verify', sys.argv[1], '--no-files', '--json', '--python', sys.argv[2]])\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    code_seen, loaded = _run(code, str(lock), bare_python)
    assert code_seen == 0
    for heavy in (
        "httpx",
        "resolvelib",
        "reqlock.index",
        "reqlock.locking",
        "reqlock.settings",
        "reqlock.cli.lock",
    ):
        assert not [m for m in loaded if m == heavy or m.startswith(heavy + ".")], heavy
    # The other commands still parse with every subcommand registered.
    assert "reqlock.cli.lock" in _run(
        "import json, sys\nfrom reqlock.cli.main import build_parser\n"
        "build_parser()\nprint(json.dumps(sorted(sys.modules)))\n"
    )


def test_the_inventory_starts_before_the_heavy_imports(tmp_path: Path, bare_python: str) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(EMPTY_LOCK)
    # Records, at each start of the inventory script, which of the modules verify
    # needs later are loaded already.
    code = (
        "import json, sys\n"
        "from reqlock.deploy import inventory_launch\n"
        "real = inventory_launch.launch\n"
        "seen = []\n"
        "watched = ('argparse', 'dataclasses', 'typing', 'packaging', 'reqlock.errors',\n"
        "           'reqlock.deploy.verify', 'tomllib')\n"
        "def launch(*args, **kwargs):\n"
        "    seen.append([m for m in watched if m in sys.modules])\n"
        "    return real(*args, **kwargs)\n"
        "inventory_launch.launch = launch\n"
        "from reqlock.cli.main import main\n"
        "code = main(['verify', sys.argv[1], '--no-files', '--allow-extra', 'pip', 'x',\n"
        "             '--python', sys.argv[2], '-q'])\n"
        "print(json.dumps([code, seen]))\n"
    )
    code_seen, seen = _run(code, str(lock), bare_python)
    assert code_seen == 0
    assert seen == [[]]  # one start, the early one, with none of them loaded yet


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["L"], (None, True, [])),
        (["L", "--no-files", "--json", "-q"], (None, False, [])),
        (["--python", "py", "L", "--python=py2"], ("py2", True, [])),
        (["L", "--allow-extra", "pip", "a,b", "--no-files"], (None, False, ["pip", "a,b"])),
        (["--allow-extra=pip", "L", "--allow-unowned", "x*", "y", "-v"], (None, True, ["pip"])),
        (["--extras", "e", "--group", "g", "L"], (None, True, [])),
        (["L", "--no-f"], None),  # an abbreviation: argparse knows, the guess does not
        (["L", "-qv"], None),
        (["L", "--help"], None),
        (["L", "--", "x"], None),
        (["L", "--python"], None),
        (["L", "--python", "--no-files"], None),
        (["L", "--allow-extra"], None),
        (["L", "--json=1"], None),
    ],
)
def test_guessing_the_inventory_from_the_arguments(
    args: list[str], expected: tuple[str | None, bool, list[str]] | None
) -> None:
    assert cli_deploy._guess_verify(args) == expected


class _Early:
    """A stand-in for an early inventory."""

    def __init__(self, python: str, check_files: bool, skip: frozenset[str]) -> None:
        self.python = python
        self.check_files = check_files
        self.skip = skip
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def _verify_args(**overrides: Any) -> argparse.Namespace:
    values = {"python": None, "no_files": True, "allow_extra": ["pip,Set_Tools"], **overrides}
    return argparse.Namespace(**values)


def test_the_early_inventory_is_taken_only_when_it_is_the_one_asked_for() -> None:
    skip = frozenset({"pip", "set-tools"})
    early = _Early(sys.executable, False, skip)
    taken: object = cli_deploy._inventory_for(_verify_args(early_inventory=early))
    assert taken is early
    assert not early.cancelled
    for wrong in (
        _Early(sys.executable, True, skip),
        _Early(sys.executable + "-other", False, skip),
        _Early(sys.executable, False, frozenset({"pip"})),
    ):
        fresh = cli_deploy._inventory_for(_verify_args(early_inventory=wrong))
        try:
            assert wrong.cancelled
            assert not isinstance(fresh, _Early)
            assert (fresh.python, fresh.check_files, fresh.skip) == (sys.executable, False, skip)
        finally:
            fresh.cancel()


def test_a_usage_error_stops_the_early_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    before = set(inventory_module._LIVE)
    with pytest.raises(SystemExit):
        main(["verify", "--no-files"])  # no LOCK: the guess starts one, argparse refuses
    assert "LOCK" in capsys.readouterr().err
    assert set(inventory_module._LIVE) == before


# --------------------------------------------------------------------------- bytecode


def _parts_copy(tmp_path: Path) -> Path:
    parts = tmp_path / "parts"
    parts.mkdir()
    for name in inventory_launch.PARTS:
        shutil.copy2(Path(inventory_launch.HERE) / f"{name}.py", parts / f"{name}.py")
    return parts


def _schema(python: str, parts: Path) -> Any:
    proc = inventory_launch.launch(python, [], parts_dir=str(parts))
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    return json.loads(out)["schema"]


def _set_schema(path: Path, value: int) -> None:
    text, count = re.subn(r"\nSCHEMA = \d\n", f"\nSCHEMA = {value}\n", path.read_text())
    assert count == 1
    path.write_text(text)


def test_the_loader_runs_cached_bytecode_only_when_it_is_current(tmp_path: Path) -> None:
    python = make_env(tmp_path / "venv")  # this interpreter's version: its caches fit
    fake_install(site_packages(python), "alpha", "1.0")
    parts = _parts_copy(tmp_path)
    script = parts / "inventory_script.py"
    assert _schema(python, parts) == 1  # no cache: compiled from the source
    assert not (parts / "__pycache__").exists()  # -B: and nothing written

    # A cache of other source with the same size and mtime is taken, as the import
    # system would take it: so the loader does run the cached bytecode.
    _set_schema(script, 6)
    cached = parts / "__pycache__" / f"inventory_script.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(
        str(script),
        cfile=str(cached),
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
    )
    stamp = script.stat().st_mtime_ns
    _set_schema(script, 5)
    os.utime(script, ns=(stamp, stamp))
    assert _schema(python, parts) == 6

    # Once the source's mtime changes, the cache is stale: the source runs.
    os.utime(script, ns=(stamp, stamp + 2_000_000_000))
    assert _schema(python, parts) == 5


def test_the_loader_and_the_plain_source_give_the_same_answer(tmp_path: Path) -> None:
    python = make_env(tmp_path / "venv")
    fake_install(site_packages(python), "alpha", "1.0")
    answers = []
    for compact in (None, False):
        proc = inventory_launch.launch(python, ["--check", "0", "1"], compact=compact)
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        answers.append(json.loads(out))
    assert answers[0] == answers[1]
    assert [d["name"] for d in answers[0]["dists"]] == ["alpha"]

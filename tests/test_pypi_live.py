"""Live PyPI: reqlock's pins equal pip's for the same input at the same time.

Marked ``pypi``; skipped, saying why, only when PyPI cannot be reached.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from packaging.pylock import Pylock

from reqlock import lock
from tests.fakeindex.pipcheck import isolated_pip_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.pypi

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PYPI = "https://pypi.org/simple/"


@pytest.fixture(scope="module", autouse=True)
def _pypi_reachable() -> None:
    try:
        httpx.get(f"{PYPI}pip/", timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"PyPI cannot be reached: {exc}")


def _pins(lock_text: str) -> dict[str, str]:
    model = Pylock.from_dict(tomllib.loads(lock_text))
    return {p.name: str(p.version) for p in model.packages}


@pytest.mark.parametrize("corpus", ["trio.in", "jupyter.in"])
def test_same_pins_as_pip_lock(corpus: str, tmp_path: Path) -> None:
    source = CORPUS / corpus
    if not source.exists():
        pytest.skip(f"{source} is not there (../shared/corpus is outside the repo)")
    ours = lock([source], index_url=PYPI, cache_dir=tmp_path / "cache").to_toml()
    pip_out = tmp_path / "pip-pylock.toml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "lock",
            "--no-input",
            "--index-url",
            PYPI,
            "-r",
            str(source),
            "-o",
            str(pip_out),
        ],
        capture_output=True,
        text=True,
        env=isolated_pip_env(),
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _pins(ours) == _pins(pip_out.read_text())

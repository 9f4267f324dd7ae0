"""Shared fixtures: the fake index (in-process and on 127.0.0.1), pip isolation, venvs.

The session-wide ``index_app`` is shared by every test, so its request log mixes
tests: to assert on requests, build a private app with ``make_index_app`` (and serve
it with ``serve_app`` when a real client needs a URL).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakeindex import (
    CASES_DIR,
    UNIVERSE_TOML,
    Case,
    FakeIndexApp,
    Universe,
    build_universe,
    load_cases,
    make_app,
    serve,
)
from tests.fakeindex.pipcheck import Venv
from tests.fakeindex.pipcheck import isolated_pip_env as _isolated_pip_env
from tests.packse import Scenario


@pytest.fixture(scope="session")
def universe(tmp_path_factory: pytest.TempPathFactory) -> Universe:
    """Every file of ``fixtures/universe.toml``, built once per session (~0.1 s)."""
    return build_universe(UNIVERSE_TOML, tmp_path_factory.mktemp("fakeindex-files"))


@pytest.fixture(scope="session")
def index_app(universe: Universe) -> FakeIndexApp:
    """The fake index with default options (JSON and HTML, no core-metadata advertised,
    ranges, upload times, no auth): like the mirror we meet in the field."""
    return make_app(universe)


@pytest.fixture(scope="session")
def index_base(index_app: FakeIndexApp) -> Iterator[str]:
    """``index_app`` served on 127.0.0.1: ``http://127.0.0.1:PORT``."""
    with serve(index_app) as base:
        yield base


@pytest.fixture(scope="session")
def index_url(index_base: str) -> str:
    """The served index's simple URL, for ``--index-url``."""
    return f"{index_base}/simple/"


@pytest.fixture(scope="session")
def wsgi_transport(index_app: FakeIndexApp) -> httpx.WSGITransport:
    """``index_app`` mounted in-process; use with base URL ``http://fakeindex``."""
    return httpx.WSGITransport(app=index_app)


@pytest.fixture
def make_index_app(universe: Universe) -> Callable[..., FakeIndexApp]:
    """Factory: a private app (own request log) with ``IndexOptions`` keywords."""

    def factory(**options: Any) -> FakeIndexApp:
        return make_app(universe, **options)

    return factory


@pytest.fixture
def serve_app() -> Iterator[Callable[[FakeIndexApp], str]]:
    """Factory: serve an app on 127.0.0.1 until the test ends; returns the base URL."""
    with ExitStack() as stack:

        def start(app: FakeIndexApp) -> str:
            return stack.enter_context(serve(app))

        yield start


@pytest.fixture(scope="session")
def resolution_cases() -> list[Case]:
    return load_cases(CASES_DIR)


@pytest.fixture(scope="session")
def isolated_pip_env() -> dict[str, str]:
    """Environment for pip/uv subprocesses: no inherited ``PIP_*``/``UV_*`` variable,
    ``PIP_CONFIG_FILE=/dev/null``. Pass ``--isolated`` to pip as well."""
    return _isolated_pip_env()


@pytest.fixture
def make_venv(tmp_path: Path, isolated_pip_env: dict[str, str]) -> Callable[..., Venv]:
    """Factory: a fresh virtual environment under ``tmp_path``.

    With pip (bundled by ``ensurepip``, offline; not upgraded) unless ``with_pip=False``.
    """

    def factory(name: str = "venv", *, with_pip: bool = True) -> Venv:
        root = tmp_path / name
        command = [sys.executable, "-m", "venv", str(root)]
        if not with_pip:
            command.append("--without-pip")
        subprocess.run(command, check=True, env=isolated_pip_env, capture_output=True)
        bin_dir = root / ("Scripts" if sys.platform == "win32" else "bin")
        python = bin_dir / ("python.exe" if sys.platform == "win32" else "python")
        return Venv(root=root, python=python, bin_dir=bin_dir)

    return factory


@pytest.fixture(scope="session")
def universe_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Scenario], Universe]:
    """Each packse scenario's universe (tests/packse.py), built at most once per
    session (tests/test_packse.py, tests/test_packse_universal.py)."""
    root = tmp_path_factory.mktemp("packse")
    built: dict[str, Universe] = {}

    def get(scenario: Scenario) -> Universe:
        if scenario.name not in built:
            built[scenario.name] = scenario.build_universe(root / scenario.name)
        return built[scenario.name]

    return get

"""A hermetic fake package index for reqlock's tests.

    universe = build_universe(FIXTURES / "universe.toml", tmp_dir)
    app = make_app(universe, advertise_metadata=True)      # a WSGI app
    httpx.Client(transport=httpx.WSGITransport(app=app))   # in-process
    with serve(app) as base: ...                           # f"{base}/simple/" for pip

The package universe is data (``fixtures/universe.toml``); resolution cases are data
too (``fixtures/cases/*.toml``, loaded by ``load_cases``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakeindex.app import FakeIndexApp, IndexOptions, RequestRecord
from tests.fakeindex.build import build_sdist, build_wheel
from tests.fakeindex.cases import Case, load_cases
from tests.fakeindex.server import serve
from tests.fakeindex.universe import DistFile, Project, Release, Universe, build_universe

__all__ = [
    "CASES_DIR",
    "FIXTURES",
    "UNIVERSE_TOML",
    "Case",
    "DistFile",
    "FakeIndexApp",
    "IndexOptions",
    "Project",
    "Release",
    "RequestRecord",
    "Universe",
    "build_sdist",
    "build_universe",
    "build_wheel",
    "load_cases",
    "make_app",
    "serve",
]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
UNIVERSE_TOML = FIXTURES / "universe.toml"
CASES_DIR = FIXTURES / "cases"


def make_app(universe: Universe, **options: Any) -> FakeIndexApp:
    """A fresh WSGI app (with its own request log) over ``universe``.

    Options are the fields of ``IndexOptions``: ``formats``, ``advertise_metadata``,
    ``ranges``, ``upload_times``, ``require_auth``, ``validators``.
    """
    return FakeIndexApp(universe, IndexOptions(**options))

"""Resolution cases as data (fixtures/cases/*.toml) against the in-process fake index,
and the resolver driven by an in-memory :class:`PackageSource` (no HTTP, no Index).

The cases' expectations are written for CPython 3.11 on linux x86_64, so they are
resolved for the fixed preset target ``linux-x86_64-py3.11``, never for the
interpreter running the tests: the answers are the same on every machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.errors import MetadataError, NoVersionsError, ResolutionError
from reqlock.index.index import Index
from reqlock.index.metadata import DistMetadata
from reqlock.index.pages import DistFile, ProjectPage
from reqlock.locking.requirements import RequirementSet, parse_requirements
from reqlock.locking.resolve import ResolveOptions, resolve
from reqlock.locking.source import PackageSource
from reqlock.progress import Reporter
from reqlock.targets import Target, parse_target
from tests.fakeindex import FIXTURES
from tests.fakeindex.cases import Case, load_cases

CASES = load_cases(FIXTURES / "cases")
# What fixtures/cases/*.toml are written for (see tests/fakeindex/cases.py).
CASE_TARGET = parse_target("linux-x86_64-py3.11")


@pytest.fixture
def index(wsgi_transport: httpx.WSGITransport) -> Iterator[Index]:
    from reqlock.index.client import HttpClient

    with Index(["http://fakeindex/simple/"], http=HttpClient(transport=wsgi_transport)) as idx:
        yield idx


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, index: Index) -> None:
    files = case.files
    reqs = parse_requirements(
        case.requirements,
        filename="requirements.txt",
        loader=lambda _including, ref: (ref, files[ref]),
    )
    options = ResolveOptions(
        pre=bool(case.options.get("pre", reqs.pre)),
        only_binary=reqs.only_binary,
        no_binary=reqs.no_binary,
    )
    if case.expected is not None:
        resolution = resolve(reqs, index=index, target=CASE_TARGET, options=options)
        pins = {name: str(pin.version) for name, pin in resolution.pins.items()}
        assert pins == case.expected
    else:
        assert case.error is not None
        with pytest.raises(ResolutionError) as info:
            resolve(reqs, index=index, target=CASE_TARGET, options=options)
        message = str(info.value)
        for word in case.error:
            assert word in message, message


# -- an in-memory PackageSource ------------------------------------------------------

# name -> version -> [(file name or wheel tag, Requires-Dist lines, Requires-Python)]
Release = tuple[str, tuple[str, ...], str | None]
Universe = Mapping[str, Mapping[str, list[Release]]]

UNIVERSE: Universe = {
    "app": {
        "2.0": [("py3-none-any", ("lib>=1.1", "winonly; sys_platform == 'win32'"), ">=3.9")],
        "1.0": [("py3-none-any", ("lib",), None)],
    },
    "lib": {
        # 3.0 has only a Windows wheel: unusable on linux, so 2.0 is the pick.
        "3.0": [("cp311-cp311-win_amd64", (), None)],
        "2.0": [
            ("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", ("leaf[fast]",), None),
            ("cp311-cp311-win_amd64", ("leaf[fast]",), None),
        ],
        "1.0": [("sdist", (), None)],
    },
    "leaf": {
        "1.5": [("py3-none-any", ("speedup; extra == 'fast'",), None)],
        "1.6rc1": [("py3-none-any", (), None)],
    },
    "speedup": {"0.9": [("sdist", (), None)]},
    "winonly": {"1.0": [("cp311-cp311-win_amd64", (), None)]},
    "modern": {"1.0": [("py3-none-any", (), ">=3.13")]},
}


def _dist(name: str, version: str, kind: str, requires_python: str | None) -> DistFile:
    filename = f"{name}-{version}.tar.gz" if kind == "sdist" else f"{name}-{version}-{kind}.whl"
    return DistFile(
        filename=filename,
        url=f"memory://{filename}",
        hashes={"sha256": hashlib.sha256(filename.encode()).hexdigest()},
        requires_python=requires_python,
        index="memory://",
    )


class MemorySource:
    """A :class:`PackageSource` over :data:`UNIVERSE`; records what it is asked.

    ``eager`` answers prefetches at once (as a fast index would), else ignores them
    (as a source with no background work may)."""

    def __init__(self, universe: Universe, *, eager: bool = True) -> None:
        self.eager = eager
        self.asked: list[str] = []
        self.prefetched: list[str] = []
        self._pages: dict[str, ProjectPage] = {}
        self._metadata: dict[str, DistMetadata] = {}
        for raw_name, releases in universe.items():
            name = canonicalize_name(raw_name)
            by_version: dict[str, list[DistFile]] = {}
            for version, files in releases.items():
                for kind, requires, requires_python in files:
                    dist = _dist(name, version, kind, requires_python)
                    by_version.setdefault(version, []).append(dist)
                    self._metadata[dist.url] = DistMetadata(
                        name=name,
                        version=Version(version),
                        requires_dist=tuple(Requirement(r) for r in requires),
                        requires_python=SpecifierSet(requires_python) if requires_python else None,
                        provides_extras=frozenset(
                            canonicalize_name(e) for e in _extras_named(requires)
                        ),
                    )
            self._pages[name] = ProjectPage(
                name=name, index="memory://", files_by_version=by_version
            )

    def yank(self, name: str, version: str, *, reason: str) -> None:
        """Mark every file of one release yanked."""
        page = self._pages[name]
        releases = {str(v): list(page.files(v)) for v in page.versions()}
        releases[version] = [
            dataclasses.replace(d, yanked=True, yanked_reason=reason) for d in releases[version]
        ]
        self._pages[name] = ProjectPage(name=page.name, index=page.index, files_by_version=releases)

    def project(self, name: str) -> ProjectPage:
        key = canonicalize_name(name)
        self.asked.append(f"page {key}")
        return self._pages.get(key) or ProjectPage(name=key, index="memory://", files_by_version={})

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        self.asked.append(f"metadata {dist.filename}")
        return self._metadata[dist.url]

    def metadata_if_known(self, dist: DistFile) -> DistMetadata | None:
        return self._metadata.get(dist.url)

    def prefetch_project(
        self, name: str, then: Callable[[ProjectPage], None] | None = None
    ) -> None:
        self.prefetched.append(f"page {canonicalize_name(name)}")
        if self.eager and then is not None:
            then(self._pages.get(canonicalize_name(name)) or self.project(name))

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        self.prefetched.append(f"metadata {dist.filename}")
        if self.eager and then is not None:
            then(self._metadata[dist.url])


def _extras_named(requires: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for text in requires:
        marker = Requirement(text).marker
        if marker is not None and "extra ==" in str(marker):
            found.add(str(marker).split("==")[1].strip().strip("'\""))
    return found


def _requirements(text: str) -> RequirementSet:
    return parse_requirements(text, filename="requirements.txt")


def _pins(source: PackageSource, text: str, target: Target) -> dict[str, str]:
    resolution = resolve(_requirements(text), index=source, target=target)
    return {name: str(pin.version) for name, pin in resolution.pins.items()}


LINUX = parse_target("linux-x86_64-py3.11")
WINDOWS = parse_target("windows-amd64-py3.11")


def test_memory_source_is_enough() -> None:
    source: PackageSource = MemorySource(UNIVERSE)
    resolution = resolve(_requirements("app\n"), index=source, target=LINUX)
    pins = {name: str(pin.version) for name, pin in resolution.pins.items()}
    # lib 3.0 has no linux file; leaf's pre-release is skipped; the extra pulls
    # speedup in; winonly's marker is false on linux.
    assert pins == {"app": "2.0", "lib": "2.0", "leaf": "1.5", "speedup": "0.9"}
    lib = resolution.pins[NormalizedName("lib")]
    assert [f.filename for f in lib.files] == [
        "lib-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    ]
    assert lib.dependencies == ("leaf",)
    assert resolution.roots == ("app",)


def test_memory_source_other_target() -> None:
    pins = _pins(MemorySource(UNIVERSE), "app\n", WINDOWS)
    assert pins == {"app": "2.0", "lib": "3.0", "winonly": "1.0"}


def test_crawler_only_warms() -> None:
    """The answer is the same whether prefetches are answered or ignored; answered,
    they reach the dependencies of the guessed releases before the resolver asks."""
    eager, lazy = MemorySource(UNIVERSE), MemorySource(UNIVERSE, eager=False)
    assert _pins(eager, "app\n", LINUX) == _pins(lazy, "app\n", LINUX)
    assert "metadata speedup-0.9.tar.gz" in eager.prefetched
    # Unanswered, the crawler never learns a page, so it guesses nothing.
    assert not any(p.startswith("metadata") for p in lazy.prefetched)


def test_memory_source_explains_a_conflict() -> None:
    with pytest.raises(NoVersionsError) as info:
        resolve(_requirements("lib>=3\n"), index=MemorySource(UNIVERSE), target=LINUX)
    assert str(info.value).splitlines()[:3] == [
        "no version of lib satisfies all requirements for linux-x86_64-py3.11:",
        "  - requirements.txt:1 requires lib>=3",
        "  available: 2.0, 1.0; not usable: 3.0 (no wheel for linux-x86_64-py3.11)",
    ]


def test_memory_source_explains_requires_python() -> None:
    with pytest.raises(NoVersionsError) as info:
        resolve(_requirements("modern\n"), index=MemorySource(UNIVERSE), target=LINUX)
    message = str(info.value)
    assert "  - requirements.txt:1 requires modern" in message
    assert "not usable: 1.0 (requires Python >=3.13, the target has 3.11.0)" in message


def test_memory_source_warns_about_a_pinned_yanked_release() -> None:
    source = MemorySource(
        {"old": {"2.0": [("py3-none-any", (), None)], "1.0": [("sdist", (), None)]}}
    )
    source.yank("old", "2.0", reason="broken")
    assert _pins(source, "old\n", LINUX) == {"old": "1.0"}
    reporter = Reporter()
    resolution = resolve(_requirements("old==2.0\n"), index=source, target=LINUX, reporter=reporter)
    assert str(resolution.pins[NormalizedName("old")].version) == "2.0"
    assert reporter.warnings == [
        "old 2.0 is yanked (broken); it is used only because a requirement pins it with =="
    ]


class BrokenMetadataSource(MemorySource):
    """A memory source where some releases' metadata cannot be parsed."""

    def __init__(self, universe: Any, broken: set[str]) -> None:
        super().__init__(universe)
        self.broken = broken

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        if f"{name} {version}" in self.broken:
            raise MetadataError(
                f"{name} {version}: invalid metadata: Requires-Dist 'x (<=6.0.*,>=3)'",
                package=name,
                version=version,
            )
        return super().metadata(name, version, dist)


def test_a_release_with_invalid_metadata_is_skipped_with_a_warning() -> None:
    source = BrokenMetadataSource(UNIVERSE, {"lib 2.0"})
    reporter = Reporter()
    resolution = resolve(_requirements("lib\n"), index=source, target=LINUX, reporter=reporter)
    assert str(resolution.pins[NormalizedName("lib")].version) == "1.0"
    assert reporter.warnings == [
        "ignoring lib 2.0: lib 2.0: invalid metadata: Requires-Dist 'x (<=6.0.*,>=3)'"
    ]


def test_when_every_release_is_broken_the_error_names_them() -> None:
    source = BrokenMetadataSource(UNIVERSE, {"lib 2.0", "lib 1.0"})
    with pytest.raises(NoVersionsError) as info:
        resolve(_requirements("lib\n"), index=source, target=LINUX, reporter=Reporter())
    assert str(info.value).splitlines() == [
        "no release of lib has usable metadata for linux-x86_64-py3.11:",
        "  - lib 2.0 is skipped: lib 2.0: invalid metadata: Requires-Dist 'x (<=6.0.*,>=3)'",
        "  - lib 1.0 is skipped: lib 1.0: invalid metadata: Requires-Dist 'x (<=6.0.*,>=3)'",
        "  hint: require a version whose metadata is valid, or ask its maintainers to "
        "fix the release",
    ]

"""A universal lock agrees with single-target locks on every preset platform.

One small universe (written below, built under the session's temporary directory)
exercises what makes universal locking hard: dependencies only on win32 or only on
darwin, one only for ``python_version < "3.11"``, a project whose newest release
needs Python >= 3.12 (so the lock splits by Python and holds two versions of it), an
extra whose dependency has a marker, a project with platform wheels only (no sdist)
and a release asking for two versions of one dependency under disjoint markers (a
fork).

The universal lock (``requires-python >= 3.10``) is then compared, for each preset
platform and Python 3.10, 3.12 and 3.13, with a lock made for that one target:
``Pylock.select()`` must give the same versions and the same files, except where the
universal resolver documents otherwise (a later fork prefers the version an earlier
fork chose; see :mod:`reqlock.locking.universal`). Which wheels the lock keeps is
checked against the universe's files and a grid of environments, with ``packaging``'s
own marker and tag evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

import httpx
import pytest
from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock, PylockSelectError
from packaging.utils import canonicalize_name, parse_wheel_filename

from reqlock import lock
from reqlock.deploy.export import export_requirements
from reqlock.deploy.select import LockSelectionError
from reqlock.errors import ResolutionError
from reqlock.lockfile import parse_lock
from reqlock.locking.region import Region
from reqlock.locking.result import LockResult
from reqlock.settings import Options
from reqlock.targets import PRESETS, Target, parse_target
from tests.fakeindex import Universe, build_universe, make_app

INDEX = "http://fakeindex/simple/"
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}
REQUIREMENTS = "app\nplugin[fast]\n"
REQUIRES_PYTHON = ">=3.10"

_NATIVE_PLATFORMS = (
    "manylinux_2_17_x86_64",
    "manylinux_2_17_aarch64",
    "macosx_11_0_arm64",
    "win_amd64",
)
_NATIVE_TAGS = [
    f"cp3{minor}-cp3{minor}-{platform}" for platform in _NATIVE_PLATFORMS for minor in range(10, 14)
]
_MODERN_TAGS = [f"cp3{minor}-cp3{minor}-manylinux_2_17_x86_64" for minor in range(10, 14)]


def _list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


UNIVERSE_TOML = f"""
[projects.app]
purpose = "the root: every kind of marker and a fork below it"
[projects.app.releases."1.0"]
upload_time = "2024-05-01T10:00:00Z"
requires_dist = [
    'winhelp>=1; sys_platform == "win32"',
    'machelp; sys_platform == "darwin"',
    'backport; python_version < "3.11"',
    'modern>=1',
    'helper>=2',
    'native>=1',
    'forked',
]
wheels = ["py3-none-any"]
sdist = "static"

[projects.winhelp.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]
[projects.winhelp.releases."1.1"]
upload_time = "2024-02-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.machelp.releases."2.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.backport.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
requires_python = ">=3.8"
wheels = ["py3-none-any"]
sdist = "static"

[projects.modern]
purpose = "the newest release needs Python 3.12 yet ships cp310 and cp311 wheels too"
[projects.modern.releases."1.5"]
upload_time = "2024-01-01T10:00:00Z"
requires_python = ">=3.9"
wheels = ["py3-none-any"]
sdist = "static"
[projects.modern.releases."2.0"]
upload_time = "2024-03-01T10:00:00Z"
requires_python = ">=3.12"
requires_dist = ["helper<3"]
wheels = {_list(_MODERN_TAGS)}
sdist = "static"

[projects.helper]
purpose = "modern 2.0 caps it below 3: the Python >= 3.12 fork chooses 2.1 first"
[projects.helper.releases."2.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]
[projects.helper.releases."2.1"]
upload_time = "2024-02-01T10:00:00Z"
wheels = ["py3-none-any"]
[projects.helper.releases."3.0"]
upload_time = "2024-04-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.native]
purpose = "platform wheels only, no sdist: nothing for musllinux or macOS x86_64"
[projects.native.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = {_list(_NATIVE_TAGS)}

[projects.forked]
purpose = "asks for shared twice, with disjoint markers: the resolution forks"
[projects.forked.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
requires_dist = ['shared<2; sys_platform == "win32"', 'shared>=2; sys_platform != "win32"']
wheels = ["py3-none-any"]

[projects.shared.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]
[projects.shared.releases."1.1"]
upload_time = "2024-02-01T10:00:00Z"
wheels = ["py3-none-any"]
[projects.shared.releases."2.0"]
upload_time = "2024-03-01T10:00:00Z"
wheels = ["py3-none-any"]
[projects.shared.releases."2.1"]
upload_time = "2024-04-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.plugin]
purpose = "its extra [fast] pulls speedup, but not on Windows"
[projects.plugin.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
provides_extras = ["fast"]
requires_dist = ['speedup>=1; extra == "fast" and sys_platform != "win32"']
wheels = ["py3-none-any"]

[projects.speedup.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]
"""

PYTHONS = ("3.10", "3.12", "3.13")
COMPARED = [parse_target(f"{preset}-py{python}") for preset in PRESETS for python in PYTHONS]
# Every Python the lock's range reaches that a wheel of the universe names (and one
# more), on every preset: the environments the lock's files must serve.
GRID = [parse_target(f"{preset}-py3.{minor}") for preset in PRESETS for minor in range(10, 15)]
# native has no wheel for these platforms and no sdist.
NO_NATIVE = frozenset({"musllinux-x86_64", "macos-x86_64"})

Env = Mapping[str, str]


def _py(env: Env) -> tuple[int, int]:
    major, minor = env["python_version"].split(".")
    return int(major), int(minor)


# Where each locked release applies, as the universe above was designed: helper is
# 2.1 everywhere (the newer fork resolves first and the older one prefers its pick).
EXPECTED: dict[tuple[str, str], Callable[[Env], bool]] = {
    ("app", "1.0"): lambda env: True,
    ("plugin", "1.0"): lambda env: True,
    ("forked", "1.0"): lambda env: True,
    ("native", "1.0"): lambda env: True,
    ("helper", "2.1"): lambda env: True,
    ("backport", "1.0"): lambda env: _py(env) < (3, 11),
    ("modern", "1.5"): lambda env: _py(env) < (3, 12),
    ("modern", "2.0"): lambda env: _py(env) >= (3, 12),
    ("winhelp", "1.1"): lambda env: env["sys_platform"] == "win32",
    ("shared", "1.1"): lambda env: env["sys_platform"] == "win32",
    ("shared", "2.1"): lambda env: env["sys_platform"] != "win32",
    ("machelp", "2.0"): lambda env: env["sys_platform"] == "darwin",
    ("speedup", "1.0"): lambda env: env["sys_platform"] != "win32",
}


@pytest.fixture(scope="module")
def universe(tmp_path_factory: pytest.TempPathFactory) -> Universe:
    root = tmp_path_factory.mktemp("universal-targets")
    data = root / "universe.toml"
    data.write_text(UNIVERSE_TOML, encoding="utf-8")
    return build_universe(data, root / "files")


Locker = Callable[..., LockResult]


@pytest.fixture(scope="module")
def locker(universe: Universe, tmp_path_factory: pytest.TempPathFactory) -> Locker:
    """Lock the requirements against the in-process index with extra options."""
    work = tmp_path_factory.mktemp("universal-targets-work")
    requirements = work / "requirements.txt"
    requirements.write_text(REQUIREMENTS, encoding="utf-8")

    def run(**settings: object) -> LockResult:
        options = Options(index_url=INDEX, no_cache=True, lock_dir=work, **settings)  # type: ignore[arg-type]
        return lock(
            [requirements],
            options=options,
            environ=ENVIRON,
            transport=httpx.WSGITransport(app=make_app(universe)),
        )

    return run


@pytest.fixture(scope="module")
def universal(locker: Locker) -> LockResult:
    return locker(universal=True, requires_python=REQUIRES_PYTHON)


def _select(pylock: Pylock, target: Target) -> dict[str, tuple[str, str, str]]:
    """name -> (version, file name, sha256) of what ``select()`` installs on ``target``."""
    chosen = {}
    for package, source in pylock.select(
        environment=dict(target.environment),  # type: ignore[arg-type]
        tags=list(target.tags),
    ):
        # Every project of the universe comes from the index: a wheel or an sdist.
        assert isinstance(source, PackageWheel | PackageSdist), (package.name, source)
        chosen[str(package.name)] = (str(package.version), source.filename, source.hashes["sha256"])
    return chosen


def _files(package: Package) -> dict[str, str]:
    """file name -> sha256 of a package entry's wheels and sdist."""
    found = {wheel.filename: wheel.hashes["sha256"] for wheel in package.wheels or ()}
    if package.sdist is not None:
        found[package.sdist.filename] = package.sdist.hashes["sha256"]
    return found


def _entry(pylock: Pylock, name: str, version: str) -> Package:
    (package,) = [p for p in pylock.packages if p.name == name and str(p.version) == version]
    return package


def _applies(package: Package, target: Target) -> bool:
    return package.marker is None or package.marker.evaluate(dict(target.environment))


# -- the universal lock itself -------------------------------------------------------


def test_the_universal_lock_holds_each_release_where_it_applies(universal: LockResult) -> None:
    pylock = universal.pylock
    assert str(pylock.requires_python) == REQUIRES_PYTHON
    assert pylock.environments is None
    assert {(p.name, str(p.version)) for p in pylock.packages} == set(EXPECTED)
    for package in pylock.packages:
        where = EXPECTED[(package.name, str(package.version))]
        for target in GRID:
            env = target.environment
            assert _applies(package, target) == where(env), (package.name, package.marker, env)


def test_forks_partition_the_environments(universal: LockResult) -> None:
    resolutions = universal.resolutions
    regions = [resolution.target for resolution in resolutions]
    assert all(isinstance(region, Region) for region in regions)
    # One split by Python (modern 2.0), one by platform (forked): four forks.
    assert len(regions) == 4
    for target in GRID:
        env = dict(target.environment)
        covering = [i for i, r in enumerate(regions) if r.marker.evaluate(env)]  # type: ignore[union-attr]
        assert len(covering) == 1, (target.name, [str(r.marker) for r in regions])  # type: ignore[union-attr]
        fork = resolutions[covering[0]]
        # What the fork installs here (its pins whose marker holds) is what the
        # universe's design says applies here.
        installed = {
            (str(name), str(fork.pins[name].version))
            for name, where in fork.markers.items()
            if where.evaluate(env)
        }
        assert installed == {key for key, where in EXPECTED.items() if where(env)}, target.name
    # Every fork agrees on helper, although the older Pythons alone could take 3.0.
    assert {str(r.pins[canonicalize_name("helper")].version) for r in resolutions} == {"2.1"}


# -- against single-target locks -----------------------------------------------------


@pytest.fixture(scope="module")
def single(locker: Locker) -> Callable[[Target], LockResult | ResolutionError]:
    done: dict[str, LockResult | ResolutionError] = {}

    def get(target: Target) -> LockResult | ResolutionError:
        if target.name not in done:
            try:
                done[target.name] = locker(targets=[target])
            except ResolutionError as error:
                done[target.name] = error
        return done[target.name]

    return get


def _preset(target: Target) -> str:
    return target.name.rsplit("-py", 1)[0]


@pytest.mark.parametrize("target", COMPARED, ids=[t.name for t in COMPARED])
def test_select_gives_what_a_lock_for_the_target_gives(
    target: Target,
    universal: LockResult,
    single: Callable[[Target], LockResult | ResolutionError],
) -> None:
    alone = single(target)
    if _preset(target) in NO_NATIVE:
        # native has no file for this platform. Resolving for the target alone finds
        # no version; the universal lock (which no `required-environments` asks to
        # serve this platform) has native 1.0 and select() refuses it there.
        assert isinstance(alone, ResolutionError), alone
        assert "native" in str(alone)
        with pytest.raises(PylockSelectError, match="'native'"):
            _select(universal.pylock, target)
        return
    assert isinstance(alone, LockResult), alone
    mine = _select(alone.pylock, target)
    assert set(mine) == {p.name for p in alone.pylock.packages}
    ours = _select(universal.pylock, target)
    if target.environment["python_version"] == "3.10":
        # The documented difference: the Python >= 3.12 fork resolves first and picks
        # helper 2.1 (modern 2.0 wants helper<3); the older fork prefers that version
        # where it can, so that versions agree across forks. Alone, 3.10 takes 3.0.
        assert mine.pop("helper")[0] == "3.0"
        assert ours.pop("helper")[0] == "2.1"
    assert {n: v[0] for n, v in ours.items()} == {n: v[0] for n, v in mine.items()}
    # The very same files: select() picks the same one from both locks...
    assert ours == mine
    # ... and every file the target's lock keeps is in the universal lock, same hash.
    for package in alone.pylock.packages:
        if package.name not in mine:
            continue  # helper on 3.10: the other version, compared above
        kept = _files(_entry(universal.pylock, package.name, str(package.version)))
        assert _files(package).items() <= kept.items(), package.name


# -- the files kept ------------------------------------------------------------------


def _usable(filename: str, package: Package) -> bool:
    """Whether some environment of the grid where ``package`` applies takes the wheel."""
    tags = parse_wheel_filename(filename)[3]
    return any(_applies(package, t) and tags & set(t.tags) for t in GRID)


def test_the_lock_keeps_exactly_the_wheels_its_markers_can_use(
    universal: LockResult, universe: Universe
) -> None:
    for package in universal.pylock.packages:
        release = universe.project(package.name).releases[str(package.version)]
        wheels = {f.filename: f.sha256 for f in release.files if f.kind == "wheel"}
        expected = {name: sha for name, sha in wheels.items() if _usable(name, package)}
        sdists = {f.filename: f.sha256 for f in release.files if f.kind == "sdist"}
        assert _files(package) == {**expected, **sdists}, package.name
    # The Python >= 3.12 release dropped its cp310 and cp311 wheels (and keeps its
    # sdist); the older release serves 3.10 and 3.11 with its own files.
    newest = _files(_entry(universal.pylock, "modern", "2.0"))
    assert sorted(newest) == [
        "modern-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "modern-2.0-cp313-cp313-manylinux_2_17_x86_64.whl",
        "modern-2.0.tar.gz",
    ]
    assert len(_files(_entry(universal.pylock, "native", "1.0"))) == len(_NATIVE_TAGS)


def _outcomes(pylock: Pylock) -> Iterator[tuple[str, object]]:
    for target in GRID:
        try:
            yield target.name, _select(pylock, target)
        except PylockSelectError as error:
            yield target.name, f"error: {error}"


def test_the_lock_text_reads_back_to_the_same_selection(universal: LockResult) -> None:
    text = universal.to_toml()
    again = parse_lock(text, path="x")
    assert again.packages == universal.pylock.packages
    before, after = list(_outcomes(universal.pylock)), list(_outcomes(again))
    assert after == before
    assert sum(isinstance(outcome, dict) for _, outcome in after) > len(GRID) // 2


def test_every_locked_file_is_the_index_file(universal: LockResult, universe: Universe) -> None:
    for package in universal.pylock.packages:
        for filename, sha256 in _files(package).items():
            published = universe.file(filename)
            assert published is not None, filename
            assert published.sha256 == sha256, filename


@pytest.mark.parametrize("target", COMPARED, ids=[t.name for t in COMPARED])
def test_export_writes_the_selection_with_the_hashes_of_its_usable_files(
    target: Target, universal: LockResult
) -> None:
    if _preset(target) in NO_NATIVE:
        with pytest.raises(LockSelectionError, match="native"):
            export_requirements(universal.pylock, target=target)
        return
    text = export_requirements(universal.pylock, target=target)
    lines = [line.strip().rstrip("\\").strip() for line in text.splitlines()]
    pins = dict(line.split("==") for line in lines if "==" in line and line[0] not in "#-")
    selected = _select(universal.pylock, target)
    assert pins == {name: version for name, (version, _, _) in selected.items()}
    written = {line.removeprefix("--hash=sha256:") for line in lines if line.startswith("--hash")}
    supported = set(target.tags)
    usable = {
        sha256
        for name, (version, _, _) in selected.items()
        for filename, sha256 in _files(_entry(universal.pylock, name, version)).items()
        if not filename.endswith(".whl") or parse_wheel_filename(filename)[3] & supported
    }
    assert written == usable


def test_required_environments_make_a_lock_fail_that_one_cannot_serve(locker: Locker) -> None:
    # The universal lock above has native for macOS x86_64, where no file of it
    # installs: only a required environment makes the resolver check.
    mac_x86 = 'sys_platform == "darwin" and platform_machine == "x86_64"'
    with pytest.raises(ResolutionError, match="native") as caught:
        locker(universal=True, requires_python=REQUIRES_PYTHON, required_environments=[mac_x86])
    assert mac_x86 in str(caught.value)
    mac_arm = 'sys_platform == "darwin" and platform_machine == "arm64"'
    served = locker(
        universal=True, requires_python=REQUIRES_PYTHON, required_environments=[mac_arm]
    )
    assert ("native", "1.0") in {(p.name, str(p.version)) for p in served.pylock.packages}

"""Multi-target locks: one resolution per platform target, merged into one PEP 751 file.

The invariant: for every target ``t`` of a lock, ``Pylock.select`` with ``t``'s
marker environment and tags, on the lock read back from its TOML text, gives exactly
what locking for ``t`` alone gives (names and versions). Expected answers are derived
from ``fixtures/universe.toml`` (see the comments next to ``EXPECTED``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.markers import Marker
from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock
from packaging.utils import canonicalize_name, parse_wheel_filename

from reqlock import lock
from reqlock.errors import ConfigError, ReqlockError, TargetError
from reqlock.locking.api import LockResult
from reqlock.locking.config import parse_config
from reqlock.targets import PRESETS, Target, environment_marker, parse_target
from tests.fakeindex import Universe
from tests.lockapi import with_options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INDEX = "http://fakeindex/simple/"
# Passed as lock()'s environment: no REQLOCK_* variable or ~/.netrc of the machine
# counts, and the plain-http in-process index host is allowed explicitly.
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}

# One target per preset, mixed Python versions. musllinux uses 3.11: with 3.12 it
# would share linux-x86_64-py3.12's marker (no marker variable tells musl from glibc),
# which is a ConfigError (see test_two_targets_with_the_same_marker_are_refused).
SIX = (
    "linux-x86_64-py3.12",
    "linux-aarch64-py3.13",
    "musllinux-x86_64-py3.11",
    "macos-arm64-py3.12",
    "macos-x86_64-py3.10",
    "windows-amd64-py3.11",
)
REQUIREMENTS = ("plat-pkg", "abi3-pkg", "markers-top", "leaf-a", "rp-file", "rp-pkg")

_COMMON = {"markers-top": "1.0", "abi3-pkg": "1.0", "leaf-a": "2.0", "rp-pkg": "1.0"}
# Derived from the universe by hand:
# * plat-pkg 2.0 has wheels only for cp311 manylinux_2_39 x86_64 (newer than the
#   presets' manylinux_2_28), cp312/cp313 manylinux x86_64 and cp312/cp313 win_amd64,
#   and no sdist: only linux-x86_64-py3.12 can use it; everyone else gets 1.0.
# * plat-pkg 1.0 needs win-only on win32, marker-arm on aarch64, marker-backport < 3.11.
# * markers-top needs marker-win on win32, marker-arm on aarch64, marker-backport
#   on Python < 3.11, marker-linux on linux.
# * rp-file 2.0's files say requires-python >=3.12 on the index: 1.0 below 3.12.
# * rp-pkg 2.0 requires Python >=3.99: always 1.0. leaf-a: newest, 2.0.
EXPECTED: dict[str, dict[str, str]] = {
    "linux-x86_64-py3.12": {
        **_COMMON,
        "plat-pkg": "2.0",
        "marker-linux": "1.0",
        "rp-file": "2.0",
    },
    "linux-aarch64-py3.13": {
        **_COMMON,
        "plat-pkg": "1.0",
        "marker-linux": "1.0",
        "marker-arm": "1.0",
        "rp-file": "2.0",
    },
    "musllinux-x86_64-py3.11": {
        **_COMMON,
        "plat-pkg": "1.0",
        "marker-linux": "1.0",
        "rp-file": "1.0",
    },
    "macos-arm64-py3.12": {**_COMMON, "plat-pkg": "1.0", "rp-file": "2.0"},
    "macos-x86_64-py3.10": {
        **_COMMON,
        "plat-pkg": "1.0",
        "marker-backport": "1.0",
        "rp-file": "1.0",
    },
    "windows-amd64-py3.11": {
        **_COMMON,
        "plat-pkg": "1.0",
        "marker-win": "1.0",
        "win-only": "1.0",
        "rp-file": "1.0",
    },
}


def _lock(transport: httpx.BaseTransport, targets: Sequence[Target], **kwargs: Any) -> LockResult:
    return lock(
        **with_options(
            requirements=list(kwargs.pop("requirements", REQUIREMENTS)),
            targets=list(targets),
            index_url=INDEX,
            transport=transport,
            no_cache=True,
            environ=ENVIRON,
            **kwargs,
        )
    )


def _read_back(result: LockResult) -> Pylock:
    return Pylock.from_dict(tomllib.loads(result.to_toml()))


def _select(lock_model: Pylock, target: Target) -> list[tuple[Package, Any]]:
    return list(lock_model.select(environment=dict(target.environment), tags=list(target.tags)))


def _pins(lock_model: Pylock, target: Target) -> dict[str, str]:
    return {str(p.name): str(p.version) for p, _ in _select(lock_model, target)}


def _single_pins(result: LockResult) -> dict[str, str]:
    (resolution,) = result.resolutions
    return {str(name): str(pin.version) for name, pin in resolution.pins.items()}


def _accepts(target: Target, wheel_filename: str) -> bool:
    return bool(parse_wheel_filename(wheel_filename)[3] & set(target.tags))


@pytest.fixture(scope="module")
def targets() -> list[Target]:
    return [parse_target(spec) for spec in SIX]


@pytest.fixture(scope="module")
def multi(wsgi_transport: httpx.WSGITransport, targets: list[Target]) -> LockResult:
    return _lock(wsgi_transport, targets)


@pytest.fixture(scope="module")
def read_back(multi: LockResult) -> Pylock:
    return _read_back(multi)


@pytest.fixture(scope="module")
def singles(wsgi_transport: httpx.WSGITransport, targets: list[Target]) -> dict[str, LockResult]:
    return {t.name: _lock(wsgi_transport, [t]) for t in targets}


@pytest.fixture(scope="module")
def users(read_back: Pylock, targets: list[Target]) -> dict[tuple[str, str], list[Target]]:
    """(name, version) of each package entry -> the targets whose selection uses it."""
    found: dict[tuple[str, str], list[Target]] = {}
    for target in targets:
        for package, _ in _select(read_back, target):
            found.setdefault((str(package.name), str(package.version)), []).append(target)
    return found


def test_the_six_targets_cover_every_preset() -> None:
    assert {spec.rsplit("-py", 1)[0] for spec in SIX} == set(PRESETS)
    assert len({spec.rsplit("-py", 1)[1] for spec in SIX}) >= 3  # mixed Python versions


@pytest.mark.parametrize("spec", SIX)
def test_selection_equals_the_single_target_lock(
    spec: str, read_back: Pylock, singles: dict[str, LockResult]
) -> None:
    target = parse_target(spec)
    single = singles[spec]
    assert _pins(read_back, target) == _single_pins(single)
    # The single-target lock selects the same thing from its own file, too.
    assert _pins(_read_back(single), target) == _single_pins(single)
    # ... and the file chosen for each package is one the target's own resolution
    # found usable.
    (resolution,) = single.resolutions
    for package, dist in _select(read_back, target):
        usable = {f.filename for f in resolution.pins[package.name].files}
        assert dist.filename in usable, (package.name, dist.filename)


@pytest.mark.parametrize("spec", SIX)
def test_selection_is_what_the_universe_predicts(spec: str, read_back: Pylock) -> None:
    assert _pins(read_back, parse_target(spec)) == EXPECTED[spec]


def test_platform_only_dependencies_appear_only_where_needed(
    read_back: Pylock, targets: list[Target]
) -> None:
    where: dict[str, set[str]] = {}
    for target in targets:
        for name in _pins(read_back, target):
            where.setdefault(name, set()).add(target.name)
    assert where["marker-win"] == {"windows-amd64-py3.11"}
    assert where["win-only"] == {"windows-amd64-py3.11"}
    assert where["marker-arm"] == {"linux-aarch64-py3.13"}
    assert where["marker-backport"] == {"macos-x86_64-py3.10"}
    assert where["marker-linux"] == {
        "linux-x86_64-py3.12",
        "linux-aarch64-py3.13",
        "musllinux-x86_64-py3.11",
    }
    # The musllinux target has no abi3-pkg wheel and macOS x86_64 none either: both
    # install abi3-pkg from its sdist; the others from a wheel.
    for target in targets:
        (dist,) = [d for p, d in _select(read_back, target) if p.name == "abi3-pkg"]
        from_sdist = target.name in {"musllinux-x86_64-py3.11", "macos-x86_64-py3.10"}
        assert isinstance(dist, PackageSdist if from_sdist else PackageWheel), target.name


def test_environments_list_one_marker_per_target(read_back: Pylock, targets: list[Target]) -> None:
    assert read_back.environments is not None
    assert [str(m) for m in read_back.environments] == [str(environment_marker(t)) for t in targets]
    assert str(read_back.requires_python) == ">=3.10"
    assert read_back.created_by == "reqlock"


def test_markers_where_not_universal(
    read_back: Pylock, targets: list[Target], users: dict[tuple[str, str], list[Target]]
) -> None:
    assert {(str(p.name), str(p.version)) for p in read_back.packages} == set(users)
    for package in read_back.packages:
        used_by = {t.name for t in users[(str(package.name), str(package.version))]}
        if used_by == {t.name for t in targets}:
            assert package.marker is None, package.name
            continue
        assert package.marker is not None, package.name
        for target in targets:
            marker = Marker(str(package.marker))
            assert marker.evaluate(dict(target.environment)) == (target.name in used_by), (
                package.name,
                package.version,
                target.name,
            )
    unmarked = {str(p.name) for p in read_back.packages if p.marker is None}
    assert unmarked == {"abi3-pkg", "leaf-a", "markers-top", "rp-pkg"}


def test_kept_files_are_exactly_those_some_target_accepts(
    read_back: Pylock, universe: Universe, users: dict[tuple[str, str], list[Target]]
) -> None:
    dropped = 0
    for package in read_back.packages:
        release = universe.projects[str(package.name)].releases[str(package.version)]
        used_by = users[(str(package.name), str(package.version))]
        on_index = {f.filename: f for f in release.files}
        index_wheels = {f.filename for f in release.files if f.kind == "wheel"}
        expected = {w for w in index_wheels if any(_accepts(t, w) for t in used_by)}
        kept = {w.filename for w in package.wheels or ()}
        assert kept == expected, (package.name, package.version)
        dropped += len(index_wheels - kept)
        sdists = [f for f in release.files if f.kind == "sdist"]
        if sdists:
            assert package.sdist is not None, package.name
            assert package.sdist.filename == sdists[0].filename
        else:
            assert package.sdist is None, package.name
        for item in [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]:
            source = on_index[item.filename]
            assert item.hashes == {"sha256": source.sha256}
            assert item.size == source.size
            assert item.upload_time is not None
    assert dropped > 0  # the index has wheels no target can use (e.g. cp313 win_amd64)
    plat1 = next(p for p in read_back.packages if (p.name, str(p.version)) == ("plat-pkg", "1.0"))
    assert "plat_pkg-1.0-cp313-cp313-win_amd64.whl" not in {w.filename for w in plat1.wheels or ()}


def test_lock_text_is_deterministic(
    multi: LockResult, wsgi_transport: httpx.WSGITransport, targets: list[Target]
) -> None:
    assert _lock(wsgi_transport, targets).to_toml() == multi.to_toml()


def test_invariant_holds_whatever_the_target_order(
    wsgi_transport: httpx.WSGITransport, targets: list[Target], singles: dict[str, LockResult]
) -> None:
    # By design later targets prefer earlier targets' pins so versions agree where
    # they can; the invariant is between the file and the resolutions it was made
    # from, in whatever order the targets come.
    result = _lock(wsgi_transport, list(reversed(targets)))
    reordered = _read_back(result)
    for resolution in result.resolutions:
        expected = {str(n): str(p.version) for n, p in resolution.pins.items()}
        assert _pins(reordered, resolution.target) == expected, resolution.target.name
    # With macos-x86_64-py3.10 first, linux-x86_64-py3.12 keeps plat-pkg 1.0 (which
    # both can install) although alone it would take 2.0: one version, not two.
    first = {str(n): str(p.version) for n, p in result.resolutions[0].pins.items()}
    linux = next(r for r in result.resolutions if r.target.name == "linux-x86_64-py3.12")
    assert first["plat-pkg"] == "1.0"
    assert str(linux.pins[canonicalize_name("plat-pkg")].version) == "1.0"
    assert _single_pins(singles["linux-x86_64-py3.12"])["plat-pkg"] == "2.0"


@pytest.mark.parametrize(
    "failing",
    [
        "linux-aarch64-py3.13",  # no aarch64 wheel
        "musllinux-x86_64-py3.13",  # no musllinux wheel
        "macos-arm64-py3.12",  # no macOS wheel
        "windows-amd64-py3.11",  # win_amd64 only for cp312/cp313
        "linux-x86_64-py3.11",  # cp311 only as manylinux_2_39, newer than _2_28
    ],
)
def test_target_that_cannot_install_a_pinned_release_is_named(
    failing: str, wsgi_transport: httpx.WSGITransport
) -> None:
    good = parse_target("linux-x86_64-py3.12")
    # The target that can install it alone locks fine.
    alone = _lock(wsgi_transport, [good], requirements=["plat-pkg==2.0"])
    assert _single_pins(alone) == {"plat-pkg": "2.0"}
    with pytest.raises(ReqlockError) as info:
        _lock(wsgi_transport, [good, parse_target(failing)], requirements=["plat-pkg==2.0"])
    message = str(info.value)
    assert "plat-pkg" in message
    assert "2.0" in message
    assert failing in message
    assert "linux-x86_64-py3.12" not in message  # the target that is fine is not blamed


def _no_network() -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    return httpx.MockTransport(handler), seen


@pytest.mark.parametrize(
    "make_pair",
    [
        lambda: [parse_target("linux-x86_64-py3.12"), parse_target("musllinux-x86_64-py3.12")],
        lambda: [
            parse_target("linux-aarch64-py3.13"),
            parse_config(
                {
                    "targets": ["box"],
                    "custom-targets": {
                        "box": {"python": "3.13", "platforms": ["manylinux_2_31_aarch64"]}
                    },
                },
                root=Path("."),
            ).targets[0],
        ],
    ],
    ids=["glibc-and-musl", "preset-and-custom"],
)
def test_two_targets_with_the_same_marker_are_refused(
    make_pair: Callable[[], list[Target]],
) -> None:
    pair = make_pair()
    transport, seen = _no_network()
    with pytest.raises(ConfigError) as info:
        lock(
            **with_options(
                requirements=["leaf-a"],
                targets=pair,
                index_url=INDEX,
                transport=transport,
                no_cache=True,
                environ=ENVIRON,
            )
        )
    assert info.value.key == "targets"
    for target in pair:
        assert target.name in str(info.value)
    assert seen == []  # refused before any request


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("solaris-sparc-py3.12", "unknown"),
        ("linux-x86_64", "names no Python version"),
        ("linux-x86_64-py2.7", "not supported"),
        ("linux-x86_64-py3.12.1", "patch release"),
        ("linx-x86_64-py3.12", "did you mean linux-x86_64"),
        ("", "unknown target"),
    ],
)
def test_unknown_target_spec_lists_the_valid_forms(spec: str, fragment: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(spec)
    text = str(info.value)
    assert fragment in text
    assert "current" in text
    assert "PLATFORM-pyX.Y" in text
    for preset in PRESETS:
        assert preset in text
    assert isinstance(info.value, ConfigError)
    assert info.value.key == "--target"


def test_unknown_target_in_config_names_its_key() -> None:
    with pytest.raises(TargetError) as info:
        parse_config({"targets": ["linux-x86_64-py3.12", "bogus-py3.12"]}, root=Path("."))
    assert info.value.key == "tool.reqlock.targets[1]"
    assert str(info.value).startswith("tool.reqlock.targets[1]: ")
    assert "linux-x86_64" in str(info.value)

"""packse's universal scenarios (``resolver_options.universal = true``: the ``fork`` and
``tag_and_markers`` directories and a few others), locked with ``--universal``.

Each is checked three ways:

* the outcome packse expects (satisfiable or not; pins where the file gives them),
  except where tests/packse_policy.py's ``UNIVERSAL_DIVERGENCES`` records otherwise;
* for a satisfiable one, on a grid of environments built from the values its markers
  name: exactly one fork covers each environment, and the merged lock's
  ``Pylock.select()`` gives exactly the packages that fork's resolution installs
  there, found by walking its dependency graph with ``packaging``'s own marker
  evaluation (independent of reqlock's marker algebra, which wrote the lock's markers);
* for the scenarios about files, the wheels the lock keeps.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

import httpx
import pytest
from packaging.pylock import Pylock
from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import canonicalize_name

from reqlock import lock
from reqlock.errors import ReqlockError, ResolutionError
from reqlock.locking.region import Region
from reqlock.locking.result import LockResult
from tests.fakeindex import Universe, make_app
from tests.packse import SCENARIOS_DIR, Scenario, load_scenarios
from tests.packse_policy import UNIVERSAL_DIVERGENCES, Fails, Locks, Outcome
from tests.test_packse import UniverseOf

INDEX = "http://fakeindex/simple/"
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}

UNIVERSAL = [s for s in load_scenarios() if s.universal]
BY_NAME = {s.name: s for s in UNIVERSAL}


@pytest.fixture(scope="module")
def locked(
    universe_of: UniverseOf, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Scenario], LockResult | ReqlockError]:
    """Each scenario's universal lock (or the error), made once per module."""
    done: dict[str, LockResult | ReqlockError] = {}

    def get(scenario: Scenario) -> LockResult | ReqlockError:
        if scenario.name not in done:
            done[scenario.name] = _lock(scenario, universe_of(scenario), tmp_path_factory)
        return done[scenario.name]

    return get


def _requires_python(scenario: Scenario) -> str:
    # As packse's harness runs uv: the root's requires-python, else the scenario's Python.
    return scenario.root_requires_python or f">={scenario.python}"


def _lock(
    scenario: Scenario, universe: Universe, tmp: pytest.TempPathFactory
) -> LockResult | ReqlockError:
    work = tmp.mktemp(scenario.name)
    requirements = work / "requirements.txt"
    requirements.write_text(scenario.requirements_text, encoding="utf-8")
    options = scenario.settings.options(
        index_url=INDEX,
        no_cache=True,
        lock_dir=work,
        universal=True,
        requires_python=_requires_python(scenario),
        required_environments=list(scenario.required_environments) or None,
    )
    try:
        return lock(
            [requirements],
            options=options,
            environ=ENVIRON,
            transport=httpx.WSGITransport(app=make_app(universe)),
        )
    except ReqlockError as error:
        return error


def _expected(scenario: Scenario) -> Outcome:
    if scenario.expected.satisfiable:
        return Locks(packages=scenario.expected.packages)
    return Fails(error=ResolutionError)


def _pins(result: LockResult) -> dict[str, str]:
    return {p.name: str(p.version) for p in result.pylock.packages}


@pytest.mark.parametrize("scenario", UNIVERSAL, ids=[s.name for s in UNIVERSAL])
def test_universal_scenario(scenario: Scenario, locked: Callable[..., object]) -> None:
    actual = locked(scenario)
    divergence = UNIVERSAL_DIVERGENCES.get(scenario.name)
    outcome = divergence.actual if divergence is not None else _expected(scenario)
    about = f"{scenario.path.relative_to(SCENARIOS_DIR)}: {scenario.description}"
    if divergence is not None:
        about += f"\npolicy table (tests/packse_policy.py): {divergence.reason}"
    if isinstance(outcome, Fails):
        assert isinstance(actual, outcome.error), f"{about}\nreqlock gave: {actual!r}"
        return
    assert isinstance(actual, LockResult), f"{about}\nreqlock failed: {actual}"
    if outcome.packages is not None:
        expected = {str(canonicalize_name(k)): v for k, v in outcome.packages.items()}
        assert _pins(actual) == expected, about


# -- the merged lock selects each environment's fork ---------------------------------

_LITERAL = re.compile(
    r"(sys_platform|os_name|implementation_name|platform_machine|platform_system"
    r"|platform_python_implementation)\s*[=!]=\s*['\"]([^'\"]+)['\"]"
)
_DEFAULTS = {
    "sys_platform": {"linux", "darwin", "win32"},
    "os_name": {"posix", "nt"},
    "implementation_name": {"cpython", "pypy"},
    "platform_machine": {"x86_64", "aarch64"},
    "platform_system": {"Linux", "Windows"},
    "platform_python_implementation": {"CPython", "PyPy"},
}
_PYTHONS = ["3.8.0", "3.9.0", "3.10.0", "3.10.1", "3.11.4", "3.12.0", "3.13.2", "3.14.0"]


def _environments(scenario: Scenario) -> Iterator[dict[str, str]]:
    """Environments mixing every value the scenario's markers name (and a few more)."""
    text = scenario.path.read_text(encoding="utf-8")
    values = {name: set(found) for name, found in _DEFAULTS.items()}
    for name, value in _LITERAL.findall(text):
        values[name].add(value)
    names = sorted(values)
    for python in _PYTHONS:
        for combo in itertools.product(*(sorted(values[n]) for n in names)):
            env = dict(zip(names, combo, strict=True))
            env["python_full_version"] = python
            env["python_version"] = ".".join(python.split(".")[:2])
            yield env


def _installs(
    result: LockResult, fork_index: int, env: Mapping[str, str], roots: Sequence[str]
) -> dict[str, str]:
    """What the fork's resolution installs in ``env``: its graph walked from the
    requirements with packaging's marker evaluation."""
    pins = result.resolutions[fork_index].pins
    wanted: list[tuple[str, frozenset[str]]] = []
    for line in roots:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
            wanted.append((canonicalize_name(req.name), frozenset(req.extras)))
    seen: set[tuple[str, str]] = set()
    found: dict[str, str] = {}
    while wanted:
        name, extras = wanted.pop()
        pin = pins[canonicalize_name(name)]
        found[pin.name] = str(pin.version)
        for extra in ("", *sorted(extras)):
            if (pin.name, extra) in seen:
                continue
            seen.add((pin.name, extra))
            for dep in pin.metadata.requires_dist:
                if dep.marker is not None and not dep.marker.evaluate({**env, "extra": extra}):
                    continue
                if dep.marker is None and extra:
                    continue
                wanted.append((canonicalize_name(dep.name), frozenset(dep.extras)))
    return found


def _tags_for(env: Mapping[str, str]) -> list[Tag]:
    # Every wheel of these scenarios is pure Python or names a platform the grid does
    # not try to match; the sdist (when there is one) serves the rest.
    major, minor = env["python_version"].split(".")
    return [Tag(f"py{major}", "none", "any"), Tag(f"py{major}{minor}", "none", "any")]


SATISFIABLE = [s for s in UNIVERSAL if s.expected.satisfiable]


@pytest.mark.parametrize("scenario", SATISFIABLE, ids=[s.name for s in SATISFIABLE])
def test_select_gives_each_environment_its_fork(
    scenario: Scenario, locked: Callable[..., object]
) -> None:
    result = locked(scenario)
    assert isinstance(result, LockResult), result
    regions = [r.target for r in result.resolutions]
    assert all(isinstance(r, Region) for r in regions)
    lock_python = result.pylock.requires_python
    checked = 0
    for env in _environments(scenario):
        if lock_python is not None and not lock_python.contains(env["python_full_version"]):
            continue
        covering = [i for i, r in enumerate(regions) if r.marker.evaluate(env)]  # type: ignore[union-attr]
        assert len(covering) == 1, (env, [str(r.marker) for r in regions])  # type: ignore[union-attr]
        expected = _installs(result, covering[0], env, scenario.root_requires)
        selected = _select(result.pylock, env)
        assert selected == expected, env
        checked += 1
    assert checked > 0


def _select(pylock: Pylock, env: Mapping[str, str]) -> dict[str, str]:
    """The packages whose marker holds in ``env`` (at most one per name); and, when
    each has a file the grid's tags can install, ``Pylock.select()`` agrees."""
    chosen: dict[str, str] = {}
    installable = True
    for package in pylock.packages:
        if package.marker is not None and not package.marker.evaluate(dict(env)):
            continue
        assert package.name not in chosen, (package.name, env)
        chosen[package.name] = str(package.version)
        pure = any(w.filename.endswith("-none-any.whl") for w in package.wheels or ())
        installable = installable and (package.sdist is not None or pure)
    if installable:
        selected = pylock.select(environment=dict(env), tags=_tags_for(env))  # type: ignore[arg-type]
        assert {p.name: str(p.version) for p, _ in selected} == chosen
    return chosen


# -- files -----------------------------------------------------------------------------


def _wheels(result: LockResult, name: str) -> set[str]:
    (package,) = [p for p in result.pylock.packages if p.name == name]
    return {w.filename for w in package.wheels or ()}


def test_only_wheels_of_the_lock_python_range_are_kept(locked: Callable[..., object]) -> None:
    result = locked(BY_NAME["requires-python-wheels"])
    assert isinstance(result, LockResult)
    # requires-python >=3.10: the cp39 wheel serves no environment of the lock.
    assert _wheels(result, "a") == {"a-1.0.0-cp310-cp310-any.whl", "a-1.0.0-cp311-cp311-any.whl"}


def test_only_wheels_of_the_package_marker_are_kept(locked: Callable[..., object]) -> None:
    result = locked(BY_NAME["unreachable-wheels"])
    assert isinstance(result, LockResult)
    assert _wheels(result, "a") == {"a-1.0.0-cp312-cp312-win_amd64.whl"}
    assert _wheels(result, "b") == {
        "b-1.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "b-1.0.0-cp312-cp312-musllinux_1_1_armv7l.whl",
    }
    assert _wheels(result, "c") == {"c-1.0.0-cp312-cp312-macosx_14_0_x86_64.whl"}


def test_wheels_for_other_machines_are_left_out(locked: Callable[..., object]) -> None:
    result = locked(BY_NAME["specific-architecture"])
    assert isinstance(result, LockResult)
    # b is only for platform_machine == "x86_64": no aarch64 or arm64 wheels for Linux
    # or macOS. An i686 wheel stays: a 32-bit Python on a 64-bit Linux kernel reports
    # x86_64 and needs it. FreeBSD reports its own machine names (amd64, arm64), which
    # no wheel tag maps to exactly, so its wheels stay too.
    assert _wheels(result, "b") == {
        "b-1.0.0-cp313-cp313-freebsd_13_aarch64.whl",
        "b-1.0.0-cp313-cp313-freebsd_13_x86_64.whl",
        "b-1.0.0-cp313-cp313-macosx_10_9_x86_64.whl",
        "b-1.0.0-cp313-cp313-manylinux2010_i686.whl",
        "b-1.0.0-cp313-cp313-manylinux2010_x86_64.whl",
    }
    assert _wheels(result, "c") == {
        "c-1.0.0-cp313-cp313-freebsd_13_aarch64.whl",
        "c-1.0.0-cp313-cp313-freebsd_13_x86_64.whl",
        "c-1.0.0-cp313-cp313-manylinux2010_aarch64.whl",
    }  # aarch64 on Linux; macOS calls it arm64, whose wheel stays out


def test_a_package_no_environment_reaches_is_left_out(locked: Callable[..., object]) -> None:
    result = locked(BY_NAME["unreachable-package"])
    assert isinstance(result, LockResult)
    (a,) = result.pylock.packages  # b needs linux, a needs win32: b is never installed
    assert a.name == "a"
    assert str(a.marker) == 'sys_platform == "win32"'


def test_forks_are_named_by_their_markers(locked: Callable[..., object]) -> None:
    result = locked(BY_NAME["fork-basic"])
    assert isinstance(result, LockResult)
    markers = {str(p.version): str(p.marker) for p in result.pylock.packages}
    assert markers == {"1.0.0": 'sys_platform == "darwin"', "2.0.0": 'sys_platform == "linux"'}

"""packse's resolver scenarios (tests/data/packse), locked by reqlock against the
in-process fake index, and the loader that turns them into reqlock's inputs.

Each scenario not needing universal resolution is locked for its one target and
the pins (or the failure) compared with packse's expectation, except where
tests/packse_policy.py records that reqlock answers differently: there reqlock's
actual outcome is asserted, so a change in behaviour is noticed either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from reqlock import lock
from reqlock.errors import ReqlockError, ResolutionError
from reqlock.locking.requirements import parse_requirements
from tests.fakeindex import Universe, make_app
from tests.packse import (
    DEFAULT_REQUIRES_PYTHON,
    SCENARIOS_DIR,
    YANKED_REASON,
    Scenario,
    ScenarioError,
    duplicate_names,
    load_scenario,
    load_scenarios,
)
from tests.packse_policy import DIVERGENCES, UNIVERSAL_DIVERGENCES, Fails, Locks, Outcome

INDEX = "http://fakeindex/simple/"
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}
# Directories whose scenarios all need universal (forking) resolution.
UNIVERSAL_GROUPS = frozenset({"fork", "tag_and_markers"})

SCENARIOS = load_scenarios()
BY_NAME = {s.name: s for s in SCENARIOS}


# The universal scenarios are locked with --universal by tests/test_packse_universal.py.
LOCKED = [s for s in SCENARIOS if not s.universal]

UniverseOf = Callable[[Scenario], Universe]


def _lock(scenario: Scenario, universe: Universe, work: Path) -> dict[str, str] | ReqlockError:
    """reqlock's pins for the scenario, or the error it raised."""
    requirements = work / "requirements.txt"
    requirements.write_text(scenario.requirements_text, encoding="utf-8")
    options = scenario.settings.options(
        index_url=INDEX, targets=[scenario.target()], no_cache=True, lock_dir=work
    )
    try:
        result = lock(
            [requirements],
            options=options,
            environ=ENVIRON,
            transport=httpx.WSGITransport(app=make_app(universe)),
        )
    except ReqlockError as error:
        return error
    return {p.name: str(p.version) for p in result.pylock.packages}


def _expected(scenario: Scenario) -> Outcome:
    if scenario.expected.satisfiable:
        return Locks(packages=scenario.expected.packages)
    return Fails(error=ResolutionError)


def _versions(pins: Mapping[str, str]) -> dict[str, Version]:
    return {str(canonicalize_name(k)): Version(v) for k, v in pins.items()}


def _check(outcome: Outcome, actual: dict[str, str] | ReqlockError, about: str) -> None:
    if isinstance(outcome, Fails):
        assert isinstance(actual, outcome.error), f"{about}\nreqlock gave: {actual!r}"
        assert outcome.message in str(actual), f"{about}\nreqlock said: {actual}"
        return
    assert not isinstance(actual, ReqlockError), f"{about}\nreqlock failed: {actual}"
    if outcome.packages is not None:
        assert _versions(actual) == _versions(outcome.packages), about


@pytest.mark.parametrize("scenario", LOCKED, ids=[s.name for s in LOCKED])
def test_scenario(scenario: Scenario, universe_of: UniverseOf, tmp_path: Path) -> None:
    actual = _lock(scenario, universe_of(scenario), tmp_path)
    divergence = DIVERGENCES.get(scenario.name)
    outcome = divergence.actual if divergence is not None else _expected(scenario)
    about = f"{scenario.path.relative_to(SCENARIOS_DIR)}: {scenario.description}"
    if scenario.expected.explanation:
        about += f"\npackse: {scenario.expected.explanation}"
    if divergence is not None:
        about += f"\npolicy table (tests/packse_policy.py): {divergence.reason}"
    _check(outcome, actual, about)


# -- the tables stay true to the data --------------------------------------------------


def test_policy_tables_name_scenarios_that_exist_and_run() -> None:
    run = {s.name for s in LOCKED}
    assert sorted(set(DIVERGENCES) - run) == []
    universal = {s.name for s in SCENARIOS if s.universal}
    assert sorted(set(UNIVERSAL_DIVERGENCES) - universal) == []
    # Every scenario of the universal directories asks for universal resolution.
    assert all(s.universal for s in SCENARIOS if s.group in UNIVERSAL_GROUPS)


def test_divergences_differ_from_packse() -> None:
    for name, divergence in {**DIVERGENCES, **UNIVERSAL_DIVERGENCES}.items():
        assert divergence.actual != _expected(BY_NAME[name]), name


# -- the loader ------------------------------------------------------------------------


def test_every_scenario_file_loads_and_builds(universe_of: UniverseOf) -> None:
    assert len(SCENARIOS) == len(list(SCENARIOS_DIR.glob("*/*.toml")))
    assert duplicate_names(SCENARIOS) == []
    groups = {s.group for s in SCENARIOS}
    assert groups >= UNIVERSAL_GROUPS
    for scenario in SCENARIOS:
        target = scenario.target()
        assert target.environment["python_full_version"].startswith(scenario.python)
        reqs = parse_requirements(scenario.requirements_text, filename="requirements.txt")
        assert len(reqs.requirements) == len(scenario.root_requires)
        universe = universe_of(scenario)
        assert set(universe.projects) == {canonicalize_name(n) for n in scenario.packages}


def test_packse_defaults_fill_what_a_file_leaves_out(universe_of: UniverseOf) -> None:
    scenario = BY_NAME["example-toml"]
    assert scenario.requirements_text.splitlines()[1:] == ["a"]
    assert scenario.python == "3.12"
    assert scenario.unsupported == ()
    universe = universe_of(scenario)
    release = universe.project("b").releases["3.0.0"]
    assert release.requires_dist == ("c",)
    assert release.requires_python == DEFAULT_REQUIRES_PYTHON
    assert sorted(f.filename for f in release.files) == [
        "b-3.0.0-py3-none-any.whl",
        "b-3.0.0.tar.gz",
    ]


def test_extras_become_markers_in_the_built_metadata(universe_of: UniverseOf) -> None:
    scenario = BY_NAME["extra-incompatible-with-extra"]
    release = universe_of(scenario).project("a").releases["1.0.0"]
    assert release.provides_extras == ("extra-b", "extra-c")
    wheel = next(f for f in release.files if f.kind == "wheel")
    assert wheel.metadata is not None
    lines = wheel.metadata.decode().splitlines()
    assert 'Requires-Dist: b==1.0.0; extra == "extra-b"' in lines
    assert 'Requires-Dist: b==2.0.0; extra == "extra-c"' in lines


def test_files_yanked_and_tags_as_the_scenario_says(universe_of: UniverseOf) -> None:
    yanked = universe_of(BY_NAME["transitive-yanked-and-unyanked-dependency"]).project("c")
    assert [r.yanked for r in yanked.releases.values()] == [False, YANKED_REASON]
    tagged = universe_of(BY_NAME["no-sdist-no-wheels-with-matching-abi"]).project("a")
    (only,) = tagged.releases["1.0.0"].files
    assert only.filename == "a-1.0.0-py3-graalpy240_310_native-any.whl"
    sdist_only = universe_of(BY_NAME["no-wheels"]).project("a").releases["1.0.0"]
    assert [f.kind for f in sdist_only.files] == ["sdist"]


def test_resolver_options_map_to_reqlock_settings() -> None:
    assert "--no-binary a" in BY_NAME["only-wheels-no-binary"].requirements_text.splitlines()
    assert "--only-binary a" in BY_NAME["no-wheels-no-build"].requirements_text.splitlines()
    opted_in = BY_NAME["requires-package-only-prereleases-in-range-global-opt-in"]
    assert opted_in.settings.options().pre is True
    assert BY_NAME["package-only-prereleases"].settings.options().pre is None


def test_targets_take_the_python_and_platform_the_scenario_names() -> None:
    override = BY_NAME["python-patch-override-no-patch"]  # env 3.9.21, resolve for 3.9
    assert override.target().environment["python_full_version"] == "3.9.0"
    patch = BY_NAME["python-greater-than-current-patch"]  # env 3.13.0, no override
    assert patch.target().environment["python_full_version"] == "3.13.0"
    manylinux2014 = BY_NAME["no-sdist-no-wheels-with-matching-abi"].target()
    platforms = {tag.platform for tag in manylinux2014.tags}
    assert "manylinux_2_17_x86_64" in platforms
    assert "manylinux_2_28_x86_64" not in platforms
    assert manylinux2014.environment["platform_machine"] == "x86_64"


def test_root_requires_python_is_kept_and_checked() -> None:
    scenario = BY_NAME["fork-requires-python-patch-overlap"]
    assert scenario.root_requires_python == ">=3.10.1"
    assert "# root requires-python: >=3.10.1" in scenario.requirements_text
    assert scenario.root_allows(scenario.target())
    assert not scenario.root_allows(BY_NAME["python-greater-than-current"].target())


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    source = (SCENARIOS_DIR / "examples" / "example.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(source + '\n[packages.b.versions."4.0.0"]\nmystery = true\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="mystery"):
        load_scenario(bad)

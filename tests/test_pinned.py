"""Fully pinned inputs are checked, not searched (reqlock.locking.pinned): the same
answer as the search, without it; anything the pins do not settle goes to the search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import reqlock.locking.resolve as resolve_module
from reqlock.errors import ResolutionError
from reqlock.locking.resolve import resolve
from reqlock.locking.search import Outcome
from tests.test_resolve_cases import LINUX, MemorySource, Release, Universe, _requirements


def _wheel(*requires: str, python: str | None = None) -> list[Release]:
    return [("py3-none-any", requires, python)]


UNIVERSE: Universe = {
    "app": {"2.0": _wheel("lib>=1", "extra-lib[fast]"), "1.0": _wheel("lib")},
    "lib": {"2.0": _wheel("leaf<2"), "1.0": _wheel("leaf")},
    "leaf": {"2.0": _wheel(), "1.5": _wheel(), "1.0": _wheel()},
    "extra-lib": {"1.0": _wheel('speedup; extra == "fast"')},
    "speedup": {"1.0": _wheel(python=">=3.8")},
}


@pytest.fixture
def searches() -> Iterator[list[int]]:
    """How many times the search ran (the pinned check does not count)."""
    calls: list[int] = []
    original = resolve_module.search

    def spy(*args: object, **kwargs: object) -> Outcome:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    resolve_module.search = spy  # type: ignore[assignment]
    yield calls
    resolve_module.search = original


def _pins(text: str) -> dict[str, str]:
    resolution = resolve(_requirements(text), index=MemorySource(UNIVERSE), target=LINUX)
    return {name: str(pin.version) for name, pin in resolution.pins.items()}


FROZEN = "app==2.0\nlib==2.0\nleaf==1.5\nextra-lib==1.0\nspeedup==1.0\n"


def test_a_frozen_set_is_checked_without_search(searches: list[int]) -> None:
    assert _pins(FROZEN) == {
        "app": "2.0",
        "lib": "2.0",
        "leaf": "1.5",
        "extra-lib": "1.0",
        "speedup": "1.0",
    }
    assert searches == []


def test_the_check_and_the_search_give_the_same_resolution(searches: list[int]) -> None:
    checked = resolve(_requirements(FROZEN), index=MemorySource(UNIVERSE), target=LINUX)
    # A range on one line sends the same input through the search.
    searched = resolve(
        _requirements(FROZEN.replace("leaf==1.5", "leaf>=1.5,<1.6")),
        index=MemorySource(UNIVERSE),
        target=LINUX,
    )
    assert searches == [1]
    assert checked.pins.keys() == searched.pins.keys()
    for name, pin in checked.pins.items():
        other = searched.pins[name]
        assert (pin.version, pin.dependencies, pin.files) == (
            other.version,
            other.dependencies,
            other.files,
        )


def test_a_dependency_the_input_does_not_pin_goes_to_the_search(searches: list[int]) -> None:
    assert _pins("app==1.0\nlib==1.0\n") == {"app": "1.0", "lib": "1.0", "leaf": "2.0"}
    assert searches == [1]


def test_pins_that_contradict_a_requirement_fail_as_the_search_says(
    searches: list[int],
) -> None:
    with pytest.raises(ResolutionError, match="leaf"):
        _pins("app==2.0\nlib==2.0\nleaf==2.0\nextra-lib==1.0\nspeedup==1.0\n")
    assert searches == [1]

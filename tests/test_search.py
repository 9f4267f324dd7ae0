"""The resolver's search on hard graphs, and its explanations of conflicts.

Graphs from resolvelib's issues (#206: backjumping's false "impossible"; #199:
conflicts that make backjumping exhaust unrelated packages) and the conflicts of
issue 11, driven by the in-memory source of test_resolve_cases (no HTTP).
"""

from __future__ import annotations

import pytest
import resolvelib
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from reqlock.errors import ConflictCause, NoVersionsError, ResolutionError
from reqlock.locking import search as search_module
from reqlock.locking.resolve import ResolveOptions, resolve
from reqlock.progress import Reporter
from tests.test_resolve_cases import LINUX, MemorySource, Release, Universe, _requirements


def _wheel(*requires: str, python: str | None = None) -> list[Release]:
    return [("py3-none-any", requires, python)]


def _pins(universe: Universe, text: str, **options: object) -> dict[str, str]:
    resolution = resolve(
        _requirements(text),
        index=MemorySource(universe),
        target=LINUX,
        options=ResolveOptions(**options) if options else None,  # type: ignore[arg-type]
    )
    return {name: str(pin.version) for name, pin in resolution.pins.items()}


# resolvelib #206: the unique answer is {p2 1, p1 1}; backjumping never tries p1 1.
ISSUE_206: Universe = {
    "p0": {"2": _wheel("p2==2")},
    "p1": {"2": _wheel("p0==2"), "1": _wheel()},
    "p2": {"2": _wheel("p1==3"), "1": _wheel("p1<3")},
}


def test_issue_206_resolves() -> None:
    assert _pins(ISSUE_206, "p2\n") == {"p2": "1", "p1": "1"}


def test_plain_resolvelib_fails_on_issue_206() -> None:
    """The reproducer still defeats resolvelib's own backjumping, so the test above
    proves the re-check is what finds the answer (if a resolvelib release fixes
    #206, this test says so and the re-check may become unnecessary)."""
    import reqlock.locking.resolve as resolve_module

    first_only: list[bool] = []
    original = resolve_module.search

    def spy(*args: object, **kwargs: object) -> search_module.Outcome:
        outcome = original(*args, **kwargs)  # type: ignore[arg-type]
        first_only.append(outcome.rechecked)
        return outcome

    resolve_module.search = spy  # type: ignore[assignment]
    try:
        _pins(ISSUE_206, "p2\n")
    finally:
        resolve_module.search = original
    assert first_only == [True]


def test_a_true_conflict_is_still_reported_after_the_recheck() -> None:
    universe: Universe = {
        "top": {"2": _wheel("shared>=2"), "1": _wheel("shared>=1.5")},
        "other": {"1": _wheel("shared<1.5")},
        "shared": {"2": _wheel(), "1.5": _wheel(), "1": _wheel()},
    }
    with pytest.raises(ResolutionError) as info:
        _pins(universe, "top\nother\n")
    assert "shared" in str(info.value)
    assert "stopped a complete search" not in str(info.value)


def test_a_recheck_out_of_rounds_says_so() -> None:
    with pytest.raises(ResolutionError) as info:
        _pins(ISSUE_206, "p2\np1==2\n", recheck_rounds=1)
    assert "stopped a complete search" in str(info.value)


def _issue_199(n: int) -> Universe:
    """resolvelib #199: b, c and d (N releases each) require ``a<7``, base 2 requires
    ``a>=6``, and every release of f requires ``a<6``. Only base 1 (no requirement
    on a) solves it, but base is decided first (by name), so backjumping that blames
    the later pins b, c and d tries f's releases under every combination of theirs."""
    universe: dict[str, dict[str, list[Release]]] = {
        "a": {"7": _wheel(), "6": _wheel(), "5": _wheel()},
        "base": {"2": _wheel("a>=6"), "1": _wheel()},
        "f": {str(v): _wheel("a<6") for v in range(1, n + 1)},
    }
    for name in ("b", "c", "d"):
        universe[name] = {str(v): _wheel("a<7", "f") for v in range(1, n + 1)}
    return universe


class _Counting(Reporter):
    def __init__(self) -> None:
        super().__init__()
        self.tried = 0
        self.rejections: list[tuple[str, str]] = []

    def pinned(self, name: str, version: str) -> None:
        self.tried += 1

    def rejected(self, name: str, version: str, on: str, reason: str) -> None:
        self.rejections.append((name, on))


def test_issue_199_does_not_multiply_versions() -> None:
    n = 30
    reporter = _Counting()
    resolution = resolve(
        _requirements("base\nb\nc\nd\n"),
        index=MemorySource(_issue_199(n)),
        target=LINUX,
        reporter=reporter,
    )
    pins = {name: str(pin.version) for name, pin in resolution.pins.items()}
    assert pins["base"] == "1"
    assert pins["a"] == "5"
    # Linear in the number of releases, not N x M: each f release is rejected a
    # bounded number of times.
    assert reporter.tried < 6 * n


def test_same_inputs_same_answer_and_same_work() -> None:
    runs = []
    for _ in range(2):
        reporter = _Counting()
        resolution = resolve(
            _requirements("base\nb\nc\nd\n"),
            index=MemorySource(_issue_199(12)),
            target=LINUX,
            reporter=reporter,
        )
        runs.append(({n: str(p.version) for n, p in resolution.pins.items()}, reporter.rejections))
    assert runs[0] == runs[1]


# -- explanations -------------------------------------------------------------------

BOTO: Universe = {
    "botocore": {"1.29.0": _wheel("urllib3<1.27,>=1.25.4")},
    "urllib3": {"2.3.0": _wheel(), "1.26.20": _wheel()},
    "app": {"1.0": _wheel("framework>=1")},
    "framework": {"1.0": _wheel("botocore==1.29.0")},
}


def test_conflict_names_the_line_that_brought_the_release_in() -> None:
    with pytest.raises(ResolutionError) as info:
        _pins(BOTO, "botocore==1.29.0\nurllib3>=2.3,<2.4\n")
    message = str(info.value)
    assert "requirements.txt:1 botocore==1.29.0 requires urllib3<1.27,>=1.25.4" in message, message
    assert "requirements.txt:2 requires urllib3<2.4,>=2.3" in message
    causes = info.value.causes
    assert (
        ConflictCause(
            "urllib3",
            "urllib3<1.27,>=1.25.4",
            "botocore 1.29.0",
            ("requirements.txt:1 botocore==1.29.0", "botocore 1.29.0"),
        )
        in causes
    )
    assert ConflictCause("urllib3", "urllib3<2.4,>=2.3", "requirements.txt:2") in causes


def test_conflict_chain_through_several_releases() -> None:
    with pytest.raises(ResolutionError) as info:
        _pins(BOTO, "app\nurllib3>=2.3\n")
    assert (
        "requirements.txt:1 app (1.0) → framework 1.0 → botocore 1.29.0 requires "
        "urllib3<1.27,>=1.25.4" in str(info.value)
    ), str(info.value)


def test_conflicting_extras_are_named() -> None:
    universe: Universe = {
        "a": {
            "1.0": _wheel("b==1; extra == 'extra-b'", "b==2; extra == 'extra-c'"),
        },
        "b": {"1": _wheel(), "2": _wheel()},
    }
    with pytest.raises(ResolutionError) as info:
        _pins(universe, "a[extra-b]\na[extra-c]\n")
    message = str(info.value)
    assert "a[extra-b] (1.0) requires b==1" in message, message
    assert "a[extra-c] (1.0) requires b==2" in message, message


def test_a_missing_project_is_a_spelling_question() -> None:
    with pytest.raises(NoVersionsError) as info:
        _pins(BOTO, "botocor==1.29.0\n")
    message = str(info.value)
    assert "no project named botocor on memory:// (check the spelling)" in message
    assert "relax" not in message


def test_only_binary_is_named_when_it_removes_the_only_files() -> None:
    universe: Universe = {"src": {"1.0": [("sdist", (), None)]}}
    with pytest.raises(NoVersionsError) as info:
        _pins(universe, "src\n", only_binary=frozenset({":all:"}))
    assert "--only-binary excludes its sdist" in str(info.value)


def test_no_binary_is_named_when_it_removes_the_only_files() -> None:
    universe: Universe = {"bin": {"1.0": _wheel()}}
    with pytest.raises(NoVersionsError) as info:
        _pins(universe, "bin\n", no_binary=frozenset({":all:"}))
    assert "--no-binary excludes its wheels" in str(info.value)


def test_target_python_is_named() -> None:
    universe: Universe = {"new": {"1.0": _wheel(python=">=3.13")}}
    with pytest.raises(NoVersionsError) as info:
        _pins(universe, "new\n")
    assert "requires Python >=3.13, the target has 3.11.0" in str(info.value)


def test_an_earlier_environment_pin_is_named() -> None:
    universe: Universe = {"lib": {"2.0": _wheel(), "1.0": _wheel()}}
    with pytest.raises(ResolutionError) as info:
        resolve(
            _requirements("lib>=2\n"),
            index=MemorySource(universe),
            target=LINUX,
            extra_constraints=[
                (canonicalize_name("lib"), SpecifierSet("==1.0"), "environment prod pins")
            ],
        )
    assert "environment prod pins lib==1.0" in str(info.value)
    assert any(c.source == "environment prod pins" for c in info.value.causes)


def test_resolvelib_still_offers_what_the_recheck_needs() -> None:
    """locking.search subclasses resolvelib's Resolution and uses its _build_result;
    a resolvelib release that renames them must fail here, not in a user's lock."""
    from resolvelib.resolvers import Resolution
    from resolvelib.resolvers.resolution import _build_result

    assert callable(_build_result)
    for name in ("_backjump", "_patch_criteria", "_push_new_state", "_states"):
        assert hasattr(Resolution, name) or name == "_states"
    assert resolvelib.__version__.split(".")[0] == "1"


def test_releases_with_the_same_requirement_are_one_line() -> None:
    universe: Universe = {
        "boto3": {"1.0": _wheel("botocore<2")},
        "botocore": {f"1.{i}": _wheel("urllib3<1.27") for i in range(6)},
        "urllib3": {"2.3": _wheel(), "1.26": _wheel()},
    }
    with pytest.raises(ResolutionError) as info:
        _pins(universe, "boto3==1.0\nurllib3>=2.3\n")
    lines = str(info.value).splitlines()
    assert (
        "  - requirements.txt:1 boto3==1.0 → botocore 1.0 to 1.5 (6 releases) require "
        "urllib3<1.27" in lines
    ), lines
    # The data keeps every release.
    assert len([c for c in info.value.causes if c.source.startswith("botocore")]) == 6


def test_a_frozen_input_prefetches_only_the_pinned_releases() -> None:
    """On a ``pip freeze`` input, a dependency's wider range (``lib[fast]>=1``) must
    not make the crawler fetch a release the user's pins rule out."""
    universe: Universe = {
        "app": {"1.0": _wheel("lib[fast]>=1")},
        "lib": {"2.0": _wheel("speed; extra == 'fast'"), "1.0": _wheel("speed; extra == 'fast'")},
        "speed": {"2.0": _wheel(), "1.0": _wheel()},
    }
    source = MemorySource(universe)
    resolve(_requirements("app==1.0\nlib==1.0\nspeed==1.0\n"), index=source, target=LINUX)
    fetched = [entry for entry in source.prefetched if entry.startswith("metadata")]
    assert fetched
    assert all("-1.0-" in entry for entry in fetched), fetched

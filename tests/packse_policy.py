"""Which packse scenarios tests/test_packse.py runs, and where reqlock's answer
differs from packse's expectation. Edit this table; the test reads it.

``DIVERGENCES``: scenario name -> what reqlock actually does. The test asserts that
actual outcome, so any change in reqlock's behaviour is noticed: when reqlock is
changed to agree with packse, delete the entry; when the difference is the policy,
keep it and say so in ``reason``. ``uv`` and ``pip`` record what ``uv pip compile``
(uv 0.13.9) and ``pip install --dry-run --report`` (pip 26.3, ``--python-version
X.Y --platform manylinux_2_28_x86_64 --only-binary :all:``) did on the same
scenario served by the fake index on 127.0.0.1: information for the decision only.

``UNIVERSAL_DIVERGENCES``: the same for the scenarios that set
``resolver_options.universal = true``, which tests/test_packse_universal.py locks with
``--universal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reqlock.errors import NoVersionsError, ReqlockError

__all__ = ["DIVERGENCES", "UNIVERSAL_DIVERGENCES", "Divergence", "Fails", "Locks", "Outcome"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Locks:
    """The lock succeeds with exactly these pins (canonical name -> version);
    ``None``: it succeeds, whatever it pins."""

    packages: Mapping[str, str] | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Fails:
    """The lock raises ``error`` (or a subclass) whose message contains ``message``."""

    error: type[ReqlockError]
    message: str = ""


Outcome = Locks | Fails


@dataclass(frozen=True, kw_only=True, slots=True)
class Divergence:
    actual: Outcome
    reason: str
    uv: str = ""
    pip: str = ""


# reqlock's documented rules (README "--pre", docs/security.md "Yanked releases").
_PRE_IN_RANGE = (
    "only pre-releases satisfy the range (a>0.1.0, b>0.1): reqlock takes one, by pip's"
    " rule (pre-releases when asked for or when nothing else fits); packse wants an opt-in"
)
_PRE_TRANSITIVE = (
    "a dependency's specifier names a pre-release (c==2.0.0b1, c<2.0.0b5): reqlock takes"
    " it, by pip's rule; packse allows pre-releases only on the root's request"
)

DIVERGENCES: dict[str, Divergence] = {
    "package-only-prereleases-in-range": Divergence(
        actual=Locks(packages={"a": "1.0.0a1"}),
        reason=_PRE_IN_RANGE,
        uv="a==1.0.0a1",
        pip="a==1.0.0a1",
    ),
    "transitive-package-only-prereleases-in-range": Divergence(
        actual=Locks(packages={"a": "0.1.0", "b": "1.0.0a1"}),
        reason=_PRE_IN_RANGE,
        uv="a==0.1.0 b==1.0.0a1",
        pip="a==0.1.0 b==1.0.0a1",
    ),
    "transitive-prerelease-and-stable-dependency": Divergence(
        actual=Locks(packages={"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b1"}),
        reason=_PRE_TRANSITIVE,
        uv="a==1.0.0 b==1.0.0 c==2.0.0b1",
        pip="a==1.0.0 b==1.0.0 c==2.0.0b1",
    ),
    "transitive-prerelease-and-stable-dependency-many-versions": Divergence(
        actual=Locks(packages={"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b9"}),
        reason=_PRE_TRANSITIVE,
        uv="a==1.0.0 b==1.0.0 c==2.0.0b9",
        pip="a==1.0.0 b==1.0.0 c==2.0.0b9",
    ),
    "transitive-prerelease-and-stable-dependency-many-versions-holes": Divergence(
        actual=Locks(packages={"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b4"}),
        reason=_PRE_TRANSITIVE,
        uv="a==1.0.0 b==1.0.0 c==2.0.0b4",
        pip="a==1.0.0 b==1.0.0 c==2.0.0b4",
    ),
    "transitive-yanked-and-unyanked-dependency": Divergence(
        actual=Locks(packages={"a": "1.0.0", "b": "1.0.0", "c": "2.0.0"}),
        reason=(
            "any requirement pinning a yanked release with == selects it (with a warning):"
            " here a's c==2.0.0, as PEP 592 allows; packse (and uv) allow that to the root"
            " only"
        ),
        uv="fails: c==2.0.0 was yanked (reason: Yanked for testing)",
        pip="a==1.0.0 b==1.0.0 c==2.0.0",
    ),
    "python-less-than-current": Divergence(
        actual=Fails(error=NoVersionsError, message="requires Python <=3.8, the target has 3.9.0"),
        reason=(
            "reqlock honours an upper bound of Requires-Python (as pip does); packse (uv)"
            " ignores upper bounds"
        ),
        uv="a==1.0.0",
        pip="fails: Ignored ... versions that require a different python version: 1.0.0",
    ),
}

UNIVERSAL_DIVERGENCES: dict[str, Divergence] = {
    "preferences-dependent-forking-conflicting": Divergence(
        actual=Locks(packages=None),
        reason=(
            "a valid universal lock exists (linux: cleaver 1, foo 1, bar 2; elsewhere:"
            " cleaver 1, foo 2, bar 1), the very lock the scenario says uv writes on a fresh"
            " run; reqlock finds it because each fork is resolved from the start, where uv"
            " keeps the preference for cleaver 1 from a non-forked state and fails"
        ),
        uv="fails on re-lock with preferences (the scenario's point); a fresh run locks",
    ),
}

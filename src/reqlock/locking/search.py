"""Driving resolvelib: the watch on conflicts, and the sound re-check of "impossible".

resolvelib's search is kept (it is the design's resolver); this module adds what it
lacks for hard graphs:

- a :class:`ConflictWatch` (a resolvelib reporter) that counts which releases are
  rejected on which project. The provider reads the counts to decide a project that
  keeps losing conflicts *before* the projects that keep causing them (uv's
  "culprit/affected" counters, in resolvelib's terms), to test a release's
  known-conflicting requirement first, and to fetch the metadata of the next
  releases of a rejected project ahead, in one batch;
- a second, sound search when the first one says "impossible". resolvelib's
  backjumping may skip the one decision that would have solved a conflict
  (resolvelib issue #206): it only returns to a state whose pin is related to the
  conflict. :class:`_Chronological` returns to every state in order instead, which
  is plain depth-first search and cannot miss a solution; it runs with a bounded
  number of rounds, so a genuine conflict is still reported quickly.

Everything here depends only on the order of resolvelib's calls, never on timing,
so the same inputs give the same lock on any machine.
"""

from __future__ import annotations

__all__ = ["ConflictWatch", "Outcome", "search"]

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import resolvelib
from resolvelib.resolvers import Resolution

# Private, but the only way to turn a search state into a Result; tests/test_search.py
# fails at once if a resolvelib release moves it.
from resolvelib.resolvers.resolution import _build_result

from reqlock.locking.candidates import Candidate, Req
from reqlock.locking.chains import Provenance
from reqlock.progress import Reporter

# After this many rejections of one project, it is decided before the projects
# whose pins keep rejecting it (uv uses five too: few enough to react while the
# search is young, many enough that one unlucky pick does not reorder it).
HOT_AFTER = 5


class ConflictWatch(resolvelib.BaseReporter):  # type: ignore[type-arg]
    """Counts the search's conflicts, and passes them on to the
    :class:`~reqlock.progress.Reporter`.

    ``rejected[P]`` is how often a release of P was rejected; ``conflict_on[P]`` the
    project P's last rejected release conflicted on; ``on_reject`` is called with
    each rejected candidate (the provider prefetches from it)."""

    def __init__(self, reporter: Reporter, on_reject: Callable[[Candidate], None]) -> None:
        self.reporter = reporter
        self.on_reject = on_reject
        self.rejected: Counter[str] = Counter()
        self.conflict_on: dict[str, str] = {}
        self.provenance = Provenance()

    def adding_requirement(self, requirement: Req, parent: Candidate | None) -> None:
        self.provenance.add(requirement, parent)

    def rejecting_candidate(self, criterion: Any, candidate: Candidate) -> None:
        infos = list(criterion.information)
        on_req: Req = infos[-1].requirement
        on = on_req.identifier
        affected = candidate.identifier
        self.rejected[affected] += 1
        self.conflict_on[affected] = on
        self.on_reject(candidate)
        self.reporter.rejected(
            candidate.name, str(candidate.version), on_req.name, _reason(candidate, infos)
        )

    def is_hot(self, identifier: str) -> bool:
        """Whether ``identifier`` lost conflicts often enough to be decided early."""
        return self.rejected[identifier] >= HOT_AFTER


def _reason(candidate: Candidate, infos: Sequence[Any]) -> str:
    """One line: what the rejected release requires, and what the others do."""
    own = f"{candidate.name} {candidate.version} requires {infos[-1].requirement.describe()}"
    others = [
        f"{info.requirement.source if info.parent is None else _who(info.parent)} "
        f"requires {info.requirement.describe()}"
        for info in infos[:-1][:3]
    ]
    return "; ".join([own, *others])


def _who(parent: Candidate) -> str:
    return f"{parent.name} {parent.version}"


class _Remembering(Resolution):  # type: ignore[type-arg]
    """resolvelib's search, remembering whether a pin satisfies a criterion.

    resolvelib asks it of every criterion, twice, every round; criteria and pins are
    never changed, only replaced, so the answer for one (criterion, pin) pair stands.
    Both objects are kept with the answer, so that their ids cannot be reused."""

    def __init__(self, provider: Any, reporter: Any) -> None:
        super().__init__(provider, reporter)
        self._satisfying: dict[tuple[int, int], tuple[Any, Any, bool]] = {}

    def _is_current_pin_satisfying(self, name: Any, criterion: Any) -> bool:
        pin = self.state.mapping.get(name)
        if pin is None:
            return False
        key = (id(criterion), id(pin))
        known = self._satisfying.get(key)
        if known is None:
            known = (criterion, pin, super()._is_current_pin_satisfying(name, criterion))
            self._satisfying[key] = known
        return known[2]


class _Chronological(_Remembering):
    """resolvelib's search with plain backtracking: on a dead end, undo the most
    recent pin, exclude that release, and go on; when no release is left, undo the
    one before. Slower than backjumping, but it visits every state, so an
    "impossible" from it is true."""

    def __init__(self, provider: Any, reporter: Any) -> None:
        super().__init__(provider, reporter)
        # resolvelib >= 1.2: no optimistic jumps (and no roll-back to one).
        self._optimistic_backjumping_ratio = 0.0

    def _backjump(self, causes: Any) -> bool:
        while len(self._states) >= 3:
            del self._states[-1]  # the state that found the dead end
            broken = self._states.pop()
            name, candidate = broken.mapping.popitem()
            # Exclusions of this project learnt at this level stay valid here; those
            # of other projects were learnt under later pins, which are undone.
            known = broken.criteria[name].incompatibilities if name in broken.criteria else []
            self._push_new_state()
            if self._patch_criteria([(name, [*known, candidate])]):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the search ended: the result, or the causes of "impossible"."""

    result: Any | None
    causes: Sequence[Any] = ()
    rechecked: bool = False  # the first search said "impossible"; a second one ran
    too_deep: bool = False  # the second search ran out of rounds


def search(
    provider: resolvelib.AbstractProvider,  # type: ignore[type-arg]
    watch: ConflictWatch,
    roots: Sequence[Req],
    *,
    max_rounds: int,
    recheck_rounds: int,
) -> Outcome:
    """Resolve ``roots``; when backjumping finds no answer, search again without
    it (at most ``recheck_rounds`` rounds) before believing it.

    Raises ``resolvelib.ResolutionTooDeep`` when the first search runs out of rounds."""
    try:
        state = _Remembering(provider, watch).resolve(roots, max_rounds=max_rounds)
        return Outcome(_build_result(state))
    except resolvelib.ResolutionImpossible as exc:
        first = list(exc.causes)
    resolution = _Chronological(provider, watch)
    try:
        state = resolution.resolve(roots, max_rounds=recheck_rounds)
    except resolvelib.ResolutionImpossible as exc:
        return Outcome(None, causes=list(exc.causes), rechecked=True)
    except resolvelib.ResolutionTooDeep:
        return Outcome(None, causes=first, rechecked=True, too_deep=True)
    return Outcome(_build_result(state), rechecked=True)

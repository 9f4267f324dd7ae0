"""A fully pinned input, checked instead of searched.

A ``pip freeze`` or a pip-compile output pins every package with ``==``: there is
nothing to search, only to check. :func:`check_pinned` takes, for each requirement,
the first candidate the provider offers under the user's pin (exactly what the
resolver would try first), follows the dependencies, and accepts the set when every
requirement met on the way is satisfied by it. That is the answer resolvelib would
reach (its first choices hold), without its per-round re-checks of every pin, which
cost more than the rest of a pinned lock. When anything does not fit (a dependency
the input does not pin, a pin that breaks a requirement, a direct reference, a
universal lock), it returns None and the resolver runs as usual, so failures keep
their full explanation.
"""

from __future__ import annotations

__all__ = ["check_pinned"]

from collections.abc import Sequence

from packaging.specifiers import SpecifierSet
from resolvelib.resolvers import Result
from resolvelib.structs import DirectedGraph

from reqlock.locking.candidates import PYTHON, Candidate, Req
from reqlock.locking.provider import Provider
from reqlock.locking.rules import is_pinned


def check_pinned(provider: Provider, roots: Sequence[Req]) -> Result | None:  # type: ignore[type-arg]
    """The resolution of ``roots`` when they pin everything it needs, else None."""
    if provider.rules.region is not None:
        return None
    pins: dict[str, SpecifierSet] = {}
    for req in roots:
        if req.url or not is_pinned(req.specifier):
            return None
        pins[req.name] = pins.get(req.name, SpecifierSet()) & req.specifier
    mapping: dict[str, Candidate] = {}
    graph: DirectedGraph[str | None] = DirectedGraph()
    graph.add(None)
    todo: list[tuple[str | None, Req]] = [(None, req) for req in reversed(roots)]
    while todo:
        parent, req = todo.pop()
        if req.name == PYTHON:
            if not req.specifier.contains(provider.rules.python_version, prereleases=True):
                return None
            continue
        if req.url:
            return None
        ident = req.identifier
        cand = mapping.get(ident)
        if cand is None:
            cand = _first(provider, req, pins)
            if cand is None:
                return None
            mapping[ident] = cand
            graph.add(ident)
            deps = provider.get_dependencies(cand)
            todo.extend((ident, dep) for dep in reversed(deps))
        if not provider.is_satisfied_by(req, cand):
            return None
        if not graph.connected(parent, ident):
            graph.connect(parent, ident)
    return Result(mapping=mapping, graph=graph, criteria={})


def _first(provider: Provider, req: Req, pins: dict[str, SpecifierSet]) -> Candidate | None:
    """The candidate the resolver would try first for ``req`` under the user's pin."""
    spec = pins.get(req.name)
    if spec is None:
        return None  # a dependency the input does not pin: let the resolver decide
    pinned = Req(name=req.name, extras=req.extras, specifier=spec, source=req.source)
    ident = req.identifier
    matches = provider.find_matches(ident, {ident: iter([pinned])}, {ident: iter(())})
    return next(iter(matches() if callable(matches) else matches), None)

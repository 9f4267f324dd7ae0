"""An exact algebra of environment markers, for universal locks.

A universal lock forks its resolution by marker and gives each package the union of the
markers of the forks that use it. :class:`MarkerExpr` is the normal form for that: exact
``and`` / ``or`` / ``not``, ``is_disjoint`` and ``implies``, and a short canonical text.

Design: a reduced, ordered *decision diagram*. A node tests one variable; its edges carry
disjoint value sets of it (:mod:`~reqlock.locking.markerranges`: PEP 440 interval sets,
"one of" / "none of" string sets). With a fixed variable order, edges to one child merged
and nodes hash-consed, two expressions get the same node exactly when they agree on every
environment: equality and ``is_true`` / ``is_false`` are identity tests. A DNF is made
only to print: the paths, widened as far as the function allows, redundant terms dropped
(and a CNF the same way); the shortest text wins.

Semantics are those of :meth:`packaging.markers.Marker.evaluate`, with these choices:

* ``python_version`` is the ``X.Y`` of ``python_full_version`` (the PEP says so), so they
  are one variable: ``python_version < "3.10"`` is ``python_full_version < "3.10"``.
  ``python_full_version`` and ``implementation_version`` always hold PEP 440 versions;
  ``platform_release`` may hold anything, and non-versions are a value of their own.
* ``extra`` holds one normalised extra at a time; ``"x" in extras`` (and in
  ``dependency_groups``) is independent per name.
* Atoms the sets cannot hold exactly stay *opaque* (packaging evaluates them; the algebra
  treats them as independent): ``"x" in VAR`` (the value contains "x"), reversed operands
  and ``===`` / string fallbacks on version variables other than python_version. Tests
  stay sound (``is_false`` never lies) but may miss a contradiction there. No implication
  between variables is assumed (e.g. ``sys_platform`` and ``platform_system``).

Markers have no ``not``: a few complements (of ``python_full_version > "3.10"``, say)
have no text, and printing one raises :class:`MarkerError`; ``and`` / ``or`` of parsed
markers print.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace

from packaging._parser import Value, Variable
from packaging.markers import InvalidMarker, Marker, default_environment
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from reqlock.errors import ReqlockError
from reqlock.locking import markerranges as mr
from reqlock.locking.markerranges import Domain, Expr, StrSet, VersionSet

__all__ = ["MarkerError", "MarkerExpr", "intersection_of", "union_of"]


class MarkerError(ReqlockError):
    """A marker the algebra cannot read, write or evaluate."""


# The order of variables in the diagram: what locks fork on most comes first.
_NAMES = "python_full_version sys_platform platform_system os_name platform_machine"
_NAMES += " implementation_name platform_python_implementation implementation_version"
_ORDER = {n: i for i, n in enumerate(f"{_NAMES} platform_release platform_version extra".split())}
_OPAQUE = len(_ORDER)  # an opaque atom is a string variable valued "true" or "false"
_VERSIONS = {"python_full_version", "implementation_version", "platform_release"}
_FLIP = {"==": "!=", "!=": "==", "in": "not in", "not in": "in"}
_YES = frozenset({"true"})
_UNWRITABLE = 1 << 30


@dataclass(frozen=True, order=True)
class _Var:
    rank: int
    name: str  # the variable, or an opaque atom's text
    negation: str | None = field(default=None, compare=False)  # text of "not atom"


class _Node:
    __slots__ = ("__weakref__", "edges", "text", "var")

    def __init__(self, var: _Var | None, edges: tuple[tuple[Domain, _Node], ...]) -> None:
        self.var, self.edges, self.text = var, edges, None if var else ""


TRUE, FALSE = _Node(None, ()), _Node(None, ())
FALSE.text = 'python_version < "0"'  # never true
_UNIQUE: weakref.WeakValueDictionary[tuple[object, ...], _Node] = weakref.WeakValueDictionary()
Term = dict[_Var, Domain]
_Sides = tuple[str, str, str]


def _full(var: _Var) -> Domain:
    if var.name in _VERSIONS:
        return VersionSet(True, (), True if var.name == "platform_release" else None)
    return StrSet(frozenset(), True)


def _mk(var: _Var, edges: Iterable[tuple[Domain, _Node]]) -> _Node:
    """The unique reduced node testing ``var`` with these (disjoint) edges."""
    merged: dict[int, tuple[Domain, _Node]] = {}
    for domain, child in edges:
        if not domain.is_empty():
            old = merged.get(id(child))
            merged[id(child)] = (domain if old is None else old[0].or_(domain), child)
    items = tuple(sorted(merged.values(), key=lambda edge: edge[0].sort_key()))
    if len(items) == 1:
        return items[0][1]
    node = _UNIQUE.get((var, items))
    if node is None:
        node = _UNIQUE[(var, items)] = _Node(var, items)
    return node


def _apply(a: _Node, b: _Node, both: bool, memo: dict[tuple[int, int], _Node]) -> _Node:
    """``a and b`` (``both``) or ``a or b``."""
    absorbing, neutral = (FALSE, TRUE) if both else (TRUE, FALSE)
    if a is absorbing or b is absorbing:
        return absorbing
    if a is neutral or b is neutral or a is b:
        return b if a is neutral or a is b else a
    if (key := (id(a), id(b))) not in memo:
        var = min(v for v in (a.var, b.var) if v)
        left = a.edges if a.var == var else ((_full(var), a),)
        right = b.edges if b.var == var else ((_full(var), b),)
        pairs = [(da.and_(db), ca, cb) for da, ca in left for db, cb in right]
        memo[key] = _mk(
            var, [(d, _apply(ca, cb, both, memo)) for d, ca, cb in pairs if not d.is_empty()]
        )
    return memo[key]


@functools.lru_cache(maxsize=4096)
def _not(node: _Node) -> _Node:
    if node.var is None:
        return FALSE if node is TRUE else TRUE
    return _mk(node.var, [(d, _not(c)) for d, c in node.edges])


def _and(a: _Node, b: _Node, *more: _Node) -> _Node:
    return functools.reduce(lambda x, y: _apply(x, y, True, {}), more, _apply(a, b, True, {}))


def _or(a: _Node, b: _Node) -> _Node:
    return _apply(a, b, False, {})


def _atom(var: _Var, domain: Domain) -> _Node:
    return _mk(var, [(domain, TRUE), (domain.not_(), FALSE)])


def _opaque(sides: _Sides, invertible: bool) -> _Node:
    """An atom kept as it is; ``invertible``: its ``_FLIP`` is its negation."""
    left, op, right = sides
    if invertible and op in _FLIP:
        pos, neg = (op, _FLIP[op]) if op in ("==", "in") else (_FLIP[op], op)
        var = _Var(_OPAQUE, f"{left} {pos} {right}", f"{left} {neg} {right}")
        return _atom(var, StrSet(_YES, op == neg))
    return _atom(_Var(_OPAQUE, f"{left} {op} {right}"), StrSet(_YES))


def _version_atom(name: str, op: str, literal: str, reverse: bool, sides: _Sides) -> _Node:
    if name == "python_version":
        domain, name = mr.python_version_set(op, literal, reverse), mr.PYTHON
    else:
        domain = None if reverse else mr.version_set(op, literal)
    if domain is None:
        # Reversed, packaging makes a specifier of the value: == and != mirror for a version.
        # Forward: string fallbacks mirror, and ==V+local / !=V+local if values are versions.
        if reverse:
            invertible = op in ("in", "not in") or mr.is_version(literal)
        else:
            invertible = mr.specifier(op, literal) is None or name != "platform_release"
        return _opaque(sides, invertible)
    if name == "platform_release":
        domain = replace(domain, invalid=False)
    return _atom(_Var(_ORDER[name], name), domain)


def _item(item: tuple[Variable | Value, object, Variable | Value]) -> _Node:
    lhs, op_node, rhs = item
    op, reverse = str(op_node), isinstance(lhs, Value)
    if isinstance(rhs, Value) == reverse:
        raise ValueError("it compares two variables or two strings")
    name, literal = (rhs.value, lhs.value) if reverse else (lhs.value, rhs.value)
    sides = (lhs.serialize(), op, rhs.serialize())
    if name in ("extras", "dependency_groups"):
        if not reverse or op in ("~=", "==="):
            raise ValueError(f"{name} is a set: only '\"name\" in {name}' is defined")
        if op in ("in", "not in"):
            return _opaque(sides, True)
        return TRUE if op == "!=" else FALSE  # packaging compares the string with the set
    if name == "python_version" or name in _VERSIONS:
        return _version_atom(name, op, literal, reverse, sides)
    if reverse and op in ("in", "not in"):  # "x" in VAR: the value contains "x"
        return _opaque(sides, True)
    return _atom(_Var(_ORDER[name], name), mr.string_set(op, literal))


def _tree(tree: Sequence[object]) -> _Node:
    result, group = FALSE, TRUE
    for item in tree:
        if item == "or":
            result, group = _or(result, group), TRUE
        elif isinstance(item, list | tuple):
            group = _and(group, _tree(item) if isinstance(item, list) else _item(item))
    return _or(result, group)


@functools.lru_cache(maxsize=2048)
def _parse(text: str) -> _Node:
    try:
        return _tree(Marker(text)._markers)
    except InvalidMarker as exc:
        raise MarkerError(f"invalid marker {text!r}: {exc}") from None
    except ValueError as exc:
        raise MarkerError(f"unsupported marker {text!r}: {exc}") from None


class _Env:
    """An environment merged as packaging merges it, read per variable."""

    def __init__(self, env: Mapping[str, str | AbstractSet[str]] | None) -> None:
        self.raw = dict(env or {})
        self.values: dict[str, object] = {**default_environment(), "extra": "", **self.raw}
        extra = self.values["extra"]
        if not isinstance(extra, str):
            raise MarkerError("evaluate() takes one extra at a time, not a set of them")
        self.values["extra"] = canonicalize_name(extra) if extra else ""
        full, short = str(self.values["python_full_version"]), str(self.values["python_version"])
        if "python_version" in self.raw and "python_full_version" not in self.raw:
            full = short  # python_version is the X.Y of the full version
        self.python = self._version(full + "local" if full.endswith("+") else full)
        xy = ".".join(map(str, (*self.python.release, 0)[:2]))
        if "python_version" in self.raw and short != xy:
            raise MarkerError(f"python_version {short} disagrees with {full}")

    @staticmethod
    def _version(text: str) -> Version:
        if not mr.is_version(text):
            raise MarkerError(f"{text!r} is not a PEP 440 version")
        return Version(text)

    def test(self, var: _Var, domain: Domain) -> bool:
        value = str(self.values.get(var.name, ""))
        if var.rank == _OPAQUE:
            try:
                value = "true" if Marker(var.name).evaluate(self.raw) else "false"
            except (KeyError, ValueError) as exc:
                raise MarkerError(f"cannot evaluate {var.name}: {exc}") from None
        if isinstance(domain, StrSet):
            return domain.contains(value)
        assert isinstance(domain, VersionSet)
        if var.name == mr.PYTHON:
            return domain.contains(self.python)
        if var.name == "platform_release" and not mr.is_version(value):
            return bool(domain.invalid)
        return domain.contains(self._version(value))


def _paths(node: _Node, prefix: Term, out: list[Term]) -> list[Term]:
    if node is TRUE:
        out.append(dict(prefix))
    for domain, child in node.edges:
        if child is not FALSE and node.var:
            prefix[node.var] = domain
            _paths(child, prefix, out)
            del prefix[node.var]
    return out


def _cube(term: Term) -> _Node:
    node = TRUE
    for var in sorted(term, reverse=True):
        node = _mk(var, [(term[var], node), (term[var].not_(), FALSE)])
    return node


def _project(node: _Node, var: _Var, memo: dict[int, Domain]) -> Domain:
    """The values of ``var`` for which ``node`` can be true (every reduced non-FALSE
    node can: its paths test each variable once, on non-empty sets)."""
    if node is FALSE or node.var is None or node.var > var:
        return _full(var).not_() if node is FALSE else _full(var)
    if id(node) not in memo:
        out = _full(var).not_()
        for domain, child in node.edges:
            if node.var != var:
                out = out.or_(_project(child, var, memo))
            elif child is not FALSE:
                out = out.or_(domain)
        memo[id(node)] = out
    return memo[id(node)]


def _widen(term: Term, outside: _Node, wide: bool, negate: bool) -> Term:
    """Each bound of ``term`` (a part of the function) widened as far as the function
    allows: to all that is allowed (``wide``), or to the shortest of that, the allowed
    pieces that meet the path, and the path's own set (measured as printed: negated for
    a CNF). Both policies are tried: neither wins always."""
    for var in sorted(term):
        others = {k: d for k, d in term.items() if k != var}
        allowed = _project(_and(_cube(others), outside), var, {}).not_()
        if allowed.is_full():
            del term[var]
        elif wide and _cost(var, allowed, negate) < _UNWRITABLE:
            term[var] = allowed
        else:
            options = (allowed, term[var].expand_within(allowed), term[var])
            term[var] = min(options, key=lambda d: _cost(var, d, negate))
    return term


def _cost(var: _Var, domain: Domain, negate: bool) -> int:
    try:
        return len(mr.render(_domain_expr(var, domain.not_() if negate else domain)))
    except ValueError:
        return _UNWRITABLE


def _own(terms: list[Term], term: Term) -> _Node:
    """The part of ``term`` the other terms do not cover."""
    return _and(_cube(term), *(_not(_cube(other)) for other in terms if other is not term), TRUE)


def _irredundant(terms: list[Term]) -> list[Term]:
    unique = [term for i, term in enumerate(terms) if term not in terms[:i]]
    for term in sorted(unique, key=lambda t: -len(mr.render(_term_expr(t)))):
        if _own(unique, term) is FALSE:
            unique.remove(term)
    return unique


def _cover(node: _Node, wide: bool, negate: bool) -> list[Term]:
    """An irredundant list of terms whose union is ``node``: the paths, widened, then
    each shrunk to what the others leave uncovered and widened again."""
    outside = _not(node)
    terms = [_widen(path, outside, wide, negate) for path in _paths(node, {}, [])]
    terms = _irredundant(terms)
    for i, term in enumerate(list(terms)):
        own = _own(terms, term)
        terms[i] = _widen({var: _project(own, var, {}) for var in term}, outside, False, negate)
    return _irredundant(terms)


def _domain_expr(var: _Var, domain: Domain, nested: bool = False) -> Expr:
    if var.rank == _OPAQUE:
        if isinstance(domain, StrSet) and domain.contains("true"):
            return var.name
        if var.negation is None:
            raise ValueError(f"no marker says 'not ({var.name})'")
        return var.negation
    if isinstance(domain, VersionSet):
        return mr.version_expr(var.name, domain, nested)
    assert isinstance(domain, StrSet)
    return mr.string_expr(var.name, domain)


def _term_expr(term: Term) -> Expr:
    return ("and", tuple(_domain_expr(var, term[var], len(term) > 1) for var in sorted(term)))


def _sorted(op: str, items: Iterable[Expr]) -> Expr:
    return (op, tuple(sorted(items, key=mr.render)))


def _print(terms: list[Term], negate: bool) -> str:
    """The DNF of ``terms``, or (``negate``) the CNF of their negation."""
    if not negate:
        return mr.render(_sorted("or", map(_term_expr, terms)))
    clause = [_sorted("or", (_domain_expr(v, d.not_()) for v, d in t.items())) for t in terms]
    return mr.render(_sorted("and", clause))


def _text(node: _Node) -> str:
    """The shortest of the DNFs and CNFs (``not`` of a DNF of ``not node``) printed."""
    if node.text is None:
        forms, problem = [], ""
        for wide, negate in itertools.product((True, False), (False, True)):
            try:
                terms = _cover(_not(node) if negate else node, wide, negate)
                forms.append(_print(terms, negate))
            except ValueError as exc:
                problem = str(exc)
        if not forms:
            raise MarkerError(f"this marker set has no marker text: {problem}")
        node.text = min(forms, key=len)  # the first on a tie
    return node.text


class MarkerExpr:
    """A marker in normal form: compare with ``==``, combine, test, print, evaluate."""

    __slots__ = ("_node",)

    def __init__(self, node: _Node) -> None:
        self._node = node

    @classmethod
    def parse(cls, marker: str | Marker | None) -> MarkerExpr:
        """Read a marker (``None``: no marker, always true); :class:`MarkerError` if it
        does not parse or uses a comparison packaging leaves undefined."""
        return cls(TRUE if marker is None else _parse(str(marker)))

    def and_(self, other: MarkerExpr) -> MarkerExpr:
        return MarkerExpr(_and(self._node, other._node))

    def or_(self, other: MarkerExpr) -> MarkerExpr:
        return MarkerExpr(_or(self._node, other._node))

    def not_(self) -> MarkerExpr:
        return MarkerExpr(_not(self._node))

    def is_true(self) -> bool:
        """True in every environment."""
        return self._node is TRUE

    def is_false(self) -> bool:
        """True in no environment."""
        return self._node is FALSE

    def is_disjoint(self, other: MarkerExpr) -> bool:
        """No environment satisfies both."""
        return _and(self._node, other._node) is FALSE

    def implies(self, other: MarkerExpr) -> bool:
        """Every environment that satisfies this satisfies ``other``."""
        return _and(self._node, _not(other._node)) is FALSE

    def evaluate(self, env: Mapping[str, str | AbstractSet[str]] | None = None) -> bool:
        """As :meth:`packaging.markers.Marker.evaluate` (unset keys come from the running
        interpreter); python_version and python_full_version are read as one."""
        values, node = _Env(env), self._node
        while node.var is not None:
            var = node.var
            node = next(child for domain, child in node.edges if values.test(var, domain))
        return node is TRUE

    def restrict(self, requires_python: SpecifierSet | str) -> MarkerExpr:
        """A simplest expression equal to this one wherever ``python_full_version``
        satisfies ``requires_python`` (the Python range a lock covers)."""
        try:
            inside = mr.requires_python_set(SpecifierSet(str(requires_python)))
        except ValueError as exc:
            raise MarkerError(f"requires-python {str(requires_python)!r}: {exc}") from None
        node = self._node
        if node.var is None or node.var.name != mr.PYTHON or inside.is_empty():
            return self  # python_full_version is first in the order: only the root tests it
        edges = [(d, c) for d, c in node.edges if isinstance(d, VersionSet)]
        kept = [d.and_(inside) for d, _ in edges]
        for lower, upper in inside.not_().intervals():
            # A gap outside the range goes to the branch on both sides of it (or on its
            # one side), so bounds move out of the range and disappear.
            owners = {i for i, (d, _) in enumerate(edges) if lower and d.state_at(lower, False)}
            owners |= {i for i, (d, _) in enumerate(edges) if upper and d.state_at(upper, True)}
            gap = VersionSet.span(lower, upper)
            for i, (domain, _) in enumerate(edges):  # (or: each keeps its own part)
                mine = domain.and_(gap) if len(owners) > 1 else gap if owners == {i} else kept[i]
                kept[i] = kept[i].or_(mine)
        return MarkerExpr(_mk(node.var, [(kept[i], c) for i, (_, c) in enumerate(edges)]))

    def to_marker(self) -> Marker | None:
        """The canonical marker (``None`` when always true); :class:`MarkerError` when
        the set has no marker text (only reachable through :meth:`not_`)."""
        return None if self._node is TRUE else Marker(_text(self._node))

    def __str__(self) -> str:
        return _text(self._node)

    def __repr__(self) -> str:
        try:
            return f"MarkerExpr({_text(self._node)!r})"
        except MarkerError:
            return "MarkerExpr(<no marker text>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MarkerExpr) and self._node is other._node

    def __hash__(self) -> int:
        return id(self._node)


def union_of(markers: Iterable[Marker | str | None]) -> Marker | None:
    """The simplified ``or`` of ``markers`` (``None`` is always true); an empty input
    gives the never-true ``python_version < "0"``."""
    parsed = (MarkerExpr.parse(marker)._node for marker in markers)
    return MarkerExpr(functools.reduce(_or, parsed, FALSE)).to_marker()


def intersection_of(markers: Iterable[Marker | str | None]) -> Marker | None:
    """The simplified ``and`` of ``markers``; ``None`` when always true."""
    parsed = (MarkerExpr.parse(marker)._node for marker in markers)
    return MarkerExpr(functools.reduce(_and, parsed, TRUE)).to_marker()

"""The value sets of one marker variable, for :mod:`reqlock.locking.markers`: boolean
algebras with one representation per set, so ``==`` is set equality.

:class:`VersionSet` is a union of intervals in the PEP 440 order, ending at *cuts*: just
below a version, or just above a whole release family (``> "3.10"`` leaves out 3.10, its
local and post-releases, and no least version follows those). Other ends are written
"below the least version above" (``<= "1.0"`` ends below ``1.0.post0.dev0``), so equal
sets have equal cuts. Specifiers map to intervals as ``Specifier.contains`` matches with
``prereleases=True`` (as markers evaluate). ``python_version`` atoms become sets of full
versions made of whole *cells* ``[X.Y.dev0, X.(Y+1).dev0)``, printed back with
``python_version``. :class:`StrSet` is "one of" / "none of" some strings.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol, TypeAlias, TypeVar

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

#: An atom's text, or ``("and" | "or", operands)``.
Expr: TypeAlias = "str | tuple[str, tuple[Expr, ...]]"
_Rel = tuple[int, ...]
_Pre = tuple[str, int] | None
_N = int | None
_D = TypeVar("_D", bound="Domain")
PYTHON = "python_full_version"
_MIN = Version("0.dev0")  # no version sorts below it
_XY = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


class Domain(Protocol):
    """What the decision diagram needs of a value set."""

    def and_(self: _D, other: _D) -> _D: ...
    def or_(self: _D, other: _D) -> _D: ...
    def not_(self: _D) -> _D: ...
    def is_empty(self) -> bool: ...
    def is_full(self) -> bool: ...
    def sort_key(self) -> tuple[object, ...]: ...
    def expand_within(self: _D, allowed: _D) -> _D: ...


def _trim(release: _Rel) -> _Rel:
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    return release


def _spell(epoch: int, release: _Rel, pre: _Pre = None, post: _N = None, dev: _N = None) -> str:
    text = (f"{epoch}!" if epoch else "") + ".".join(map(str, release))
    text += f"{pre[0]}{pre[1]}" if pre else ""
    return text + ("" if post is None else f".post{post}") + ("" if dev is None else f".dev{dev}")


def _make(epoch: int, release: _Rel, pre: _Pre = None, post: _N = None, dev: _N = None) -> Version:
    # One spelling per version (trailing zeros trimmed), so cuts print deterministically.
    return Version(_spell(epoch, _trim(release), pre, post, dev))


def _public(v: Version) -> Version:
    return _make(v.epoch, v.release, v.pre, v.post, v.dev)


def _after_locals(v: Version) -> Version:
    """The least version above ``v`` and all its local versions."""
    if v.dev is not None:
        return _make(v.epoch, v.release, v.pre, v.post, v.dev + 1)
    return _make(v.epoch, v.release, v.pre, 0 if v.post is None else v.post + 1, 0)


@dataclass(frozen=True, order=True)
class Cut:
    """Below ``version``, or (``family``) above every version of ``epoch!release``.
    The field order is the order of cuts."""

    epoch: int
    release: _Rel
    family: bool
    version: Version | None

    @classmethod
    def below(cls, v: Version) -> Cut:
        v = _public(v)
        return cls(v.epoch, v.release, False, v)

    def passed(self, v: Version) -> bool:
        """Whether ``v`` lies above this cut."""
        if self.version is None:
            return (v.epoch, _trim(v.release)) > (self.epoch, self.release)
        return v >= self.version

    def cell(self) -> str | None:
        """``X.Y`` when this cut is the lower end of a ``python_version`` cell."""
        v = self.version
        if v is None or v.epoch or len(v.release) > 2 or v.pre or v.post is not None:
            return None
        return f"{v.release[0]}.{(*v.release, 0)[1]}" if v.dev == 0 else None


@dataclass(frozen=True)
class VersionSet:
    """Versions below the first cut are members iff ``low``; membership flips at each
    cut. ``invalid``: whether non-version strings are members (None: not applicable)."""

    low: bool
    cuts: tuple[Cut, ...] = ()
    invalid: bool | None = None

    @staticmethod
    def build(low: bool, cuts: Iterable[Cut], invalid: bool | None = None) -> VersionSet:
        kept: list[Cut] = []
        for cut in sorted(cuts):
            if kept and kept[-1] == cut:
                kept.pop()  # flipping twice at one point is no flip
            else:
                kept.append(cut)
        if kept and kept[0].version == _MIN:  # nothing lies below the floor
            kept.pop(0)
            low = not low
        return VersionSet(low, tuple(kept), invalid)

    def _combine(self, other: VersionSet, fn: Callable[[bool, bool], bool]) -> VersionSet:
        mine, theirs = set(self.cuts), set(other.cuts)
        a, b = self.low, other.low
        state = low = fn(a, b)
        out: list[Cut] = []
        for cut in sorted(mine | theirs):
            a, b = a ^ (cut in mine), b ^ (cut in theirs)
            if fn(a, b) != state:
                out.append(cut)
                state = not state
        flags = (self.invalid, other.invalid)
        return VersionSet(low, tuple(out), None if None in flags else fn(*map(bool, flags)))

    def and_(self, other: VersionSet) -> VersionSet:
        return self._combine(other, lambda a, b: a and b)

    def or_(self, other: VersionSet) -> VersionSet:
        return self._combine(other, lambda a, b: a or b)

    def not_(self) -> VersionSet:
        flag = None if self.invalid is None else not self.invalid
        return VersionSet(not self.low, self.cuts, flag)

    def is_empty(self) -> bool:
        return not self.low and not self.cuts and not self.invalid

    def is_full(self) -> bool:
        return self.low and not self.cuts and self.invalid is not False

    def sort_key(self) -> tuple[object, ...]:
        return (0,) if self.low else (1, self.cuts[0]) if self.cuts else (2,)

    def contains(self, v: Version) -> bool:
        return self.low ^ (sum(1 for cut in self.cuts if cut.passed(v)) % 2 == 1)

    def state_at(self, cut: Cut, above: bool) -> bool:
        """Membership just above (or just below) ``cut``."""
        return self.low ^ (sum(1 for c in self.cuts if c < cut or (above and c == cut)) % 2 == 1)

    def intervals(self) -> list[tuple[Cut | None, Cut | None]]:
        out: list[tuple[Cut | None, Cut | None]] = []
        lower, state = None, self.low
        for cut in self.cuts:
            if state:
                out.append((lower, cut))
            lower, state = cut, not state
        return [*out, (lower, None)] if state else out

    @staticmethod
    def span(lower: Cut | None, upper: Cut | None, invalid: bool | None = None) -> VersionSet:
        """[lower, upper) (None: unbounded), with that ``invalid``."""
        if lower is not None and upper is not None and not lower < upper:
            return VersionSet(False, (), invalid)
        return VersionSet.build(lower is None, [c for c in (lower, upper) if c], invalid)

    def expand_within(self, allowed: VersionSet) -> VersionSet:
        """The intervals of ``allowed`` (a superset) that meet this set."""
        flag = None if self.invalid is None else False
        out = VersionSet(False, (), flag)
        for piece in (VersionSet.span(lo, hi, flag) for lo, hi in allowed.intervals()):
            out = out if piece.and_(self).is_empty() else out.or_(piece)
        keep = self.invalid or (allowed.invalid and out.low and not out.cuts)
        return replace(out, invalid=True) if keep else out


FULL, EMPTY = VersionSet(True), VersionSet(False)


def _ge(v: Version) -> VersionSet:
    return VersionSet.build(False, (Cut.below(v),))


def _lt(v: Version) -> VersionSet:
    return VersionSet.build(True, (Cut.below(v),))


def _between(lower: Version, upper: Version) -> VersionSet:
    return _ge(lower).and_(_lt(upper))


def is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def specifier(op: str, literal: str) -> Specifier | None:
    try:
        return Specifier(f"{op}{literal}")  # exactly the text packaging tries
    except InvalidSpecifier:
        return None


def spec_set(op: str, text: str) -> VersionSet:
    """The versions ``Specifier(op + text)`` contains (``text`` has no local label)."""
    v = Version(text.removesuffix(".*"))
    if text.endswith(".*"):
        nxt = (*v.release[:-1], v.release[-1] + 1)
        inside = _between(_make(v.epoch, v.release, dev=0), _make(v.epoch, nxt, dev=0))
        return inside if op == "==" else inside.not_()
    if op == ">=":
        return _ge(v)
    if op == "<=":
        return _lt(_after_locals(v))
    if op == ">":
        if v.dev is not None or v.post is not None:
            return _ge(_after_locals(v))
        if v.pre is not None:  # past 1.0a1 and its post-releases comes 1.0a2.dev0
            return _ge(_make(v.epoch, v.release, (v.pre[0], v.pre[1] + 1), dev=0))
        return VersionSet.build(False, (Cut(v.epoch, _trim(v.release), True, None),))
    if op == "<":  # "<V" leaves out V's pre-releases unless V is one
        return _lt(v if v.is_prerelease else _make(v.epoch, v.release, v.pre, v.post, 0))
    if op == "~=":
        return _between(v, _make(v.epoch, (*v.release[:-2], v.release[-2] + 1), dev=0))
    inside = _between(v, _after_locals(v))
    return inside if op == "==" else inside.not_()


def version_set(op: str, literal: str) -> VersionSet | None:
    """``VAR op literal`` for a version variable other than python_version, or None to
    keep the atom opaque (``===``, local labels, packaging's string fallbacks)."""
    spec = specifier(op, literal)
    if spec is None:
        if op == "~=":
            raise ValueError(f"{op!r} is undefined on {literal!r}")
        return EMPTY if op in ("<", ">") else None  # "<" / ">" on strings: always false
    return None if op == "===" or "+" in spec.version else spec_set(spec.operator, spec.version)


def _grid(cut: Cut) -> Cut | None:
    """The cut below the least ``X.Y`` cell above ``cut`` (None: there is none)."""
    if cut.epoch:
        return None
    x, y = (*cut.release, 0)[:2]
    if cut.version is None or cut.version > _make(0, (x, y)):
        y += 1
    return Cut.below(_make(0, (x, y), dev=0))


def cells(versions: VersionSet) -> VersionSet:
    """The full versions whose ``X.Y`` lies in ``versions``."""
    return VersionSet.build(versions.low, [g for c in versions.cuts if (g := _grid(c))])


def _xy(text: str) -> VersionSet:
    if not (match := _XY.fullmatch(text)):
        return EMPTY
    x, y = int(match[1]), int(match[2])
    return _between(_make(0, (x, y), dev=0), _make(0, (x, y + 1), dev=0))


def python_version_set(op: str, literal: str, reverse: bool) -> VersionSet | None:
    """``python_version op literal`` (``literal op python_version`` if ``reverse``) as a
    set of python_full_version; None to keep it opaque."""
    if reverse:
        return _python_reversed(op, literal)
    spec = specifier(op, literal)
    if spec is None:  # packaging compares the strings; python_version reads "X.Y"
        if op in ("in", "not in"):
            found = functools.reduce(VersionSet.or_, map(_xy, _substrings(literal)), EMPTY)
            return found if op == "in" else found.not_()
        if op not in ("==", "<=", ">=", "!=", "<", ">"):
            raise ValueError(f"{op!r} is undefined on {literal!r}")
        same = EMPTY if op in ("<", ">") else _xy(literal)
        return same.not_() if op == "!=" else same
    if op == "===":
        return _xy(literal.lower())
    if "+" in spec.version:  # "==X+local" never matches a plain "X.Y"
        return EMPTY if spec.operator == "==" else FULL
    return cells(spec_set(spec.operator, spec.version))


def _python_reversed(op: str, literal: str) -> VersionSet | None:
    # "L" op python_version is Specifier(op + "X.Y").contains(L): a condition on X.Y.
    if op in ("in", "not in"):
        return None
    if op == "===":
        return _xy(literal.lower())
    if op not in ("<", "<=", ">", ">=", "==", "!=", "~="):
        raise ValueError(f"{op!r} is undefined on {literal!r}")
    if not is_version(literal):
        return EMPTY  # standard operators never match a string that is no version
    v = Version(literal)
    p = _public(v)
    x, y = (*v.release, 0)[:2]
    sets = {"<": _ge(_make(v.epoch, (x, y + 1))), "<=": _ge(p), ">": _lt(_make(v.epoch, v.release))}
    sets |= {">=": _lt(_after_locals(p)), "==": spec_set("==", str(p))}
    sets |= {"!=": spec_set("!=", str(p)), "~=": _between(_make(v.epoch, (x,)), _after_locals(p))}
    return cells(sets[op])


def requires_python_set(specifiers: SpecifierSet) -> VersionSet:
    """The python_full_version values a ``Requires-Python`` range admits."""
    out = FULL
    for spec in specifiers:
        if spec.operator == "===" or "+" in spec.version:
            raise ValueError(f"unsupported requires-python specifier {str(spec)!r}")
        out = out.and_(spec_set(spec.operator, spec.version))
    return out


@dataclass(frozen=True)
class StrSet:
    """The strings in ``values``, or (``negated``) every string but those."""

    values: frozenset[str]
    negated: bool = False

    def and_(self, other: StrSet) -> StrSet:
        if self.negated and other.negated:
            return StrSet(self.values | other.values, True)
        if self.negated or other.negated:
            pos, neg = (other, self) if self.negated else (self, other)
            return StrSet(pos.values - neg.values)
        return StrSet(self.values & other.values)

    def or_(self, other: StrSet) -> StrSet:
        return self.not_().and_(other.not_()).not_()

    def not_(self) -> StrSet:
        return StrSet(self.values, not self.negated)

    def is_empty(self) -> bool:
        return not self.negated and not self.values

    def is_full(self) -> bool:
        return self.negated and not self.values

    def sort_key(self) -> tuple[object, ...]:
        return (self.negated, sorted(self.values))

    def contains(self, value: str) -> bool:
        return (value in self.values) != self.negated

    def expand_within(self, allowed: StrSet) -> StrSet:
        return self  # the caller also tries ``allowed`` itself: nothing between is shorter


def _substrings(text: str) -> frozenset[str]:
    return frozenset(text[i:j] for i in range(len(text) + 1) for j in range(i, len(text) + 1))


def string_set(op: str, literal: str) -> StrSet:
    """``VAR op literal`` on strings, as packaging compares them: ``<=`` is ``==``, ``<``
    is false, ``in``: the value is a substring of the literal."""
    if op in ("==", "<=", ">=", "!=", "<", ">"):
        return StrSet(frozenset() if op in ("<", ">") else frozenset({literal}), op == "!=")
    if op in ("in", "not in"):
        return StrSet(_substrings(literal), op == "not in")
    raise ValueError(f"{op!r} is undefined on strings")


# Printing.


def render(expr: Expr, parent: str = "") -> str:
    """Marker text for ``expr``; parentheses only where ``and`` binds an ``or``."""
    if isinstance(expr, str):
        return expr
    op, items = expr
    flat: list[Expr] = []
    for item in items:
        flat.extend(item[1] if not isinstance(item, str) and item[0] == op else (item,))
    if len(flat) == 1:
        return render(flat[0], parent)
    text = f" {op} ".join(render(item, op) for item in flat)
    return f"({text})" if parent == "and" and op == "or" else text


def shortest(forms: Iterable[Expr], nested: bool = False) -> Expr:
    """The shortest form, measured inside an ``and`` when ``nested``."""
    parent = "and" if nested else ""
    return min(forms, key=lambda e: (len(render(e, parent)), render(e, parent)))


def atom(var: str, op: str, value: str) -> str:
    if "\\" in value or not value.isprintable() or ('"' in value and "'" in value):
        raise ValueError(f"cannot write the marker value {value!r}")
    return f"{var} {op} " + (f"'{value}'" if '"' in value else f'"{value}"')


def _lower(var: str, cut: Cut | None) -> list[Expr]:
    if cut is None:
        return []
    if var == PYTHON and (xy := cut.cell()):
        return [atom("python_version", ">=", xy)]
    if cut.version is None:
        return [atom(var, ">", _spell(cut.epoch, cut.release))]
    return [atom(var, ">=", str(cut.version))]


def _upper(var: str, cut: Cut | None) -> list[Expr]:
    if cut is None:
        return []
    if var == PYTHON and (xy := cut.cell()):
        return [atom("python_version", "<", xy)]
    v = cut.version
    if v is None:
        raise ValueError("no marker says 'at most this release and its post-releases'")
    if v.dev == 0 and v.pre is None:  # "<V" ends below V.dev0
        return [atom(var, "<", str(_make(v.epoch, v.release, None, v.post)))]
    if v.is_prerelease:
        return [atom(var, "<", str(v))]
    # "<V" would leave out V's pre-releases: "<=V" but not V (nor its locals) is exact.
    return [atom(var, "<=", str(v)), atom(var, "!=", str(v))]


def _point(var: str, lower: Cut | None, upper: Cut | None, op: str) -> Expr | None:
    """``op`` ("==" or "!=") of one X.Y cell or one version, if [lower, upper) is one."""
    if lower is None or upper is None or lower.version is None or upper.version is None:
        return None
    if var == PYTHON and (xy := lower.cell()):
        x, y = map(int, xy.split("."))
        if upper.version == _make(0, (x, y + 1), dev=0):
            return atom("python_version", op, xy)
    if upper.version == _after_locals(lower.version):
        return atom(var, op, str(lower.version))
    return None


def _piece(var: str, lower: Cut | None, upper: Cut | None, inside: bool, nested: bool) -> Expr:
    """Being in [lower, upper) (or, not ``inside``, out of it), shortest: one ``==`` /
    ``!=``, two of them for two X.Y cells, or the bounds."""
    op, join = ("==", "or") if inside else ("!=", "and")
    if point := _point(var, lower, upper, op):
        return point
    above, below = (_lower, _upper) if inside else (_upper, _lower)
    forms: list[Expr] = [("and" if inside else "or", (*above(var, lower), *below(var, upper)))]
    if var == PYTHON and lower and (xy := lower.cell()):
        x, y = map(int, xy.split("."))
        middle = Cut.below(_make(0, (x, y + 1), dev=0))
        first, second = _point(var, lower, middle, op), _point(var, middle, upper, op)
        if first and second:
            forms.append((join, (first, second)))
    return shortest(forms, nested)


def version_expr(var: str, versions: VersionSet, nested: bool = False) -> Expr:
    """Marker text (tree) for ``var`` in ``versions``; ValueError if none is exact."""
    if versions.invalid:
        raise ValueError("no marker admits the non-version strings but not every version")
    if versions.low and not versions.cuts:
        return atom(var, ">=", "0.dev0")  # every version, no other string
    spans = versions.intervals()
    alone = nested and len(spans) == 1
    forms: list[Expr] = [("or", tuple(_piece(var, lo, hi, True, alone) for lo, hi in spans))]
    if len(spans) > 1:  # or: the outer bounds, minus each gap
        parts = [*_lower(var, spans[0][0]), *_upper(var, spans[-1][1])]
        parts += [_piece(var, a, b, False, True) for (_, a), (b, _) in itertools.pairwise(spans)]
        forms.append(("and", tuple(parts)))
    return shortest(forms, nested)


def string_expr(var: str, strings: StrSet) -> Expr:
    """Marker text (tree) for ``var`` in ``strings``: ``==`` / ``!=``, and ``in`` /
    ``not in`` for a member all of whose substrings are members."""
    values = strings.values
    eq, in_, join = ("!=", "not in", "and") if strings.negated else ("==", "in", "or")
    maximal: list[str] = []
    for value in sorted(values, key=lambda v: (-len(v), v)):
        if not any(value in m for m in maximal):
            maximal.append(value)
    closed = [m for m in maximal if m and _substrings(m) <= values]
    covered = frozenset(s for m in closed for s in _substrings(m))
    rest = sorted(values - covered)
    return (join, (*(atom(var, in_, m) for m in closed), *(atom(var, eq, v) for v in rest)))

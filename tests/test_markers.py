"""The marker algebra (``reqlock.locking.markers``) against packaging's own evaluation.

Property tests build random marker trees from a realistic vocabulary and random
environments, and check the normal form against :meth:`packaging.markers.Marker.evaluate`
pointwise (parse, ``and``/``or``/``not``, printing back), and ``is_disjoint`` /
``implies`` against brute force over a fixed sample of environments. Hand-written cases
pin the canonical texts the lock writer relies on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from reqlock.errors import ReqlockError
from reqlock.locking.markers import MarkerError, MarkerExpr, intersection_of, union_of

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PY_SHORT = ["2.7", "3.6", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]
PY_FULL = ["2.7.18", "3.8.0", "3.8.10", "3.9.7", "3.10.0", "3.10.0rc1", "3.10.2", "3.11.4",
           "3.12.0", "3.13.0a1", "3.13.1", "3.14.0", "3.15.2"]  # fmt: skip
# Environments also meet a non-tagged build ("+", which packaging repairs) and a post.
ENV_FULL = [*PY_FULL, "3.11.4+", "3.10.0.post1"]
STRINGS = {
    "sys_platform": ["win32", "linux", "darwin", "emscripten"],
    "platform_system": ["Windows", "Linux", "Darwin"],
    "platform_machine": ["x86_64", "aarch64", "arm64", "AMD64"],
    "implementation_name": ["cpython", "pypy"],
    "platform_python_implementation": ["CPython", "PyPy"],
    "os_name": ["nt", "posix"],
}
EXTRAS = ["", "foo-bar", "test"]
EXOTIC = ["3.10rc1", "3.10.0rc1", "3.8.1", "3.10.post1", "3.9.dev0", "1!3.0", "3.10.0+abc",
          "3.10.2", "3", "3.10", "2.7.18", "foo"]  # fmt: skip
RELEASES = ["5.15.0-91-generic", "6.1", "10", "23.1.0", ""]
IMPL_VERSIONS = ["3.11.4", "3.13.0rc1", "7.3.13"]

# Common atoms: the operators a lock's markers use (and print back with).
COMMON_VERSION_OPS = ["<", ">=", "==", "!="]
ALL_VERSION_OPS = [*COMMON_VERSION_OPS, "<=", ">", "~="]


def _q(value: str) -> str:
    return f'"{value}"'


@st.composite
def common_atoms(draw: st.DrawFn, names: tuple[str, ...] = tuple(sorted(STRINGS))) -> str:
    if draw(st.booleans()):
        op = draw(st.sampled_from(COMMON_VERSION_OPS))
        return f"python_version {op} {_q(draw(st.sampled_from(PY_SHORT)))}"
    name = draw(st.sampled_from(names))
    op = draw(st.sampled_from(["==", "!="]))
    return f"{name} {op} {_q(draw(st.sampled_from(STRINGS[name])))}"


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 10))
    if kind <= 1:
        return draw(common_atoms())
    if kind == 2:
        op = draw(st.sampled_from(ALL_VERSION_OPS))
        version = draw(st.sampled_from(PY_SHORT))
        if draw(st.booleans()):
            return f"{_q(version)} {op} python_version"  # reversed operands
        return f"python_version {op} {_q(version)}"
    if kind == 3:
        op = draw(st.sampled_from([*ALL_VERSION_OPS, "=="]))
        version = draw(st.sampled_from([*PY_FULL, "3.10.*", "3.9.*"]))
        op = "==" if version.endswith("*") else op
        return f"python_full_version {op} {_q(version)}"
    if kind == 4:
        name = draw(st.sampled_from(sorted(STRINGS)))
        op = draw(st.sampled_from(["in", "not in"]))
        words = draw(st.lists(st.sampled_from(STRINGS[name]), min_size=1, max_size=3))
        return f"{name} {op} {_q(' '.join(words))}"
    if kind == 5:
        op = draw(st.sampled_from(["in", "not in"]))
        return f"{_q(draw(st.sampled_from(['arm', '64', 'x86'])))} {op} platform_machine"
    if kind == 6:
        op = draw(st.sampled_from(["==", "!="]))
        return f"extra {op} {_q(draw(st.sampled_from(['Foo_Bar', 'test', 'doc'])))}"
    if kind in (7, 8):
        name, values = (
            ("implementation_version", ["3.11", "7.3", "7"])
            if kind == 7
            else ("platform_release", ["5.15.0-91-generic", "6", "10", "23.1"])
        )
        op = draw(st.sampled_from([*ALL_VERSION_OPS, "in"]))
        value = draw(st.sampled_from(values))
        # "~=" needs two release parts (packaging raises on anything else).
        op = ">=" if op == "~=" and not re.fullmatch(r"\d+\.\d+", value) else op
        return f"{name} {op} {_q(value)}"
    if kind == 9:
        return f"python_version in {_q(' '.join(draw(st.lists(st.sampled_from(PY_SHORT)))))}"
    # PEP 440 corners: pre-, post-, dev-releases, local labels, epochs, either side.
    op = draw(st.sampled_from([*ALL_VERSION_OPS, "===", "in"]))
    value = draw(st.sampled_from(EXOTIC))
    name = draw(st.sampled_from(["python_version", "python_full_version"]))
    reverse = draw(st.booleans())
    # packaging raises on "~=" without two release parts (or on a local full version).
    if op == "~=" and (reverse or not re.fullmatch(r"\d+(\.\d+)+", value)):
        op = ">="
    return f"{_q(value)} {op} {name}" if reverse else f"{name} {op} {_q(value)}"


def trees(leaves: st.SearchStrategy[str], max_leaves: int = 6) -> st.SearchStrategy[str]:
    def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.tuples(children, st.sampled_from(["and", "or"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        )

    return st.recursive(leaves, combine, max_leaves=max_leaves)


def _environment(choose: Callable[[list[str]], str]) -> dict[str, str]:
    full = choose(ENV_FULL)
    release = Version(full.removesuffix("+")).release
    env = {name: choose([*values, "other"]) for name, values in STRINGS.items()}
    return env | {
        "python_full_version": full,
        "python_version": f"{release[0]}.{release[1]}",  # packaging's X.Y of it
        "extra": choose(EXTRAS),
        "platform_release": choose(RELEASES),
        "implementation_version": choose(IMPL_VERSIONS),
    }


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    return _environment(lambda values: draw(st.sampled_from(values)))


# The brute-force reference set: fixed, the same every run.
SAMPLE = [_environment(random.Random(440 + i).choice) for i in range(200)]


def _packaging(marker: str, env: dict[str, str]) -> bool:
    return Marker(marker).evaluate(env)


# Properties.


@SETTINGS
@given(trees(atoms()), st.lists(environments(), min_size=1, max_size=8))
def test_the_normal_form_evaluates_like_packaging(marker: str, envs: list[dict[str, str]]) -> None:
    expr = MarkerExpr.parse(marker)
    for env in envs:
        assert expr.evaluate(env) == _packaging(marker, env), (marker, env)


@SETTINGS
@given(trees(atoms()), st.lists(environments(), min_size=1, max_size=4))
def test_printing_round_trips_and_is_idempotent(marker: str, envs: list[dict[str, str]]) -> None:
    expr = MarkerExpr.parse(marker)
    text = str(expr)
    if expr.is_true():
        assert text == ""
        assert expr.to_marker() is None
        return
    assert str(Marker(text)) == text  # packaging reads it, and writes it the same way
    again = MarkerExpr.parse(text)
    assert again == expr
    assert str(again) == text
    for env in envs:
        assert _packaging(text, env) == _packaging(marker, env), (marker, text, env)


@SETTINGS
@given(trees(atoms(), 4), trees(atoms(), 4), st.lists(environments(), min_size=1, max_size=6))
def test_and_or_not_agree_with_boolean_logic(a: str, b: str, envs: list[dict[str, str]]) -> None:
    x, y = MarkerExpr.parse(a), MarkerExpr.parse(b)
    both, either, neither = x.and_(y), x.or_(y), x.not_()
    for env in envs:
        va, vb = _packaging(a, env), _packaging(b, env)
        assert both.evaluate(env) == (va and vb)
        assert either.evaluate(env) == (va or vb)
        assert neither.evaluate(env) == (not va)
    assert both == y.and_(x)
    assert either == y.or_(x)
    assert neither.not_() == x
    assert x.or_(neither).is_true()
    assert x.and_(neither).is_false()


@SETTINGS
@given(trees(atoms(), 4), trees(atoms(), 4))
def test_disjoint_and_implies_agree_with_brute_force(a: str, b: str) -> None:
    x, y = MarkerExpr.parse(a), MarkerExpr.parse(b)
    both = [env for env in SAMPLE if _packaging(a, env) and _packaging(b, env)]
    if x.is_disjoint(y):
        assert both == []
    counter = [env for env in SAMPLE if _packaging(a, env) and not _packaging(b, env)]
    if x.implies(y):
        assert counter == []
    assert x.and_(y).implies(x)
    assert x.implies(x.or_(y))


EXACT_NAMES = ("os_name", "sys_platform")
# A python_version in every region the atoms' bounds make: each X.Y, the next one, and
# one below them all.
GRID_PYTHONS = [
    "2.0",
    *PY_SHORT,
    *(f"{v.split('.')[0]}.{int(v.split('.')[1]) + 1}" for v in PY_SHORT),
]


@SETTINGS
@given(trees(common_atoms(EXACT_NAMES), 4), trees(common_atoms(EXACT_NAMES), 4))
def test_exact_on_common_atoms_against_brute_force(a: str, b: str) -> None:
    # Without opaque atoms the tests are exact, not only sound: the algebra says two
    # markers meet exactly when some environment satisfies both, and every value the
    # atoms name (and one they do not) is in this grid.
    x, y = MarkerExpr.parse(a), MarkerExpr.parse(b)
    grid = [
        {**SAMPLE[0], "python_version": short, "python_full_version": f"{short}.1",
         "os_name": os_name, "sys_platform": platform}
        for short in GRID_PYTHONS
        for os_name in [*STRINGS["os_name"], "other"]
        for platform in [*STRINGS["sys_platform"], "other"]
    ]  # fmt: skip
    met = any(_packaging(a, env) and _packaging(b, env) for env in grid)
    assert x.is_disjoint(y) == (not met)
    escapes = any(_packaging(a, env) and not _packaging(b, env) for env in grid)
    assert x.implies(y) == (not escapes)


@SETTINGS
@given(trees(atoms()))
def test_simplification_is_idempotent(marker: str) -> None:
    expr = MarkerExpr.parse(marker)
    once = str(expr)
    if once:
        assert str(MarkerExpr.parse(once)) == once
        assert MarkerExpr.parse(once).to_marker() == Marker(once)


@st.composite
def flat_markers(draw: st.DrawFn) -> str:
    """Common cases: one and/or of common atoms, or an or of ands / and of ors."""
    inner = draw(st.sampled_from(["and", "or"]))
    outer = "or" if inner == "and" else "and"
    groups = draw(
        st.lists(st.lists(common_atoms(), min_size=1, max_size=3), min_size=1, max_size=3)
    )
    parts = [f" {inner} ".join(group) for group in groups]
    return f" {outer} ".join(
        f"({p})" if len(group) > 1 and len(groups) > 1 else p
        for p, group in zip(parts, groups, strict=True)
    )


@SETTINGS
@given(flat_markers())
def test_simplification_is_never_longer_for_common_markers(marker: str) -> None:
    canonical_input = str(Marker(marker))
    assert len(str(MarkerExpr.parse(marker))) <= len(canonical_input), canonical_input


# Hand-written cases.


def _s(marker: str) -> str:
    return str(MarkerExpr.parse(marker))


def test_a_split_and_its_complement_cover_everything() -> None:
    assert MarkerExpr.parse('python_version < "3.10" or python_version >= "3.10"').is_true()
    assert MarkerExpr.parse('sys_platform == "win32" and sys_platform == "linux"').is_false()
    assert _s('sys_platform == "win32" and sys_platform == "linux"') == 'python_version < "0"'


def test_the_union_a_universal_lock_writes() -> None:
    union = union_of(
        ['python_version < "3.10"', 'python_version >= "3.10" and sys_platform == "win32"']
    )
    assert str(union) == 'python_version < "3.10" or sys_platform == "win32"'
    assert union_of([None, 'sys_platform == "linux"']) is None
    assert MarkerExpr.parse(union_of([])).is_false()
    assert intersection_of([]) is None
    assert str(intersection_of(['python_version >= "3.9"', None, 'python_version < "3.12"'])) == (
        'python_version >= "3.9" and python_version < "3.12"'
    )


PV, PFV, MACHINE = "python_version", "python_full_version", "platform_machine"
CANONICAL = [
    (f'{PFV} < "3.10"', f'{PV} < "3.10"'),
    (f'{PV} <= "3.9"', f'{PV} < "3.10"'),
    (f'"3.8" < {PV}', f'{PV} >= "3.9"'),
    (f'{PV} > "3.8" and {PV} < "3.13"', f'{PV} >= "3.9" and {PV} < "3.13"'),
    (f'{PFV} == "3.10.*"', f'{PV} == "3.10"'),
    (f'{PV} in "2.7 3.4"', f'{PV} == "2.7" or {PV} == "3.4"'),
    (f'{PFV} >= "3.10.0"', f'{PFV} >= "3.10"'),
    (f'{PFV} >= "3.10.2" and {PFV} < "3.11"', f'{PFV} >= "3.10.2" and {PV} < "3.11"'),
    ('sys_platform == "linux" or sys_platform == "darwin"',
     'sys_platform == "darwin" or sys_platform == "linux"'),
    ('extra == "Foo_Bar"', 'extra == "foo-bar"'),
    ('platform_machine in "x86_64 aarch64" and platform_machine == "aarch64"',
     'platform_machine == "aarch64"'),
    ('platform_machine in "x86_64 aarch64"', 'platform_machine in "x86_64 aarch64"'),
    (f'(os_name == "nt" or sys_platform == "linux") and ({PV} < "3.9" or {MACHINE} == "arm64")',
     f'(os_name == "nt" or sys_platform == "linux") and ({MACHINE} == "arm64" or {PV} < "3.9")'),
]  # fmt: skip


@pytest.mark.parametrize(("marker", "expected"), CANONICAL)
def test_canonical_texts(marker: str, expected: str) -> None:
    assert _s(marker) == expected
    assert MarkerExpr.parse(expected) == MarkerExpr.parse(marker)


def test_python_version_is_the_x_y_of_the_full_version() -> None:
    short, full = (
        MarkerExpr.parse('python_version >= "3.10"'),
        MarkerExpr.parse('python_full_version >= "3.10"'),
    )
    assert short != full
    assert full.implies(short)
    rc = {"python_version": "3.10", "python_full_version": "3.10.0rc1"}
    assert short.evaluate(rc)
    assert not full.evaluate(rc)
    assert short.evaluate(rc) == Marker('python_version >= "3.10"').evaluate(rc)
    assert full.evaluate(rc) == Marker('python_full_version >= "3.10"').evaluate(rc)


def test_disjoint_and_implies() -> None:
    win, linux = (
        MarkerExpr.parse('sys_platform == "win32"'),
        MarkerExpr.parse('sys_platform == "linux"'),
    )
    assert win.is_disjoint(linux)
    old = MarkerExpr.parse('python_version < "3.9"')
    assert old.implies(MarkerExpr.parse('python_version < "3.12"'))
    assert not MarkerExpr.parse('python_version < "3.12"').implies(old)
    assert not old.is_disjoint(win)
    # No implication across variables is invented.
    assert not win.implies(MarkerExpr.parse('platform_system == "Windows"'))


def test_restrict_drops_what_the_python_range_decides() -> None:
    assert MarkerExpr.parse('python_version >= "3.9"').restrict(">=3.10").is_true()
    assert MarkerExpr.parse('python_version < "3.9"').restrict(">=3.10").is_false()
    mixed = MarkerExpr.parse(
        'python_version >= "3.9" and sys_platform == "linux"'
        ' or python_version < "3.12" and sys_platform == "win32"'
    )
    restricted = mixed.restrict(">=3.10")
    assert (
        str(restricted)
        == 'python_version < "3.12" and sys_platform == "win32" or sys_platform == "linux"'
    )
    inside = SpecifierSet(">=3.10")
    for env in SAMPLE:
        if env["python_full_version"] in inside:
            assert restricted.evaluate(env) == mixed.evaluate(env)
    both_ends = MarkerExpr.parse(
        'python_version >= "3.8" and python_version < "3.13" and os_name == "nt"'
    )
    assert str(both_ends.restrict(">=3.9,<3.13")) == 'os_name == "nt"'
    assert str(both_ends.restrict(">=3.9")) == 'python_version < "3.13" and os_name == "nt"'


def test_markers_without_text_and_unsupported_markers_raise_reqlock_errors() -> None:
    complement = MarkerExpr.parse('python_full_version > "3.10"').not_()
    with pytest.raises(MarkerError):
        complement.to_marker()
    assert complement.evaluate({"python_full_version": "3.10.0.post1", "python_version": "3.10"})
    for bad in [
        'sys_platform ~= "x"',
        "python_version == python_full_version",
        "os_name ==",
        'extras == "x"',
    ]:
        with pytest.raises(ReqlockError):
            MarkerExpr.parse(bad)


@pytest.mark.parametrize(
    "marker",
    ['python_version >= "3.9"', 'python_full_version >= "3.10.2"', 'sys_platform != "win32"',
     'platform_machine in "x86_64 aarch64"', '"arm" in platform_machine',
     'python_version != "3.11"'],
)  # fmt: skip
def test_complements_of_common_atoms_print(marker: str) -> None:
    complement = MarkerExpr.parse(marker).not_()
    assert MarkerExpr.parse(str(complement)) == complement
    for env in SAMPLE[:100]:
        assert complement.evaluate(env) != _packaging(marker, env)

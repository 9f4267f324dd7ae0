"""Property tests for the requirements-file parser."""

from __future__ import annotations

import errno
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from reqlock.errors import RequirementsError
from reqlock.locking.reqparse import split_options_text
from reqlock.locking.requirements import (
    RequirementSet,
    parse_requirement_strings,
    parse_requirements,
)

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ARCHIVE_ENDINGS = (".whl", ".zip", ".tar", ".tgz", ".tbz", ".txz", ".tlz", ".gz", ".bz2", ".xz")
_ASCII_NO_BACKSLASH = st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\\")

names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,12}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda name: not name.lower().endswith(_ARCHIVE_ENDINGS)
)
release = st.lists(st.integers(0, 999), min_size=1, max_size=3).map(
    lambda parts: ".".join(map(str, parts))
)
suffix = st.sampled_from(["", "a1", "b2", "rc3", ".post1", ".dev4"])


@st.composite
def specifiers(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(["==", "!=", ">=", "<=", ">", "<", "~=", "==="]))
    version = draw(release)
    if op == "~=" and "." not in version:
        version += ".0"
    if op in ("==", "!=") and draw(st.booleans()):
        return f"{op}{version}.*"
    return f"{op}{version}{draw(suffix)}"


markers = st.sampled_from(
    [
        None,
        'python_version >= "3.8"',
        "sys_platform == 'linux'",
        'os_name != "nt" and python_version < "3.13"',
        '(platform_machine == "x86_64" or platform_machine == "aarch64")',
        'implementation_name == "cpython" and extra == "x"',
    ]
)
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@st.composite
def hashes(draw: st.DrawFn) -> tuple[str, str]:
    algorithm = draw(st.sampled_from(sorted(_HASH_LENGTHS)))
    length = _HASH_LENGTHS[algorithm]
    digest = draw(st.text(alphabet="0123456789abcdefABCDEF", min_size=length, max_size=length))
    return algorithm, digest


@st.composite
def requirement_lines(draw: st.DrawFn) -> dict[str, object]:
    """A valid line and the parts it was built from."""
    name = draw(names)
    extras = draw(st.lists(names, max_size=3))
    specs = draw(st.lists(specifiers(), max_size=3))
    marker = draw(markers)
    pinned = draw(st.lists(hashes(), max_size=3))
    space = st.sampled_from(["", " ", "  ", "\t"])
    text = name + draw(space)
    if extras:
        text += "[" + ", ".join(extras) + "]" + draw(space)
    text += ",".join(specs)
    if marker:
        text += " ; " + marker
    for algorithm, digest in pinned:
        joiner = draw(st.sampled_from([" ", " \\\n    "]))
        form = draw(st.sampled_from(["=", " "]))
        text += f"{joiner}--hash{form}{algorithm}:{digest}"
    if draw(st.booleans()):
        text += "  # " + draw(st.text(alphabet=_ASCII_NO_BACKSLASH, max_size=20))
    return {
        "text": text,
        "name": name,
        "extras": set(extras),
        "specifier": SpecifierSet(",".join(specs)),
        "marker": marker,
        "hashes": tuple(sorted({f"{a}:{d.lower()}" for a, d in pinned})),
    }


@SETTINGS
@given(st.lists(requirement_lines(), min_size=1, max_size=4), st.data())
def test_valid_lines_survive_parsing(lines: list[dict[str, object]], data: st.DataObject) -> None:
    text = ""
    expected_line_numbers = []
    for line in lines:
        if data.draw(st.booleans()):
            text += data.draw(st.sampled_from(["\n", "# comment\n", "   \n", "\t# x \\\n"]))
        expected_line_numbers.append(text.count("\n") + 1)
        text += str(line["text"]) + "\n"
    result = parse_requirements(text, filename="gen.txt")
    assert len(result.requirements) == len(lines)
    for parsed, line, number in zip(result.requirements, lines, expected_line_numbers, strict=True):
        requirement = parsed.requirement
        assert requirement.name == line["name"]
        assert parsed.name == canonicalize_name(str(line["name"]))
        assert requirement.extras == line["extras"]
        assert requirement.specifier == line["specifier"]
        marker = line["marker"]
        assert requirement.marker == (Marker(str(marker)) if marker else None)
        assert parsed.hashes == line["hashes"]
        assert requirement.url is None
        assert parsed.origin.file == "gen.txt"
        assert parsed.origin.line == number
        assert "\n" not in parsed.origin.text


@SETTINGS
@given(st.lists(requirement_lines(), min_size=1, max_size=4))
def test_valid_strings_survive_parse_requirement_strings(lines: list[dict[str, object]]) -> None:
    # Requirement strings are PEP 508 only: drop the options and comments.
    strings = [str(line["text"]).split(" --hash")[0].split(" \\\n")[0].split("  #")[0]
               for line in lines]  # fmt: skip
    result = parse_requirement_strings(strings)
    assert [r.requirement.specifier for r in result.requirements] == [
        line["specifier"] for line in lines
    ]
    assert [r.origin.line for r in result.requirements] == list(range(1, len(lines) + 1))


_FILES = {
    "base.txt": "foo\n-r nested/inner.txt\n",
    "nested/inner.txt": "--pre\nbar>=1\n-c ../cons.txt\n",
    "cons.txt": "bar<3\n",
    "cycle.txt": "-r cycle.txt\n",
}


def _loader(including: str, reference: str) -> tuple[str, str]:
    if reference == "bad.txt":
        return reference, b"\xff".decode("utf-8")
    name = reference if reference in _FILES else f"nested/{reference}".replace("nested/../", "")
    if name not in _FILES:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", reference)
    return name, _FILES[name]


_TOKENS = [
    "-r", "-c", "-i", "-e", "-f", "-x", "-", "--", "=", "-rbase.txt", "--requirement=",
    "--index-url", "--extra-index-url", "--pre", "--require-hashes", "--hash",
    "--hash=sha256:" + "a" * 64, "--hash=md5:00", "--only-binary", "--no-binary", ":all:",
    ":none:", "--editable", "--find-links", "--no-index", "--trusted-host", "--xyz", "--pr",
    "foo", "Foo_Bar", "bar.whl", ">=1.0", "==1.*", "~=1", "[extra]", "[", "]", ";", ",",
    "python_version", ">=", '"3.8"', "'", '"', "@", "https://x/y.whl", "https://u:p@h/s",
    "./p.whl", "#", "#frag", "\\", "${VAR}", "${MISSING}", "${lower}", "${", "}", "base.txt",
    "cycle.txt", "bad.txt", "missing.txt", "nested/inner.txt", "https://x/r.txt",
]  # fmt: skip
_SEPARATORS = [" ", "  ", "\t", "\n", "\r\n", " \\\n", "\\\n", " # c \\\n", "\ufeff", "\x0c"]
tokens = st.sampled_from(_TOKENS) | st.text(max_size=5)
lineish = st.lists(st.tuples(tokens, st.sampled_from(_SEPARATORS)), max_size=20).map(
    lambda pairs: "".join(token + separator for token, separator in pairs)
)


def _check_parse(text: str) -> None:
    error: RequirementsError | None = None
    try:
        result = parse_requirements(
            text, filename="fuzz.txt", loader=_loader, environ={"VAR": "value"}
        )
    except RequirementsError as raised:
        error = raised
    if error is None:
        assert isinstance(result, RequirementSet)
        assert result.sources[0] == ("fuzz.txt", text)
    else:
        assert error.file in {"fuzz.txt", *_FILES}
        assert error.line is None or error.line >= 1
        assert str(error).startswith(f"{error.file}:")
        assert "\n" not in error.message


@SETTINGS
@given(st.text())
def test_arbitrary_text_parses_or_raises_requirements_error(text: str) -> None:
    _check_parse(text)


@SETTINGS
@given(lineish)
def test_option_soup_parses_or_raises_requirements_error(text: str) -> None:
    _check_parse(text)


@SETTINGS
@given(st.lists(st.text(max_size=30) | lineish, max_size=5))
def test_arbitrary_strings_parse_or_raise_requirements_error(strings: list[str]) -> None:
    error: RequirementsError | None = None
    try:
        parse_requirement_strings(strings, source="<fuzz>")
    except RequirementsError as raised:
        error = raised
    if error is not None:
        assert error.file == "<fuzz>"
        assert error.line is not None
        assert 1 <= error.line <= len(strings)


# -- option tokens: the fast split is shlex's ----------------------------------------

_OPTION_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@SETTINGS
@given(
    st.text(_OPTION_CHARACTERS, max_size=60) | st.text(" \t\r\n\x0b\x0c-=:'\"\\ab#", max_size=30)
)
def test_option_tokens_are_split_as_shlex_splits_them(text: str) -> None:
    try:
        expected: list[str] | str = shlex.split(text)
    except ValueError as exc:
        expected = f"ValueError: {exc}"
    try:
        got: list[str] | str = split_options_text(text)
    except ValueError as exc:
        got = f"ValueError: {exc}"
    assert got == expected


def test_a_hash_line_is_split_without_shlex(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> list[str]:
        raise AssertionError("shlex used")

    monkeypatch.setattr(shlex, "split", refuse)
    text = "--hash=sha256:ab12 \\\t --hash sha256:cd34"  # a backslash needs shlex...
    with pytest.raises(AssertionError, match="shlex used"):
        split_options_text(text)
    assert split_options_text("--hash=sha256:ab12\t --hash sha256:cd34 ") == [
        "--hash=sha256:ab12",
        "--hash",
        "sha256:cd34",
    ]

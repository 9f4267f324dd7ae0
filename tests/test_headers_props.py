"""Property tests: the email-free METADATA reader agrees with ``parse_email``.

:func:`reqlock.index.headers.core_fields` either gives exactly the fields that
:func:`packaging.metadata.parse_email` gives (for the seven reqlock reads) or
declines; checked on header blocks built from awkward pieces (folding, case,
duplicates, CR, form feeds, non-ASCII, encoded words, lines that are not headers,
bodies that look like headers), and on every METADATA installed next to reqlock.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.metadata import parse_email

from reqlock.index.headers import FIELDS, core_fields, email_fields

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

name = st.sampled_from(
    [
        "Metadata-Version",
        "Name",
        "name",
        "NAME",
        "Version",
        "Requires-Dist",
        "requires-dist",
        "Requires-Python",
        "Provides-Extra",
        "Dynamic",
        "Summary",
        "Author",
        "Description",
        "X.Odd_Name-1",
        "Bad Name",
        "From",
        "Requires-Dist ",
        "",
    ]
)
value = st.lists(
    st.sampled_from(
        [
            *"abc019 \t<>=!~;.,()[]'\"-_:@/*",
            *("é", "\u2028", "\x0c", "\x0b", "\x1c", "\x85", "\r", "\x00", "  "),
            "=?utf-8?q?x?=",
        ]
    ),
    max_size=12,
).map("".join)
separator = st.sampled_from([": ", ":", ":\t", ":  ", " : ", ""])
continuation = st.lists(st.sampled_from([" more", "\tmore", " ", "        indented"]), max_size=2)
line = st.tuples(name, separator, value, continuation)
body = st.sampled_from(["", "\n", "\nbody text\n", "\nRequires-Dist: from-body\n"])


def render(lines: list[tuple[str, str, str, list[str]]], newline: str, tail: str) -> str:
    parts = []
    for n, sep, v, more in lines:
        parts.append(n + sep + v)
        parts.extend(more)
    return newline.join(parts) + newline + tail


def oracle(data: bytes) -> dict[str, Any]:
    raw, _ = parse_email(data)
    return {key: raw[key] for key in FIELDS.values() if key in raw}  # type: ignore[literal-required]


@SETTINGS
@given(
    st.lists(line, max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    body,
    st.sampled_from(["utf-8", "latin-1"]),
)
def test_the_fast_reader_gives_what_parse_email_gives_or_declines(
    lines: list[tuple[str, str, str, list[str]]], newline: str, tail: str, encoding: str
) -> None:
    data = render(lines, newline, tail).encode(encoding, "replace")
    fast = core_fields(data)
    if fast is not None:
        assert fast == oracle(data)
    assert email_fields(data) == oracle(data)


def test_plain_metadata_takes_the_fast_path() -> None:
    data = (
        b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: d\xc3\xa9mo\n"
        b"Requires-Python: >=3.9  \nRequires-Dist: idna>=3\nRequires-Dist: rich; extra == 'x'\n"
        b"Provides-Extra: x\nDescription: a\n        folded description\n\nBody: not a header\n"
    )
    assert core_fields(data) == oracle(data)
    assert core_fields(data) == {
        "metadata_version": "2.1",
        "name": "demo",
        "version": "1.0",
        "requires_python": ">=3.9  ",
        "requires_dist": ["idna>=3", "rich; extra == 'x'"],
        "provides_extra": ["x"],
    }


def test_what_the_fast_reader_declines() -> None:
    for data in (
        b"Name: demo\r\nVersion: 1.0\n",  # CRLF and LF mixed
        b"Name: demo\rVersion: 1.0\r",  # bare CR
        b"Name: demo\nRequires-Dist: a;\n  python_version < '3'\n",  # one of ours folded
        b"Name: d\xc3\xa9mo\n",  # non-ASCII in one of ours
        b"Name: =?utf-8?q?demo?=\n",  # an encoded word
        b"Name: demo\nnot a header\nVersion: 1\n",  # the email parser's body starts there
        b"From someone\nName: demo\n",
    ):
        assert core_fields(data) is None, data
        assert email_fields(data) == oracle(data)


def test_every_installed_metadata_reads_the_same() -> None:
    fast = 0
    seen = 0
    for dist in importlib.metadata.distributions():
        path = dist.locate_file(f"{dist._path.name}/METADATA")  # type: ignore[attr-defined]
        try:
            data = path.read_bytes()  # type: ignore[union-attr]
        except (OSError, AttributeError):
            continue
        seen += 1
        result = core_fields(data)
        if result is not None:
            fast += 1
            assert result == oracle(data), dist.metadata["Name"]
    assert seen > 20
    assert fast >= seen * 0.8  # the point: nearly all of them need no email parser


def test_crlf_metadata_takes_the_fast_path() -> None:
    data = b"Metadata-Version: 2.4\r\nName: demo\r\nRequires-Dist: x  \r\n\r\nbody\n\nmore\n"
    assert (
        core_fields(data)
        == oracle(data)
        == {
            "metadata_version": "2.4",
            "name": "demo",
            "requires_dist": ["x  "],
        }
    )


def test_a_single_use_field_given_twice_is_left_out_as_parse_email_does() -> None:
    data = b"Name: a\nname: b\nVersion: 1\nRequires-Dist: x\nRequires-Dist: y\n"
    assert core_fields(data) == oracle(data) == {"version": "1", "requires_dist": ["x", "y"]}


def test_controls_that_may_break_lines_are_left_to_the_email_parser() -> None:
    # Some Python versions' email parser splits lines at these (str.splitlines).
    for control in (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e"):
        data = b"Summary: a" + control + b"Requires-Dist: evil\nName: x\n"
        assert core_fields(data) is None
        assert email_fields(data) == oracle(data)

"""Property tests: the RECORD digest gives the same answer as its first version.

The digest's canonical text is part of the lock format (every stored digest
depends on it), so the faster code in :mod:`reqlock.deploy.record` is checked
against the original, kept in ``tests/record_oracle.py``, on RECORDs built from
awkward pieces: commas, quotes, line breaks, backslashes, ``./`` prefixes, drive
letters, ``..``, ``__pycache__`` look-alikes, ``.data`` keys, bad hashes and sizes.
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reqlock.deploy import record
from tests import record_oracle as oracle

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DIST_INFO = "demo-1.0.dist-info"
DATA_DIR = "demo-1.0.data"

piece = st.sampled_from(
    [
        "demo",
        "mod.py",
        "__pycache__",
        "__pycache__x",
        "x__pycache__",
        "..",
        ".",
        "",
        "C:",
        "c:",
        "1:",
        "a,b",
        'q"t',
        "line\nbreak",
        "cr\rx",
        "back\\slash",
        DIST_INFO,
        DATA_DIR,
        "purelib",
        "platlib",
        "scripts",
        "data",
        "headers",
        "other",
        "RECORD",
        "INSTALLER",
        "direct_url.json",
        "é",
    ]
)
paths = st.lists(piece, min_size=1, max_size=4).map("/".join) | st.lists(piece, max_size=3).map(
    lambda parts: "./" + "/".join(parts)
)
hashes = st.sampled_from(
    ["", "sha256=abcDEF_-0", "SHA256=abc", "sha256=", "md5=x=y", "sha256=a b", "=abc", "nohash"]
)
sizes = st.sampled_from(["", "12", "0", "-1", "1.5", "١٢", "x"])
rows = st.lists(
    st.one_of(
        st.tuples(paths, hashes, sizes).map(list),
        st.lists(st.sampled_from(["a", "b", ""]), max_size=4),  # wrong field counts
    ),
    max_size=12,
)


def _record_text(table: list[list[str]], ending: str) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator=ending).writerows(table)
    return buffer.getvalue()


def _outcome(fn: object, *args: object, **kwargs: object) -> tuple[str, str]:
    try:
        return "digest", fn(*args, **kwargs)  # type: ignore[operator]
    except ValueError as exc:
        return "error", str(exc)


@SETTINGS
@given(table=rows, ending=st.sampled_from(["\n", "\r\n"]))
def test_wheel_digest_and_errors_match_the_original(table: list[list[str]], ending: str) -> None:
    text = _record_text(table, ending)
    new = _outcome(record.wheel_record_digest, text, dist_info=DIST_INFO, data_dir=DATA_DIR)
    old = _outcome(oracle.wheel_record_digest, text, dist_info=DIST_INFO, data_dir=DATA_DIR)
    assert new == old


@SETTINGS
@given(
    text=st.lists(
        st.sampled_from([*'ab,"\r\n=/_.\\', "__pycache__", "./", "C:/", DATA_DIR + "/"]),
        max_size=40,
    ).map("".join)
)
def test_wheel_digest_matches_the_original_on_raw_text(text: str) -> None:
    new = _outcome(record.wheel_record_digest, text, dist_info=DIST_INFO, data_dir=DATA_DIR)
    old = _outcome(oracle.wheel_record_digest, text, dist_info=DIST_INFO, data_dir=DATA_DIR)
    assert new == old


@SETTINGS
@given(
    table=st.lists(st.tuples(paths, st.one_of(st.none(), hashes)), max_size=12),
)
def test_installed_digest_matches_the_original(table: list[tuple[str, str | None]]) -> None:
    new = record.installed_record_digest(table, dist_info=DIST_INFO)
    assert new == oracle.installed_record_digest(table, dist_info=DIST_INFO)


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [("a", "sha256=x")],
        [("a,b", "sha256=x"), ("c", "")],
        [('q"t', "h"), ("x\ny", "h")],
        [("cr\rx", "h")],
        [("b", "h"), ("a", "h,i")],
    ],
)
def test_canonical_text_matches_the_original(lines: list[tuple[str, str]]) -> None:
    assert record._digest(list(lines)) == oracle._digest(list(lines))

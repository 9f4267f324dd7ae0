"""Reading lock files: every bad input is one LockFileError naming the place."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock

from reqlock.errors import LockFileError, ReqlockError
from reqlock.lockfile import lock_from_dict, parse_lock, read_lock

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SRC = str(Path(__file__).resolve().parent.parent / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}

GOOD = """\
lock-version = "1.0"
created-by = "reqlock"
environments = ["sys_platform == 'linux'"]
requires-python = ">=3.10"

[[packages]]
name = "alpha"
version = "1.0"
dependencies = [{name = "beta"}]

[[packages.wheels]]
name = "alpha-1.0-py3-none-any.whl"
url = "https://files.example/alpha-1.0-py3-none-any.whl"
upload-time = 2026-01-02T03:04:05Z
size = 1234
hashes = {sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}

[[packages]]
name = "beta"
version = "2.0"

[packages.sdist]
name = "beta-2.0.tar.gz"
url = "https://files.example/beta-2.0.tar.gz"
hashes = {sha256 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
"""


def test_reads_a_valid_lock(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text(GOOD)
    lock = read_lock(path)
    assert isinstance(lock, Pylock)
    assert [p.name for p in lock.packages] == ["alpha", "beta"]
    assert str(lock.packages[0].version) == "1.0"
    assert lock.packages[0].wheels is not None
    assert lock.packages[0].wheels[0].size == 1234


def test_not_toml_names_line_and_column() -> None:
    text = GOOD.replace('version = "2.0"', "version = 2.0.0")
    with pytest.raises(LockFileError) as info:
        parse_lock(text, path="pylock.toml")
    message = str(info.value)
    line = GOOD.splitlines().index('version = "2.0"') + 1
    assert message.startswith("pylock.toml: not valid TOML: ")
    assert f"(line {line}, column " in message
    assert info.value.path == "pylock.toml"
    assert "\n" not in message


def test_truncated_lock() -> None:
    text = GOOD[: GOOD.index("hashes = {sha256") + 12]
    with pytest.raises(LockFileError, match=r"not valid TOML: .*\(line \d+, column \d+\)"):
        parse_lock(text, path="p.toml")


def test_truncated_at_a_line_end_is_invalid_pep751() -> None:
    text = GOOD[: GOOD.index("[[packages.wheels]]")]
    with pytest.raises(LockFileError) as info:
        parse_lock(text, path="p.toml")
    assert info.value.key == "packages[0]"
    assert "Exactly one of vcs, directory, archive" in str(info.value)


def test_validation_error_names_the_key() -> None:
    text = GOOD.replace('name = "alpha-1.0-py3-none-any.whl"', 'name = "alpha-1.0.whl"')
    with pytest.raises(LockFileError) as info:
        parse_lock(text, path="pylock.toml")
    assert info.value.key == "packages[0].wheels[0]"
    assert str(info.value).startswith("pylock.toml [packages[0].wheels[0]]: not a valid PEP 751")


@pytest.mark.parametrize("version", ["2.0", "2", "0.9", "3.1", "2.0a1"])
def test_unknown_lock_version_major(version: str) -> None:
    text = GOOD.replace('lock-version = "1.0"', f'lock-version = "{version}"')
    with pytest.raises(LockFileError) as info:
        parse_lock(text, path="pylock.toml")
    assert info.value.key == "lock-version"
    assert f"lock-version {version} is not supported" in str(info.value)
    assert info.value.hint
    assert "upgrade reqlock" in info.value.hint


def test_unknown_major_is_reported_before_other_problems() -> None:
    with pytest.raises(LockFileError, match=r"lock-version 2\.0 is not supported"):
        parse_lock('lock-version = "2.0"\nsomething-new = 1\n', path="p")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('created-by = "x"\npackages = []\n', "lock-version"),
        ("lock-version = 1.0\n", 'must be a string such as "1.0"'),
        ('lock-version = "one"\n', "'one' is not a version"),
        ('lock-version = "1.0"\npackages = []\n', "created-by"),
        ('lock-version = "1.0"\ncreated-by = "x"\npackages = "no"\n', "packages"),
    ],
)
def test_missing_and_mistyped_keys(text: str, match: str) -> None:
    with pytest.raises(LockFileError, match=match):
        parse_lock(text, path="p")


def test_minor_version_is_read() -> None:
    lock = parse_lock(GOOD.replace('"1.0"', '"1.1"', 1), path="p")
    assert str(lock.lock_version) == "1.1"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(LockFileError, match="no such file"):
        read_lock(tmp_path / "missing.toml")
    with pytest.raises(LockFileError, match="is a directory"):
        read_lock(tmp_path)
    binary = tmp_path / "pylock.toml"
    binary.write_bytes(b'lock-version = "1.0"\n\xff\xfe\n')
    with pytest.raises(LockFileError, match=r"not UTF-8 text \(bad byte at line 2\)"):
        read_lock(binary)


def test_every_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text("[[packages]\n")
    code = (
        "import sys\nfrom reqlock.lockfile import read_lock\nfrom reqlock.errors import "
        "ReqlockError\ntry:\n    read_lock(sys.argv[1])\nexcept ReqlockError as e:\n"
        "    print(e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True, env=ENV
    )
    assert proc.stdout.count("\n") == 1
    assert proc.stderr == ""


def test_imports_no_http_code() -> None:
    code = (
        "import sys\nimport reqlock.lockfile\n"
        "bad = [m for m in ('httpx', 'httpcore', 'h11', 'resolvelib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)


# --------------------------------------------------------------------------- fuzzing

_toml_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(
    _toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "lock-version",
        "created-by",
        "packages",
        "environments",
        "requires-python",
        "extras",
        "dependency-groups",
        "default-groups",
        "tool",
        "name",
        "version",
        "wheels",
        "sdist",
        "vcs",
        "directory",
        "archive",
        "hashes",
        "url",
        "path",
        "marker",
        "dependencies",
        "index",
        "size",
        "upload-time",
        "commit-id",
        "type",
    ]
)


def _mutate(data: Any, keys: list[str], value: Any) -> Any:
    """Replace the value at one place of ``data`` (a path of keys/indexes)."""
    if not keys:
        return value
    key, rest = keys[0], keys[1:]
    if isinstance(data, dict):
        copy = dict(data)
        copy[key] = _mutate(copy.get(key), rest, value)
        return copy
    if isinstance(data, list) and data:
        copy = list(data)
        index = hash(key) % len(copy)
        copy[index] = _mutate(copy[index], rest, value)
        return copy
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_text_only_lockfileerror(text: str) -> None:
    with contextlib.suppress(LockFileError):
        parse_lock(text, path="fuzz.toml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_keys, min_size=1, max_size=4), _values)
def test_fuzz_structured_mutations_only_lockfileerror(keys: list[str], value: Any) -> None:
    good = tomllib.loads(GOOD)
    data = _mutate(good, keys, value)
    error: LockFileError | None = None
    try:
        lock_from_dict(data, path="fuzz.toml")
    except LockFileError as exc:
        error = exc
    assert error is None or str(error).startswith("fuzz.toml")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(GOOD)), st.text(max_size=8))
def test_fuzz_edited_text_only_lockfileerror(position: int, insert: str) -> None:
    text = GOOD[:position] + insert + GOOD[position + len(insert) :]
    error: ReqlockError | None = None
    try:
        parse_lock(text, path="fuzz.toml")
    except ReqlockError as exc:
        error = exc
    assert error is None or isinstance(error, LockFileError)


# -- strictness (unknown versions and keys warn; unsafe strings are errors) ---------


def test_a_newer_minor_version_and_unknown_keys_warn_through_the_caller() -> None:
    seen: list[str] = []
    text = "surprise = 1\n" + GOOD.replace('"1.0"', '"1.7"', 1)
    lock = parse_lock(text, path="p.toml", warn=seen.append)
    assert str(lock.lock_version) == "1.7"
    assert any("lock-version 1.7 is newer" in w for w in seen)
    assert any("unknown top-level keys ignored: surprise" in w for w in seen)


def test_packaging_logs_nothing_for_a_newer_minor(caplog: pytest.LogCaptureFixture) -> None:
    parse_lock(GOOD.replace('"1.0"', '"1.7"', 1), path="p", warn=lambda _: None)
    assert not [r for r in caplog.records if r.name.startswith("packaging")]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('url = "https://', 'url = "https://example.com/x\\n-r /etc/passwd#', "url"),
        ('url = "https://', 'url = "ftp://', "url"),
        ('url = "https://', 'url = "https://${AWS_SECRET_ACCESS_KEY}@evil.example/', "url"),
        ('sha256 = "aaaa', 'sha256 = "aa\\n--trusted-host evil aaaa', "hashes.sha256"),
        ('sha256 = "aaaa', 'sha256 = "zz', "hashes.sha256"),
    ],
)
def test_unsafe_strings_are_errors_naming_the_key(old: str, new: str, key: str) -> None:
    assert old in GOOD
    with pytest.raises(LockFileError) as info:
        parse_lock(GOOD.replace(old, new, 1), path="p")
    assert info.value.key is not None
    assert info.value.key.startswith("packages[0]")
    assert info.value.key.endswith(key)


def test_an_index_with_an_option_smuggled_in_is_an_error() -> None:
    text = GOOD.replace(
        'name = "alpha"', 'name = "alpha"\nindex = "https://i/ --trusted-host x"', 1
    )
    with pytest.raises(LockFileError, match=r"packages\[0\]\.index"):
        parse_lock(text, path="p")


def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "pylock.toml"
    os.mkfifo(fifo)
    with pytest.raises(LockFileError, match="not a regular file"):
        read_lock(fifo)

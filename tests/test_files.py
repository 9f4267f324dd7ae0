"""The one atomic writer and the bounded reader (reqlock.files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import reqlock.files
from reqlock.files import NotARegularFile, TooLarge, read_regular, write_atomic


def test_write_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "pylock.toml"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pylock.toml"]


def test_a_new_file_gets_the_mode_asked_for(tmp_path: Path) -> None:
    write_atomic(tmp_path / "deep" / "x", b"1", mode=0o600)
    assert (tmp_path / "deep" / "x").stat().st_mode & 0o777 == 0o600


def test_nothing_named_exists_while_the_data_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed (SIGKILL) while writing leaves no temporary file: until the
    data is complete the file has no name in the directory."""
    target = tmp_path / "pylock.toml"
    target.write_text("old")
    seen: list[list[str]] = []
    real = reqlock.files._write_all

    def watching(fd: int, data: bytes) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        real(fd, data)

    monkeypatch.setattr(reqlock.files, "_write_all", watching)
    write_atomic(target, b"new")
    if reqlock.files._anonymous_file(tmp_path) is None:  # pragma: no cover - no O_TMPFILE
        pytest.skip("this file system has no O_TMPFILE")
    assert seen == [["pylock.toml"]]
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("anonymous", [True, False])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anonymous: bool
) -> None:
    target = tmp_path / "pylock.toml"
    target.write_text("old")
    if not anonymous:
        monkeypatch.setattr(reqlock.files, "_anonymous_file", lambda directory: None)

    def interrupted(fd: int, data: bytes) -> None:
        os.write(fd, data[:1])
        raise KeyboardInterrupt

    monkeypatch.setattr(reqlock.files, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pylock.toml"]


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("old")
    link = tmp_path / "pylock.toml"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_read_regular_refuses_fifos_devices_and_large_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile):
        read_regular(fifo, limit=10)
    with pytest.raises(NotARegularFile):
        read_regular("/dev/zero", limit=10)
    with pytest.raises(NotARegularFile):
        read_regular(tmp_path, limit=10)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    with pytest.raises(TooLarge):
        read_regular(big, limit=10)
    assert read_regular(big, limit=11) == b"x" * 11

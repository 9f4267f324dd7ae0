"""`reqlock lock` from the command line: outputs, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reqlock.cli.main import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_lock_writes_file_and_summary(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("extras-a[y]\n")
    out = tmp_path / "pylock.toml"
    code, stdout, stderr = _run(
        ["lock", str(req), "-o", str(out), "-i", index_url, "--cache-dir", str(tmp_path / "c")],
        capsys,
    )
    assert code == 0
    assert stdout == ""
    assert stderr.startswith("Locked 3 packages into ")
    assert 'name = "extras-a"' in out.read_text()


def test_lock_to_stdout(tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("leaf-a\n")
    code, stdout, _ = _run(["lock", str(req), "-o", "-", "-i", index_url, "--no-cache"], capsys)
    assert code == 0
    assert stdout.startswith('lock-version = "1.0"')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("leaf-a\n-e ./src\n", "requirements.txt:2"),
        ("leaf-a ==\n", "requirements.txt:1"),
        ("conflict-a\nconflict-b\n", "conflict-shared==1.0"),
        ("no-such-project\n", "no project named no-such-project"),
    ],
)
def test_errors_are_one_message_and_exit_2(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("leaf-a\n")
    out = tmp_path / "pylock.toml"
    assert _run(["lock", str(req), "-o", str(out), "-i", index_url, "--no-cache"], capsys)[0] == 0
    before = out.read_bytes()
    req.write_text(text)
    code, _, stderr = _run(
        ["lock", str(req), "-o", str(out), "-i", index_url, "--no-cache"], capsys
    )
    assert code == 2
    assert stderr.startswith("error: ")
    assert expected in stderr
    assert "Traceback" not in stderr
    # A failed run leaves the previous lock byte for byte.
    assert out.read_bytes() == before


def test_missing_default_requirements_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, stderr = _run(["lock"], capsys)
    assert code == 2
    assert "requirements.txt" in stderr


def test_bad_target_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = _run(["lock", "--target", "solaris-sparc-py3.12"], capsys)
    assert code == 2
    assert "linux-x86_64" in stderr  # the valid forms are listed


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reqlock", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("reqlock ")

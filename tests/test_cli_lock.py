"""`reqlock lock` from the command line: outputs, exit codes, one-line errors."""

from __future__ import annotations

import os
import re
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


# -- what a user sees, in full ---------------------------------------------------------


def test_the_cli_writes_exactly_what_the_api_returns(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from reqlock import lock
    from reqlock.settings import Options

    req = tmp_path / "requirements.txt"
    req.write_text("extras-a[y]\n")
    out = tmp_path / "pylock.toml"
    code, _, stderr = _run(
        ["lock", str(req), "-o", str(out), "-i", index_url, "--no-cache"], capsys
    )
    assert code == 0
    assert re.fullmatch(
        rf"Locked 3 packages into {re.escape(str(out))} in \d+\.\d s\n  \+ extras-a 1\.0\n"
        r"  \+ leaf-a 2\.0\n  \+ leaf-b 3\.0\n",
        stderr,
    ), stderr
    expected = lock([req], options=Options(index_url=index_url, no_cache=True)).to_toml()
    assert out.read_text() == expected


def test_an_output_name_pep_751_does_not_allow_is_warned_about(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("leaf-a\n")
    out = tmp_path / "web.pylock.toml"
    code, _, stderr = _run(
        ["lock", str(req), "-o", str(out), "-i", index_url, "--no-cache"], capsys
    )
    assert code == 0
    assert stderr.startswith("warning: 'web.pylock.toml' is not a PEP 751 lock file name")
    assert out.exists()
    for good in ("pylock.toml", "pylock.web.toml"):
        _run(["lock", str(req), "-o", str(tmp_path / good), "-i", index_url, "--no-cache"], capsys)
    code, _, stderr = _run(
        ["lock", str(req), "-o", str(tmp_path / "pylock.web.toml"), "-i", index_url, "--no-cache"],
        capsys,
    )
    assert "warning" not in stderr


def test_a_symlinked_output_is_written_through(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("leaf-a\n")
    real = tmp_path / "locks" / "pylock.toml"
    real.parent.mkdir()
    _run(["lock", str(req), "-o", str(real), "-i", index_url, "--no-cache"], capsys)
    req.write_text("leaf-a<2\n")
    link = tmp_path / "pylock.toml"
    link.symlink_to(real)
    code, _, _ = _run(["lock", str(req), "-o", str(link), "-i", index_url, "--no-cache"], capsys)
    assert code == 0
    assert link.is_symlink()
    assert 'version = "1.1"' in real.read_text()  # leaf-a<2
    assert sorted(p.name for p in real.parent.iterdir()) == ["pylock.toml"]  # no temp file


@pytest.mark.parametrize(
    "url",
    [
        "https://host:99999999/simple/",
        "https://host:abc/simple/",
        "https://[::1/simple/",
        "https://host:0/simple/",
        "https://ho st/simple/",
    ],
)
def test_malformed_index_urls_are_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("leaf-a\n")
    code, _, stderr = _run(
        ["lock", str(req), "-o", str(tmp_path / "pylock.toml"), "-i", url], capsys
    )
    assert code == 2
    assert stderr.startswith("error: --index-url: ")
    assert "Traceback" not in stderr
    assert not (tmp_path / "pylock.toml").exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_an_included_file_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = "/dev/zero"
    if kind == "fifo":
        fifo = tmp_path / "more.txt"
        os.mkfifo(fifo)
        target = str(fifo)
    req = tmp_path / "requirements.txt"
    req.write_text(f"-r {target}\n")
    code, _, stderr = _run(["lock", str(req), "-o", str(tmp_path / "pylock.toml")], capsys)
    assert code == 2
    assert f"{req}:1" in stderr
    assert "not a regular file" in stderr


def test_universal_lock_from_the_command_line(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("markers-top\n")
    out = tmp_path / "pylock.toml"
    args = ["lock", "--universal", "--python-requires", ">=3.10", str(req), "-o", str(out)]
    code, _, stderr = _run([*args, "-i", index_url, "--no-cache"], capsys)
    assert code == 0, stderr
    text = out.read_text()
    assert 'requires-python = ">=3.10"' in text
    assert 'marker = "python_version < \\"3.11\\""' in text  # the backport
    assert 'marker = "sys_platform == \\"win32\\""' in text
    assert "universal = true" in text
    narrowed = [*args, "--universal-environment", 'sys_platform == "linux"']
    code, _, stderr = _run([*narrowed, "-i", index_url, "--no-cache"], capsys)
    assert code == 0, stderr
    assert "marker-win" not in out.read_text()
    code, _, stderr = _run([*args, "--python-requires", "3.x", "-i", index_url], capsys)
    assert code == 2
    assert "'3.x' is not a Python version range" in stderr

"""inventory: nothing of the environment runs; the path is the one ``site`` builds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from reqlock.deploy import inventory_script as _script
from reqlock.deploy.inventory import inventory
from tests.test_inventory import env_python, fake_install, site_packages


def make_env(root: Path, *, system_site: bool = False, python: str | None = None) -> str:
    if python is None:
        venv.EnvBuilder(
            with_pip=False, system_site_packages=system_site, symlinks=os.name != "nt"
        ).create(root)
    else:
        options = ["--system-site-packages"] if system_site else []
        proc = subprocess.run(
            [python, "-m", "venv", "--without-pip", *options, str(root)],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"{python} cannot make a venv: {proc.stderr.decode()[-200:]}")
    return env_python(root)


def real_path(python: str, cwd: Path) -> list[str]:
    """The directories on ``sys.path`` when ``python`` starts with ``site`` (no user
    site, no PYTHON* variables, as ``-I``), each real directory once."""
    proc = subprocess.run(
        [python, "-E", "-s", "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    seen = set()
    found = []
    for entry in json.loads(proc.stdout):
        real = os.path.realpath(entry)
        if os.path.isdir(entry) and real not in seen:
            seen.add(real)
            found.append(entry)
    return found


@pytest.fixture
def env(tmp_path: Path) -> tuple[str, Path]:
    python = make_env(tmp_path / "venv")
    return python, site_packages(python)


def test_pth_import_lines_are_recorded_not_run(env: tuple[str, Path], tmp_path: Path) -> None:
    python, site = env
    marker = tmp_path / "marker"
    line = f"import os; open({str(marker)!r}, 'w').close()"
    (site / "evil.pth").write_text(f"# a comment\n{line}\n")
    (site / "tabbed.pth").write_text("import\tos\n")

    inv = inventory(python, check_files=True)
    assert not marker.exists()
    assert inv.pth_imports == (f"{site / 'evil.pth'}: {line}", f"{site / 'tabbed.pth'}: import\tos")
    # The same file does run when the interpreter starts normally: the test is real.
    subprocess.run([python, "-c", "pass"], check=True)
    assert marker.exists()


def test_pth_directories_are_on_the_path(env: tuple[str, Path], tmp_path: Path) -> None:
    python, site = env
    absolute = tmp_path / "absolute"
    relative = site / "relative"
    fake_install(absolute, "far", "1.0")
    fake_install(relative, "near", "2.0")
    (site / "a.pth").write_text(
        f"\n# {tmp_path / 'commented'}\n{absolute}\n  \nrelative\n{tmp_path / 'missing'}\n"
    )
    (site / "b.pth").write_text(f"{absolute}\n")  # known already: once only
    (tmp_path / "commented").mkdir()
    inv = inventory(python)
    assert [d.name for d in inv.dists] == ["far", "near"]
    assert inv.path[-3:] == (str(site), str(absolute), str(relative))
    assert list(inv.path) == real_path(python, tmp_path)


def test_system_site_packages_venv(tmp_path: Path) -> None:
    python = make_env(tmp_path / "venv", system_site=True)
    site = site_packages(python)
    fake_install(site, "mine", "1.0")
    inv = inventory(python)
    assert list(inv.path) == real_path(python, tmp_path)
    base = [p for p in inv.path if p.startswith(sys.base_prefix) and "-packages" in p]
    assert base, inv.path
    assert inv.path.index(str(site)) < inv.path.index(base[0])
    assert inv.get("mine") is not None
    assert os.path.samefile(inv.prefix, tmp_path / "venv")


def test_isolated_venv_prefix_is_the_venv(env: tuple[str, Path], tmp_path: Path) -> None:
    python, site = env
    inv = inventory(python)
    assert os.path.samefile(inv.prefix, tmp_path / "venv")
    assert list(inv.path) == real_path(python, tmp_path)
    assert str(site) in inv.path


def test_environment_variables_do_not_reach_the_script(
    env: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python, _ = env
    elsewhere = tmp_path / "elsewhere"
    fake_install(elsewhere, "sneaky", "1.0")
    (elsewhere / "sitecustomize.py").write_text("raise SystemExit('sitecustomize ran')\n")
    monkeypatch.setenv("PYTHONPATH", str(elsewhere))
    monkeypatch.setenv("PYTHONSTARTUP", str(elsewhere / "sitecustomize.py"))
    inv = inventory(python)
    assert inv.get("sneaky") is None


# --------------------------------------------------------------------------- other Pythons


def _runnable(name: str) -> str | None:
    found = shutil.which(name)
    if found is None:
        return None
    proc = subprocess.run([found, "-c", "pass"], capture_output=True, check=False)
    return found if proc.returncode == 0 else None


def _other_pythons() -> list[str]:
    names = ["python3.8", "python3.9", "python3.12", "python3.13", "/usr/bin/python3"]
    # pyenv's shims run only the selected versions; its installs run anyway.
    root = os.environ.get("PYENV_ROOT")
    if root:
        for version in sorted(Path(root, "versions").glob("3.*")):
            minor = version.name.split(".")[1]
            if minor.isdigit() and int(minor) >= 8:
                names.append(str(version / "bin" / "python3"))
    return names


OTHER_PYTHONS = _other_pythons()


@pytest.mark.parametrize("name", OTHER_PYTHONS)
@pytest.mark.parametrize("system_site", [False, True])
def test_other_interpreters_get_the_path_site_builds(
    name: str, system_site: bool, tmp_path: Path
) -> None:
    found = _runnable(name)
    if found is None:
        pytest.skip(f"no runnable {name}")
    python = make_env(tmp_path / "venv", system_site=system_site, python=found)
    site = site_packages(python)
    fake_install(site, "alpha", "1.0")
    (site / "x.pth").write_text(f"import sys\n{tmp_path}\n")
    # Python 3.13 skips .pth files whose names start with a dot; older ones read them.
    (tmp_path / "dotted").mkdir()
    (site / ".dotted.pth").write_text(f"{tmp_path / 'dotted'}\n")
    inv = inventory(python, check_files=True)
    assert list(inv.path) == real_path(python, tmp_path)
    assert [d.name for d in inv.dists if d.location == str(site)] == ["alpha"]
    # The venv's site directory first; with system site packages, the base's follow.
    assert inv.pth_imports[0] == f"{site / 'x.pth'}: import sys"
    assert system_site or len(inv.pth_imports) == 1
    assert inv.file_issues is not None
    assert [i for i in inv.file_issues if i.dist.startswith(str(site))] == []
    alpha = inv.get("alpha")
    assert alpha is not None
    assert alpha.record_digest is not None


def test_compact_source_runs_the_same_script(tmp_path: Path) -> None:
    python = make_env(tmp_path / "venv")
    fake_install(site_packages(python), "alpha", "1.0")
    answers = []
    for compact in (False, True):
        proc = _script.launch(python, [], compact=compact)
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        answers.append(json.loads(out))
    assert answers[0] == answers[1]
    # Windows takes at most 32767 characters on a command line; Linux 128 KiB an argument.
    assert len(_script.compact_source()) < 30000
    assert len(_script.script_source().encode()) < 120 * 1024

"""Live PyPI: reqlock's pins equal pip's for the same input at the same time.

Marked ``pypi``; skipped, saying why, only when PyPI cannot be reached.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from packaging.pylock import Pylock

from reqlock import lock, parse_target
from tests.fakeindex.pipcheck import isolated_pip_env
from tests.lockapi import with_options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.pypi

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PYPI = "https://pypi.org/simple/"


@pytest.fixture(scope="module", autouse=True)
def _pypi_reachable() -> None:
    try:
        httpx.get(f"{PYPI}pip/", timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"PyPI cannot be reached: {exc}")


def _pins(lock_text: str) -> dict[str, str]:
    model = Pylock.from_dict(tomllib.loads(lock_text))
    return {p.name: str(p.version) for p in model.packages}


@pytest.mark.parametrize("corpus", ["trio.in", "jupyter.in"])
def test_same_pins_as_pip_lock(corpus: str, tmp_path: Path) -> None:
    source = CORPUS / corpus
    if not source.exists():
        pytest.skip(f"{source} is not there (../shared/corpus is outside the repo)")
    ours = lock([source], **with_options(index_url=PYPI, cache_dir=tmp_path / "cache")).to_toml()
    pip_out = tmp_path / "pip-pylock.toml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "lock",
            "--no-input",
            "--index-url",
            PYPI,
            "-r",
            str(source),
            "-o",
            str(pip_out),
        ],
        capture_output=True,
        text=True,
        env=isolated_pip_env(),
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _pins(ours) == _pins(pip_out.read_text())


UV_PLATFORMS = {
    "linux-x86_64-py3.12": ("x86_64-unknown-linux-gnu", "3.12"),
    "macos-arm64-py3.12": ("aarch64-apple-darwin", "3.12"),
    "windows-amd64-py3.11": ("x86_64-pc-windows-msvc", "3.11"),
}


def _uv() -> str | None:
    import shutil

    found = Path(sys.executable).parent / "uv"
    return str(found) if found.exists() else shutil.which("uv")


def test_multi_target_pins_equal_uv_per_platform(tmp_path: Path) -> None:
    from packaging.utils import canonicalize_name

    from reqlock.targets import parse_target

    source = CORPUS / "web.in"
    uv = _uv()
    if not source.exists() or uv is None:
        pytest.skip("needs ../shared/corpus/web.in and uv (the test extra)")
    targets = [parse_target(spec) for spec in UV_PLATFORMS]
    result = lock(
        [source], **with_options(index_url=PYPI, targets=targets, cache_dir=tmp_path / "cache")
    )
    model = Pylock.from_dict(tomllib.loads(result.to_toml()))
    for target in targets:
        ours = {
            p.name: str(p.version)
            for p, _ in model.select(environment=dict(target.environment), tags=list(target.tags))
        }
        platform, version = UV_PLATFORMS[target.name]
        out = tmp_path / f"{target.name}.txt"
        proc = subprocess.run(
            [
                uv,
                "pip",
                "compile",
                "-q",
                "--no-config",
                "--no-header",
                "--no-annotate",
                "--python-platform",
                platform,
                "--python-version",
                version,
                "--index-url",
                PYPI,
                str(source),
                "-o",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=isolated_pip_env(),
            check=False,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        theirs = {}
        for line in out.read_text().splitlines():
            if "==" in line and not line.startswith((" ", "#")):
                name, _, pin = line.partition("==")
                theirs[canonicalize_name(name)] = pin.split(";")[0].strip()
        assert ours == theirs, target.name
        assert ("pywin32" in ours) == target.name.startswith("windows")


IDNA_WHEEL = (
    "https://files.pythonhosted.org/packages/e5/3e/"
    "741d8c82801c347547f8a2a06aa57dbb1992be9e948df2ea0eda2c8b79e8/idna-3.7-py3-none-any.whl"
)
IDNA_SHA256 = "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0"


def test_public_archive_url_is_locked_as_an_archive(tmp_path: Path) -> None:
    result = lock(
        requirements=[f"idna @ {IDNA_WHEEL}#sha256={IDNA_SHA256}"],
        **with_options(index_url=PYPI, cache_dir=tmp_path / "cache", lock_dir=tmp_path),
    )
    (package,) = result.pylock.packages
    assert package.archive is not None
    assert package.archive.url == IDNA_WHEEL
    assert package.archive.hashes == {"sha256": IDNA_SHA256}
    assert str(package.version) == "3.7"


@pytest.mark.scale
def test_apache_airflow_all_resolves_and_pip_accepts_the_lock(tmp_path: Path) -> None:
    """The hardest public graph we know (300+ projects; litellm, openai and
    azure-ai-projects releases in conflict). Slow on a cold cache: marked ``scale``,
    run with ``pytest -m scale``. pip builds the metadata of the lock's 15
    sdist-only releases (gssapi, mysqlclient, python-ldap among them), which needs
    system headers: Debian's libkrb5-dev, default-libmysqlclient-dev, pkg-config,
    libldap2-dev and libsasl2-dev."""
    missing = [
        tool
        for tool, ok in (
            ("krb5-config (libkrb5-dev)", shutil.which("krb5-config") is not None),
            ("pkg-config mysqlclient", _pkg_config("mysqlclient")),
            ("ldap.h (libldap2-dev)", Path("/usr/include/ldap.h").exists()),
            ("sasl.h (libsasl2-dev)", Path("/usr/include/sasl/sasl.h").exists()),
        )
        if not ok
    ]
    if missing:
        pytest.skip(f"pip cannot build the lock's sdists here; missing: {', '.join(missing)}")
    result = lock(
        requirements=["apache-airflow[all]"],
        **with_options(
            index_url=PYPI,
            cache_dir=tmp_path / "cache",
            lock_dir=tmp_path,
            targets=[parse_target("linux-x86_64-py3.11")],
        ),
    )
    path = tmp_path / "pylock.toml"
    result.write(path)
    names = {p.name for p in result.pylock.packages}
    assert len(names) > 300
    assert "apache-airflow" in names
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-input",
            "-r",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=isolated_pip_env(),
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Would install" in proc.stdout


def _pkg_config(name: str) -> bool:
    if shutil.which("pkg-config") is None:
        return False
    return subprocess.run(["pkg-config", "--exists", name], check=False).returncode == 0

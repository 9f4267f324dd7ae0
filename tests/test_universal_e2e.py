"""End to end: one universal lock, synced with real pip into two real Pythons.

A small web stack (a framework, its router, templates with an i18n extra, an
sdist-only escaping library, a server whose newest release needs Python 3.12, a
backport only older Pythons need, a Windows-only console helper and projects with
platform wheels) is served on 127.0.0.1 and locked once with ``--universal``. Then,
for this machine's Python 3.11 and a Python 3.12:

* a fresh virtual environment is synced from the lock (``reqlock.sync``, which runs
  pip with hashes) and verified (``reqlock.verify``) with no problem, and what is
  installed is exactly ``Pylock.select()`` for that interpreter, its environment and
  tags read from the interpreter itself with ``packaging``;
* ``reqlock export --target`` for that interpreter's platform writes requirements
  that pip accepts with ``--require-hashes`` (a dry run into a fresh environment)
  and that resolve to the same selection.

A Python 3.12 is looked for on PATH, with ``uv python find``, among pyenv's
versions, then installed by ``uv python install`` into a temporary directory (which
needs the network); the 3.12 cases are skipped, saying what was tried, without one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import packaging
import pytest
from packaging.pylock import Pylock
from packaging.tags import Tag
from packaging.utils import canonicalize_name

from reqlock import lock, sync, verify
from reqlock.cli.main import main
from reqlock.lockfile import read_lock
from reqlock.settings import Options
from reqlock.targets import PRESETS, parse_target
from tests.fakeindex import Universe, build_universe, make_app, serve

pytestmark = pytest.mark.e2e

_WEB_PLATFORMS = ("manylinux_2_17_x86_64", "manylinux_2_17_aarch64", "macosx_11_0_arm64")


def _wheels(minors: range, platforms: tuple[str, ...]) -> str:
    tags = [f"cp3{m}-cp3{m}-{p}" for p in platforms for m in minors]
    return "[" + ", ".join(f'"{tag}"' for tag in tags) + "]"


UNIVERSE_TOML = f"""
[projects.webframe]
purpose = "the framework: a backport before 3.12, a console helper on Windows"
[projects.webframe.releases."3.0"]
upload_time = "2024-03-01T10:00:00Z"
requires_python = ">=3.9"
requires_dist = [
    "routekit>=1",
    "templar[i18n]>=2",
    'taskgroup>=1; python_version < "3.12"',
    'winconsole; sys_platform == "win32"',
]
wheels = ["py3-none-any"]
sdist = "static"

[projects.routekit.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]
[projects.routekit.releases."1.2"]
upload_time = "2024-02-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.templar]
purpose = "templates; [i18n] pulls babelish; needs the sdist-only escaper"
[projects.templar.releases."2.1"]
upload_time = "2024-02-01T10:00:00Z"
provides_extras = ["i18n"]
requires_dist = ["escaper>=1", 'babelish>=1; extra == "i18n"']
wheels = ["py3-none-any"]

[projects.escaper]
purpose = "sdist only: pip builds it"
[projects.escaper.releases."1.1"]
upload_time = "2024-01-01T10:00:00Z"
sdist = "static"

[projects.babelish.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.taskgroup.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.winconsole.releases."0.4"]
upload_time = "2024-01-01T10:00:00Z"
wheels = ["py3-none-any"]

[projects.asgiserver]
purpose = "the server: 2.0 needs Python 3.12 and a fast event loop off Windows"
[projects.asgiserver.releases."1.4"]
upload_time = "2024-01-01T10:00:00Z"
requires_python = ">=3.9"
wheels = ["py3-none-any"]
[projects.asgiserver.releases."2.0"]
upload_time = "2024-04-01T10:00:00Z"
requires_python = ">=3.12"
requires_dist = ['fastloop>=1; sys_platform != "win32"']
wheels = ["py3-none-any"]

[projects.fastloop]
purpose = "platform wheels for 3.12 and 3.13, an sdist for the rest"
[projects.fastloop.releases."1.0"]
upload_time = "2024-01-01T10:00:00Z"
requires_python = ">=3.12"
wheels = {_wheels(range(12, 14), _WEB_PLATFORMS)}
sdist = "static"

[projects.jsonfast]
purpose = "platform wheels for every Python of the lock, an sdist for the rest"
[projects.jsonfast.releases."2.2"]
upload_time = "2024-01-01T10:00:00Z"
wheels = {_wheels(range(10, 14), (*_WEB_PLATFORMS, "win_amd64"))}
sdist = "static"
"""

REQUIREMENTS = """\
webframe
asgiserver
jsonfast; implementation_name == "cpython"
"""

# What each Python installs, by the design above (escaper from its sdist).
COMMON = {
    "webframe": "3.0",
    "routekit": "1.2",
    "templar": "2.1",
    "babelish": "1.0",
    "escaper": "1.1",
    "jsonfast": "2.2",
}
BY_PYTHON = {
    "3.11": {**COMMON, "taskgroup": "1.0", "asgiserver": "1.4"},
    "3.12": {**COMMON, "asgiserver": "2.0", "fastloop": "1.0"},
}

# Run inside the interpreter under test: its marker environment and tags, from the
# test's own ``packaging`` (pure Python), appended to sys.path so nothing else of the
# test environment is imported.
_FACTS = """
import json, sys
sys.path.append(sys.argv[1])
from packaging.markers import default_environment
from packaging.tags import sys_tags
print(json.dumps({"env": default_environment(), "tags": [str(t) for t in sys_tags()]}))
"""
_INSTALLED = """
import json, importlib.metadata as m
print(json.dumps({d.metadata["Name"]: d.version for d in m.distributions()}))
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Interpreter:
    python: str
    environment: Mapping[str, str]
    tags: tuple[Tag, ...]


def _run(command: list[str], env: Mapping[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(
        command, capture_output=True, text=True, env=dict(env), timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _version_of(python: str, env: Mapping[str, str]) -> str | None:
    """``X.Y`` of the interpreter, or None when it does not run (a pyenv shim whose
    version is not selected exits with 127, say)."""
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        proc = subprocess.run(
            [python, "-c", code],
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _uv() -> Path | None:
    beside = Path(sys.executable).parent / ("uv.exe" if sys.platform == "win32" else "uv")
    return beside if beside.exists() else None


def _last_line(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = (text or "").strip().splitlines()
    return lines[-1].strip() if lines else ""


def _uv_find(uv: Path, version: str, env: Mapping[str, str], tried: list[str]) -> str | None:
    """What ``uv python find`` gives, if it runs as ``version``."""
    what = f"`uv python find {version}`"
    try:
        proc = subprocess.run(
            [str(uv), "python", "find", "--no-config", version],
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        tried.append(f"{what} ({exc})")
        return None
    found = proc.stdout.strip()
    if proc.returncode == 0 and found and _version_of(found, env) == version:
        return found
    tried.append(f"{what} (exit {proc.returncode}: {_last_line(proc.stderr) or found})")
    return None


def _uv_install(uv: Path, version: str, env: Mapping[str, str], tried: list[str]) -> bool:
    """Whether ``uv python install`` succeeded (it needs the network)."""
    what = f"`uv python install {version}`"
    try:
        proc = subprocess.run(
            [str(uv), "python", "install", "--no-config", version],
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        tried.append(f"{what} ({exc})")
        return False
    if proc.returncode != 0:
        tried.append(f"{what} (exit {proc.returncode}: {_last_line(proc.stderr)})")
    return proc.returncode == 0


def find_python(version: str, scratch: Path, env: Mapping[str, str]) -> tuple[str | None, str]:
    """An interpreter for ``version`` (``X.Y``) that runs, and what was tried."""
    tried: list[str] = []
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    on_path = shutil.which(f"python{version}")
    if on_path is None:
        tried.append(f"python{version} on PATH (none)")
    candidates = [sys.executable] if here == version else []
    candidates += [c for c in (on_path, f"/usr/bin/python{version}") if c and Path(c).exists()]
    for candidate in dict.fromkeys(candidates):
        if _version_of(candidate, env) == version:
            return candidate, ""
        tried.append(f"{candidate} (does not run as {version})")
    uv = _uv()
    found = None if uv is None else _uv_find(uv, version, env, tried)
    if found is not None:
        return found, ""
    # uv does not look into pyenv's versions (and stops at a pyenv shim it cannot
    # run, which is first on PATH here): pyenv keeps each under $PYENV_ROOT/versions.
    pyenv = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for directory in sorted(pyenv.glob(f"{version}.*"), reverse=True):
        candidate = str(directory / "bin" / f"python{version}")
        if _version_of(candidate, env) == version:
            return candidate, ""
        tried.append(f"{candidate} (does not run)")
    if uv is None:
        tried.append(f"uv (not next to {sys.executable})")
        return None, "; ".join(tried)
    # Into a scratch directory: the machine's own uv installs stay untouched.
    scratch_env = {
        **env,
        "UV_PYTHON_INSTALL_DIR": str(scratch / "pythons"),
        "UV_CACHE_DIR": str(scratch / "cache"),
    }
    if _uv_install(uv, version, scratch_env, tried):
        found = _uv_find(uv, version, scratch_env, tried)
        if found is not None:
            return found, ""
    return None, "; ".join(tried)


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def universe(tmp_path_factory: pytest.TempPathFactory) -> Universe:
    root = tmp_path_factory.mktemp("universal-e2e")
    data = root / "universe.toml"
    data.write_text(UNIVERSE_TOML, encoding="utf-8")
    return build_universe(data, root / "files")


@pytest.fixture(scope="module")
def index_url(universe: Universe) -> Iterator[str]:
    with serve(make_app(universe)) as base:
        yield f"{base}/simple/"


@pytest.fixture(scope="module")
def lock_path(index_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("universal-e2e-lock")
    requirements = work / "requirements.txt"
    requirements.write_text(REQUIREMENTS, encoding="utf-8")
    options = Options(
        index_url=index_url,
        universal=True,
        requires_python=">=3.10",
        no_cache=True,
        lock_dir=work,
    )
    result = lock([requirements], options=options, environ={"NETRC": os.devnull})
    path = work / "pylock.toml"
    assert result.write(path)
    return path


@pytest.fixture(scope="module", params=sorted(BY_PYTHON))
def interpreter(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    isolated_pip_env: dict[str, str],
) -> Interpreter:
    version: str = request.param
    python, tried = find_python(version, tmp_path_factory.mktemp("pythons"), isolated_pip_env)
    if python is None:
        pytest.skip(f"no Python {version} found: tried {tried}")
    where = str(Path(packaging.__file__).resolve().parent.parent)
    facts = json.loads(_run([python, "-c", _FACTS, where], isolated_pip_env))
    assert facts["env"]["python_version"] == version
    return Interpreter(
        python=python,
        environment=facts["env"],
        tags=tuple(Tag(*t.split("-")) for t in facts["tags"]),
    )


def _venv(interp: Interpreter, root: Path, env: Mapping[str, str]) -> str:
    """A fresh environment (without pip: sync and the tests run this pip with --python)."""
    _run([interp.python, "-m", "venv", "--without-pip", str(root)], env)
    return str(root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python"))


def _selection(pylock: Pylock, environment: Mapping[str, str], tags: list[Tag]) -> dict[str, str]:
    chosen = pylock.select(environment=dict(environment), tags=tags)  # type: ignore[arg-type]
    return {str(package.name): str(package.version) for package, _ in chosen}


def _installed(python: str, env: Mapping[str, str]) -> dict[str, str]:
    found = json.loads(_run([python, "-c", _INSTALLED], env))
    return {str(canonicalize_name(name)): version for name, version in found.items()}


# -- tests ---------------------------------------------------------------------------


def test_the_lock_is_universal(lock_path: Path) -> None:
    pylock = read_lock(lock_path)
    assert str(pylock.requires_python) == ">=3.10"
    assert pylock.environments is None
    markers = {(p.name, str(p.version)): str(p.marker) for p in pylock.packages if p.marker}
    assert markers == {
        ("taskgroup", "1.0"): 'python_version < "3.12"',
        ("asgiserver", "1.4"): 'python_version < "3.12"',
        ("asgiserver", "2.0"): 'python_version >= "3.12"',
        ("fastloop", "1.0"): 'python_version >= "3.12" and sys_platform != "win32"',
        ("winconsole", "0.4"): 'sys_platform == "win32"',
        ("jsonfast", "2.2"): 'implementation_name == "cpython"',
    }
    (escaper,) = [p for p in pylock.packages if p.name == "escaper"]
    assert escaper.sdist is not None
    assert not escaper.wheels


def test_sync_then_verify_on_each_python(
    interpreter: Interpreter,
    lock_path: Path,
    tmp_path: Path,
    isolated_pip_env: dict[str, str],
) -> None:
    python = _venv(interpreter, tmp_path / "venv", isolated_pip_env)
    result = sync(lock_path, python=python)
    assert result.changed
    assert result.report.ok, result.report.render()
    assert "escaper" in result.plan.builds  # no wheel: pip built the sdist

    report = verify(lock_path, python=python)
    assert report.ok, report.render()
    assert report.problems == ()
    pylock = read_lock(lock_path)
    expected = _selection(pylock, interpreter.environment, list(interpreter.tags))
    assert _installed(python, isolated_pip_env) == expected
    assert expected == BY_PYTHON[interpreter.environment["python_version"]]
    # The environment now equals the lock: another sync has nothing to do.
    assert sync(lock_path, python=python, dry_run=True).plan.empty


def _preset_for(interp: Interpreter) -> str | None:
    """The preset platform whose marker variables are the interpreter's and whose
    best platform tag it accepts (glibc linux, not musl, say)."""
    env = interp.environment
    for preset in PRESETS:
        target = parse_target(f"{preset}-py{env['python_version']}")
        same = all(
            target.environment[key] == env[key] for key in ("sys_platform", "platform_machine")
        )
        if same and target.tags[0] in interp.tags:
            return preset
    return None


def test_export_for_each_python_passes_pip_require_hashes(
    interpreter: Interpreter,
    lock_path: Path,
    tmp_path: Path,
    isolated_pip_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    preset = _preset_for(interpreter)
    if preset is None:
        pytest.skip(f"no preset platform matches {interpreter.python}'s tags")
    target = parse_target(f"{preset}-py{interpreter.environment['python_version']}")
    exported = tmp_path / "requirements.txt"
    assert main(["export", str(lock_path), "--target", target.name, "-o", str(exported)]) == 0
    capsys.readouterr()
    text = exported.read_text(encoding="utf-8")
    assert "--hash=sha256:" in text

    python = _venv(interpreter, tmp_path / "venv", isolated_pip_env)
    report = tmp_path / "report.json"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "--python",
            python,
            "install",
            "--no-cache-dir",
            "--dry-run",
            "--ignore-installed",
            "--require-hashes",
            "--report",
            str(report),
            "-r",
            str(exported),
        ],
        isolated_pip_env,
    )
    installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    found = {
        str(canonicalize_name(item["metadata"]["name"])): item["metadata"]["version"]
        for item in installs
    }
    pylock = read_lock(lock_path)
    assert found == _selection(pylock, target.environment, list(target.tags))
    assert found == BY_PYTHON[interpreter.environment["python_version"]]
    # pip took the locked wheel where there is one: the platform wheel of jsonfast.
    (jsonfast,) = [item for item in installs if item["metadata"]["name"] == "jsonfast"]
    assert jsonfast["download_info"]["url"].endswith(".whl")


def test_the_command_line_writes_the_same_lock(
    lock_path: Path,
    index_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In the API lock's directory (no pyproject.toml there), with no REQLOCK_*
    # variable of the machine: only the command line decides.
    for name in [k for k in os.environ if k.startswith("REQLOCK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NETRC", os.devnull)
    monkeypatch.chdir(lock_path.parent)
    argv = ["lock", "requirements.txt", "--universal", "--python-requires", ">=3.10"]
    argv += ["--index-url", index_url, "--no-cache", "-o", "cli.toml", "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    written = (lock_path.parent / "cli.toml").read_text(encoding="utf-8")
    assert written == lock_path.read_text(encoding="utf-8")

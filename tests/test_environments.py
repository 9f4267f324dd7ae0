"""Layered deployment environments (``[tool.reqlock.environments]``): prod is locked
first and its pins constrain dev, so shared packages have the same version and files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.pylock import Package, Pylock

from reqlock.cli.main import main
from reqlock.errors import ConfigError, ReqlockError, TargetError
from reqlock.lockfile import read_lock
from reqlock.locking.config import ProjectConfig, load_config
from reqlock.locking.project import check_environments, lock_environments
from reqlock.targets import Target, environment_marker
from tests.lockapi import with_options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INDEX = "http://fakeindex/simple/"
# Passed as lock()'s environment: no REQLOCK_* variable or ~/.netrc of the machine
# counts, and the plain-http in-process index host is allowed explicitly.
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}
TARGETS = '["linux-x86_64-py3.12", "windows-amd64-py3.11", "linux-aarch64-py3.13"]'
LAYERS_CHANGED = "an earlier environment's lock changed"


def write_project(
    root: Path,
    *,
    prod: str,
    dev: str,
    targets: str = TARGETS,
    index: str | None = INDEX,
    extra: str = "",
) -> ProjectConfig:
    index_line = f'index-url = "{index}"\n' if index else ""
    (root / "pyproject.toml").write_text(
        "[project]\nname = 'app'\nversion = '1'\n\n"
        f"[tool.reqlock]\ntargets = {targets}\n{index_line}{extra}\n"
        "[tool.reqlock.environments]\n"
        'prod = ["requirements.txt"]\n'
        'dev = ["requirements-dev.txt"]\n'
    )
    (root / "requirements.txt").write_text(prod)
    (root / "requirements-dev.txt").write_text(dev)
    config = load_config(root / "pyproject.toml")
    assert config is not None
    return config


def selection(lock: Pylock, target: Target) -> dict[str, Package]:
    return {
        str(p.name): p
        for p, _ in lock.select(environment=dict(target.environment), tags=list(target.tags))
    }


def files_of(package: Package) -> set[tuple[str, str]]:
    items = [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]
    return {(item.filename, item.hashes["sha256"]) for item in items}


def reasons(config: ProjectConfig, **options: Any) -> dict[str, tuple[str, ...]]:
    return {
        s.path.name: s.reasons
        for s in check_environments(config, **with_options(environ=ENVIRON, **options))
    }


@pytest.fixture
def opts(wsgi_transport: httpx.WSGITransport) -> dict[str, Any]:
    return {"transport": wsgi_transport, "no_cache": True, "environ": ENVIRON}


# prod needs leaf-a<2 (through sdist-static) and foo-bar<1.1 (through norm-user); dev
# alone would pick leaf-a 2.0 and Foo.Bar 1.1, but prod's pins win.
PROD = "sdist-static\nnorm-user\nplat-pkg\n"
DEV = "leaf-a\nFoo.Bar\nmarkers-top\nextras-a[y]\nplat-pkg\n"


def test_prod_and_dev_share_versions_and_files(tmp_path: Path, opts: dict[str, Any]) -> None:
    config = write_project(tmp_path, prod=PROD, dev=DEV)
    done = lock_environments(config, **with_options(**opts))
    assert [d.environment.name for d in done] == ["prod", "dev"]
    assert all(d.written for d in done)
    prod = read_lock(tmp_path / "pylock.prod.toml")
    dev = read_lock(tmp_path / "pylock.dev.toml")
    assert len(config.targets) == 3
    for lock_model in (prod, dev):
        assert [str(m) for m in lock_model.environments or ()] == [
            str(environment_marker(t)) for t in config.targets
        ]
    for target in config.targets:
        in_prod, in_dev = selection(prod, target), selection(dev, target)
        shared = set(in_prod) & set(in_dev)
        assert {"leaf-a", "foo-bar", "plat-pkg"} <= shared
        for name in shared:
            assert in_dev[name].version == in_prod[name].version, (target.name, name)
            assert files_of(in_dev[name]) == files_of(in_prod[name]), (target.name, name)
        assert str(in_dev["leaf-a"].version) == "1.1"  # not 2.0: prod pins it
        assert str(in_dev["foo-bar"].version) == "1.0"  # not 1.1: prod pins it
        assert "leaf-b" in in_dev  # dev-only packages are free (extras-a[y])
        assert "leaf-b" not in in_prod
    # The Windows-only dependency of plat-pkg 1.0 is in both, for Windows only.
    windows = next(t for t in config.targets if t.name == "windows-amd64-py3.11")
    assert "win-only" in selection(dev, windows)
    assert "win-only" in selection(prod, windows)


def test_dev_contradicting_a_prod_pin_names_both(tmp_path: Path, opts: dict[str, Any]) -> None:
    config = write_project(tmp_path, prod=PROD, dev="leaf-b\n# needs the newest\nleaf-a>=2\n")
    with pytest.raises(ReqlockError) as info:
        lock_environments(config, **with_options(**opts))
    text = str(info.value)
    assert "requirements-dev.txt:3" in text
    assert "the prod lock (pylock.prod.toml) pins leaf-a==1.1" in text
    assert "leaf-a>=2" in text
    assert not (tmp_path / "pylock.dev.toml").exists()


def test_transitive_contradiction_names_the_dependency_and_the_prod_pin(
    tmp_path: Path, opts: dict[str, Any]
) -> None:
    # prod: Foo.Bar -> 1.1; dev: norm-user needs foo-bar<1.1.
    config = write_project(tmp_path, prod="Foo.Bar\n", dev="norm-user\n")
    with pytest.raises(ReqlockError) as info:
        lock_environments(config, **with_options(**opts))
    text = str(info.value)
    assert "the prod lock (pylock.prod.toml) pins foo-bar==1.1" in text
    assert "norm-user" in text


def test_custom_target_from_the_config(tmp_path: Path, opts: dict[str, Any]) -> None:
    config = write_project(
        tmp_path,
        prod="plat-pkg\n",
        dev="markers-top\n",
        targets='["linux-x86_64-py3.12", "arm-box"]',
        extra=(
            "[tool.reqlock.custom-targets.arm-box]\n"
            'python = "3.12"\nplatforms = ["manylinux_2_31_aarch64"]\n'
        ),
    )
    lock_environments(config, **with_options(**opts))
    box = config.targets[1]
    assert box.name == "arm-box"
    prod = read_lock(tmp_path / "pylock.prod.toml")
    chosen = list(prod.select(environment=dict(box.environment), tags=list(box.tags)))
    assert {str(p.name): str(p.version) for p, _ in chosen} == {
        "plat-pkg": "1.0",
        "marker-arm": "1.0",
    }
    (plat,) = [d for p, d in chosen if p.name == "plat-pkg"]
    assert plat.filename == (
        "plat_pkg-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    )
    data = tomllib.loads((tmp_path / "pylock.prod.toml").read_text())
    assert data["tool"]["reqlock"]["targets"] == ["linux-x86_64-py3.12", "arm-box"]


def test_same_marker_in_the_config_is_a_config_error(tmp_path: Path, opts: dict[str, Any]) -> None:
    config = write_project(
        tmp_path,
        prod="leaf-a\n",
        dev="leaf-b\n",
        targets='["linux-x86_64-py3.12", "musllinux-x86_64-py3.12"]',
    )
    with pytest.raises(ConfigError) as info:
        lock_environments(config, **with_options(**opts))
    assert "linux-x86_64-py3.12" in str(info.value)
    assert "musllinux-x86_64-py3.12" in str(info.value)
    assert not (tmp_path / "pylock.prod.toml").exists()


def test_check_environments(tmp_path: Path, opts: dict[str, Any]) -> None:
    config = write_project(tmp_path, prod="leaf-a\n", dev="leaf-b\n")
    assert reasons(config) == {
        "pylock.prod.toml": ("the lock file is missing",),
        "pylock.dev.toml": ("the lock file is missing",),
    }
    lock_environments(config, **with_options(only="prod", **opts))
    assert reasons(config) == {
        "pylock.prod.toml": (),
        "pylock.dev.toml": ("the lock file is missing",),
    }
    lock_environments(config, **with_options(**opts))
    assert reasons(config) == {"pylock.prod.toml": (), "pylock.dev.toml": ()}
    assert reasons(config, only="prod") == {"pylock.prod.toml": ()}

    (tmp_path / "requirements-dev.txt").write_text("leaf-b<3\n")
    assert reasons(config) == {
        "pylock.prod.toml": (),
        "pylock.dev.toml": ("the requirements changed",),
    }
    lock_environments(config, **with_options(**opts))
    (tmp_path / "requirements.txt").write_text("leaf-a<2\n")
    assert reasons(config)["pylock.prod.toml"] == ("the requirements changed",)
    # Re-locking prod alone leaves dev behind: dev is stale through its layer.
    lock_environments(config, **with_options(only="prod", **opts))
    assert reasons(config) == {"pylock.prod.toml": (), "pylock.dev.toml": (LAYERS_CHANGED,)}
    lock_environments(config, **with_options(**opts))
    assert reasons(config) == {"pylock.prod.toml": (), "pylock.dev.toml": ()}
    # Another target list or index makes both stale.
    other_targets = list(config.targets[:2])
    assert set(reasons(config, targets=other_targets).values()) >= {("the targets changed",)}
    assert reasons(config, index_url="https://elsewhere/simple/")["pylock.prod.toml"] == (
        "the index URLs changed",
    )


def test_dev_is_stale_when_prod_pins_move(tmp_path: Path, opts: dict[str, Any]) -> None:
    config = write_project(tmp_path, prod="leaf-a\n", dev="leaf-a\nleaf-b\n")
    lock_environments(config, **with_options(**opts))
    lock_environments(config, **with_options(only="prod", upgrade_packages=["leaf-a==1.0"], **opts))
    prod = read_lock(tmp_path / "pylock.prod.toml")
    dev = read_lock(tmp_path / "pylock.dev.toml")
    target = config.targets[0]
    assert str(selection(prod, target)["leaf-a"].version) == "1.0"
    assert str(selection(dev, target)["leaf-a"].version) == "2.0"  # now contradicts prod
    assert reasons(config)["pylock.dev.toml"] != ()


def test_upgrade_reports_changes_against_the_existing_lock(
    tmp_path: Path, opts: dict[str, Any]
) -> None:
    config = write_project(tmp_path, prod="leaf-a\n", dev="leaf-b\n")
    lock_environments(config, **with_options(**opts))
    again = lock_environments(config, **with_options(upgrade=True, **opts))
    assert [d.written for d in again] == [False, False]
    assert [d.changes for d in again] == [(), ()]


def test_relock_without_changes_writes_nothing(tmp_path: Path, opts: dict[str, Any]) -> None:
    config = write_project(tmp_path, prod=PROD, dev=DEV)
    lock_environments(config, **with_options(**opts))
    before = {p: p.read_bytes() for p in tmp_path.glob("pylock.*.toml")}
    again = lock_environments(config, **with_options(**opts))
    assert [(d.written, d.changes) for d in again] == [(False, ()), (False, ())]
    assert {p: p.read_bytes() for p in tmp_path.glob("pylock.*.toml")} == before


# -- the command line -----------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_env_dev_locks_prod_then_dev(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index_url: str,
) -> None:
    write_project(tmp_path, prod="sdist-static\n", dev="leaf-a\nleaf-b\n", index=None)
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(capsys, "lock", "--env", "prod", "-i", index_url, "--no-cache")
    assert code == 0, err
    assert Path("pylock.prod.toml").exists()
    assert not Path("pylock.dev.toml").exists()
    assert not Path("pylock.toml").exists()

    code, _, err = _cli(capsys, "lock", "--env", "dev", "-i", index_url, "--no-cache")
    assert code == 0, err
    assert err.index("pylock.prod.toml") < err.index("pylock.dev.toml")
    assert "pylock.prod.toml is up to date" in err
    dev = read_lock(Path("pylock.dev.toml"))
    assert {str(p.name): str(p.version) for p in dev.packages} == {
        "leaf-a": "1.1",
        "leaf-b": "3.0",
    }

    check = ["lock", "--check", "-i", index_url]
    both_current = "pylock.prod.toml: up to date\npylock.dev.toml: up to date\n"
    assert _cli(capsys, *check) == (0, both_current, "")
    Path("requirements-dev.txt").write_text("leaf-a\nleaf-b<3\n")
    code, out, _ = _cli(capsys, *check)
    assert code == 1
    assert out == "pylock.prod.toml: up to date\npylock.dev.toml: stale: the requirements changed\n"
    assert _cli(capsys, *check, "--env", "prod")[:2] == (0, "pylock.prod.toml: up to date\n")

    code, _, err = _cli(capsys, "lock", "--env", "staging", "-i", index_url, "--no-cache")
    assert code == 2
    assert "no environment named 'staging'" in err
    assert "prod, dev" in err
    code, _, err = _cli(capsys, "lock", "requirements.txt", "--env", "dev", "-i", index_url)
    assert code == 2
    assert "--env" in err


def test_cli_reports_a_dev_contradiction_as_one_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index_url: str,
) -> None:
    write_project(tmp_path, prod="sdist-static\n", dev="leaf-a>=2\n", index=None)
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, "lock", "-i", index_url, "--no-cache")
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "requirements-dev.txt:1" in err
    assert "the prod lock (pylock.prod.toml) pins leaf-a==1.1" in err
    assert "Traceback" not in err


# -- configuration errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('colour = "blue"', "tool.reqlock.colour"),
        ('targets = "linux-x86_64-py3.12"', "tool.reqlock.targets"),
        ("targets = []", "tool.reqlock.targets"),
        ("targets = [3]", "tool.reqlock.targets[0]"),
        ('targets = ["linux-x86_64-py3.12", "linux-x86_64-py3.12"]', "tool.reqlock.targets[1]"),
        ('targets = ["bogus"]', "tool.reqlock.targets[0]"),
        ('environments = ["requirements.txt"]', "tool.reqlock.environments"),
        ('environments = { "my env" = ["r.txt"] }', "tool.reqlock.environments.my env"),
        ('environments = { "../prod" = ["r.txt"] }', "tool.reqlock.environments.../prod"),
        ("environments = { prod = [] }", "tool.reqlock.environments.prod"),
        ("environments = { prod = [1] }", "tool.reqlock.environments.prod"),
        ("index-url = 3", "tool.reqlock.index-url"),
        ('extra-index-urls = "http://x/simple/"', "tool.reqlock.extra-index-urls"),
        ('pre = "yes"', "tool.reqlock.pre"),
        ('custom-targets = "box"', "tool.reqlock.custom-targets"),
        (
            'targets = ["box"]\ncustom-targets = { box = { platforms = ["win_amd64"] } }',
            "tool.reqlock.custom-targets.box",
        ),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, table: str, key: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.reqlock]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")


def test_config_error_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pyproject.toml").write_text('[tool.reqlock]\ntargets = "linux-x86_64-py3.12"\n')
    code, _, err = _cli(capsys, "lock", "--check")
    assert code == 2
    assert err.startswith("error: tool.reqlock.targets: ")
    Path("pyproject.toml").write_text("[tool.reqlock\n")
    code, _, err = _cli(capsys, "lock", "--check")
    assert code == 2
    assert "pyproject.toml" in err
    assert "TOML" in err


def test_config_without_our_table_is_none_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    assert load_config(path) is None  # no file
    path.write_text("[project]\nname = 'x'\n")
    assert load_config(path) is None
    path.write_text("[tool.reqlock]\n[tool.reqlock.environments]\nprod = 'requirements.txt'\n")
    config = load_config(path)
    assert config is not None
    assert [t.name for t in config.targets] == ["current"]
    (env,) = config.environments
    assert env.requirements == (tmp_path / "requirements.txt",)
    assert env.lock_path == tmp_path / "pylock.prod.toml"
    with pytest.raises(ConfigError) as info:
        config.environment("dev")
    assert info.value.key == "--env"


def test_unknown_target_in_the_config_is_a_target_error(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.reqlock]\ntargets = ["linux-x86_64-py3.12", "solaris-py3.12"]\n')
    with pytest.raises(TargetError) as info:
        load_config(path)
    assert info.value.key == "tool.reqlock.targets[1]"
    assert "linux-aarch64" in str(info.value)  # the valid forms are listed

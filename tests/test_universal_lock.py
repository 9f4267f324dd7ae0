"""Universal locks through the public API, the configuration and the command line:
settings and their errors, forks named in failures, re-locking with kept pins,
layered deployment environments, ``--check`` and the memo."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet

from reqlock import lock
from reqlock.errors import ConfigError, ResolutionError
from reqlock.lockfile import parse_lock
from reqlock.locking.config import parse_config
from reqlock.locking.project import check_environments, lock_environments
from reqlock.locking.result import LockResult
from reqlock.progress import Reporter
from reqlock.settings import Options, resolve_settings
from reqlock.targets import parse_target
from tests.fakeindex import Universe, build_universe, make_app

INDEX = "http://fakeindex/simple/"
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}
T = "2024-01-01T00:00:00Z"

# app needs numpy-like "num" <2 on old Pythons and >=2 on new ones (a fork), "winlib"
# on Windows only; "num" 2.1 needs Python 3.12, so Python 3.11 gets 2.0.
UNIVERSE = f"""
[projects.app.releases."1.0"]
upload_time = "{T}"
wheels = ["py3-none-any"]
requires_dist = [
  'num<2; python_version < "3.11"',
  'num>=2; python_version >= "3.11"',
  'winlib; sys_platform == "win32"',
]
[projects.num.releases."1.5"]
upload_time = "{T}"
wheels = ["py3-none-any"]
[projects.num.releases."2.0"]
upload_time = "{T}"
wheels = ["py3-none-any"]
[projects.num.releases."2.1"]
upload_time = "{T}"
requires_python = ">=3.12"
wheels = ["py3-none-any"]
[projects.winlib.releases."1.0"]
upload_time = "{T}"
wheels = ["py3-none-any"]
[projects.winlib.releases."2.0"]
upload_time = "{T}"
wheels = ["py3-none-any"]
[projects.linuxonly.releases."1.0"]
upload_time = "{T}"
sdist = "static"
requires_dist = ['num<2; sys_platform == "linux"']
[projects.excl.releases."1.0"]
upload_time = "{T}"
wheels = ["py3-none-any"]
[projects.excl.releases."2.0"]
upload_time = "{T}"
requires_python = "!=3.11.0,!=3.11.1,>=3.10"
wheels = ["py3-none-any"]
[projects.native.releases."1.0"]
upload_time = "{T}"
sdist = "static"
wheels = [
  "cp312-cp312-manylinux_2_17_x86_64",
  "cp312-cp312-win_amd64",
  "cp312-cp312-macosx_11_0_arm64",
  "cp311-cp311-manylinux_2_17_x86_64",
]
[projects.broken.releases."1.0"]
upload_time = "{T}"
wheels = ["py3-none-any"]
requires_dist = ['num>=2; sys_platform == "linux"', 'num<2; sys_platform == "linux"']
"""


@pytest.fixture(scope="module")
def universe(tmp_path_factory: pytest.TempPathFactory) -> Universe:
    root = tmp_path_factory.mktemp("universal")
    (root / "universe.toml").write_text("[projects]\n" + UNIVERSE, encoding="utf-8")
    return build_universe(root / "universe.toml", root / "files")


Lock = Callable[..., LockResult]


@pytest.fixture
def locker(universe: Universe, tmp_path: Path) -> Lock:
    def run(*lines: str, **settings: Any) -> LockResult:
        req = tmp_path / "requirements.txt"
        req.write_text("\n".join(lines) + "\n", encoding="utf-8")
        extra = {k: settings.pop(k) for k in ("previous", "pinned_by") if k in settings}
        settings.setdefault("no_cache", True)
        options = Options(index_url=INDEX, lock_dir=tmp_path, universal=True, **settings)
        return lock(
            [req],
            options=options,
            environ=ENVIRON,
            transport=httpx.WSGITransport(app=make_app(universe)),
            **extra,
        )

    return run


def _versions(result: LockResult) -> dict[str, list[tuple[str, str | None]]]:
    found: dict[str, list[tuple[str, str | None]]] = {}
    for p in result.pylock.packages:
        found.setdefault(p.name, []).append(
            (str(p.version), None if p.marker is None else str(p.marker))
        )
    return found


def test_a_fork_per_python_range_and_markers_per_package(locker: Lock) -> None:
    result = locker("app", requires_python=">=3.10")
    assert _versions(result) == {
        "app": [("1.0", None)],
        "num": [
            ("1.5", 'python_version < "3.11"'),
            ("2.0", 'python_version == "3.11"'),
            ("2.1", 'python_version >= "3.12"'),
        ],
        "winlib": [("2.0", 'sys_platform == "win32"')],
    }
    assert result.pylock.requires_python == SpecifierSet(">=3.10")
    assert result.pylock.environments is None
    assert result.pylock.tool is not None
    assert result.pylock.tool["reqlock"]["universal"] is True


def test_environments_narrow_the_lock_and_are_written(locker: Lock) -> None:
    result = locker(
        "app",
        requires_python=">=3.11",
        universal_environments=['sys_platform == "linux"', 'sys_platform == "darwin"'],
    )
    assert "winlib" not in _versions(result)  # no environment of the lock is win32
    assert result.pylock.environments == [
        Marker('sys_platform == "linux"'),
        Marker('sys_platform == "darwin"'),
    ]


def _wheel_tags(result: LockResult, name: str) -> set[str]:
    (package,) = [p for p in result.pylock.packages if p.name == name]
    return {w.filename.split("-", 2)[2] for w in package.wheels or ()}


def test_wheels_follow_the_range_and_the_targets(locker: Lock) -> None:
    every = _wheel_tags(locker("native", requires_python=">=3.12"), "native")
    assert every == {
        "cp312-cp312-manylinux_2_17_x86_64.whl",
        "cp312-cp312-win_amd64.whl",
        "cp312-cp312-macosx_11_0_arm64.whl",
    }  # not cp311: no environment of the lock runs it
    linux = parse_target("linux-x86_64-py3.12")
    only = locker("native", requires_python=">=3.12", targets=[linux])
    assert _wheel_tags(only, "native") == {"cp312-cp312-manylinux_2_17_x86_64.whl"}
    assert only.pylock.packages[0].sdist is not None  # the sdist stays
    assert only.pylock.tool is not None
    assert only.pylock.tool["reqlock"]["targets"] == ["linux-x86_64-py3.12"]


def test_a_failing_fork_is_named(locker: Lock) -> None:
    with pytest.raises(ResolutionError) as caught:
        locker("app", "num==2.0; python_version < '3.11'", requires_python=">=3.10")
    assert caught.value.message.startswith('for python_version < "3.11": ')
    assert "num" in caught.value.message


def test_one_release_asking_for_two_versions_in_one_place_fails(locker: Lock) -> None:
    with pytest.raises(ResolutionError, match="num"):
        locker("broken", requires_python=">=3.10")


def test_the_lock_python_range_decides_the_release(locker: Lock) -> None:
    # num 2.1 needs 3.12: with requires-python >=3.12 there is no older fork.
    assert _versions(locker("num", requires_python=">=3.12"))["num"] == [("2.1", None)]
    result = locker("num>=2", requires_python=">=3.11")
    assert _versions(result)["num"] == [
        ("2.0", 'python_version < "3.12"'),
        ("2.1", 'python_version >= "3.12"'),
    ]


def test_requirement_markers_reach_the_dependencies(locker: Lock) -> None:
    result = locker("linuxonly; python_version >= '3.12'", requires_python=">=3.10")
    assert _versions(result) == {
        "linuxonly": [("1.0", 'python_version >= "3.12"')],
        "num": [("1.5", 'python_version >= "3.12" and sys_platform == "linux"')],
    }


def test_relocking_keeps_the_pins_of_the_previous_lock(locker: Lock) -> None:
    first = locker("winlib<2", requires_python=">=3.10")
    again = locker("winlib", requires_python=">=3.10", previous=first.pylock)
    assert _versions(again)["winlib"] == [("1.0", None)]
    moved = locker("winlib", requires_python=">=3.10", previous=first.pylock, upgrade=True)
    assert _versions(moved)["winlib"] == [("2.0", None)]


def test_an_earlier_universal_lock_constrains_a_later_one(locker: Lock) -> None:
    prod = locker("app", requires_python=">=3.10")
    dev = locker("num", requires_python=">=3.10", pinned_by=[("the prod lock", prod.pylock)])
    # The same versions, where prod has them: dev's region is cut as prod's is.
    assert _versions(dev)["num"] == _versions(prod)["num"]
    with pytest.raises(ResolutionError, match="the prod lock"):
        locker("num==2.1", requires_python=">=3.10", pinned_by=[("the prod lock", prod.pylock)])


def test_an_earlier_target_lock_binds_only_where_it_applies(
    locker: Lock, universe: Universe, tmp_path: Path
) -> None:
    req = tmp_path / "prod.txt"
    req.write_text("winlib<2\n", encoding="utf-8")
    prod = lock(
        [req],
        options=Options(
            index_url=INDEX, no_cache=True, targets=[parse_target("windows-amd64-py3.12")]
        ),
        environ=ENVIRON,
        transport=httpx.WSGITransport(app=make_app(universe)),
    )
    # Outside prod's one target, dev may (and here must) differ from prod's pins.
    dev = locker(
        "winlib",
        "winlib>=2; sys_platform != 'win32'",
        requires_python=">=3.12",
        pinned_by=[("the prod lock", prod.pylock)],
    )
    versions = dict(_versions(dev)["winlib"])
    assert set(versions) == {"1.0", "2.0"}
    assert 'sys_platform == "win32"' in str(versions["1.0"])
    assert 'sys_platform != "win32"' in str(versions["2.0"])


def test_the_memo_returns_the_same_lock(universe: Universe, tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("app\n", encoding="utf-8")
    app = make_app(universe)
    options = Options(
        index_url=INDEX, lock_dir=tmp_path, universal=True, requires_python=">=3.10",
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    transport = httpx.WSGITransport(app=app)
    first = lock([req], options=options, environ=ENVIRON, transport=transport)
    before = len(app.requests)
    second = lock([req], options=options, environ=ENVIRON, transport=transport)
    assert second.to_toml() == first.to_toml()
    assert len(app.requests) == before  # answered from the memo: no request at all
    # The memo's parsed form of the lock gives what parsing its text gives.
    assert second.pylock == first.pylock == parse_lock(second.to_toml(), path="x")


# -- settings and configuration --------------------------------------------------------


def test_settings_default_to_the_running_minor_and_check_values() -> None:
    import sys

    settings = resolve_settings(Options(universal=True), environ={})
    assert settings.universal is not None
    assert settings.universal.requires_python == SpecifierSet(">={}.{}".format(*sys.version_info))
    assert resolve_settings(Options(), environ={}).universal is None
    with pytest.raises(ConfigError, match="not a Python version range") as bad:
        resolve_settings(Options(universal=True, requires_python="3.x"), environ={})
    assert bad.value.key == "requires-python"
    with pytest.raises(ConfigError, match="is not a marker") as marker:
        resolve_settings(Options(universal=True, universal_environments=["linux"]), environ={})
    assert marker.value.key == "universal-environments"


def test_config_keys_and_the_project_requires_python(tmp_path: Path) -> None:
    config = parse_config(
        {
            "universal": True,
            "universal-environments": ['sys_platform == "linux"'],
            "required-environments": ['platform_machine == "x86_64"'],
            "environments": {
                "prod": ["requirements.txt"],
                "dev": {"requirements": ["dev.txt"], "universal": False},
            },
        },
        root=tmp_path,
        requires_python=">=3.9",
    )
    options = config.options
    assert options.universal is True
    assert options.requires_python == ">=3.9"
    assert options.universal_environments == ('sys_platform == "linux"',)
    prod, dev = config.environments
    assert config.options_for(prod).universal is True
    assert config.options_for(dev).universal is False
    own = parse_config({"requires-python": ">=3.11"}, root=tmp_path, requires_python=">=3.9")
    assert own.options.requires_python == ">=3.11"  # [tool.reqlock] wins over [project]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"universal": "yes"}, "tool.reqlock.universal"),
        ({"requires-python": 3.9}, "tool.reqlock.requires-python"),
        ({"universal-environments": "linux"}, "tool.reqlock.universal-environments"),
        ({"environments": {"prod": {"requirements": ["r.txt"], "x": 1}}}, "environments.prod"),
        ({"environments": {"prod": {"requirements": ["r.txt"], "universal": 1}}}, "prod"),
    ],
)
def test_config_errors_name_the_key(table: dict[str, Any], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(table, root=tmp_path)
    assert key in str(caught.value.key)


def test_environments_lock_universally_and_check(universe: Universe, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("app\n", encoding="utf-8")
    (tmp_path / "dev.txt").write_text("num\n", encoding="utf-8")
    config = parse_config(
        {
            "universal": True,
            "requires-python": ">=3.10",
            "index-url": INDEX,
            "environments": {"prod": ["requirements.txt"], "dev": ["dev.txt"]},
        },
        root=tmp_path,
    )
    transport = httpx.WSGITransport(app=make_app(universe))
    done = lock_environments(
        config,
        options=Options(no_cache=True),
        reporter=Reporter(),
        environ=ENVIRON,
        transport=transport,
    )
    prod, dev = (item.result for item in done)
    assert _versions(dev)["num"] == _versions(prod)["num"]
    assert all(s.current for s in check_environments(config, environ=ENVIRON))
    narrower = parse_config(
        {
            "universal": True,
            "requires-python": ">=3.11",
            "index-url": INDEX,
            "environments": {"prod": ["requirements.txt"], "dev": ["dev.txt"]},
        },
        root=tmp_path,
    )
    stale = check_environments(narrower, environ=ENVIRON)
    assert stale[0].reasons == ("what the universal lock covers changed",)


def test_markers_whose_complement_has_no_text_still_lock(locker: Lock) -> None:
    # The fork's other piece is "not > 3.10" (3.10 itself and its post-releases), which
    # no marker writes; the packages' own markers can be written.
    result = locker(
        "num>=2; python_full_version > '3.10'",
        "num<2; python_full_version <= '3.10'",
        requires_python=">=3.10",
    )
    assert _versions(result)["num"] == [
        ("1.5", 'python_full_version < "3.10.post0"'),  # <= 3.10, exactly
        ("2.0", 'python_full_version > "3.10" and python_version < "3.12"'),
        ("2.1", 'python_version >= "3.12"'),
    ]


def test_a_release_excluding_patch_releases_gets_them_their_own_fork(locker: Lock) -> None:
    # As cryptography's Requires-Python "!=3.9.0,!=3.9.1,>=3.7": pip refuses 2.0 on
    # 3.11.0 and 3.11.1, so those two get 1.0, everything else 2.0.
    result = locker("excl", requires_python=">=3.10")
    versions = dict(_versions(result)["excl"])
    assert set(versions) == {"1.0", "2.0"}
    old = Marker(str(versions["1.0"]))
    new = Marker(str(versions["2.0"]))
    for python, expected in [("3.10.4", "2.0"), ("3.11.0", "1.0"), ("3.11.1", "1.0"),
                             ("3.11.2", "2.0"), ("3.13.0", "2.0")]:  # fmt: skip
        env = {"python_full_version": python, "python_version": python.rsplit(".", 1)[0]}
        chosen = [v for v, m in (("1.0", old), ("2.0", new)) if m.evaluate(env)]
        assert chosen == [expected], python

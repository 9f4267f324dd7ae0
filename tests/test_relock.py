"""Re-locking: kept pins, --upgrade / --upgrade-package, --exclude-newer, unchanged
files left alone, and staleness checks (``check_file``, ``reqlock lock --check``).

Upload times in ``fixtures/universe.toml``: leaf-a 1.0 2024-01-10, 1.1 2024-03-10,
2.0 2024-06-10; leaf-b 1.0 2024-01-11, 2.0 2024-04-11, 3.0 2024-08-11; plat-pkg 1.0
2024-03-15, 2.0 2024-07-15.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.pylock import Pylock

from reqlock import lock
from reqlock.cli.main import main
from reqlock.errors import ConfigError, ReqlockError
from reqlock.lockfile import read_lock
from reqlock.locking.api import LockResult, inputs_fingerprint, stored_fingerprint
from reqlock.locking.previous import PreviousFile
from reqlock.locking.project import check_file
from reqlock.targets import parse_target
from tests.lockapi import with_options

INDEX = "http://fakeindex/simple/"
# Passed as lock()'s environment: no REQLOCK_* variable or ~/.netrc of the machine
# counts, and the plain-http in-process index host is allowed explicitly.
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}
LINUX = parse_target("linux-x86_64-py3.12")
WINDOWS = parse_target("windows-amd64-py3.12")
FEB = datetime(2024, 2, 1, tzinfo=timezone.utc)  # leaf-a 1.0, leaf-b 1.0 only
OLD = 1_000_000_000  # an mtime long ago


@pytest.fixture(params=["no-cache", "warm-cache"])
def relock(
    request: pytest.FixtureRequest, wsgi_transport: httpx.WSGITransport, tmp_path: Path
) -> Any:
    """lock() on the in-process index; in the "warm-cache" variant every run of the
    test shares one cache, so remembered resolutions are exercised too."""
    cache: dict[str, Any] = (
        {"no_cache": True}
        if request.param == "no-cache"
        else {"cache_dir": tmp_path / "reqlock-cache"}
    )

    def run(
        requirements: list[str] | tuple[str, ...] = ("leaf-a", "leaf-b"),
        *,
        files: tuple[Path, ...] = (),
        **kwargs: Any,
    ) -> LockResult:
        kwargs.setdefault("targets", [LINUX])
        return lock(
            list(files),
            **with_options(
                requirements=list(requirements),
                index_url=INDEX,
                transport=wsgi_transport,
                environ=ENVIRON,
                **cache,
                **kwargs,
            ),
        )

    return run


def versions(result: LockResult | Pylock) -> dict[str, str]:
    model = result.pylock if isinstance(result, LockResult) else result
    return {str(p.name): str(p.version) for p in model.packages}


def written(result: LockResult, path: Path) -> Pylock:
    """Write the lock and read it back as a later run would."""
    result.write(path)
    return read_lock(path)


# -- exclude-newer --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cutoff", "expected"),
    [
        (FEB, {"leaf-a": "1.0", "leaf-b": "1.0"}),
        (datetime(2024, 3, 10, 9, 59, tzinfo=timezone.utc), {"leaf-a": "1.0", "leaf-b": "1.0"}),
        (datetime(2024, 3, 11, tzinfo=timezone.utc), {"leaf-a": "1.1", "leaf-b": "1.0"}),
        (datetime(2024, 5, 1, tzinfo=timezone.utc), {"leaf-a": "1.1", "leaf-b": "2.0"}),
        (None, {"leaf-a": "2.0", "leaf-b": "3.0"}),
    ],
)
def test_exclude_newer_picks_the_older_release(
    relock: Any, cutoff: datetime | None, expected: dict[str, str]
) -> None:
    result = relock(exclude_newer=cutoff)
    assert versions(result) == expected
    if cutoff is not None:
        for package in result.pylock.packages:
            for dist in [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]:
                assert dist.upload_time is not None
                assert dist.upload_time <= cutoff


def test_exclude_newer_in_another_timezone(relock: Any) -> None:
    # 2024-03-10T10:30+01:00 is 09:30 UTC: before leaf-a 1.1 (10:00 UTC).
    from datetime import timedelta

    cutoff = datetime(2024, 3, 10, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert versions(relock(requirements=["leaf-a"], exclude_newer=cutoff)) == {"leaf-a": "1.0"}


def test_exclude_newer_naive_datetime_is_utc_or_a_clear_error(relock: Any) -> None:
    outcome: object
    try:
        outcome = versions(relock(exclude_newer=datetime(2024, 2, 1)))
    except ConfigError as exc:
        outcome = "error naming exclude-newer" if "exclude" in str(exc).lower() else str(exc)
    assert outcome in ({"leaf-a": "1.0", "leaf-b": "1.0"}, "error naming exclude-newer")


# -- kept pins, upgrades --------------------------------------------------------------


def test_existing_pins_are_kept_when_newer_releases_appear(relock: Any, tmp_path: Path) -> None:
    previous = written(relock(exclude_newer=FEB), tmp_path / "pylock.toml")
    assert versions(previous) == {"leaf-a": "1.0", "leaf-b": "1.0"}
    again = relock(previous=previous)  # no cutoff now: 2.0 and 3.0 are visible
    assert versions(again) == {"leaf-a": "1.0", "leaf-b": "1.0"}
    assert again.changes(previous) == []
    # Without the previous lock the newest releases are chosen.
    assert versions(relock()) == {"leaf-a": "2.0", "leaf-b": "3.0"}


def test_upgrade_moves_everything_to_the_newest(relock: Any, tmp_path: Path) -> None:
    previous = written(relock(exclude_newer=FEB), tmp_path / "pylock.toml")
    result = relock(previous=previous, upgrade=True)
    assert versions(result) == {"leaf-a": "2.0", "leaf-b": "3.0"}
    assert [str(c) for c in result.changes(previous)] == [
        "~ leaf-a 1.0 -> 2.0",
        "~ leaf-b 1.0 -> 3.0",
    ]


@pytest.mark.parametrize("spelling", ["leaf-a", "LEAF_A", "Leaf.A"])
def test_upgrade_package_moves_only_that_one(relock: Any, tmp_path: Path, spelling: str) -> None:
    previous = written(relock(exclude_newer=FEB), tmp_path / "pylock.toml")
    result = relock(previous=previous, upgrade_packages=[spelling])
    assert versions(result) == {"leaf-a": "2.0", "leaf-b": "1.0"}
    assert [str(c) for c in result.changes(previous)] == ["~ leaf-a 1.0 -> 2.0"]


def test_upgrade_package_with_a_version_pins_it(relock: Any, tmp_path: Path) -> None:
    previous = written(relock(exclude_newer=FEB), tmp_path / "pylock.toml")
    assert versions(relock(previous=previous, upgrade_packages=["leaf-a==1.1"])) == {
        "leaf-a": "1.1",
        "leaf-b": "1.0",
    }
    # Downwards too, with or without a previous lock.
    newest = written(relock(), tmp_path / "newest.toml")
    assert versions(relock(previous=newest, upgrade_packages=["leaf-a==1.0"])) == {
        "leaf-a": "1.0",
        "leaf-b": "3.0",
    }
    assert versions(relock(upgrade_packages=["leaf-a==1.1"])) == {
        "leaf-a": "1.1",
        "leaf-b": "3.0",
    }


def test_upgrade_package_contradicting_a_requirement_says_who(relock: Any) -> None:
    with pytest.raises(ReqlockError) as info:
        relock(requirements=["leaf-a<1.1"], upgrade_packages=["leaf-a==2.0"])
    text = str(info.value)
    assert "--upgrade-package" in text
    assert "leaf-a==2.0" in text
    assert "leaf-a<1.1" in text


@pytest.mark.parametrize("value", ["leaf-a==", "==1.0", "leaf-a==not a version", ""])
def test_malformed_upgrade_package_is_a_config_error(relock: Any, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        relock(upgrade_packages=[value])
    assert info.value.key == "--upgrade-package"


def test_upgrade_package_with_another_operator_is_not_silently_ignored(
    relock: Any, tmp_path: Path
) -> None:
    previous = written(relock(exclude_newer=FEB), tmp_path / "pylock.toml")
    outcome: object
    try:
        outcome = versions(relock(previous=previous, upgrade_packages=["leaf-a>=2"]))
    except ConfigError as exc:
        outcome = exc.key
    # Either refused (naming the option) or honoured; never ignored.
    assert outcome in ("--upgrade-package", {"leaf-a": "2.0", "leaf-b": "1.0"})


def test_multi_target_pins_are_kept_and_upgraded(relock: Any, tmp_path: Path) -> None:
    targets = [LINUX, WINDOWS]
    cutoff = datetime(2024, 5, 1, tzinfo=timezone.utc)  # before plat-pkg 2.0
    first = relock(["plat-pkg", "markers-top"], targets=targets, exclude_newer=cutoff)
    previous = written(first, tmp_path / "pylock.toml")
    assert {p.name: str(p.version) for p in previous.packages}["plat-pkg"] == "1.0"
    kept = relock(["plat-pkg", "markers-top"], targets=targets, previous=previous)
    assert [p for p in versions(kept).items() if p[0] == "plat-pkg"] == [("plat-pkg", "1.0")]
    assert kept.changes(previous) == []
    # Both targets have a cp312 wheel of plat-pkg 2.0.
    upgraded = relock(
        ["plat-pkg", "markers-top"],
        targets=targets,
        previous=previous,
        upgrade_packages=["plat-pkg"],
    )
    # 2.0 drops 1.0's win32-only dependency on win-only.
    assert [str(c) for c in upgraded.changes(previous)] == [
        "~ plat-pkg 1.0 -> 2.0",
        "- win-only 1.0",
    ]
    for target in targets:
        selected = {
            p.name: str(p.version)
            for p, _ in upgraded.pylock.select(
                environment=dict(target.environment), tags=list(target.tags)
            )
        }
        assert selected["plat-pkg"] == "2.0"


def test_changes_lists_added_removed_and_changed(relock: Any, tmp_path: Path) -> None:
    previous = written(relock(exclude_newer=FEB), tmp_path / "pylock.toml")
    result = relock(["leaf-a==1.1", "extras-b"], previous=previous)
    assert [str(c) for c in result.changes(previous)] == [
        "+ extras-b 1.0",
        "~ leaf-a 1.0 -> 1.1",
        "- leaf-b 1.0",
    ]
    assert [(c.name, c.old, c.new) for c in result.changes(previous)] == [
        ("extras-b", (), ("1.0",)),
        ("leaf-a", ("1.0",), ("1.1",)),
        ("leaf-b", ("1.0",), ()),
    ]
    assert [str(c) for c in result.changes(None)] == ["+ extras-b 1.0", "+ leaf-a 1.1"]


# -- unchanged inputs: same bytes, file left alone ------------------------------------


@pytest.mark.parametrize(
    "targets",
    [
        [LINUX],
        [LINUX, WINDOWS, parse_target("macos-arm64-py3.13"), parse_target("linux-aarch64-py3.10")],
    ],
    ids=["one-target", "four-targets"],
)
def test_relock_without_changes_is_byte_identical_and_not_written(
    relock: Any, tmp_path: Path, targets: list[Any]
) -> None:
    reqs = ["leaf-a", "leaf-b", "plat-pkg", "markers-top"]
    path = tmp_path / "pylock.toml"
    first = relock(reqs, targets=targets)
    assert first.write(path) is True
    os.utime(path, (OLD, OLD))
    before = path.stat()
    text = path.read_bytes()

    again = relock(reqs, targets=targets, previous=read_lock(path))
    assert again.to_toml().encode() == text
    assert again.write(path) is False
    after = path.stat()
    assert after.st_mtime_ns == before.st_mtime_ns
    assert after.st_ino == before.st_ino
    assert path.read_bytes() == text

    # A real change is written (atomically: no temporary file is left behind).
    changed = relock([*reqs, "extras-b"], targets=targets, previous=read_lock(path))
    assert changed.write(path) is True
    assert path.stat().st_mtime_ns != before.st_mtime_ns
    assert "extras-b" in path.read_text()
    assert sorted(p.name for p in tmp_path.glob("*.toml*")) == ["pylock.toml"]


# -- staleness ------------------------------------------------------------------------


def test_check_file_current_and_stale(relock: Any, tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("leaf-a\nleaf-b>=1\n")
    path = tmp_path / "pylock.toml"

    def state(**kwargs: Any) -> tuple[str, ...]:
        kwargs.setdefault("targets", [LINUX])
        kwargs.setdefault("index_url", INDEX)
        return check_file(
            path, inputs_fingerprint([req], environ=ENVIRON, **with_options(**kwargs))
        ).reasons

    assert state() == ("the lock file is missing",)
    relock((), files=(req,)).write(path)
    assert stored_fingerprint(read_lock(path)) == inputs_fingerprint(
        [req], environ=ENVIRON, **with_options(targets=[LINUX], index_url=INDEX)
    )
    assert state() == ()
    assert check_file(
        path,
        inputs_fingerprint(
            [req], environ=ENVIRON, **with_options(targets=[LINUX], index_url=INDEX)
        ),
    ).current

    # Comments, blank lines and line order do not count.
    req.write_text("# pinned later\nleaf-b>=1\n\nleaf-a  # the leaf\n")
    assert state() == ()
    # Everything else does, and the reason says which input.
    assert state(targets=[LINUX, WINDOWS]) == ("the targets changed",)
    assert state(targets=[parse_target("linux-x86_64-py3.13")]) == ("the targets changed",)
    assert state(index_url="https://elsewhere/simple/") == ("the index URLs changed",)
    assert state(exclude_newer=FEB) == (
        "the options changed (--pre, --only-binary/--no-binary, --exclude-newer)",
    )
    req.write_text("leaf-a\nleaf-b>=2\n")
    assert state() == ("the requirements changed",)
    assert not check_file(
        path,
        inputs_fingerprint(
            [req], environ=ENVIRON, **with_options(targets=[LINUX], index_url=INDEX)
        ),
    ).current


# -- the command line -----------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_check_exit_codes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index_url: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("requirements.txt").write_text("leaf-a\n")
    target = ["--target", "linux-x86_64-py3.12"]
    check = ["lock", "--check", "-i", index_url, *target]

    code, out, _ = _cli(capsys, *check)
    assert (code, out) == (1, "pylock.toml: stale: the lock file is missing\n")

    code, _, err = _cli(capsys, "lock", "-i", index_url, "--no-cache", *target)
    assert code == 0, err
    assert Path("pylock.toml").exists()
    code, out, _ = _cli(capsys, *check)
    assert (code, out) == (0, "pylock.toml: up to date\n")

    code, out, _ = _cli(capsys, *check, "--target", "windows-amd64-py3.12")
    assert (code, out) == (1, "pylock.toml: stale: the targets changed\n")
    code, out, _ = _cli(
        capsys, "lock", "--check", "-i", index_url.replace("127.0.0.1", "localhost"), *target
    )
    assert (code, out) == (1, "pylock.toml: stale: the index URLs changed\n")

    Path("requirements.txt").write_text("leaf-a<2\n")
    code, out, _ = _cli(capsys, *check)
    assert (code, out) == (1, "pylock.toml: stale: the requirements changed\n")
    code, _, err = _cli(capsys, "lock", "-i", index_url, "--no-cache", *target)
    assert code == 0, err
    assert "~ leaf-a 2.0 -> 1.1" in err
    assert _cli(capsys, *check)[0] == 0

    # --check changes nothing.
    Path("pylock.toml").unlink()
    assert _cli(capsys, *check)[0] == 1
    assert not Path("pylock.toml").exists()


def test_cli_keeps_pins_and_upgrades_on_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index_url: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("requirements.txt").write_text("leaf-a\nleaf-b\n")
    base = ["lock", "-i", index_url, "--no-cache", "--target", "linux-x86_64-py3.12"]

    def locked() -> dict[str, str]:
        return versions(read_lock(Path("pylock.toml")))

    code, _, err = _cli(capsys, *base, "--exclude-newer", "2024-02-01")
    assert code == 0, err
    assert locked() == {"leaf-a": "1.0", "leaf-b": "1.0"}
    code, _, err = _cli(capsys, *base)
    assert code == 0, err
    assert locked() == {"leaf-a": "1.0", "leaf-b": "1.0"}
    code, _, err = _cli(capsys, *base)
    assert code == 0, err
    assert "is up to date" in err
    code, _, err = _cli(capsys, *base, "--upgrade-package", "leaf-a")
    assert code == 0, err
    assert locked() == {"leaf-a": "2.0", "leaf-b": "1.0"}
    assert "~ leaf-a 1.0 -> 2.0" in err
    assert "leaf-b" not in err
    code, _, err = _cli(capsys, *base, "--upgrade-package", "leaf-a==1.1")
    assert code == 0, err
    assert locked() == {"leaf-a": "1.1", "leaf-b": "1.0"}
    code, _, err = _cli(capsys, *base, "--upgrade")
    assert code == 0, err
    assert locked() == {"leaf-a": "2.0", "leaf-b": "3.0"}
    code, _, err = _cli(capsys, *base, "--exclude-newer", "yesterday-ish")
    assert code == 2
    assert "--exclude-newer" in err


# -- the file being replaced, as bytes ---------------------------------------------------


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: PreviousFile) -> Pylock:
        raise AssertionError(f"{self.path} was parsed")

    monkeypatch.setattr(PreviousFile, "parsed", refuse)


def test_an_unchanged_lock_file_is_answered_without_parsing_it(
    relock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["relock"] == "no-cache":
        pytest.skip("only a cache remembers results")
    reqs = ["leaf-a", "leaf-b"]
    path = tmp_path / "pylock.toml"
    relock(reqs, exclude_newer=FEB).write(path)
    # Other inputs: the file is parsed, and its (older) pins kept.
    relock(reqs, previous=PreviousFile.read(path)).write(path)
    text = path.read_bytes()

    with monkeypatch.context() as patched:
        _forbid_parsing(patched)
        again = relock(reqs, previous=PreviousFile.read(path))
    assert again.to_toml().encode() == text
    assert versions(again) == {"leaf-a": "1.0", "leaf-b": "1.0"}

    # Other bytes (an edit, a hand-made lock) are parsed, and their pins kept.
    path.write_bytes(text.replace(b'lock-version = "1.0"', b'lock-version = "1.0"  # edited'))
    edited = relock(reqs, previous=PreviousFile.read(path))
    assert versions(edited) == versions(again)
    # Upgrading keeps nothing, so the bytes' key is not asked for either.
    upgraded = relock(reqs, previous=PreviousFile.read(path), upgrade=True)
    assert versions(upgraded)["leaf-a"] == "2.0"


def test_a_lock_remembered_before_its_text_had_a_key_gets_one(
    relock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["relock"] == "no-cache":
        pytest.skip("only a cache remembers results")
    from reqlock.locking import api

    path = tmp_path / "pylock.toml"
    with monkeypatch.context() as patched:
        # As an older reqlock stored it: under its other keys only.
        patched.setattr(api, "file_key", lambda *args: "0" * 64)
        relock().write(path)
    second = relock(previous=PreviousFile.read(path))  # parsed once, then an alias
    with monkeypatch.context() as patched:
        _forbid_parsing(patched)
        third = relock(previous=PreviousFile.read(path))
    assert second.to_toml() == third.to_toml() == path.read_text()


def test_an_unreadable_lock_file_stops_a_relock_unless_upgrading(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index_url: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("requirements.txt").write_text("leaf-a\n")
    Path("pylock.toml").write_text("lock-version = [\n")
    base = ["lock", "-i", index_url, "--no-cache", "--target", "linux-x86_64-py3.12"]
    code, _, err = _cli(capsys, *base)
    assert code == 2
    assert "pylock.toml" in err
    assert "cannot be read to keep its pins" in err
    assert Path("pylock.toml").read_text() == "lock-version = [\n"  # left alone

    # As the hint says: --upgrade locks from scratch, and reports all as new.
    code, _, err = _cli(capsys, *base, "--upgrade")
    assert code == 0, err
    assert versions(read_lock(Path("pylock.toml"))) == {"leaf-a": "2.0"}
    assert "+ leaf-a 2.0" in err

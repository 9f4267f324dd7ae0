"""export of vcs and directory packages: refused with hashes, written without.

Unit tests on ``Pylock`` objects (every lock dict is validated by
``Pylock.from_dict``): no virtual environment, no pip. ``test_sync_direct.py``
installs what these texts say with real pip.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from packaging.pylock import Pylock

from reqlock.cli.main import main
from reqlock.deploy.export import ExportError, directory_path, export_requirements
from reqlock.errors import LockFileError
from tests.test_verify import HERE_ENV, HERE_TAGS, fake_hash, lock_dict, make_lock, package

INDEX = "https://pypi.example/simple"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMMIT_256 = "ab" * 32


def vcs(name: str = "gitpkg", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "git", "url": "https://git.example/r.git", "commit-id": COMMIT}
    entry.update(fields)
    return {"name": name, "version": "1.0", "vcs": entry}


def directory(name: str = "dirpkg", **fields: Any) -> dict[str, Any]:
    # PEP 751: no version for a directory, it cannot be known from the lock.
    return {"name": name, "directory": {"path": ".", **fields}}


def export(lock: Pylock, **options: Any) -> str:
    return export_requirements(lock, environment=HERE_ENV, tags=HERE_TAGS, **options)


def lines(text: str) -> list[str]:
    return [line.strip().rstrip("\\").strip() for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- with hashes


def test_hashed_export_refuses_one_direct_package_by_name() -> None:
    with pytest.raises(ExportError, match="gitpkg: is locked as a vcs source") as info:
        export(make_lock([package("a", "1", index=INDEX), vcs()]))
    assert info.value.package == "gitpkg"
    assert "--no-hashes" in (info.value.hint or "")


def test_hashed_export_names_every_direct_package() -> None:
    lock = make_lock([vcs("b-git"), directory("a-dir"), package("c", "1", index=INDEX)])
    with pytest.raises(ExportError) as info:
        export(lock)
    message = str(info.value)
    assert "2 packages are locked as vcs or directory sources" in message
    assert "a-dir (directory), b-git (vcs)" in message
    assert "--require-hashes" in message
    assert "c (" not in message
    # Only the packages written count: the others export with hashes as before.
    text = export(lock, packages=["c"])
    assert "c==1 \\\n    --hash=sha256:" in text


def test_archive_subdirectory_is_kept_with_its_hash() -> None:
    digest = fake_hash("z")
    lock = make_lock(
        [
            {
                "name": "z",
                "version": "1.0",
                "archive": {
                    "url": "https://a.example/z.zip",
                    "hashes": {"sha256": digest},
                    "subdirectory": "python/z",
                },
            }
        ]
    )
    text = export(lock)
    assert f"z @ https://a.example/z.zip#subdirectory=python/z \\\n    --hash=sha256:{digest}" in (
        text
    )


# --------------------------------------------------------------------------- without hashes


def test_no_hashes_writes_every_kind(tmp_path: Path) -> None:
    digest = fake_hash("arch")
    lock = make_lock(
        [
            package("idx", "1.0", index=INDEX),
            {
                "name": "arch",
                "version": "2.0",
                "archive": {"path": "dist/arch-2.0.tar.gz", "hashes": {"sha256": digest}},
            },
            vcs("remote-git", subdirectory="py/pkg"),
            vcs("local-git", url=None, path="../repos/local"),
            directory("edit", editable=True),
            directory("plain", path="work", subdirectory="pkg", editable=False),
            directory("unsaid", path=str(tmp_path / "abs dir")),
        ]
    )
    got = lines(export(lock, lock_dir=tmp_path, hashes=False))
    assert "--hash" not in " ".join(got)
    assert got[1] == "# Install with: pip install --no-deps -r <this file>"
    assert got[2].startswith("# Written without hashes: pip does not check")
    assert f"--index-url {INDEX}" in got
    base = tmp_path.as_uri()
    assert "idx==1.0" in got
    assert f"arch @ {base}/dist/arch-2.0.tar.gz" in got
    assert f"remote-git @ git+https://git.example/r.git@{COMMIT}#subdirectory=py/pkg" in got
    assert f"local-git @ git+{(tmp_path.parent / 'repos' / 'local').as_uri()}@{COMMIT}" in got
    assert f"-e edit@{base}" in got
    assert f"plain @ {base}/work/pkg" in got
    # Unspecified editable is not editable; a space is percent-encoded, never split.
    assert f"unsaid @ {base}/abs%20dir" in got


def test_no_hashes_index_and_local_files_keep_their_pins(tmp_path: Path) -> None:
    lock = make_lock(
        [
            package("idx", "1.0", index=INDEX),
            {
                "name": "loc",
                "version": "2.0",
                "sdist": {"path": "dist/loc-2.0.tar.gz", "hashes": {"sha256": fake_hash("l")}},
            },
        ]
    )
    got = lines(export(lock, lock_dir=tmp_path, hashes=False))
    assert [line for line in got if "==" in line] == ["idx==1.0", "loc==2.0"]
    assert f"--find-links {(tmp_path / 'dist').as_uri()}/" in got


def test_direct_packages_are_offered_the_lock_indexes_for_build_requirements() -> None:
    other = "https://other.example/simple"
    lock = make_lock(
        [package("a", "1", index=INDEX), package("b", "1", index=other), vcs(), directory()]
    )
    # Only the direct packages are written (sync's second step): the indexes of the
    # whole selection are still offered, so that pip can find build requirements.
    got = lines(export(lock, packages=["gitpkg", "dirpkg"], hashes=False))
    # One package each: the tie is broken by URL, as for every export.
    assert got[3:5] == [f"--index-url {other}", f"--extra-index-url {INDEX}"]
    assert "--no-index" not in got
    mirror = lines(
        export(lock, packages=["gitpkg"], hashes=False, index_url="https://mirror.example/s")
    )
    assert "--index-url https://mirror.example/s" in mirror
    assert INDEX not in " ".join(mirror)
    # No index anywhere: as for every export, --no-index (no personal config sneaks in).
    alone = lines(export(make_lock([vcs(), directory()]), hashes=False))
    assert "--no-index" in alone


def test_only_selected_never_forbids_building_a_direct_package() -> None:
    lock = make_lock([package("wheelpkg", "1"), vcs()])
    got = lines(export(lock, hashes=False, only_selected=True))
    assert "--only-binary wheelpkg" in got
    assert "--only-binary :all:" not in got


def test_git_sha256_and_hg_commits() -> None:
    text = export(make_lock([vcs(**{"commit-id": COMMIT_256})]), hashes=False)
    assert f"gitpkg @ git+https://git.example/r.git@{COMMIT_256}" in text
    hg = vcs("hgpkg", type="hg", url="https://hg.example/r")
    assert f"hgpkg @ hg+https://hg.example/r@{COMMIT}" in export(make_lock([hg]), hashes=False)
    with pytest.raises(LockFileError, match="not a full hg commit hash"):
        export(make_lock([vcs("hgpkg", type="hg", **{"commit-id": COMMIT_256})]), hashes=False)


def test_other_vcs_types_are_refused() -> None:
    with pytest.raises(ExportError, match="svnpkg: is locked as a 'svn' source; reqlock installs"):
        export(make_lock([vcs("svnpkg", type="svn", **{"commit-id": "1234"})]), hashes=False)


def test_requested_revision_never_reaches_pip() -> None:
    text = export(make_lock([vcs(**{"requested-revision": "main"})]), hashes=False)
    assert "main" not in text
    assert f"@{COMMIT}" in text


def test_directory_path_joins_and_resolves(tmp_path: Path) -> None:
    lock = make_lock([directory(path="../x/./y", subdirectory="sub")])
    source = lock.packages[0].directory
    assert source is not None
    assert directory_path(source, tmp_path) == str(tmp_path.parent / "x" / "y" / "sub")
    assert directory_path(source, None) == str(Path.cwd().parent / "x" / "y" / "sub")


# --------------------------------------------------------------------------- refusals


def _with(entry: Mapping[str, Any], key: str, **fields: Any) -> dict[str, Any]:
    return {**entry, key: {**entry[key], **fields}}


BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    "short-commit": (
        _with(vcs(), "vcs", **{"commit-id": "abc123"}),
        "vcs.commit-id",
        "not a full git commit hash",
    ),
    "upper-commit": (
        _with(vcs(), "vcs", **{"commit-id": COMMIT.upper()}),
        "vcs.commit-id",
        "lowercase hex",
    ),
    "commit-option": (
        _with(vcs(), "vcs", **{"commit-id": COMMIT + " --trusted-host=evil"}),
        "vcs.commit-id",
        "not a full git commit hash",
    ),
    "vcs-scheme": (
        _with(vcs(), "vcs", url="git+https://git.example/r.git"),
        "vcs.url",
        "scheme",
    ),
    "ftp": (_with(vcs(), "vcs", url="ftp://git.example/r.git"), "vcs.url", "scheme"),
    "fragment": (
        _with(vcs(), "vcs", url="https://git.example/r.git#egg=x"),
        "vcs.url",
        "fragment",
    ),
    "at-in-path": (
        _with(vcs(), "vcs", url="https://git.example/r.git@main"),
        "vcs.url",
        "'@' in its path",
    ),
    "option": (_with(vcs(), "vcs", url="-r/etc/passwd"), "vcs.url", ""),
    "env": (
        _with(vcs(), "vcs", url="https://${TOKEN}@git.example/r.git"),
        "vcs.url",
        "'${'",
    ),
    "sub-up": (_with(vcs(), "vcs", subdirectory="../up"), "vcs.subdirectory", "no '..'"),
    "sub-abs": (_with(vcs(), "vcs", subdirectory="/abs"), "vcs.subdirectory", "relative"),
    "sub-empty-part": (_with(vcs(), "vcs", subdirectory="a//b"), "vcs.subdirectory", "relative"),
    "sub-space": (_with(vcs(), "vcs", subdirectory="a b"), "vcs.subdirectory", "relative"),
    "sub-amp": (
        _with(vcs(), "vcs", subdirectory="a&egg=x"),
        "vcs.subdirectory",
        "relative",
    ),
    "dir-control": (
        _with(directory(), "directory", path="src\n--index-url=https://evil"),
        "directory.path",
        "control character",
    ),
    "dir-sub-up": (
        _with(directory(), "directory", subdirectory=".."),
        "directory.subdirectory",
        "no '..'",
    ),
    "archive-sub-up": (
        {
            "name": "z",
            "version": "1",
            "archive": {
                "url": "https://a.example/z.zip",
                "hashes": {"sha256": fake_hash("z")},
                "subdirectory": "../../etc",
            },
        },
        "archive.subdirectory",
        "no '..'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("hashes", [False, True])
def test_unsafe_lock_strings_are_refused_naming_the_key(case: str, hashes: bool) -> None:
    entry, key, words = BAD[case]
    lock = make_lock([package("first", "1"), entry])
    if hashes and "archive" not in entry:
        with pytest.raises(ExportError):  # refused before anything is written
            export(lock, lock_name="pylock.toml")
        return
    with pytest.raises(LockFileError) as info:
        export(lock, lock_name="pylock.toml", hashes=hashes)
    message = str(info.value)
    assert f"[packages[1].{key}]" in message
    assert words in message
    assert "refusing to hand it to pip" in message


# --------------------------------------------------------------------------- command line


def test_cli_export_no_hashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock_file = tmp_path / "pylock.toml"
    data = lock_dict([package("idx", "1.0", index=INDEX), vcs(), directory(editable=True)])
    Pylock.from_dict(data)  # a valid PEP 751 lock
    lock_file.write_text(tomli_w.dumps(data))
    assert main(["export", str(lock_file)]) == 2
    err = capsys.readouterr().err
    assert "dirpkg (directory), gitpkg (vcs)" in err
    assert "--no-hashes" in err
    assert main(["export", str(lock_file), "--no-hashes"]) == 0
    out = capsys.readouterr().out
    assert f"-e dirpkg@{tmp_path.as_uri()}\n" in out
    assert f"gitpkg @ git+https://git.example/r.git@{COMMIT}\n" in out
    assert "idx==1.0\n" in out
    assert "--hash" not in out

"""verify: selection, comparison, the report and its forms (no virtual environments).

The inventories here are built by hand, so every problem kind is tested precisely
and fast; ``test_sync_e2e.py`` does the same against real environments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.pylock import Pylock
from packaging.tags import Tag, parse_tag, sys_tags
from packaging.utils import canonicalize_name

from reqlock.deploy.inventory import FileIssue, InstalledDist, Inventory, InventoryProblem
from reqlock.deploy.verify import (
    PROBLEM_KINDS,
    REPORT_SCHEMA_VERSION,
    LockNotApplicableError,
    LockSelectionError,
    Report,
    VerifyError,
    compare,
    select_expected,
    verify,
)
from reqlock.errors import ReqlockError

HERE_ENV: dict[str, str] = dict(default_environment())
HERE_TAGS: tuple[Tag, ...] = tuple(sys_tags())
HERE_MARKER = f"sys_platform == '{sys.platform}'"
ALPHA = "/env/site-packages/alpha-1.0.dist-info"


# --------------------------------------------------------------------------- helpers
# (also used by test_export.py and test_sync_e2e.py)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def wheel_entry(
    filename: str, *, url: str | None = None, sha256: str | None = None
) -> dict[str, Any]:
    return {
        "name": filename,
        "url": url or f"https://files.example/{filename}",
        "hashes": {"sha256": sha256 or fake_hash(filename)},
    }


def package(
    name: str,
    version: str,
    *,
    tags: Sequence[str] = ("py3-none-any",),
    sdist: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    dist = name.replace("-", "_")
    entry: dict[str, Any] = {"name": name, "version": version, **extra}
    if tags:
        entry["wheels"] = [wheel_entry(f"{dist}-{version}-{tag}.whl") for tag in tags]
    if sdist:
        filename = f"{dist}-{version}.tar.gz"
        entry["sdist"] = {
            "name": filename,
            "url": f"https://files.example/{filename}",
            "hashes": {"sha256": fake_hash(filename)},
        }
    return entry


def lock_dict(
    packages: Sequence[Mapping[str, Any]],
    *,
    environments: Sequence[str] | None = (HERE_MARKER,),
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "lock-version": "1.0",
        "created-by": "reqlock-tests",
        "packages": list(packages),
        **extra,
    }
    if environments is not None:
        data["environments"] = list(environments)
    return data


def make_lock(packages: Sequence[Mapping[str, Any]], **extra: Any) -> Pylock:
    return Pylock.from_dict(lock_dict(packages, **extra))


def installed(
    name: str,
    version: str,
    *,
    tags: str | None = "py3-none-any",
    direct_url: Mapping[str, Any] | None = None,
    fmt: str = "dist-info",
    generator: str | None = "test-builder 1.0",
) -> InstalledDist:
    dist = canonicalize_name(name).replace("-", "_")
    return InstalledDist(
        name=canonicalize_name(name),
        raw_name=name,
        version=version,
        path=f"/env/site-packages/{dist}-{version}.{fmt}",
        location="/env/site-packages",
        format=fmt,  # type: ignore[arg-type]
        wheel_tags=parse_tag(tags) if tags is not None else None,
        wheel_generator=generator,
        installer="pip",
        direct_url=direct_url,
        record=f"/env/site-packages/{dist}-{version}.{fmt}/RECORD",
    )


def inventory_of(
    *dists: InstalledDist,
    problems: Sequence[InventoryProblem] = (),
    environment: Mapping[str, str] | None = None,
    tags: Sequence[Tag] | None = None,
) -> Inventory:
    return Inventory(
        python="/env/bin/python",
        prefix="/env",
        environment=dict(environment or HERE_ENV),
        tags=tuple(tags or HERE_TAGS),
        dists=dists,
        problems=tuple(problems),
    )


def check(
    lock: Pylock,
    inv: Inventory,
    *,
    allow_extra: Sequence[str] = (),
    file_issues: Sequence[FileIssue] | None = None,
    extras: Sequence[str] = (),
    groups: Sequence[str] | None = None,
) -> Report:
    selection = select_expected(
        lock, environment=inv.environment, tags=inv.tags, extras=extras, groups=groups
    )
    return compare(
        selection, inv, allow_extra=allow_extra, file_issues=file_issues, lock_name="pylock.toml"
    )


def kinds(report: Report) -> list[tuple[str, str | None]]:
    return [(p.kind, p.package) for p in report.problems]


# --------------------------------------------------------------------------- compare


def test_matching_environment_is_ok() -> None:
    lock = make_lock([package("alpha", "1.0"), package("beta", "2.0")])
    report = check(lock, inventory_of(installed("alpha", "1.0"), installed("Beta", "2.0")))
    assert report.ok
    assert report.problems == ()
    report.raise_for_problems()  # does not raise
    assert "matches pylock.toml: 2 packages as locked" in report.render()


def test_missing_unexpected_and_version_mismatch_all_reported() -> None:
    lock = make_lock([package("alpha", "1.0"), package("beta", "2.0"), package("gamma", "3.0")])
    inv = inventory_of(
        installed("alpha", "0.9"), installed("gamma", "3.0"), installed("extra", "1")
    )
    report = check(lock, inv)
    assert kinds(report) == [
        ("missing", "beta"),
        ("unexpected", "extra"),
        ("version-mismatch", "alpha"),
    ]
    mismatch = report.problems[2]
    assert (mismatch.expected, mismatch.actual) == ("1.0", "0.9")


def test_allow_extra_is_canonicalized_and_nothing_else_is_allowed() -> None:
    lock = make_lock([package("alpha", "1.0")])
    inv = inventory_of(
        installed("alpha", "1.0"), installed("pip", "26.0"), installed("Zope.Interface", "7")
    )
    report = check(lock, inv, allow_extra=["zope_interface"])
    assert kinds(report) == [("unexpected", "pip")]
    assert report.allow_extra == ("zope-interface",)


def test_locally_built_wheel_with_other_tags_is_not_in_lock() -> None:
    lock = make_lock([package("native", "1.0", tags=["cp311-cp311-manylinux_2_17_x86_64"])])
    inv = inventory_of(
        installed("native", "1.0", tags="cp311-cp311-linux_x86_64", generator="setuptools (80)"),
        tags=[
            Tag("cp311", "cp311", "manylinux_2_17_x86_64"),
            Tag("cp311", "cp311", "linux_x86_64"),
        ],
    )
    report = check(lock, inv)
    assert kinds(report) == [("file-not-in-lock", "native")]
    problem = report.problems[0]
    assert "linux_x86_64" in problem.detail
    assert "setuptools (80)" in problem.detail
    assert problem.expected == "native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


def test_sdist_selected_accepts_a_locally_built_wheel() -> None:
    lock = make_lock([package("puresrc", "1.0", tags=[], sdist=True)])
    report = check(lock, inventory_of(installed("puresrc", "1.0", tags="py3-none-any")))
    assert report.ok


def test_egg_info_install_is_not_from_the_locked_wheel() -> None:
    lock = make_lock([package("old", "1.0")])
    report = check(lock, inventory_of(installed("old", "1.0", tags=None, fmt="egg-info")))
    assert kinds(report) == [("file-not-in-lock", "old")]
    assert "egg-info" in report.problems[0].detail


@pytest.mark.parametrize(
    ("direct_url", "words"),
    [
        ({"url": "file:///src/alpha", "dir_info": {"editable": True}}, "editable directory"),
        ({"url": "file:///src/alpha", "dir_info": {}}, "local directory"),
        (
            {
                "url": "https://user:secret@git.example/alpha.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123"},
            },
            "git checkout",
        ),
        ({"url": "https://elsewhere.example/alpha-1.0-py3-none-any.whl", "archive_info": {}}, ""),
    ],
)
def test_direct_url_installs_are_reported(direct_url: dict[str, Any], words: str) -> None:
    lock = make_lock([package("alpha", "1.0")])
    report = check(lock, inventory_of(installed("alpha", "1.0", direct_url=direct_url)))
    assert kinds(report) == [("direct-url", "alpha")]
    problem = report.problems[0]
    assert words in problem.detail
    assert "secret" not in report.render() + report.to_json()
    assert problem.expected == "alpha-1.0-py3-none-any.whl"


def test_locked_file_installed_by_url_is_fine() -> None:
    entry = package("alpha", "1.0")
    digest = entry["wheels"][0]["hashes"]["sha256"]
    direct = {
        "url": "file:///wheels/alpha-1.0-py3-none-any.whl",
        "archive_info": {"hashes": {"sha256": digest}},
    }
    report = check(make_lock([entry]), inventory_of(installed("alpha", "1.0", direct_url=direct)))
    assert report.ok


def test_other_file_installed_by_url_is_not_in_lock() -> None:
    direct = {
        "url": "file:///tmp/local/alpha-1.0-py3-none-any.whl",
        "archive_info": {"hash": "sha256=" + fake_hash("something else")},
    }
    report = check(
        make_lock([package("alpha", "1.0")]),
        inventory_of(installed("alpha", "1.0", direct_url=direct)),
    )
    assert kinds(report) == [("file-not-in-lock", "alpha")]
    assert fake_hash("something else") in (report.problems[0].actual or "")


def test_vcs_and_directory_and_archive_packages() -> None:
    lock = make_lock(
        [
            {
                "name": "fromgit",
                "version": "1.0",
                "vcs": {"type": "git", "url": "https://git.example/x.git", "commit-id": "c0ffee"},
            },
            {"name": "fromdir", "directory": {"path": "/src/fromdir", "editable": True}},
            {
                "name": "fromzip",
                "archive": {"url": "https://a.example/z.zip", "hashes": {"sha256": fake_hash("z")}},
            },
        ]
    )
    good = inventory_of(
        installed(
            "fromgit",
            "1.0",
            direct_url={
                "url": "https://git.example/x.git",
                "vcs_info": {"vcs": "git", "commit_id": "c0ffee"},
            },
        ),
        installed(
            "fromdir",
            "0.1",
            direct_url={"url": "file:///src/fromdir", "dir_info": {"editable": True}},
        ),
        installed(
            "fromzip",
            "2",
            direct_url={
                "url": "https://a.example/z.zip",
                "archive_info": {"hashes": {"sha256": fake_hash("z")}},
            },
        ),
    )
    assert check(lock, good).ok
    bad = inventory_of(
        installed(
            "fromgit",
            "1.0",
            direct_url={
                "url": "https://git.example/x.git",
                "vcs_info": {"vcs": "git", "commit_id": "deadbeef"},
            },
        ),
        installed("fromdir", "0.1", direct_url={"url": "file:///src/fromdir", "dir_info": {}}),
        installed("fromzip", "2"),
    )
    assert kinds(check(lock, bad)) == [
        ("direct-url", "fromdir"),
        ("direct-url", "fromgit"),
        ("direct-url", "fromzip"),
    ]


def test_file_issues_and_inventory_problems_become_problems() -> None:
    lock = make_lock([package("alpha", "1.0")])
    issues = [
        FileIssue(
            kind="modified",
            package=canonicalize_name("alpha"),
            dist=ALPHA,
            path="alpha/a.py",
            detail="content differs from RECORD",
            expected="sha256=x",
            actual="sha256=y",
        ),
        FileIssue(
            kind="missing",
            package=canonicalize_name("alpha"),
            dist=ALPHA,
            path="alpha/b.py",
            detail="file is gone",
        ),
        FileIssue(
            kind="record",
            package=canonicalize_name("alpha"),
            dist=ALPHA,
            path="/r/RECORD",
            detail="RECORD line 3: expected 3 fields (path,hash,size), got 1",
        ),
    ]
    inv = inventory_of(
        installed("alpha", "1.0"),
        problems=[
            InventoryProblem(package=canonicalize_name("alpha"), path="/p", detail="no RECORD file")
        ],
    )
    report = check(lock, inv, file_issues=issues)
    assert kinds(report) == [
        ("file-modified", "alpha"),
        ("file-missing", "alpha"),
        ("broken-install", "alpha"),
        ("broken-install", "alpha"),
    ]
    assert report.checked_files
    text = report.render()
    assert "file-modified (1):\n  alpha: alpha/a.py (content differs from RECORD)" in text
    assert "RECORD line 3" in text


def test_render_collapses_many_missing_files() -> None:
    lock = make_lock([package("alpha", "1.0")])
    issues = [
        FileIssue(
            kind="missing",
            package=canonicalize_name("alpha"),
            dist=ALPHA,
            path=f"alpha/m{i}.py",
            detail="file is gone",
        )
        for i in range(12)
    ]
    text = check(lock, inventory_of(installed("alpha", "1.0")), file_issues=issues).render()
    assert "file-missing (12):" in text
    assert "... and 7 more files" in text


def test_invalid_installed_version_is_a_broken_install() -> None:
    lock = make_lock([package("alpha", "1.0")])
    report = check(lock, inventory_of(installed("alpha", "not a version")))
    assert kinds(report) == [("broken-install", "alpha")]


# --------------------------------------------------------------------------- selection


def test_lock_for_another_platform_is_not_applicable() -> None:
    lock = make_lock(
        [package("alpha", "1.0")],
        environments=["sys_platform == 'win32' and python_version == '3.12'"],
    )
    with pytest.raises(LockNotApplicableError) as info:
        check(lock, inventory_of())
    message = str(info.value)
    assert "is not for this interpreter" in message
    assert 'sys_platform == "win32"' in message or "sys_platform == 'win32'" in message
    assert f"python_version {HERE_ENV['python_version']}" in message
    assert f"platform_machine {HERE_ENV['platform_machine']}" in message
    assert isinstance(info.value, ReqlockError)
    assert info.value.interpreter["sys_platform"] == sys.platform


def test_requires_python_problems_are_collected_not_raised() -> None:
    lock = make_lock(
        [
            package("alpha", "1.0", **{"requires-python": ">=99"}),
            package("beta", "1.0", **{"requires-python": ">=98"}),
            package("gamma", "1.0"),
        ],
        **{"requires-python": ">=97"},
    )
    report = check(lock, inventory_of(installed("gamma", "1.0")))
    assert kinds(report) == [
        ("requires-python", None),
        ("requires-python", "alpha"),
        ("requires-python", "beta"),
    ]
    assert report.problems[0].expected == ">=97"


def test_no_compatible_file_is_a_problem() -> None:
    lock = make_lock(
        [package("winonly", "1.0", tags=["cp311-cp311-win_amd64"]), package("ok", "1")]
    )
    report = check(lock, inventory_of(installed("ok", "1")))
    assert kinds(report) == [("no-locked-file", "winonly")]
    assert "win_amd64" in report.problems[0].detail


def test_markers_extras_and_groups_select() -> None:
    lock = make_lock(
        [
            package("base", "1"),
            package("onlywin", "1", marker="sys_platform == 'win32'"),
            package("withextra", "1", marker="'fast' in extras"),
            package("devtool", "1", marker="'dev' in dependency_groups"),
        ],
        extras=["fast"],
        **{"dependency-groups": ["dev"], "default-groups": []},
    )
    plain = check(lock, inventory_of(installed("base", "1")))
    assert plain.ok
    full = check(
        lock,
        inventory_of(
            installed("base", "1"), installed("withextra", "1"), installed("devtool", "1")
        ),
        extras=["fast"],
        groups=["dev"],
    )
    assert full.ok
    with pytest.raises(LockSelectionError, match="Undeclared extras: nope"):
        check(lock, inventory_of(), extras=["nope"])


# --------------------------------------------------------------------------- report


def test_json_schema_is_stable_and_sorted() -> None:
    lock = make_lock([package("alpha", "1.0"), package("beta", "2.0")])
    report = check(lock, inventory_of(installed("zed", "1"), installed("alpha", "0.1")))
    data = json.loads(report.to_json())
    assert data["version"] == REPORT_SCHEMA_VERSION
    assert data["ok"] is False
    assert set(data) == {
        "version",
        "ok",
        "lock",
        "python",
        "interpreter",
        "checked_files",
        "allow_extra",
        "allow_unowned",
        "counts",
        "problems",
        "not_checked",
    }
    assert REPORT_SCHEMA_VERSION == 2
    assert data["counts"] == {"expected": 2, "installed": 2, "problems": 3}
    assert [p["kind"] for p in data["problems"]] == ["missing", "unexpected", "version-mismatch"]
    for problem in data["problems"]:
        assert set(problem) == {"kind", "package", "detail", "expected", "actual", "path"}
        assert problem["kind"] in PROBLEM_KINDS
    assert (
        report.to_json()
        == check(lock, inventory_of(installed("alpha", "0.1"), installed("zed", "1"))).to_json()
    )


def test_raise_for_problems_lists_every_problem() -> None:
    lock = make_lock([package("alpha", "1.0"), package("beta", "2.0")])
    report = check(lock, inventory_of(installed("extra", "1")))
    with pytest.raises(VerifyError) as info:
        report.raise_for_problems()
    message = str(info.value)
    assert "3 problems" in message
    assert "missing: alpha" in message
    assert "missing: beta" in message
    assert "unexpected: extra" in message
    assert info.value.report is report


def test_render_groups_by_kind() -> None:
    lock = make_lock([package("alpha", "1.0"), package("beta", "2.0")])
    text = check(lock, inventory_of(installed("beta", "1.0"), installed("x", "1"))).render()
    assert text.splitlines()[0] == "/env/bin/python does not match pylock.toml: 3 problems"
    assert (
        text.index("missing (1):")
        < text.index("unexpected (1):")
        < text.index("version-mismatch (1):")
    )
    assert "  beta: locked 2.0, installed 1.0" in text


def test_report_is_frozen() -> None:
    report = check(make_lock([]), inventory_of())
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.lock = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- verify()


def test_verify_on_the_running_interpreter_without_files(tmp_path: Path) -> None:
    lock_file = tmp_path / "pylock.toml"
    lock_file.write_text(
        'lock-version = "1.0"\ncreated-by = "t"\n'
        f'environments = ["{HERE_MARKER}"]\n'
        '[[packages]]\nname = "packaging"\nversion = "0.0.1"\n'
        '[[packages.wheels]]\nname = "packaging-0.0.1-py3-none-any.whl"\n'
        'url = "https://files.example/packaging-0.0.1-py3-none-any.whl"\n'
        f'hashes = {{sha256 = "{fake_hash("p")}"}}\n'
    )
    report = verify(lock_file, check_files=False)
    assert report.lock == str(lock_file)
    assert ("version-mismatch", "packaging") in kinds(report)
    assert not report.checked_files


def test_verify_imports_no_http_code(tmp_path: Path) -> None:
    lock_file = tmp_path / "pylock.toml"
    lock_file.write_text('lock-version = "1.0"\ncreated-by = "t"\npackages = []\n')
    code = (
        "import sys\n"
        "from reqlock.cli.main import main\n"
        f"code = main(['verify', {str(lock_file)!r}, '--no-files', '--json'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'httpx', 'httpcore', 'h11', 'h2', 'anyio', 'ssl', 'resolvelib', 'email'})\n"
        "print(heavy, file=sys.stderr)\n"
        "assert not heavy, heavy\n"
        "assert code == 1\n"
    )
    src = str(Path(__file__).resolve().parent.parent / "src")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == REPORT_SCHEMA_VERSION


def test_verify_missing_interpreter_is_an_inventory_error(tmp_path: Path) -> None:
    from reqlock.errors import InventoryError

    lock_file = tmp_path / "pylock.toml"
    lock_file.write_text('lock-version = "1.0"\ncreated-by = "t"\npackages = []\n')
    with pytest.raises(InventoryError, match="no such interpreter"):
        verify(lock_file, python=str(tmp_path / "nope" / "python"))


def test_verify_bad_lock_stops_the_interpreter(tmp_path: Path) -> None:
    from reqlock.errors import LockFileError

    lock_file = tmp_path / "pylock.toml"
    lock_file.write_text('lock-version = "1.0"\ncreated-by = "t"\npackages = [\n')
    with pytest.raises(LockFileError, match="not valid TOML"):
        verify(lock_file)

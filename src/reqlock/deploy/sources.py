"""Is an installed distribution the locked file? Origin, WHEEL tags, RECORD digest.

These are the per-package checks of :func:`~reqlock.deploy.verify.compare`:

* where it was installed from (PEP 610 ``direct_url.json``) against the lock's
  source (:func:`source_problems`);
* which locked wheel it is (:func:`installed_wheel`, by the hash in
  ``direct_url.json`` or else by WHEEL tags) and whether its RECORD reduces to
  the digest the lock stores for that wheel (:func:`record_check`): the one
  check that catches a file edited together with its RECORD row, a file added to
  or removed from RECORD, or another build of the same version;
* files on ``sys.path`` that no RECORD lists (:func:`unowned_problems`).

Functions over the lock and the inventory. Their only I/O is resolving symbolic
links: a local path in the lock (resolved against the lock's directory) and the
``file:`` URL pip recorded name the same place when their real paths are equal.
"""

from __future__ import annotations

__all__ = [
    "RecordStatus",
    "expected_text",
    "file_problem",
    "installed_wheel",
    "locked_records",
    "record_check",
    "source_problems",
    "unowned_problems",
]

import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, TypeAlias
from urllib.parse import unquote, urlsplit

from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
)
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from reqlock.deploy.inventory import FileIssue, InstalledDist, Inventory
from reqlock.deploy.report import Problem, ProblemKind
from reqlock.deploy.select import Source
from reqlock.urls import redact_text

RecordStatus: TypeAlias = Literal["checked", "no-digest", "not-computed", "no-wheel"]
"""Outcome of :func:`record_check` when there is no mismatch: compared and equal,
the lock has no digest for the wheel, the inventory computed none for the
installed copy, or no locked wheel is the installed one (built from an sdist)."""

_MakeProblem: TypeAlias = Callable[[ProblemKind, str, "str | None"], Problem]
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# "<.pth file>: <line>" (Inventory.pth_imports); lazy, so Windows paths (C:...) work.
_PTH_PREFIX_RE = re.compile(r"(?P<path>[^\n]+?\.pth)(?::\d+)?: ?")


def _file_url_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return os.path.normpath(unquote(parts.path))


def _real(path: str | os.PathLike[str]) -> str:
    # realpath, so that a lock read through a symlinked directory and pip's record
    # of the resolved path (or the other way round) still match.
    return os.path.normcase(os.path.realpath(path))


def _same_url(installed: str, locked: str, base: Path, subdirectory: str | None = None) -> bool:
    """Equal URLs, ignoring credentials, fragments and how a local path is spelt;
    ``subdirectory`` is joined to a local ``locked`` path (a directory entry's)."""
    local = _file_url_path(installed)
    if local is not None:
        target = locked if "://" not in locked else (_file_url_path(locked) or "")
        if not target:
            return False
        return _real(os.path.join(base / target, subdirectory or "")) == _real(local)

    def clean(url: str) -> str:
        return redact_text(url).split("#", 1)[0].rstrip("/")

    return clean(installed) == clean(locked)


def _subdirectory(value: object) -> str | None:
    """A subdirectory as compared: ``None`` for none, without ``./`` or slashes
    at the ends."""
    if not isinstance(value, str):
        return None
    parts = [part for part in value.replace("\\", "/").split("/") if part not in {"", "."}]
    return "/".join(parts) or None


def _archive_hashes(direct_url: Mapping[str, Any]) -> dict[str, str]:
    info = direct_url.get("archive_info")
    if not isinstance(info, Mapping):
        return {}
    hashes = {}
    raw = info.get("hashes")
    if isinstance(raw, Mapping):
        hashes.update({str(k): str(v).lower() for k, v in raw.items()})
    single = info.get("hash")
    if isinstance(single, str) and "=" in single:
        algorithm, _, value = single.partition("=")
        hashes.setdefault(algorithm, value.lower())
    return hashes


def _locked_files(package: Package) -> list[PackageWheel | PackageSdist | PackageArchive]:
    files: list[PackageWheel | PackageSdist | PackageArchive] = list(package.wheels or ())
    if package.sdist is not None:
        files.append(package.sdist)
    if package.archive is not None:
        files.append(package.archive)
    return files


def _hash_match(
    hashes: Mapping[str, str], files: Sequence[PackageWheel | PackageSdist | PackageArchive]
) -> bool:
    return any(
        hashes.get(algorithm) == value.lower()
        for item in files
        for algorithm, value in item.hashes.items()
    )


def _direct_kind(direct_url: Mapping[str, Any]) -> str:
    dir_info = direct_url.get("dir_info")
    if isinstance(dir_info, Mapping):
        return "an editable directory" if dir_info.get("editable") else "a local directory"
    if isinstance(direct_url.get("vcs_info"), Mapping):
        vcs = direct_url["vcs_info"].get("vcs", "vcs")
        return f"a {vcs} checkout"
    return "an archive URL"


def _direct_url_text(direct_url: Mapping[str, Any]) -> str:
    url = redact_text(str(direct_url.get("url", "?")))
    vcs_info = direct_url.get("vcs_info")
    if isinstance(vcs_info, Mapping) and vcs_info.get("commit_id"):
        url += f"@{vcs_info['commit_id']}"
    return url


def expected_text(source: Source, package: Package) -> str:
    """What the lock says to install, in a few words (credentials removed)."""
    if isinstance(source, PackageWheel | PackageSdist):
        return source.filename
    if isinstance(source, PackageVcs):
        text = f"{source.type}+{redact_text(source.url or source.path or '')}@{source.commit_id}"
        return text + (f"#subdirectory={source.subdirectory}" if source.subdirectory else "")
    if isinstance(source, PackageDirectory):
        path = (
            os.path.join(source.path, source.subdirectory) if source.subdirectory else source.path
        )
        return f"{'editable ' if source.editable else ''}directory {path}"
    return redact_text(source.url or source.path or str(package.name))


def source_problems(
    package: Package, source: Source, dist: InstalledDist, base: Path
) -> list[Problem]:
    """Whether ``dist`` came from the locked ``source`` (``base`` resolves the lock's
    relative paths): ``direct-url`` and ``file-not-in-lock`` problems."""
    name = package.name
    direct = dist.direct_url
    expected = expected_text(source, package)

    def problem(kind: ProblemKind, detail: str, actual: str | None) -> Problem:
        return Problem(
            kind=kind, package=name, detail=detail, expected=expected, actual=actual, path=dist.path
        )

    if isinstance(source, PackageVcs | PackageDirectory):
        if direct is not None and _direct_matches(source, direct, base):
            return []
        actual = _direct_url_text(direct) if direct else "an index"
        origin = f"{_direct_kind(direct)} {actual}" if direct else actual
        return [problem("direct-url", f"locked {expected}, installed from {origin}", actual)]

    files = _locked_files(package)
    if direct is not None:
        if not isinstance(direct.get("archive_info"), Mapping):
            kind = _direct_kind(direct)
            actual = _direct_url_text(direct)
            return [
                problem(
                    "direct-url", f"installed from {kind} ({actual}), locked {expected}", actual
                )
            ]
        hashes = _archive_hashes(direct)
        url = str(direct.get("url", ""))
        if hashes:
            if not _hash_match(hashes, files):
                digest = hashes.get("sha256") or next(iter(hashes.values()))
                return [
                    problem(
                        "file-not-in-lock",
                        f"installed from {redact_text(url)}, a file that is not in the lock "
                        f"(locked {expected})",
                        f"{redact_text(url)} sha256={digest}",
                    )
                ]
            return []
        if not any(_same_url(url, f.url or f.path or "", base) for f in files):
            return [
                problem(
                    "direct-url",
                    f"installed from {redact_text(url)}, locked {expected}",
                    redact_text(url),
                )
            ]
        return []
    if isinstance(source, PackageArchive):
        return [problem("direct-url", f"locked {expected}, installed from an index", "an index")]
    if isinstance(source, PackageWheel):
        return _wheel_problems(package, source, dist, problem)
    return []


def _direct_matches(
    source: PackageVcs | PackageDirectory, direct: Mapping[str, Any], base: Path
) -> bool:
    """Whether ``direct_url.json`` says the locked vcs commit (same repository and
    subdirectory) or the locked directory (same real path, same editable flag)."""
    url = str(direct.get("url", ""))
    installed_sub = _subdirectory(direct.get("subdirectory"))
    if isinstance(source, PackageVcs):
        vcs_info = direct.get("vcs_info")
        return (
            isinstance(vcs_info, Mapping)
            and vcs_info.get("vcs") == source.type
            and vcs_info.get("commit_id") == source.commit_id
            and installed_sub == _subdirectory(source.subdirectory)
            and _same_url(url, source.url or source.path or "", base)
        )
    dir_info = direct.get("dir_info")
    if not isinstance(dir_info, Mapping):
        return False
    if bool(dir_info.get("editable")) != bool(source.editable):
        return False
    # pip records the directory it was given; "file:///repo#subdirectory=pkg"
    # would be recorded as the repository plus a subdirectory.
    if installed_sub is not None:
        local = _file_url_path(url)
        if local is None:
            return False
        url = Path(os.path.join(local, installed_sub)).as_uri()
    return _same_url(url, source.path, base, source.subdirectory)


def _wheel_problems(
    package: Package, source: PackageWheel, dist: InstalledDist, problem: _MakeProblem
) -> list[Problem]:
    if dist.wheel_tags is None:
        how = "as egg-info" if dist.format == "egg-info" else "with no WHEEL file"
        return [
            problem(
                "file-not-in-lock",
                f"installed {how}, not from a wheel; locked {source.filename}",
                dist.format,
            )
        ]
    locked_tags: set[Tag] = set()
    for wheel in package.wheels or ():
        locked_tags |= parse_wheel_filename(wheel.filename)[3]
    if dist.wheel_tags & locked_tags:
        return []
    tags = ".".join(sorted(str(t) for t in dist.wheel_tags)) or "no tags"
    generator = f" by {dist.wheel_generator}" if dist.wheel_generator else ""
    return [
        problem(
            "file-not-in-lock",
            f"installed wheel tagged {tags} (built{generator}) is none of the locked "
            f"wheels; the lock has {source.filename} for this interpreter",
            tags,
        )
    ]


def file_problem(issue: FileIssue) -> Problem:
    """The problem for one result of :func:`~reqlock.deploy.inventory.check_files`."""
    if issue.kind == "modified":
        return Problem(
            kind="file-modified",
            package=issue.package,
            detail=issue.detail,
            expected=issue.expected,
            actual=issue.actual,
            path=issue.path,
        )
    if issue.kind == "missing":
        return Problem(
            kind="file-missing", package=issue.package, detail=issue.detail, path=issue.path
        )
    return Problem(
        kind="broken-install", package=issue.package, detail=issue.detail, path=issue.path
    )


def locked_records(package: Package) -> Mapping[str, Any]:
    """The RECORD digests the lock holds for the package's wheels, by file name
    (``{}`` when none).

    ``[packages.tool.reqlock] records`` is a list in the order of ``wheels`` (``""``:
    no digest), or a table by wheel file name (earlier locks, or written by hand). A
    list whose length is not the number of wheels cannot be matched to them: every
    wheel then gets a digest that matches nothing, so deep verify fails instead of
    skipping the check."""
    tool = package.tool
    own = tool.get("reqlock") if isinstance(tool, Mapping) else None
    records = own.get("records") if isinstance(own, Mapping) else None
    if isinstance(records, Mapping):
        return records
    if not isinstance(records, list):
        return {}
    names = [wheel.filename for wheel in package.wheels or ()]
    if len(records) != len(names):
        return dict.fromkeys(names, "<the lock's records do not match its wheels>")
    return {name: digest for name, digest in zip(names, records, strict=True) if digest}


def installed_wheel(package: Package, source: Source, dist: InstalledDist) -> PackageWheel | None:
    """The locked wheel ``dist`` was installed from, or ``None`` when none is.

    By the file hash ``direct_url.json`` records, when there is one; else by the
    WHEEL tags (the same tag set first, preferring the selected wheel), which is
    all an index install leaves behind.
    """
    wheels = list(package.wheels or ())
    hashes = _archive_hashes(dist.direct_url) if dist.direct_url else {}
    if hashes:
        return next((w for w in wheels if _hash_match(hashes, [w])), None)
    if dist.wheel_tags is None:
        return None
    tagged = [(w, parse_wheel_filename(w.filename)[3]) for w in wheels]
    for accept in (_same_tags, _some_tag):
        found = [w for w, tags in tagged if accept(tags, dist.wheel_tags)]
        if found:
            return source if isinstance(source, PackageWheel) and source in found else found[0]
    return None


def _same_tags(locked: frozenset[Tag], installed: frozenset[Tag]) -> bool:
    return locked == installed


def _some_tag(locked: frozenset[Tag], installed: frozenset[Tag]) -> bool:
    return bool(locked & installed)


def record_check(
    package: Package, source: Source, dist: InstalledDist
) -> tuple[RecordStatus, Problem | None]:
    """Compare the RECORD digest the lock has for the installed wheel with the one
    the inventory computed from the installed RECORD.

    A mismatch (or a stored digest that is not ``sha256:<64 hex>``, which can
    match nothing) is a ``record-mismatch`` problem; otherwise the status says
    whether the comparison ran.
    """
    wheel = installed_wheel(package, source, dist)
    if wheel is None:
        return "no-wheel", None
    stored = locked_records(package).get(wheel.filename)
    if stored is None:
        return "no-digest", None
    actual = dist.record_digest
    if actual is None:
        return "not-computed", None
    if not isinstance(stored, str) or not _DIGEST_RE.fullmatch(stored.lower()):
        detail = f"the lock's RECORD digest for {wheel.filename} is not sha256:<64 hex digits>"
        shown = None
    elif stored.lower() == actual.lower():
        return "checked", None
    else:
        detail = (
            f"files differ from the locked wheel {wheel.filename}: a file edited with its "
            "RECORD rewritten, a file added or removed, or another build of the same version"
        )
        shown = stored.lower()
    problem = Problem(
        kind="record-mismatch",
        package=package.name,
        detail=detail,
        expected=shown,
        actual=actual,
        path=dist.path,
    )
    return "checked", problem


def _allowed(path: str, allow: Collection[str]) -> bool:
    # fnmatchcase: the same answer on every platform ('*' also matches '/').
    return any(fnmatchcase(path, pattern) for pattern in allow)


def unowned_problems(inventory: Inventory, allow_unowned: Collection[str]) -> list[Problem]:
    """``unowned-file`` for each file on ``sys.path`` no RECORD lists, and
    ``pth-import`` for each import line of such a ``.pth``, except paths matching a glob of
    ``allow_unowned`` (relative to the site directory, ``/`` separators)."""
    problems: list[Problem] = []
    for item in inventory.unowned:
        if _allowed(item.path, allow_unowned):
            continue
        if item.kind == "pth":
            what = "a .pth file, which Python processes at every start"
        else:
            what = "an importable file"
        problems.append(
            Problem(
                kind="unowned-file",
                package=None,
                detail=f"{what} that no installed distribution's RECORD lists "
                f"(in {redact_text(item.site)})",
                actual=item.kind,
                path=item.path,
            )
        )
    # The import lines of a .pth that a RECORD owns are that distribution's code:
    # checked with its files when it is locked, an "extra" when it is not. Only an
    # unowned .pth's code is a problem of its own (setuptools' owned
    # distutils-precedence.pth, in every fresh venv, is not).
    unowned_pth = {
        os.path.normcase(os.path.normpath(os.path.join(item.site, item.path)))
        for item in inventory.unowned
        if item.kind == "pth"
    }
    for line in inventory.pth_imports:
        match = _PTH_PREFIX_RE.match(line)
        if match and os.path.normcase(os.path.normpath(match["path"])) not in unowned_pth:
            continue
        # A .pth file is read only directly in a site directory: its name is its
        # path relative to that directory, what allow_unowned globs match.
        path = match["path"].replace("\\", "/").rpartition("/")[2] if match else None
        if _allowed(line, allow_unowned) or (path and _allowed(path, allow_unowned)):
            continue
        code = (line[match.end() :] if match else line).strip()
        # A control character in a message could hide or fake a line of output.
        shown = code if code.isprintable() else repr(code)
        problems.append(
            Problem(
                kind="pth-import",
                package=None,
                detail=f"runs code at every interpreter start: {redact_text(shown)}",
                actual=redact_text(code),
                path=path,
            )
        )
    return problems

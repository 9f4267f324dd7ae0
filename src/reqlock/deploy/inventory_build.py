"""The inventory script's JSON answer, turned into typed values.

Every value is checked for its type: a wrong one raises ``KeyError``,
``TypeError`` or ``ValueError``, which :mod:`reqlock.deploy.inventory` reports as
an answer reqlock cannot read. Keys added after schema 1 (RECORD rows, unowned
files, ``.pth`` import lines, path problems) may be absent.
"""

from __future__ import annotations

__all__ = ["build_inventory", "file_issue"]

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reqlock.deploy import inventory_script as _script
from reqlock.deploy.inventory_tags import tags_from_facts
from reqlock.deploy.inventory_types import (
    FileIssue,
    InstalledDist,
    Inventory,
    InventoryProblem,
    UnownedFile,
)

if TYPE_CHECKING:
    from packaging.tags import Tag
    from packaging.utils import NormalizedName

_UNOWNED_KINDS = ("pth", "importable", "other")


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} is not a string")
    return value


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def build_inventory(
    data: Mapping[str, Any],
    helpers: list[dict[str, Any]] | None,
    skip: frozenset[str] = frozenset(),
) -> Inventory:
    """The :class:`Inventory` of the main answer ``data`` and, when files were
    checked, the answers of the helper processes (``None``: not checked)."""
    environment = {
        _str(key, "marker name"): _str(value, f"marker {key}")
        for key, value in dict(data["environment"]).items()
    }
    problems: list[InventoryProblem] = []
    dists = tuple(_build_dist(raw, problems) for raw in data["dists"])
    problems.extend(_duplicates(dists))
    problems.extend(
        InventoryProblem(
            package=None,
            path=_str(raw["path"], "problem path"),
            detail=_str(raw["detail"], "problem detail"),
        )
        for raw in data.get("problems") or ()
    )
    file_issues = None if helpers is None else _file_issues(data, helpers, dists, skip, problems)
    return Inventory(
        python=_str(data["executable"], "executable"),
        prefix=_str(data["prefix"], "prefix"),
        environment=environment,
        tags=tags_from_facts(data["tag_facts"]),
        dists=dists,
        problems=tuple(problems),
        path=tuple(_str(p, "path entry") for p in data["path"]),
        file_issues=file_issues,
        unowned=_unowned(data.get("unowned") or ()),
        pth_imports=tuple(
            f"{_str(file, 'pth file')}: {_str(line, 'pth line')}"
            for file, line in data.get("pth_imports") or ()
        ),
    )


def _file_issues(
    data: Mapping[str, Any],
    helpers: list[dict[str, Any]],
    dists: Sequence[InstalledDist],
    skip: frozenset[str],
    problems: Sequence[InventoryProblem],
) -> tuple[FileIssue, ...]:
    from packaging.utils import canonicalize_name

    by_path = {dist.path: dist for dist in dists}
    raw_issues: list[Mapping[str, Any]] = list(data["file_issues"])
    checked = set(data["checked"])
    for answer in helpers:
        raw_issues.extend(answer["file_issues"])
        checked.update(answer["checked"])
    # The helpers scanned on their own; whatever they did not see is checked here.
    for dist in dists:
        if (
            dist.record is not None
            and dist.path not in checked
            and not _script.skipped(dist.path, skip)
        ):
            raw_issues.extend(_script.check_dist(dist.path, dist.location, dist.record))
    # An unreadable RECORD is a problem of the dist already; once is enough.
    reported = {(problem.path, problem.detail) for problem in problems}
    issues = []
    for raw in raw_issues:
        dist_path = _str(raw["dist"], "dist")
        if raw["kind"] == "record" and (dist_path, raw["detail"]) in reported:
            continue
        owner = by_path.get(dist_path)
        if owner is not None:
            name = owner.name
        else:  # seen by a helper only (the path changed meanwhile)
            name = canonicalize_name(os.path.basename(dist_path).partition("-")[0])
        issues.append(file_issue(raw, name))
    issues.sort(key=lambda issue: (issue.package, issue.dist, issue.path, issue.kind))
    return tuple(issues)


def file_issue(raw: Mapping[str, Any], name: NormalizedName) -> FileIssue:
    """One file issue of the script's answer, for the distribution ``name``."""
    kind = raw["kind"]
    if kind not in ("modified", "missing", "record"):
        raise ValueError(f"unknown file issue {kind!r}")
    return FileIssue(
        kind=kind,
        package=name,
        dist=_str(raw["dist"], "dist"),
        path=_str(raw["path"], "path"),
        detail=_str(raw["detail"], "detail"),
        expected=_opt_str(raw.get("expected"), "expected"),
        actual=_opt_str(raw.get("actual"), "actual"),
    )


def _unowned(raw: Sequence[Any]) -> tuple[UnownedFile, ...]:
    found = []
    for site, path, kind in raw:
        if kind not in _UNOWNED_KINDS:
            raise ValueError(f"unknown kind of unowned file {kind!r}")
        found.append(
            UnownedFile(path=_str(path, "unowned path"), site=_str(site, "site"), kind=kind)
        )
    found.sort(key=lambda item: (item.site, item.path))
    return tuple(found)


def _record_digest(raw: Mapping[str, Any], path: str) -> str | None:
    # Computed by the script (reqlock.deploy.record is one of its parts).
    digest = raw.get("record_digest")
    if digest is None or raw.get("format") == "egg-info":
        return None
    return _str(digest, "RECORD digest")


def _wheel(
    raw: Mapping[str, Any], name: NormalizedName, path: str, problems: list[InventoryProblem]
) -> tuple[frozenset[Tag] | None, str | None]:
    from packaging.tags import parse_tag

    wheel = raw.get("wheel")
    if not isinstance(wheel, dict):
        return None, None
    generator = _opt_str(wheel.get("generator"), "generator")
    tags: set[Tag] = set()
    for text in wheel.get("tags") or ():
        try:
            tags |= parse_tag(_str(text, "tag"), limit=1000)
        except ValueError:
            detail = f"WHEEL has a bad tag {text!r}"
            problems.append(InventoryProblem(package=name, path=path, detail=detail))
    return frozenset(tags), generator


def _direct_url(
    raw: Mapping[str, Any], name: NormalizedName, path: str, problems: list[InventoryProblem]
) -> dict[str, Any] | None:
    text = _opt_str(raw.get("direct_url"), "direct_url")
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = f"direct_url.json is not JSON: {exc}"
        problems.append(InventoryProblem(package=name, path=path, detail=detail))
        return None
    if not isinstance(value, dict):
        detail = "direct_url.json is not a JSON object"
        problems.append(InventoryProblem(package=name, path=path, detail=detail))
        return None
    return value


def _build_dist(raw: Mapping[str, Any], problems: list[InventoryProblem]) -> InstalledDist:
    from packaging.utils import canonicalize_name

    path = _str(raw["path"], "dist path")
    raw_name = _opt_str(raw.get("name"), "name") or _str(raw["dir_name"], "dir name")
    version = _opt_str(raw.get("version"), "version") or _str(raw["dir_version"], "dir version")
    name = canonicalize_name(raw_name)
    for error in raw.get("errors") or ():
        problems.append(InventoryProblem(package=name, path=path, detail=_str(error, "error")))
    wheel_tags, generator = _wheel(raw, name, path, problems)
    return InstalledDist(
        name=name,
        raw_name=raw_name,
        version=version,
        path=path,
        location=_str(raw["location"], "location"),
        format="egg-info" if raw.get("format") == "egg-info" else "dist-info",
        wheel_tags=wheel_tags,
        wheel_generator=generator,
        installer=_opt_str(raw.get("installer"), "installer"),
        direct_url=_direct_url(raw, name, path, problems),
        record=_opt_str(raw.get("record"), "record"),
        record_digest=_record_digest(raw, path),
    )


def _duplicates(dists: Sequence[InstalledDist]) -> Iterator[InventoryProblem]:
    copies: dict[NormalizedName, list[InstalledDist]] = {}
    for dist in dists:
        copies.setdefault(dist.name, []).append(dist)
    for name, found in copies.items():
        if len(found) > 1:
            where = ", ".join(f"{d.version} at {d.path}" for d in found)
            yield InventoryProblem(
                package=name,
                path=found[0].path,
                detail=f"installed {len(found)} times ({where}); Python imports the first",
            )

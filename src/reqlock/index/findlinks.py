"""``--find-links``: local directories and flat HTML pages of distribution files.

pip reads a find-links location as a bag of files of any project, found by file
name. Each location is read once, on first need; the files of one project become
a :class:`~reqlock.index.pages.ProjectPage` like an index's. Remote pages obey the
index policy (https, or an allowed plain-http host), and so does every file URL
on them; a local directory's files are ``file:`` URLs, read from the disk.
"""

from __future__ import annotations

__all__ = ["FindLinks"]

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import IndexFetchError
from reqlock.index.client import HttpClient
from reqlock.index.pages import (
    DistFile,
    ProjectPage,
    file_url_problem,
    parse_flat_page,
    version_from_filename,
)
from reqlock.progress import Reporter
from reqlock.urls import redact_url

_MAX_PAGE_BYTES = 64 * 1024 * 1024
_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")


class FindLinks:
    """The files of some find-links locations, by project."""

    def __init__(
        self,
        locations: Sequence[str],
        *,
        http: HttpClient,
        allows: Callable[[str], bool],
        reporter: Reporter,
        offline: bool = False,
    ) -> None:
        self.locations = tuple(locations)
        self._http = http
        self._allows = allows
        self._reporter = reporter
        self._offline = offline
        self._lock = threading.Lock()
        self._files: dict[str, list[DistFile]] | None = None

    def page(self, name: NormalizedName) -> ProjectPage | None:
        """The files of project ``name`` in these locations; None when none has any."""
        grouped: dict[str, list[DistFile]] = {}
        memo: dict[str, bool] = {}
        seen: set[str] = set()
        buckets = self._all()
        # A file of project "foo-bar" starts "foo_bar-", "Foo.Bar-" or "foo-bar-":
        # its first '-' part, normalized, is the name or the name's first part.
        keys = dict.fromkeys((name, name.split("-", 1)[0]))
        for dist in (d for key in keys for d in buckets.get(key, ())):
            version = version_from_filename(dist.filename, name, memo)
            # The first location that has a file name wins, as in pip.
            if version is not None and dist.filename not in seen:
                seen.add(dist.filename)
                grouped.setdefault(version, []).append(dist)
        if not grouped:
            return None
        return ProjectPage(name=name, index="", files_by_version=grouped)

    def _all(self) -> dict[str, list[DistFile]]:
        """Every file of every location, by the normalized first part of its name."""
        with self._lock:
            if self._files is None:
                files: dict[str, list[DistFile]] = {}
                for location in self.locations:
                    found = self._page(location) if "://" in location else _directory(location)
                    for dist in found:
                        key = canonicalize_name(dist.filename.split("-", 1)[0])
                        files.setdefault(key, []).append(dist)
                self._files = files
            return self._files

    def _page(self, url: str) -> list[DistFile]:
        if self._offline:
            raise IndexFetchError(
                f"the find-links page {redact_url(url)} is not read offline",
                url=redact_url(url),
                hint="run without --offline, or use a local find-links directory",
            )
        resp = self._http.get(url, max_bytes=_MAX_PAGE_BYTES, package="--find-links")
        kept = []
        for dist in parse_flat_page(resp.content, page_url=resp.url):
            problem = file_url_problem(dist.url, self._allows)
            if problem is None:
                kept.append(dist)
            elif dist.filename.endswith(_SUFFIXES):
                self._reporter.warning(
                    f"--find-links {redact_url(url)}: ignoring {redact_url(dist.url)!r}: {problem}"
                )
        return kept


def _directory(path: str) -> list[DistFile]:
    """The distribution files directly inside ``path`` (not its subdirectories,
    as pip), in name order so the result does not depend on the file system."""
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except FileNotFoundError:
        raise IndexFetchError(
            f"--find-links directory {path} does not exist",
            url=path,
            hint="create it, or fix the --find-links path",
        ) from None
    except OSError as exc:
        raise IndexFetchError(
            f"cannot list the --find-links directory {path}: {exc.strerror or exc}", url=path
        ) from None
    files = []
    for entry in entries:
        if not entry.name.endswith(_SUFFIXES) or not entry.is_file():
            continue
        files.append(
            DistFile(
                filename=entry.name,
                url=Path(entry.path).absolute().as_uri(),
                hashes={},
                size=entry.stat().st_size,
                index="",
            )
        )
    return files

"""Files in site-packages that no distribution's RECORD owns (inventory script part).

Stdlib only, Python >= 3.8: this source is concatenated into the inventory script
(see :func:`reqlock.deploy.inventory_script.script_source`).

Every site-packages directory is walked (``os.scandir``, symlinked directories
never followed) and each entry that is not a directory is reported unless:

* a RECORD row of any distribution on the path names it (the row's path joined to
  the directory holding that ``.dist-info``, normalized);
* it is a distribution's own metadata: inside a ``.dist-info``/``.egg-info``
  directory (or a bare ``.egg-info`` file) the scan found in that site directory;
* it is cached bytecode, ``__pycache__/NAME.TAG.pyc`` (or ``.opt-N.pyc``), and
  ``NAME.py`` exists next to that ``__pycache__``: Python rewrites bytecode at
  will and uv does not record it, and the source is either owned or reported.

Another site directory nested inside the walked one is left to its own walk; a
site directory that is an installation prefix (``sys.prefix`` itself, as on
Windows) is looked at one level deep only, since below it is the installation.
Each report is ``[site dir, path relative to it with '/', kind]``; kinds:
``pth`` (a ``.pth`` file directly in the site directory: ``site`` reads it),
``importable`` (a name with an import suffix, ``.py``, ``.pyc``, ``.so``, ``.pyd``
and this interpreter's extension suffixes, or a symlink to a directory whose name
is an identifier: a package) and ``other`` (data files, stray bytecode, FIFOs...).
"""

from __future__ import annotations

import os

if __name__ != "__main__":  # imported by reqlock; in the script, the parts share one namespace
    from reqlock.deploy.inventory_dists import PLAIN_PATHS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WALK_LIMIT = 500_000


def _suffixes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from importlib.machinery import SOURCE_SUFFIXES, all_suffixes

    importable = {".py", ".pyw", ".pyc", ".so", ".pyd", *all_suffixes()}
    return tuple(sorted(importable)), tuple(SOURCE_SUFFIXES)


def cached_source(name: str) -> str | None:
    """The module name ``NAME`` of a ``NAME.TAG[.opt-N].pyc`` bytecode file name."""
    if not name.endswith(".pyc"):
        return None
    parts = name[: -len(".pyc")].split(".")
    if len(parts) == 2 or (len(parts) == 3 and parts[2].startswith("opt-")):
        return parts[0] or None
    return None


def _kind(entry: Any, top: bool, cached: bool, importable: tuple[str, ...]) -> str:
    name = entry.name
    if top and name.endswith(".pth"):
        return "pth"
    if cached:
        return "other"  # bytecode in __pycache__ is never imported without its source
    if name.endswith(importable):
        return "importable"
    try:
        package = entry.is_symlink() and entry.is_dir() and name.isidentifier()
    except OSError:
        package = False
    return "importable" if package else "other"


class _Walk:
    """State of one walk over all site directories (the entry count is shared)."""

    def __init__(self, skip: set[str], owned: set[str], limit: int) -> None:
        self.skip = skip
        self.owned = owned
        self.limit = limit
        self.count = 0
        self.found: list[list[str]] = []
        self.problems: list[dict[str, str]] = []
        self.importable, self.sources = _suffixes()

    def _has_source(self, module: str, names: set[str] | None) -> bool:
        return names is not None and any(module + suffix in names for suffix in self.sources)

    def _listing(self, directory: str) -> list[Any] | None:
        try:
            with os.scandir(directory) as it:
                return list(it)
        except OSError as exc:
            detail = f"cannot list it to look for unowned files: {exc.strerror or exc}"
            self.problems.append({"path": directory, "detail": detail})
            return None

    def site(self, site: str, shallow: bool) -> bool:
        """Walk one site directory; False once the entry limit is reached."""
        stack: list[tuple[str, str, set[str] | None]] = [(site, "", None)]
        while stack:
            directory, rel, parent_names = stack.pop()
            entries = self._listing(directory)
            if entries is None:
                continue
            self.count += len(entries)
            if self.count > self.limit:
                detail = (
                    f"stopped looking for unowned files after {self.limit} entries;"
                    " the rest of the site directories was not looked at"
                )
                self.problems.append({"path": site, "detail": detail})
                return False
            for entry in entries:
                # entry.path is directory + separator + name, joined in C; on POSIX
                # normcase changes nothing (PLAIN_PATHS, inventory_dists).
                key = entry.path if PLAIN_PATHS else os.path.normcase(entry.path)
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    if key not in self.skip and not shallow:
                        pycache = None
                        if entry.name == "__pycache__":
                            pycache = {other.name for other in entries}
                        stack.append((entry.path, rel + entry.name + "/", pycache))
                    continue
                if key in self.owned or key in self.skip:
                    continue
                source = None if parent_names is None else cached_source(entry.name)
                if source is not None and self._has_source(source, parent_names):
                    continue
                kind = _kind(entry, not rel, source is not None, self.importable)
                self.found.append([site, rel + entry.name, kind])
        return True


def find_unowned(
    site_dirs: list[str],
    dists: list[dict[str, Any]],
    owned: set[str],
    limit: int = WALK_LIMIT,
    prefixes: tuple[str, ...] = (),
) -> tuple[list[list[str]], list[dict[str, str]]]:
    """``[site, path, kind]`` of every unowned file, sorted, and problems (a
    directory that cannot be listed, the entry limit reached)."""
    metadata = {os.path.normcase(os.path.normpath(dist["path"])) for dist in dists}
    sites = [os.path.normpath(site) for site in site_dirs]
    walk = _Walk(metadata | {os.path.normcase(site) for site in sites}, owned, limit)
    shallow = {os.path.normcase(os.path.normpath(prefix)) for prefix in prefixes if prefix}
    walked = set()
    for site in sites:
        real = os.path.realpath(site)
        if real in walked:
            continue  # the same directory under another name (lib64 -> lib)
        walked.add(real)
        if not walk.site(site, os.path.normcase(site) in shallow):
            break
    walk.found.sort()
    return walk.found, walk.problems

"""The ``sys.path`` that ``site`` would build, without running anything (script part).

Stdlib only, Python >= 3.8: this source is concatenated into the inventory script
(see :func:`reqlock.deploy.inventory_script.script_source`).

The script runs with ``-I -S``: no ``site``, so no ``.pth`` file of the inspected
environment is executed (a line starting with ``import`` in one runs at every
start of the interpreter; here it is only recorded). This module redoes, as data,
what ``site.main()`` does to ``sys.path`` in isolated mode:

* ``site.venv()``: a ``pyvenv.cfg`` next to the executable or one directory up
  makes the directory above the executable ``sys.prefix``; its site-packages come
  first, then, with ``include-system-site-packages = true``, those of the base
  prefixes;
* the site-packages directories are those of ``site.getsitepackages()`` (the
  stdlib's own function, called without ``site.main()``), so that a distribution's
  patches (Debian's ``dist-packages``) count; ``sysconfig``'s purelib and platlib
  stand in only where ``site`` has no such function;
* each existing site-packages directory is added, then its ``.pth`` files, in
  sorted order: every line that is not blank, a comment or an ``import`` line is
  a directory (relative to the site directory) added when it exists;
* the user site is left out, as ``-I`` does.

Deliberate differences: each site directory's ``.pth`` files are read once (``site``
reads a venv's twice with system site packages, which only re-runs import lines),
and lines after an ``import`` line still count (``site`` ignores the rest of a file
after an import that raises, which cannot be known without running it).
"""

from __future__ import annotations

import os
import stat
import sys

if __name__ != "__main__":  # imported by reqlock; in the script, the parts share one namespace
    from reqlock.deploy.inventory_read import (
        PTH_LIMIT,
        SMALL_LIMIT,
        read_problem,
        read_regular,
    )

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Python 3.13 skips .pth files whose names start with "." or that are hidden, and
# splits lines with str.splitlines (earlier: universal newlines only).
_PTH_313 = sys.version_info >= (3, 13)


def _makepath(*parts: str) -> tuple[str, str]:
    path = os.path.join(*parts)
    # Not contextlib.suppress: importing contextlib costs as much as building the path.
    try:
        path = os.path.abspath(path)
    except OSError:  # a relative path and no current directory
        return path, os.path.normcase(path)
    return path, os.path.normcase(path)


def _problem(path: str, detail: str) -> dict[str, str]:
    return {"path": path, "detail": detail}


def venv_prefix(problems: list[dict[str, str]]) -> tuple[str | None, bool]:
    """``(prefix, include system site packages)`` of the virtual environment this
    interpreter belongs to, found as ``site.venv()`` finds it; ``(None, True)`` when
    it is not one."""
    if sys.platform == "darwin" and "__PYVENV_LAUNCHER__" in os.environ:
        executable = os.environ["__PYVENV_LAUNCHER__"]
    else:
        executable = sys.executable
    exe_dir = os.path.dirname(os.path.abspath(executable))
    prefix = os.path.dirname(exe_dir)
    for conf in (os.path.join(exe_dir, "pyvenv.cfg"), os.path.join(prefix, "pyvenv.cfg")):
        if os.path.isfile(conf):  # as site: only a regular file makes a venv
            break
    else:
        return None, True
    try:
        text = read_regular(conf, SMALL_LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        # Python itself would fail to start; what it would have done is unknown.
        detail = read_problem("pyvenv.cfg", exc) if isinstance(exc, OSError) else "not UTF-8"
        problems.append(_problem(conf, detail))
        text = ""
    system_site = "true"
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "include-system-site-packages":
            system_site = value.strip().lower()
        elif key == "home":
            # sysconfig reads it, as it does after site.venv().
            setattr(sys, "_home", value.strip())  # noqa: B010
    return prefix, system_site == "true"


def _site_packages(site: Any, prefixes: list[str]) -> list[str]:
    getter = getattr(site, "getsitepackages", None)
    if getter is not None:
        return list(getter(prefixes))
    import sysconfig

    found: list[str] = []
    for prefix in prefixes:
        paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})
        found.extend(p for p in (paths["purelib"], paths["platlib"]) if p not in found)
    return found


def _pth_lines(text: str) -> list[str]:
    if _PTH_313:
        return text.splitlines()
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _hidden(path: str) -> bool:
    if not _PTH_313:
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return True  # gone: site skips it too
    flags = getattr(info, "st_flags", 0) & getattr(stat, "UF_HIDDEN", 0)
    attrs = getattr(info, "st_file_attributes", 0) & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0)
    return bool(flags or attrs)


def read_pth(sitedir: str, name: str, state: dict[str, Any]) -> None:
    """Add the directories one ``.pth`` file names to ``state["path"]``; record its
    import lines (never run them) in ``state["pth_imports"]``."""
    full = os.path.join(sitedir, name)
    if _hidden(full):
        return
    try:
        raw = read_regular(full, PTH_LIMIT)
    except OSError as exc:
        state["problems"].append(_problem(full, read_problem(name, exc)))
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        import locale

        text = raw.decode(locale.getpreferredencoding(False), "replace")
    for line in _pth_lines(text):
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(("import ", "import\t")):
            state["pth_imports"].append([full, line.rstrip()])
            continue
        try:
            path, case = _makepath(sitedir, line.rstrip())
            exists = os.path.exists(path)
        except ValueError:  # an embedded NUL: site gives up on the rest of the file
            break
        if case not in state["known"] and exists:
            state["path"].append(path)
            state["known"].add(case)


def _add_site_dir(sitedir: str, state: dict[str, Any]) -> None:
    sitedir, case = _makepath(sitedir)
    if case not in state["known"]:
        state["path"].append(sitedir)
        state["known"].add(case)
    try:
        names = os.listdir(sitedir)
    except OSError:
        return
    for name in sorted(names):
        if name.endswith(".pth") and not (_PTH_313 and name.startswith(".")):
            read_pth(sitedir, name, state)


def site_path(initial: list[str]) -> dict[str, Any]:
    """``sys.path`` as ``site`` would make it from ``initial`` (the path of ``-S``):
    ``path``, the existing site-packages ``site_dirs``, ``pth_imports`` (``[file,
    line]``, in the order ``site`` would run them) and ``problems``.

    Sets ``sys.prefix`` and ``sys.exec_prefix`` to the venv, as ``site`` does.
    """
    # Imported before sys.prefix changes: site.PREFIXES are the base prefixes then.
    # Importing site under -S only defines it; site.main() does not run.
    import site

    state: dict[str, Any] = {"path": [], "known": set(), "pth_imports": [], "problems": []}
    for entry in initial:
        path, case = _makepath(entry)
        if case not in state["known"]:
            state["path"].append(path)
            state["known"].add(case)
    prefix, system_site = venv_prefix(state["problems"])
    if prefix is None:
        rounds = [list(site.PREFIXES)]
    else:
        sys.prefix = sys.exec_prefix = prefix
        rounds = [[prefix], [prefix, *site.PREFIXES] if system_site else []]
    site_dirs = []
    seen = set()
    for prefixes in rounds:
        for sitedir in _site_packages(site, prefixes):
            path, case = _makepath(sitedir)
            if case in seen or not os.path.isdir(path):
                continue
            seen.add(case)
            site_dirs.append(path)
            _add_site_dir(path, state)
    return {
        "path": state["path"],
        "site_dirs": site_dirs,
        "pth_imports": state["pth_imports"],
        "problems": state["problems"],
    }

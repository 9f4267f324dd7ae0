"""The distributions on the path and what they say about themselves (script part).

Stdlib only, Python >= 3.8: this source is concatenated into the inventory script
(see :func:`reqlock.deploy.inventory_script.script_source`).
"""

from __future__ import annotations

import os

if __name__ != "__main__":  # imported by reqlock; in the script, the parts share one namespace
    from reqlock.deploy.inventory_read import (
        SMALL_LIMIT,
        read_header_block,
        read_problem,
        read_regular,
    )
    from reqlock.deploy.inventory_rows import read_record_rows
    from reqlock.deploy.record import installed_record_digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _read_headers(path: str) -> tuple[dict[str, str] | None, str | None]:
    """Name and Version of a METADATA/PKG-INFO file, or (None, error)."""
    name = os.path.basename(path)
    try:
        data = read_header_block(path)
    except OSError as exc:
        return None, read_problem(name, exc)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # The body may be cut mid-character; only the header block must decode.
        end = data.find(b"\n\n")
        try:
            text = data[: end if end >= 0 else len(data)].decode("utf-8")
        except UnicodeDecodeError:
            return None, f"{name} is not UTF-8"
    headers = {}
    for line in text.splitlines():
        if not line.strip():
            break
        if line[:1] in {" ", "\t"}:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            return None, f"{name} has a malformed header line {line[:80]!r}"
        key = key.strip().lower()
        if key in {"name", "version"} and key not in headers:
            headers[key] = value.strip()
    if not headers.get("name") or not headers.get("version"):
        return None, f"{name} has no Name or no Version"
    return headers, None


def _read_small(path: str) -> tuple[str | None, str | None]:
    try:
        return read_regular(path, SMALL_LIMIT).decode("utf-8", "replace"), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, read_problem(os.path.basename(path), exc)


def _wheel_facts(text: str) -> dict[str, Any]:
    tags = []
    generator = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "tag":
            tags.append(value.strip())
        elif key == "generator" and generator is None:
            generator = value.strip()
    return {"tags": tags, "generator": generator}


def owned_path(location: str, path: str) -> str:
    """The key under which a RECORD row's file counts as owned (compared with the
    paths the unowned-file walk builds)."""
    full = path if os.path.isabs(path) else os.path.join(location, path)
    return os.path.normcase(os.path.normpath(full))


# Where normcase changes nothing and "/" is the only separator (POSIX), a relative
# path with no empty, "." or ".." component (nor any other starting with ".") is
# already normal: joined to the normal location, it is its own normpath. That is
# nearly every RECORD row, and concatenation costs a fraction of owned_path.
PLAIN_PATHS = os.sep == "/" and os.altsep is None and os.path.normcase("A/b") == "A/b"


def owned_paths(location: str, paths: list[str]) -> list[str]:
    """:func:`owned_path` of each of ``paths`` (RECORD paths) under ``location``
    (normal, as ``os.path.abspath`` makes it)."""
    if not PLAIN_PATHS:
        return [owned_path(location, path) for path in paths]
    prefix = os.path.join(location, "")
    found = []
    for path in paths:
        if path[:1] in ("/", "") or path[-1] == "/" or "//" in path or "/." in "/" + path:
            found.append(owned_path(location, path))
        else:
            found.append(prefix + path)
    return found


def _read_record(dist: dict[str, Any], owned: set[str] | None) -> None:
    rows, error = read_record_rows(dist["record"])
    if error:
        dist["errors"].append(error)
    if rows is None:
        return
    if owned is not None:
        owned.update(owned_paths(dist["location"], [path for path, _ in rows]))
    try:
        dist["record_digest"] = installed_record_digest(
            rows, dist_info=os.path.basename(dist["path"])
        )
    except ValueError:  # a directory name the digest refuses
        dist["record_digest"] = None


def _dist_info_files(dist: dict[str, Any], present: set[str], owned: set[str] | None) -> None:
    path = dist["path"]
    errors = dist["errors"]
    if dist["record"] is None:
        errors.append("no RECORD file")
    else:
        _read_record(dist, owned)
    if "WHEEL" in present:
        text, wheel_error = _read_small(os.path.join(path, "WHEEL"))
        if wheel_error:
            errors.append(wheel_error)
        elif text is not None:
            dist["wheel"] = _wheel_facts(text)
    if "INSTALLER" in present:
        text, _ = _read_small(os.path.join(path, "INSTALLER"))
        if text is not None:
            dist["installer"] = (text.strip().splitlines() or [""])[0]
    if "direct_url.json" in present:
        # Parsed by the parent: importing json here would cost more than the scan.
        text, url_error = _read_small(os.path.join(path, "direct_url.json"))
        if url_error:
            errors.append(url_error)
        dist["direct_url"] = text


def describe_dist(
    location: str, entry_name: str, is_dir: bool, full: bool, owned: set[str] | None = None
) -> dict[str, Any]:
    """Facts about one ``.dist-info``/``.egg-info``; ``full=False``: only RECORD's path.

    With ``full``, the RECORD is read too (for ``record_digest``), and the files
    they name are added to ``owned`` (see :func:`owned_path`).
    """
    path = os.path.join(location, entry_name)
    is_egg = entry_name.endswith(".egg-info")
    stem = entry_name[: -len(".egg-info" if is_egg else ".dist-info")]
    dir_name, _, dir_version = stem.partition("-")
    if is_egg and "-" in dir_version:
        dir_version = dir_version.split("-", 1)[0]  # drop the "-py3.11" suffix
    dist: dict[str, Any] = {
        "path": path,
        "location": location,
        "format": "egg-info" if is_egg else "dist-info",
        "dir_name": dir_name,
        "dir_version": dir_version,
        "name": None,
        "version": None,
        "errors": [],
        "wheel": None,
        "installer": None,
        "direct_url": None,
        "record": None,
        "record_digest": None,
    }
    if not is_dir:
        # A bare "x.egg-info" file is itself the PKG-INFO.
        headers, error = _read_headers(path) if full else (None, None)
    else:
        try:
            present = set(os.listdir(path))
        except OSError as exc:
            dist["errors"].append(f"cannot list: {exc.strerror or exc}")
            return dist
        if not is_egg and "RECORD" in present:
            dist["record"] = os.path.join(path, "RECORD")
        if not full:
            return dist
        metadata_file = "PKG-INFO" if is_egg else "METADATA"
        if metadata_file in present:
            headers, error = _read_headers(os.path.join(path, metadata_file))
        else:
            headers, error = None, f"no {metadata_file} file"
        if not is_egg:
            _dist_info_files(dist, present, owned)
    if error:
        dist["errors"].append(error)
    if headers:
        dist["name"] = headers["name"]
        dist["version"] = headers["version"]
    return dist


def scan_path(
    entries: list[str], full: bool = True, owned: set[str] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """The listable directories among ``entries`` (each real directory once) and the
    distributions found in them, in path order."""
    seen = set()
    scanned = []
    dists = []
    for entry in entries:
        location = os.path.abspath(entry or os.curdir)
        try:
            real = os.path.realpath(location)
        except (OSError, ValueError):
            continue
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(location) as it:
                children = sorted(
                    (child.name, child.is_dir())
                    for child in it
                    if child.name.endswith((".dist-info", ".egg-info"))
                )
        except (OSError, ValueError):
            continue  # zip files, missing dirs: nothing installed there
        scanned.append(location)
        for name, is_dir in children:
            dists.append(describe_dist(location, name, is_dir, full, owned))
    return scanned, dists

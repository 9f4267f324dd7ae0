"""The RECORD digest as first written (0.1), kept as the oracle for
``tests/test_record_digest_props.py``: the canonical text is part of the lock
format, so a faster implementation must give the very same digests. Do not edit.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable

DIGEST_PREFIX = "sha256:"

_INSTALLER_FILES = frozenset(
    {
        "RECORD",
        "RECORD.jws",
        "RECORD.p7s",
        "INSTALLER",
        "REQUESTED",
        "direct_url.json",
        "uv_cache.json",
        "uv_build.json",
    }
)
# Keys of {data_dir}/ that install into the site-packages holding .dist-info, where
# purelib and platlib are one directory (see the module docstring).
_SITE_KEYS = frozenset({"purelib", "platlib"})
# Keys of {data_dir}/ that install relative to the prefix, outside site-packages.
_PREFIX_KEYS = frozenset({"scripts", "data", "headers"})
# The form of a RECORD hash field: urlsafe base64 without '=' padding.
_HASH_RE = re.compile(r"[A-Za-z0-9_]+=[A-Za-z0-9_-]+")
_DRIVE_RE = re.compile(r"[A-Za-z]:/")


def wheel_record_digest(record_text: str, *, dist_info: str, data_dir: str) -> str:
    """Digest of the RECORD of a wheel whose metadata directory is ``dist_info``
    (``idna-3.7.dist-info``) and data directory ``data_dir`` (``idna-3.7.data``).

    Raises :class:`ValueError` when the RECORD is malformed: a row that is not
    CSV, without exactly path, hash and size, with a hash not of the form
    ``algo=urlsafe-base64-nopad``, a size that is not a number, a path that leaves
    the wheel, or a ``{data_dir}`` file no installer knows where to put.
    """
    _check_dir_name(dist_info, "dist_info")
    _check_dir_name(data_dir, "data_dir")
    lines: list[tuple[str, str]] = []
    # newline="" hands line breaks to csv, which then keeps quoted ones in a field.
    reader = csv.reader(io.StringIO(record_text, newline=""), strict=True)
    try:
        for row in reader:
            if not row:
                continue  # blank line
            where = f"RECORD line {reader.line_num}"
            if len(row) != 3:
                raise ValueError(f"{where}: expected 3 fields (path,hash,size), got {len(row)}")
            raw_path, hash_field, size = row
            if hash_field and not _HASH_RE.fullmatch(hash_field):
                raise ValueError(
                    f"{where}: hash {hash_field[:60]!r} is not algorithm=urlsafe-base64-nopad"
                )
            if size and not (size.isascii() and size.isdigit()):
                raise ValueError(f"{where}: size {size[:20]!r} is not a number")
            path = _normalise(raw_path)
            if not path:
                raise ValueError(f"{where}: empty path")
            if _outside(path):
                raise ValueError(f"{where}: path {raw_path!r} leaves the wheel")
            installed = _installed_path(path, data_dir, where)
            if installed is not None and not _ignored(installed, dist_info):
                lines.append((installed, _canonical_hash(hash_field)))
    except csv.Error as exc:
        raise ValueError(f"RECORD line {reader.line_num}: not CSV ({exc})") from None
    return _digest(lines)


def installed_record_digest(rows: Iterable[tuple[str, str | None]], *, dist_info: str) -> str:
    """Digest of an installed distribution's RECORD, given as ``(path, hash)`` rows
    (the path as written in RECORD, relative to the directory holding
    ``dist_info``; the hash field as written, or ``None``/``""`` when it has none).

    Rows are not validated: they were checked against the disk already, and any
    oddity simply gives a digest that matches no wheel.
    """
    _check_dir_name(dist_info, "dist_info")
    lines: list[tuple[str, str]] = []
    for raw_path, hash_field in rows:
        path = _normalise(raw_path)
        if _outside(path) or _ignored(path, dist_info):
            continue
        # An unhashed row still counts, so that deleting a hash changes the digest.
        lines.append((path, _canonical_hash(hash_field or "")))
    return _digest(lines)


def _check_dir_name(name: str, what: str) -> None:
    # A separator would make the prefix tests below match the wrong files.
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ValueError(f"{what} must be a directory name, got {name!r}")


def _normalise(path: str) -> str:
    # Windows installs may write '\'; some RECORDs spell root files './name'.
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _outside(path: str) -> bool:
    """True for an absolute path or one that climbs out of site-packages."""
    return (
        path.startswith("/")
        or _DRIVE_RE.match(path) is not None
        or path == ".."
        or path.startswith("../")
    )


def _installed_path(path: str, data_dir: str, where: str) -> str | None:
    """Where an installer puts the wheel file ``path``, relative to site-packages;
    ``None`` when it goes outside site-packages."""
    if not path.startswith(data_dir + "/"):
        return path  # a root file: unpacked as is next to .dist-info
    key, _, rest = path[len(data_dir) + 1 :].partition("/")
    if key in _PREFIX_KEYS:
        return None
    if key not in _SITE_KEYS:
        # pip refuses to install such a wheel ("unknown scheme key"); so do we.
        raise ValueError(f"{where}: {path!r} is not under a known {data_dir}/ key")
    if not rest:
        raise ValueError(f"{where}: {path!r} names no file under {data_dir}/{key}/")
    return rest


def _ignored(path: str, dist_info: str) -> bool:
    """True for installer-written metadata and bytecode (see IGNORED_DESCRIPTION)."""
    head, _, name = path.rpartition("/")
    if head == dist_info and name in _INSTALLER_FILES:
        return True
    return "__pycache__" in path.split("/")


def _canonical_hash(hash_field: str) -> str:
    # Algorithm names are case-insensitive (hashlib lower-cases them); values are not.
    algorithm, sep, value = hash_field.partition("=")
    return algorithm.lower() + sep + value if sep else hash_field


def _field(text: str) -> str:
    # CSV quoting, spelled out so the canonical text cannot drift with the csv
    # module: a path with a comma or a line break cannot pose as another line.
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _digest(lines: list[tuple[str, str]]) -> str:
    # Sorted, so that the order of RECORD rows (which installers change) is moot.
    text = "\n".join(_field(path) + "," + _field(hash_) for path, hash_ in sorted(lines))
    # surrogatepass: an undecodable file name must not make the digest fail.
    return DIGEST_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

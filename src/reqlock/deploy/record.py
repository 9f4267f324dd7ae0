"""One digest of a wheel's RECORD that the installed distribution's RECORD reproduces.

At lock time :func:`wheel_record_digest` reads the RECORD inside a wheel; at
verify time :func:`installed_record_digest` reads the RECORD of the installed
``.dist-info``, whose rows the inventory has already checked against the files on
disk. Both reduce their RECORD to the files an installer copies, unmodified, into
the site-packages directory that holds the ``.dist-info``, as sorted ``path,hash``
lines, and hash those. Equal digests mean the installed RECORD names exactly the
wheel's files with exactly the wheel's hashes.

Installers copy a wheel's hash fields verbatim into the installed RECORD (pip 26
and uv 0.13 both do, whatever the algorithm or its spelling), so hashes are
compared as written: only the algorithm name is lower-cased. What is left out,
on both sides, is listed with the reason in :data:`IGNORED_DESCRIPTION`.

Where purelib and platlib differ (``sys.platlibdir`` is ``lib64``, as on
Fedora), files of the other one are recorded as ``../../../lib…`` and left out,
so such an install never matches: the digest fails closed there.

The canonical text is part of the lock format: changing it, or what it leaves
out for files that wheels do ship, invalidates every stored digest. Leaving out
another installer-written file does not: wheels do not ship those.
"""

from __future__ import annotations

__all__ = [
    "DIGEST_PREFIX",
    "IGNORED_DESCRIPTION",
    "installed_record_digest",
    "wheel_record_digest",
]

import csv
import hashlib
import io
import re
import string
from collections.abc import Iterable
from typing import Any

DIGEST_PREFIX = "sha256:"

IGNORED_DESCRIPTION: tuple[str, ...] = (
    "{dist_info}/RECORD, RECORD.jws and RECORD.p7s: a RECORD cannot list its own"
    " hash, the installer rewrites it, and the signatures sign the wheel's RECORD.",
    "{dist_info}/INSTALLER, REQUESTED and direct_url.json (pip and uv) and"
    " uv_cache.json and uv_build.json (uv): written by the installer, they describe"
    " the installation (tool, request, origin, timestamps), not the wheel; a copy"
    " shipped in the wheel is overwritten, and its stale row kept next to the new one.",
    "Anything under a __pycache__ directory: pip compiles bytecode at install time"
    " and lists it without a hash (uv --compile-bytecode does not list it at all);"
    " it depends on the interpreter, not on the wheel.",
    "Files outside site-packages (installed RECORD paths that are absolute or start"
    " with '../'; in the wheel, {data_dir}/scripts, data and headers): installers"
    " rewrite '#!python' shebangs and place these relative to the scheme's prefix.",
    "Console-script and GUI-script launchers generated from entry_points.txt: they"
    " are not in the wheel and land in the scripts directory, outside site-packages.",
)

# Installers write these into {dist_info}/; RECORD itself changes on install.
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
# What makes a path absolute on Windows: a drive letter, a colon, a slash.
_LETTERS = frozenset(string.ascii_letters)
# Characters that make a canonical field quoted (see _field).
_NEEDS_QUOTES = re.compile('[,"\r\n]')


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
    data_prefix = data_dir + "/"
    # newline="" hands line breaks to csv, which then keeps quoted ones in a field.
    reader = csv.reader(io.StringIO(record_text, newline=""), strict=True)
    try:
        for row in reader:
            if not row:
                continue  # blank line
            if len(row) != 3:
                raise ValueError(
                    f"{_line(reader)}: expected 3 fields (path,hash,size), got {len(row)}"
                )
            raw_path, hash_field, size = row
            if hash_field and not _HASH_RE.fullmatch(hash_field):
                raise ValueError(
                    f"{_line(reader)}: hash {hash_field[:60]!r} is not"
                    " algorithm=urlsafe-base64-nopad"
                )
            if size and not (size.isascii() and size.isdigit()):
                raise ValueError(f"{_line(reader)}: size {size[:20]!r} is not a number")
            path = _normalise(raw_path)
            if not path:
                raise ValueError(f"{_line(reader)}: empty path")
            if _outside(path):
                raise ValueError(f"{_line(reader)}: path {raw_path!r} leaves the wheel")
            # Most rows are root files, kept as they are; .data files are mapped.
            installed = (
                _installed_path(path, data_dir, _line(reader))
                if path.startswith(data_prefix)
                else path
            )
            if installed is not None and not _ignored(installed, dist_info):
                lines.append((installed, _canonical_hash(hash_field)))
    except csv.Error as exc:
        raise ValueError(f"{_line(reader)}: not CSV ({exc})") from None
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


def _line(reader: Any) -> str:
    # Only for messages: the row's number is formatted when something is wrong.
    return f"RECORD line {reader.line_num}"


def _check_dir_name(name: str, what: str) -> None:
    # A separator would make the prefix tests below match the wrong files.
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ValueError(f"{what} must be a directory name, got {name!r}")


def _normalise(path: str) -> str:
    # Windows installs may write '\'; some RECORDs spell root files './name'.
    if "\\" in path:
        path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _outside(path: str) -> bool:
    """True for an absolute path or one that climbs out of site-packages."""
    # A drive ("C:/") is tested without a regular expression: this runs per row.
    return (
        path.startswith(("/", "../")) or path == ".." or (path[1:3] == ":/" and path[0] in _LETTERS)
    )


def _installed_path(path: str, data_dir: str, where: str) -> str | None:
    """Where an installer puts the wheel file ``path`` of ``{data_dir}/``, relative
    to site-packages; ``None`` when it goes outside site-packages. (Root files are
    unpacked as they are, next to .dist-info: the caller keeps their path.)"""
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
    return "__pycache__" in path and "__pycache__" in path.split("/")


def _canonical_hash(hash_field: str) -> str:
    # Algorithm names are case-insensitive (hashlib lower-cases them); values are not.
    algorithm, sep, value = hash_field.partition("=")
    return algorithm.lower() + sep + value if sep else hash_field


def _field(text: str) -> str:
    # CSV quoting, spelled out so the canonical text cannot drift with the csv
    # module: a path with a comma or a line break cannot pose as another line.
    if _NEEDS_QUOTES.search(text) is not None:
        return '"' + text.replace('"', '""') + '"'
    return text


def _digest(lines: list[tuple[str, str]]) -> str:
    # Sorted, so that the order of RECORD rows (which installers change) is moot.
    lines.sort()
    text = "\n".join([path + "," + hash_ for path, hash_ in lines])
    # When no field needs quoting (one comma per line, one line per row, no quote
    # or carriage return anywhere), the plain join is the quoted text already.
    plain = (
        text.count(",") == len(lines)
        and text.count("\n") == max(len(lines) - 1, 0)
        and '"' not in text
        and "\r" not in text
    )
    if not plain:
        text = "\n".join(_field(path) + "," + _field(hash_) for path, hash_ in lines)
    # surrogatepass: an undecodable file name must not make the digest fail.
    return DIGEST_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

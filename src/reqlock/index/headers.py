"""The core-metadata fields reqlock reads, from METADATA bytes, in the common case
without the email package.

:func:`packaging.metadata.parse_email` goes through ``email.parser``: importing it
(with ``email.*`` and ``packaging.licenses``) costs ~20 ms in a lock's busy
process, and each file ~0.14 ms. Nearly every METADATA is simple: ASCII
``Name: value`` lines (LF or CRLF), our fields never folded. For those,
:func:`core_fields` gives exactly what ``parse_email`` gives for the seven fields
below (property tests check it against ``parse_email``); for anything else it
says ``None`` and :func:`email_fields` asks ``parse_email``.
"""

from __future__ import annotations

__all__ = ["FIELDS", "core_fields", "email_fields"]

import re
from typing import Any

#: Header (lower case) -> key of packaging's RawMetadata, for the fields read here.
FIELDS = {
    "metadata-version": "metadata_version",
    "name": "name",
    "version": "version",
    "requires-python": "requires_python",
    "requires-dist": "requires_dist",
    "provides-extra": "provides_extra",
    "dynamic": "dynamic",
}
_SINGLE = frozenset({"metadata_version", "name", "version", "requires_python"})
_NAME = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._-]*")
# The ASCII controls str.splitlines() breaks lines at (some versions of the email
# parser split with it): where they appear, lines may not be what a split on LF
# gives.
_ODD = re.compile(rb"[\x0b\x0c\x1c-\x1e]")
_PLAIN_VALUE = re.compile(rb"[\t\x20-\x7e]*")


def core_fields(data: bytes) -> dict[str, Any] | None:
    """``parse_email(data)[0]`` restricted to :data:`FIELDS`, or None when the
    headers are not plain enough to be sure of that without the email parser."""
    head = _header_block(data)
    if head is None or _ODD.search(head) or head.startswith(b"From "):
        return None
    lines = head.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline ending the last header when there is no body
    found: dict[str, list[str]] = {}
    ours = False  # whether the header being continued is one of ours
    for line in lines:
        if not line:
            return None  # headers starting with a blank line: the email parser's call
        if line[0] in b" \t":
            if ours:
                return None  # one of our values folded over lines
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _NAME.fullmatch(name):
            return None  # not a header line: the email parser starts the body there
        key = FIELDS.get(name.decode("ascii").lower())
        ours = key is not None
        if key is None:
            continue
        if not _PLAIN_VALUE.fullmatch(value) or b"=?" in value:
            return None  # non-ASCII, or an RFC 2047 encoded word: decoded by email
        # As email's compat32 policy keeps it: spaces after the colon dropped,
        # trailing ones kept.
        found.setdefault(key, []).append(value.decode("ascii").lstrip(" \t"))
    raw: dict[str, Any] = {}
    for key, values in found.items():
        if key not in _SINGLE:
            raw[key] = values
        elif len(values) == 1:
            raw[key] = values[0]
        # A single-use field given twice: parse_email leaves it out (unparsed).
    return raw


def _header_block(data: bytes) -> bytes | None:
    """The header lines of ``data`` up to the first blank line, with LF endings;
    None for a mix of line endings (or a bare CR)."""
    lf = data.find(b"\n\n")
    crlf = data.find(b"\r\n\r\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        head = data[: crlf + 2]  # with the last header's CRLF
    else:
        head = data if lf < 0 else data[:lf]
        if b"\r" not in head:
            return head
    pairs = head.count(b"\r\n")
    if head.count(b"\r") != pairs or head.count(b"\n") != pairs:
        return None  # not CRLF throughout
    return head.replace(b"\r\n", b"\n")


def email_fields(data: bytes) -> dict[str, Any]:
    """The :data:`FIELDS` of METADATA / PKG-INFO ``data``, as ``parse_email`` gives them."""
    fast = core_fields(data)
    if fast is not None:
        return fast
    from packaging.metadata import parse_email  # the email package: only when needed

    raw, _ = parse_email(data)
    return {key: raw[key] for key in FIELDS.values() if key in raw}  # type: ignore[literal-required]

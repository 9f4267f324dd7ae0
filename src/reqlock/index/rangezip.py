"""Read one member of a remote zip (a wheel) with HTTP range requests.

Only the tail of the file (end of central directory and the directory itself) and
the members' own bytes are fetched: usually one request of up to 64 kB instead of
a whole wheel, for METADATA and RECORD together. Members are checked against the
CRC-32 in the directory.
"""

from __future__ import annotations

__all__ = ["BadZip", "RangeNotSupported", "RemoteZip", "WholeBody", "range_answer", "read_member"]

import re
import struct
import zlib
from collections.abc import Callable

_EOCD_SIG = b"PK\x05\x06"
_EOCD64_LOCATOR_SIG = b"PK\x06\x07"
_EOCD64_SIG = b"PK\x06\x06"
_CD_SIG = b"PK\x01\x02"
_LOCAL_SIG = b"PK\x03\x04"
_TAIL = 64 * 1024
# A central directory entry: method, crc, sizes, name/extra/comment lengths, offset.
_CD_ENTRY = struct.Struct("<10xH4xLLLHHH8xL")


class RangeNotSupported(Exception):
    """The server does not answer range requests; download the whole file."""


class BadZip(Exception):
    """The bytes are not a zip file we can read."""


class WholeBody(Exception):
    """The server ignored the Range header and sent the whole file."""

    def __init__(self, content: bytes) -> None:
        super().__init__("whole body")
        self.content = content


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def range_answer(status: int, content_range: str | None, content: bytes) -> tuple[bytes, int]:
    """What :data:`Fetch` returns for an answer to a range request: the bytes and
    the file's total size. Raises :class:`WholeBody` for a 200 (the whole file)
    and :class:`RangeNotSupported` for anything else that is not a sound 206."""
    if status == 200:
        raise WholeBody(content)
    if status != 206:
        raise RangeNotSupported(f"HTTP {status}")
    match = _CONTENT_RANGE.fullmatch((content_range or "").strip())
    if not match:
        raise RangeNotSupported("no usable Content-Range")
    start, end, _ = (int(g) for g in match.groups())
    if end - start + 1 != len(content):
        raise RangeNotSupported("body does not match Content-Range")
    return content, int(match[3])


# fetch(start, end) -> (bytes for [start, end), total size); start < 0 means a
# suffix range of -start bytes.
Fetch = Callable[[int, int | None], tuple[bytes, int]]


class _Window:
    """The bytes we hold of the remote file: always a suffix [start, total)."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        data, total = fetch(-_TAIL, None)
        self.total = total
        self.start = total - len(data)
        self.data = data

    def get(self, start: int, end: int) -> bytes:
        if start < 0 or end > self.total or start > end:
            raise BadZip("offsets outside the file")
        if start < self.start:
            more, _ = self._fetch(start, self.start)
            if len(more) != self.start - start:
                raise RangeNotSupported("short range answer")
            self.data = more + self.data
            self.start = start
        return self.data[start - self.start : end - self.start]


class RemoteZip:
    """The central directory of a remote zip, and its members on demand.

    Opening it fetches the tail (and, when the directory starts before the tail,
    the rest of the directory). Members are then read from the bytes already held
    where they can be: a wheel's ``.dist-info`` files sit just before the
    directory, so METADATA and RECORD usually come with the first request.

    Raises :class:`RangeNotSupported` when the server ignores ranges and
    :class:`BadZip` when the file is not a readable zip.
    """

    def __init__(self, fetch: Fetch) -> None:
        self._window = _Window(fetch)
        self._entries = _directory(self._window)

    @property
    def names(self) -> list[str]:
        """The member names, in directory order."""
        return list(self._entries)

    def holds(self, name: str) -> bool:
        """True when reading member ``name`` needs no further request."""
        entry = self._entries.get(name)
        # The window is a suffix of the file and a member's bytes lie between its
        # local header and the directory: held once the header is.
        return entry is not None and entry[4] >= self._window.start

    def read(self, name: str) -> bytes:
        """The bytes of member ``name``, checked against the directory's CRC-32."""
        entry = self._entries.get(name)
        if entry is None:
            raise BadZip(f"no member {name!r}")
        method, crc, csize, usize, offset = entry
        window = self._window
        header = window.get(offset, min(offset + 30, window.total))
        if len(header) < 30 or header[:4] != _LOCAL_SIG:
            raise BadZip("bad local header")
        nlen, elen = struct.unpack("<HH", header[26:30])
        data_start = offset + 30 + nlen + elen
        raw = window.get(data_start, data_start + csize)
        if method == 0:
            content = raw
        elif method == 8:
            try:
                content = zlib.decompressobj(-15).decompress(raw)
            except zlib.error as exc:
                raise BadZip(str(exc)) from None
        else:
            raise BadZip(f"compression method {method}")
        if len(content) != usize or zlib.crc32(content) != crc:
            raise BadZip("member does not match its CRC")
        return content


def read_member(fetch: Fetch, want: Callable[[list[str]], str | None]) -> bytes | None:
    """The bytes of the member that ``want`` picks from the zip's names, or None.

    Raises :class:`RangeNotSupported` when the server ignores ranges and
    :class:`BadZip` when the file is not a readable zip.
    """
    archive = RemoteZip(fetch)
    chosen = want(archive.names)
    return None if chosen is None else archive.read(chosen)


def _directory(window: _Window) -> dict[str, tuple[int, int, int, int, int]]:
    """Member name -> (method, crc, compressed size, size, local header offset)."""
    tail = window.data
    pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or len(tail) - pos < 22:
        raise BadZip("no end of central directory")
    (_, _, _, _, _, cd_size, cd_offset, _) = struct.unpack("<4s4H2LH", tail[pos : pos + 22])
    if cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:
        loc = tail.rfind(_EOCD64_LOCATOR_SIG, 0, pos)
        if loc < 0:
            raise BadZip("zip64 without locator")
        (eocd64_offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        rec = window.get(eocd64_offset, eocd64_offset + 56)
        if rec[:4] != _EOCD64_SIG:
            raise BadZip("bad zip64 record")
        cd_size, cd_offset = struct.unpack("<QQ", rec[40:56])
    directory = window.get(cd_offset, cd_offset + cd_size)
    entries: dict[str, tuple[int, int, int, int, int]] = {}
    # One unpack per entry, straight from the buffer: a wheel lists thousands.
    unpack = _CD_ENTRY.unpack_from
    i = 0
    while i + 46 <= len(directory) and directory.startswith(_CD_SIG, i):
        method, crc, csize, usize, nlen, elen, clen, offset = unpack(directory, i)
        name = directory[i + 46 : i + 46 + nlen].decode("utf-8", "replace")
        if 0xFFFFFFFF in (csize, usize, offset):
            extra = directory[i + 46 + nlen : i + 46 + nlen + elen]
            csize, usize, offset = _zip64_sizes(extra, csize, usize, offset)
        entries[name] = (method, crc, csize, usize, offset)
        i += 46 + nlen + elen + clen
    return entries


def _zip64_sizes(extra: bytes, csize: int, usize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        hid, size = struct.unpack("<HH", extra[i : i + 4])
        if hid == 1:
            body = extra[i + 4 : i + 4 + size]
            j = 0
            if usize == 0xFFFFFFFF and j + 8 <= len(body):
                (usize,) = struct.unpack("<Q", body[j : j + 8])
                j += 8
            if csize == 0xFFFFFFFF and j + 8 <= len(body):
                (csize,) = struct.unpack("<Q", body[j : j + 8])
                j += 8
            if offset == 0xFFFFFFFF and j + 8 <= len(body):
                (offset,) = struct.unpack("<Q", body[j : j + 8])
            break
        i += 4 + size
    return csize, usize, offset

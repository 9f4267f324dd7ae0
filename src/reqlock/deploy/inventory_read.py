"""Bounded reads of files in the inspected environment (part of the inventory script).

Stdlib only, Python >= 3.8: this source is concatenated into the inventory script
(see :func:`reqlock.deploy.inventory_script.script_source`). Every file the script
reads goes through :func:`open_regular`: a FIFO, socket or device planted where a
RECORD, METADATA or installed file should be would otherwise block the read
forever (or stream without end), so anything but a regular file is an error that
names what it is, and reads stop at a size limit.
"""

from __future__ import annotations

import os
import stat

# Opened non-blocking so that opening a FIFO returns at once (a blocking open waits
# for a writer); O_NOCTTY so that opening a terminal device cannot make it ours.
OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
)
MIB = 1 << 20
RECORD_LIMIT = 64 * MIB
# METADATA: the limit is on the header block; the body (the long description) is never read.
METADATA_LIMIT = 4 * MIB
# WHEEL, INSTALLER, direct_url.json, pyvenv.cfg.
SMALL_LIMIT = 1 * MIB
PTH_LIMIT = 4 * MIB
# Files up to this size are read in one piece; larger ones in chunks of it.
READ_CHUNK = 1 << 24
_METADATA_CHUNK = 16384


class NotRegularFile(OSError):
    """The path names something other than a regular file (a FIFO, a device...)."""


class TooLarge(OSError):
    """The file is larger than the limit for its kind."""


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def not_regular_error(mode: int) -> NotRegularFile:
    """The error for a file of ``mode``; its ``strerror`` reads well after "cannot read: "."""
    kind = _file_kind(mode)
    detail = kind if kind == "not a regular file" else f"not a regular file ({kind})"
    return NotRegularFile(0, detail)


def open_regular(path: str) -> tuple[int, int]:
    """Open ``path`` for reading if it is a regular file: ``(fd, size)``.

    Raises :class:`NotRegularFile` (after closing it) for anything else, and
    :class:`OSError` when it cannot be opened. The caller closes ``fd``.
    """
    fd = os.open(path, OPEN_FLAGS)
    try:
        # fstat, not stat: what was opened is what is judged, whatever renames race it.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular_error(info.st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def _limit_text(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit} bytes"


def read_regular(path: str, limit: int) -> bytes:
    """The whole content of the regular file ``path``, at most ``limit`` bytes.

    Raises :class:`NotRegularFile`, :class:`TooLarge` or :class:`OSError`.
    """
    fd, size = open_regular(path)
    try:
        if size > limit:
            raise TooLarge(0, f"larger than {_limit_text(limit)}")
        chunks = []
        total = 0
        # Read to the end, not to the stat size: the file may grow meanwhile.
        while True:
            data = os.read(fd, min(READ_CHUNK, limit + 1 - total))
            if not data:
                break
            chunks.append(data)
            total += len(data)
            if total > limit:
                raise TooLarge(0, f"larger than {_limit_text(limit)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_header_block(path: str, limit: int = METADATA_LIMIT) -> bytes:
    """The start of a METADATA/PKG-INFO file, up to and including the blank line that
    ends its headers (or the whole file when there is none), at most ``limit`` bytes.
    """
    fd, _ = open_regular(path)
    try:
        data = bytearray()
        while True:
            more = os.read(fd, _METADATA_CHUNK)
            if not more:
                break
            # Only the new bytes (and the 3 before them) can hold the end of the block.
            start = max(0, len(data) - 3)
            data += more
            if data.find(b"\n\n", start) >= 0 or data.find(b"\r\n\r\n", start) >= 0:
                break
            if len(data) > limit:
                raise TooLarge(0, f"headers larger than {_limit_text(limit)}")
        return bytes(data)
    finally:
        os.close(fd)


def read_problem(name: str, exc: OSError) -> str:
    """``cannot read NAME: why`` for an error raised by the functions above."""
    return f"cannot read {name}: {exc.strerror or exc}"

"""Reading and writing files safely: the one atomic writer, and bounded reads of
regular files only.

Both sides use them (lock files, exports, the cache; requirements files, RECORD
files), so a FIFO, a device or a huge file never hangs or exhausts reqlock, and a
reader never sees half a file.
"""

from __future__ import annotations

__all__ = ["NotARegularFile", "TooLarge", "read_file_url", "read_regular", "write_atomic"]

import contextlib
import os
import stat
import tempfile
from pathlib import Path


class NotARegularFile(OSError):
    """The path is a FIFO, a device, a socket or a directory, not a file."""


class TooLarge(OSError):
    """The file is larger than the caller allows."""


def read_regular(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes.

    Opened without blocking, so that a FIFO is refused instead of waiting for a
    writer forever. Raises :class:`NotARegularFile`, :class:`TooLarge` or another
    :class:`OSError`.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{os.fspath(path)} is not a regular file")
        if info.st_size > limit:
            raise TooLarge(f"{os.fspath(path)} is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            # The file may grow while it is read; the limit holds all the same.
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"{os.fspath(path)} is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


_MADE_DIRS: set[Path] = set()


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o644,
    through_links: bool = True,
) -> None:
    """Replace ``path`` with ``data`` in one rename: readers see the old file or the
    new one, never half of either, and a failure leaves the old file as it was.

    With ``through_links`` (files people keep: locks, exports) a symbolic link at
    ``path`` is written through (its target is replaced), so a lock kept elsewhere
    and linked into a project stays linked; an existing file keeps its
    permissions, a new one gets ``mode``; and the data goes into an unnamed file
    that gets a name only when complete, so even SIGKILL leaves nothing behind.
    Without it (the cache, where every system call counts) ``path`` is replaced as
    it is, through a private named temporary file (mode 0600). Missing parent
    directories are made. Raises :class:`OSError`.
    """
    target = Path(os.path.realpath(path)) if through_links else Path(path)
    parent = target.parent
    if parent not in _MADE_DIRS:
        # mkdir of an existing directory costs a failing system call, which adds up
        # over hundreds of cache entries.
        parent.mkdir(parents=True, exist_ok=True)
        _MADE_DIRS.add(parent)
    keep = mode
    if through_links:
        with contextlib.suppress(FileNotFoundError):
            keep = stat.S_IMODE(os.stat(target).st_mode)
    anonymous = _anonymous_file(parent) if through_links else None
    if anonymous is not None:
        # The data goes into a file with no name, which gets one only when it is
        # complete: a process killed (even by SIGKILL) while writing leaves nothing.
        fd = anonymous
        try:
            _write_all(fd, data)
            os.fchmod(fd, keep)
            tmp = _named_temp(parent, target.name)
            # A directory descriptor makes CPython call linkat(AT_SYMLINK_FOLLOW),
            # which links the open file rather than the /proc symbolic link.
            dir_fd = os.open(parent, os.O_RDONLY)
            try:
                os.link(f"/proc/self/fd/{fd}", os.path.basename(tmp), dst_dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    else:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            if through_links:
                os.chmod(tmp, keep)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    try:
        os.replace(tmp, target)
    except BaseException:
        # KeyboardInterrupt and SystemExit (SIGTERM, see the CLI) included: no
        # temporary file is left behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_TMPFILE_FLAG = getattr(os, "O_TMPFILE", 0)


def _anonymous_file(directory: Path) -> int | None:
    if not _TMPFILE_FLAG or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, _TMPFILE_FLAG | os.O_WRONLY, 0o600)
    except OSError:  # a file system without O_TMPFILE support
        return None


def _named_temp(directory: Path, name: str) -> str:
    return os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_file_url(url: str, *, limit: int) -> bytes:
    """The bytes of the regular file a ``file:`` URL names (see :func:`read_regular`)."""
    from urllib.parse import unquote, urlsplit
    from urllib.request import url2pathname

    return read_regular(url2pathname(unquote(urlsplit(url).path)), limit=limit)

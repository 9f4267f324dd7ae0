"""Parse pip's requirements-file format into a :class:`RequirementSet`.

The parser is pure: it takes text and returns values. Files named by ``-r`` and
``-c`` are read through a *loader* callback, and only :func:`load_requirements`
touches the disk or the process environment.

Semantics follow pip's, with one rule of our own: nothing is silently ignored. An
option reqlock cannot honour, an unset ``${VAR}``, or a comment that would swallow
the next line is a :class:`~reqlock.errors.RequirementsError` naming the file and
line.
"""

from __future__ import annotations

__all__ = [
    "DirectReference",
    "Loader",
    "Origin",
    "RequirementLine",
    "RequirementSet",
    "UnnamedLine",
    "gather",
    "load_requirements",
    "parse_requirement_strings",
    "parse_requirements",
]

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import RequirementsError
from reqlock.files import NotARegularFile, TooLarge, read_regular

Loader = Callable[[str, str], tuple[str, str]]
"""Reads an included file: ``(including file's name, reference after -r/-c)`` ->
``(resolved file name, text)``. It raises :class:`OSError` or
:class:`UnicodeDecodeError` when the file cannot be read; the parser turns these into
a :class:`RequirementsError` naming the ``-r``/``-c`` line. The resolved name must be
the same string every time the same file is reached: cycles are found by it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Origin:
    """Where a requirement or an option came from.

    ``text`` is the logical line as written: continuations joined, comment removed,
    ``${VAR}`` references not expanded, and passwords in URLs replaced by ``****``.
    """

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


DirectKind = Literal["archive", "vcs", "directory"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectReference:
    """Where a requirement takes its code from instead of an index (PEP 751's
    ``archive``, ``vcs`` and ``directory`` sources).

    ``url`` is the location as written, ``${VAR}`` expanded (it may carry
    credentials; nothing shown or stored uses it unredacted): an ``http(s)`` or
    ``file:`` archive URL, a ``git+...`` URL, or the ``file:`` URL of a directory.
    ``path`` is the absolute local path of a local archive or directory (relative
    paths are taken from the requirements file's directory).
    """

    kind: DirectKind
    url: str
    path: str | None = None
    editable: bool = False

    @property
    def key(self) -> str:
        """What two requirements must share to name the same source."""
        return f"{self.kind}:{self.path if self.path is not None else self.url}"


@dataclass(frozen=True, kw_only=True, slots=True)
class RequirementLine:
    """One requirement (or constraint) and the place it was written."""

    requirement: Requirement
    name: NormalizedName
    origin: Origin
    hashes: tuple[str, ...] = ()
    """User-pinned hashes as ``"<algorithm>:<lowercase hex>"``, sorted, unique."""
    constraint: bool = False
    direct: DirectReference | None = None
    """The archive, repository or directory to take it from (``name @ url``, a
    path, ``-e``), or None for a requirement on an index."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UnnamedLine:
    """A direct reference written without a project name (``./path``, ``-e .``,
    ``git+https://...`` without ``#egg=``): its name comes from its metadata."""

    direct: DirectReference
    extras: frozenset[NormalizedName]
    marker: Marker | None
    origin: Origin
    hashes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class RequirementSet:
    """Everything read from one or more requirements files."""

    requirements: tuple[RequirementLine, ...] = ()
    constraints: tuple[RequirementLine, ...] = ()
    index_url: str | None = None
    """The last ``-i``/``--index-url`` seen; ``None`` means the default index."""
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False
    require_hashes: bool = False
    only_binary: frozenset[str] = frozenset()
    """Canonical project names, or ``":all:"``."""
    no_binary: frozenset[str] = frozenset()
    """Canonical project names, or ``":all:"``."""
    binary_options: tuple[tuple[str, str], ...] = ()
    """Every ``--only-binary``/``--no-binary`` value in order, as
    ``("--only-binary", value)``. ``only_binary`` and ``no_binary`` are their result;
    :meth:`merge` replays them because ``:none:`` cannot be merged from results."""
    sources: tuple[tuple[str, str], ...] = ()
    """``(file name, full text)`` of every file read, in read order."""
    unnamed: tuple[UnnamedLine, ...] = ()
    """Direct references whose project name is known only from their metadata."""
    find_links: tuple[str, ...] = ()
    """``--find-links`` locations: http(s) URLs of flat pages, or absolute paths of
    local directories."""
    no_index: bool = False
    """``--no-index``: no package index, only ``find_links`` and direct references."""

    def merge(self, other: RequirementSet) -> RequirementSet:
        """Combine with ``other`` as pip combines several ``-r`` files on one
        command line: ``other`` is read after ``self``."""
        ops = binary_ops(self) + binary_ops(other)
        only_binary, no_binary = format_control(ops)
        return RequirementSet(
            requirements=self.requirements + other.requirements,
            constraints=self.constraints + other.constraints,
            index_url=other.index_url if other.index_url is not None else self.index_url,
            extra_index_urls=tuple(dict.fromkeys(self.extra_index_urls + other.extra_index_urls)),
            pre=self.pre or other.pre,
            require_hashes=self.require_hashes or other.require_hashes,
            only_binary=only_binary,
            no_binary=no_binary,
            binary_options=ops,
            sources=tuple(dict.fromkeys(self.sources + other.sources)),
            unnamed=self.unnamed + other.unnamed,
            find_links=tuple(dict.fromkeys(self.find_links + other.find_links)),
            no_index=self.no_index or other.no_index,
        )


def parse_requirements(
    text: str,
    *,
    filename: str,
    loader: Loader | None = None,
    environ: Mapping[str, str] | None = None,
) -> RequirementSet:
    """Parse the text of a requirements file called ``filename``.

    ``loader`` reads files named by ``-r``/``-c``; without one, an include is an
    error. ``environ`` supplies ``${VAR}`` values (none when omitted).

    :raises RequirementsError: on anything malformed or unsupported.
    """
    from reqlock.locking.reqparse import Parser

    parser = Parser(loader=loader, environ={} if environ is None else environ)
    parser.parse_file(filename, text, constraint=False, chain=(filename,))
    return parser.result()


def parse_requirement_strings(
    lines: Sequence[str], *, source: str = "<requirements>"
) -> RequirementSet:
    """Parse in-memory PEP 508 requirement strings, one requirement each.

    No options, comments or ``${VAR}`` expansion. Errors name ``source`` and the
    1-based position of the string.

    :raises RequirementsError: on an invalid string.
    """
    from reqlock.locking.reqparse import Line, Parser, redact, split_options

    parser = Parser(loader=None, environ={})
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        line = Line(file=source, number=number, text=redact(stripped), expanded=stripped)
        if not stripped:
            raise line.error("empty requirement string")
        requirement, options = split_options(stripped)
        if options:
            raise line.error(
                "options are not allowed in a requirement string",
                hint="pass one PEP 508 requirement per string, such as 'name>=1.0'",
            )
        parser.add_requirement(requirement, (), line, constraint=False)
    parser.sources.append((source, "\n".join(lines)))
    return parser.result()


def load_requirements(
    paths: Sequence[str | os.PathLike[str]],
    *,
    environ: Mapping[str, str] | None = None,
) -> RequirementSet:
    """Read and merge requirements files, following ``-r``/``-c`` relative to the
    including file's directory.

    Files are UTF-8 (a BOM is allowed). ``environ`` defaults to ``os.environ``.

    :raises RequirementsError: when a file cannot be read or is malformed.
    """
    env = os.environ if environ is None else environ
    result = RequirementSet()
    for path in paths:
        name = os.path.normpath(os.fspath(path))
        try:
            text = _read_text(name)
        except (OSError, ValueError) as exc:
            raise RequirementsError(
                f"cannot read requirements file: {read_failure(exc)}", file=name
            ) from exc
        result = result.merge(
            parse_requirements(text, filename=name, loader=_load_include, environ=env)
        )
    return result


# Far above any real requirements file; a path to /dev/zero or a huge file is an
# error, not an endless read.
_MAX_FILE_BYTES = 16 * 1024 * 1024


def _read_text(path: str) -> str:
    try:
        data = read_regular(path, limit=_MAX_FILE_BYTES)
    except NotARegularFile:
        raise OSError("not a regular file (a FIFO, device or directory)") from None
    except TooLarge:
        raise OSError(f"larger than {_MAX_FILE_BYTES // (1024 * 1024)} MiB") from None
    return data.decode("utf-8-sig")


def _load_include(including: str, reference: str) -> tuple[str, str]:
    # normpath gives one name per file for cycle detection, as pip's abspath does.
    path = os.path.normpath(os.path.join(os.path.dirname(including), reference))
    return path, _read_text(path)


def read_failure(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def format_control(
    ops: Sequence[tuple[str, str]],
) -> tuple[frozenset[str], frozenset[str]]:
    """Apply ``--only-binary``/``--no-binary`` values in order with pip's rules:
    naming a project in one removes it from the other, ``:all:`` replaces both,
    ``:none:`` empties the one it is given to."""
    only: set[str] = set()
    no: set[str] = set()
    for option, value in ops:
        target, other = (only, no) if option == "--only-binary" else (no, only)
        items = value.split(",")
        for position, item in enumerate(items):
            if item == ":all:":
                target.clear()
                other.clear()
                target.add(":all:")
                # pip drops names after ':all:' (it covers them) unless a ':none:' follows.
                if ":none:" not in items[position + 1 :]:
                    break
            elif item == ":none:":
                target.clear()
            else:
                canonical = canonicalize_name(item)
                other.discard(canonical)
                target.add(canonical)
    return frozenset(only), frozenset(no)


def binary_ops(requirement_set: RequirementSet) -> tuple[tuple[str, str], ...]:
    if requirement_set.binary_options:
        return requirement_set.binary_options
    # A set built by hand may give only the results; these replay to the same sets.
    ops: list[tuple[str, str]] = []
    for option, names in (
        ("--only-binary", requirement_set.only_binary),
        ("--no-binary", requirement_set.no_binary),
    ):
        if ":all:" in names:
            ops.insert(0, (option, ":all:"))
    for option, names in (
        ("--only-binary", requirement_set.only_binary),
        ("--no-binary", requirement_set.no_binary),
    ):
        ops.extend((option, name) for name in sorted(names - {":all:"}))
    return tuple(ops)


def gather(
    files: Sequence[str | os.PathLike[str]], strings: Sequence[str], env: Mapping[str, str]
) -> RequirementSet:
    """The requirements of ``files`` (read with ``env`` for ``${VAR}``) and of
    requirement ``strings``, merged."""
    reqs: RequirementSet | None = None
    if files:
        reqs = load_requirements(files, environ=env)
    if strings:
        extra = parse_requirement_strings(list(strings))
        reqs = extra if reqs is None else reqs.merge(extra)
    if reqs is None:
        reqs = parse_requirement_strings([])
    return reqs

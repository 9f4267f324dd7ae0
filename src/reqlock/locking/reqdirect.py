"""Direct references on requirement lines: what a URL or a path points at.

``name @ https://host/x-1.0.tar.gz``, ``name @ git+https://host/repo@v1``,
``git+https://host/repo#egg=name``, ``./sub-package``, ``-e .[dev]`` or
``dist/x-1.0-py3-none-any.whl`` each become a
:class:`~reqlock.locking.requirements.DirectReference`: an archive, a git
repository or a local directory (PEP 751's three direct sources). Pure: text in,
values out; nothing here looks at the disk or the network (whether the path
exists, what the archive holds and which commit a branch is are the index's
business, in :mod:`reqlock.index.sources`).
"""

from __future__ import annotations

__all__ = [
    "ARCHIVE_SUFFIXES",
    "Fail",
    "Located",
    "check_hashes",
    "find_links_location",
    "is_archive_name",
    "locate",
    "named_line",
    "reference_of_url",
]

import ntpath
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

from reqlock.errors import ConfigError, ReqlockError
from reqlock.locking.requirements import DirectReference, Origin, RequirementLine
from reqlock.urls import check_url

# What pip takes for an archive (a local file or a URL), by the end of its name.
ARCHIVE_SUFFIXES = (
    ".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz",
    ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma",
)  # fmt: skip
_OTHER_VCS = ("hg+", "svn+", "bzr+")
_HASH_NAMES = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"[0-9a-f]+")
_EXTRAS_RE = re.compile(r"^(.+?)(\[[^\]]*\])$")
_NAME_RE = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE | re.ASCII)

Fail = Callable[[str, str | None], ReqlockError]
"""``fail(message, hint)``: the error to raise, naming the line."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Located:
    """A direct reference written without ``name @``, and what the line says
    besides: the name when ``#egg=`` or a wheel's file name gives it."""

    direct: DirectReference
    name: NormalizedName | None
    extras: frozenset[NormalizedName]
    marker: Marker | None
    hashes: tuple[str, ...] = ()


def reference_of_url(
    url: str, *, base_dir: str, editable: bool, fail: Fail
) -> tuple[DirectReference, NormalizedName | None, tuple[str, ...]]:
    """The source ``url`` names, the ``#egg=`` name if any, and the hashes its
    fragment gives (``#sha256=...``, as ``"sha256:<hex>"``)."""
    lowered = url.lower()
    if lowered.startswith(_OTHER_VCS):
        scheme = lowered.split("+", 1)[0]
        raise fail(
            f"{scheme} repositories are not supported: reqlock locks git repositories only",
            "publish the project, or refer to an archive of it ('name @ https://.../x.tar.gz')",
        )
    if lowered.startswith("git+"):
        return _vcs_reference(url, editable=editable, fail=fail)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what finds a malformed host
    except ValueError as exc:
        raise fail(f"direct reference {url!r} is not a valid URL: {exc}", None) from None
    scheme = parts.scheme.lower()
    fragment = dict(parse_qsl(parts.fragment, keep_blank_values=True))
    egg = _egg(fragment.get("egg"), fail)
    hashes = _fragment_hashes(fragment, fail)
    if "subdirectory" in fragment:
        raise fail(
            "#subdirectory= is supported on git URLs only",
            "refer to the project's own directory or archive",
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise fail(f"file URL {url!r} names a host ({parts.netloc})", "use file:///path")
        return _local(unquote(parts.path), base_dir, editable, fail), egg, hashes
    if scheme in ("http", "https"):
        try:
            check_url(url.split("#", 1)[0], key="direct reference")
        except ConfigError as exc:
            raise fail(exc.message.removeprefix("direct reference: "), exc.hint) from None
        if editable:
            raise fail("an archive URL cannot be editable", "remove -e")
        filename = unquote(parts.path.rsplit("/", 1)[-1])
        if not filename.lower().endswith(ARCHIVE_SUFFIXES):
            raise fail(
                f"{filename or url!r} is not a wheel or an sdist archive "
                f"(expected one of {', '.join(ARCHIVE_SUFFIXES[:4])}, ...)",
                "point at the archive file itself, or use 'git+https://...' for a repository",
            )
        return DirectReference(kind="archive", url=url.split("#", 1)[0]), egg, hashes
    raise fail(
        f"direct reference {url!r} has an unsupported scheme {scheme + ':' if scheme else ''}",
        "use https://, file:// or git+https://",
    )


def _vcs_reference(
    url: str, *, editable: bool, fail: Fail
) -> tuple[DirectReference, NormalizedName | None, tuple[str, ...]]:
    from reqlock.index.git import GitError, parse_vcs_url

    if editable:
        raise fail(
            "an editable git checkout cannot be locked (a lock holds editable local "
            "directories only)",
            "remove -e to lock the commit, or clone it and use '-e ./path'",
        )
    try:
        parsed = parse_vcs_url(url)
    except GitError as exc:
        raise fail(exc.message, exc.hint) from None
    egg = canonicalize_name(parsed.egg) if parsed.egg else None
    return DirectReference(kind="vcs", url=url), egg, ()


def _local(path: str, base_dir: str, editable: bool, fail: Fail) -> DirectReference:
    if os.name == "nt" and re.match(r"^/[A-Za-z]:", path):
        path = path[1:]
    path = os.path.expanduser(path)
    if not (os.path.isabs(path) or ntpath.isabs(path)):
        path = os.path.join(base_dir, path)
    path = os.path.normpath(path)
    from pathlib import Path

    url = Path(path).as_uri() if os.path.isabs(path) else "file://" + path
    if path.lower().endswith(ARCHIVE_SUFFIXES):
        if editable:
            raise fail("an archive cannot be editable", "remove -e, or unpack it and use -e DIR")
        return DirectReference(kind="archive", url=url, path=path)
    return DirectReference(kind="directory", url=url, path=path, editable=editable)


def locate(text: str, *, base_dir: str, editable: bool, fail: Fail) -> Located:
    """A line that is a URL or a path, not PEP 508 (``./pkg[dev]``, ``-e .``,
    ``git+https://host/r#egg=name``, ``https://host/x-1.0-py3-none-any.whl``)."""
    is_url = bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", text)) or text.lower().startswith("file:")
    # As pip: a URL's marker follows '; ' (a URL may hold ';'); a path's any ';'.
    sep = "; " if is_url else ";"
    location, _, marker_text = text.partition(sep)
    location = location.strip()
    marker = _marker(marker_text.strip(), fail) if marker_text.strip() else None
    extras: frozenset[NormalizedName] = frozenset()
    match = _EXTRAS_RE.match(location)
    if match and not is_url:
        location = match[1]
        extras = _extras(match[2][1:-1], fail)
    if is_url:
        direct, egg, hashes = reference_of_url(
            location, base_dir=base_dir, editable=editable, fail=fail
        )
    else:
        direct, egg, hashes = _local(location, base_dir, editable, fail), None, ()
    name = egg or _wheel_name(direct)
    return Located(direct=direct, name=name, extras=extras, marker=marker, hashes=hashes)


def _wheel_name(direct: DirectReference) -> NormalizedName | None:
    if direct.kind != "archive":
        return None
    filename = unquote(direct.url.split("#", 1)[0].rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        return None
    try:
        return parse_wheel_filename(filename)[0]
    except InvalidWheelFilename:
        return None


def _marker(text: str, fail: Fail) -> Marker:
    try:
        return Marker(text)
    except InvalidMarker as exc:
        raise fail(f"invalid marker {text!r}: {str(exc).splitlines()[0]}", None) from None


def _extras(text: str, fail: Fail) -> frozenset[NormalizedName]:
    names = [item.strip() for item in text.split(",") if item.strip()]
    for item in names:
        if not _NAME_RE.fullmatch(item):
            raise fail(f"extra {item!r} is not a valid name", None)
    return frozenset(canonicalize_name(item) for item in names)


def _egg(value: str | None, fail: Fail) -> NormalizedName | None:
    if value is None:
        return None
    if not _NAME_RE.fullmatch(value):
        raise fail(
            f"#egg={value} is not a project name",
            "write 'name[extras] @ url' to name the project and its extras",
        )
    return canonicalize_name(value)


def _fragment_hashes(fragment: dict[str, str], fail: Fail) -> tuple[str, ...]:
    found = []
    for algorithm, length in _HASH_NAMES.items():
        digest = fragment.get(algorithm)
        if digest is None:
            continue
        digest = digest.lower()
        if len(digest) != length or not _HEX_RE.fullmatch(digest):
            raise fail(f"#{algorithm}= must be {length} hex digits", None)
        found.append(f"{algorithm}:{digest}")
    return tuple(found)


def named_line(
    name: str,
    direct: DirectReference,
    extras: frozenset[str],
    marker: object,
    *,
    origin: Origin,
    hashes: tuple[str, ...] = (),
) -> RequirementLine:
    """The requirement line of a direct reference once its name is known."""
    text = name + (f"[{','.join(sorted(extras))}]" if extras else "") + f" @ {_url_of(direct)}"
    if marker is not None:
        text += f" ; {marker}"
    return RequirementLine(
        requirement=Requirement(text),
        name=canonicalize_name(name),
        origin=origin,
        hashes=hashes,
        direct=direct,
    )


def _url_of(direct: DirectReference) -> str:
    # A path goes into the requirement as its file: URL (PEP 508 wants a URL).
    return direct.url


def check_hashes(direct: DirectReference, hashes: tuple[str, ...], fail: Fail) -> None:
    """Hashes belong to archives only (pip refuses them on the others too)."""
    if hashes and direct.kind != "archive":
        raise fail(
            f"--hash cannot check a {'git repository' if direct.kind == 'vcs' else 'directory'}",
            "remove the hashes: the lock pins the commit or the path instead",
        )


def is_archive_name(text: str) -> bool:
    """Whether a line starts with a file name pip would take for a local archive."""
    first = re.split(r"[\s;\[]", text.strip(), maxsplit=1)[0]
    return first.lower().endswith(ARCHIVE_SUFFIXES)


def find_links_location(value: str, *, base_dir: str, fail: Fail) -> str:
    """A ``--find-links`` value: an http(s) URL of a flat page, checked, or the
    absolute path of a local directory (relative to ``base_dir``, as paths on
    requirement lines)."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", value) and not value.lower().startswith("file:"):
        try:
            check_url(value, key="--find-links")
        except ConfigError as exc:
            raise fail(exc.message, exc.hint) from None
        return value
    path = value
    if value.lower().startswith("file:"):
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise fail(f"--find-links {value!r} is not a valid URL: {exc}", None) from None
        if parts.netloc not in ("", "localhost"):
            raise fail(f"--find-links {value!r} names a host", "use file:///path")
        path = unquote(parts.path)
    path = os.path.expanduser(path)
    return os.path.normpath(os.path.join(base_dir, path))

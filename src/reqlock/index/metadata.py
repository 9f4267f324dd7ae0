"""Core metadata of distributions: parsing, and finding it inside wheels and sdists.

Pure functions over bytes; fetching is the index's job.
"""

from __future__ import annotations

__all__ = [
    "DistMetadata",
    "is_static_sdist_metadata",
    "metadata_from_pip_report",
    "parse_metadata",
    "sdist_pkg_info",
    "wheel_metadata",
]

import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.errors import MetadataError
from reqlock.index.headers import email_fields

# Everything a corrupt or hostile archive can make zipfile/tarfile raise: bad
# structure, corrupt compressed data, unknown compression, encryption, sizes that
# overflow.
ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class DistMetadata:
    """What the resolver needs from a distribution's core metadata."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[Requirement, ...]
    requires_python: SpecifierSet | None
    provides_extras: frozenset[NormalizedName]


def parse_metadata(data: bytes, *, package: str, version: str) -> DistMetadata:
    """Parse METADATA / PKG-INFO bytes (RFC 822 form) for ``package`` ``version``."""
    raw = email_fields(data)
    return _from_fields(
        name=raw.get("name"),
        version_text=raw.get("version"),
        requires_dist=raw.get("requires_dist") or [],
        requires_python=raw.get("requires_python"),
        provides_extra=raw.get("provides_extra") or [],
        package=package,
        version=version,
    )


def metadata_from_pip_report(
    item: Mapping[str, Any], *, package: str, version: str
) -> DistMetadata:
    """Metadata from one ``install`` entry of ``pip install --report`` JSON."""
    meta = item.get("metadata")
    if not isinstance(meta, Mapping):
        raise MetadataError(
            "pip's report has no metadata for the built distribution",
            package=package,
            version=version,
        )
    return _from_fields(
        name=meta.get("name"),
        version_text=meta.get("version"),
        requires_dist=meta.get("requires_dist") or [],
        requires_python=meta.get("requires_python"),
        provides_extra=meta.get("provides_extra") or [],
        package=package,
        version=version,
    )


def _from_fields(
    *,
    name: object,
    version_text: object,
    requires_dist: object,
    requires_python: object,
    provides_extra: object,
    package: str,
    version: str,
) -> DistMetadata:
    def fail(what: str) -> MetadataError:
        return MetadataError(
            f"{package} {version}: invalid metadata: {what}",
            package=package,
            version=version,
            hint="this release's metadata is broken; exclude it with a specifier "
            f"such as '{package}!={version}'",
        )

    if not isinstance(name, str) or not name:
        raise fail("no Name")
    if canonicalize_name(name) != canonicalize_name(package):
        raise fail(f"its Name is {name!r}")
    try:
        parsed_version = Version(str(version_text))
    except ValueError:  # InvalidVersion, or an integer too long to convert
        raise fail(f"Version {version_text!r} is not PEP 440") from None
    if parsed_version != Version(version):
        raise fail(f"its Version is {version_text}")
    requirements = []
    for text in requires_dist if isinstance(requires_dist, list) else []:
        try:
            requirements.append(Requirement(str(text)))
        except InvalidRequirement as exc:
            raise fail(f"Requires-Dist {text!r}: {exc}") from None
    spec: SpecifierSet | None = None
    if isinstance(requires_python, str) and requires_python.strip():
        try:
            spec = SpecifierSet(requires_python)
        except InvalidSpecifier:
            raise fail(f"Requires-Python {requires_python!r}") from None
    extras = frozenset(
        canonicalize_name(str(e))
        for e in (provides_extra if isinstance(provides_extra, list) else [])
    )
    return DistMetadata(
        name=canonicalize_name(name),
        version=parsed_version,
        requires_dist=tuple(requirements),
        requires_python=spec,
        provides_extras=extras,
    )


def wheel_metadata(data: bytes, *, filename: str, package: str, version: str) -> bytes:
    """The ``.dist-info/METADATA`` bytes inside a whole wheel."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            name = find_dist_info_metadata(zf.namelist())
            if name is None:
                raise MetadataError(
                    f"{filename} has no .dist-info/METADATA",
                    package=package,
                    version=version,
                )
            return zf.read(name)
    except ARCHIVE_ERRORS as exc:
        raise MetadataError(
            f"{filename} is not a valid wheel: {exc}", package=package, version=version
        ) from None


def find_dist_info_metadata(names: list[str]) -> str | None:
    """The name of the top-level ``*.dist-info/METADATA`` entry among zip names."""
    for name in names:
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            return name
    return None


def sdist_pkg_info(data: bytes, *, filename: str, package: str, version: str) -> bytes | None:
    """The top-level ``PKG-INFO`` of an sdist (tar or zip), or None if it has none."""
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for name in zf.namelist():
                    parts = name.split("/")
                    if len(parts) == 2 and parts[1] == "PKG-INFO":
                        return zf.read(name)
            return None
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for member in tf:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    fh = tf.extractfile(member)
                    return fh.read() if fh is not None else None
        return None
    except ARCHIVE_ERRORS as exc:
        raise MetadataError(
            f"{filename} is not a readable sdist: {exc}", package=package, version=version
        ) from None


def is_static_sdist_metadata(pkg_info: bytes) -> bool:
    """True when PKG-INFO may be trusted without a build (PEP 643).

    Metadata-Version 2.2 or later, with none of the fields reqlock needs
    (Requires-Dist, Requires-Python, Provides-Extra) marked Dynamic.
    """
    raw = email_fields(pkg_info)
    try:
        metadata_version = Version(raw.get("metadata_version") or "0")
    except ValueError:  # InvalidVersion, or an integer too long to convert
        return False
    if metadata_version < Version("2.2"):
        return False
    dynamic = {d.lower() for d in raw.get("dynamic") or []}
    return not dynamic & {"requires-dist", "requires-python", "provides-extra"}

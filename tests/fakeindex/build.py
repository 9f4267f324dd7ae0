"""Build real, deterministic wheels and sdists for the fake package index.

Wheels are installable by pip; sdists carry an in-tree, stdlib-only build backend
so that pip can prepare their metadata and build a wheel with no network. The same
arguments always give the same bytes (fixed timestamps, sorted entries), so the
hashes the index publishes are stable across runs and machines.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import itertools
import json
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

__all__ = [
    "build_sdist",
    "build_wheel",
    "dist_name",
    "expand_tag",
    "metadata_text",
    "sdist_filename",
    "wheel_filename",
]

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_TAR_MTIME = 315532800  # 1980-01-01, the earliest time a zip can hold too
GENERATOR = "reqlock-fakeindex 1.0"


def dist_name(name: str) -> str:
    """The name as it appears in file names and import paths: ``Foo.Bar`` -> ``foo_bar``."""
    return canonicalize_name(name).replace("-", "_")


def _norm_version(version: str) -> str:
    return str(Version(version))


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    return f"{dist_name(name)}-{_norm_version(version)}-{tag}.whl"


def sdist_filename(name: str, version: str) -> str:
    return f"{dist_name(name)}-{_norm_version(version)}.tar.gz"


def expand_tag(tag: str) -> list[str]:
    """Expand a compressed tag set (``cp311-cp311-a.b``) into single tags."""
    interpreters, abis, platforms = tag.split("-")
    return [
        f"{i}-{a}-{p}"
        for i, a, p in itertools.product(
            interpreters.split("."), abis.split("."), platforms.split(".")
        )
    ]


def metadata_text(
    name: str,
    version: str,
    *,
    metadata_version: str = "2.3",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extras: Sequence[str] = (),
    dynamic: Sequence[str] = (),
) -> str:
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {name}",
        f"Version: {_norm_version(version)}",
        f"Summary: Fake project {name} for reqlock's tests",
    ]
    lines += [f"Dynamic: {field}" for field in dynamic]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {extra}" for extra in provides_extras]
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    return "\n".join(lines) + "\n\n"


def _module_init(name: str, version: str) -> bytes:
    return f'"""Fake project {name}."""\n\n__version__ = "{_norm_version(version)}"\n'.encode()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _wheel_text(tag: str) -> str:
    purelib = "true" if tag == "py3-none-any" or tag.endswith("-none-any") else "false"
    lines = [
        "Wheel-Version: 1.0",
        f"Generator: {GENERATOR}",
        f"Root-Is-Purelib: {purelib}",
    ]
    lines += [f"Tag: {t}" for t in expand_tag(tag)]
    return "\n".join(lines) + "\n"


def _zip_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, data)
    return buffer.getvalue()


def wheel_members(
    dist: str,
    version: str,
    tag: str,
    metadata: str,
    payload: Mapping[str, bytes],
) -> list[tuple[str, bytes]]:
    """All members of a wheel, in order, RECORD last, with a correct RECORD."""
    dist_info = f"{dist}-{_norm_version(version)}.dist-info"
    members = sorted(payload.items())
    members.append((f"{dist_info}/METADATA", metadata.encode()))
    members.append((f"{dist_info}/WHEEL", _wheel_text(tag).encode()))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in members:
        writer.writerow([path, _record_hash(data), str(len(data))])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    members.append((f"{dist_info}/RECORD", record.getvalue().encode()))
    return members


def build_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extras: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
    metadata_version: str = "2.3",
) -> Path:
    """Write a real, installable wheel into ``dest_dir`` and return its path."""
    dist = dist_name(name)
    payload = {f"{dist}/__init__.py": _module_init(name, version)}
    payload.update(files or {})
    metadata = metadata_text(
        name,
        version,
        metadata_version=metadata_version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extras=provides_extras,
    )
    data = _zip_bytes(wheel_members(dist, version, tag, metadata, payload))
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / wheel_filename(name, version, tag)
    path.write_bytes(data)
    return path


# The in-tree backend. It reads _backend/build_info.json (written next to it) and
# only uses the standard library, so pip needs nothing from an index to run it.
_BACKEND_SOURCE = '''\
"""In-tree PEP 517 build backend of reqlock's fake index (stdlib only)."""

import base64
import csv
import hashlib
import io
import json
import os
import tarfile
import zipfile

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(_ROOT, "_backend", "build_info.json"), encoding="utf-8") as _f:
    _INFO = json.load(_f)
_DIST_INFO = "{}-{}.dist-info".format(_INFO["dist"], _INFO["version"])


def _read(path):
    with open(os.path.join(_ROOT, path), "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    target = os.path.join(metadata_directory, _DIST_INFO)
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_INFO["metadata"])
    with open(os.path.join(target, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_INFO["wheel"])
    return _DIST_INFO


def _hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    members = [(path, _read(path)) for path in sorted(_INFO["wheel_files"])]
    members.append((_DIST_INFO + "/METADATA", _INFO["metadata"].encode("utf-8")))
    members.append((_DIST_INFO + "/WHEEL", _INFO["wheel"].encode("utf-8")))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\\n")
    for path, data in members:
        writer.writerow([path, _hash(data), str(len(data))])
    writer.writerow([_DIST_INFO + "/RECORD", "", ""])
    members.append((_DIST_INFO + "/RECORD", record.getvalue().encode("utf-8")))
    filename = "{}-{}-py3-none-any.whl".format(_INFO["dist"], _INFO["version"])
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    base = "{}-{}".format(_INFO["dist"], _INFO["version"])
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as archive:
        for path in sorted(_INFO["sdist_files"]):
            archive.add(os.path.join(_ROOT, path), arcname=base + "/" + path)
    return filename
'''


def _tar_gz_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in sorted(members):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def build_sdist(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extras: Sequence[str] = (),
    static: bool = True,
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a real sdist with an in-tree build backend and return its path.

    ``static=True``: PKG-INFO (Metadata-Version 2.2) lists Requires-Dist and does not
    mark it dynamic, so a tool may trust it without building. ``static=False``:
    PKG-INFO says ``Dynamic: Requires-Dist`` and lists none; only the backend's
    prepared metadata (i.e. a build) reveals the dependencies.
    """
    dist = dist_name(name)
    norm_version = _norm_version(version)
    base = f"{dist}-{norm_version}"
    payload = {f"{dist}/__init__.py": _module_init(name, version)}
    payload.update(files or {})
    built_metadata = metadata_text(
        name,
        version,
        metadata_version="2.2",
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extras=provides_extras,
    )
    if static:
        pkg_info = built_metadata
    else:
        pkg_info = metadata_text(
            name,
            version,
            metadata_version="2.2",
            requires_python=requires_python,
            provides_extras=provides_extras,
            dynamic=("Requires-Dist",),
        )
    pyproject = (
        "[build-system]\n"
        "requires = []\n"
        'build-backend = "fake_backend"\n'
        'backend-path = ["_backend"]\n'
    )
    tree: dict[str, bytes] = {
        "PKG-INFO": pkg_info.encode(),
        "pyproject.toml": pyproject.encode(),
        "_backend/fake_backend.py": _BACKEND_SOURCE.encode(),
        **payload,
    }
    info = {
        "dist": dist,
        "version": norm_version,
        "metadata": built_metadata,
        "wheel": _wheel_text("py3-none-any"),
        "wheel_files": sorted(payload),
        "sdist_files": sorted([*tree, "_backend/build_info.json"]),
    }
    tree["_backend/build_info.json"] = json.dumps(info, indent=1, sort_keys=True).encode()
    data = _tar_gz_bytes([(f"{base}/{path}", content) for path, content in tree.items()])
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / sdist_filename(name, version)
    path.write_bytes(data)
    return path

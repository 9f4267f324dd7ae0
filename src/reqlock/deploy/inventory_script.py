"""Describe an interpreter and the distributions on its path; check their files.

reqlock runs this file's source under the interpreter it inspects
(``python -E -B -c <source> [options]``), so it must work on any Python >= 3.8
with nothing but the standard library: the environment being inspected may be
bare. It reports facts; all judgement happens in ``reqlock.deploy.inventory``.

Modes (the argument list after ``-c``):

* no option: the inventory (marker environment, tag facts, distributions);
* ``--check SHARE COUNT [--skip NAMES]``: the inventory, and the RECORD check of
  share ``SHARE`` of ``COUNT`` of the distributions, except those whose
  canonical name is in the comma-separated ``NAMES``;
* ``--check-only SHARE COUNT [--skip NAMES]``: only that RECORD check.

Several processes can each check one share at the same time: they scan the same
path, so they split the distributions the same way (largest RECORD first, to
the least loaded share) without talking to each other.

Output: one JSON object on stdout, written by a small encoder (importing ``json``
costs more than the scan of a typical environment). The parent imports this
module too, for :func:`launch`, :func:`parse_record` and :func:`check_dist`.
"""

from __future__ import annotations

import os
import platform
import struct
import sys
import sysconfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from subprocess import Popen
    from typing import Any

SCHEMA = 1
# METADATA headers end at the first blank line, near the top; the body can be large.
METADATA_CHUNK = 16384
# Files up to this size are read in one piece; larger ones in chunks of it.
READ_CHUNK = 1 << 24
RECORD_ALGORITHMS = ("sha256", "sha384", "sha512", "sha3_256", "blake2b", "blake2s")


# --------------------------------------------------------------------------- launching


def launch(python: str, options: list[str]) -> Popen[bytes]:
    """Start this script under ``python`` (used by the parent, not by the script)."""
    import subprocess

    with open(__file__, encoding="utf-8") as f:
        source = f.read()
    return subprocess.Popen(
        [python, "-E", "-B", "-c", source, *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


# --------------------------------------------------------------------------- output


def _escape_table() -> dict[int, str]:
    table = {code: f"\\u{code:04x}" for code in range(32)}
    table[ord('"')] = '\\"'
    table[ord("\\")] = "\\\\"
    return table


_ESCAPES = _escape_table()


def _string(text: str) -> str:
    text = text.translate(_ESCAPES)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Undecodable file names arrive as lone surrogates; JSON spells them \udcxx.
        text = "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return '"' + text + '"'


def dumps(value: Any) -> str:
    """JSON for str, int, bool, None, list, tuple and dict (str keys)."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_string(k) + ":" + dumps(v) for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


# --------------------------------------------------------------------------- facts


def _full_version(info: Any) -> str:
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def marker_environment() -> dict[str, str]:
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _elf_facts(path: str) -> dict[str, Any] | None:
    """ELF class, byte order, machine, flags and program interpreter of ``path``."""
    try:
        with open(path, "rb") as f:
            ident = f.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF":
                return None
            capacity = {1: 32, 2: 64}.get(ident[4])
            order = {1: "<", 2: ">"}.get(ident[5])
            if capacity is None or order is None:
                return None
            if capacity == 32:
                fmt, ph_fmt = order + "HHIIIIIHHH", order + "IIIII"
            else:
                fmt, ph_fmt = order + "HHIQQQIHHH", order + "IIQQQQ"
            header = f.read(struct.calcsize(fmt))
            _, machine, _, _, phoff, _, flags, _, phentsize, phnum = struct.unpack(fmt, header)
            interpreter = None
            for index in range(min(phnum, 64)):
                f.seek(phoff + index * phentsize)
                raw = f.read(struct.calcsize(ph_fmt))
                if len(raw) < struct.calcsize(ph_fmt):
                    break
                fields = struct.unpack(ph_fmt, raw)
                if fields[0] != 3:  # PT_INTERP
                    continue
                if capacity == 32:
                    offset, size = fields[1], fields[4]
                else:
                    offset, size = fields[2], fields[5]
                f.seek(offset)
                interpreter = f.read(min(size, 4096)).strip(b"\0").decode("ascii", "replace")
                break
    except (OSError, struct.error, ValueError):
        return None
    return {
        "class": capacity,
        "order": "lsb" if order == "<" else "msb",
        "machine": machine,
        "flags": flags,
        "interpreter": interpreter,
    }


def _musl_version(loader: str) -> list[int] | None:
    import subprocess

    try:
        proc = subprocess.run([loader], capture_output=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in proc.stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 2 or not lines[0].startswith("musl") or not lines[1].startswith("Version "):
        return None
    parts = lines[1][len("Version ") :].split(".")
    try:
        return [int(parts[0]), int(parts[1])]
    except (IndexError, ValueError):
        return None


def _glibc_version() -> str | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
        if text:
            return text.rsplit(None, 1)[-1]
    except (AttributeError, OSError, ValueError):
        pass
    try:
        import ctypes

        getter = ctypes.CDLL(None).gnu_get_libc_version
        getter.restype = ctypes.c_char_p
        value = getter()
        return value.decode("ascii") if isinstance(value, bytes) else None
    except Exception:  # any failure means "not glibc", as it does for pip
        return None


def _mac_version() -> dict[str, str]:
    release, _, machine = platform.mac_ver()
    if release.startswith("10.16"):
        # Built against an old SDK, Python reports the compatibility version.
        import contextlib
        import subprocess

        with contextlib.suppress(OSError, subprocess.SubprocessError):
            release = (
                subprocess.run(
                    [sys.executable, "-sS", "-c", "import platform; print(platform.mac_ver()[0])"],
                    check=True,
                    env={"SYSTEM_VERSION_COMPAT": "0"},
                    stdout=subprocess.PIPE,
                    timeout=30,
                )
                .stdout.decode("ascii", "replace")
                .strip()
            )
    return {"release": release, "machine": machine}


def tag_facts() -> dict[str, Any]:
    from importlib.machinery import EXTENSION_SUFFIXES

    system = platform.system()
    facts: dict[str, Any] = {
        "implementation": sys.implementation.name,
        "version": list(sys.version_info[:2]),
        "py_version_nodot": sysconfig.get_config_var("py_version_nodot"),
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "py_debug": sysconfig.get_config_var("Py_DEBUG"),
        "py_gil_disabled": sysconfig.get_config_var("Py_GIL_DISABLED"),
        "with_pymalloc": sysconfig.get_config_var("WITH_PYMALLOC"),
        "has_refcount": hasattr(sys, "gettotalrefcount"),
        "extension_suffixes": list(EXTENSION_SUFFIXES),
        "maxunicode": sys.maxunicode,
        "system": system,
        "sysconfig_platform": sysconfig.get_platform(),
        "pointer_size": struct.calcsize("P"),
        "emscripten_version": sysconfig.get_config_var("PYEMSCRIPTEN_PLATFORM_VERSION"),
    }
    if system == "Linux":
        elf = _elf_facts(sys.executable)
        facts["elf"] = elf
        facts["glibc"] = _glibc_version()
        loader = elf and elf.get("interpreter")
        facts["musl"] = _musl_version(loader) if loader and "musl" in loader else None
    elif system == "Darwin":
        facts["mac"] = _mac_version()
    elif system == "iOS":
        facts["ios"] = {
            "release": platform.ios_ver()[1],  # type: ignore[attr-defined]
            "multiarch": getattr(sys.implementation, "_multiarch", ""),
        }
    elif system == "Android":
        facts["android_api_level"] = platform.android_ver().api_level  # type: ignore[attr-defined]
    return facts


# --------------------------------------------------------------------------- dists


def _read_headers(path: str) -> tuple[dict[str, str] | None, str | None]:
    """Name and Version of a METADATA/PKG-INFO file, or (None, error)."""
    try:
        with open(path, "rb") as f:
            data = f.read(METADATA_CHUNK)
            while b"\n\n" not in data and b"\r\n\r\n" not in data:
                more = f.read(METADATA_CHUNK)
                if not more:
                    break
                data += more
    except OSError as exc:
        return None, f"cannot read {os.path.basename(path)}: {exc.strerror or exc}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # The body may be cut mid-character; only the header block must decode.
        end = data.find(b"\n\n")
        try:
            text = data[: end if end >= 0 else len(data)].decode("utf-8")
        except UnicodeDecodeError:
            return None, f"{os.path.basename(path)} is not UTF-8"
    headers = {}
    for line in text.splitlines():
        if not line.strip():
            break
        if line[:1] in {" ", "\t"}:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            return None, f"{os.path.basename(path)} has a malformed header line {line[:80]!r}"
        key = key.strip().lower()
        if key in {"name", "version"} and key not in headers:
            headers[key] = value.strip()
    if not headers.get("name") or not headers.get("version"):
        return None, f"{os.path.basename(path)} has no Name or no Version"
    return headers, None


def _read_small(path: str) -> tuple[str | None, str | None]:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("utf-8", "replace"), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read {os.path.basename(path)}: {exc.strerror or exc}"


def _wheel_facts(text: str) -> dict[str, Any]:
    tags = []
    generator = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "tag":
            tags.append(value.strip())
        elif key == "generator" and generator is None:
            generator = value.strip()
    return {"tags": tags, "generator": generator}


def describe_dist(location: str, entry_name: str, is_dir: bool, full: bool) -> dict[str, Any]:
    """Facts about one ``.dist-info``/``.egg-info``; ``full=False``: only RECORD."""
    path = os.path.join(location, entry_name)
    is_egg = entry_name.endswith(".egg-info")
    stem = entry_name[: -len(".egg-info" if is_egg else ".dist-info")]
    dir_name, _, dir_version = stem.partition("-")
    if is_egg and "-" in dir_version:
        dir_version = dir_version.split("-", 1)[0]  # drop the "-py3.11" suffix
    errors: list[str] = []
    dist: dict[str, Any] = {
        "path": path,
        "location": location,
        "format": "egg-info" if is_egg else "dist-info",
        "dir_name": dir_name,
        "dir_version": dir_version,
        "name": None,
        "version": None,
        "errors": errors,
        "wheel": None,
        "installer": None,
        "direct_url": None,
        "record": None,
    }
    if not is_dir:
        # A bare "x.egg-info" file is itself the PKG-INFO.
        headers, error = _read_headers(path) if full else (None, None)
    else:
        try:
            present = set(os.listdir(path))
        except OSError as exc:
            errors.append(f"cannot list: {exc.strerror or exc}")
            return dist
        if not is_egg and "RECORD" in present:
            dist["record"] = os.path.join(path, "RECORD")
        if not full:
            return dist
        metadata_file = "PKG-INFO" if is_egg else "METADATA"
        if metadata_file in present:
            headers, error = _read_headers(os.path.join(path, metadata_file))
        else:
            headers, error = None, f"no {metadata_file} file"
        if not is_egg:
            if "RECORD" not in present:
                errors.append("no RECORD file")
            if "WHEEL" in present:
                text, wheel_error = _read_small(os.path.join(path, "WHEEL"))
                if wheel_error:
                    errors.append(wheel_error)
                elif text is not None:
                    dist["wheel"] = _wheel_facts(text)
            if "INSTALLER" in present:
                text, _ = _read_small(os.path.join(path, "INSTALLER"))
                if text is not None:
                    dist["installer"] = (text.strip().splitlines() or [""])[0]
            if "direct_url.json" in present:
                # Parsed by the parent: importing json here would cost more than the scan.
                text, url_error = _read_small(os.path.join(path, "direct_url.json"))
                if url_error:
                    errors.append(url_error)
                dist["direct_url"] = text
    if error:
        errors.append(error)
    if headers:
        dist["name"] = headers["name"]
        dist["version"] = headers["version"]
    return dist


def scan_path(entries: list[str], full: bool = True) -> tuple[list[str], list[dict[str, Any]]]:
    seen = set()
    scanned = []
    dists = []
    for entry in entries:
        location = os.path.abspath(entry or os.curdir)
        try:
            real = os.path.realpath(location)
        except (OSError, ValueError):
            continue
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(location) as it:
                children = sorted(
                    (child.name, child.is_dir())
                    for child in it
                    if child.name.endswith((".dist-info", ".egg-info"))
                )
        except (OSError, ValueError):
            continue  # zip files, missing dirs: nothing installed there
        scanned.append(location)
        for name, is_dir in children:
            dists.append(describe_dist(location, name, is_dir, full))
    return scanned, dists


# --------------------------------------------------------------------------- RECORD


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64decode(text: str) -> bytes:
    import binascii

    if not text.isascii() or "+" in text or "/" in text:
        raise ValueError("not urlsafe base64")
    return binascii.a2b_base64((text + "=" * (-len(text) % 4)).encode().translate(_FROM_URLSAFE))


def _b64encode(digest: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _hash_constructors() -> dict[str, Any]:
    import hashlib

    return {name: getattr(hashlib, name) for name in RECORD_ALGORITHMS}


def _split_row(line: str) -> list[str]:
    if '"' not in line:
        return line.split(",")
    import csv

    rows = list(csv.reader([line]))
    return rows[0] if rows else []


def parse_record(text: str) -> tuple[list[Any], list[str]]:
    """RECORD rows as ``(path, algorithm, digest, size)`` and ``"line N: ..."`` errors.

    Never raises: a garbage line is reported and skipped.
    """
    import binascii

    sizes = {name: new().digest_size for name, new in _hash_constructors().items()}
    entries: list[Any] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = _split_row(line)
        except Exception as exc:  # csv.Error, and whatever odd text makes csv unhappy
            errors.append(f"line {number}: not CSV ({exc})")
            continue
        if len(row) != 3:
            errors.append(f"line {number}: expected 3 fields (path,hash,size), got {len(row)}")
            continue
        path, hash_field, size_field = row
        if not path or "\0" in path:
            errors.append(f"line {number}: empty or invalid path")
            continue
        algorithm = None
        digest = None
        if hash_field:
            algorithm, sep, value = hash_field.partition("=")
            if not sep or algorithm not in sizes:
                errors.append(f"line {number}: unsupported hash {hash_field[:40]!r}")
                continue
            try:
                digest = _b64decode(value)
            except (binascii.Error, ValueError):
                errors.append(f"line {number}: hash is not urlsafe base64")
                continue
            if len(digest) != sizes[algorithm]:
                errors.append(f"line {number}: {algorithm} hash has the wrong length")
                continue
        size = None
        if size_field:
            if not (size_field.isdigit() and size_field.isascii() and len(size_field) <= 20):
                errors.append(f"line {number}: size {size_field[:20]!r} is not a number")
                continue
            size = int(size_field)
        entries.append((path, algorithm, digest, size))
    return entries, errors


def _issue(
    dist: str,
    kind: str,
    path: str,
    detail: str,
    *,
    expected: str | None = None,
    actual: str | None = None,
) -> dict[str, Any]:
    return {
        "dist": dist,
        "kind": kind,
        "path": path,
        "detail": detail,
        "expected": expected,
        "actual": actual,
    }


def _hash_file(fd: int, new: Any, size: int) -> bytes:
    if size <= READ_CHUNK:
        data = os.read(fd, size)
        if len(data) == size:  # the usual case: one read, one call into the hash
            return new(data).digest()  # type: ignore[no-any-return]
        hasher = new(data)
        remaining = size - len(data)
    else:
        hasher = new()
        remaining = size
    while remaining > 0:
        data = os.read(fd, min(remaining, READ_CHUNK))
        if not data:
            break
        hasher.update(data)
        remaining -= len(data)
    return hasher.digest()  # type: ignore[no-any-return]


def check_dist(dist_path: str, location: str, record: str) -> list[dict[str, Any]]:
    """Compare every hashed RECORD row of one distribution with the file on disk.

    Bytecode under ``__pycache__`` is skipped: Python rewrites it whenever a
    source's mtime changes, so its hash says nothing; the sources are checked.
    """
    issues = []
    try:
        with open(record, "rb") as f:
            raw = f.read()
    except OSError as exc:
        return [_issue(dist_path, "record", record, f"cannot read RECORD: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        issues.append(_issue(dist_path, "record", record, "RECORD is not UTF-8"))
        text = raw.decode("utf-8", "replace")
    entries, errors = parse_record(text)
    issues.extend(_issue(dist_path, "record", record, "RECORD " + error) for error in errors)
    constructors = _hash_constructors()
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    prefix = os.path.join(location, "")
    for path, algorithm, digest, size in entries:
        if digest is None or (path.endswith(".pyc") and "__pycache__" in path):
            continue
        full = path if os.path.isabs(path) else prefix + path
        try:
            fd = os.open(full, flags)
        except OSError as exc:
            detail = (
                "file is gone"
                if isinstance(exc, FileNotFoundError)
                else (f"cannot read: {exc.strerror or exc}")
            )
            issues.append(
                _issue(
                    dist_path,
                    "missing",
                    path,
                    detail,
                    expected=algorithm + "=" + _b64encode(digest),
                )
            )
            continue
        try:
            actual_size = os.fstat(fd).st_size
            if size is not None and actual_size != size:
                issues.append(
                    _issue(
                        dist_path,
                        "modified",
                        path,
                        f"size {actual_size} bytes, RECORD says {size}",
                        expected=algorithm + "=" + _b64encode(digest),
                    )
                )
                continue
            actual = _hash_file(fd, constructors[algorithm], actual_size)
        except OSError as exc:
            issues.append(
                _issue(
                    dist_path,
                    "missing",
                    path,
                    f"cannot read: {exc.strerror or exc}",
                    expected=algorithm + "=" + _b64encode(digest),
                )
            )
            continue
        finally:
            os.close(fd)
        if actual != digest:
            issues.append(
                _issue(
                    dist_path,
                    "modified",
                    path,
                    "content differs from RECORD",
                    expected=algorithm + "=" + _b64encode(digest),
                    actual=algorithm + "=" + _b64encode(actual),
                )
            )
    return issues


def _record_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def canonical(name: str) -> str:
    """PEP 503 normalized name (``Foo.Bar_baz`` -> ``foo-bar-baz``), without ``re``."""
    name = name.lower().replace("_", "-").replace(".", "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name


def skipped(dist_path: str, skip: frozenset[str]) -> bool:
    """Whether a ``.dist-info`` is exempt from file checks (judged by its directory
    name, which every process sees the same way)."""
    if not skip:
        return False
    return canonical(os.path.basename(dist_path).partition("-")[0]) in skip


def share_of(
    dists: list[dict[str, Any]], share: int, count: int, skip: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The distributions process ``share`` of ``count`` checks (same split everywhere)."""
    sized = sorted(
        (
            (_record_size(d["record"]), d["path"], d)
            for d in dists
            if d["record"] and not skipped(d["path"], skip)
        ),
        key=lambda item: (-item[0], item[1]),
    )
    loads = [0] * count
    mine = []
    for size, _, dist in sized:
        target = loads.index(min(loads))
        loads[target] += size + 1
        if target == share:
            mine.append(dist)
    return mine


def check_share(
    dists: list[dict[str, Any]], share: int, count: int, skip: frozenset[str]
) -> dict[str, Any]:
    issues: list[dict[str, Any]] = []
    checked = []
    for dist in share_of(dists, share, count, skip):
        issues.extend(check_dist(dist["path"], dist["location"], dist["record"]))
        checked.append(dist["path"])
    return {"file_issues": issues, "checked": checked}


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> None:
    # "-c" puts the current directory first; it is not part of the environment.
    entries = [p for p in sys.path if p not in ("", os.curdir)]
    mode = argv[0] if argv else ""
    share = count = 0
    skip: frozenset[str] = frozenset()
    if mode in {"--check", "--check-only"}:
        share, count = int(argv[1]), int(argv[2])
        if argv[3:4] == ["--skip"]:
            skip = frozenset(name for name in argv[4].split(",") if name)
    if mode == "--check-only":
        _, dists = scan_path(entries, full=False)
        result = {"schema": SCHEMA, **check_share(dists, share, count, skip)}
    else:
        scanned, dists = scan_path(entries)
        result = {
            "schema": SCHEMA,
            "executable": sys.executable,
            "prefix": sys.prefix,
            "base_prefix": getattr(sys, "base_prefix", sys.prefix),
            "environment": marker_environment(),
            "tag_facts": tag_facts(),
            "path": scanned,
            "dists": dists,
        }
        if mode == "--check":
            result.update(check_share(dists, share, count, skip))
    out = sys.stdout.buffer
    out.write(dumps(result).encode("utf-8", "surrogatepass"))
    out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])

"""RECORD files: parsing, checking installed files, sharing the work (inventory script part).

Stdlib only, Python >= 3.8: this source is concatenated into the inventory script
(see :func:`reqlock.deploy.inventory_script.script_source`); the parent imports it
too, for :func:`parse_record` and :func:`check_dist`.
"""

from __future__ import annotations

import os

if __name__ != "__main__":  # imported by reqlock; in the script, the parts share one namespace
    from reqlock.deploy.inventory_read import (
        READ_CHUNK,
        RECORD_LIMIT,
        NotRegularFile,
        open_regular,
        read_problem,
        read_regular,
    )

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RECORD_ALGORITHMS = ("sha256", "sha384", "sha512", "sha3_256", "blake2b", "blake2s")


# --------------------------------------------------------------------------- parsing


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


def record_rows(text: str) -> list[tuple[str, str]] | None:
    """``(path, hash field)`` of every RECORD row, as written; ``None`` when a row is
    not CSV with exactly three fields (the digest of such a RECORD means nothing).

    Lines are split as ``csv`` splits them (a quoted field may hold a line break),
    the way the lock's digest of the wheel's RECORD reads it.
    """
    if '"' in text:
        import csv
        import io

        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error:
            return None
        pairs = []
        for row in rows:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if len(row) != 3:
                return None
            pairs.append((row[0], row[1]))
        return pairs
    # The usual case, without the csv module: the same rows, split by partition.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    pairs = []
    for line in text.split("\n"):
        path, _, rest = line.partition(",")
        hash_field, two, size = rest.partition(",")
        if not two or "," in size:  # not exactly three fields
            if line.strip():
                return None
            continue  # a blank line
        pairs.append((path, hash_field))
    return pairs


def read_record_rows(record: str) -> tuple[list[tuple[str, str]] | None, str | None]:
    """:func:`record_rows` of the RECORD file ``record``, and a read error if any
    (a RECORD that is not UTF-8 or not CSV gives ``None`` without an error: the file
    check reports what is wrong with it)."""
    try:
        raw = read_regular(record, RECORD_LIMIT)
    except OSError as exc:
        return None, read_problem("RECORD", exc)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, None
    return record_rows(text), None


# --------------------------------------------------------------------------- checking


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


def _read_record_text(dist_path: str, record: str) -> tuple[str | None, list[dict[str, Any]]]:
    try:
        raw = read_regular(record, RECORD_LIMIT)
    except OSError as exc:
        return None, [_issue(dist_path, "record", record, read_problem("RECORD", exc))]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError:
        issue = _issue(dist_path, "record", record, "RECORD is not UTF-8")
        return raw.decode("utf-8", "replace"), [issue]


def _check_file(dist_path: str, full: str, row: Any, new: Any) -> dict[str, Any] | None:
    path, algorithm, digest, size = row
    expected = algorithm + "=" + _b64encode(digest)
    try:
        fd, actual_size = open_regular(full)
    except NotRegularFile as exc:
        # Something else stands where the file was: a FIFO here must not hang the check.
        return _issue(dist_path, "modified", path, str(exc.strerror), expected=expected)
    except OSError as exc:
        detail = (
            "file is gone"
            if isinstance(exc, FileNotFoundError)
            else f"cannot read: {exc.strerror or exc}"
        )
        return _issue(dist_path, "missing", path, detail, expected=expected)
    try:
        if size is not None and actual_size != size:
            detail = f"size {actual_size} bytes, RECORD says {size}"
            return _issue(dist_path, "modified", path, detail, expected=expected)
        actual = _hash_file(fd, new, actual_size)
    except OSError as exc:
        detail = f"cannot read: {exc.strerror or exc}"
        return _issue(dist_path, "missing", path, detail, expected=expected)
    finally:
        os.close(fd)
    if actual == digest:
        return None
    return _issue(
        dist_path,
        "modified",
        path,
        "content differs from RECORD",
        expected=expected,
        actual=algorithm + "=" + _b64encode(actual),
    )


def check_dist(dist_path: str, location: str, record: str) -> list[dict[str, Any]]:
    """Compare every hashed RECORD row of one distribution with the file on disk.

    Bytecode under ``__pycache__`` is skipped: Python rewrites it whenever a
    source's mtime changes, so its hash says nothing; the sources are checked.
    Only regular files are read: anything else where a file should be (a FIFO, a
    device) is ``modified``.
    """
    text, issues = _read_record_text(dist_path, record)
    if text is None:
        return issues
    entries, errors = parse_record(text)
    issues.extend(_issue(dist_path, "record", record, "RECORD " + error) for error in errors)
    constructors = _hash_constructors()
    prefix = os.path.join(location, "")
    for row in entries:
        path, algorithm, digest, _ = row
        if digest is None or (path.endswith(".pyc") and "__pycache__" in path):
            continue
        full = path if os.path.isabs(path) else prefix + path
        issue = _check_file(dist_path, full, row, constructors[algorithm])
        if issue is not None:
            issues.append(issue)
    return issues


# --------------------------------------------------------------------------- sharing


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
    """The file check of share ``share`` of ``count``: ``file_issues`` and ``checked``."""
    issues: list[dict[str, Any]] = []
    checked = []
    for dist in share_of(dists, share, count, skip):
        issues.extend(check_dist(dist["path"], dist["location"], dist["record"]))
        checked.append(dist["path"])
    return {"file_issues": issues, "checked": checked}

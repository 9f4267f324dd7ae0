"""Describe an interpreter and the distributions on its path; check their files.

reqlock runs this script under the interpreter it inspects, isolated and without
``site`` (``python -I -S -B -c <source> [options]``): nothing of the inspected
environment runs, not even its ``.pth`` files. The source is this module and its
parts, concatenated by :func:`script_source` in :data:`PARTS` order:
``inventory_read`` (bounded reads of regular files only), ``inventory_rows``
(RECORD parsing and checks), ``inventory_facts`` (marker environment, tag facts),
``inventory_site`` (the path ``site`` would build), ``inventory_dists`` (the
distributions on it) and ``inventory_unowned`` (files no RECORD owns). So every
part must work on any Python >= 3.8 with nothing but the standard library (the
environment being inspected may be bare), and imports the others only when
imported by reqlock (``__name__ != "__main__"``). It reports facts; all judgement
happens in ``reqlock.deploy.inventory``.

Modes (the argument list after ``-c``):

* no option: the inventory (marker environment, tag facts, distributions with
  their RECORD rows, ``.pth`` import lines, unowned files);
* ``--check SHARE COUNT [--skip NAMES]``: the inventory, and the RECORD check of
  share ``SHARE`` of ``COUNT`` of the distributions, except those whose
  canonical name is in the comma-separated ``NAMES``;
* ``--check-only SHARE COUNT [--skip NAMES]``: only that RECORD check;
* ``--walk-limit N`` (with either): stop looking for unowned files after ``N``
  directory entries.

Several processes can each check one share at the same time: they scan the same
path, so they split the distributions the same way (largest RECORD first, to
the least loaded share) without talking to each other.

Output: one JSON object on stdout, written by a small encoder (importing ``json``
costs more than the scan of a typical environment). The parent imports this
module too, for :func:`launch`.
"""

from __future__ import annotations

import os
import sys

# Imported by reqlock; in the script, the parts share one namespace. Some names are
# re-exported: the parent and the tests know them from here.
if __name__ != "__main__":
    from reqlock.deploy.inventory_dists import scan_path
    from reqlock.deploy.inventory_facts import marker_environment, tag_facts
    from reqlock.deploy.inventory_rows import (
        RECORD_ALGORITHMS,
        canonical,
        check_dist,
        check_share,
        parse_record,
        share_of,
        skipped,
    )
    from reqlock.deploy.inventory_site import site_path
    from reqlock.deploy.inventory_unowned import WALK_LIMIT, find_unowned

__all__ = [
    "PARTS",
    "RECORD_ALGORITHMS",
    "SCHEMA",
    "canonical",
    "check_dist",
    "compact_source",
    "dumps",
    "launch",
    "main",
    "parse_record",
    "script_source",
    "share_of",
    "skipped",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from subprocess import Popen
    from typing import Any

SCHEMA = 1
PARTS = (
    # The RECORD digest is computed where the RECORD is read: sending every row to
    # the parent instead made the report ~1.4 MB for a 97-package environment.
    "record",
    "inventory_read",
    "inventory_rows",
    "inventory_facts",
    "inventory_site",
    "inventory_dists",
    "inventory_unowned",
    "inventory_script",
)
_FUTURE = "from __future__ import annotations"
_SOURCE: list[str] = []


# --------------------------------------------------------------------------- launching


def script_source() -> str:
    """The parts as one program for ``-c``, with one ``from __future__`` line on top
    (it must be the first statement, and the annotations need it on Python 3.8)."""
    if not _SOURCE:
        here = os.path.dirname(os.path.abspath(__file__))
        chunks = [_FUTURE + "\n"]
        for name in PARTS:
            with open(os.path.join(here, name + ".py"), encoding="utf-8") as f:
                lines = f.read().splitlines(keepends=True)
            chunks.append("".join(line for line in lines if line.rstrip() != _FUTURE))
        _SOURCE.append("\n".join(chunks))
    return _SOURCE[0]


def compact_source() -> str:
    """:func:`script_source` compressed into a short ``-c`` program, for Windows,
    whose command lines are at most 32767 characters long (POSIX systems take the
    plain source, which keeps tracebacks readable)."""
    import base64
    import zlib

    payload = base64.b85encode(zlib.compress(script_source().encode("utf-8"), 9)).decode()
    # b85 has no quote or backslash: the payload is a plain bytes literal.
    return (
        "import base64,zlib;exec(compile(zlib.decompress(base64.b85decode(b'"
        + payload
        + "')).decode('utf-8'),'<reqlock inventory>','exec'))"
    )


def launch(python: str, options: list[str], *, compact: bool | None = None) -> Popen[bytes]:
    """Start the script under ``python`` (used by the parent, not by the script).

    ``-I``: no environment variables, no user site, no current directory on the
    path; ``-S``: no ``site``, so no ``.pth`` file runs; ``-B``: nothing written.
    ``compact`` (default: on Windows) passes :func:`compact_source`.
    """
    import subprocess

    if compact is None:
        compact = os.name == "nt"
    source = compact_source() if compact else script_source()
    return subprocess.Popen(
        [python, "-I", "-S", "-B", "-c", source, *options],
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


# --------------------------------------------------------------------------- main


def parse_options(argv: list[str]) -> dict[str, Any]:
    """The options of the argument list (see the module docstring)."""
    options: dict[str, Any] = {
        "mode": "",
        "share": 0,
        "count": 0,
        "skip": frozenset(),
        "walk_limit": WALK_LIMIT,
    }
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in {"--check", "--check-only"}:
            options["mode"] = arg
            options["share"], options["count"] = int(argv[index + 1]), int(argv[index + 2])
            index += 3
        elif arg == "--skip":
            options["skip"] = frozenset(name for name in argv[index + 1].split(",") if name)
            index += 2
        elif arg == "--walk-limit":
            options["walk_limit"] = int(argv[index + 1])
            index += 2
        else:
            raise SystemExit(f"inventory script: unknown option {arg!r}")
    return options


def inventory(options: dict[str, Any]) -> dict[str, Any]:
    """The inventory report (and this process's share of the file check)."""
    # -I keeps the current directory off the path; this is for old interpreters.
    site = site_path([p for p in sys.path if p not in ("", os.curdir)])
    owned: set[str] = set()
    scanned, dists = scan_path(site["path"], owned=owned)
    prefixes = (
        sys.prefix,
        sys.exec_prefix,
        getattr(sys, "base_prefix", sys.prefix),
        getattr(sys, "base_exec_prefix", sys.exec_prefix),
    )
    unowned, walk_problems = find_unowned(
        site["site_dirs"], dists, owned, options["walk_limit"], prefixes
    )
    result = {
        "schema": SCHEMA,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "environment": marker_environment(),
        "tag_facts": tag_facts(),
        "path": scanned,
        "dists": dists,
        "pth_imports": site["pth_imports"],
        "unowned": unowned,
        "problems": site["problems"] + walk_problems,
    }
    if options["mode"] == "--check":
        result.update(check_share(dists, options["share"], options["count"], options["skip"]))
    return result


def main(argv: list[str]) -> None:
    """Write the report the options ask for to stdout, as JSON."""
    options = parse_options(argv)
    if options["mode"] == "--check-only":
        site = site_path([p for p in sys.path if p not in ("", os.curdir)])
        _, dists = scan_path(site["path"], full=False)
        share = check_share(dists, options["share"], options["count"], options["skip"])
        result = {"schema": SCHEMA, **share}
    else:
        result = inventory(options)
    out = sys.stdout.buffer
    out.write(dumps(result).encode("utf-8", "surrogatepass"))
    out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])

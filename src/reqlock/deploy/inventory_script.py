"""Describe an interpreter and the distributions on its path; check their files.

reqlock runs this script under the interpreter it inspects, isolated and without
``site`` (``python -I -S -B -c <program> [options]``, see
:mod:`reqlock.deploy.inventory_launch`): nothing of the inspected environment
runs, not even its ``.pth`` files. The script is this module and its parts, run
in one namespace in :data:`PARTS` order: ``record`` (the RECORD digest),
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

Output: one JSON object on stdout, ASCII only (:func:`dumps`). The parent
imports this module too; :func:`launch` and the sources are re-exported from
:mod:`~reqlock.deploy.inventory_launch`.
"""

from __future__ import annotations

import os
import sys

# Imported by reqlock; in the script, the parts share one namespace. Some names are
# re-exported: the parent and the tests know them from here.
if __name__ != "__main__":
    from reqlock.deploy.inventory_dists import scan_path
    from reqlock.deploy.inventory_facts import marker_environment, tag_facts
    from reqlock.deploy.inventory_launch import PARTS, compact_source, launch, script_source
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
    from typing import Any

SCHEMA = 1


# --------------------------------------------------------------------------- output


def dumps(value: Any) -> str:
    """Compact, ASCII-only JSON of ``value`` (str, int, bool, None, list, tuple and
    dict with str keys). Undecodable file names arrive as lone surrogates and
    leave as ``\\udcxx`` escapes, which the parent reads back as the same str."""
    # The C encoder: a third of a millisecond for a 100-package environment, where
    # a pure-Python one took ~3 ms (re, which json needs, is loaded anyway).
    import json

    return json.dumps(value, separators=(",", ":"))


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
    out.write(dumps(result).encode("ascii"))
    out.flush()


if __name__ == "__main__":
    # A short-lived process whose objects are nearly all acyclic (paths, rows,
    # dicts kept to the end): the collector's passes over them cost ~10 ms and
    # would free nothing, and so would the interpreter's teardown once the answer
    # is out (main flushes it).
    import gc

    gc.disable()
    main(sys.argv[1:])
    os._exit(0)

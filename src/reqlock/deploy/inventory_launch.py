"""Starting the inventory script under the interpreter it inspects (parent side only).

This module imports nothing but ``os``, ``sys`` and ``subprocess``, so that the
command line can start the inventory before it imports anything heavy: the two
then overlap. It is not one of the script's parts.

The interpreter always starts as ``python -I -S -B -c PROGRAM ...``: ``-I``, no
environment variables, no user site, no current directory on the path; ``-S``, no
``site``, so no ``.pth`` file runs; ``-B``, nothing written. ``PROGRAM`` is one of:

* the loader (the default): a few lines that run the parts, in :data:`PARTS`
  order and in one namespace, from reqlock's own directory (passed as the first
  argument), each from the bytecode cached next to it when the import system
  would use that cache for the running interpreter, else compiled from the
  source (compiling the ~65 kB of source took ~12 ms of the ~110 ms that a
  100-package environment took). The loader reads nothing but reqlock's
  files, and imports nothing from the inspected environment (``sys.path`` is
  not searched for the parts);
* :func:`script_source`, the parts concatenated (``compact=False``);
* :func:`compact_source`, that source compressed (``compact=True``).
"""

from __future__ import annotations

__all__ = ["PARTS", "compact_source", "launch", "loader_source", "script_source"]

import os
import subprocess

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
HERE = os.path.dirname(os.path.abspath(__file__))
_FUTURE = "from __future__ import annotations"
_SOURCE: list[str] = []

# Python 3.8 syntax, names that no part defines. SourceFileLoader.get_code is what
# the import system runs for a module: it takes the cached bytecode when it is
# valid for this interpreter (magic number, and the source's mtime and size or
# its hash), else compiles the source; under -B it writes nothing.
_LOADER = """\
import gc, os, sys
gc.disable()  # as the script does: loading its parts makes objects to keep, too
from importlib.machinery import SourceFileLoader as _reqlock_loader
_reqlock_here = sys.argv.pop(1)
for _reqlock_part in %(parts)r:
    _reqlock_path = os.path.join(_reqlock_here, _reqlock_part + ".py")
    exec(_reqlock_loader(_reqlock_part, _reqlock_path).get_code(_reqlock_part))
"""


def loader_source() -> str:
    """The loader program (see the module docstring); its first argument is the
    directory holding the parts."""
    return _LOADER % {"parts": PARTS}


def script_source() -> str:
    """The parts as one program for ``-c``, with one ``from __future__`` line on top
    (it must be the first statement, and the annotations need it on Python 3.8)."""
    if not _SOURCE:
        chunks = [_FUTURE + "\n"]
        for name in PARTS:
            with open(os.path.join(HERE, name + ".py"), encoding="utf-8") as f:
                lines = f.read().splitlines(keepends=True)
            chunks.append("".join(line for line in lines if line.rstrip() != _FUTURE))
        _SOURCE.append("\n".join(chunks))
    return _SOURCE[0]


def compact_source() -> str:
    """:func:`script_source` compressed into a short ``-c`` program (Windows
    command lines are at most 32767 characters long)."""
    import base64
    import zlib

    payload = base64.b85encode(zlib.compress(script_source().encode("utf-8"), 9)).decode()
    # b85 has no quote or backslash: the payload is a plain bytes literal.
    return (
        "import base64,zlib;exec(compile(zlib.decompress(base64.b85decode(b'"
        + payload
        + "')).decode('utf-8'),'<reqlock inventory>','exec'))"
    )


def launch(
    python: str, options: list[str], *, compact: bool | None = None, parts_dir: str = HERE
) -> subprocess.Popen[bytes]:
    """Start the script under ``python`` with the script ``options``.

    ``compact=None`` runs the loader on the parts in ``parts_dir``; ``False`` passes
    :func:`script_source`, ``True`` :func:`compact_source`.
    """
    if compact is None:
        program = [loader_source(), parts_dir]
    else:
        program = [compact_source() if compact else script_source()]
    return subprocess.Popen(
        [python, "-I", "-S", "-B", "-c", *program, *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

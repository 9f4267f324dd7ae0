"""A small, deterministic TOML writer for lock files.

Lock files have a fixed shape (top-level keys, an array of package tables, values
that are strings, integers, booleans, datetimes, arrays and small tables). Writing
it ourselves keeps the layout stable and readable: one ``[[packages]]`` table per
package, files as one inline table per line.
"""

from __future__ import annotations

__all__ = ["dumps"]

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def dumps(document: Mapping[str, Any]) -> str:
    """Render ``document``: scalars and arrays of scalars first, then tables, then
    arrays of tables, each array of tables element as ``[[key]]``."""
    lines: list[str] = []
    _table(document, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    subtables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for key, value in table.items():
        if isinstance(value, Mapping) and not _inline_ok(key, path):
            subtables.append((key, value))
        elif _is_table_array(value) and not path:
            arrays.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value, top=True)}")
    for key, items in arrays:
        for item in items:
            lines.append("")
            lines.append(f"[[{'.'.join(_key(k) for k in (*path, key))}]]")
            _table(item, (*path, key), lines)
    for key, sub in subtables:
        if any(not isinstance(v, Mapping) for v in sub.values()) or not sub:
            lines.append("")
            lines.append(f"[{'.'.join(_key(k) for k in (*path, key))}]")
        _table(sub, (*path, key), lines)


def _inline_ok(key: str, path: tuple[str, ...]) -> bool:
    # Small tables inside a package entry (files, hashes) stay inline; `tool`
    # tables get headers of their own.
    return path == ("packages",) and key != "tool"


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
    )


def _key(key: str) -> str:
    if key and all(c in _BARE_KEY_CHARS for c in key):
        return key
    return _string(key)


_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f"\\]')


def _string(text: str) -> str:
    if not _NEEDS_ESCAPE.search(text):
        return '"' + text + '"'
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any, *, top: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime):
        return _datetime(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        items = [_value(v) for v in value]
        if top:
            return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
        return "[" + ", ".join(items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _datetime(value: datetime) -> str:
    if value.tzinfo is None:
        return value.isoformat()
    utc = value.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat() + "Z"

"""Fuzzing every parser that reads outside input: only ``ReqlockError`` may escape.

Each parser gets one Hypothesis strategy that builds its input the way real input
goes wrong: requirements files with options, includes, continuations and
``${VAR}``; a valid ``pylock.toml`` (and valid simple-API pages, METADATA, wheels,
sdists, inventory reports) mutated by dropping keys, changing types, putting bad
versions, markers and specifiers in, and garbling bytes. A case *fails* when an
exception that is not the parser's own error escapes, when one case runs longer than
:data:`TIMEOUT` seconds (a hang), or when an error breaks what the module promises
about its messages (non-empty, one line, names the place, no secrets).

The strategies, the checks and :func:`run_case` are shared with ``fuzz/run.py``,
which runs the same targets for many more cases. Open bugs are listed in
:data:`KNOWN_BUGS`, each with a strict-xfail test showing a minimal input at the end
of this file: the fuzz tests tolerate exactly those, so that they stay green and
still catch anything new. When a bug is fixed its xfail test passes and fails the run
(strict): make it a regression test (``test_fixed_*``, next to the others) and drop
its ``_known(...)`` line.
"""

from __future__ import annotations

import bz2
import contextlib
import difflib
import errno
import gzip
import hashlib
import io
import json
import lzma
import posixpath
import re
import signal
import sys
import tarfile
import threading
import traceback
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, cast

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock
from packaging.utils import canonicalize_name

from reqlock.deploy.inventory import Inventory, _Pending, parse_record
from reqlock.deploy.inventory_script import RECORD_ALGORITHMS
from reqlock.errors import (
    ConfigError,
    IndexFetchError,
    InventoryError,
    LockFileError,
    MetadataError,
    RequirementsError,
    TargetError,
)
from reqlock.index.metadata import (
    find_dist_info_metadata,
    is_static_sdist_metadata,
    parse_metadata,
    sdist_pkg_info,
    wheel_metadata,
)
from reqlock.index.pages import JSON_CONTENT_TYPE, parse_project_page
from reqlock.index.rangezip import BadZip, RangeNotSupported, read_member
from reqlock.lockfile import parse_lock
from reqlock.locking.config import ProjectConfig, parse_config
from reqlock.locking.requirements import RequirementSet, parse_requirements
from reqlock.targets import Target, parse_target

TIMEOUT = 1.0
"""Seconds one case may take before it counts as a hang (fuzz/run.py: --timeout)."""

FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# =========================================================================== harness


class Hang(BaseException):
    """Raised by the alarm inside a case that runs too long (a BaseException, so that
    ``except Exception`` in the code under test does not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the running code after ``seconds`` (POSIX main thread;
    elsewhere no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if seconds <= 0 or not usable:
        yield
        return

    armed = [True]

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        if armed[0]:
            raise Hang(f"still running after {seconds:g} s")

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, Hang):
            previous_hook(unraisable)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = quiet
    # Repeating: an exception raised inside a gc callback or __del__ is swallowed
    # ("Exception ignored in ..."), so the alarm fires again until one gets through.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        # Another alarm may land while a Hang unwinds (freeing what the loop built
        # takes time): retry until disarmed, so no Hang escapes the time limit.
        for _ in range(100):
            try:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                sys.unraisablehook = previous_hook
                break
            except Hang:
                continue


class Broken(Exception):
    """An error of the right class whose message breaks the module's promises, or a
    result that breaks an invariant. ``what`` names the broken promise."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(f"{what}: {detail}" if detail else what)
        self.what = what


@dataclass(frozen=True)
class KnownBug:
    """A failure already reported: ``pattern`` is searched in the failure's
    signature and message; ``test`` is the xfail test that reproduces it."""

    parser: str
    pattern: str
    test: str

    def matches(self, parser: str, text: str) -> bool:
        return parser == self.parser and re.search(self.pattern, text) is not None


@dataclass(frozen=True)
class Failure:
    """What went wrong with one case."""

    parser: str
    kind: str  # "crash", "hang", "memory" (MemoryError) or "broken"
    signature: str  # stable across cases hitting the same bug
    message: str
    known: KnownBug | None

    def describe(self) -> str:
        tag = f" [known: {self.known.test}]" if self.known else ""
        return f"{self.kind}: {self.signature}: {self.message[:300]}{tag}"


def _frame_name(frame: traceback.FrameSummary) -> str:
    path = frame.filename.replace("\\", "/")
    if "/reqlock/" in path:
        module = "reqlock." + path.rsplit("/reqlock/", 1)[1].removesuffix(".py").replace("/", ".")
    else:
        module = Path(path).stem
    return f"{module}.{frame.name}"


def _ours(frames: traceback.StackSummary) -> list[traceback.FrameSummary]:
    return [f for f in frames if "/reqlock/" in f.filename.replace("\\", "/")]


def _origin(exc: BaseException) -> BaseException:
    """The exception itself, or, when it was raised while another one unwound (a
    second alarm during cleanup), the first one that went through reqlock's code."""
    seen = exc
    while not _ours(traceback.extract_tb(seen.__traceback__)) and seen.__context__ is not None:
        seen = seen.__context__
    return seen if _ours(traceback.extract_tb(seen.__traceback__)) else exc


def _signature(parser: str, kind: str, exc: BaseException) -> str:
    frames = traceback.extract_tb(_origin(exc).__traceback__)
    ours = _ours(frames)
    if kind in ("hang", "memory"):
        # A runaway loop is stopped anywhere inside it: name the module, not the line.
        where = sorted({_frame_name(f).rsplit(".", 1)[0] for f in ours[-2:]})
        return f"{kind} in {', '.join(where) or parser}"
    if isinstance(exc, Broken):
        return f"{exc.what} ({parser})"
    place = _frame_name(ours[-1]) if ours else "?"
    inner = _frame_name(frames[-1]) if frames else "?"
    via = f" (raised in {inner})" if ours and frames[-1] is not ours[-1] else ""
    return f"{type(exc).__name__} in {place}{via}"


KNOWN_BUGS: list[KnownBug] = []
"""Filled in below, next to the xfail tests."""


@dataclass(frozen=True)
class FuzzTarget:
    """One parser: how to make its input, run it and judge what it raised."""

    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], None]
    """Runs the parser on a case; checks the result (raising :class:`Broken`)."""
    allowed: tuple[type[BaseException], ...]
    check_error: Callable[[Any, BaseException], None]
    """Judges an allowed error (raising :class:`Broken`)."""
    show: Callable[[Any], str] = repr


def run_case(target: FuzzTarget, case: Any, timeout: float = TIMEOUT) -> Failure | None:
    """Run one case; None when the parser behaved."""
    caught: BaseException | None = None
    try:
        with time_limit(timeout):
            try:
                target.run(case)
            except BaseException as exc:  # judged below, outside the time limit
                caught = exc
    except Hang:
        pass  # the alarm rang after the parser had returned, while disarming
    if caught is None:
        return None
    kind = "crash"
    if isinstance(caught, target.allowed):
        try:
            target.check_error(case, caught)
            return None
        except Broken as exc:
            kind, caught = "broken", exc
    elif isinstance(caught, Hang):
        kind = "hang"
    elif isinstance(caught, Broken):
        kind = "broken"
    elif isinstance(caught, MemoryError):  # a runaway loop that fills memory first
        kind = "memory"
    elif not isinstance(caught, Exception):  # KeyboardInterrupt, SystemExit
        raise caught
    signature = _signature(target.name, kind, caught)
    message = f"{type(caught).__name__}: {caught}"
    if kind in ("hang", "memory"):
        frames = traceback.extract_tb(_origin(caught).__traceback__)[1:]
        message += " in " + " > ".join(_frame_name(f) for f in frames[-4:])
    known = next(
        (bug for bug in KNOWN_BUGS if bug.matches(target.name, f"{signature} | {message}")), None
    )
    return Failure(target.name, kind, signature, message, known)


def assert_behaves(target: FuzzTarget, case: Any) -> None:
    """For the pytest tests: fail on anything but a known bug."""
    failure = run_case(target, case)
    if failure is not None and failure.known is None:
        raise AssertionError(f"{failure.describe()}\ninput: {target.show(case)}")


def _message_ok(error: BaseException, *, one_line: bool = True) -> None:
    message = getattr(error, "message", str(error))
    if not isinstance(message, str) or not message.strip():
        raise Broken("empty message", type(error).__name__)
    if one_line and "\n" in message:
        raise Broken("message spans lines", f"{type(error).__name__}: {message!r}")


# --------------------------------------------------------------------------- mutations

ByteOp = tuple[str, int, int | bytes]
TextOp = tuple[str, int, int | str]
Key = str | int
DocOp = tuple[str, tuple[Key, ...], Any]

_INTERESTING_16 = [0, 1, 2, 7, 8, 9, 12, 14, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, -4, -30]
_INTERESTING_32 = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, -1, -4, -22, -30]
_MAGIC = [
    b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07",
    b"\x1f\x8b\x08", b"BZh9", b"\xfd7zXZ\x00", b"ustar\x0000", b"\x00" * 16, b"\xff" * 8,
    b"[" * 3000,
]  # fmt: skip


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws. (Hypothesis draws the ends of an integer range
    far more often than the middle, so the middle value is the rare one.)"""
    if n <= 2:
        return st.booleans()
    return st.integers(0, n - 1).map(lambda i: i == n // 2)


def byte_ops(
    size: int, hotspots: Sequence[int] = (), max_ops: int = 4, *, zip_aware: bool = False
) -> st.SearchStrategy[Any]:
    """Edits of a byte string of ``size`` bytes, often at the ``hotspots`` (header
    fields). Negative integers written by u16/u32 count from the end of the data.
    ``zip_aware`` adds "tail-local": a local header signature appended at the end, with
    every central directory entry pointing at it."""
    anywhere = st.integers(0, max(size, 1))
    pos = st.sampled_from(sorted(set(hotspots))) | anywhere if hotspots else anywhere
    op = st.one_of(
        st.tuples(st.just("set"), pos, st.integers(0, 255)),
        st.tuples(st.just("flip"), pos, st.integers(0, 7)),
        st.tuples(st.just("u16"), pos, st.sampled_from(_INTERESTING_16)),
        st.tuples(st.just("u32"), pos, st.sampled_from(_INTERESTING_32)),
        st.tuples(
            st.just("insert"), pos, st.binary(min_size=1, max_size=8) | st.sampled_from(_MAGIC)
        ),
        st.tuples(st.just("delete"), pos, st.integers(1, 64)),
        st.tuples(st.just("truncate"), pos, st.just(0)),
        st.tuples(st.just("dup"), pos, st.integers(1, 64)),
    )
    if zip_aware:
        op |= st.tuples(st.just("tail-local"), st.just(0), st.integers(0, 40))
    return st.lists(op, max_size=max_ops).map(tuple)


def apply_byte_ops(data: bytes, ops: Sequence[ByteOp]) -> bytes:
    buf = bytearray(data)
    for kind, pos, arg in ops:
        n = len(buf)
        p = min(pos, n)
        if kind in ("set", "flip") and n:
            p = min(pos, n - 1)
            buf[p] = int(arg) & 0xFF if kind == "set" else buf[p] ^ (1 << (int(arg) % 8))
        elif kind in ("u16", "u32"):
            width = 2 if kind == "u16" else 4
            value = int(arg) if int(arg) >= 0 else n + int(arg)
            if p + width <= n:
                buf[p : p + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
        elif kind == "insert":
            buf[p:p] = bytes(arg) if isinstance(arg, bytes) else b""
        elif kind == "delete":
            del buf[p : p + int(arg)]
        elif kind == "truncate":
            del buf[p:]
        elif kind == "dup":
            buf[p:p] = buf[p : p + int(arg)]
        elif kind == "tail-local":
            entry = buf.find(b"PK\x01\x02")
            while 0 <= entry <= n - 46:
                buf[entry + 42 : entry + 46] = n.to_bytes(4, "little")
                entry = buf.find(b"PK\x01\x02", entry + 1)
            buf += b"PK\x03\x04" + bytes(int(arg))
    return bytes(buf)


_GARBAGE_TEXT = [
    "\x00", "\ufeff", "\x7f", "\U0010ffff", "\ud800", "\r", "\n", "\\", '"', "'''", '"""',
    "=", "[", "]]", "[[packages]]\n", "{", "}", ",", "#", "\\u12", "0x", "inf", "nan",
    "1979-05-27T07:32:00Z", "= [", "\n[tool]\n", "é", "\t", "[" * 300, " = 1\n",
]  # fmt: skip


def text_ops(size: int, max_ops: int = 3) -> st.SearchStrategy[Any]:
    pos = st.integers(0, max(size, 1))
    op = st.one_of(
        st.tuples(st.just("insert"), pos, st.sampled_from(_GARBAGE_TEXT) | st.text(max_size=6)),
        st.tuples(st.just("delete"), pos, st.integers(1, 40)),
        st.tuples(st.just("truncate"), pos, st.just(0)),
        st.tuples(st.just("drop-line"), pos, st.just(0)),
        st.tuples(st.just("dup-line"), pos, st.just(0)),
    )
    return st.lists(op, max_size=max_ops).map(tuple)


def apply_text_ops(text: str, ops: Sequence[TextOp]) -> str:
    for kind, pos, arg in ops:
        p = min(pos, len(text))
        if kind == "insert":
            text = text[:p] + str(arg) + text[p:]
        elif kind == "delete":
            text = text[:p] + text[p + int(arg) :]
        elif kind == "truncate":
            text = text[:p]
        elif kind in ("drop-line", "dup-line"):
            start = text.rfind("\n", 0, p) + 1
            end = text.find("\n", p)
            end = len(text) if end < 0 else end + 1
            line = text[start:end]
            text = text[:start] + (line * 2 if kind == "dup-line" else "") + text[end:]
    return text


def _doc_paths(doc: Any, prefix: tuple[Key, ...] = ()) -> list[tuple[Key, ...]]:
    found: list[tuple[Key, ...]] = []
    items: list[tuple[Key, Any]] = []
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    for key, value in items:
        path = (*prefix, key)
        found.append(path)
        found.extend(_doc_paths(value, path))
    return found


def _act(node: Any, action: str, value: Any) -> Any:
    if action == "set":
        return value
    if action == "wrap":
        return [node]
    if action == "str":
        return str(node)
    if action == "clear":
        return type(node)() if isinstance(node, dict | list | str) else value
    if action == "add":
        key, item = value
        if isinstance(node, dict):
            return {**node, key: item}
        if isinstance(node, list):
            return [*node, item]
    if action == "dup" and isinstance(node, list) and node:
        return [*node, node[0]]
    return node


def apply_doc_op(doc: Any, op: DocOp) -> Any:
    """``doc`` with one edit at a path (copied along the path, never in place)."""
    action, path, value = op
    if not path:
        return doc if action == "drop" else _act(doc, action, value)
    key, rest = path[0], path[1:]
    if isinstance(doc, dict) and key in doc:
        copy = dict(doc)
        if rest:
            copy[key] = apply_doc_op(doc[key], (action, rest, value))
        elif action == "drop":
            del copy[key]
        else:
            copy[key] = _act(doc[key], action, value)
        return copy
    if isinstance(doc, list) and isinstance(key, int) and 0 <= key < len(doc):
        items = list(doc)
        if rest:
            items[key] = apply_doc_op(doc[key], (action, rest, value))
        elif action == "drop":
            del items[key]
        else:
            items[key] = _act(doc[key], action, value)
        return items
    return doc


def doc_ops(
    draw: st.DrawFn, seed: Any, values: st.SearchStrategy[Any], keys: Sequence[str], max_ops: int
) -> tuple[tuple[DocOp, ...], Any]:
    """Draw up to ``max_ops`` structural edits of ``seed``; return them and the result."""
    doc = seed
    ops: list[DocOp] = []
    for _ in range(draw(st.integers(0, max_ops))):
        paths = _doc_paths(doc)
        path: tuple[Key, ...] = draw(st.sampled_from(paths)) if paths else ()
        action = draw(st.sampled_from(["set", "set", "set", "drop", "drop", "wrap", "str",
                                       "clear", "add", "dup"]))  # fmt: skip
        value: Any = None
        if action in ("set", "clear"):
            value = draw(values)
        elif action == "add":
            value = (draw(st.sampled_from(keys)), draw(values))
        op: DocOp = (action, path, value)
        ops.append(op)
        doc = apply_doc_op(doc, op)
    return tuple(ops), doc


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...<{len(text)} chars>"


def _diff(before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), lineterm="", n=0, fromfile="seed", tofile="case"
    )
    shown = [line if len(line) <= 200 else f"{line[:180]}...<{len(line)} chars>" for line in lines]
    return "\n".join(shown[2:])


_LONG_DIGITS = "1" * 5000  # more digits than int() converts (sys.get_int_max_str_digits)
DEEP = "\x00deep\x00"
"""A JSON value that :func:`json_bytes` writes as arrays nested 3000 deep."""


def json_bytes(doc: Any, *, ensure_ascii: bool = True) -> bytes:
    """``doc`` as JSON, with every :data:`DEEP` string turned into deep nesting."""
    body = json.dumps(doc, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    return body.replace(json.dumps(DEEP).encode(), b"[" * 3000 + b"]" * 3000)


# =========================================================================== 1. requirements

SECRET = "s3cretTOKENvalue"
_ENVIRON = {
    "TOKEN": SECRET,
    "HOST": "pypi.example",
    "FILEVAR": "cons.txt",
    "VER": "1.0",
    "EMPTY": "",
}
_FILE_NAMES = ("requirements.txt", "sub/inner.txt", "cons.txt", "base.txt")
_REFERENCES = [
    "requirements.txt", "sub/inner.txt", "inner.txt", "cons.txt", "../cons.txt", "./base.txt",
    "sub/../base.txt", "base.txt", "missing.txt", "bin.txt", "dir", "chain/0.txt",
    "https://h.example/r.txt", "${FILEVAR}", "${UNSET}.txt", "../../outside.txt", "'cons.txt'",
    "cons.txt extra", "sub",
]  # fmt: skip
_NAMES = [
    "demo", "Demo_Pkg", "a", "a.b-c", "zope.interface", "ünï", "x" * 80, "pkg.whl",
    "1abc", "-bad", "name!", "demo.tar.gz",
]  # fmt: skip
_EXTRAS = ["", "[x]", "[x,y]", "[ x ]", "[", "[]", "[x-y.z_1]", "[${VER}]"]
_SPECS = [
    "", "==1.0", ">=1,<2", "~=1.4.2", "===weird", "==1.*", "!=2.0.*", ">=${VER}",
    "==" + "9" * 30, "<=", "=>1", ">= 1.0 , < 3", "==1.0.*.1", "~=1", "==" + _LONG_DIGITS,
    " (>=1.0)",
]  # fmt: skip
_MARKERS = [
    "", "; python_version >= '3.8'", ";sys_platform=='linux'", "; extra == 'x'",
    "; (os_name == 'nt'", "; foo == 'bar'", "; python_version >= '3' and",
    " ; " + "(" * 250 + "os_name == 'nt'" + ")" * 250, "; python_full_version == '3.12.*'",
    "; platform_release >= '" + _LONG_DIGITS + "'",
]  # fmt: skip
_URLS = [
    "https://files.example/demo-1.0-py3-none-any.whl",
    "https://user:${TOKEN}@h.example/demo.whl",
    "https://u:literalpw@h.example/x.whl#sha256=" + "a" * 64,
    "file:///abs/demo.tar.gz", "./local/demo.whl", "git+https://git.example/r.git@v1#egg=demo",
    "http://[x/demo.whl", "C:\\x\\demo.whl", "relative", "", "https://${EMPTY}/x",
]  # fmt: skip
_HASH_OPTIONS = [
    "--hash=sha256:" + "a" * 64, "--hash sha256:" + "B" * 64, "--hash=sha512:" + "c" * 128,
    "--hash=md5:00", "--hash=sha256:zz", "--hash", "--hash=sha384:" + "d" * 96,
    "--hash=SHA256:" + "e" * 64, "--pre", "--index-url=x", "-e .",
]  # fmt: skip
_OPTIONS = [
    "-i https://pypi.example/simple", "--index-url=https://u:${TOKEN}@pypi.example/simple",
    "--extra-index-url https://x.example", "-i", "--pre", "--pre=1", "--require-hashes",
    "--only-binary :all:", "--only-binary=:none:", "--no-binary demo,other",
    "--no-binary=:all:,:none:,x", "--only-binary 'bad name'", "--no-binary ,", "-e .",
    "--editable=git+https://x", "-f https://x", "--no-index", "--trusted-host h",
    "--prefer-binary", "-C k=v", "--use-feature=x", "--global-option=x", "--xyz", "--pr",
    "--requir x.txt", "-x", "-", "--", "--hash=sha256:" + "a" * 64, "--index-url 'quoted url'",
    '--index-url "unterminated', "-i ${UNSET}", "-i ${lower}", "-i ${", "-i ${HOST}",
    "-i=https://x", "--pre --require-hashes", "--pre foo", "-ihttps://x.example",
    "--no-binary :all: --only-binary :none:",
]  # fmt: skip
_INCLUDE_FLAGS = ["-r ", "-c ", "-r", "-c", "--requirement ", "--requirement=", "--constraint=",
                  "-c=", "-r  ", "--constraint "]  # fmt: skip
_SEPARATORS = ["\n"] * 6 + ["\r\n", "\r", " \\\n", "\\\n", "\x0c\n", "\n\n", "\u2028"]


@st.composite
def requirement_line(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_NAMES))
    extras = draw(st.sampled_from(_EXTRAS))
    if draw(one_in(5)):
        line = f"{name}{extras} @ {draw(st.sampled_from(_URLS))}"
        if draw(st.booleans()):
            line += " " + draw(st.sampled_from(_MARKERS))
    else:
        line = name + extras + draw(st.sampled_from(_SPECS)) + draw(st.sampled_from(_MARKERS))
    for option in draw(st.lists(st.sampled_from(_HASH_OPTIONS), max_size=2)):
        line += draw(st.sampled_from([" ", " \\\n  ", "  "])) + option
    return line


_line = st.one_of(
    requirement_line(),
    requirement_line(),
    st.builds(
        lambda flag, ref: flag + ref, st.sampled_from(_INCLUDE_FLAGS), st.sampled_from(_REFERENCES)
    ),
    st.sampled_from(_OPTIONS),
    st.sampled_from(["# comment", "#", "  # comment \\", "", "   ", "\t", "foo # trailing \\"]),
    st.text(max_size=12),
)


@st.composite
def requirements_file(draw: st.DrawFn) -> str:
    parts = []
    for line in draw(st.lists(_line, max_size=6)):
        comment = "  # note" if draw(one_in(6)) else ""
        parts.append(line + comment + draw(st.sampled_from(_SEPARATORS)))
    text = "".join(parts)
    if draw(one_in(10)):
        text = "\ufeff" + text
    if draw(one_in(10)):
        text += "\\"
    return text


@dataclass(frozen=True)
class RequirementsCase:
    files: tuple[tuple[str, str], ...]
    """``(name, text)``; the first is parsed, the others are reached by ``-r``/``-c``."""
    environ: bool


requirements_cases = st.builds(
    RequirementsCase,
    files=st.lists(requirements_file(), min_size=1, max_size=len(_FILE_NAMES)).map(
        lambda texts: tuple(zip(_FILE_NAMES, texts, strict=False))
    ),
    environ=st.booleans(),
)


def _requirements_loader(files: Mapping[str, str]) -> Callable[[str, str], tuple[str, str]]:
    def load(including: str, reference: str) -> tuple[str, str]:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(including), reference))
        if path == "bin.txt":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        if path in ("dir", "sub"):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if path.startswith("chain/"):  # an endless chain of includes
            number = int(path.removeprefix("chain/").removesuffix(".txt") or 0)
            return path, f"demo{number}\n-r {number + 1}.txt\n"
        if path not in files:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return path, files[path]

    return load


def _run_requirements(case: RequirementsCase) -> None:
    files = dict(case.files)
    result = parse_requirements(
        case.files[0][1],
        filename=case.files[0][0],
        loader=_requirements_loader(files),
        environ=_ENVIRON if case.environ else None,
    )
    if not isinstance(result, RequirementSet) or result.sources[0][0] != case.files[0][0]:
        raise Broken("result: not a RequirementSet of the parsed file")
    for line in (*result.requirements, *result.constraints):
        if line.origin.line < 1 or "\n" in line.origin.text:
            raise Broken("result: bad origin", repr(line.origin))


def _check_requirements_error(case: RequirementsCase, error: BaseException) -> None:
    assert isinstance(error, RequirementsError)
    _message_ok(error)
    files = dict(case.files)
    if error.file not in files and not error.file.startswith("chain/"):
        raise Broken("error: names a file that was not read", error.file)
    if not str(error).startswith(f"{error.file}:"):
        raise Broken("error: does not start with the file name")
    lines = len(files.get(error.file, "x\nx\nx").splitlines()) or 1
    if error.line is not None and not 1 <= error.line <= lines:
        raise Broken("error: line outside the file", f"{error.line} of {lines}")
    if SECRET in str(error):
        raise Broken("error: shows the value of an environment variable")


REQUIREMENTS = FuzzTarget(
    name="requirements",
    strategy=requirements_cases,
    run=_run_requirements,
    allowed=(RequirementsError,),
    check_error=_check_requirements_error,
)

# =========================================================================== 2. pylock

_UPLOADED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
_H = "ab" * 32
LOCK_SEED: dict[str, Any] = {
    "lock-version": "1.0",
    "environments": [
        "sys_platform == 'linux' and platform_machine == 'x86_64'",
        "sys_platform == 'darwin'",
    ],
    "requires-python": ">=3.10",
    "extras": ["test"],
    "dependency-groups": ["dev"],
    "default-groups": ["dev"],
    "created-by": "reqlock",
    "packages": [
        {
            "name": "alpha",
            "version": "1.0",
            "marker": "python_version >= '3.10'",
            "requires-python": ">=3.8",
            "index": "https://pypi.example/simple/",
            "dependencies": [{"name": "beta"}, {"name": "gamma", "version": "2.0rc1"}],
            "wheels": [
                {
                    "name": "alpha-1.0-py3-none-any.whl",
                    "url": "https://files.example/alpha-1.0-py3-none-any.whl",
                    "upload-time": _UPLOADED,
                    "size": 1234,
                    "hashes": {"sha256": _H},
                },
                {
                    "name": "alpha-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                    "url": "https://files.example/alpha-1.0-cp312-manylinux.whl",
                    "size": 99,
                    "hashes": {"sha256": _H, "sha512": "cd" * 64},
                },
            ],
            "sdist": {
                "name": "alpha-1.0.tar.gz",
                "url": "https://files.example/alpha-1.0.tar.gz",
                "upload-time": _UPLOADED,
                "size": 500,
                "hashes": {"sha256": _H},
            },
        },
        {
            "name": "beta",
            "version": "2.0rc1",
            "marker": "sys_platform == 'linux' and extra == 'test'",
            "sdist": {"path": "dist/beta-2.0rc1.tar.gz", "hashes": {"sha256": _H}},
        },
        {
            "name": "gamma",
            "version": "2.0rc1",
            "archive": {
                "url": "https://files.example/gamma.zip",
                "size": 10,
                "hashes": {"sha256": _H},
                "subdirectory": "pkg",
            },
        },
        {
            "name": "delta",
            "vcs": {
                "type": "git",
                "url": "https://git.example/delta.git",
                "requested-revision": "main",
                "commit-id": "0" * 40,
            },
        },
        {"name": "eps", "directory": {"path": "./local/eps", "editable": True}},
    ],
    "tool": {"reqlock": {"inputs": "sha256:" + _H, "targets": ["linux-x86_64-py3.12"]}},
}
LOCK_SEED_TEXT = tomli_w.dumps(LOCK_SEED)

_LOCK_VALUES = st.one_of(
    st.sampled_from(
        [
            "1.0",
            "1.1",
            "2.0",
            "1",
            "0.9",
            "1.0a1",
            "",
            " 1.0",
            "v1",
            _LONG_DIGITS,
            "1." + _LONG_DIGITS,
            "not a version",
            "1.0.0.0.0.dev1+local",
            "1!2",
            "reqlock",
            "sys_platform == 'linux'",
            "python_version >",
            "extra == 'x'",
            "foo == 'bar'",
            "(" * 300 + "os_name == 'nt'" + ")" * 300,
            "python_version >= '" + _LONG_DIGITS + "'",
            ">=3.8",
            ">=",
            "~=1",
            "==1.*.1",
            "=>3",
            ">=" + _LONG_DIGITS,
            "http://[x",
            "file:///x",
            "relative/path",
            "https://u:p@h.example/x.whl",
            "x.whl",
            "a-1.0-py3-none-any.whl",
            "alpha-1-" + "x" * 50 + ".whl",
            "alpha-1.0.tar.gz",
            "alpha-" + _LONG_DIGITS + "-py3-none-any.whl",
            "Alpha_",
            "-bad-",
            "a" * 300,
            "git",
            "hg",
            "0" * 40,
            "sha256",
            "",
        ]
    ),
    st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63), True, False, 1.5, _UPLOADED]),
    st.sampled_from(
        [
            [],
            {},
            [""],
            [1],
            [{}],
            {"sha256": ""},
            {"md5": "x"},
            {"sha256": 1},
            {"name": "x"},
            [{"name": "beta"}],
            {"sha256": _LONG_DIGITS},
        ]
    ),
    st.text(max_size=8),
)
_LOCK_KEYS = [
    "name", "version", "marker", "requires-python", "wheels", "sdist", "vcs", "directory",
    "archive", "hashes", "url", "path", "size", "upload-time", "index", "dependencies",
    "attestation-identities", "tool", "lock-version", "environments", "extras",
    "dependency-groups", "default-groups", "packages", "created-by", "commit-id", "type",
    "requested-revision", "subdirectory", "editable", "unknown-key",
]  # fmt: skip


@dataclass(frozen=True)
class LockCase:
    doc_ops: tuple[DocOp, ...]
    text_ops: tuple[TextOp, ...]
    text: str

    def __repr__(self) -> str:
        return f"LockCase(doc_ops={_short(self.doc_ops, 2000)}, text_ops={self.text_ops!r})"


@st.composite
def lock_cases(draw: st.DrawFn) -> LockCase:
    ops, doc = doc_ops(draw, LOCK_SEED, _LOCK_VALUES, _LOCK_KEYS, max_ops=4)
    text = tomli_w.dumps(doc)
    edits = draw(text_ops(len(text)))
    return LockCase(ops, edits, apply_text_ops(text, edits))


def _run_lock(case: LockCase) -> None:
    if not isinstance(parse_lock(case.text, path="pylock.fuzz.toml"), Pylock):
        raise Broken("result: not a Pylock")


def _check_lock_error(case: LockCase, error: BaseException) -> None:
    assert isinstance(error, LockFileError)
    _message_ok(error)
    if error.path != "pylock.fuzz.toml" or not str(error).startswith("pylock.fuzz.toml"):
        raise Broken("error: does not name the lock file")


LOCK = FuzzTarget(
    name="lock",
    strategy=lock_cases(),
    run=_run_lock,
    allowed=(LockFileError,),
    check_error=_check_lock_error,
    show=lambda case: f"{case!r}\n{_diff(LOCK_SEED_TEXT, case.text)}",
)

# =========================================================================== 3. simple API

DEMO = canonicalize_name("demo")
PAGE_PASSWORD = "pw5ecret"
_PAGE_URLS = [
    "https://pypi.example/simple/demo/",
    f"https://user:{PAGE_PASSWORD}@pypi.example/simple/demo/",
    "http://[::1]:8080/simple/demo/",
    "https://pypi.example/simple/demo",
]
_FILENAMES = [
    "demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl", "demo-1.0.0-cp312-cp312-win_amd64.whl",
    "Demo-2.0rc1.zip", "demo-1!2.0.tar.bz2", "demo-1.0+local.tgz", "demo-v1.tar",
    "demo-not_a_version.tar.gz", "demo-.tar.gz", "demo-" + _LONG_DIGITS + ".tar.gz",
    "demo-1.0-1-py3-none-any.whl", "demo-1.0-py3-none-any.whl.metadata", "demo-1.0.egg",
    "demo-1.0.exe", "other-1.0.tar.gz", "demo-extra-2.0.tar.gz", "demo_extra-2.0-py3-none-any.whl",
    "demo-1.0-py3-none-a/ny.whl", "demo-1.0-py3.whl", "", "demo", "-1.0.tar.gz",
]  # fmt: skip
_HREFS = [
    "https://files.example/demo-1.0.tar.gz#sha256=" + _H, "../../files/demo-1.0-py3-none-any.whl",
    "/files/demo-1.0.zip#md5=00", "demo-1.0.tar.gz#sha256=", "demo-2.0.tar.gz#SHA512=AB",
    "http://[x/demo-1.0.tar.gz", "https://[::1/demo-1.0.tar.gz", "//[x/demo-1.0.tar.gz",
    "demo-1.0%2F..%2Fx.tar.gz", "demo-1.0-py3-none-a%2F..%2Fny.whl", "%ff%fe.tar.gz",
    "demo-1.0.tar.gz?x=1", "https://u:p@files.example/demo-3.0.tar.gz", "", "#", "?",
    "javascript:alert(1)", "data:,demo-1.0.tar.gz", "demo-" + _LONG_DIGITS + ".tar.gz",
    "https://files.example:99999/demo-1.0.tar.gz", "https://files.example:port/demo-1.0.tar.gz",
]  # fmt: skip
_JSON_VALUES = st.one_of(
    st.just(DEEP),
    st.sampled_from(_FILENAMES),
    st.sampled_from(_HREFS),
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            2**64,
            1.5,
            "",
            "1.0",
            "2.0",
            "1.1",
            ">=3.8",
            ">=",
            "2026-01-02T03:04:05Z",
            "yes",
            [],
            {},
            [1],
            {"sha256": 1},
            {"sha256": _H},
            {"SHA256": "AB"},
            {"md5": "x"},
        ]
    ),
    st.text(max_size=8),
)
_JSON_KEYS = [
    "filename", "url", "hashes", "requires-python", "yanked", "size", "upload-time",
    "core-metadata", "dist-info-metadata", "data-dist-info-metadata", "gpg-sig", "meta",
    "files", "versions", "name", "api-version", "sha256", "_last-serial",
]  # fmt: skip


def _json_file(filename: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"filename": filename, "url": url, "hashes": {"sha256": _H}, **extra}


PAGE_SEED: dict[str, Any] = {
    "meta": {"api-version": "1.1", "_last-serial": 1},
    "name": "demo",
    "versions": ["1.0", "2.0rc1"],
    "files": [
        _json_file("demo-1.0.tar.gz", "https://files.example/demo-1.0.tar.gz", size=10,
                   **{"upload-time": "2026-01-02T03:04:05.000000Z", "requires-python": ">=3.8"}),
        _json_file("demo-1.0-py3-none-any.whl", "../../files/demo-1.0-py3-none-any.whl",
                   yanked="broken", **{"core-metadata": {"sha256": _H}}),
        _json_file("demo-1.0.0-cp312-cp312-win_amd64.whl", "/files/w.whl",
                   **{"dist-info-metadata": True}),
        _json_file("Demo-2.0rc1.zip", "https://files.example/Demo-2.0rc1.zip", yanked=True),
        _json_file("other-1.0.tar.gz", "https://files.example/other-1.0.tar.gz"),
    ],
}  # fmt: skip


@dataclass(frozen=True)
class PageCase:
    content_type: str
    page_url: str
    body: bytes
    how: str
    """How the body was made (structural edits or anchors, then byte edits)."""

    def __repr__(self) -> str:
        return (
            f"PageCase(content_type={self.content_type!r}, page_url={self.page_url!r}, "
            f"how={self.how}, body={_short(self.body, 1500)})"
        )


# Per-field values for a file entry: what indexes get wrong.
_FILE_FIELD_EDITS: dict[str, list[Any]] = {
    "filename": _FILENAMES,
    "url": _HREFS,
    "hashes": [{}, {"sha256": ""}, {"SHA256": "AB"}, {"md5": "x"}, {"sha256": 1}, [], "x"],
    "yanked": [True, False, "", "reason", 1, None, {}],
    "size": [0, -1, 2**64, "10", 1.5, True, None],
    "requires-python": [">=3.8", "", ">=", ">=" + _LONG_DIGITS, 3.8, None],
    "core-metadata": [True, False, {"sha256": _H}, {"sha256": 1}, {}, "true", 0, None],
    "upload-time": ["2026-01-02T03:04:05Z", "yesterday", "", 0, None],
}


@st.composite
def json_pages(draw: st.DrawFn) -> PageCase:
    ops, doc = doc_ops(draw, PAGE_SEED, _JSON_VALUES, _JSON_KEYS, max_ops=3)
    for _ in range(draw(st.integers(0, 2))):  # then edit fields of file entries
        field = draw(st.sampled_from(sorted(_FILE_FIELD_EDITS)))
        value = draw(st.sampled_from(_FILE_FIELD_EDITS[field]))
        op: DocOp = ("add", ("files", draw(st.integers(0, 4))), (field, value))
        ops += (op,)
        doc = apply_doc_op(doc, op)
    body = json_bytes(doc, ensure_ascii=draw(st.booleans()))
    edits = draw(byte_ops(len(body), max_ops=2))
    content_type = draw(st.sampled_from([JSON_CONTENT_TYPE, JSON_CONTENT_TYPE + "; charset=utf-8",
                                         "APPLICATION/VND.PYPI.SIMPLE.V1+JSON"]))  # fmt: skip
    return PageCase(
        content_type=content_type,
        page_url=draw(st.sampled_from(_PAGE_URLS)),
        body=apply_byte_ops(body, edits),
        how=f"doc_ops={_short(ops, 1000)}, byte_ops={_short(edits, 300)}",
    )


_ATTRIBUTES = st.dictionaries(
    st.sampled_from(
        [
            "data-requires-python",
            "data-yanked",
            "data-core-metadata",
            "data-dist-info-metadata",
            "data-gpg-sig",
            "class",
            "HREF",
        ]
    ),
    st.sampled_from(
        [
            "",
            "&gt;=3.8",
            ">=3.8",
            "true",
            "false",
            "sha256=" + _H,
            "sha256=",
            "md5=x",
            "=",
            "reason",
            "&#0;",
            "&#xFFFFFFFF;",
            "&amp",
            '"',
            None,
        ]
    ),
    max_size=3,
)
_JUNK_HTML = [
    "", "<html><body>", "<h1>Links for demo</h1>", "<br/>", "<!-- c", "<!--x-->", "<![CDATA[",
    "<!DOCTYPE html>", "</a>", "<a>", "<a href>", "<a href='x'", "<script>", "<?pi", "</",
    "&#", "&#x;", "<meta charset='latin-1'>", "\x00", "\ud800", "<a href=\"demo-1.0.tar.gz\">",
]  # fmt: skip


@st.composite
def html_pages(draw: st.DrawFn) -> PageCase:
    parts = []
    if draw(one_in(5)):
        parts.append(f'<base href="{draw(st.sampled_from(_HREFS))}">')
    for _ in range(draw(st.integers(0, 6))):
        attrs = draw(_ATTRIBUTES)
        rendered = "".join(f" {k}" if v is None else f' {k}="{v}"' for k, v in attrs.items())
        href = draw(st.sampled_from(_HREFS) | st.sampled_from(_FILENAMES))
        label = draw(st.sampled_from(_FILENAMES) | st.text(max_size=5))
        quote = draw(st.sampled_from(['"', "'", ""]))
        parts.append(f"<a href={quote}{href}{quote}{rendered}>{label}</a><br/>")
        parts.append(draw(st.sampled_from(_JUNK_HTML)))
    text = "\n".join(parts)
    body = text.encode("utf-8", "surrogatepass")
    edits = draw(byte_ops(len(body), max_ops=2))
    content_type = draw(st.sampled_from(["text/html", "text/html; charset=utf-8", "",
                                         "application/vnd.pypi.simple.v1+html", "text/plain",
                                         "application/json", ";"]))  # fmt: skip
    return PageCase(
        content_type=content_type,
        page_url=draw(st.sampled_from(_PAGE_URLS)),
        body=apply_byte_ops(body, edits),
        how=f"html, byte_ops={_short(edits, 300)}",
    )


def _run_page(case: PageCase) -> None:
    page = parse_project_page(
        case.body, content_type=case.content_type, page_url=case.page_url, name=DEMO, index="i"
    )
    for version in page.versions():
        wheels = page.files(version, lambda filename: filename.endswith(".whl"))
        files = page.files(version)
        for dist in (*wheels, *files):
            if not isinstance(dist.filename, str) or not isinstance(dist.url, str):
                raise Broken("result: bad DistFile", repr(dist))
            if not all(isinstance(v, str) for v in dist.hashes.values()):
                raise Broken("result: bad hashes", repr(dist.hashes))
            _ = (dist.public_url, dist.sha256, dist.is_wheel)
    page.releases()


def _check_page_error(case: PageCase, error: BaseException) -> None:
    assert isinstance(error, IndexFetchError)
    _message_ok(error)
    if PAGE_PASSWORD in str(error) or PAGE_PASSWORD in error.url:
        raise Broken("error: shows the index password")
    if not error.url:
        raise Broken("error: names no URL")


SIMPLE = FuzzTarget(
    name="simple",
    strategy=json_pages() | html_pages(),
    run=_run_page,
    allowed=(IndexFetchError,),
    check_error=_check_page_error,
)

# =========================================================================== 4. metadata

METADATA_SEED = (
    b"Metadata-Version: 2.3\n"
    b"Name: demo\n"
    b"Version: 1.0\n"
    b"Summary: A demo\n"
    b"Requires-Python: >=3.8\n"
    b"Requires-Dist: alpha>=1.0\n"
    b'Requires-Dist: beta[x]; python_version < "3.11"\n'
    b"Provides-Extra: test\n"
    b'Requires-Dist: pytest; extra == "test"\n'
    b"Dynamic: license\n"
    b"Description-Content-Type: text/markdown\n"
    b"\n"
    b"Body text.\n"
)
_HEADERS = [
    b"Metadata-Version", b"Name", b"Version", b"Requires-Python", b"Requires-Dist",
    b"Provides-Extra", b"Dynamic", b"Summary", b"X-Unknown", b"name", b"VERSION",
]  # fmt: skip
_HEADER_VALUES = [
    b"", b"demo", b"Demo", b"other", b"1.0", b"1.0.0", b"2.0", b"not a version",
    _LONG_DIGITS.encode(), b"2.2", b"2.1", b"2." + _LONG_DIGITS.encode(), b"x", b">=3.8", b">=",
    b"alpha>=", b"alpha; foo == 'x'", b"alpha ; " + b"(" * 300 + b"os_name == 'nt'" + b")" * 300,
    b"alpha==" + _LONG_DIGITS.encode(), b"requires-dist", b"Requires-Python", b"=?utf-8?q?x?=",
    b"=?bogus?b?!!!?=", "caf\u00e9".encode(), b"\xff\xfe", b"a\r\n continued", b"\x00",
    b"alpha @ http://[x", b"a" * 2000,
]  # fmt: skip


@st.composite
def metadata_texts(draw: st.DrawFn) -> tuple[bytes, str]:
    lines = METADATA_SEED.split(b"\n")
    ops: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        index = draw(st.integers(0, len(lines)))
        action = draw(st.sampled_from(["set", "add", "drop", "dup"]))
        value = draw(st.sampled_from(_HEADER_VALUES))
        if action == "add":
            lines.insert(index, draw(st.sampled_from(_HEADERS)) + b": " + value)
        elif index < len(lines) and action == "set":
            lines[index] = lines[index].split(b":", 1)[0] + b": " + value
        elif index < len(lines) and action == "drop":
            del lines[index]
        elif index < len(lines):
            lines.insert(index, lines[index])
        ops.append(f"{action}@{index}:{_short(value, 40)}")
    separator = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    data = separator.join(lines)
    edits = draw(byte_ops(len(data), max_ops=2))
    return apply_byte_ops(data, edits), f"lines={ops}, byte_ops={_short(edits, 200)}"


def _zip(members: Sequence[tuple[str, bytes]], compression: int, *, zip64: bool = False) -> bytes:
    buf = io.BytesIO()
    limit = zipfile.ZIP64_LIMIT
    if zip64:  # every size and offset goes to the zip64 records
        setattr(zipfile, "ZIP64_LIMIT", 0)  # noqa: B010 - it is Final to type checkers
    try:
        with zipfile.ZipFile(buf, "w", compression=compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    finally:
        setattr(zipfile, "ZIP64_LIMIT", limit)  # noqa: B010
    return buf.getvalue()


def _zip_hotspots(data: bytes) -> list[int]:
    """Offsets of the header fields a zip reader trusts."""
    spots: list[int] = []
    for signature, fields in (
        (b"PK\x03\x04", (0, 6, 8, 14, 18, 22, 26, 28, 30)),
        (b"PK\x01\x02", (0, 8, 10, 16, 20, 24, 28, 30, 32, 42, 46)),
        (b"PK\x05\x06", (0, 8, 10, 12, 16, 20)),
        (b"PK\x06\x06", (0, 24, 32, 40, 48)),
        (b"PK\x06\x07", (0, 8)),
    ):
        start = data.find(signature)
        while start >= 0:
            spots.extend(start + offset for offset in fields)
            start = data.find(signature, start + 1)
    return spots


_MEMBERS = [
    ("demo/__init__.py", b"x = 1\n" * 20),
    ("demo-1.0.dist-info/METADATA", METADATA_SEED),
    ("demo-1.0.dist-info/RECORD", b"demo/__init__.py,,\n"),
]
# A member bigger than reqlock's first range request (64 kB): later reads need more ranges.
_BIG = bytes((i * 7919 + i // 251) % 256 for i in range(90_000))
ZIP_SEEDS: dict[str, bytes] = {
    "deflated": _zip(_MEMBERS, zipfile.ZIP_DEFLATED),
    "stored": _zip(_MEMBERS, zipfile.ZIP_STORED),
    "zip64": _zip(_MEMBERS, zipfile.ZIP_DEFLATED, zip64=True),
    "big": _zip([("demo/big.bin", _BIG), *_MEMBERS], zipfile.ZIP_STORED),
    "bzip2": _zip(_MEMBERS, zipfile.ZIP_BZIP2),
    "lzma": _zip(_MEMBERS, zipfile.ZIP_LZMA),
}
ZIP_HOTSPOTS = {name: _zip_hotspots(data) for name, data in ZIP_SEEDS.items()}


def _tar(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("demo-1.0/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "PKG-INFO"
        tf.addfile(link)
    return buf.getvalue()


_SDIST_MEMBERS = [
    ("demo-1.0/setup.py", b"from setuptools import setup\nsetup()\n"),
    ("demo-1.0/PKG-INFO", METADATA_SEED),
    ("demo-1.0/demo/PKG-INFO", b"Name: nested\n"),
]
TAR_SEED = _tar(_SDIST_MEMBERS)
TAR_HOTSPOTS = [
    block + offset
    for block in range(0, len(TAR_SEED), 512)
    if TAR_SEED[block + 257 : block + 262] == b"ustar"
    for offset in (0, 100, 124, 130, 135, 148, 156, 157, 257, 345)
]
_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".tar.gz": lambda data: gzip.compress(data, mtime=0),
    ".tar.bz2": bz2.compress,
    ".tar.xz": lzma.compress,
    ".tar": lambda data: data,
}


def _fix_tar_checksums(data: bytes) -> bytes:
    """Recompute the checksum of every ustar header, so edits get past it."""
    buf = bytearray(data)
    for block in range(0, len(buf) - 511, 512):
        if buf[block + 257 : block + 262] == b"ustar":
            buf[block + 148 : block + 156] = b" " * 8
            checksum = sum(buf[block : block + 512])
            buf[block + 148 : block + 156] = f"{checksum:06o}\x00 ".encode()
    return bytes(buf)


@dataclass(frozen=True)
class MetadataCase:
    kind: str  # "metadata", "wheel", "sdist-zip" or a tar suffix
    seed: str
    data: bytes
    how: str

    def __repr__(self) -> str:
        body = _short(self.data, 3000) if self.kind == "metadata" else f"<{len(self.data)} bytes>"
        return f"MetadataCase(kind={self.kind!r}, seed={self.seed!r}, how={self.how}, data={body})"


@st.composite
def metadata_cases(draw: st.DrawFn) -> MetadataCase:
    kind = draw(st.sampled_from(["metadata", "metadata", "wheel", "wheel", "sdist-zip",
                                 ".tar.gz", ".tar", ".tar.bz2", ".tar.xz"]))  # fmt: skip
    if kind == "metadata":
        data, how = draw(metadata_texts())
        return MetadataCase(kind, "METADATA", data, how)
    if kind in ("wheel", "sdist-zip"):
        seed = draw(st.sampled_from(sorted(ZIP_SEEDS)))
        base = ZIP_SEEDS[seed]
        if kind == "sdist-zip":
            base = base.replace(b"demo-1.0.dist-info/METADATA", b"demo-1.0.dist-info/PKG-INFO")
        edits = draw(byte_ops(len(base), ZIP_HOTSPOTS[seed], zip_aware=True))
        return MetadataCase(kind, seed, apply_byte_ops(base, edits), f"byte_ops={edits!r}")
    tar_edits = draw(byte_ops(len(TAR_SEED), TAR_HOTSPOTS, max_ops=3))
    fix = draw(st.booleans())
    tar = apply_byte_ops(TAR_SEED, tar_edits)
    packed = _COMPRESSORS[kind](_fix_tar_checksums(tar) if fix else tar)
    outer = draw(byte_ops(len(packed), max_ops=1)) if kind != ".tar" and draw(one_in(4)) else ()
    how = f"tar_ops={tar_edits!r}, fix_checksums={fix}, compressed_ops={outer!r}"
    return MetadataCase(kind, "tar", apply_byte_ops(packed, outer), how)


def _run_metadata(case: MetadataCase) -> None:
    if case.kind == "metadata":
        data: bytes | None = case.data
    elif case.kind == "wheel":
        data = wheel_metadata(
            case.data, filename="demo-1.0-py3-none-any.whl", package="demo", version="1.0"
        )
        if case.data == ZIP_SEEDS[case.seed] and data != METADATA_SEED:
            raise Broken("result: METADATA of an intact wheel differs")
    else:
        suffix = ".zip" if case.kind == "sdist-zip" else case.kind
        data = sdist_pkg_info(
            case.data, filename=f"demo-1.0{suffix}", package="demo", version="1.0"
        )
    if data is None:
        return
    if not isinstance(is_static_sdist_metadata(data), bool):
        raise Broken("result: is_static_sdist_metadata did not answer a bool")
    parse_metadata(data, package="demo", version="1.0")


def _check_metadata_error(case: MetadataCase, error: BaseException) -> None:
    assert isinstance(error, MetadataError)
    # Messages quote packaging's errors, whose caret diagrams take several lines.
    _message_ok(error, one_line=False)
    if error.package != "demo":
        raise Broken("error: names another package")


METADATA = FuzzTarget(
    name="metadata",
    strategy=metadata_cases(),
    run=_run_metadata,
    allowed=(MetadataError,),
    check_error=_check_metadata_error,
)

# =========================================================================== 5. RECORD

_RECORD_PATHS = [
    "demo/__init__.py", "demo-1.0.dist-info/RECORD", "", "a\x00b", '"quoted, path"', '"a""b"',
    '"unterminated', "é.py", "../../etc/passwd", "/abs/path", "x" * 300, " ", "a\rb",
]  # fmt: skip
_RECORD_HASHES = [
    "", "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", "sha512=" + "A" * 86,
    "sha256=", "sha256", "=x", "md5=abc", "sha256=+/+/", "sha256=" + "A" * 43 + "==",
    "sha256=é", "sha384=" + "B" * 64, "SHA256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
    "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuF", "sha256=A", "blake2b=" + "C" * 86,
]  # fmt: skip
_RECORD_SIZES = ["", "12", "0", "-1", "\u0661\u0662", "1e3", " 12", "12 ", "x", _LONG_DIGITS,
                 "9" * 30, "\u00b2"]  # fmt: skip
_RECORD_ENDS = ["\n", "\n", "\r\n", "\r", "\x0b", "\x1c", "\u2028", "\x85", ""]

record_texts = st.lists(
    st.one_of(
        st.builds(
            lambda p, h, s, extra: ",".join([p, h, s, *extra]),
            st.sampled_from(_RECORD_PATHS),
            st.sampled_from(_RECORD_HASHES),
            st.sampled_from(_RECORD_SIZES),
            st.lists(st.sampled_from(["", "x", '"']), max_size=1),
        ),
        st.text(max_size=20),
    ).flatmap(lambda row: st.sampled_from(_RECORD_ENDS).map(lambda end: row + end)),
    max_size=8,
).map("".join)

_DIGEST_SIZES = {name: hashlib.new(name).digest_size for name in RECORD_ALGORITHMS}


def _run_record(text: str) -> None:
    entries, errors = parse_record(text)
    for error in errors:
        if not isinstance(error, str) or not re.match(r"line \d+: \S", error) or "\n" in error:
            raise Broken("result: bad problem text", repr(error))
    for entry in entries:
        if not entry.path or "\0" in entry.path:
            raise Broken("result: bad path", repr(entry.path))
        if (entry.digest is None) != (entry.algorithm is None):
            raise Broken("result: hash without algorithm")
        if entry.digest is not None and len(entry.digest) != _DIGEST_SIZES.get(
            str(entry.algorithm), -1
        ):
            raise Broken("result: digest size", f"{entry.algorithm}, {len(entry.digest)} bytes")
        if entry.size is not None and entry.size < 0:
            raise Broken("result: negative size")


def _never(case: Any, error: BaseException) -> None:  # pragma: no cover - nothing is allowed
    raise Broken("never allowed", type(error).__name__)


RECORD = FuzzTarget(
    name="record",
    strategy=record_texts,
    run=_run_record,
    allowed=(),
    check_error=_never,
)

# =========================================================================== 6. inventory

_LINUX_FACTS: dict[str, Any] = {
    "implementation": "cpython", "version": [3, 12], "py_version_nodot": "312",
    "ext_suffix": ".cpython-312-x86_64-linux-gnu.so", "py_debug": 0, "py_gil_disabled": None,
    "with_pymalloc": 1, "has_refcount": False,
    "extension_suffixes": [".cpython-312-x86_64-linux-gnu.so", ".abi3.so", ".so"],
    "maxunicode": 1114111, "system": "Linux", "sysconfig_platform": "linux-x86_64",
    "pointer_size": 8, "emscripten_version": None,
    "elf": {"class": 64, "order": "lsb", "machine": 62, "flags": 0,
            "interpreter": "/lib64/ld-linux-x86-64.so.2"},
    "glibc": "2.36", "musl": None,
}  # fmt: skip
TAG_FACTS: dict[str, dict[str, Any]] = {
    "linux-glibc": _LINUX_FACTS,
    "linux-musl-aarch64": {**_LINUX_FACTS, "sysconfig_platform": "linux-aarch64",
                           "glibc": None, "musl": [1, 2]},
    "linux-armv7l": {**_LINUX_FACTS, "sysconfig_platform": "linux-armv7l", "pointer_size": 4,
                     "elf": {"class": 32, "order": "lsb", "machine": 40, "flags": 0x05000400}},
    "linux-i686": {**_LINUX_FACTS, "pointer_size": 4,
                   "elf": {"class": 32, "order": "lsb", "machine": 3, "flags": 0}},
    "darwin-arm64": {**_LINUX_FACTS, "system": "Darwin", "glibc": None, "elf": None,
                     "sysconfig_platform": "macosx-11.0-arm64",
                     "mac": {"release": "14.2", "machine": "arm64"}},
    "darwin-32": {**_LINUX_FACTS, "system": "Darwin", "pointer_size": 4,
                  "mac": {"release": "10.15", "machine": "x86_64"}},
    "windows": {**_LINUX_FACTS, "system": "Windows", "sysconfig_platform": "win-amd64",
                "ext_suffix": ".cp312-win_amd64.pyd", "extension_suffixes": ["_d.pyd"]},
    "ios": {**_LINUX_FACTS, "system": "iOS", "ios": {"release": "17.0",
                                                      "multiarch": "arm64_iphoneos"}},
    "android": {**_LINUX_FACTS, "system": "Android", "android_api_level": 24,
                "sysconfig_platform": "android-24-arm64_v8a"},
    "emscripten": {**_LINUX_FACTS, "system": "Emscripten", "emscripten_version": "3.1.58",
                   "sysconfig_platform": "emscripten-3.1.58-wasm32"},
    "pypy": {**_LINUX_FACTS, "implementation": "pypy", "py_version_nodot": "310",
             "version": [3, 10], "ext_suffix": ".pypy310-pp73-x86_64-linux-gnu.so"},
    "graalpy": {**_LINUX_FACTS, "implementation": "graalpy",
                "ext_suffix": ".graalpy231-310-native-x86_64-linux.so"},
    "freethreaded-debug": {**_LINUX_FACTS, "version": [3, 13], "py_gil_disabled": 1,
                           "py_debug": 1},
}  # fmt: skip
_SITE = "/nonexistent/reqlock-fuzz/site-packages"


def _dist(dir_name: str, dir_version: str, **extra: Any) -> dict[str, Any]:
    path = f"{_SITE}/{dir_name}-{dir_version}.dist-info"
    return {
        "path": path, "location": _SITE, "format": "dist-info", "dir_name": dir_name,
        "dir_version": dir_version, "name": dir_name, "version": dir_version, "errors": [],
        "wheel": {"tags": ["py3-none-any"], "generator": "bdist_wheel (0.45)"},
        "installer": "pip", "direct_url": None, "record": f"{path}/RECORD", **extra,
    }  # fmt: skip


def inventory_seed(facts: str) -> dict[str, Any]:
    return {
        "schema": 1,
        "executable": "/fuzz/bin/python",
        "prefix": "/fuzz",
        "base_prefix": "/usr",
        "environment": {"python_version": "3.12", "sys_platform": "linux"},
        "tag_facts": TAG_FACTS[facts],
        "path": [_SITE],
        "dists": [
            _dist("alpha", "1.0"),
            _dist(
                "Beta_Pkg",
                "2.0",
                wheel={"tags": ["cp312-cp312-manylinux_2_17_x86_64"], "generator": None},
                direct_url='{"url": "file:///x", "dir_info": {}}',
            ),
            _dist(
                "gamma",
                "bad version",
                errors=["no METADATA"],
                wheel=None,
                record=None,
                format="egg-info",
                direct_url="[1]",
            ),
            _dist("alpha", "0.9", name=None, version=None),
        ],
        "file_issues": [
            {
                "dist": f"{_SITE}/alpha-1.0.dist-info",
                "kind": "modified",
                "path": "a.py",
                "detail": "content differs",
                "expected": "sha256=x",
                "actual": "sha256=y",
            },
        ],
        "checked": [f"{_SITE}/alpha-1.0.dist-info"],
    }


_INVENTORY_VALUES = st.one_of(
    st.just(DEEP),
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            1,
            -1,
            4,
            8,
            32,
            40,
            62,
            2**64,
            1.5,
            "",
            "x",
            [],
            {},
            [3],
            [3, 12, 1],
            ["3", "12"],
            [1, 2],
            ["a", "b"],
            {"a": 1},
        ]
    ),
    st.sampled_from(
        [
            "2.17",
            "2.",
            "x.y",
            "3.0",
            "14.2",
            "10",
            "linux-x86_64",
            "linux-",
            "macosx-14.0-arm64",
            "cpython",
            "pypy",
            "graalpy",
            "Darwin",
            "Linux",
            "Windows",
            "Android",
            "iOS",
            "Emscripten",
            "lsb",
            "msb",
            "py3-none-any",
            "py3-none",
            "cp312-cp312-" + "x" * 300,
            "",
            ".cpython-312d-x86_64-linux-gnu.so",
            ".so",
            ".pypy-",
            "_d.pyd",
            "modified",
            "missing",
            "record",
            "unknown",
            "{",
            "{}",
            "null",
            "[" * 2000 + "]" * 2000,
            _LONG_DIGITS,
            "1." + _LONG_DIGITS,
        ]
    ),
    st.text(max_size=6),
)
# What the tag computation reads, with plausible, odd and wrong values.
_FACT_EDITS: dict[str, list[Any]] = {
    "glibc": ["2.17", "2.5", "1.0", "3.1", "2.x", "", "2", "2.50", "10.0", None, 2.17],
    "musl": [[1, 2], [1], [1, 2, 3], ["1", "2"], [1, -1], None, "1.2"],
    "mac": [{"release": "14.2", "machine": "arm64"}, {"release": "10.16", "machine": "x86_64"},
            {"release": "", "machine": ""}, {"release": "x"}, "14.2", None],
    "ios": [{"release": "17.0", "multiarch": "arm64_iphoneos"}, {}, {"release": "x.y"}, None],
    "android_api_level": [21, 0, -1, "24", None, "x"],
    "system": ["Linux", "Darwin", "iOS", "Android", "Emscripten", "Windows", "FreeBSD", "", None],
    "version": [[3, 12], [3, 7], [3, 13], [2, 7], [3], [3, 12, 1], [4, 0], "3.12", None],
    "pointer_size": [4, 8, None, "8"],
    "elf": [None, {}, {"class": 32, "order": "lsb", "machine": 40, "flags": "0x400"}, []],
    "sysconfig_platform": ["linux-x86_64", "linux-armv8l", "linux-aarch64", "macosx-14.0-arm64",
                           "", None, "android-24-arm64_v8a", "linux-", "linux-x86_64-extra"],
    "implementation": ["cpython", "pypy", "graalpy", "ironpython", "", None],
    "ext_suffix": [".cpython-312-x86_64-linux-gnu.so", ".pypy310-pp73-x86_64-linux-gnu.so",
                   ".graalpy-310-native.so", ".cp312-win_amd64.pyd", ".so", ".x.y", "", None],
    "py_version_nodot": ["312", "", None, 312],
    "extension_suffixes": [["_d.pyd"], [], None, "abc"],
    "emscripten_version": ["3.1.58", "", None],
}  # fmt: skip
# Numbers a broken or hostile interpreter could report: the tag computation loops up
# to them. Drawn rarely, since each one that hangs costs TIMEOUT seconds.
_HUGE_FACT_EDITS: list[tuple[str, Any]] = [
    ("glibc", "2.99999999"), ("glibc", "99999999.0"), ("musl", [1, 99999999]),
    ("mac", {"release": "99999999.0", "machine": "arm64"}),
    ("mac", {"release": "10.99999999", "machine": "x86_64"}),
    ("ios", {"release": "99999999.0", "multiarch": "arm64_iphoneos"}),
    ("android_api_level", 99999999), ("version", [3, 99999999]),
]  # fmt: skip


# What a broken install (or a broken script) can report for one distribution.
_DIST_FIELD_EDITS: dict[str, list[Any]] = {
    "name": ["", "Other_Name", None, 1, "a" * 300],
    "version": ["", "1.0", "not a version", _LONG_DIGITS, None, 1.0],
    "direct_url": ["{}", "[1]", "{", "null", "[" * 3000 + "]" * 3000, None, {}],
    "wheel": [None, {}, {"tags": []}, {"tags": ["py3-none-any", "bad"]}, {"tags": "py3"},
              {"tags": ["cp312-cp312-" + "x" * 300]}, {"generator": 1}, []],
    "errors": [[], ["no METADATA"], [1], "x", None],
    "record": [None, "", "/nonexistent/reqlock-fuzz/RECORD", 1],
    "format": ["egg-info", "dist-info", "", None],
    "path": ["", "/nonexistent/reqlock-fuzz/x-1.dist-info", None, 1],
}  # fmt: skip


@st.composite
def dist_edits(draw: st.DrawFn) -> tuple[DocOp, ...]:
    """Edits of one field of one reported distribution."""
    edits: list[DocOp] = []
    for _ in range(draw(st.integers(0, 2))):
        field = draw(st.sampled_from(sorted(_DIST_FIELD_EDITS)))
        value = draw(st.sampled_from(_DIST_FIELD_EDITS[field]))
        edits.append(("add", ("dists", draw(st.integers(0, 3))), (field, value)))
    return tuple(edits)


@st.composite
def fact_edits(draw: st.DrawFn) -> tuple[DocOp, ...]:
    """Edits of ``tag_facts``: ``("add", ("tag_facts",), (key, value))``."""
    edits: list[DocOp] = []
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(_FACT_EDITS)))
        edits.append(("add", ("tag_facts",), (key, draw(st.sampled_from(_FACT_EDITS[key])))))
    if draw(one_in(150)):
        edits.append(("add", ("tag_facts",), draw(st.sampled_from(_HUGE_FACT_EDITS))))
    return tuple(edits)


_INVENTORY_KEYS = [
    "schema", "executable", "prefix", "environment", "tag_facts", "path", "dists", "name",
    "version", "wheel", "tags", "generator", "direct_url", "record", "errors", "location",
    "dir_name", "dir_version", "glibc", "musl", "mac", "ios", "elf", "flags", "release",
    "machine", "android_api_level", "file_issues", "checked", "kind", "dist", "detail",
]  # fmt: skip


@dataclass(frozen=True)
class InventoryCase:
    facts: str
    doc_ops: tuple[DocOp, ...]
    byte_ops: tuple[ByteOp, ...]
    check_files: bool
    returncode: int
    body: bytes
    helper: bytes

    def __repr__(self) -> str:
        return (
            f"InventoryCase(facts={self.facts!r}, check_files={self.check_files}, "
            f"returncode={self.returncode}, doc_ops={_short(self.doc_ops, 1500)}, "
            f"byte_ops={_short(self.byte_ops, 300)})"
        )


@st.composite
def inventory_cases(draw: st.DrawFn) -> InventoryCase:
    facts = draw(st.sampled_from(sorted(TAG_FACTS)))
    seed = inventory_seed(facts)
    ops, doc = doc_ops(draw, seed, _INVENTORY_VALUES, _INVENTORY_KEYS, max_ops=3)
    facts_ops = draw(fact_edits()) + draw(dist_edits())
    for op in facts_ops:
        doc = apply_doc_op(doc, op)
    ops += facts_ops
    body = json_bytes(doc)
    edits = draw(byte_ops(len(body), max_ops=1)) if draw(one_in(4)) else ()
    helper = json.dumps({"schema": 1, "file_issues": doc.get("file_issues", []),
                         "checked": doc.get("checked", [])}).encode()  # fmt: skip
    return InventoryCase(
        facts=facts,
        doc_ops=ops,
        byte_ops=edits,
        check_files=draw(st.booleans()),
        returncode=draw(st.sampled_from([1, -9])) if draw(one_in(12)) else 0,
        body=apply_byte_ops(body, edits),
        helper=helper,
    )


class _FakeProcess:
    """Stands for the inventory script's process: answers with fixed output."""

    def __init__(self, out: bytes, returncode: int = 0) -> None:
        self.out = out
        self.returncode = returncode

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        return self.out, b"Traceback (most recent call last):\nboom\n" if self.returncode else b""

    def poll(self) -> int:
        return self.returncode

    def kill(self) -> None:  # pragma: no cover - never running
        pass


def _run_inventory(case: InventoryCase) -> None:
    pending = cast(Any, _Pending.__new__(_Pending))
    pending.python = "/fuzz/bin/python"
    pending.check_files = case.check_files
    pending.skip = frozenset({"gamma"})
    pending._procs = [_FakeProcess(case.body, case.returncode)]
    if case.check_files:
        pending._procs.append(_FakeProcess(case.helper))
    result = pending.result(timeout=1.0)
    if not isinstance(result, Inventory) or not isinstance(result.tags, tuple):
        raise Broken("result: not an Inventory")


def _check_inventory_error(case: InventoryCase, error: BaseException) -> None:
    assert isinstance(error, InventoryError)
    _message_ok(error, one_line=False)
    if not str(error).startswith("/fuzz/bin/python: "):
        raise Broken("error: does not name the interpreter")


INVENTORY = FuzzTarget(
    name="inventory",
    strategy=inventory_cases(),
    run=_run_inventory,
    allowed=(InventoryError,),
    check_error=_check_inventory_error,
)

# =========================================================================== 7. config, targets

_PYTHONS = ["3.12", "3.7", "3.6", "2.7", "4.0", "3.12.1", "3", "", "3.999", "\u0663.\u0661\u0662",
            "03.012", "3.1000", " 3.12 ", "3.12.", "3.x"]  # fmt: skip
_PRESET_NAMES = ["linux-x86_64", "linux-aarch64", "musllinux-x86_64", "macos-arm64",
                 "macos-x86_64", "windows-amd64", "LINUX-X86_64", "linux_x86_64", "linux",
                 "macos", "win", "", "-", "linux-x86_64-py3.12"]  # fmt: skip

target_specs = st.one_of(
    st.builds(
        lambda pad, platform, python, tail: f"{pad}{platform}-py{python}{tail}{pad}",
        st.sampled_from(["", " ", "\t"]),
        st.sampled_from(_PRESET_NAMES),
        st.sampled_from(_PYTHONS),
        st.sampled_from(["", "", "-extra", "py"]),
    ),
    st.sampled_from(
        [
            "current",
            " CURRENT ",
            "curent",
            "linux-x86_64",
            "macos-arm64-3.12",
            "-py3.12",
            "py3.12",
            "linux-x86_64-py",
            "arm-box",
        ]
    ),
    st.text(max_size=12),
)


def _run_target(spec: str) -> None:
    target = parse_target(spec)
    if not isinstance(target, Target) or not target.tags or not target.name:
        raise Broken("result: a target without tags or name")


def _check_config_error(case: Any, error: BaseException) -> None:
    assert isinstance(error, ConfigError)
    _message_ok(error, one_line=False)
    if not error.key or not str(error).startswith(f"{error.key}: "):
        raise Broken("error: does not start with its key")


TARGET = FuzzTarget(
    name="target",
    strategy=target_specs,
    run=_run_target,
    allowed=(TargetError,),
    check_error=_check_config_error,
)

_PLATFORM_TAGS = st.one_of(
    st.sampled_from(
        [
            "manylinux_2_28_x86_64",
            "manylinux_2_17_aarch64",
            "manylinux2014_x86_64",
            "manylinux1_i686",
            "musllinux_1_2_x86_64",
            "macosx_14_0_arm64",
            "macosx_10_9_x86_64",
            "macosx_11_0_universal2",
            "win_amd64",
            "win_arm64",
            "win32",
            "linux_armv7l",
            "any",
            "Bad-Tag",
            "",
            "manylinux_3_1_x86_64",
            "ios_17_0_arm64_iphoneos",
            "android_24_arm64_v8a",
            "manylinux_2_x86_64",
            "linux_",
            "macosx_14_0_ppc",
        ]
    ),
    st.builds(
        lambda form, number: form.format(number),
        st.sampled_from(
            [
                "manylinux_2_{}_x86_64",
                "musllinux_1_{}_aarch64",
                "macosx_{}_0_arm64",
                "macosx_10_{}_x86_64",
                "manylinux_{}_17_x86_64",
            ]
        ),
        st.sampled_from([0, 1, 5, 17, 40, 99]),
    ),
)
# Too big to loop over; drawn rarely (each one that hangs costs TIMEOUT seconds).
_HUGE_PLATFORM_TAGS = [
    "manylinux_2_99999999_x86_64", "musllinux_1_99999999_x86_64", "macosx_99999999_0_arm64",
    "macosx_10_99999999_x86_64", "manylinux_2_" + _LONG_DIGITS + "_x86_64",
    "manylinux_2_999_x86_64", "macosx_999_999_x86_64", "musllinux_1_999_x86_64",
]  # fmt: skip
_MARKER_VARIABLES = ["sys_platform", "platform_system", "os_name", "platform_machine",
                     "python_version", "python_full_version", "implementation_name",
                     "implementation_version", "platform_python_implementation",
                     "platform_release", "extra", "Sys_Platform"]  # fmt: skip
_CONFIG_SCALARS: st.SearchStrategy[Any] = st.sampled_from(
    [None, True, False, 0, 3.12, "", "x", "3.12", "cpython", "pypy", "linux", "darwin", "win32",
     "3.12.1", "3.11.0", "CPython", "x86_64", 'a"b', [], {}, ["requirements.txt"]]
)  # fmt: skip


_VALID_PLATFORM_TAGS = [
    "manylinux_2_28_x86_64", "manylinux_2_17_aarch64", "manylinux2014_x86_64", "manylinux1_i686",
    "musllinux_1_2_x86_64", "macosx_14_0_arm64", "macosx_10_9_x86_64", "win_amd64",
    "linux_armv7l",
]  # fmt: skip
_ENVIRONMENT_SETTINGS = {
    "sys_platform": "linux", "platform_machine": "x86_64", "platform_release": "6.1",
    "python_full_version": "3.12.4", "os_name": "posix", "platform_system": "Linux",
    "implementation_name": "cpython",
}  # fmt: skip


@st.composite
def custom_target(draw: st.DrawFn) -> dict[str, Any]:
    """A target table that is mostly valid; config_tables() breaks it further."""
    platforms = draw(
        st.lists(st.sampled_from(_VALID_PLATFORM_TAGS) | _PLATFORM_TAGS, min_size=1, max_size=3)
    )
    if draw(one_in(100)):
        platforms.append(draw(st.sampled_from(_HUGE_PLATFORM_TAGS)))
    table: dict[str, Any] = {
        "python": draw(
            st.sampled_from(["3.12", "3.8", "3.13.1", "3.7"]) | st.sampled_from(_PYTHONS)
        ),
        "platforms": platforms,
    }
    if draw(one_in(4)):
        table["implementation"] = draw(st.sampled_from(["cpython", "CPython", "pypy", ""]))
    if draw(one_in(3)):
        names = draw(st.lists(st.sampled_from(sorted(_ENVIRONMENT_SETTINGS)), max_size=3))
        table["environment"] = {name: _ENVIRONMENT_SETTINGS[name] for name in names}
    return table


_ENV_NAMES = [
    "prod",
    "dev",
    "test-1",
    "a_b",
    "",
    "-x",
    "a b",
    "../x",
    "pröd",
    "a.b",
    "A" * 70,
    "x\n",
]
_CUSTOM_NAMES = ["arm-box", "box2", "current", "linux-x86_64-py3.12"]
_PRESET_SPECS = ["linux-x86_64-py3.12", "macos-arm64-py3.8", "windows-amd64-py3.13",
                 "musllinux-x86_64-py3.11", "current"]  # fmt: skip
_CONFIG_KEYS = [
    "targets", "environments", "custom-targets", "index-url", "extra-index-urls", "pre",
    "unknown", "python", "platforms", "implementation", "environment", "sys_platform",
    "platform_machine", "extra", "prod",
]  # fmt: skip
_CONFIG_VALUES = st.one_of(
    _CONFIG_SCALARS,
    st.sampled_from(_PYTHONS),
    st.sampled_from(_ENV_NAMES),
    _PLATFORM_TAGS,
    target_specs,
    st.lists(_PLATFORM_TAGS, max_size=2),
)


@st.composite
def config_tables(draw: st.DrawFn) -> Any:
    """A ``[tool.reqlock]`` table: a plausible one, then up to 3 structural edits."""
    names = draw(st.lists(st.sampled_from(_CUSTOM_NAMES), unique=True, max_size=2))
    table: dict[str, Any] = {
        "targets": draw(
            st.lists(
                st.sampled_from(names) | st.sampled_from(_PRESET_SPECS)
                if names
                else st.sampled_from(_PRESET_SPECS),
                min_size=1,
                max_size=3,
                unique=True,
            )
        ),
    }
    if names:
        table["custom-targets"] = {name: draw(custom_target()) for name in names}
    if draw(st.booleans()):
        table["environments"] = draw(
            st.dictionaries(
                st.sampled_from(_ENV_NAMES),
                st.lists(st.sampled_from(["requirements.txt", "dev.txt", "../x.txt"]),
                         min_size=1, max_size=2) | st.sampled_from(["r.txt", ""]),
                max_size=3,
            )
        )  # fmt: skip
    if draw(one_in(4)):
        table["index-url"] = "https://pypi.example/simple/"
        table["extra-index-urls"] = ["https://extra.example/simple/"]
        table["pre"] = draw(st.booleans())
    _, table = doc_ops(draw, table, _CONFIG_VALUES, _CONFIG_KEYS, max_ops=3)
    return table


CONFIG_ROOT = Path("/nonexistent/reqlock-fuzz/project")


def _run_config(table: Any) -> None:
    config = parse_config(table, root=CONFIG_ROOT)
    if not isinstance(config, ProjectConfig) or not config.targets:
        raise Broken("result: a config without targets")
    if any(not target.tags for target in config.targets):
        raise Broken("result: a target without tags")


CONFIG = FuzzTarget(
    name="config",
    strategy=config_tables(),
    run=_run_config,
    allowed=(ConfigError,),
    check_error=_check_config_error,
)

# =========================================================================== 8. range zip


@dataclass(frozen=True)
class RangeCase:
    seed: str
    byte_ops: tuple[ByteOp, ...]
    server: str  # "honest", "misplaced" (wrong range, right length) or "bad-total"
    want: str  # "metadata", "first", "last"

    @property
    def data(self) -> bytes:
        return apply_byte_ops(ZIP_SEEDS[self.seed], self.byte_ops)


@st.composite
def range_cases(draw: st.DrawFn) -> RangeCase:
    seed = draw(st.sampled_from(sorted(ZIP_SEEDS)))
    edits = draw(byte_ops(len(ZIP_SEEDS[seed]), ZIP_HOTSPOTS[seed], zip_aware=True))
    server = draw(st.sampled_from(["honest", "honest", "honest", "misplaced", "bad-total"]))
    return RangeCase(seed, edits, server, draw(st.sampled_from(["metadata", "first", "last"])))


def _fetcher(data: bytes, server: str) -> Callable[[int, int | None], tuple[bytes, int]]:
    def fetch(start: int, end: int | None) -> tuple[bytes, int]:
        total = len(data)
        chunk = data[max(total + start, 0) :] if start < 0 else data[start:end]
        if server == "misplaced":  # what _range_answer lets through: any range of that length
            chunk = data[: len(chunk)]
        elif server == "bad-total":
            total = max(total // 2, 1)
        return chunk, total

    return fetch


def _run_range(case: RangeCase) -> None:
    def want(names: list[str]) -> str | None:
        if case.want == "metadata":
            return find_dist_info_metadata(names)
        if not names:
            return None
        return names[0] if case.want == "first" else names[-1]

    found = read_member(_fetcher(case.data, case.server), want)
    intact = case.want == "metadata" and not case.byte_ops and case.server == "honest"
    if intact and found != METADATA_SEED:
        raise Broken("result: METADATA of an intact wheel differs")


RANGEZIP = FuzzTarget(
    name="rangezip",
    strategy=range_cases(),
    run=_run_range,
    allowed=(RangeNotSupported, BadZip),
    check_error=lambda case, error: _message_ok(error),
)

FUZZ_TARGETS: dict[str, FuzzTarget] = {
    target.name: target
    for target in (
        REQUIREMENTS,
        LOCK,
        SIMPLE,
        METADATA,
        RECORD,
        INVENTORY,
        CONFIG,
        TARGET,
        RANGEZIP,
    )
}

# =========================================================================== the tests


@FUZZ_SETTINGS
@given(requirements_cases)
def test_fuzz_requirements(case: RequirementsCase) -> None:
    assert_behaves(REQUIREMENTS, case)


@FUZZ_SETTINGS
@given(lock_cases())
def test_fuzz_lock(case: LockCase) -> None:
    assert_behaves(LOCK, case)


@FUZZ_SETTINGS
@given(json_pages() | html_pages())
def test_fuzz_simple_pages(case: PageCase) -> None:
    assert_behaves(SIMPLE, case)


@FUZZ_SETTINGS
@given(metadata_cases())
def test_fuzz_metadata(case: MetadataCase) -> None:
    assert_behaves(METADATA, case)


@FUZZ_SETTINGS
@given(record_texts)
def test_fuzz_record(text: str) -> None:
    assert_behaves(RECORD, text)


@FUZZ_SETTINGS
@given(inventory_cases())
def test_fuzz_inventory_report(case: InventoryCase) -> None:
    assert_behaves(INVENTORY, case)


@FUZZ_SETTINGS
@given(config_tables())
def test_fuzz_config(table: Any) -> None:
    assert_behaves(CONFIG, table)


@FUZZ_SETTINGS
@given(target_specs)
def test_fuzz_target_spec(spec: str) -> None:
    assert_behaves(TARGET, spec)


@FUZZ_SETTINGS
@given(range_cases())
def test_fuzz_rangezip(case: RangeCase) -> None:
    assert_behaves(RANGEZIP, case)


def test_seeds_are_valid() -> None:
    """The mutations start from inputs every parser accepts."""
    assert isinstance(parse_lock(LOCK_SEED_TEXT, path="seed"), Pylock)
    page = parse_project_page(
        json.dumps(PAGE_SEED).encode(),
        content_type=JSON_CONTENT_TYPE,
        page_url=_PAGE_URLS[0],
        name=DEMO,
        index="i",
    )
    assert sum(len(files) for files in page.releases().values()) == 4
    assert parse_metadata(METADATA_SEED, package="demo", version="1.0").requires_python
    assert is_static_sdist_metadata(METADATA_SEED)
    for name, data in ZIP_SEEDS.items():
        assert wheel_metadata(data, filename="w.whl", package="demo", version="1") == METADATA_SEED
        range_case = RangeCase(name, (), "honest", "metadata")
        assert run_case(RANGEZIP, range_case) is None, name
    for suffix, compress in _COMPRESSORS.items():
        data = compress(TAR_SEED)
        found = sdist_pkg_info(data, filename=f"d{suffix}", package="demo", version="1")
        assert found == METADATA_SEED
    for facts in TAG_FACTS:
        body = json.dumps(inventory_seed(facts)).encode()
        inventory_case = InventoryCase(facts, (), (), False, 0, body, b"")
        assert run_case(INVENTORY, inventory_case) is None, facts


# =========================================================================== found bugs
#
# Every bug this fuzzing found. Open ones are strict xfails holding the smallest input
# that shows them, plus a KNOWN_BUGS entry so that the fuzz tests above tolerate them
# (and only them); when one is fixed, its xfail passes and fails the run: turn it into
# a regression test below and drop its _known() line. Fixed ones (5a16bd2, b657040)
# are regression tests.


def _known(parser: str, pattern: str, test: str) -> None:
    KNOWN_BUGS.append(KnownBug(parser, pattern, test))


def _within(seconds: float, run: Callable[[], object]) -> None:
    """Run ``run``; an AssertionError when it takes longer than ``seconds``."""
    try:
        with time_limit(seconds):
            run()
    except Hang:
        raise AssertionError(f"still running after {seconds} s") from None


def _inventory_answer(body: bytes) -> None:
    _run_inventory(InventoryCase("linux-glibc", (), (), False, 0, body, b""))


# ----------------------------------------------- fixed after the full fuzz run


def test_fixed_record_size_with_many_digits() -> None:
    entries, errors = parse_record(f"demo/__init__.py,,{_LONG_DIGITS}\n")
    assert entries == ()
    assert errors
    assert errors[0].startswith("line 1: ")


def test_fixed_inventory_huge_glibc_string() -> None:
    report = inventory_seed("linux-glibc")
    report["tag_facts"] = {**report["tag_facts"], "glibc": "2.99999999"}

    def answer() -> None:
        with contextlib.suppress(InventoryError):
            _inventory_answer(json.dumps(report).encode())

    _within(0.5, answer)


def test_fixed_config_python_minor_times_platforms() -> None:
    platforms = ["manylinux_2_999_x86_64", "macosx_999_999_x86_64"]
    table = {
        "targets": ["box"],
        "custom-targets": {"box": {"python": "3.999", "platforms": platforms}},
    }

    def parse() -> None:
        with contextlib.suppress(ConfigError):
            parse_config(table, root=CONFIG_ROOT)

    _within(0.5, parse)


# --------------------------------------------------------------------------- fixed


def test_fixed_lock_version_with_many_digits() -> None:
    # Version() raises a plain ValueError (not InvalidVersion) past 4300 digits.
    with pytest.raises(LockFileError):
        parse_lock(f'lock-version = "{_LONG_DIGITS}"\n', path="pylock.toml")


def test_fixed_lock_toml_integer_with_many_digits() -> None:
    # tomllib raises a plain ValueError (not TOMLDecodeError) for such an integer.
    with pytest.raises(LockFileError):
        parse_lock(f"size = {_LONG_DIGITS}\n", path="pylock.toml")


def test_fixed_lock_error_message_is_one_line() -> None:
    # packaging's marker errors draw a caret diagram on extra lines.
    text = (
        'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "a"\n'
        'marker = "nonsense == \'1\'"\ndirectory = {path = "."}\n'
    )
    with pytest.raises(LockFileError) as info:
        parse_lock(text, path="pylock.toml")
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    "body",
    [b'<a href="http://[x/demo-1.0.tar.gz">demo-1.0.tar.gz</a>', b'<base href="http://[x/">'],
)
def test_fixed_html_page_with_invalid_ipv6_url(body: bytes) -> None:
    # urljoin/urlsplit raise ValueError('Invalid IPv6 URL').
    with pytest.raises(IndexFetchError):
        parse_project_page(
            body, content_type="text/html", page_url=_PAGE_URLS[0], name=DEMO, index="i"
        )


def _public_urls(page: dict[str, Any]) -> list[str]:
    """Parse a JSON page and every file of it, as the resolver and the lock writer do."""
    parsed = parse_project_page(
        json.dumps(page).encode(),
        content_type=JSON_CONTENT_TYPE,
        page_url=_PAGE_URLS[0],
        name=DEMO,
        index="i",
    )
    return [dist.public_url for version in parsed.versions() for dist in parsed.files(version)]


@pytest.mark.parametrize("url", ["//[x/demo-1.0.tar.gz", "http://[x/demo-1.0.tar.gz"])
def test_fixed_json_page_with_invalid_ipv6_url(url: str) -> None:
    # A relative one broke urljoin in files(); an absolute one broke public_url later.
    page = {
        "meta": {"api-version": "1.1"},
        "files": [{"filename": "demo-1.0.tar.gz", "url": url, "hashes": {}}],
    }
    with pytest.raises(IndexFetchError):
        _public_urls(page)


def test_fixed_file_version_with_many_digits() -> None:
    body = f'<a href="demo-{_LONG_DIGITS}.tar.gz">x</a>'.encode()
    page = parse_project_page(
        body, content_type="text/html", page_url=_PAGE_URLS[0], name=DEMO, index="i"
    )
    assert page.versions() == {}


def test_fixed_deeply_nested_json_page() -> None:
    # json.loads raises RecursionError, not ValueError.
    with pytest.raises(IndexFetchError):
        parse_project_page(
            b"[" * 100_000,
            content_type=JSON_CONTENT_TYPE,
            page_url=_PAGE_URLS[0],
            name=DEMO,
            index="i",
        )


def _wheel_member_data_offset(data: bytes) -> int:
    """Where the compressed bytes of the first member of a zip start."""
    name_length, extra_length = (
        int.from_bytes(data[26:28], "little"),
        int.from_bytes(data[28:30], "little"),
    )
    return 30 + name_length + extra_length


def _corrupt_archive(kind: str) -> tuple[str, bytes]:
    member = [("demo-1.0.dist-info/METADATA", METADATA_SEED)]
    if kind in ("deflate", "lzma", "sdist-zip"):
        compression = zipfile.ZIP_LZMA if kind == "lzma" else zipfile.ZIP_DEFLATED
        data = bytearray(_zip(member, compression))
        start = _wheel_member_data_offset(bytes(data))
        data[start + (4 if kind == "lzma" else 0) : start + 8] = b"\xff" * (
            4 if kind == "lzma" else 8
        )
        if kind == "sdist-zip":
            data = bytearray(bytes(data).replace(b".dist-info/METADATA", b".dist-info/PKG-INFO"))
            return "demo-1.0.zip", bytes(data)
        return "demo-1.0-py3-none-any.whl", bytes(data)
    if kind in ("method-99", "encrypted"):
        data = bytearray(_zip(member, zipfile.ZIP_STORED))
        directory = data.find(b"PK\x01\x02")
        if kind == "method-99":
            data[8:10] = data[directory + 10 : directory + 12] = (99).to_bytes(2, "little")
        else:
            data[6] |= 1
            data[directory + 8] |= 1
        return "demo-1.0-py3-none-any.whl", bytes(data)
    # kind == "tar-size": a ustar header whose size field is a huge base-256 number
    tar = bytearray(_tar(_SDIST_MEMBERS[:1]))
    tar[124:136] = b"\x80" + b"\xff" * 11
    return "demo-1.0.tar", _fix_tar_checksums(bytes(tar))


@pytest.mark.parametrize("kind", ["deflate", "lzma", "method-99", "encrypted", "sdist-zip",
                                  "tar-size"])  # fmt: skip
def test_fixed_corrupt_archive_gives_metadata_error(kind: str) -> None:
    # zlib.error, LZMAError, NotImplementedError, RuntimeError and OverflowError escaped.
    filename, data = _corrupt_archive(kind)
    read = wheel_metadata if filename.endswith(".whl") else sdist_pkg_info
    with pytest.raises(MetadataError):
        read(data, filename=filename, package="demo", version="1.0")


def test_fixed_metadata_version_with_many_digits() -> None:
    data = f"Metadata-Version: 2.1\nName: demo\nVersion: {_LONG_DIGITS}\n".encode()
    with pytest.raises(MetadataError):
        parse_metadata(data, package="demo", version="1.0")


def test_fixed_metadata_version_field_with_many_digits() -> None:
    assert is_static_sdist_metadata(f"Metadata-Version: 2.{_LONG_DIGITS}\n".encode()) is False


def test_fixed_inventory_deep_direct_url() -> None:
    report = inventory_seed("linux-glibc")
    report["dists"] = [_dist("alpha", "1.0", direct_url="[" * 100_000)]
    with contextlib.suppress(InventoryError):
        _inventory_answer(json.dumps(report).encode())


def test_fixed_inventory_deeply_nested_report() -> None:
    with pytest.raises(InventoryError):
        _inventory_answer(b"[" * 100_000)


@pytest.mark.parametrize(
    ("fact", "value"),
    [("musl", [1, 99999999]), ("mac", {"release": "99999999.0", "machine": "arm64"}),
     ("version", [3, 99999999]), ("android_api_level", 99999999)],
)  # fmt: skip
def test_fixed_inventory_huge_platform_versions(fact: str, value: object) -> None:
    report = inventory_seed("darwin-arm64" if fact == "mac" else "linux-glibc")
    report["tag_facts"] = {**report["tag_facts"], fact: value}

    def answer() -> None:
        with contextlib.suppress(InventoryError):
            _inventory_answer(json.dumps(report).encode())

    _within(0.5, answer)


@pytest.mark.parametrize(
    "tag", ["manylinux_2_99999999_x86_64", f"manylinux_2_{_LONG_DIGITS}_x86_64"]
)
def test_fixed_config_huge_platform_tag(tag: str) -> None:
    table = {"targets": ["box"], "custom-targets": {"box": {"python": "3.12", "platforms": [tag]}}}

    def parse() -> None:
        with pytest.raises(ConfigError):
            parse_config(table, root=CONFIG_ROOT)

    _within(0.5, parse)


def test_fixed_rangezip_local_header_cut_by_end_of_file() -> None:
    # A directory entry pointing at 'PK\x03\x04' in the last 29 bytes: struct.error.
    case = RangeCase("stored", (("tail-local", 0, 0),), "honest", "metadata")
    with pytest.raises((BadZip, RangeNotSupported)):
        _run_range(case)

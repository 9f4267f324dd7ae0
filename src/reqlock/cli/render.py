"""Rendering progress and warnings on stderr (the only place that prints them).

Three verbosities (``-q``, default, ``-v``):

- quiet: warnings only;
- normal: on a terminal, one rewritten status line; elsewhere (CI logs, pipes) a
  progress line at most every interval, once a resolution has run longer than one
  interval, so that a quick lock prints no progress at all;
- verbose: progress lines on a terminal too, each conflict that drives
  backtracking the first time it happens, the top conflicts of every interval, and
  a total at the end of each resolution.

Lines are written from the reporter's own calls (no thread of its own), so nothing
is printed once :meth:`TerminalReporter.finish` has run.
"""

from __future__ import annotations

__all__ = [
    "TerminalReporter",
    "Verbosity",
    "add_verbosity_options",
    "reporter_for",
    "verbosity_of",
]

import argparse
import enum
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from reqlock.progress import Reporter


class Verbosity(enum.IntEnum):
    """How much the command line says while it works."""

    QUIET = -1
    NORMAL = 0
    VERBOSE = 1


def add_verbosity_options(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive ``-q/--quiet`` and ``-v/--verbose`` to ``parser``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print no progress (warnings and errors still)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print progress lines, the conflicts that make the resolver backtrack, and totals",
    )


def verbosity_of(args: argparse.Namespace) -> Verbosity:
    """The verbosity ``args`` asks for (parsed with :func:`add_verbosity_options`)."""
    if getattr(args, "quiet", False):
        return Verbosity.QUIET
    if getattr(args, "verbose", False):
        return Verbosity.VERBOSE
    return Verbosity.NORMAL


def reporter_for(args: argparse.Namespace, stream: TextIO) -> TerminalReporter:
    """The reporter of a command: live when ``stream`` is a terminal."""
    return TerminalReporter(stream, live=stream.isatty(), verbosity=verbosity_of(args))


def _count(n: int) -> str:
    return f"{n:,}"


def _many(n: int, noun: str, rest: str = "") -> str:
    """``3,104 versions tried``, ``1 version tried``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}{rest}"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60:02d} s"


class _Target:
    """Counters of one target's resolution."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.started: float | None = None
        self.projects: set[str] = set()
        self.tried = 0
        self.rejections = 0
        # (name, on) pairs already shown in verbose mode.
        self.seen: set[tuple[str, str]] = set()

    def label(self) -> str:
        return f"resolving {self.target}" if self.target else "resolving"

    def counters(self) -> str:
        return f"{_many(len(self.projects), 'project')}, {_many(self.tried, 'version', ' tried')}"


class TerminalReporter(Reporter):
    """Renders progress on ``stream`` according to ``verbosity``; warnings always.

    ``live``: ``stream`` is a terminal, where progress is one rewritten line.
    ``clock`` and ``interval`` (seconds between progress lines) are injectable so
    that tests drive time."""

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool,
        verbosity: Verbosity = Verbosity.NORMAL,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 10.0,
    ) -> None:
        super().__init__()
        self._stream = stream
        self._live = live and verbosity > Verbosity.QUIET
        self._verbose = verbosity >= Verbosity.VERBOSE
        # Periodic lines: in logs, and with -v on a terminal too.
        self._lines = verbosity >= Verbosity.VERBOSE or (verbosity == Verbosity.NORMAL and not live)
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._metadata = 0
        self._last = float("-inf")
        self._shown = False
        self._finished = False
        self._current = _Target(None)
        self._next_line: float | None = None
        # What happened during the current interval: rejections by project and by
        # (name, on) pair with the pair's last reason.
        self._on: Counter[str] = Counter()
        self._pairs: Counter[tuple[str, str]] = Counter()
        self._reasons: dict[tuple[str, str], str] = {}
        self._last_on = ""
        self._last_on_at = float("-inf")

    # -- events -----------------------------------------------------------------

    def resolving_target(self, target: str) -> None:
        with self._lock:
            if self._finished:
                return
            now = self._clock()
            current = self._current
            if current.target is None and current.tried == 0 and current.rejections == 0:
                # Nothing was resolved yet: pages prefetched before the announcement
                # belong to this target.
                current.target = target
                current.started = None
            else:
                self._total(now)
                self._current = _Target(target)
            self._begin(now)
            self._render(now, force=True)

    def fetched_page(self, name: str) -> None:
        with self._lock:
            if self._finished:
                return
            self._current.projects.add(name)
            self._tick()

    def fetched_metadata(self, name: str, version: str) -> None:
        with self._lock:
            if self._finished:
                return
            self._metadata += 1
            self._tick()

    def pinned(self, name: str, version: str) -> None:
        with self._lock:
            if self._finished:
                return
            now = self._clock()
            self._begin(now)
            self._current.tried += 1
            self._current.projects.add(name)
            self._tick(now)

    def rejected(self, name: str, version: str, on: str, reason: str) -> None:
        with self._lock:
            if self._finished:
                return
            now = self._clock()
            self._begin(now)
            current = self._current
            current.rejections += 1
            current.projects.add(name)
            current.projects.add(on)
            pair = (name, on)
            self._on[on] += 1
            self._last_on, self._last_on_at = on, now
            if self._verbose:
                self._pairs[pair] += 1
                self._reasons[pair] = reason
                if pair not in current.seen:
                    current.seen.add(pair)
                    self._emit(f"reqlock: backtracking: {name} on {on}: {reason}")
            self._tick(now)

    def building(self, name: str, version: str) -> None:
        with self._lock:
            if self._finished:
                return
            what = f"{name} {version}".strip()
            if self._verbose:
                self._emit(f"reqlock: building metadata of {what}")
            self._render(self._clock(), f"building metadata of {what}", force=True)

    def warning(self, message: str) -> None:
        with self._lock:
            super().warning(message)
            self._clear()
            self._stream.write(f"warning: {message}\n")
            self._stream.flush()

    def finish(self) -> None:
        """End the progress: remove the live line and, with ``-v``, print the
        total of the last resolution. Idempotent; nothing but warnings is printed
        afterwards."""
        with self._lock:
            if not self._finished:
                self._finished = True
                self._total(self._clock())
            self._clear()
            self._stream.flush()

    # -- rendering (with the lock held) --------------------------------------------

    def _begin(self, now: float) -> None:
        if self._current.started is None:
            self._current.started = now
        if self._next_line is None:
            # The first line comes one interval after the whole resolution began,
            # not after each target's: many short targets still show progress.
            self._next_line = now + self._interval

    def _tick(self, now: float | None = None) -> None:
        if now is None:
            now = self._clock()
        if self._next_line is not None and now >= self._next_line:
            self._next_line = now + self._interval
            if self._lines:
                self._progress_lines(now)
            self._on.clear()
            self._pairs.clear()
            self._reasons.clear()
        self._render(now)

    def _progress_lines(self, now: float) -> None:
        current = self._current
        text = f"reqlock: {current.label()}: {current.counters()}"
        top = self._on.most_common(1)
        if top:
            text += f", backtracking on {top[0][0]}"
        started = current.started if current.started is not None else now
        self._emit(f"{text} ({_duration(now - started)})")
        if self._verbose:
            for (name, on), count in self._pairs.most_common(3):
                reason = self._reasons[(name, on)]
                self._emit(f"reqlock: backtracking: {name} on {on} x{_count(count)}: {reason}")

    def _total(self, now: float) -> None:
        """With -v, the one-line total of the current target's resolution."""
        current = self._current
        if not self._verbose or current.started is None:
            return
        name = f"resolution of {current.target}" if current.target else "resolution"
        self._emit(
            f"reqlock: {name}: {current.counters()}, {_many(current.rejections, 'rejection')} "
            f"({_duration(now - current.started)})"
        )

    def _emit(self, line: str) -> None:
        self._clear()
        self._stream.write(line + "\n")
        self._stream.flush()
        self._last = float("-inf")  # redraw the live line at the next event

    def _render(self, now: float, extra: str = "", *, force: bool = False) -> None:
        if not self._live:
            return
        if not force and now - self._last < 0.1:
            return
        self._last = now
        current = self._current
        label = current.label()
        text = f"{label[0].upper()}{label[1:]}: "
        if current.tried:
            text += f"{current.counters()}, "
        else:
            text += f"{_many(len(current.projects), 'project')}, "
        text += _many(self._metadata, "metadata file")
        if now - self._last_on_at < 1.0:
            text += f"; backtracking on {self._last_on}"
        if extra:
            text += f"; {extra}"
        self._stream.write("\r\x1b[2K" + text)
        self._stream.flush()
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[2K")
            self._shown = False

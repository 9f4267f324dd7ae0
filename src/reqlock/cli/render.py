"""Rendering progress and warnings on the terminal (the only place that prints them)."""

from __future__ import annotations

__all__ = ["TerminalReporter"]

import threading
import time
from typing import TextIO

from reqlock.progress import Reporter


class TerminalReporter(Reporter):
    """Renders progress as one rewritten line on a terminal; warnings always."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        super().__init__()
        self._stream = stream
        self._live = live
        self._lock = threading.Lock()
        self._pages = 0
        self._metadata = 0
        self._last = 0.0
        self._shown = False

    def fetched_page(self, name: str) -> None:
        with self._lock:
            self._pages += 1
            self._render()

    def fetched_metadata(self, name: str, version: str) -> None:
        with self._lock:
            self._metadata += 1
            self._render()

    def building(self, name: str, version: str) -> None:
        with self._lock:
            self._render(f"building metadata of {name} {version}", force=True)

    def warning(self, message: str) -> None:
        with self._lock:
            super().warning(message)
            self._clear()
            self._stream.write(f"warning: {message}\n")
            self._stream.flush()

    def _render(self, extra: str = "", *, force: bool = False) -> None:
        if not self._live:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        text = f"Resolving: {self._pages} projects, {self._metadata} metadata files"
        if extra:
            text += f"; {extra}"
        self._stream.write("\r\x1b[2K" + text)
        self._stream.flush()
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[2K")
            self._shown = False

    def finish(self) -> None:
        """Remove the progress line."""
        with self._lock:
            self._clear()
            self._stream.flush()

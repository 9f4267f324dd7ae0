"""Work done once, on a bounded pool or by whoever needs it first.

:class:`Once` is one unit of work; :class:`Runner` owns the thread pool and the
tables of started work that the index and its file helper share; :func:`hedged`
asks twice when once is slow (DNS lookups).
"""

from __future__ import annotations

__all__ = ["Cancelled", "Once", "Runner", "hedged"]

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from reqlock.errors import ReqlockError

_T = TypeVar("_T")


class Once(Generic[_T]):
    """A unit of work run exactly once, by a pool thread or by the first caller
    that needs it, whichever comes first. Callbacks run when it succeeds, in the
    thread that finished it, so no pool thread ever blocks waiting for another."""

    __slots__ = ("_callbacks", "_claimed", "_done", "_error", "_fn", "_lock", "_result")

    def __init__(self, fn: Callable[[], _T]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._claimed = False
        self._done = threading.Event()
        self._result: _T | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[_T], None]] = []

    @classmethod
    def finished(cls, value: _T) -> Once[_T]:
        """A unit whose result is already known."""
        once = cls(lambda: value)
        once.run()
        return once

    def run(self) -> None:
        """Do the work, unless another thread has claimed it."""
        with self._lock:
            if self._claimed:
                return
            self._claimed = True
        try:
            self._result = self._fn()
        except BaseException as exc:  # re-raised in result()
            self._error = exc
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        if self._error is None:
            for callback in callbacks:
                callback(self._result)  # type: ignore[arg-type]

    def then(self, callback: Callable[[_T], None]) -> None:
        """Call ``callback`` with the result once there is one (never on error)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        if self._error is None:
            callback(self._result)  # type: ignore[arg-type]

    def result(self) -> _T:
        """The result, doing the work in this thread if nobody has started it."""
        self.run()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def done(self) -> bool:
        """True once the work finished (successfully or not)."""
        return self._done.is_set()

    def cancel(self) -> bool:
        """Make sure the work never runs, unless it has started: True if it will
        not run (then :meth:`result` raises :class:`Cancelled`)."""
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
            self._error = Cancelled()
            self._done.set()
            self._callbacks = []
        return True

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the work to finish."""
        self._done.wait(timeout)


class Cancelled(Exception):
    """The work of a :class:`Once` was cancelled before it started."""


class Runner:
    """A bounded pool and the bookkeeping to start each piece of work once."""

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="reqlock")
        # Guards the tables given to submit() and seed(); users may take it for
        # their own small bookkeeping too.
        self.lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        """Stop taking work; wait for what runs, drop what waits."""
        self.closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, table: dict[str, Once[_T]], key: str, fn: Callable[[], _T]) -> Once[_T]:
        """The unit for ``key`` in ``table``, created and queued if it is new."""
        with self.lock:
            once = table.get(key)
            if once is None:
                once = Once(fn)
                table[key] = once
                self._queue(once)
        return once

    def seed(self, table: dict[str, Once[_T]], key: str, value: _T) -> None:
        """Record ``value`` as the result for ``key`` unless work for it exists."""
        with self.lock:
            table.setdefault(key, Once.finished(value))

    def start(self, once: Once[Any]) -> None:
        """Queue a unit that lives outside any table."""
        with self.lock:
            self._queue(once)

    def _queue(self, once: Once[Any]) -> None:
        if not self.closed:
            with contextlib.suppress(RuntimeError):  # pool shut down meanwhile
                self._pool.submit(once.run)

    def guarded(self, callback: Callable[[_T], None]) -> Callable[[_T], None]:
        """``callback``, stopped once the runner is closed; its errors are dropped
        (speculative work must never break the resolution that asked for it)."""

        def run(value: _T) -> None:
            if self.closed:
                return
            with contextlib.suppress(ReqlockError):
                callback(value)

        return run


def hedged(ask: Callable[[], _T], hedge_after: float) -> _T:
    """``ask()``, asked again in parallel when it has not answered after
    ``hedge_after`` seconds; the first success wins. When every try fails the last
    error is raised (an error that is not an OSError at once).

    Tries run in daemon threads that nobody waits for: a stuck one is left behind
    (its late answer is dropped) instead of holding up the caller.
    """
    answers: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def run() -> None:
        try:
            answers.put((True, ask()))
        except Exception as exc:  # handed to the caller
            answers.put((False, exc))

    def start() -> None:
        threading.Thread(target=run, name="reqlock-hedged", daemon=True).start()

    start()
    running = 1
    try:
        ok, answer = answers.get(timeout=max(hedge_after, 0.0))
    except queue.Empty:
        start()
        running += 1
        ok, answer = answers.get()
    while True:
        running -= 1
        if ok:
            return answer  # type: ignore[no-any-return]
        if not isinstance(answer, OSError) or running == 0:
            raise answer
        ok, answer = answers.get()

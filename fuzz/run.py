#!/usr/bin/env python3
"""Fuzz reqlock's parsers for many cases with the strategies of tests/test_fuzz.py.

    python fuzz/run.py                       # every parser, 10,000 cases each
    python fuzz/run.py --parser simple --cases 50000
    python fuzz/run.py --list

For each parser it prints the cases run, each distinct failure (an exception that is
not the parser's own ``ReqlockError``, a hang, or an error message that breaks the
module's promises) with how many cases hit it and the smallest failing input, and
the seconds taken. Failures already known (``KNOWN_BUGS`` in tests/test_fuzz.py,
each with a strict-xfail test) are marked so. Exit status 1 when anything failed
(``--allow-known``: only when something new failed), else 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings  # noqa: E402
from tests.test_fuzz import FUZZ_TARGETS, Failure, FuzzTarget, run_case  # noqa: E402


@dataclass
class Found:
    """One distinct failure of a parser (all cases with the same signature)."""

    failure: Failure
    cases: int
    smallest: Any
    size: int
    shrunk: bool = False


@dataclass
class Outcome:
    parser: str
    cases: int
    failing: int
    found: dict[str, Found]
    seconds: float


def _settings(cases: int, phases: Sequence[Phase]) -> settings:
    return settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
    )


def explore(target: FuzzTarget, cases: int, seed_value: int, timeout: float) -> Outcome:
    """Run ``cases`` generated inputs, remembering the smallest input per failure."""
    count = failing = 0
    found: dict[str, Found] = {}

    @seed(seed_value)
    @_settings(cases, [Phase.generate])
    @given(target.strategy)
    def one(case: Any) -> None:
        nonlocal count, failing
        count += 1
        failure = run_case(target, case, timeout)
        if failure is None:
            return
        failing += 1
        size = len(repr(case))
        seen = found.get(failure.signature)
        if seen is None:
            found[failure.signature] = Found(failure, 1, case, size)
            return
        seen.cases += 1
        if size < seen.size:
            seen.smallest, seen.size, seen.failure = case, size, failure

    started = time.perf_counter()
    one()
    return Outcome(target.name, count, failing, found, time.perf_counter() - started)


class _Hit(Exception):
    """Stops a case that shows the failure being shrunk."""


def shrink(target: FuzzTarget, signature: str, cases: int, seed_value: int, timeout: float) -> Any:
    """Let Hypothesis shrink a failure: the same seed generates the same cases, so the
    run reaches the failing case again, then minimizes it. None when it does not."""
    hits: list[Any] = []

    @seed(seed_value)
    @_settings(cases, [Phase.generate, Phase.shrink])
    @given(target.strategy)
    def one(case: Any) -> None:
        failure = run_case(target, case, timeout)
        if failure is not None and failure.signature == signature:
            hits.append(case)
            raise _Hit

    try:
        one()
    except _Hit:
        return hits[-1]
    except Exception:  # Hypothesis could not reproduce it (flaky): keep what we have
        return None
    return None


_RUN_RE = re.compile(r"(.)\1{15,}", re.DOTALL)


def _readable(text: str, limit: int = 2500) -> str:
    """Long runs of one character as ``<'1'*5000>``; at most ``limit`` characters."""
    text = _RUN_RE.sub(lambda m: f"<{m[1]!r}*{len(m[0])}>", text)
    return text if len(text) <= limit else f"{text[:limit]}... <{len(text)} chars>"


def _indent(text: str, prefix: str = "        ") -> str:
    return "\n".join(prefix + line for line in _readable(text).splitlines())


def report(outcome: Outcome, target: FuzzTarget) -> None:
    new = sum(1 for f in outcome.found.values() if f.failure.known is None)
    print(
        f"== {outcome.parser}: {outcome.cases} cases, {outcome.failing} failing "
        f"({len(outcome.found)} distinct, {new} new), {outcome.seconds:.1f} s",
        flush=True,
    )
    for found in sorted(outcome.found.values(), key=lambda f: -f.cases):
        failure = found.failure
        known = f"known, {failure.known.test}" if failure.known else "NEW"
        print(f"   [{known}] {failure.kind}: {failure.signature} ({found.cases} cases)")
        print(_indent(f"message: {failure.message[:400]}"))
        label = "smallest input (shrunk)" if found.shrunk else "smallest input seen"
        print(_indent(f"{label}: {target.show(found.smallest)}"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per parser")
    parser.add_argument(
        "--parser",
        action="append",
        choices=sorted(FUZZ_TARGETS),
        help="fuzz only this parser (repeatable); default: all",
    )
    parser.add_argument("--seed", type=int, default=751, help="Hypothesis seed")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds before a case is a hang"
    )
    parser.add_argument("--memory-mb", type=int, default=4096, help="address-space limit (0: none)")
    parser.add_argument("--no-shrink", action="store_true", help="do not shrink failures")
    parser.add_argument(
        "--allow-known", action="store_true", help="exit 0 when every failure is a known bug"
    )
    parser.add_argument("--list", action="store_true", help="list the parsers and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(sorted(FUZZ_TARGETS)))
        return 0
    if args.memory_mb and os.name == "posix":
        import resource

        limit = args.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    logging.disable(logging.WARNING)  # packaging logs about odd lock versions
    warnings.simplefilter("ignore")  # e.g. Hypothesis on the repr of a 40 kB input
    outcomes = []
    for name in args.parser or list(FUZZ_TARGETS):
        target = FUZZ_TARGETS[name]
        outcome = explore(target, args.cases, args.seed, args.timeout)
        if not args.no_shrink:
            started = time.perf_counter()
            for signature, found in outcome.found.items():
                if found.failure.kind in ("hang", "memory"):  # each try costs the timeout
                    continue
                smaller = shrink(target, signature, args.cases, args.seed, args.timeout)
                if smaller is not None:  # Hypothesis' minimal, even if its repr is longer
                    found.smallest, found.size, found.shrunk = smaller, len(repr(smaller)), True
            outcome.seconds += time.perf_counter() - started
        report(outcome, target)
        outcomes.append(outcome)

    print("\nparser          cases   failing  distinct  new   seconds")
    for o in outcomes:
        new = sum(1 for f in o.found.values() if f.failure.known is None)
        print(
            f"{o.parser:<14}{o.cases:>7}{o.failing:>10}{len(o.found):>10}{new:>5}{o.seconds:>10.1f}"
        )
    total = sum(o.seconds for o in outcomes)
    print(f"total: {sum(o.cases for o in outcomes)} cases in {total:.1f} s")
    failed = [f for o in outcomes for f in o.found.values()]
    if args.allow_known:
        failed = [f for f in failed if f.failure.known is None]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

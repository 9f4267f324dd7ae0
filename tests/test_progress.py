"""Progress of long resolutions: periodic lines in logs, -q and -v, thread safety.

Time is a fake clock the tests move; nothing here depends on how fast it runs.
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pytest

from reqlock.cli.main import build_parser, main
from reqlock.cli.render import TerminalReporter, Verbosity, reporter_for, verbosity_of
from reqlock.progress import Reporter

TARGET = "linux-x86_64-py3.12"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _reporter(
    verbosity: Verbosity = Verbosity.NORMAL, *, live: bool = False
) -> tuple[TerminalReporter, io.StringIO, FakeClock]:
    stream = io.StringIO()
    clock = FakeClock()
    reporter = TerminalReporter(stream, live=live, verbosity=verbosity, clock=clock)
    return reporter, stream, clock


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def _at(clock: FakeClock, start: float, seconds: float) -> None:
    clock.now = start + seconds


def test_the_base_reporter_accepts_the_new_events() -> None:
    reporter = Reporter()
    reporter.resolving_target(TARGET)
    reporter.rejected("a", "1.0", "b", "a 1.0 requires b<2")
    reporter.warning("w")
    assert reporter.warnings == ["w"]


def test_no_line_before_the_first_interval_and_none_for_a_quick_lock() -> None:
    reporter, stream, clock = _reporter()
    start = clock.now
    reporter.resolving_target(TARGET)
    for step in range(99):
        _at(clock, start, step / 10)  # up to 9.8 s
        reporter.fetched_page(f"p{step % 7}")
        reporter.pinned(f"p{step % 7}", f"1.{step}")
        reporter.rejected(f"p{step % 7}", f"1.{step}", "openai", "conflict")
    reporter.finish()
    assert stream.getvalue() == ""


def test_a_line_every_interval_with_counters_and_the_backtracking_project() -> None:
    reporter, stream, clock = _reporter()
    start = clock.now
    reporter.fetched_page("prefetched")  # before the announcement: counts for the target
    reporter.resolving_target(TARGET)
    tried = 0
    for i in range(3100):
        _at(clock, start, i * 9.9 / 3100)
        reporter.pinned(f"proj{i % 400}", str(i))
        tried += 1
        # In this interval the resolver mostly rejects on numpy.
        reporter.rejected(f"proj{i % 400}", str(i), "numpy" if i % 3 else "openai", "why")
    assert stream.getvalue() == ""
    _at(clock, start, 12.4)
    reporter.pinned("proj0", "x")
    tried += 1
    # 400 projects tried, numpy, openai, and the prefetched one.
    assert _lines(stream) == [
        f"reqlock: resolving {TARGET}: 403 projects, {tried:,} versions tried, "
        "backtracking on numpy (12 s)"
    ]
    # The next interval: more rejections on openai; numpy's earlier lead is forgotten.
    for i in range(5):
        _at(clock, start, 13 + i)
        reporter.rejected("proj1", "2", "openai", "why")
    reporter.rejected("proj1", "2", "numpy", "why")
    _at(clock, start, 22.3)  # less than 10 s after the first line
    reporter.pinned("proj1", "y")
    assert len(_lines(stream)) == 1
    _at(clock, start, 22.4)
    reporter.fetched_metadata("proj1", "y")
    assert _lines(stream)[1] == (
        f"reqlock: resolving {TARGET}: 403 projects, {tried + 1:,} versions tried, "
        "backtracking on openai (22 s)"
    )
    # No rejection during an interval: no "backtracking on".
    _at(clock, start, 95)
    reporter.pinned("new", "1")
    assert _lines(stream)[2] == (
        f"reqlock: resolving {TARGET}: 404 projects, {tried + 2:,} versions tried (1 min 35 s)"
    )
    reporter.finish()
    assert len(_lines(stream)) == 3  # normal verbosity: no total


def test_the_first_line_waits_for_the_whole_resolution_not_each_target() -> None:
    reporter, stream, clock = _reporter()
    start = clock.now
    for n in range(4):
        _at(clock, start, n * 3)
        reporter.resolving_target(f"t{n}")
        reporter.pinned("a", "1")
    assert _lines(stream) == []
    _at(clock, start, 13)
    reporter.pinned("b", "1")
    # t3 began at 9 s; its own counters and time.
    assert _lines(stream) == ["reqlock: resolving t3: 2 projects, 2 versions tried (4 s)"]


def test_without_a_target_announcement_the_clock_starts_at_the_first_pin() -> None:
    reporter, stream, clock = _reporter()
    start = clock.now
    reporter.fetched_page("a")
    _at(clock, start, 30)  # fetching pages alone is not resolving
    reporter.fetched_page("b")
    assert _lines(stream) == []
    reporter.pinned("a", "1")
    _at(clock, start, 40)
    reporter.pinned("b", "1")
    assert _lines(stream) == ["reqlock: resolving: 2 projects, 2 versions tried (10 s)"]


def test_quiet_prints_no_progress_but_warnings() -> None:
    for live in (False, True):
        reporter, stream, clock = _reporter(Verbosity.QUIET, live=live)
        start = clock.now
        reporter.resolving_target(TARGET)
        for step in range(100):
            _at(clock, start, step)
            reporter.pinned("a", str(step))
            reporter.rejected("a", str(step), "b", "a requires b<2")
            reporter.building("c", "1.0")
        reporter.warning("c 1.0 is yanked")
        reporter.finish()
        assert stream.getvalue() == "warning: c 1.0 is yanked\n"
        assert reporter.warnings == ["c 1.0 is yanked"]


def test_verbose_shows_each_conflict_once_the_top_three_and_a_total() -> None:
    reporter, stream, clock = _reporter(Verbosity.VERBOSE)
    start = clock.now
    reporter.resolving_target(TARGET)
    counts = {("litellm", "openai"): 5, ("airflow", "openai"): 3, ("x", "y"): 2, ("z", "y"): 1}
    for (name, on), count in counts.items():
        for n in range(count):
            reporter.pinned(name, f"1.{n}")
            reporter.rejected(name, f"1.{n}", on, f"{name} 1.{n} requires {on}<2")
    first = [line for line in _lines(stream) if line.startswith("reqlock: backtracking:")]
    # Each pair once, with the reason of its first rejection.
    assert first == [
        "reqlock: backtracking: litellm on openai: litellm 1.0 requires openai<2",
        "reqlock: backtracking: airflow on openai: airflow 1.0 requires openai<2",
        "reqlock: backtracking: x on y: x 1.0 requires y<2",
        "reqlock: backtracking: z on y: z 1.0 requires y<2",
    ]
    _at(clock, start, 10)
    reporter.pinned("litellm", "2.0")
    assert _lines(stream)[4:] == [
        f"reqlock: resolving {TARGET}: 6 projects, 12 versions tried, backtracking on openai "
        "(10 s)",
        # The top three of the interval, with their last reason.
        "reqlock: backtracking: litellm on openai x5: litellm 1.4 requires openai<2",
        "reqlock: backtracking: airflow on openai x3: airflow 1.2 requires openai<2",
        "reqlock: backtracking: x on y x2: x 1.1 requires y<2",
    ]
    _at(clock, start, 14)
    reporter.resolving_target("macos-arm64-py3.12")  # the first target is done
    assert _lines(stream)[8] == (
        f"reqlock: resolution of {TARGET}: 6 projects, 12 versions tried, 11 rejections (14 s)"
    )
    reporter.rejected("litellm", "1.0", "openai", "again")  # a new target shows it anew
    _at(clock, start, 15)
    reporter.finish()
    reporter.finish()
    assert _lines(stream)[9:] == [
        "reqlock: backtracking: litellm on openai: again",
        "reqlock: resolution of macos-arm64-py3.12: 2 projects, 0 versions tried, "
        "1 rejection (1 s)",
    ]


def test_nothing_but_warnings_after_finish() -> None:
    reporter, stream, clock = _reporter(Verbosity.VERBOSE, live=True)
    reporter.resolving_target(TARGET)
    reporter.pinned("a", "1")
    reporter.finish()
    printed = stream.getvalue()
    clock.now += 100
    reporter.resolving_target("other")
    reporter.pinned("a", "2")
    reporter.rejected("a", "2", "b", "why")
    reporter.building("a", "2")
    reporter.fetched_page("b")
    reporter.finish()
    assert stream.getvalue() == printed
    reporter.warning("late")
    assert stream.getvalue() == printed + "warning: late\n"


def test_live_line_carries_the_counters_and_no_periodic_lines() -> None:
    reporter, stream, clock = _reporter(live=True)
    start = clock.now
    reporter.resolving_target(TARGET)
    reporter.pinned("a", "1")
    reporter.fetched_metadata("a", "1")
    _at(clock, start, 0.5)
    reporter.rejected("a", "1", "openai", "why")
    _at(clock, start, 30)
    reporter.pinned("b", "1")
    text = stream.getvalue()
    assert "\n" not in text  # only the rewritten line
    assert text.endswith(
        f"\r\x1b[2KResolving {TARGET}: 3 projects, 2 versions tried, 1 metadata file"
    )
    assert f"\r\x1b[2KResolving {TARGET}: 2 projects, 1 version tried, 1 metadata file; " in text
    assert "backtracking on openai" in text
    reporter.finish()
    assert stream.getvalue().endswith("\r\x1b[2K")


def test_verbose_on_a_terminal_prints_lines_too() -> None:
    reporter, stream, clock = _reporter(Verbosity.VERBOSE, live=True)
    start = clock.now
    reporter.resolving_target(TARGET)
    reporter.pinned("a", "1")
    _at(clock, start, 11)
    reporter.pinned("a", "2")
    assert f"\r\x1b[2Kreqlock: resolving {TARGET}: 1 project, 2 versions tried (11 s)\n" in (
        stream.getvalue()
    )


def test_counts_are_exact_when_many_threads_report() -> None:
    stream = io.StringIO()
    # The real clock: lines may or may not be printed, the counts must be exact.
    reporter = TerminalReporter(stream, live=True, verbosity=Verbosity.VERBOSE, interval=0.001)
    reporter.resolving_target(TARGET)
    threads, calls = 8, 3000
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(calls):
            reporter.pinned(f"t{n}", str(i))
            reporter.rejected(f"t{n}", str(i), f"on{i % 3}", "why")
            reporter.fetched_page(f"t{n}")
            if i % 1000 == 0:
                reporter.warning(f"w{n}-{i}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    reporter.finish()
    total = [line for line in stream.getvalue().split("\n") if "resolution of" in line]
    assert len(total) == 1
    assert re.search(
        rf"reqlock: resolution of {TARGET}: {threads + 3} projects, {threads * calls:,} "
        rf"versions tried, {threads * calls:,} rejections \(",
        total[0],
    )
    assert len(reporter.warnings) == threads * 3
    # Every distinct conflict shown exactly once, whatever the interleaving.
    shown = re.findall(r"reqlock: backtracking: (t\d) on (on\d): why\n", stream.getvalue())
    assert sorted(shown) == sorted((f"t{n}", f"on{k}") for n in range(threads) for k in range(3))


# -- the command line -----------------------------------------------------------------


def _lock(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str]:
    req = tmp_path / "requirements.txt"
    req.write_text("extras-a[y]\n")
    # A new lock each time (an unchanged one would be "up to date").
    out = tmp_path / f"pylock.{''.join(f.strip('-') for f in flags) or 'plain'}.toml"
    args = ["lock", str(req), "-o", str(out), "-i", index_url, "--no-cache", *flags]
    code = main(args)
    return code, capsys.readouterr().err


def test_lock_quiet_and_verbose(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, plain = _lock(tmp_path, index_url, capsys)
    assert code == 0
    assert "reqlock:" not in plain  # a quick lock in a log: no progress at all
    code, quiet = _lock(tmp_path, index_url, capsys, "-q")
    assert code == 0
    assert "reqlock:" not in quiet
    code, verbose = _lock(tmp_path, index_url, capsys, "--verbose")
    assert code == 0
    total = re.search(
        r"^reqlock: resolution( of \S+)?: (\d+) projects?, (\d+) versions? tried, "
        r"\d+ rejections? \(\d+ s\)$",
        verbose,
        re.MULTILINE,
    )
    assert total is not None, verbose
    # extras-a[y] locks 3 packages: the resolver tried at least those.
    assert int(total[2]) >= 3
    assert int(total[3]) >= 3
    assert "Locked 3 packages into " in verbose


def test_quiet_and_verbose_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["lock", "-q", "-v"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lock", "-q"], Verbosity.QUIET),
        (["lock", "-v", "r.txt"], Verbosity.VERBOSE),
        (["lock", "r.txt"], Verbosity.NORMAL),
        (["verify", "pylock.toml", "-q"], Verbosity.QUIET),
        (["sync", "pylock.toml", "--verbose"], Verbosity.VERBOSE),
        (["export", "pylock.toml", "--quiet"], Verbosity.QUIET),
    ],
)
def test_subcommands_accept_the_verbosity_options(argv: list[str], expected: Verbosity) -> None:
    assert verbosity_of(build_parser().parse_args(argv)) == expected


def test_reporter_for_follows_the_options() -> None:
    for flag, shows_total in (("-q", False), ("-v", True), (None, False)):
        args = build_parser().parse_args(["lock", *([flag] if flag else [])])
        stream = io.StringIO()  # not a terminal
        reporter = reporter_for(args, stream)
        reporter.resolving_target(TARGET)
        reporter.pinned("a", "1")
        reporter.warning("w")
        reporter.finish()
        assert ("reqlock: resolution of" in stream.getvalue()) == shows_total
        assert "warning: w\n" in stream.getvalue()

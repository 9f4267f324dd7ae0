"""Scale: lock big inputs and report time and peak memory (issue 5, item 6).

Inputs:

* ``data/freeze-airflow-all.txt``: a 693-line ``pip freeze``-style file (every
  package of ``apache-airflow[all]`` pinned with ``==``, as uv resolved it on
  2026-11-26), the case of a team turning an existing freeze into a lock;
* ``apache-airflow[all]`` itself, unpinned (300+ packages, with deep conflicts
  between litellm, openai and azure-ai-projects releases), under a time limit.

Each case runs ``python -m reqlock lock`` in a subprocess with a fresh cache
(cold), then again with that cache (warm), and uv on the same input the same two
ways, for comparison. Peak memory is the child's maximum resident set size.
``--before SRC`` also runs the reqlock of another source tree (its ``src/``
directory, put on ``PYTHONPATH``) as ``reqlock-before``, right before the current
one, for before/after figures from one run; ``--runs N`` repeats everything and
reports the median of each figure. Prints a table, the ratios and the targets of
issue 12 (cold <= 1.5x uv's time and <= 1.2x its peak, warm <= 0.3x uv's warm
time); exit status is 0 regardless (a benchmark, not a test).

Run it with the machine's pip configuration out of the way, e.g.
``env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null python benchmarks/bench_scale.py
--skip-airflow`` (it strips ``PIP_*``, ``UV_*`` and ``REQLOCK_*`` from its
children's environment too).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_lock import compile_sources  # run as a script: this directory is on sys.path

HERE = Path(__file__).resolve().parent


@dataclass
class Outcome:
    label: str
    seconds: float
    peak_mib: float
    ok: bool
    packages: int
    note: str = ""
    tried: str = ""  # versions tried, from reqlock -v's total line
    rejections: str = ""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "REQLOCK_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _run(label: str, cmd: list[str], env: dict[str, str], timeout: float, out: Path) -> Outcome:
    started = time.monotonic()
    # A process group of its own, so that a time-out ends the tool and not only the
    # `time` wrapper in front of it.
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Outcome(label, timeout, 0.0, False, 0, f"gave up after {timeout:.0f} s")
    elapsed = time.monotonic() - started
    # Peak memory comes from GNU time's report (see _timed), per child.
    peak = _peak_from_stderr(stderr.decode(errors="replace"))
    packages = 0
    if out.exists():
        text = out.read_text()
        packages = text.count("[[packages]]") or sum(
            1 for line in text.splitlines() if "==" in line and not line.startswith((" ", "#"))
        )
    text = stderr.decode(errors="replace")
    note = "" if proc.returncode == 0 else text.strip()[-300:]
    tried, rejections = _totals(text)
    return Outcome(label, elapsed, peak, proc.returncode == 0, packages, note, tried, rejections)


def _totals(text: str) -> tuple[str, str]:
    """Versions tried and rejections, from ``reqlock lock -v``'s total line."""
    for line in reversed(text.splitlines()):
        found = re.search(r"([\d,]+) versions? tried, ([\d,]+) rejections?", line)
        if line.startswith("reqlock: resolution") and found:
            return found[1], found[2]
    return "", ""


def _peak_from_stderr(text: str) -> float:
    for line in reversed(text.splitlines()):
        if line.startswith("PEAK_KB="):
            return int(line.split("=", 1)[1]) / 1024
    return 0.0


def _timed(cmd: list[str]) -> list[str]:
    # GNU time reports the child's peak RSS; fall back to no memory figure.
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if Path(gnu_time).exists():
        return [gnu_time, "-f", "PEAK_KB=%M", *cmd]
    return cmd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--uv", default=shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    )
    parser.add_argument("--index-url", default="https://pypi.org/simple/")
    parser.add_argument("--airflow-timeout", type=float, default=900.0)
    parser.add_argument("--skip-airflow", action="store_true")
    parser.add_argument("--before", metavar="SRC", help="also run the reqlock in SRC")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    compile_sources(Path(args.before) if args.before else None)
    cases = [("freeze-airflow-all (693 lines)", str(HERE / "data" / "freeze-airflow-all.txt"))]
    work = Path(tempfile.mkdtemp(prefix="reqlock-scale-"))
    if not args.skip_airflow:
        airflow = work / "airflow.in"
        airflow.write_text("apache-airflow[all]\n")
        cases.append(("apache-airflow[all]", str(airflow)))
    results: list[Outcome] = []
    try:
        for run in range(args.runs):
            for name, source in cases:
                timeout = args.airflow_timeout if "airflow[all]" in name else 900.0
                tools = [("reqlock-before", args.before)] if args.before else []
                for tool, src in [*tools, ("reqlock", None)]:
                    results += _reqlock(
                        args,
                        tool=tool,
                        src=src,
                        name=name,
                        source=source,
                        work=work / f"{run}",
                        timeout=timeout,
                    )
                if Path(args.uv).exists():
                    results += _uv(args, name, source, work / f"{run}", timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = _medians(results)
    print(
        f"{'case':58} {'seconds':>8} {'peak MiB':>9} {'packages':>9} {'tried':>8} "
        f"{'rejected':>9}  result"
    )
    for r in summary:
        status = "ok" if r.ok else f"FAILED {r.note}"
        print(
            f"{r.label:58} {r.seconds:8.1f} {r.peak_mib:9.0f} {r.packages:9d} {r.tried:>8} "
            f"{r.rejections:>9}  {status}"
        )
    _ratios(summary)
    return 0


def _reqlock(
    args: argparse.Namespace,
    *,
    tool: str,
    src: str | None,
    name: str,
    source: str,
    work: Path,
    timeout: float,
) -> list[Outcome]:
    """A cold and a warm lock of ``source`` (the warm one reuses the cold cache)."""
    cache = work / f"cache-{tool}-{abs(hash(name))}"
    # pip, which builds sdists' metadata, gets a cache of its own too, cold like
    # ours (reqlock hands it no PIP_* variable: XDG_CACHE_HOME moves its cache).
    env = {**_env(), "REQLOCK_CACHE_DIR": str(cache), "XDG_CACHE_HOME": str(cache / "xdg")}
    if src is not None:
        env["PYTHONPATH"] = src
    found: list[Outcome] = []
    for mode in ("cold", "warm"):
        out = work / f"out-{tool}-{mode}-{abs(hash(name))}.toml"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [args.python, "-m", "reqlock", "lock", "-v", source, "-o", str(out)]
        cmd += ["-i", args.index_url]
        found.append(_run(f"{tool} {mode}: {name}", _timed(cmd), env, timeout, out))
        if not found[-1].ok:
            break
    return found


def _uv(
    args: argparse.Namespace, name: str, source: str, work: Path, timeout: float
) -> list[Outcome]:
    """uv on the same input, cold then warm (its cache kept between the two)."""
    env = {**_env(), "UV_CACHE_DIR": str(work / f"uv-{abs(hash(name))}")}
    found: list[Outcome] = []
    for mode in ("cold", "warm"):
        out = work / f"out-uv-{mode}-{abs(hash(name))}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [args.uv, "pip", "compile", "-q", "--no-config", "--generate-hashes"]
        cmd += ["--python", args.python, "--index-url", args.index_url, source, "-o", str(out)]
        found.append(_run(f"uv {mode}: {name}", _timed(cmd), env, timeout, out))
    return found


def _medians(results: list[Outcome]) -> list[Outcome]:
    """One outcome per label: the median time and peak of its runs (all must pass)."""
    by_label: dict[str, list[Outcome]] = {}
    for r in results:
        by_label.setdefault(r.label, []).append(r)
    summary = []
    for label, runs in by_label.items():
        ok = [r for r in runs if r.ok]
        if len(ok) < len(runs):
            summary.append(next(r for r in runs if not r.ok))
            continue
        first = ok[0]
        summary.append(
            Outcome(
                label,
                statistics.median(r.seconds for r in ok),
                statistics.median(r.peak_mib for r in ok),
                True,
                first.packages,
                tried=first.tried,
                rejections=first.rejections,
            )
        )
    return summary


# Issue 12: reqlock/uv ratios to reach, per mode: (time, peak memory).
_TARGETS = {"cold": (1.5, 1.2), "warm": (0.3, None)}


def _ratios(results: list[Outcome]) -> None:
    """reqlock / uv (same mode, same run), and reqlock / reqlock-before, per case."""
    by_label = {r.label: r for r in results if r.ok}
    for r in results:
        tool, _, rest = r.label.partition(" ")
        mode, _, case = rest.partition(": ")
        if tool != "reqlock" or r.label not in by_label:
            continue
        uv = by_label.get(f"uv {mode}: {case}")
        if uv is not None and uv.seconds:
            memory = f"{r.peak_mib / uv.peak_mib:.2f}x" if uv.peak_mib else "?"
            time_limit, peak_limit = _TARGETS[mode]
            verdict = "PASS" if r.seconds / uv.seconds <= time_limit else "MISS"
            if peak_limit is not None and uv.peak_mib:
                verdict += " / " + ("PASS" if r.peak_mib / uv.peak_mib <= peak_limit else "MISS")
            print(
                f"ratio reqlock/uv, {mode}, {case}: time {r.seconds / uv.seconds:.2f}x, "
                f"peak {memory} (target {time_limit}x"
                + (f", {peak_limit}x" if peak_limit else "")
                + f": {verdict})"
            )
        before = by_label.get(f"reqlock-before {mode}: {case}")
        if before is not None and before.seconds and before.peak_mib:
            print(
                f"ratio reqlock/reqlock-before, {mode}, {case}: time "
                f"{r.seconds / before.seconds:.2f}x, peak {r.peak_mib / before.peak_mib:.2f}x"
            )


if __name__ == "__main__":
    sys.exit(main())

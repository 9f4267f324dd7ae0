"""Scale: lock big inputs and report time and peak memory (issue 5, item 6).

Inputs:

* ``data/freeze-airflow-all.txt``: a 693-line ``pip freeze``-style file (every
  package of ``apache-airflow[all]`` pinned with ``==``, as uv resolved it on
  2026-11-26), the case of a team turning an existing freeze into a lock;
* ``apache-airflow[all]`` itself, unpinned (300+ packages, with deep conflicts
  between litellm, openai and azure-ai-projects releases), under a time limit.

Each case runs ``python -m reqlock lock`` in a subprocess with a fresh cache
(cold), then again with that cache (warm), and uv on the same input for
comparison. Peak memory is the child's maximum resident set size. Prints a table;
exit status is 0 regardless (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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
    args = parser.parse_args()

    cases = [("freeze-airflow-all (693 lines)", str(HERE / "data" / "freeze-airflow-all.txt"))]
    work = Path(tempfile.mkdtemp(prefix="reqlock-scale-"))
    if not args.skip_airflow:
        airflow = work / "airflow.in"
        airflow.write_text("apache-airflow[all]\n")
        cases.append(("apache-airflow[all]", str(airflow)))
    results: list[Outcome] = []
    try:
        for name, source in cases:
            timeout = args.airflow_timeout if "airflow[all]" in name else 900.0
            cache = work / f"cache-{len(results)}"
            for mode in ("cold", "warm"):
                out = work / f"out-{len(results)}.toml"
                env = {**_env(), "REQLOCK_CACHE_DIR": str(cache)}
                cmd = [
                    args.python,
                    "-m",
                    "reqlock",
                    "lock",
                    "-v",
                    source,
                    "-o",
                    str(out),
                    "-i",
                    args.index_url,
                ]
                results.append(_run(f"reqlock {mode}: {name}", _timed(cmd), env, timeout, out))
                if not results[-1].ok:
                    break
            if Path(args.uv).exists():
                out = work / f"out-{len(results)}.txt"
                env = {**_env(), "UV_CACHE_DIR": str(work / f"uv-{len(results)}")}
                cmd = [
                    args.uv,
                    "pip",
                    "compile",
                    "-q",
                    "--no-config",
                    "--generate-hashes",
                    "--python",
                    args.python,
                    "--index-url",
                    args.index_url,
                    source,
                    "-o",
                    str(out),
                ]
                results.append(_run(f"uv cold: {name}", _timed(cmd), env, timeout, out))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'case':50} {'seconds':>8} {'peak MiB':>9} {'packages':>9} {'tried':>8} "
        f"{'rejected':>9}  result"
    )
    for r in results:
        status = "ok" if r.ok else f"FAILED {r.note}"
        print(
            f"{r.label:50} {r.seconds:8.1f} {r.peak_mib:9.0f} {r.packages:9d} {r.tried:>8} "
            f"{r.rejections:>9}  {status}"
        )
    _ratios(results)
    return 0


def _ratios(results: list[Outcome]) -> None:
    """reqlock cold / uv cold, time and peak memory, per case (same run)."""
    by_label = {r.label: r for r in results}
    for r in results:
        if not r.label.startswith("reqlock cold: "):
            continue
        case = r.label.removeprefix("reqlock cold: ")
        uv = by_label.get(f"uv cold: {case}")
        if uv is None or not (r.ok and uv.ok) or not uv.seconds:
            continue
        memory = f"{r.peak_mib / uv.peak_mib:.2f}x" if uv.peak_mib else "?"
        print(f"ratio reqlock/uv, cold, {case}: time {r.seconds / uv.seconds:.2f}x, peak {memory}")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark ``reqlock lock`` against uv, ``pip lock`` and pip-tools' ``pip-compile``.

Every tool locks the same corpus files (``../shared/corpus/*.in``, and the pinned,
hashed ``benchmarks/data/jupyter-web-hashed.txt``) against the same index, with a
cold cache (a fresh, empty cache directory per run) and a warm one (one priming run,
then measured runs reusing its cache directory). The tools' runs alternate (run 1 of
every tool, then run 2 of every tool...), so that a change in the machine's load or
the index's speed falls on all of them alike; CPU seconds (user + system) are
measured with the wall time. ``--reqlock-before SRC`` adds the reqlock of another
source tree (a worktree of an older commit) as a tool of its own, for before/after
ratios from one run.  The machine's pip and
uv configuration is switched off for every tool: ``PIP_CONFIG_FILE`` points at the
null device, inherited ``PIP_*``, ``UV_*`` and ``REQLOCK_*`` variables are dropped,
pip gets ``--isolated`` and uv ``--no-config``.

Run ``python benchmarks/bench_lock.py --help`` for the options; see
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import resource
except ImportError:  # pragma: no cover - Windows: no CPU seconds
    resource = None  # type: ignore[assignment]

ALL_TOOLS: tuple[str, ...] = ("reqlock", "uv", "pip-lock", "pip-compile")
#: The tool added by --reqlock-before: reqlock from another source tree.
BEFORE = "reqlock-before"
ALL_MODES: tuple[str, ...] = ("cold", "warm")
ALL_CORPORA: tuple[str, ...] = ("boto3", "jupyter", "trio", "web", "hashed")
DEFAULT_CORPORA: tuple[str, ...] = ("trio", "jupyter")
#: The performance targets (issue 12) per corpus file: the largest ratio of
#: reqlock's median wall time to uv's, (cold, warm). Other files get the first.
TARGETS: dict[str, tuple[float, float]] = {
    "trio": (1.0, 0.3),
    "jupyter": (1.0, 0.3),
    "web": (1.0, 0.3),
    "hashed": (1.2, 0.3),
}
DEFAULT_INDEX = "https://pypi.org/simple"
#: reqlock keeps index pages fresh for this long; warm runs must start within it.
FRESHNESS_SECONDS = 600.0
STDERR_TAIL_LINES = 12

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus"
#: Inputs kept in this repository, by corpus name: a pip-compile style output (every
#: package pinned, with --hash lines), made by uv from jupyter.in and web.in.
DATA_CORPORA: dict[str, Path] = {
    "hashed": REPO_ROOT / "benchmarks" / "data" / "jupyter-web-hashed.txt",
}

# The PEP 751 lock files (reqlock, pip lock) versus requirements.txt (uv, pip-compile).
PYLOCK_TOOLS: frozenset[str] = frozenset({"reqlock", BEFORE, "pip-lock"})

_PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\#]+)", re.M)
_PACKAGES_HEADER = re.compile(r"^\s*\[\[packages\]\]\s*$", re.M)


# --------------------------------------------------------------------------- data


@dataclasses.dataclass
class RunResult:
    """One invocation of one tool."""

    corpus: str
    tool: str
    mode: str
    run: int  # 0 = priming run of a warm series (not measured), 1.. = measured
    seconds: float
    returncode: int | None  # None: could not start, or timed out
    error: str | None  # short reason when the run failed
    stderr_tail: list[str]
    pins: int | None
    pin_set: dict[str, list[str]] | None
    command: list[str]
    since_prime: float | None = None  # warm runs: seconds since the priming run ended
    cpu: float | None = None  # user + system seconds of the tool and its children
    size: int | None = None  # bytes of the output file

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.error is None


@dataclasses.dataclass(frozen=True)
class Settings:
    python: str
    index_url: str
    uv: str | None
    pip_compile: str | None
    timeout: float
    before_src: Path | None = None  # the source tree of reqlock-before
    universal: str | None = None  # X.Y: universal locks for Python >= X.Y (reqlock, uv)


# ----------------------------------------------------------------------- helpers


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for a tool: this machine's pip/uv/reqlock settings removed."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "REQLOCK_"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


def find_executable(name: str, python: str, explicit: str | None) -> str | None:
    """``explicit``, else ``name`` next to the interpreter, else on ``PATH``."""
    if explicit:
        return explicit
    beside = Path(python).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip()][-lines:]


def read_pins(path: Path, tool: str) -> tuple[int, dict[str, list[str]]] | None:
    """(number of pinned packages, name -> versions) from a tool's output file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    pins: dict[str, set[str]] = {}
    if path.suffix == ".toml":
        count = len(_PACKAGES_HEADER.findall(text))
        for name, version in _pylock_packages(text):
            pins.setdefault(canonical_name(name), set()).add(version)
    else:
        matches = _PIN_LINE.findall(text)
        count = len(matches)
        for name, version in matches:
            pins.setdefault(canonical_name(name), set()).add(version)
    return count, {name: sorted(versions) for name, versions in sorted(pins.items())}


def _pylock_packages(text: str) -> list[tuple[str, str]]:
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]
        data = tomllib.loads(text)
    except Exception:
        return []
    result: list[tuple[str, str]] = []
    packages = data.get("packages", [])
    if isinstance(packages, list):
        for package in packages:
            if isinstance(package, dict) and isinstance(package.get("name"), str):
                version = package.get("version")
                result.append((package["name"], version if isinstance(version, str) else "?"))
    return result


# ------------------------------------------------------------------ the commands


def build_command(
    tool: str, settings: Settings, in_file: Path, out_file: Path, cache: Path
) -> tuple[list[str] | None, dict[str, str], str | None]:
    """(argv, extra environment, error) for one run of ``tool``."""
    url = settings.index_url
    if tool in ("reqlock", BEFORE):
        argv = [settings.python, "-m", "reqlock", "lock", str(in_file), "-o", str(out_file)]
        argv += ["--index-url", url]
        if settings.universal:
            argv += ["--universal", "--python-requires", f">={settings.universal}"]
        env = {"REQLOCK_CACHE_DIR": str(cache)}
        if tool == BEFORE:
            if settings.before_src is None:
                return None, {}, "no --reqlock-before source tree"
            env["PYTHONPATH"] = str(settings.before_src)
        return argv, env, None
    if tool == "uv":
        if settings.uv is None:
            return None, {}, "uv not found (use --uv PATH)"
        argv = [
            settings.uv,
            "pip",
            "compile",
            "--no-config",
            "--generate-hashes",
            *(
                ["--universal", "--python-version", settings.universal]
                if settings.universal
                else ["--python", settings.python]
            ),
            "--index-url",
            url,
            str(in_file),
            "-o",
            str(out_file),
        ]
        return argv, {"UV_CACHE_DIR": str(cache)}, None
    if settings.universal:
        return None, {}, f"{tool} has no universal mode"
    if tool == "pip-lock":
        # --isolated makes pip ignore PIP_CACHE_DIR, hence --cache-dir as well.
        argv = [
            settings.python,
            "-m",
            "pip",
            "lock",
            "--isolated",
            "--index-url",
            url,
            "--cache-dir",
            str(cache),
            "-r",
            str(in_file),
            "-o",
            str(out_file),
        ]
        return argv, {"PIP_CACHE_DIR": str(cache)}, None
    if tool == "pip-compile":
        if settings.pip_compile is None:
            return None, {}, "pip-compile not found (use --pip-compile PATH)"
        # --allow-unsafe: pin pip/setuptools like the other tools do, so counts compare.
        argv = [
            settings.pip_compile,
            "--no-config",
            "--generate-hashes",
            "--allow-unsafe",
            "--no-strip-extras",
            "--index-url",
            url,
            "--cache-dir",
            str(cache),
            "--pip-args",
            f"--isolated --cache-dir {cache}",
            str(in_file),
            "-o",
            str(out_file),
        ]
        return argv, {"PIP_CACHE_DIR": str(cache)}, None
    raise ValueError(f"unknown tool {tool!r}")


def run_once(
    *,
    corpus: str,
    tool: str,
    mode: str,
    run: int,
    settings: Settings,
    source: Path,
    run_dir: Path,
    cache: Path,
) -> RunResult:
    run_dir.mkdir(parents=True, exist_ok=True)
    in_file = run_dir / source.name
    shutil.copyfile(source, in_file)
    # Universal: uv writes pylock.toml too, so that the sizes of the locks compare.
    pylock = tool in PYLOCK_TOOLS or (settings.universal is not None and tool == "uv")
    out_file = run_dir / ("pylock.toml" if pylock else "requirements.txt")
    argv, extra_env, error = build_command(tool, settings, in_file, out_file, cache)
    if argv is None:
        return RunResult(corpus, tool, mode, run, 0.0, None, error, [], None, None, [])
    started = time.perf_counter()
    # Runs are sequential: the children's usage grows by exactly this run's.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    try:
        proc = subprocess.run(
            argv,
            cwd=run_dir,
            env=clean_env(extra_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=settings.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        seconds = time.perf_counter() - started
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        reason = f"timed out after {settings.timeout:g} s"
        return RunResult(
            corpus, tool, mode, run, seconds, None, reason, tail(stderr), None, None, argv
        )
    except OSError as exc:
        return RunResult(corpus, tool, mode, run, 0.0, None, str(exc), [], None, None, argv)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        lines = tail(proc.stderr) or tail(proc.stdout)
        reason = f"exit code {proc.returncode}"
        return RunResult(
            corpus, tool, mode, run, seconds, proc.returncode, reason, lines, None, None, argv
        )
    pins = read_pins(out_file, tool)
    if pins is None:
        return RunResult(
            corpus,
            tool,
            mode,
            run,
            seconds,
            0,
            "no output file written",
            tail(proc.stderr),
            None,
            None,
            argv,
        )
    result = RunResult(corpus, tool, mode, run, seconds, 0, None, [], pins[0], pins[1], argv)
    result.size = out_file.stat().st_size
    if resource is not None and usage is not None:
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        result.cpu = (now.ru_utime - usage.ru_utime) + (now.ru_stime - usage.ru_stime)
    return result


def progress(result: RunResult, total: int) -> None:
    label = "prime" if result.run == 0 else f"{result.run}/{total}"
    where = f"[{result.corpus} {result.tool} {result.mode} {label}]"
    if result.ok:
        cpu = "" if result.cpu is None else f" ({result.cpu:.2f} s CPU)"
        print(
            f"{where} {result.seconds:.2f} s{cpu}, {result.pins} pins", file=sys.stderr, flush=True
        )
    else:
        print(
            f"{where} FAILED ({result.error}) after {result.seconds:.2f} s",
            file=sys.stderr,
            flush=True,
        )
        for line in result.stderr_tail:
            print(f"    | {line}", file=sys.stderr, flush=True)


def run_mode(
    *,
    corpus: str,
    tools: Sequence[str],
    mode: str,
    runs: Mapping[str, int],
    settings: Settings,
    source: Path,
    base: Path,
    keep: bool,
) -> list[RunResult]:
    """Every tool's runs of one corpus in one mode, alternating: run 1 of each tool,
    then run 2 of each... (warm: after one priming run of each tool, not measured).
    ``runs`` is how many measured runs each tool gets."""
    results: list[RunResult] = []
    caches = {tool: base / corpus / tool / mode / "cache" for tool in tools}
    active = list(tools)
    primed_at: dict[str, float] = {}
    if mode == "warm":
        for tool in tools:
            prime = _run(
                corpus,
                tool,
                mode=mode,
                index=0,
                settings=settings,
                source=source,
                base=base,
                cache=caches[tool],
            )
            progress(prime, runs[tool])
            results.append(prime)
            if not prime.ok:
                print(f"[{corpus} {tool} warm] priming failed: warm runs skipped", file=sys.stderr)
                active.remove(tool)
            primed_at[tool] = time.monotonic()
    for index in range(1, max(runs.values(), default=0) + 1):
        for tool in [t for t in active if index <= runs[t]]:
            cache = (
                caches[tool] if mode == "warm" else base / corpus / tool / mode / f"cache{index}"
            )
            started = time.monotonic()
            result = _run(
                corpus,
                tool,
                mode=mode,
                index=index,
                settings=settings,
                source=source,
                base=base,
                cache=cache,
            )
            if mode == "warm":
                result.since_prime = since = started - primed_at[tool]
                if since > FRESHNESS_SECONDS:
                    print(
                        f"[{corpus} {tool} warm {index}] started {since:.0f} s after priming: "
                        f"beyond the {FRESHNESS_SECONDS:.0f} s page freshness window",
                        file=sys.stderr,
                    )
            elif not keep:
                shutil.rmtree(cache, ignore_errors=True)
            progress(result, runs[tool])
            results.append(result)
    if not keep:
        for cache in caches.values():
            shutil.rmtree(cache, ignore_errors=True)
    return results


def _run(
    corpus: str,
    tool: str,
    *,
    mode: str,
    index: int,
    settings: Settings,
    source: Path,
    base: Path,
    cache: Path,
) -> RunResult:
    run_dir = base / corpus / tool / mode / (f"run{index}" if index else "prime")
    return run_once(
        corpus=corpus,
        tool=tool,
        mode=mode,
        run=index,
        settings=settings,
        source=source,
        run_dir=run_dir,
        cache=cache,
    )


# ------------------------------------------------------------------------ report


@dataclasses.dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    ok: int
    total: int
    pins: int | None
    cpu: float | None = None  # median CPU seconds (user + system)


def summarise(results: Iterable[RunResult]) -> Summary | None:
    measured = [r for r in results if r.run > 0]
    good = [r for r in measured if r.ok]
    if not good:
        return None
    times = [r.seconds for r in good]
    pin_counts = {r.pins for r in good}
    pins = good[0].pins if len(pin_counts) == 1 else None
    cpus = [r.cpu for r in good if r.cpu is not None]
    cpu = statistics.median(cpus) if len(cpus) == len(good) else None
    return Summary(
        statistics.median(times), min(times), max(times), len(good), len(measured), pins, cpu
    )


def failures(results: Iterable[RunResult]) -> list[RunResult]:
    return [r for r in results if not r.ok]


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratio(a: Summary | None, b: Summary | None) -> float | None:
    if a is None or b is None or b.median <= 0:
        return None
    return a.median / b.median


def cpu_ratio(a: Summary | None, b: Summary | None) -> float | None:
    if a is None or b is None or a.cpu is None or not b.cpu:
        return None
    return a.cpu / b.cpu


def report_corpus(
    corpus: str, tools: Sequence[str], modes: Sequence[str], results: Sequence[RunResult]
) -> dict[tuple[str, str], Summary | None]:
    print(f"\n=== {corpus} ===")
    head = ["tool", "mode", "median s", "(min-max)", "CPU s", "ok runs", "pins", "lock KiB"]
    rows: list[list[str]] = [head]
    summaries: dict[tuple[str, str], Summary | None] = {}
    for tool in tools:
        for mode in modes:
            mine = [r for r in results if r.tool == tool and r.mode == mode]
            summary = summarise(mine)
            summaries[tool, mode] = summary
            total = len([r for r in mine if r.run > 0])
            if summary is None:
                rows.append([tool, mode, "FAILED", "", "", f"0/{total}", "", ""])
                continue
            pins = "varies" if summary.pins is None else str(summary.pins)
            spread = f"({summary.low:.2f}-{summary.high:.2f})"
            cpu = "n/a" if summary.cpu is None else f"{summary.cpu:.2f}"
            ok = f"{summary.ok}/{summary.total}"
            sizes = [r.size for r in mine if r.ok and r.size is not None]
            size = f"{statistics.median(sizes) / 1024:.0f}" if sizes else ""
            rows.append([tool, mode, f"{summary.median:.2f}", spread, cpu, ok, pins, size])
    print(format_table(rows))

    failed = failures(results)
    if failed:
        print("\nfailures:")
        for result in failed:
            label = "prime" if result.run == 0 else f"run {result.run}"
            print(f"  {result.tool} {result.mode} {label}: {result.error}")
            for line in result.stderr_tail:
                print(f"      | {line}")

    if "reqlock" in tools:
        print(
            "\nratios (reqlock median / other median, wall time [CPU seconds];"
            " < 1 means reqlock is faster):"
        )
        for mode in modes:
            parts = []
            for other in tools:
                if other == "reqlock":
                    continue
                ours, theirs = summaries.get(("reqlock", mode)), summaries.get((other, mode))
                wall, seconds = ratio(ours, theirs), cpu_ratio(ours, theirs)
                parts.append(
                    f"reqlock/{other} = {'n/a' if wall is None else f'{wall:.2f}'}"
                    f" [{'n/a' if seconds is None else f'{seconds:.2f}'}]"
                )
            print(f"  {mode}: " + ", ".join(parts))
    return summaries


def report_targets(corpus: str, summaries: Mapping[tuple[str, str], Summary | None]) -> None:
    note = "" if corpus in TARGETS else "; not one of the issue's inputs"
    print(f"\ntargets for {corpus} (informative{note}):")
    cold, warm = TARGETS.get(corpus, TARGETS["trio"])
    checks = [
        ("cold", "uv", cold, f"cold reqlock <= {cold} x uv"),
        ("warm", "uv", warm, f"warm reqlock <= {warm} x uv"),
        # An earlier target, kept for pip users.
        ("cold", "pip-lock", 0.5, "cold reqlock <= 0.5 x pip lock"),
    ]
    for mode, other, limit, label in checks:
        if (("reqlock", mode) not in summaries) or ((other, mode) not in summaries):
            print(f"  {label:<32} SKIP (not measured)")
            continue
        value = ratio(summaries[("reqlock", mode)], summaries[(other, mode)])
        if value is None:
            print(f"  {label:<32} n/a  (a tool failed)")
        else:
            verdict = "PASS" if value <= limit else "MISS"
            print(f"  {label:<32} {verdict} ({value:.2f} x)")


def pin_sets(results: Iterable[RunResult], tool: str) -> list[dict[str, list[str]]]:
    """The distinct pin sets ``tool`` produced (normally exactly one)."""
    seen: list[dict[str, list[str]]] = []
    for result in results:
        pins = result.pin_set
        if result.tool == tool and result.ok and pins is not None and pins not in seen:
            seen.append(pins)
    return seen


def report_pins(corpus: str, tools: Sequence[str], results: Sequence[RunResult]) -> dict[str, Any]:
    print(f"\npins for {corpus} (name==version sets):")
    chosen: dict[str, dict[str, list[str]]] = {}
    for tool in tools:
        sets = pin_sets(results, tool)
        if not sets:
            print(f"  {tool}: no successful output")
            continue
        if len(sets) > 1:
            print(
                f"  {tool}: {len(sets)} different pin sets across runs (index changed?);"
                " comparing the first"
            )
        chosen[tool] = sets[0]
    if len(chosen) < 2:
        print("  fewer than two tools succeeded: nothing to compare")
        return {"tools": sorted(chosen), "differences": {}}
    names = sorted(set().union(*(pins.keys() for pins in chosen.values())))
    differences: dict[str, dict[str, str]] = {}
    for name in names:
        views = {tool: ",".join(pins.get(name, [])) or "-" for tool, pins in chosen.items()}
        if len(set(views.values())) > 1:
            differences[name] = views
    label = ", ".join(f"{tool} {len(pins)}" for tool, pins in chosen.items())
    if not differences:
        print(f"  identical ({label} packages)")
    else:
        print(f"  {len(differences)} of {len(names)} names differ ({label} packages):")
        for name, views in differences.items():
            print(f"    {name}: " + "  ".join(f"{tool}={v}" for tool, v in views.items()))
    return {"tools": sorted(chosen), "differences": differences}


def tool_versions(settings: Settings, tools: Sequence[str]) -> dict[str, str]:
    probes: dict[str, list[str] | None] = {
        "reqlock": [settings.python, "-c", "import reqlock; print(reqlock.__version__)"],
        "uv": [settings.uv, "--version"] if settings.uv else None,
        "pip-lock": [settings.python, "-m", "pip", "--version"],
        "pip-compile": [settings.pip_compile, "--version"] if settings.pip_compile else None,
    }
    versions: dict[str, str] = {}
    for tool in tools:
        if tool == BEFORE:
            versions[tool] = f"the source tree {settings.before_src}"
            continue
        argv = probes[tool]
        if argv is None:
            versions[tool] = "not found"
            continue
        try:
            proc = subprocess.run(
                argv, env=clean_env({}), capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            versions[tool] = f"unavailable ({exc})"
            continue
        text = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
        versions[tool] = text[0] if proc.returncode == 0 and text else "unavailable"
    return versions


def python_version(python: str) -> str:
    try:
        proc = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() or "unknown"


# -------------------------------------------------------------------------- main


def parse_list(value: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
        )
    return items


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time reqlock, uv, pip lock and pip-compile locking the corpus files.",
    )
    parser.add_argument(
        "--corpus",
        nargs="+",
        metavar="NAME",
        default=list(DEFAULT_CORPORA),
        help=f"corpus files, without .in, or 'all' "
        f"(default: {' '.join(DEFAULT_CORPORA)}; "
        f"available: {' '.join(ALL_CORPORA)})",
    )
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=DEFAULT_CORPUS_DIR,
        help="directory of the .in files (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="measured runs per tool and mode; the median is reported (default: %(default)s)",
    )
    parser.add_argument(
        "--pip-compile-runs",
        type=int,
        default=1,
        help="measured runs for pip-compile, which is slow (default: %(default)s)",
    )
    parser.add_argument(
        "--tools",
        default=",".join(ALL_TOOLS),
        type=lambda v: parse_list(v, ALL_TOOLS, "tool"),
        help="comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(ALL_MODES),
        type=lambda v: parse_list(v, ALL_MODES, "mode"),
        help="comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--index-url",
        default=DEFAULT_INDEX,
        help="the index every tool resolves against (default: %(default)s)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter to lock for and to run reqlock and pip with "
        "(default: this one, %(default)s)",
    )
    parser.add_argument("--uv", help="uv executable (default: next to --python, else PATH)")
    parser.add_argument(
        "--pip-compile",
        dest="pip_compile",
        help="pip-compile executable (default: next to --python, else PATH)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds before a single run is abandoned (default: %(default)s)",
    )
    parser.add_argument(
        "--reqlock-before",
        type=Path,
        metavar="SRC",
        help="also run the reqlock of this source tree (the src/ of a worktree of an older "
        "commit, put on PYTHONPATH) as the tool reqlock-before, for before/after ratios",
    )
    parser.add_argument(
        "--universal",
        metavar="X.Y",
        help="universal locks for Python >= X.Y: reqlock --universal and uv pip compile "
        "--universal (written as pylock.toml, to compare sizes); pip has no such mode",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="save raw results here")
    parser.add_argument(
        "--workdir", type=Path, help="where the per-run directories go (default: a new temp dir)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep run directories, outputs and caches afterwards"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.pip_compile_runs < 1:
        parser.error("--runs and --pip-compile-runs must be at least 1")
    corpora: list[str] = []
    for name in args.corpus:
        names = list(ALL_CORPORA) if name == "all" else [name.removesuffix(".in")]
        corpora += [n for n in names if n not in corpora]
    missing = [str(corpus_path(n, args.corpus_dir)) for n in corpora]
    missing = [path for path in missing if not Path(path).is_file()]
    if missing:
        parser.error(f"no corpus file {', '.join(missing)}")
    if args.reqlock_before is not None:
        if not (args.reqlock_before / "reqlock" / "__init__.py").is_file():
            parser.error(f"--reqlock-before: no reqlock package in {args.reqlock_before}")
        if "reqlock" in args.tools and BEFORE not in args.tools:
            args.tools.insert(args.tools.index("reqlock") + 1, BEFORE)
    args.corpus = corpora
    return args


def corpus_path(name: str, corpus_dir: Path) -> Path:
    """The input file of corpus ``name``: one kept here, else ``corpus_dir/NAME.in``."""
    return DATA_CORPORA.get(name) or corpus_dir / f"{name}.in"


def compile_sources(before: Path | None = None) -> None:
    """Compile reqlock's bytecode (this tree's, and ``before``'s) first, as an
    installed copy has it: with ``PYTHONDONTWRITEBYTECODE`` set, every run would
    compile edited (or, for a before tree, all) modules again, 0.05-0.1 s of each
    run. bench_scale.py calls it too."""
    for tree in [REPO_ROOT / "src", *([before] if before else [])]:
        if (tree / "reqlock").is_dir():
            compileall.compile_dir(str(tree / "reqlock"), quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        python=args.python,
        index_url=args.index_url,
        uv=find_executable("uv", args.python, args.uv),
        pip_compile=find_executable("pip-compile", args.python, args.pip_compile),
        timeout=args.timeout,
        before_src=args.reqlock_before.resolve() if args.reqlock_before else None,
        universal=args.universal,
    )
    tools: list[str] = args.tools
    modes: list[str] = args.modes
    compile_sources(settings.before_src)
    versions = tool_versions(settings, tools)
    print(f"python: {settings.python}   index: {settings.index_url}")
    print("tools:  " + "; ".join(f"{tool}: {versions[tool]}" for tool in tools))
    print(
        f"runs:   {args.runs} per tool and mode (pip-compile {args.pip_compile_runs}), "
        f"alternating between the tools; modes {', '.join(modes)}"
    )

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="reqlock-bench-", dir=args.workdir))
    started = _dt.datetime.now(_dt.timezone.utc)
    all_results: list[RunResult] = []
    report: dict[str, Any] = {}
    try:
        for corpus in args.corpus:
            source = corpus_path(corpus, args.corpus_dir)
            results: list[RunResult] = []
            runs = {t: args.pip_compile_runs if t == "pip-compile" else args.runs for t in tools}
            for mode in modes:
                results += run_mode(
                    corpus=corpus,
                    tools=tools,
                    mode=mode,
                    runs=runs,
                    settings=settings,
                    source=source,
                    base=base,
                    keep=args.keep,
                )
            all_results += results
            summaries = report_corpus(corpus, tools, modes, results)
            report_targets(corpus, summaries)
            pins = report_pins(corpus, tools, results)
            report[corpus] = {
                "summary": {
                    f"{tool}/{mode}": dataclasses.asdict(summary) if summary else None
                    for (tool, mode), summary in summaries.items()
                },
                "pins": pins,
            }
    finally:
        if args.keep:
            print(f"\nrun directories kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    if args.json:
        payload = {
            "started": started.isoformat(timespec="seconds"),
            "python": settings.python,
            "python_version": python_version(settings.python),
            "platform": platform.platform(),
            "index_url": settings.index_url,
            "tools": versions,
            "runs": [dataclasses.asdict(r) for r in all_results],
            "report": report,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nraw results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark ``reqlock verify`` against ``pip freeze`` and ``uv pip sync --dry-run``.

The environment under test is a virtual environment holding the ``jupyter``
distribution and everything it depends on (~100 packages), installed from PyPI by
that environment's own pip. pip's installation report (``--report``) gives each
installed file's URL and sha256, from which this script writes a PEP 751
``pylock.toml`` that matches the environment exactly. Then, in one run and
interleaved, it times (wall clock, whole processes):

* ``reqlock verify --no-files`` (versions, tags, origins; no hashing)
* ``reqlock verify`` (the same plus every RECORD hash checked)
* ``uv pip sync --dry-run pylock.toml`` (uv's own check of the same lock)
* ``python -m pip freeze`` (inside the environment)

and prints medians (wall clock, and CPU time of the process and its children) and
the two ratios the issue sets targets for: ``verify (full) / pip freeze <= 1.0``
and ``verify --no-files / uv dry-run <= 0.5``. ``--baseline-src DIR`` times both
verify commands of another checkout's ``src`` too (e.g. ``git archive`` of an
older commit), interleaved with the rest, for a before/after on equal terms.

The machine's pip and uv configuration is switched off everywhere
(``PIP_CONFIG_FILE`` = null device, no inherited ``PIP_*``/``UV_*`` variables, pip
``--isolated``, uv ``--no-config``). reqlock runs from this checkout (``src/`` on
``PYTHONPATH``), under the interpreter running this script, with its bytecode
compiled first, as an installed copy has it (with ``PYTHONDONTWRITEBYTECODE`` set,
an edited module would otherwise be compiled again at every run).

    python benchmarks/bench_verify.py [--workdir DIR] [--runs 9] [--rebuild]
        [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = Path("/tmp/reqlock-bench-verify")
DEFAULT_INDEX = "https://pypi.org/simple"
ALLOW_EXTRA = ("pip", "setuptools")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("PIP_", "UV_", "REQLOCK_"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra or {})
    return env


def venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def build_environment(workdir: Path, index_url: str, rebuild: bool) -> tuple[Path, Path]:
    """Create the venv with jupyter and write a lock matching it; reuse when present."""
    env_dir = workdir / "venv"
    lock_path = workdir / "pylock.toml"
    done = workdir / ".complete"
    if done.exists() and not rebuild:
        return env_dir, lock_path
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    print(f"creating {env_dir} and installing jupyter from {index_url} ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True).create(env_dir)
    report = workdir / "install-report.json"
    subprocess.run(
        [
            str(venv_python(env_dir)),
            "-m",
            "pip",
            "--isolated",
            "--disable-pip-version-check",
            "install",
            "--index-url",
            index_url,
            "--report",
            str(report),
            "jupyter",
        ],
        check=True,
        env=clean_env(),
    )
    records = installed_records(env_dir)
    lock_path.write_text(
        lock_from_report(json.loads(report.read_text()), records), encoding="utf-8"
    )
    done.write_text("ok\n")
    return env_dir, lock_path


def installed_records(env_dir: Path) -> dict[tuple[str, str], str]:
    """RECORD digests of the installed distributions, by (name, version), for the
    lock's ``[packages.tool.reqlock.records]``: with them verify runs its deep check
    (a digest reqlock read from the wheel at lock time is the same string)."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    import csv
    from email.parser import HeaderParser

    from packaging.utils import canonicalize_name

    from reqlock.deploy.record import installed_record_digest

    found: dict[tuple[str, str], str] = {}
    for dist_info in env_dir.glob("lib/python*/site-packages/*.dist-info"):
        headers = HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        rows = [
            (row[0], row[1] or None)
            for row in csv.reader((dist_info / "RECORD").read_text(encoding="utf-8").splitlines())
            if row
        ]
        key = (canonicalize_name(headers["Name"]), headers["Version"])
        found[key] = installed_record_digest(rows, dist_info=dist_info.name)
    return found


def lock_from_report(report: Mapping[str, Any], records: Mapping[tuple[str, str], str]) -> str:
    """A pylock.toml text with one package per installed item of a pip report."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    import tomli_w
    from packaging.pylock import Pylock
    from packaging.utils import canonicalize_name

    packages = []
    for item in report["install"]:
        info = item["download_info"]
        url = info["url"]
        sha256 = info["archive_info"]["hashes"]["sha256"]
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        entry: dict[str, Any] = {
            "name": canonicalize_name(item["metadata"]["name"]),
            "version": item["metadata"]["version"],
            "index": DEFAULT_INDEX,
        }
        file = {"name": filename, "url": url, "hashes": {"sha256": sha256}}
        if filename.endswith(".whl"):
            entry["wheels"] = [file]
            digest = records.get((entry["name"], entry["version"]))
            if digest:
                entry["tool"] = {"reqlock": {"records": {filename: digest}}}
        else:
            entry["sdist"] = file
        packages.append(entry)
    packages.sort(key=lambda p: p["name"])
    data = {
        "lock-version": "1.0",
        "created-by": "reqlock-benchmark",
        "environments": [f"sys_platform == '{sys.platform}'"],
        "packages": packages,
    }
    Pylock.from_dict(data)  # validate
    return tomli_w.dumps(data)


def verify_command(env_dir: Path, lock: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reqlock",
        "verify",
        str(lock),
        "--python",
        str(venv_python(env_dir)),
        "--allow-extra",
        *ALLOW_EXTRA,
    ]


def commands(env_dir: Path, lock: Path) -> dict[str, list[str]]:
    python = str(venv_python(env_dir))
    verify = verify_command(env_dir, lock)
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    return {
        "reqlock verify --no-files": [*verify, "--no-files"],
        "reqlock verify": verify,
        "uv pip sync --dry-run": [
            uv,
            "pip",
            "sync",
            "--no-config",
            "--dry-run",
            "--python",
            python,
            str(lock),
        ],
        "pip freeze": [python, "-m", "pip", "--isolated", "--disable-pip-version-check", "freeze"],
    }


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(command: Sequence[str], env: Mapping[str, str]) -> tuple[float, float, int, str]:
    """Wall time, CPU time (the process and the children it waited for), exit code
    and output of one run."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, env=dict(env), check=False)
    elapsed = time.perf_counter() - start
    output = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return elapsed, _children_cpu() - cpu, proc.returncode, output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--index-url", default=DEFAULT_INDEX)
    parser.add_argument("--runs", type=int, default=9, help="measured runs per tool")
    parser.add_argument("--rebuild", action="store_true", help="recreate the environment")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        metavar="DIR",
        help="also time verify from this src directory (another checkout)",
    )
    args = parser.parse_args(argv)

    env_dir, lock = build_environment(args.workdir, args.index_url, args.rebuild)
    sources = [REPO_ROOT / "src", *([args.baseline_src] if args.baseline_src else [])]
    for src in sources:
        compileall.compile_dir(str(src / "reqlock"), quiet=1)
    env = clean_env({"PYTHONPATH": str(REPO_ROOT / "src")})
    runs = {name: (command, env) for name, command in commands(env_dir, lock).items()}
    if args.baseline_src:
        old_env = clean_env({"PYTHONPATH": str(args.baseline_src.resolve())})
        verify = verify_command(env_dir, lock)
        runs["baseline verify --no-files"] = ([*verify, "--no-files"], old_env)
        runs["baseline verify"] = (verify, old_env)
    for name, (command, run_env) in runs.items():  # warm-up, and a sanity check of each
        _, _, code, output = time_once(command, run_env)
        if "verify" in name and code != 0:
            print(f"{name} failed (exit {code}):\n{output}", file=sys.stderr)
            return 2
        if code != 0:
            print(f"warning: {name} exited {code}: {output.strip()[-300:]}", file=sys.stderr)
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.runs):  # interleaved, so drift hits every tool alike
        for name, (command, run_env) in runs.items():
            wall, used, _, _ = time_once(command, run_env)
            times[name].append(wall)
            cpu[name].append(used)

    packages = lock.read_text(encoding="utf-8").count("[[packages]]")
    print(f"environment: {env_dir} ({packages} locked packages), {args.runs} runs each")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        spread = f"min {min(times[name]) * 1000:.0f} / max {max(times[name]) * 1000:.0f}"
        used = statistics.median(cpu[name]) * 1000
        print(f"  {name:28} median {median * 1000:7.1f} ms  ({spread} ms)  cpu {used:6.1f} ms")
    full = medians["reqlock verify"] / medians["pip freeze"]
    quick = medians["reqlock verify --no-files"] / medians["uv pip sync --dry-run"]
    print(f"ratio verify (full) / pip freeze          = {full:.2f}  (target <= 1.0)")
    print(f"ratio verify --no-files / uv sync dry-run = {quick:.2f}  (target <= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

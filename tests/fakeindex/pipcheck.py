"""Check resolution cases against real pip: ``python -m tests.fakeindex.pipcheck``.

Serves the universe on 127.0.0.1, runs ``pip install --dry-run --report`` for each
case with the machine's pip configuration switched off, and prints where pip's
answer differs from the case's ``expected`` / ``error``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

__all__ = ["PipOutcome", "Venv", "isolated_pip_env", "pip_resolve"]


def isolated_pip_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for pip/uv subprocesses with no inherited configuration."""
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if not key.startswith(("PIP_", "UV_"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["UV_NO_CONFIG"] = "1"
    return env


@dataclass(frozen=True, kw_only=True, slots=True)
class Venv:
    root: Path
    python: Path
    bin_dir: Path

    def pip(self, *args: str) -> list[str]:
        """A command line running this venv's pip, isolated from configuration."""
        return [str(self.python), "-m", "pip", "--isolated", *args]


@dataclass(frozen=True, kw_only=True, slots=True)
class PipOutcome:
    pins: dict[str, str] | None  # None when pip failed
    output: str  # stderr (and stdout on failure)


def pip_resolve(
    files: Mapping[str, str],
    index_url: str,
    *,
    pre: bool = False,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
) -> PipOutcome:
    """Resolve ``files["requirements.txt"]`` with pip, as a dry run, into pins."""
    with tempfile.TemporaryDirectory(prefix="reqlock-pipcheck-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        command = [
            python,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--dry-run",
            "--ignore-installed",
            "--report",
            "report.json",
            "--index-url",
            index_url,
            "-r",
            "requirements.txt",
        ]
        if pre:
            command.append("--pre")
        done = subprocess.run(
            command,
            cwd=tmp,
            env=dict(env) if env is not None else isolated_pip_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            return PipOutcome(pins=None, output=done.stderr + done.stdout)
        report = json.loads((Path(tmp) / "report.json").read_text())
    pins = {
        str(canonicalize_name(item["metadata"]["name"])): item["metadata"]["version"]
        for item in report["install"]
    }
    return PipOutcome(pins=dict(sorted(pins.items())), output=done.stderr + done.stdout)


def main() -> int:
    from tests.fakeindex import CASES_DIR, UNIVERSE_TOML, build_universe, load_cases, make_app
    from tests.fakeindex.server import serve

    cases = load_cases(CASES_DIR)
    differing = 0
    with tempfile.TemporaryDirectory(prefix="reqlock-universe-") as tmp:
        universe = build_universe(UNIVERSE_TOML, Path(tmp))
        with serve(make_app(universe)) as base, ThreadPoolExecutor(4) as pool:
            outcomes = list(
                pool.map(
                    lambda c: pip_resolve(
                        c.files, f"{base}/simple/", pre=bool(c.options.get("pre"))
                    ),
                    cases,
                )
            )
    for case, outcome in zip(cases, outcomes, strict=True):
        if case.expected is not None:
            agrees = outcome.pins == case.expected
            detail = f"pip: {outcome.pins}" if outcome.pins is not None else outcome.output
        else:
            assert case.error is not None
            missing = [word for word in case.error if word not in outcome.output]
            agrees = outcome.pins is None and not missing
            detail = f"pip: {outcome.pins}" if outcome.pins else f"words pip lacks: {missing}"
        differing += not agrees
        print(f"{'same' if agrees else 'DIFF'}  {case.name}: {detail.strip()[:2000]}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())

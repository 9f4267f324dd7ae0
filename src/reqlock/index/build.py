"""Build the metadata of an sdist whose metadata is not static, through pip's CLI.

pip runs in a subprocess (never imported) with the machine's pip configuration
switched off, so the result depends only on the indexes reqlock was given.
"""

from __future__ import annotations

__all__ = ["build_metadata"]

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reqlock.errors import MetadataError
from reqlock.pipcall import clean_pip_env
from reqlock.urls import redact_url


def build_metadata(
    sdist: Path,
    *,
    package: str,
    version: str,
    index_urls: Sequence[str],
    python: str = sys.executable,
    timeout: float = 900.0,
) -> Mapping[str, Any]:
    """Run ``pip install --dry-run --report`` on ``sdist``; return its install entry.

    pip prepares the metadata (PEP 517 ``prepare_metadata_for_build_wheel``) in an
    isolated build environment whose build requirements come from ``index_urls``.
    """
    what = f"{package} {version}" if version else package
    env = clean_pip_env()
    # Index URLs travel in the environment, not on the command line, so that
    # credentials in them do not show up in process listings.
    if index_urls:
        env["PIP_INDEX_URL"] = index_urls[0]
        if len(index_urls) > 1:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(index_urls[1:])
    else:
        # --no-index: the build environment must not reach an index either.
        env["PIP_NO_INDEX"] = "1"
    with tempfile.TemporaryDirectory(prefix="reqlock-build-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            python,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            str(sdist),
        ]
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MetadataError(
                f"{what}: could not run pip ({_interpreter(python)}) to build its metadata: {exc}",
                package=package,
                version=version,
                reason="build-failed",
            ) from None
        if proc.returncode != 0 or not report.exists():
            tail = _last_lines(proc.stderr or proc.stdout, index_urls)
            raise MetadataError(
                f"{what}: preparing its metadata failed (pip on {_interpreter(python)}; "
                "the build backend runs on this interpreter, not on the lock's targets):"
                f"\n{tail}",
                package=package,
                version=version,
                reason="build-failed",
                hint=f"pin a version of {package} that has a wheel, or fix its build",
            )
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
            item = data["install"][0]
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            raise MetadataError(
                f"{what}: pip wrote no usable report",
                package=package,
                version=version,
                reason="build-failed",
            ) from None
    if not isinstance(item, Mapping):
        raise MetadataError(
            f"{what}: pip wrote no usable report",
            package=package,
            version=version,
            reason="build-failed",
        )
    return item


def _last_lines(text: str, secrets: Sequence[str], count: int = 12) -> str:
    for url in secrets:
        text = text.replace(url, redact_url(url))
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[-count:])


def _interpreter(python: str) -> str:
    """The interpreter a build ran on, as the user should see it."""
    if python == sys.executable:
        return f"{python}, Python {sys.version.split()[0]}"
    return python

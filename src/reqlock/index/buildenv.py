"""Build environments: build requirements installed by pip, shared within a run.

Each distinct set of build requirements (on one interpreter, from one set of
indexes) is installed once, by ``pip install --target`` in a subprocess, into a
directory that every build needing that set puts on its path. Sdists without a
``[build-system]`` all need ``setuptools>=40.8.0``, so a lock that builds ten of
them installs setuptools once, where a ``pip install`` per sdist installed it ten
times. Environments are never changed once made, so concurrent builds share them.
"""

from __future__ import annotations

__all__ = ["BuildEnv", "BuildEnvError", "BuildEnvs", "unmet_requirements"]

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from reqlock.index.once import Once
from reqlock.pipcall import clean_pip_env
from reqlock.urls import redact_url

_TAIL_BYTES = 64 * 1024


class BuildEnvError(Exception):
    """pip could not install a set of build requirements (``detail`` says why)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class BuildEnv:
    """Installed build requirements: directories for ``sys.path`` and ``PATH``."""

    paths: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()
    installed: Mapping[NormalizedName, Version] = field(default_factory=dict)


def unmet_requirements(
    requires: Sequence[Requirement], env: BuildEnv, markers: Mapping[str, str]
) -> list[Requirement]:
    """The requirements of ``requires`` that apply on the build interpreter (its
    ``markers``) and that ``env`` does not satisfy, by name and version as pip
    checks them (pre-releases count; extras are not checked)."""
    unmet = []
    for req in requires:
        if req.marker is not None and not req.marker.evaluate(dict(markers)):
            continue
        have = env.installed.get(canonicalize_name(req.name))
        if have is None or not req.specifier.contains(have, prereleases=True):
            unmet.append(req)
    return unmet


class BuildEnvs:
    """The build environments of one run, made on demand; :meth:`close` removes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._envs: dict[tuple[str, ...], Once[BuildEnv]] = {}

    def get(
        self,
        requires: Sequence[Requirement],
        *,
        python: str,
        index_urls: Sequence[str],
        timeout: float,
    ) -> BuildEnv:
        """The environment with ``requires`` installed (made by the first caller,
        waited for by the others); :class:`BuildEnvError` if pip fails."""
        wanted = sorted({str(r) for r in requires})
        if not wanted:
            return BuildEnv()
        key = (python, *index_urls, "\0", *wanted)
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="reqlock-buildenv-"))
            once = self._envs.get(key)
            if once is None:
                target = self._root / str(len(self._envs))
                once = self._envs[key] = Once(
                    lambda: _install(wanted, target, python, index_urls, timeout)
                )
        return once.result()

    def close(self) -> None:
        """Remove every environment made (after the builds that used them)."""
        with self._lock:
            root, self._root = self._root, None
            self._envs = {}
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _install(
    wanted: list[str], target: Path, python: str, index_urls: Sequence[str], timeout: float
) -> BuildEnv:
    env = clean_pip_env()
    # As for every pip run of reqlock's: index URLs (which may hold credentials)
    # travel in the environment, never on the command line.
    if index_urls:
        env["PIP_INDEX_URL"] = index_urls[0]
        if len(index_urls) > 1:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(index_urls[1:])
    else:
        env["PIP_NO_INDEX"] = "1"
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--ignore-installed",
        "--no-warn-script-location",
        "--progress-bar",
        "off",
        "--quiet",
        # As pip does for its build environments: compiling every module costs
        # more than the hooks save (measured: 10.3 against 12.1 CPU-s for ten
        # sdists with ten backends); Python caches what the hooks import.
        "--no-compile",
        *wanted,
    ]
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.run(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildEnvError(f"could not run pip on {python}: {exc}") from None
        if proc.returncode != 0:
            raise BuildEnvError(output_tail(out, index_urls))
    return BuildEnv(
        paths=(str(target),),
        scripts=tuple(str(target / d) for d in ("bin", "Scripts") if (target / d).is_dir()),
        installed=_installed(target),
    )


def _installed(target: Path) -> dict[NormalizedName, Version]:
    """Name and version of each ``*.dist-info`` pip put in ``target``."""
    found: dict[NormalizedName, Version] = {}
    for entry in os.listdir(target):
        stem, dot, suffix = entry.rpartition(".")
        name, dash, version = stem.rpartition("-")
        if not (dot and suffix == "dist-info" and dash and name):
            continue
        try:
            found[canonicalize_name(name)] = Version(version)
        except InvalidVersion:
            continue
    return found


def output_tail(out: IO[bytes], secrets: Sequence[str], count: int = 12) -> str:
    """The last ``count`` non-blank lines of the captured output file ``out`` (read
    from its last 64 KiB only), with the URLs in ``secrets`` redacted, indented for
    an error message."""
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - _TAIL_BYTES))
    text = out.read().decode("utf-8", "replace")
    for url in secrets:
        text = text.replace(url, redact_url(url))
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[-count:])

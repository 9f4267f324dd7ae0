"""Build the metadata of a source tree or sdist whose metadata is not static.

reqlock is the PEP 517 frontend: it unpacks the sdist, reads ``[build-system]``,
has pip (its command line, in a subprocess, with the machine's pip configuration
off) install the build requirements into a build environment shared by every
build of the run that needs the same ones (:mod:`reqlock.index.buildenv`), and
runs the backend's ``get_requires_for_build_wheel`` and
``prepare_metadata_for_build_wheel`` hooks in an isolated interpreter
(:mod:`reqlock.index.hookrunner`). Requirements the backend adds that the
environment lacks are installed into a second environment and the hooks run
again there, so metadata always comes from a complete build environment, as
with pip.
"""

from __future__ import annotations

__all__ = ["MetadataBuilder", "build_metadata"]

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from reqlock.errors import MetadataError
from reqlock.files import NotARegularFile, TooLarge, read_regular
from reqlock.index.buildenv import (
    BuildEnv,
    BuildEnvError,
    BuildEnvs,
    output_tail,
    unmet_requirements,
)
from reqlock.index.buildsource import BuildSystem, build_system, unpack_sdist
from reqlock.index.headers import email_fields
from reqlock.pipcall import clean_pip_env

_RUNNER = Path(__file__).with_name("hookrunner.py")
_MAX_RESULT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Job:
    """One build: what is built, where, on which interpreter, from which indexes."""

    package: str
    version: str
    python: str
    index_urls: Sequence[str]
    timeout: float

    @property
    def label(self) -> str:
        return f"{self.package} {self.version}" if self.version else self.package

    def failed(self, what: str, hint: str | None = None) -> MetadataError:
        return MetadataError(
            f"{self.label}: {what}",
            package=self.package,
            version=self.version,
            reason="build-failed",
            hint=hint or f"pin a version of {self.package} that has a wheel, or fix its build",
        )


@dataclass(frozen=True, slots=True)
class _Hooks:
    """What the backend's hooks answered."""

    requires: tuple[Requirement, ...]
    markers: Mapping[str, str]
    metadata: str


class MetadataBuilder:
    """Builds metadata, sharing build environments across calls until :meth:`close`.

    Called as :func:`build_metadata` is; safe to call from several threads.
    """

    def __init__(self) -> None:
        self._envs = BuildEnvs()

    def close(self) -> None:
        """Remove the build environments made so far."""
        self._envs.close()

    def __call__(
        self,
        path: Path,
        *,
        package: str,
        version: str,
        index_urls: Sequence[str],
        python: str = sys.executable,
        timeout: float = 900.0,
    ) -> Mapping[str, Any]:
        """The metadata of the sdist or source directory ``path``, in the shape of
        one ``install`` entry of ``pip install --report`` (``{"metadata": …}``).

        A directory is built in place, as pip does (backends may write into it).
        """
        job = _Job(package, version, python, list(index_urls), timeout)
        with tempfile.TemporaryDirectory(prefix="reqlock-build-") as tmp:
            work = Path(tmp)
            root = path
            if not path.is_dir():
                (work / "src").mkdir()
                root = unpack_sdist(path, work / "src", package=package, version=version)
            system = build_system(root, package=package, version=version)
            _refuse_urls(system.requires, job, "[build-system] requires")
            env = self._env(system.requires, job)
            hooks = _run_hooks(root, system, env, job, work / "out1")
            unmet = unmet_requirements(hooks.requires, env, hooks.markers)
            if unmet:
                _refuse_urls(unmet, job, "its backend's get_requires_for_build_wheel")
                env = self._env((*system.requires, *unmet), job)
                hooks = _run_hooks(root, system, env, job, work / "out2")
                still = unmet_requirements(hooks.requires, env, hooks.markers)
                if still:
                    raise job.failed(
                        "its backend asks for build requirements that cannot be installed "
                        "together with the others: " + ", ".join(map(str, still))
                    )
        return {"metadata": _report_metadata(hooks.metadata, job)}

    def _env(self, requires: Sequence[Requirement], job: _Job) -> BuildEnv:
        try:
            return self._envs.get(
                requires, python=job.python, index_urls=job.index_urls, timeout=job.timeout
            )
        except BuildEnvError as exc:
            raise job.failed(
                "pip could not install its build requirements ("
                + ", ".join(sorted({str(r) for r in requires}))
                + f"):\n{exc.detail}",
                hint=f"check that the index has them, or pin a version of {job.package} "
                "that has a wheel",
            ) from None


def build_metadata(
    path: Path,
    *,
    package: str,
    version: str,
    index_urls: Sequence[str],
    python: str = sys.executable,
    timeout: float = 900.0,
) -> Mapping[str, Any]:
    """Build the metadata of one sdist or source directory, with build environments
    of its own (see :class:`MetadataBuilder`, which shares them)."""
    builder = MetadataBuilder()
    try:
        return builder(
            path,
            package=package,
            version=version,
            index_urls=index_urls,
            python=python,
            timeout=timeout,
        )
    finally:
        builder.close()


def _refuse_urls(requires: Sequence[Requirement], job: _Job, where: str) -> None:
    """Build requirements come from the lock's indexes only: a direct URL there
    would send pip somewhere the index policy never allowed."""
    for req in requires:
        if req.url:
            raise job.failed(
                f"{where} names a direct URL ({req.name} @ …); reqlock installs build "
                "requirements only from the lock's indexes",
                hint=f"pin a version of {job.package} that has a wheel",
            )


def _run_hooks(root: Path, system: BuildSystem, env: BuildEnv, job: _Job, out: Path) -> _Hooks:
    out.mkdir()
    # The hooks get a directory of their own, empty: backends look for what they
    # wrote by listing it.
    (out / "hook").mkdir()
    request = out / "request.json"
    result = out / "result.json"
    request.write_text(
        json.dumps(
            {
                "backend": system.backend,
                "backend_path": list(system.backend_path),
                "paths": list(env.paths),
                "metadata_dir": str(out / "hook"),
            }
        ),
        encoding="utf-8",
    )
    command = [job.python, "-I", "-S", str(_RUNNER), str(request), str(result)]
    with tempfile.TemporaryFile() as output:
        try:
            proc = subprocess.run(
                command,
                cwd=root,
                env=_hook_env(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=job.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise job.failed(
                f"could not run its build backend on {_interpreter(job)}: {exc}"
            ) from None
        answer = _read_result(result)
        if proc.returncode != 0 or answer is None or "error" in answer:
            tail = output_tail(output, job.index_urls)
            error = str(answer.get("error", "")) if answer else ""
            raise job.failed(
                f"its build backend ({system.backend}) failed to prepare its metadata "
                f"(on {_interpreter(job)}; the backend runs on this interpreter, not on the "
                f"lock's targets):\n{tail}" + _indented_tail(error)
            )
    return _hooks_of(answer, job)


def _hook_env(env: BuildEnv) -> dict[str, str]:
    """The hook process's environment: no pip settings of the machine; the build
    environment's scripts first on ``PATH``, its directories on ``PYTHONPATH``
    (the runner itself ignores it, ``-I``; Pythons the backend starts see it)."""
    environ = clean_pip_env()
    environ["PYTHONNOUSERSITE"] = "1"
    environ.pop("PYTHONPATH", None)
    if env.paths:
        environ["PYTHONPATH"] = os.pathsep.join(env.paths)
    if env.scripts:
        environ["PATH"] = os.pathsep.join([*env.scripts, environ.get("PATH", "")])
    return environ


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_regular(path, limit=_MAX_RESULT_BYTES))
    except (OSError, ValueError, NotARegularFile, TooLarge):
        return None
    return data if isinstance(data, dict) else None


def _hooks_of(answer: Mapping[str, Any], job: _Job) -> _Hooks:
    requires, markers, metadata = (answer.get(k) for k in ("requires", "markers", "metadata"))
    if (
        not isinstance(requires, list)
        or not all(isinstance(r, str) for r in requires)
        or not isinstance(markers, dict)
        or not all(isinstance(v, str) for v in markers.values())
        or not isinstance(metadata, str)
    ):
        raise job.failed("its build backend's answer is not what PEP 517 hooks return")
    try:
        parsed = tuple(Requirement(r) for r in requires)
    except InvalidRequirement as exc:
        raise job.failed(
            f"its backend's get_requires_for_build_wheel returned an invalid requirement: {exc}"
        ) from None
    return _Hooks(parsed, markers, metadata)


def _report_metadata(text: str, job: _Job) -> dict[str, Any]:
    """The fields reqlock reads, named as in pip's report (PEP 566 JSON keys)."""
    item = email_fields(text.encode("utf-8", "surrogateescape"))
    if not item.get("name") or not item.get("version"):
        raise job.failed("the metadata its backend prepared has no Name or Version")
    item.setdefault("requires_dist", [])
    item.setdefault("provides_extra", [])
    item.pop("dynamic", None)
    return item


def _indented_tail(text: str, count: int = 12) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "".join("\n    " + line for line in lines[-count:])


def _interpreter(job: _Job) -> str:
    """The interpreter a build ran on, as the user should see it."""
    if job.python == sys.executable:
        return f"{job.python}, Python {sys.version.split()[0]}"
    return job.python

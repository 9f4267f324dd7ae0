"""Lock and check every deployment environment of a project, in order.

Each environment is resolved with the pins of the environments before it as
constraints, so a package that prod and dev share has the same version and files
in both; each keeps the pins of its own previous lock unless told to upgrade.
"""

from __future__ import annotations

__all__ = ["EnvironmentLock", "Staleness", "check_environments", "lock_environments"]

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.pylock import Pylock

from reqlock.lockfile import read_lock
from reqlock.locking.api import inputs_fingerprint, lock, stored_fingerprint
from reqlock.locking.config import Environment, ProjectConfig
from reqlock.locking.fingerprint import compare
from reqlock.locking.previous import PreviousFile, changes_from
from reqlock.locking.result import Change, LockResult
from reqlock.progress import Reporter
from reqlock.settings import Options

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvironmentLock:
    """The outcome of locking one environment."""

    environment: Environment
    result: LockResult
    changes: tuple[Change, ...]
    written: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Staleness:
    """Why a lock file no longer matches its inputs (empty ``reasons``: current)."""

    path: Path
    reasons: tuple[str, ...]

    @property
    def current(self) -> bool:
        """True when the lock matches its inputs."""
        return not self.reasons


def lock_environments(
    config: ProjectConfig,
    *,
    only: str | None = None,
    options: Options | None = None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[EnvironmentLock]:
    """Lock the environments of ``config`` in order (``only``: that one and the ones
    before it), writing ``pylock.<env>.toml`` files; returns what each did.

    ``options`` are the caller's (the command line's); ``[tool.reqlock]`` fills in
    what they leave open (see :mod:`reqlock.settings`)."""
    envs = config.up_to(only) if only else config.environments
    done: list[tuple[str, Pylock]] = []
    results: list[EnvironmentLock] = []
    for env in envs:
        # As bytes: parsed only when no remembered result has exactly these bytes
        # (or for the change summary, when the file is rewritten).
        previous = PreviousFile.read(env.lock_path)
        here = dataclasses.replace(options or Options(), lock_dir=env.lock_path.parent)
        result = lock(
            [os.fspath(p) for p in env.requirements],
            options=here,
            project=config.options_for(env),
            previous=previous,
            pinned_by=list(done),
            reporter=reporter,
            environ=environ,
            transport=transport,
        )
        written = result.write(env.lock_path)
        changes = tuple(changes_from(previous, result, written))
        results.append(
            EnvironmentLock(environment=env, result=result, changes=changes, written=written)
        )
        done.append((_label(env), result.pylock))
    return results


def check_environments(
    config: ProjectConfig,
    *,
    only: str | None = None,
    options: Options | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Staleness]:
    """Compare each environment's lock with its current inputs, without network."""
    envs = config.up_to(only) if only else config.environments
    done: list[tuple[str, Pylock]] = []
    found: list[Staleness] = []
    for env in envs:
        existing = read_lock(env.lock_path) if env.lock_path.exists() else None
        if existing is None:
            found.append(Staleness(path=env.lock_path, reasons=("the lock file is missing",)))
            continue
        current = inputs_fingerprint(
            [os.fspath(p) for p in env.requirements],
            options=options,
            project=config.options_for(env),
            pinned_by=list(done),
            environ=environ,
        )
        reasons = [_reason(kind) for kind in compare(stored_fingerprint(existing), current)]
        found.append(Staleness(path=env.lock_path, reasons=tuple(reasons)))
        done.append((_label(env), existing))
    return found


def check_file(path: Path, current: Mapping[str, str]) -> Staleness:
    """Compare one lock file with the fingerprint of its current inputs."""
    if not path.exists():
        return Staleness(path=path, reasons=("the lock file is missing",))
    existing = read_lock(path)
    kinds = compare(stored_fingerprint(existing), current)
    return Staleness(path=path, reasons=tuple(_reason(k) for k in kinds))


def _label(env: Environment) -> str:
    return f"the {env.name} lock ({env.lock_path.name})"


_REASONS = {
    "requirements": "the requirements changed",
    "targets": "the targets changed",
    "universal": "what the universal lock covers changed",
    "indexes": "the index URLs changed",
    "options": "the options changed (--pre, --only-binary/--no-binary, --exclude-newer)",
    "layers": "an earlier environment's lock changed",
}


def _reason(kind: str) -> str:
    return _REASONS.get(kind, f"{kind} changed")

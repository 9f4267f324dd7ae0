"""Load a requirement set's direct references before resolving it.

Every ``name @ url``, path and ``-e`` line is fetched once (in parallel: git and
builds are slow), named from its metadata when the line gave no name, and checked:
one project, one source. Direct references that these projects' own metadata
declares (``dep @ git+...``) are loaded too, as pip does for them. The resolver
then has one candidate for each of these projects.
"""

from __future__ import annotations

__all__ = ["DirectLoader", "kept_commits", "load_directs", "local_digests"]

import dataclasses
import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import ReqlockError, RequirementsError
from reqlock.locking.reqdirect import named_line, reference_of_url
from reqlock.locking.requirements import (
    DirectReference,
    Origin,
    RequirementLine,
    RequirementSet,
)

if TYPE_CHECKING:
    # Types only: the index side is not loaded for a lock that is remembered.
    from packaging.pylock import Pylock

    from reqlock.index.sources import DirectDist, VcsKey

_WORKERS = 8


class DirectLoader(Protocol):
    """What loads one direct reference (:class:`reqlock.index.sources.DirectSources`)."""

    def load(
        self, reference: DirectReference, *, name: str | None, hashes: tuple[str, ...] = ()
    ) -> DirectDist:
        """Fetch ``reference`` and read its metadata."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class _Job:
    reference: DirectReference
    name: str | None
    hashes: tuple[str, ...]
    origin: Origin | None  # None: declared by another project's metadata
    parent: str = ""


def load_directs(
    reqs: RequirementSet, loader: DirectLoader
) -> tuple[RequirementSet, dict[NormalizedName, DirectDist]]:
    """``reqs`` with every line named, and the loaded direct references by name.

    :raises RequirementsError: naming the line of a reference that cannot be
        loaded, or of two references that give the same project.
    """
    jobs = [
        _Job(line.direct, line.name, line.hashes, line.origin)
        for line in reqs.requirements
        if line.direct is not None
    ] + [_Job(u.direct, None, u.hashes, u.origin) for u in reqs.unnamed]
    if not jobs:
        return reqs, {}
    found: dict[NormalizedName, tuple[DirectDist, _Job]] = {}
    dists = _run(jobs, loader)
    named: list[RequirementLine] = []
    for job, dist in zip(jobs, dists, strict=True):
        _add(found, dist, job)
    for unnamed, dist in zip(reqs.unnamed, dists[len(jobs) - len(reqs.unnamed) :], strict=True):
        named.append(
            named_line(
                dist.name,
                unnamed.direct,
                unnamed.extras,
                unnamed.marker,
                origin=unnamed.origin,
                hashes=unnamed.hashes,
            )
        )
    _load_declared(found, loader)
    result = dataclasses.replace(reqs, requirements=reqs.requirements + tuple(named), unnamed=())
    return result, {name: dist for name, (dist, _) in found.items()}


def _run(jobs: Sequence[_Job], loader: DirectLoader) -> list[DirectDist]:
    """Load every job; the first failure in job order is raised (so the error a
    user sees does not depend on which thread finished first)."""

    def one(job: _Job) -> DirectDist | ReqlockError:
        try:
            return loader.load(job.reference, name=job.name, hashes=job.hashes)
        except ReqlockError as exc:
            return exc

    if len(jobs) <= 1:
        outcomes = [one(job) for job in jobs]
    else:
        with ThreadPoolExecutor(min(_WORKERS, len(jobs)), thread_name_prefix="direct") as pool:
            outcomes = list(pool.map(one, jobs))
    dists: list[DirectDist] = []
    for job, outcome in zip(jobs, outcomes, strict=True):
        if isinstance(outcome, ReqlockError):
            raise _at(job, outcome) from None
        dists.append(outcome)
    return dists


def _at(job: _Job, exc: ReqlockError) -> ReqlockError:
    if job.origin is None:
        return RequirementsError(
            f"{job.parent} requires it: {exc.message}", file=job.parent, hint=exc.hint
        )
    return RequirementsError(
        exc.message,
        file=job.origin.file,
        line=job.origin.line,
        text=job.origin.text,
        hint=exc.hint,
    )


def _where(job: _Job) -> str:
    return str(job.origin) if job.origin is not None else job.parent


def _add(found: dict[NormalizedName, tuple[DirectDist, _Job]], dist: DirectDist, job: _Job) -> None:
    earlier = found.get(dist.name)
    if earlier is None:
        found[dist.name] = (dist, job)
        return
    if earlier[0].reference.key != dist.reference.key:
        raise RequirementsError(
            f"{dist.name} is given by two direct references: {earlier[0].shown} "
            f"({_where(earlier[1])}) and {dist.shown} ({_where(job)})",
            file=job.origin.file if job.origin else job.parent,
            line=job.origin.line if job.origin else None,
            text=job.origin.text if job.origin else None,
            hint="keep one of them",
        )


def _load_declared(
    found: dict[NormalizedName, tuple[DirectDist, _Job]], loader: DirectLoader
) -> None:
    """Load the direct references the loaded projects' metadata declares, until
    none is new."""
    pending = list(found.values())
    while pending:
        jobs: list[_Job] = []
        for dist, _ in pending:
            parent = f"{dist.name} {dist.version}"
            base = dist.reference.path if dist.kind == "directory" else None
            for req in dist.metadata.requires_dist:
                if req.url is None:
                    continue
                name = canonicalize_name(req.name)

                def fail(message: str, hint: str | None, parent: str = parent) -> ReqlockError:
                    return RequirementsError(f"{parent} requires {message}", file=parent, hint=hint)

                reference, _, hashes = reference_of_url(
                    req.url, base_dir=base or os.getcwd(), editable=False, fail=fail
                )
                job = _Job(reference, name, hashes, None, parent)
                if name in found:
                    _add(found, dataclasses.replace(found[name][0], reference=reference), job)
                elif all(j.reference.key != reference.key for j in jobs):
                    jobs.append(job)
        dists = _run(jobs, loader)
        pending = []
        for job, dist in zip(jobs, dists, strict=True):
            if dist.name not in found:
                found[dist.name] = (dist, job)
                pending.append((dist, job))


# What decides a local project's metadata (pip and uv watch the same files).
_PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py")


def local_digests(reqs: RequirementSet) -> dict[str, str]:
    """For each local directory or archive ``reqs`` names: a digest of the files
    that decide its metadata (``missing`` when there is nothing to read; the
    error comes when the lock loads it)."""
    import hashlib

    references = [line.direct for line in reqs.requirements if line.direct is not None]
    references += [u.direct for u in reqs.unnamed]
    found: dict[str, str] = {}
    for reference in references:
        if reference.path is None:
            continue
        if reference.kind == "archive":
            paths = [reference.path]
        else:
            paths = [os.path.join(reference.path, name) for name in _PROJECT_FILES]
        digest = hashlib.sha256()
        for path in paths:
            digest.update(os.path.basename(path).encode() + b"\0")
            digest.update(_file_digest(path))
        found[reference.path] = "sha256:" + digest.hexdigest()
    return found


def _file_digest(path: str) -> bytes:
    """sha256 of a regular file's bytes; a marker for anything else (never opens
    a FIFO or a device, which could block)."""
    import hashlib
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b"not-a-file"
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return b"not-a-file"
            digest = hashlib.sha256()
            while block := stream.read(1 << 20):
                digest.update(block)
            return digest.digest()
    except OSError:
        return b"missing"


def kept_commits(previous: Pylock, upgrade: Collection[str]) -> dict[VcsKey, str]:
    """The commits ``previous`` locked, by repository, revision and subdirectory,
    for the packages allowed to stay (those not named in ``upgrade``)."""
    kept: dict[VcsKey, str] = {}
    for package in previous.packages:
        vcs = package.vcs
        if vcs is None or vcs.url is None or vcs.commit_id is None:
            continue
        if package.name in upgrade:
            continue
        kept[(vcs.url, vcs.requested_revision, vcs.subdirectory)] = vcs.commit_id
    return kept

"""A fingerprint of everything a lock depends on, to tell when it is stale.

Stored in the lock under ``[tool.reqlock.inputs]``, one digest per kind of input,
so ``reqlock lock --check`` can say *what* changed. Comments, blank lines and the
order of requirement lines do not count; the effective requirements (after
includes and ``${VAR}`` expansion), targets, indexes and options do.
"""

from __future__ import annotations

__all__ = ["compare", "fingerprint"]

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reqlock.locking.requirements import RequirementSet
from reqlock.settings import Universal
from reqlock.targets import Target
from reqlock.urls import redact_url


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fingerprint(
    reqs: RequirementSet,
    *,
    index_urls: Sequence[str],
    targets: Sequence[Target],
    pre: bool,
    exclude_newer: datetime | None,
    extra_requirements: Sequence[str] = (),
    layers: Sequence[str] = (),
    index_strategy: str = "first-index",
    find_links: Sequence[str] = (),
    local_sources: Mapping[str, str] | None = None,
    universal: Universal | None = None,
) -> dict[str, str]:
    """Digests of the inputs of a lock, by kind.

    ``local_sources`` maps each local directory or archive a requirement names to
    a digest of what decides its metadata (``pyproject.toml``, ``setup.cfg``,
    ``setup.py``; an archive's bytes), so that a changed local project makes the
    lock stale. A universal lock also records what it covers (``universal``); its
    ``targets`` are only those whose wheels it keeps."""
    lines = sorted(
        [str(line.requirement), list(line.hashes), line.constraint]
        + ([line.direct.key, line.direct.editable] if line.direct is not None else [])
        for line in (*reqs.requirements, *reqs.constraints)
    )
    lines += sorted(
        [u.direct.key, u.direct.editable, sorted(u.extras), str(u.marker), list(u.hashes)]
        for u in reqs.unnamed
    )
    result = {
        "requirements": _digest([lines, sorted(extra_requirements)]),
        "targets": _digest(
            [[t.name, sorted(t.environment.items()), [str(tag) for tag in t.tags]] for t in targets]
        ),
        "indexes": _digest(
            [redact_url(u) for u in index_urls]
            # Only when given, so that existing locks stay current.
            + ([["find-links", [redact_url(u) for u in find_links]]] if find_links else [])
        ),
        "options": _digest(
            {
                "pre": pre,
                "only-binary": sorted(reqs.only_binary),
                "no-binary": sorted(reqs.no_binary),
                "exclude-newer": exclude_newer.isoformat() if exclude_newer else None,
                # Only a non-default strategy counts, so existing locks stay current.
                **({"index-strategy": index_strategy} if index_strategy != "first-index" else {}),
            }
        ),
    }
    if universal is not None:
        result["universal"] = _digest(
            {
                "requires-python": str(universal.requires_python),
                "environments": [str(m) for m in universal.environments],
                "required-environments": [str(m) for m in universal.required_environments],
            }
        )
    if layers:
        result["layers"] = _digest(list(layers))
    if local_sources:
        result["local"] = _digest(sorted(local_sources.items()))
    return result


def compare(stored: Mapping[str, Any] | None, current: Mapping[str, str]) -> list[str]:
    """The kinds of input that differ (all of them when nothing was stored)."""
    if not isinstance(stored, Mapping):
        return sorted(current)
    kinds = set(stored) | set(current)
    return sorted(k for k in kinds if stored.get(k) != current.get(k))

"""Resolution cases as data (``fixtures/cases/*.toml``).

Each file holds:

- ``description``: what behaviour the case pins down;
- ``requirements``: requirements.txt text. A line ``-c constraints.txt`` refers to
  the ``constraints`` key of the same file (a loader maps that name to that text);
- ``constraints`` (optional): constraints-file text;
- ``options`` (optional): e.g. ``{ pre = true }`` (as ``--pre``);
- either ``expected``: the complete pinned set ``{canonical-name = "version"}`` for
  CPython 3.11 on linux x86_64 (glibc 2.36), or ``error``: substrings the
  explanation of the failure must contain;
- ``pip`` (optional): how pip 26.3 answers when it differs, and why.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["CONSTRAINTS_NAME", "Case", "load_cases"]

CONSTRAINTS_NAME = "constraints.txt"


@dataclass(frozen=True, kw_only=True, slots=True)
class Case:
    name: str  # the file's stem
    path: Path
    description: str
    requirements: str
    constraints: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, str] | None = None
    error: tuple[str, ...] | None = None
    pip: str | None = None

    @property
    def files(self) -> dict[str, str]:
        """The files the case's requirements may refer to, by name."""
        files = {"requirements.txt": self.requirements}
        if self.constraints is not None:
            files[CONSTRAINTS_NAME] = self.constraints
        return files


def load_cases(directory: Path) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as f:
            data = tomllib.load(f)
        expected = data.get("expected")
        error = data.get("error")
        if (expected is None) == (error is None):
            raise ValueError(f"{path}: give exactly one of 'expected' and 'error'")
        cases.append(
            Case(
                name=path.stem,
                path=path,
                description=str(data.get("description", "")),
                requirements=str(data["requirements"]),
                constraints=data.get("constraints"),
                options=dict(data.get("options", {})),
                expected=None
                if expected is None
                else {str(k): str(v) for k, v in expected.items()},
                error=None if error is None else tuple(str(e) for e in error),
                pip=data.get("pip"),
            )
        )
    return cases

"""Platform targets: the marker environment and wheel tags a lock is made for."""

from __future__ import annotations

__all__ = ["Target", "current"]

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.markers import default_environment
from packaging.tags import Tag, sys_tags


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """One platform a lock must be valid for.

    ``environment`` holds the PEP 508 marker variables; ``tags`` the wheel tags the
    platform accepts, most preferred first (as ``packaging.tags.sys_tags()``).
    """

    name: str
    environment: Mapping[str, str] = field(hash=False, compare=True)
    tags: tuple[Tag, ...] = field(hash=False, compare=True)

    def tag_priority(self) -> dict[Tag, int]:
        """Map each accepted tag to its rank (0 = most preferred)."""
        return {tag: i for i, tag in enumerate(self.tags)}


def current() -> Target:
    """The running interpreter as a target."""
    return Target(
        name="current",
        environment=dict(default_environment()),
        tags=tuple(sys_tags()),
    )

"""How a release came into a resolution: the chain from a user's line to it.

While resolvelib works, every requirement it adds is recorded once per
(requirement's project, requiring release). When a resolution fails, the
explanation asks :meth:`Provenance.chain` for the shortest path from one of the
user's lines to the release that has a conflicting requirement, so that
``botocore 1.29.0 requires urllib3<1.27`` can be shown as coming from
``conflict.in:1 botocore==1.29.0``. Each step is a requirement some release
really declares and that accepts the next release's version, so the chain is true,
though not necessarily the only one.
"""

from __future__ import annotations

__all__ = ["Provenance", "Step", "render"]

from collections import deque
from dataclasses import dataclass

from packaging.version import Version

from reqlock.locking.candidates import Candidate, Req

# (identifier, version) of a requiring release.
_Node = tuple[str, Version]


@dataclass(frozen=True, slots=True)
class Step:
    """One link of a chain: a user's line (``version`` is None) or a release."""

    text: str
    version: Version | None = None


class Provenance:
    """Who required what, as seen by the search (see the module docstring)."""

    def __init__(self) -> None:
        # identifier -> requiring node (None: the user) -> the requirement.
        self._by: dict[str, dict[_Node | None, Req]] = {}

    def add(self, requirement: Req, parent: Candidate | None) -> None:
        """Record that ``parent`` (None: the user) requires ``requirement``."""
        node = None if parent is None else (parent.identifier, parent.version)
        entries = self._by.setdefault(requirement.identifier, {})
        if node not in entries:
            entries[node] = requirement

    def chain(self, release: Candidate) -> tuple[Step, ...]:
        """The shortest chain from a user's line to ``release`` (ending with it);
        empty when none is known. Breadth-first over recorded requirements, in the
        order they were recorded: deterministic."""
        start: _Node = (release.identifier, release.version)
        came_from: dict[_Node, tuple[_Node | None, Req]] = {}
        queue: deque[_Node] = deque([start])
        seen = {start}
        while queue:
            node = queue.popleft()
            entries = self._by.get(node[0], {})
            for parent, req in entries.items():
                if not _accepts(req, node[1]):
                    continue
                if parent is None:
                    return _unwind(node, req, came_from)
                if parent not in seen:
                    seen.add(parent)
                    came_from[parent] = (node, req)
                    queue.append(parent)
        return ()


def _unwind(
    top: _Node, root_req: Req, came_from: dict[_Node, tuple[_Node | None, Req]]
) -> tuple[Step, ...]:
    """The chain found by :meth:`Provenance.chain`, from the user's line down."""
    steps = [Step(f"{root_req.source} {root_req.describe()}")]
    node: _Node | None = top
    while node is not None:
        steps.append(Step(f"{node[0]} {node[1]}", node[1]))
        node = came_from[node][0] if node in came_from else None
    return tuple(steps)


def _accepts(req: Req, version: Version) -> bool:
    return bool(req.url) or req.specifier.contains(version, prereleases=True)


def render(steps: tuple[Step, ...]) -> str:
    """A chain in words: ``web.in:1 flask>=2 (3.0.0) → werkzeug 3.0.1``.

    The release a user's line names directly is shown as its version in brackets,
    or not at all when the line pins exactly that version."""
    if not steps:
        return ""
    head, rest = steps[0].text, list(steps[1:])
    if rest:
        version = rest.pop(0).version
        if not head.endswith(f"=={version}"):
            head = f"{head} ({version})"
    return " → ".join([head, *(step.text for step in rest)])

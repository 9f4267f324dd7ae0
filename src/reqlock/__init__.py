"""reqlock: lock requirements.txt files into hashed PEP 751 lock files, and verify
installed environments against them.

The public API is listed in ``__all__``. Names are imported on first use so that
``import reqlock`` stays cheap and the verify path never loads HTTP code.
"""

from __future__ import annotations

__all__ = [
    "LockResult",
    "ReqlockError",
    "RequirementSet",
    "Target",
    "__version__",
    "load_requirements",
    "lock",
    "parse_requirement_strings",
    "parse_requirements",
]

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

_LAZY = {
    "LockResult": "reqlock.api",
    "lock": "reqlock.api",
    "ReqlockError": "reqlock.errors",
    "RequirementSet": "reqlock.requirements",
    "load_requirements": "reqlock.requirements",
    "parse_requirements": "reqlock.requirements",
    "parse_requirement_strings": "reqlock.requirements",
    "Target": "reqlock.targets",
}

if TYPE_CHECKING:
    from reqlock.api import LockResult, lock
    from reqlock.errors import ReqlockError
    from reqlock.requirements import (
        RequirementSet,
        load_requirements,
        parse_requirement_strings,
        parse_requirements,
    )
    from reqlock.targets import Target


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reqlock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

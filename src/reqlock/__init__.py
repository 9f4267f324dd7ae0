"""reqlock: lock requirements.txt files into hashed PEP 751 lock files, and verify
installed environments against them.

The public API is listed in ``__all__``. Names are imported on first use so that
``import reqlock`` stays cheap and the verify path never loads HTTP code.
"""

from __future__ import annotations

__all__ = [
    "LockResult",
    "Options",
    "PreviousFile",
    "Problem",
    "Report",
    "ReqlockError",
    "RequirementSet",
    "Settings",
    "SyncResult",
    "Target",
    "VerifyError",
    "__version__",
    "export_requirements",
    "inventory",
    "load_requirements",
    "lock",
    "parse_requirement_strings",
    "parse_requirements",
    "parse_target",
    "read_lock",
    "sync",
    "verify",
]

import importlib

# Not typing.TYPE_CHECKING: importing typing costs more than the rest of this module,
# and ``python -m reqlock verify`` starts the inventory before it needs typing.
TYPE_CHECKING = False

__version__ = "0.1.0.dev0"

_LAZY = {
    "LockResult": "reqlock.locking.result",
    "lock": "reqlock.locking.api",
    "PreviousFile": "reqlock.locking.previous",
    "Options": "reqlock.settings",
    "Settings": "reqlock.settings",
    "ReqlockError": "reqlock.errors",
    "RequirementSet": "reqlock.locking.requirements",
    "load_requirements": "reqlock.locking.requirements",
    "parse_requirements": "reqlock.locking.requirements",
    "parse_requirement_strings": "reqlock.locking.requirements",
    "Target": "reqlock.targets",
    "parse_target": "reqlock.targets",
    "verify": "reqlock.deploy.verify",
    "Report": "reqlock.deploy.verify",
    "Problem": "reqlock.deploy.verify",
    "VerifyError": "reqlock.deploy.verify",
    "sync": "reqlock.deploy.sync",
    "SyncResult": "reqlock.deploy.sync",
    "export_requirements": "reqlock.deploy.export",
    "inventory": "reqlock.deploy.inventory",
    "read_lock": "reqlock.lockfile",
}

if TYPE_CHECKING:
    from typing import Any

    from reqlock.deploy.export import export_requirements
    from reqlock.deploy.inventory import inventory
    from reqlock.deploy.sync import SyncResult, sync
    from reqlock.deploy.verify import Problem, Report, VerifyError, verify
    from reqlock.errors import ReqlockError
    from reqlock.lockfile import read_lock
    from reqlock.locking.api import lock
    from reqlock.locking.previous import PreviousFile
    from reqlock.locking.requirements import (
        RequirementSet,
        load_requirements,
        parse_requirement_strings,
        parse_requirements,
    )
    from reqlock.locking.result import LockResult
    from reqlock.settings import Options, Settings
    from reqlock.targets import Target, parse_target


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reqlock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

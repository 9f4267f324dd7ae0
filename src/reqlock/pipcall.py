"""Running pip as a subprocess, the only way reqlock uses pip (never ``pip._internal``).

Both sides need it: the lock side to build an sdist's metadata, the deploy side to
install a lock.
"""

from __future__ import annotations

__all__ = ["clean_pip_env", "pip_command"]

import os
import sys
from collections.abc import Mapping


def clean_pip_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for a pip subprocess that ignores every pip setting of the
    machine and the user: config files and ``PIP_*`` (and ``UV_*``) variables could
    otherwise add indexes, constraints or trusted hosts behind the lock's back."""
    env = {
        k: v
        for k, v in (os.environ if environ is None else environ).items()
        # Windows environment names are case-insensitive.
        if not k.upper().startswith(("PIP_", "UV_"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def pip_command(target: str | None = None, *, python: str = sys.executable) -> list[str]:
    """``python -m pip`` with the options that keep it from reading configuration or
    asking questions; ``target`` is the interpreter to install into (``--python``)."""
    command = [python, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input"]
    if target is not None:
        command += ["--python", target]
    return command

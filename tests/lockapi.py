"""Tests call ``reqlock.lock`` and friends with settings as plain keywords; this
splits them into the :class:`~reqlock.settings.Options` value the API takes."""

from __future__ import annotations

import dataclasses
from typing import Any

from reqlock.settings import Options

OPTION_FIELDS = frozenset(f.name for f in dataclasses.fields(Options))


def with_options(**kwargs: Any) -> dict[str, Any]:
    """``kwargs`` with every settings keyword moved into ``options=Options(...)``."""
    settings = {k: kwargs.pop(k) for k in list(kwargs) if k in OPTION_FIELDS}
    if settings:
        kwargs["options"] = Options(**settings)
    return kwargs

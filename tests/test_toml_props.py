"""The lock writer's TOML reads back as the same data (hypothesis)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reqlock.locking.toml import dumps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

keys = st.text(min_size=1, max_size=12)
scalars = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(timezone.utc),
    ),
)
inline_tables = st.dictionaries(keys, scalars, max_size=4)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=20), max_size=4),
    inline_tables,
    st.lists(inline_tables, max_size=3),
)
packages = st.lists(st.dictionaries(keys, values, min_size=1, max_size=6), max_size=4)
documents = st.fixed_dictionaries(
    {"lock-version": st.just("1.0"), "created-by": st.text(max_size=10)},
    optional={
        "environments": st.lists(st.text(max_size=30), max_size=3),
        "packages": packages,
        "tool": st.dictionaries(keys, st.dictionaries(keys, scalars, max_size=3), max_size=2),
    },
)


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return value


@settings(max_examples=300, deadline=None)
@given(documents)
def test_round_trip(document: dict[str, Any]) -> None:
    text = dumps(document)
    assert _normalize(tomllib.loads(text)) == _normalize(document)
    # Deterministic: writing the same data again gives the same text.
    assert dumps(document) == text

"""The memo's stored lock: its parsed form reads back exactly, or is not stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from reqlock.errors import ReqlockError
from reqlock.index.cache import Cache
from reqlock.locking import memo
from reqlock.targets import parse_target

UTC_TIME = datetime(2026, 3, 1, 12, 30, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "lock",
    [
        {"lock-version": "1.0", "packages": []},
        {"packages": [{"name": "a", "wheels": [{"upload-time": UTC_TIME, "size": 3}]}]},
        {"x": datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))},
        {"x": datetime(2026, 3, 1, 12, 0, 0, 123456)},  # naive, with microseconds
        {"tool": {"reqlock": {"records": ["", "sha256:ab"], "flag": True}}},
    ],
)
def test_the_json_form_reads_back_equal(lock: dict[str, Any]) -> None:
    text = memo._to_json(lock)
    assert text is not None
    back = memo._from_json(text)
    assert back == lock
    assert [type(v) for v in back.values()] == [type(v) for v in lock.values()]


@pytest.mark.parametrize(
    "lock",
    [
        {"tool": {"x": {memo._DATETIME: "2026-01-01T00:00:00"}}},  # looks like a tagged value
        {"x": (1, 2)},  # a tuple reads back as a list
        {"x": {1: "a"}},  # a key that is not a string
        {"x": b"bytes"},
        {"x": float("nan")},  # never equal to itself
    ],
)
def test_what_does_not_read_back_equal_is_not_stored(lock: dict[str, Any]) -> None:
    assert memo._to_json(lock) is None


def test_a_remembered_lock_carries_its_parsed_form_or_none(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    target = parse_target("linux-x86_64-py3.12")
    lock = {"lock-version": "1.0", "packages": [{"name": "a", "upload-time": UTC_TIME}]}
    memo.save(cache, ["k1"], pages={}, toml="t1", resolutions=[], warnings=[], lock=lock)
    memo.save(cache, ["k2"], pages={}, toml="t2", resolutions=[], warnings=[])
    memo.save(cache, ["k3"], pages={}, toml="t3", resolutions=[], warnings=[], lock={"x": (1,)})
    found = [
        memo.load(cache, key, targets=[target], ttl=600, offline=False)
        for key in ["k1", "k2", "k3"]
    ]
    assert [m.toml if m else None for m in found] == ["t1", "t2", "t3"]
    assert [m.lock if m else None for m in found] == [lock, None, None]


def _item(requires_dist: list[str]) -> dict[str, Any]:
    return {
        "target": "linux-x86_64-py3.12",
        "roots": ["app"],
        "pins": [
            {
                "name": "app",
                "version": "1.0",
                "index": "https://example.invalid/simple/",
                "dependencies": [],
                "files": [],
                "metadata": {
                    "requires_dist": requires_dist,
                    "requires_python": ">=3.9",
                    "provides_extras": ["fast"],
                },
            }
        ],
    }


def test_remembered_resolutions_are_built_when_first_read() -> None:
    target = parse_target("linux-x86_64-py3.12")
    lazy = memo.Resolutions([(_item(["idna>=3; extra == 'fast'"]), target)], key="ab" * 32)
    assert lazy._built is None  # nothing parsed yet
    assert len(lazy) == 1
    (resolution,) = lazy
    requires = resolution.pins[canonicalize_name("app")].metadata.requires_dist
    assert [str(r) for r in requires] == ['idna>=3; extra == "fast"']
    assert lazy[0] is resolution
    assert lazy[:1] == (resolution,)
    assert lazy == (resolution,)
    assert (resolution,) == lazy


def test_a_damaged_remembered_resolution_is_an_error_naming_the_way_out() -> None:
    target = parse_target("linux-x86_64-py3.12")
    lazy = memo.Resolutions([(_item(["not a requirement!"]), target)], key="cd" * 32)
    with pytest.raises(ReqlockError) as info:
        list(lazy)
    assert "cdcdcdcdcdcd" in str(info.value)
    assert "--refresh" in str(info.value)

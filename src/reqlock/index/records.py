"""A wheel's RECORD digest (:func:`reqlock.deploy.record.wheel_record_digest`),
worked out from the member names and bytes of the wheel. Pure functions.

The ``.dist-info`` and ``.data`` directory names are taken from the zip, the way
pip finds them (the one top-level ``*.dist-info`` directory; top-level ``*.data``
directories), never rebuilt from the project name: wheels spell their
directories in many ways (``Foo.Bar-1.0.dist-info``, ``foo_bar-1.0.dist-info``).
"""

from __future__ import annotations

__all__ = ["RecordOutcome", "WheelLayout", "outcome_of_record", "outcome_of_wheel", "wheel_layout"]

import io
import zipfile
from dataclasses import dataclass

from reqlock.deploy.record import DIGEST_PREFIX, wheel_record_digest
from reqlock.index.metadata import ARCHIVE_ERRORS

_NONE_PREFIX = "none:"
# What a corrupt or hostile zip can make zipfile raise.
_ZIP_ERRORS = (*ARCHIVE_ERRORS, KeyError)


@dataclass(frozen=True, kw_only=True, slots=True)
class WheelLayout:
    """Where a wheel keeps its metadata: the directory names as the zip has them."""

    dist_info: str
    data_dir: str

    @property
    def record(self) -> str:
        """The member name of the RECORD."""
        return f"{self.dist_info}/RECORD"


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordOutcome:
    """A wheel's RECORD digest, or why it has none (one of the two is set).

    Both are facts about the wheel's bytes, so both may be cached for good."""

    digest: str | None = None
    problem: str | None = None

    def encode(self) -> bytes:
        """The cache form: ``sha256:<hex>`` or ``none:<why>``."""
        if self.digest is not None:
            return self.digest.encode()
        return (_NONE_PREFIX + (self.problem or "")).encode()

    @classmethod
    def decode(cls, data: bytes) -> RecordOutcome | None:
        """The outcome :meth:`encode` wrote, or None for bytes it cannot have."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if text.startswith(DIGEST_PREFIX) and len(text) == len(DIGEST_PREFIX) + 64:
            return cls(digest=text)
        if text.startswith(_NONE_PREFIX) and len(text) > len(_NONE_PREFIX):
            return cls(problem=text[len(_NONE_PREFIX) :])
        return None


def wheel_layout(names: list[str]) -> WheelLayout | str:
    """The wheel's directories found among its member ``names``, or what is wrong."""
    # Like pip: the first path component of every member, files included.
    tops = {name.split("/", 1)[0] for name in names}
    infos = sorted(t for t in tops if t.endswith(".dist-info"))
    if not infos:
        return "it has no .dist-info directory"
    if len(infos) > 1:
        # pip refuses such a wheel; which RECORD an installer would keep is moot.
        return f"it has several .dist-info directories ({', '.join(infos)})"
    dist_info = infos[0]
    datas = sorted(t for t in tops if t.endswith(".data"))
    if len(datas) > 1:
        return f"it has several .data directories ({', '.join(datas)})"
    # Without a .data directory the name only has to be one no member uses.
    data_dir = datas[0] if datas else dist_info[: -len(".dist-info")] + ".data"
    layout = WheelLayout(dist_info=dist_info, data_dir=data_dir)
    if layout.record not in names:
        return f"it has no {layout.record}"
    return layout


def outcome_of_record(record: bytes, layout: WheelLayout) -> RecordOutcome:
    """The digest of the RECORD bytes of a wheel laid out as ``layout``."""
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError:
        return RecordOutcome(problem=f"its {layout.record} is not UTF-8")
    try:
        return RecordOutcome(
            digest=wheel_record_digest(text, dist_info=layout.dist_info, data_dir=layout.data_dir)
        )
    except ValueError as exc:
        return RecordOutcome(problem=f"its {layout.record} is malformed: {exc}")


def outcome_of_wheel(data: bytes) -> RecordOutcome:
    """The RECORD digest of a whole wheel's bytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            layout = wheel_layout(archive.namelist())
            if isinstance(layout, str):
                return RecordOutcome(problem=layout)
            record = archive.read(layout.record)
    except _ZIP_ERRORS as exc:
        return RecordOutcome(problem=f"it is not a readable zip ({exc})")
    return outcome_of_record(record, layout)

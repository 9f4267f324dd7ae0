"""Resolution cases as data (fixtures/cases/*.toml) against the in-process fake index."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reqlock.errors import ResolutionError
from reqlock.index.index import Index
from reqlock.locking.requirements import parse_requirements
from reqlock.locking.resolve import ResolveOptions, resolve
from reqlock.targets import current
from tests.fakeindex import FIXTURES
from tests.fakeindex.cases import Case, load_cases

CASES = load_cases(FIXTURES / "cases")


@pytest.fixture
def index(wsgi_transport: httpx.WSGITransport) -> Iterator[Index]:
    from reqlock.index.client import HttpClient

    with Index(["http://fakeindex/simple/"], http=HttpClient(transport=wsgi_transport)) as idx:
        yield idx


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, index: Index) -> None:
    files = case.files
    reqs = parse_requirements(
        case.requirements,
        filename="requirements.txt",
        loader=lambda _including, ref: (ref, files[ref]),
    )
    options = ResolveOptions(
        pre=bool(case.options.get("pre", reqs.pre)),
        only_binary=reqs.only_binary,
        no_binary=reqs.no_binary,
    )
    if case.expected is not None:
        resolution = resolve(reqs, index=index, target=current(), options=options)
        pins = {name: str(pin.version) for name, pin in resolution.pins.items()}
        assert pins == case.expected
    else:
        assert case.error is not None
        with pytest.raises(ResolutionError) as info:
            resolve(reqs, index=index, target=current(), options=options)
        message = str(info.value)
        for word in case.error:
            assert word in message, message

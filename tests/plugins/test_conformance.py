"""The conformance check vendors run catches contract breaches."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mcuseal.errors import DumpFormatError
from mcuseal.plugins import Inspection, XipRequest, XipResult
from mcuseal.testing import check_engine_conformance
from tests.plugins.test_manager import DemoEngine


def test_demo_engine_conforms() -> None:
    check_engine_conformance(DemoEngine)


class CheckedParser(DemoEngine):
    caps = replace(DemoEngine.caps, parses_dumps=True)

    def inspect(self, dump: bytes, *, key: bytes | None = None) -> Inspection:
        if len(dump) < 20:
            raise DumpFormatError(f"{len(dump)} bytes, expected at least 20")
        return Inspection("demo", dump[19] == 0, problems=() if dump[19] == 0 else ("bad",))


class CrashingParser(CheckedParser):
    def inspect(self, dump: bytes, *, key: bytes | None = None) -> Inspection:
        return Inspection("demo", dump[19] == 0)  # IndexError on short input: a bug


class WrongResult(DemoEngine):
    def build(self, request: XipRequest) -> XipResult:
        return "not a result"  # type: ignore[return-value]


def test_crashing_parser_is_caught() -> None:
    with pytest.raises(AssertionError, match=r"raised IndexError instead of DumpFormatError"):
        check_engine_conformance(CrashingParser)
    check_engine_conformance(CheckedParser)


def test_wrong_result_type_is_caught() -> None:
    with pytest.raises(AssertionError, match="returned str, not XipResult"):
        check_engine_conformance(WrongResult)

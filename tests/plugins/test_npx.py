"""NPX (MCX N9x): CMPA bitmaps and bits, checked against SPSDK's own 'pfr export'."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from mcuseal.errors import UsageError
from mcuseal.plugins import SlotLayout, XipRequest
from mcuseal.plugins.npx import NpxContext, NpxEngine, cmpa_words
from mcuseal.testing import check_engine_conformance
from tests.plugins.spsdk_oracle import NXPIMAGE

MCXN947 = SlotLayout(0x0, 0x40000, 0x120000, 0xE0000, 0x2000, 0x80)


def test_doc_example_region() -> None:
    # encrypted_xip_npx.md: region 0 = MCUboot, region 1 = 0x40000..0x117FFF.
    result = NpxEngine().build(XipRequest(MCXN947))
    facts = dict(result.facts)
    assert facts["context 0"].startswith("0x000000..0x03ffff")
    assert facts["context 1"].startswith("0x040000..0x117fff (27 blocks)")
    words = cmpa_words(NpxEngine().contexts(XipRequest(MCXN947)))
    assert words[0x90] == 0xFF  # blocks 0-7: MCUboot
    assert words[0x98] == ((1 << 27) - 1) << 8 & 0xFFFFFFFF
    assert words[0x9C] == ((1 << 27) - 1) << 8 >> 32
    assert words[0x54] == 0b10 << 16 | 0b10 << 18
    assert any("never leaves the chip" in n for n in result.notes)


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(UsageError, match="whole 32 KiB blocks"):
        cmpa_words([NpxContext(1, 0x1000, 0x9000)])
    with pytest.raises(UsageError, match="overlaps"):
        cmpa_words([NpxContext(0, 0, 0x10000), NpxContext(1, 0x8000, 0x18000)])


def test_settings_are_what_spsdk_pfr_exports(tmp_path: Path) -> None:
    pfr = NXPIMAGE.with_name("pfr")
    if not pfr.exists():
        pytest.skip("SPSDK's pfr is not installed")
    engine = NpxEngine(lock=True)
    (tmp_path / "cmpa.yaml").write_bytes(engine.build(XipRequest(MCXN947)).files[0].data)
    done = subprocess.run(
        [str(pfr), "export", "-c", "cmpa.yaml", "-o", "cmpa.bin"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    page = (tmp_path / "cmpa.bin").read_bytes()
    for offset, value in cmpa_words(engine.contexts(XipRequest(MCXN947))).items():
        (got,) = struct.unpack_from("<I", page, offset)
        mask = 0xFFFF0000 if offset == 0x54 else 0xFFFFFFFF
        assert got & mask == value, hex(offset)


def test_conformance() -> None:
    check_engine_conformance(NpxEngine, layout=MCXN947)

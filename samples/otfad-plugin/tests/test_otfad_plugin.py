"""Tests of the OTFAD plugin: SPSDK golden files, known answers, mcuseal's conformance check."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

pytest.importorskip("mcuseal_otfad", reason="install ./samples/otfad-plugin to test it")

from mcuseal_otfad import KeyBlob, OtfadEngine, crc32_mpeg2, encrypt_data
from mcuseal_otfad import nxpimage as export_mod

from mcuseal.plugins import SlotLayout, XipRequest, build_manager
from mcuseal.plugins.nxpimage import NxpimageConfig
from mcuseal.testing import check_engine_conformance, sample_image

VECTORS = Path(__file__).parent / "vectors"
KEK = "00112233445566778899aabbccddeeff"
GOLDEN = [
    "otfad_rt1160",
    "otfad_rt1170",
    "otfad_rt1170_scramble",
    "otfad_rt1180",
    "otfad_rt1180_scramble",
    "otfad_rt1180_no_encryption",
    "otfad_rt1010_scramble",
]


def test_vectors_are_intact() -> None:
    for line in (VECTORS / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((VECTORS / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("name", GOLDEN)
def test_spsdk_golden_whole_image(tmp_path: Path, name: str) -> None:
    shutil.copytree(VECTORS, tmp_path, dirs_exist_ok=True)
    result = export_mod.export(NxpimageConfig.load_file(tmp_path / f"{name}.yaml"))
    whole = next(f for f in result.files if f.name.endswith(".bin") and "whole" in f.name)
    assert whole.data == (VECTORS / f"{name}_out.bin").read_bytes()


def test_crc32_mpeg2_known_answer() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the CRC catalogue's check value


def test_data_counter_is_the_address() -> None:
    blob = KeyBlob(0x1000, 0x2000, bytes(range(16)), bytes.fromhex("0123456789abcdef"))
    one = encrypt_data(blob, 0x1000, bytes(32))
    # Each 16-byte block is keyed by its own address: encrypting the second block alone
    # at 0x1010 gives the same bytes.
    assert encrypt_data(blob, 0x1010, bytes(16)) == one[16:]
    swapped = encrypt_data(blob, 0x1000, bytes(32), byte_swap=True)
    assert swapped[:8] == one[:8][::-1]


def test_registered_through_the_entry_point() -> None:
    info = build_manager().engines["otfad"]
    assert info.engine is OtfadEngine and info.distribution == "mcuseal-otfad"
    assert not info.builtin


def test_conformance() -> None:
    check_engine_conformance(OtfadEngine, argv=["--otfad-kek", KEK])


def test_build_for_a_layout() -> None:
    layout = SlotLayout(0x30000000, 0x30040000, 0x30240000, 0x200000, 0x1000, 0x100)
    engine = OtfadEngine(kek=bytes.fromhex(KEK), key=bytes(16), ctr=bytes(8))
    result = engine.build(XipRequest(layout, image=sample_image()))
    table, data = result.files
    assert len(table.data) == 256 and table.address == 0x30000000
    assert data.address == 0x30040000 and len(data.data) == len(sample_image())
    assert any("OTPMK" in n for n in result.notes)


def test_hex_and_elf_data_blobs_are_refused(tmp_path: Path) -> None:
    from mcuseal.errors import EngineUnsupported

    shutil.copytree(VECTORS, tmp_path, dirs_exist_ok=True)
    blob = tmp_path / "evkmimxrt1170_iled_blinky_cm7_QSPI_FLASH_bootable_nopadding.bin"
    for content in (b":020000040000FA\n", b"\x7fELF" + bytes(60)):
        blob.write_bytes(content)
        with pytest.raises(EngineUnsupported, match="raw binaries only"):
            export_mod.export(NxpimageConfig.load_file(tmp_path / "otfad_rt1170.yaml"))

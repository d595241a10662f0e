"""Metadata sectors: every trailer version, the magic page, dump validation."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuseal.errors import DumpFormatError, UsageError
from mcuseal.plugins.metadata import (
    MAGIC32,
    TrailerVersion,
    build_sector,
    inspect_sector,
    magic_page,
)

BLOCK = bytes(range(256)) + bytes(32)  # a 288-byte stand-in for bee_cfg_t


def test_magic_page_matches_the_sdk_binary() -> None:
    # iped_conf_magic_page.bin in mcuxsdk-examples (research note section 2.1).
    page = magic_page(256)
    assert page[:224] == b"\xff" * 224 and page[224:] == MAGIC32
    assert hashlib.sha256(page).hexdigest().startswith("652a15be")
    assert hashlib.sha256(page).hexdigest().endswith("77ad3")


@pytest.mark.parametrize("version", list(TrailerVersion))
def test_sector_layout_and_round_trip(version: TrailerVersion) -> None:
    sector = build_sector(BLOCK, sector_size=0x1000, version=version, active_slot=1)
    assert len(sector) == 0x1000
    assert sector[: len(BLOCK)] == BLOCK
    assert set(sector[len(BLOCK) : 0x1000 - version.size]) == {0xFF}
    report = inspect_sector(sector, config_size=len(BLOCK))
    assert report.complete and version in report.versions
    assert report.config_block == BLOCK
    if version in (TrailerVersion.MD5_SLOT, TrailerVersion.SHA256_SLOT):
        assert report.active_slot == 1


def test_trailer_bytes_per_version() -> None:
    md5 = build_sector(BLOCK, sector_size=0x1000, version=TrailerVersion.MD5_SLOT)[-64:]
    assert md5[:16] == bytes(16)
    assert md5[16:32] == hashlib.md5(BLOCK).digest()
    assert md5[48:] == MAGIC32[:16]
    sha = build_sector(BLOCK, sector_size=0x1000, version=TrailerVersion.SHA256)[-64:]
    assert sha[16:32] == hashlib.sha256(BLOCK).digest()[:16]
    assert build_sector(BLOCK, sector_size=0x1000, version=TrailerVersion.MAGIC)[-32:] == MAGIC32


def test_slot_zero_sha_is_ambiguous_and_says_so() -> None:
    sector = build_sector(BLOCK, sector_size=0x1000, version=TrailerVersion.SHA256_SLOT)
    report = inspect_sector(sector, config_size=len(BLOCK))
    assert report.versions == (TrailerVersion.SHA256_SLOT, TrailerVersion.SHA256)


def test_incomplete_and_corrupt_sectors() -> None:
    erased = BLOCK + b"\xff" * (0x1000 - len(BLOCK))
    report = inspect_sector(erased, config_size=len(BLOCK))
    assert not report.complete and "erased" in report.problems[0]
    sector = bytearray(build_sector(BLOCK, sector_size=0x1000, version=TrailerVersion.SHA256))
    sector[5] ^= 1
    report = inspect_sector(bytes(sector), config_size=len(BLOCK))
    assert not report.complete and "hash matches neither" in report.problems[0]


def test_bad_geometry_is_refused() -> None:
    with pytest.raises(UsageError, match="half of a"):
        build_sector(bytes(0x900), sector_size=0x1000, version=TrailerVersion.MAGIC)
    with pytest.raises(UsageError, match="power of two"):
        build_sector(BLOCK, sector_size=0x1001, version=TrailerVersion.MAGIC)
    with pytest.raises(UsageError, match="does not fit in a 32-byte page"):
        build_sector(BLOCK, sector_size=0x1000, version=TrailerVersion.SHA256, page_size=32)


@settings(deadline=None)  # shared CI cores: time is not what is tested
@given(data=st.binary(max_size=2048), config_size=st.sampled_from([0, 256, 288, 5000]))
def test_arbitrary_bytes_parse_or_raise_our_error(data: bytes, config_size: int) -> None:
    try:
        inspect_sector(data, config_size=config_size)
    except DumpFormatError:
        pass

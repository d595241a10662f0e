"""The encryption-metadata sector of NXP's MCUboot encrypted-XIP extension.

Layout, for every engine and every SDK version: the platform configuration block at
offset 0, erased flash (0xFF) after it, and a trailer at the very end of the sector,
written last so that a complete trailer proves the block was written completely.

The trailer format changed with the SDK; the version is never guessed when building,
the caller picks one (:class:`TrailerVersion`).  When reading a dump, :func:`inspect_sector`
reports which versions match.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass
from typing import Final

from mcuseal.errors import DumpFormatError, UsageError

#: The 16-byte magic of the 64-byte trailers, and the first half of the 32-byte magic.
MAGIC16: Final = bytes.fromhex("aabbccdd604dba7034792c0f2cb60f35")
#: The 32-byte magic (``enc_confirm_t``) of SDK 26.06.
MAGIC32: Final = MAGIC16 + bytes.fromhex("7e2ca561d94bf3189ae734bc508d26fe")

#: 24.12 / 25.0x trailer: active_slot, pad0[12], hash[16], pad1[16], magic[16].
TRAILER_SLOT = struct.Struct("<I12s16s16s16s")
assert TRAILER_SLOT.size == 64
#: 25.09 trailer: pad0[16], hash[16], pad1[16], magic[16].
TRAILER_NOSLOT = struct.Struct("<16s16s16s16s")
assert TRAILER_NOSLOT.size == 64

ERASED: Final = 0xFF


class TrailerVersion(str, enum.Enum):
    """Trailer formats the NXP SDK has shipped, oldest first (release mapping inferred)."""

    #: SDK 24.12: 64 bytes, ``active_slot``, MD5 of the configuration block.
    MD5_SLOT = "md5-slot"
    #: SDK 25.0x: 64 bytes, ``active_slot``, SHA-256 of the block truncated to 16 bytes.
    SHA256_SLOT = "sha256-slot"
    #: SDK 25.09: 64 bytes, no ``active_slot``, truncated SHA-256.
    SHA256 = "sha256"
    #: SDK 26.06: the 32-byte magic alone; the engine validates the block itself.
    MAGIC = "magic"

    @property
    def size(self) -> int:
        return 32 if self is TrailerVersion.MAGIC else 64

    @property
    def sdk(self) -> str:
        return {
            TrailerVersion.MD5_SLOT: "MCUXpresso SDK 24.12",
            TrailerVersion.SHA256_SLOT: "MCUXpresso SDK 25.0x",
            TrailerVersion.SHA256: "MCUXpresso SDK 25.09",
            TrailerVersion.MAGIC: "MCUXpresso SDK 26.06",
        }[self]


NEWEST: Final = TrailerVersion.MAGIC


def trailer_version(name: str | None) -> TrailerVersion:
    """The version called *name* (``None`` = newest).

    :raises UsageError: an unknown name, listing the known ones.
    """
    if name is None:
        return NEWEST
    try:
        return TrailerVersion(name)
    except ValueError:
        known = ", ".join(v.value for v in TrailerVersion)
        raise UsageError(f"unknown metadata trailer version {name!r}; use one of {known}") from None


def _digest(version: TrailerVersion, config_block: bytes) -> bytes:
    if version is TrailerVersion.MD5_SLOT:
        return hashlib.md5(config_block, usedforsecurity=False).digest()
    return hashlib.sha256(config_block).digest()[:16]


def trailer(config_block: bytes, version: TrailerVersion, *, active_slot: int = 0) -> bytes:
    """The trailer bytes for *config_block* in format *version*.

    :param active_slot: 0 or 1; only the ``*-slot`` versions store it.
    """
    if version is TrailerVersion.MAGIC:
        return MAGIC32
    digest = _digest(version, config_block)
    if version is TrailerVersion.SHA256:
        return TRAILER_NOSLOT.pack(bytes(16), digest, bytes(16), MAGIC16)
    if active_slot not in (0, 1):
        raise UsageError(f"active slot {active_slot} is not 0 or 1")
    return TRAILER_SLOT.pack(active_slot, bytes(12), digest, bytes(16), MAGIC16)


def build_sector(
    config_block: bytes,
    *,
    sector_size: int,
    version: TrailerVersion,
    page_size: int = 256,
    active_slot: int = 0,
) -> bytes:
    """A complete metadata sector: block at 0, 0xFF fill, trailer at the end.

    The SDK's static asserts apply: block and trailer each at most half the sector,
    trailer at most a page (so the trailer is one last page program).
    """
    if sector_size <= 0 or sector_size & (sector_size - 1):
        raise UsageError(f"sector size {sector_size:#x} is not a power of two")
    if len(config_block) > sector_size // 2:
        raise UsageError(
            f"configuration block of {len(config_block)} bytes does not fit in half of a "
            f"{sector_size:#x}-byte sector"
        )
    if version.size > page_size or version.size > sector_size // 2:
        raise UsageError(f"a {version.size}-byte trailer does not fit in a {page_size}-byte page")
    tail = trailer(config_block, version, active_slot=active_slot)
    fill = bytes([ERASED]) * (sector_size - len(config_block) - len(tail))
    return config_block + fill + tail


def magic_page(page_size: int = 256) -> bytes:
    """The last page of a 26.06 metadata sector: 0xFF then the 32-byte magic.

    Provisioning scripts load it at ``sector + sector_size - page_size``.
    """
    if page_size < len(MAGIC32):
        raise UsageError(f"page size {page_size} is smaller than the 32-byte magic")
    return bytes([ERASED]) * (page_size - len(MAGIC32)) + MAGIC32


@dataclass(frozen=True)
class SectorReport:
    """What :func:`inspect_sector` found in a dumped sector.

    :param versions: trailer versions consistent with the bytes (two when SDK 25.0x
        with active slot 0 and 25.09 cannot be told apart); empty if no trailer.
    :param complete: a trailer is present and its hash (if any) matches the block.
    :param config_block: the first *config_size* bytes.
    :param active_slot: the stored slot (``*-slot`` versions only).
    :param problems: one line per reason the sector is not complete.
    """

    versions: tuple[TrailerVersion, ...]
    complete: bool
    config_block: bytes
    active_slot: int | None = None
    problems: tuple[str, ...] = ()


def inspect_sector(data: bytes, *, config_size: int) -> SectorReport:
    """Find and check the trailer of a dumped metadata sector.

    :param data: the whole sector, as read from flash.
    :param config_size: size of the engine's configuration block (BEE 288, IPED 256).
    :raises DumpFormatError: too short to be a metadata sector.
    """
    if config_size < 0 or len(data) < max(2 * config_size, 2 * 64):
        raise DumpFormatError(
            f"{len(data)} bytes cannot be a metadata sector for a {config_size}-byte "
            "configuration block (need the whole sector, at least twice the block size)"
        )
    block = bytes(data[:config_size])
    if data[-32:] == MAGIC32:
        return SectorReport((TrailerVersion.MAGIC,), True, block)
    tail = bytes(data[-64:])
    if tail[-16:] != MAGIC16:
        erased = all(b == ERASED for b in data[-64:])
        why = "trailer area is erased" if erased else "no trailer magic at the sector end"
        return SectorReport((), False, block, problems=(f"{why}: the sector is not complete",))

    found: list[TrailerVersion] = []
    slot_value, pad0, digest, pad1, _ = TRAILER_SLOT.unpack(tail)
    problems: list[str] = []
    if pad1 != bytes(16):
        problems.append("trailer padding after the hash is not zero")
    for version in (TrailerVersion.MD5_SLOT, TrailerVersion.SHA256_SLOT, TrailerVersion.SHA256):
        if digest != _digest(version, block):
            continue
        if (version is TrailerVersion.SHA256 and tail[:16] == bytes(16)) or (
            version is not TrailerVersion.SHA256 and pad0 == bytes(12)
        ):
            found.append(version)
    if not found:
        problems.append(
            "trailer magic present but its hash matches neither MD5 nor SHA-256/16 of the "
            f"first {config_size} bytes"
        )
        return SectorReport((), False, block, problems=tuple(problems))
    slot: int | None = None
    if found[0] is not TrailerVersion.SHA256:
        slot = slot_value
        if slot not in (0, 1):
            problems.append(f"active_slot is {slot}, not 0 or 1")
    return SectorReport(tuple(found), not problems, block, slot, tuple(problems))

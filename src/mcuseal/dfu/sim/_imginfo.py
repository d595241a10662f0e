"""What Zephyr's img_mgmt reads out of a slot: version, SHA256 TLV, header flags.

This is ``img_mgmt_read_info()`` (zephyr ``subsys/mgmt/mcumgr/grp/img_mgmt/src/img_mgmt.c``),
not MCUboot's validation: it only walks the TLV areas to find the one SHA256 TLV that
``image list`` reports as the image's hash.  A slot is flash, so bytes past what was
written read as erased (0xff).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from mcuseal.image.structs import (
    IMAGE_MAGIC,
    TLV_INFO_MAGIC,
    TLV_PROT_INFO_MAGIC,
    ImageFlags,
    ImageVersion,
    TlvType,
)

HASH_SIZE: Final = 32
ERASED: Final = 0xFF

IMAGE_HEADER: Final = struct.Struct("<IIHHIIBBHI4x")
assert IMAGE_HEADER.size == 32
TLV_INFO: Final = struct.Struct("<HH")
assert TLV_INFO.size == 4
TLV: Final = struct.Struct("<HH")  # Zephyr's struct image_tlv: u16 type, u16 len
assert TLV.size == 4


@dataclass(frozen=True)
class SlotInfo:
    """The fields of a slot that ``image list`` shows.

    :param version: (major, minor, revision, build)
    :param hash: the SHA256 TLV value (MCUboot's image hash)
    :param flags: ``ih_flags`` of the header
    """

    version: tuple[int, int, int, int]
    hash: bytes
    flags: int

    @property
    def version_str(self) -> str:
        """The version as Zephyr's ``img_mgmt_ver_str`` prints it: x.y.z, or x.y.z.build."""
        return ImageVersion(*self.version).zephyr_str()

    @property
    def bootable(self) -> bool:
        return not self.flags & ImageFlags.NON_BOOTABLE


def _read(slot: bytes, offset: int, size: int) -> bytes:
    chunk = slot[offset : offset + size]
    return chunk + bytes([ERASED]) * (size - len(chunk))


def read_info(slot: bytes | None) -> SlotInfo | None:
    """Return the slot's version, hash and flags, or None when img_mgmt would skip it.

    ``None`` covers every case ``img_mgmt_read_info`` returns non-zero for: an erased or
    foreign header, no TLV area, no SHA256 TLV, or more than one.
    """
    if not slot:
        return None
    (magic, _load, hdr_size, _prot, img_size, flags, major, minor, rev, build) = (
        IMAGE_HEADER.unpack(_read(slot, 0, IMAGE_HEADER.size))
    )
    if magic != IMAGE_MAGIC:
        return None
    data_off = hdr_size + img_size
    it_magic, it_tot = TLV_INFO.unpack(_read(slot, data_off, TLV_INFO.size))
    if it_magic == TLV_PROT_INFO_MAGIC:
        # The protected area's total includes its own info header.
        data_off += it_tot
        it_magic, it_tot = TLV_INFO.unpack(_read(slot, data_off, TLV_INFO.size))
    if it_magic != TLV_INFO_MAGIC:
        return None
    data_off += TLV_INFO.size
    data_end = data_off + it_tot
    found: bytes | None = None
    # Bound the walk by what is stored: past it every TLV reads as erased and is skipped.
    limit = min(data_end, len(slot) + TLV.size)
    while data_off + TLV.size <= limit:
        tlv_type, tlv_len = TLV.unpack(_read(slot, data_off, TLV.size))
        if tlv_type == ERASED and tlv_len == 0xFFFF:
            return None
        data_off += TLV.size
        if tlv_type != TlvType.SHA256 or tlv_len != HASH_SIZE:
            data_off += tlv_len
            continue
        if found is not None:
            return None
        if data_off + HASH_SIZE > data_end:
            return None
        found = _read(slot, data_off, HASH_SIZE)
    if found is None:
        return None
    return SlotInfo(version=(major, minor, rev, build), hash=found, flags=flags)


def header_fields(data: bytes) -> tuple[int, int, int] | None:
    """``(magic, hdr_size, img_size)`` of the header at the start of *data*, or None if short."""
    if len(data) < IMAGE_HEADER.size:
        return None
    magic, _load, hdr_size, _prot, img_size, *_ = IMAGE_HEADER.unpack_from(data)
    return magic, hdr_size, img_size

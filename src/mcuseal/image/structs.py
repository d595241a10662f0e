"""MCUboot image header, version, flags and TLV encoding (``bootutil/image.h``).

All multi-byte fields are little-endian on every MCUboot target.  ``endian="big"`` exists only
to reproduce ``imgtool sign -e big`` byte for byte, including its quirk of packing known TLV
headers as ``>BBH`` (type byte, zero byte, length), so a big-endian reader sees ``type << 8``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Literal

from mcuseal.errors import ImageError, ImageFormatError

Endian = Literal["little", "big"]

IMAGE_MAGIC = 0x96F3B83D
IMAGE_HEADER_SIZE = 32
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
TLV_INFO_SIZE = 4
TLV_HEADER_SIZE = 4
#: Custom (vendor) TLV tags imgtool accepts for ``--custom-tlv``.
TLV_VENDOR_MIN = 0x00A0
TLV_VENDOR_MAX = 0xFFFE

_PREFIX: dict[Endian, str] = {"little": "<", "big": ">"}

#: ``struct image_header``: magic, load_addr, hdr_size, protect_tlv_size, img_size, flags,
#: version (major, minor, revision, build), pad.
HEADER_STRUCT = struct.Struct("<IIHHIIBBHII")
HEADER_STRUCT_BE = struct.Struct(">IIHHIIBBHII")
assert HEADER_STRUCT.size == IMAGE_HEADER_SIZE
TLV_INFO_STRUCT = struct.Struct("<HH")
assert TLV_INFO_STRUCT.size == TLV_INFO_SIZE
TLV_STRUCT = struct.Struct("<HH")
assert TLV_STRUCT.size == TLV_HEADER_SIZE
#: DEPENDENCY TLV value: image id, 3 pad bytes, then a ``struct image_version``.
DEPENDENCY_STRUCT = struct.Struct("<B3xBBHI")
assert DEPENDENCY_STRUCT.size == 12


class TlvType(IntEnum):
    """TLV type ids (``IMAGE_TLV_*`` in ``bootutil/image.h``)."""

    KEYHASH = 0x01
    PUBKEY = 0x02
    SHA256 = 0x10
    SHA384 = 0x11
    SHA512 = 0x12
    RSA2048_PSS = 0x20
    ECDSA_SIG = 0x22
    RSA3072_PSS = 0x23
    ED25519 = 0x24
    SIG_PURE = 0x25
    ENC_RSA2048 = 0x30
    ENC_KW = 0x31
    ENC_EC256 = 0x32
    ENC_X25519 = 0x33
    ENC_X25519_SHA512 = 0x34
    DEPENDENCY = 0x40
    SEC_CNT = 0x50
    BOOT_RECORD = 0x60
    DECOMP_SIZE = 0x70
    DECOMP_SHA = 0x71
    DECOMP_SIGNATURE = 0x72
    COMP_DEC_SIZE = 0x73
    UUID_VID = 0x74
    UUID_CID = 0x75


_KNOWN_TYPES = frozenset(int(t) for t in TlvType)
HASH_TLVS = (TlvType.SHA256, TlvType.SHA384, TlvType.SHA512)
SIG_TLVS = (TlvType.RSA2048_PSS, TlvType.ECDSA_SIG, TlvType.RSA3072_PSS, TlvType.ED25519)
ENC_TLVS = (
    TlvType.ENC_RSA2048,
    TlvType.ENC_KW,
    TlvType.ENC_EC256,
    TlvType.ENC_X25519,
    TlvType.ENC_X25519_SHA512,
)


class ImageFlags(IntFlag):
    """``ih_flags`` bits (``IMAGE_F_*``)."""

    PIC = 0x001
    ENCRYPTED_AES128 = 0x004
    ENCRYPTED_AES256 = 0x008
    NON_BOOTABLE = 0x010
    RAM_LOAD = 0x020
    ROM_FIXED = 0x100
    COMPRESSED_LZMA1 = 0x200
    COMPRESSED_LZMA2 = 0x400
    COMPRESSED_ARM_THUMB_FLT = 0x800


# imgtool's version grammar: maj[.min[.rev[+build]]], no leading zeros.
_VERSION_RE = re.compile(r"^([1-9]\d*|0)(\.([1-9]\d*|0)(\.([1-9]\d*|0)(\+([1-9]\d*|0))?)?)?$")
_VERSION_LIMITS = (("major", 0xFF), ("minor", 0xFF), ("revision", 0xFFFF), ("build", 0xFFFFFFFF))


@dataclass(frozen=True, order=True)
class ImageVersion:
    """``struct image_version``: u8 major, u8 minor, u16 revision, u32 build number."""

    major: int = 0
    minor: int = 0
    revision: int = 0
    build: int = 0

    def __post_init__(self) -> None:
        for name, limit in _VERSION_LIMITS:
            value = getattr(self, name)
            if not 0 <= value <= limit:
                raise ImageError(
                    f"version {name} {value} is out of range 0..{limit}: "
                    "use maj.min.rev+build with u8.u8.u16+u32 fields"
                )

    @classmethod
    def parse(cls, text: str) -> ImageVersion:
        """Parse imgtool's ``maj[.min[.rev[+build]]]`` syntax (missing parts are 0).

        :raises ImageError: on bad syntax or a field out of its header range.
        """
        # No strip(): imgtool refuses " 1.2", and a drop-in must refuse what it refuses.
        m = _VERSION_RE.match(text)
        if m is None:
            raise ImageError(
                f"invalid version {text!r}: use maj.min.rev+build with later parts optional, "
                "e.g. 1.2.3+4"
            )
        parts = [int(g) if g else 0 for g in (m.group(1), m.group(3), m.group(5), m.group(7))]
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.revision}+{self.build}"

    def zephyr_str(self) -> str:
        """The version as Zephyr's mcumgr image list reports it ("1.2.3" or "1.2.3.4")."""
        base = f"{self.major}.{self.minor}.{self.revision}"
        return f"{base}.{self.build}" if self.build else base

    def security_counter(self) -> int:
        """imgtool's ``-s auto`` value: ``major << 24 | minor << 16 | revision``."""
        return (self.major << 24) + (self.minor << 16) + self.revision


@dataclass(frozen=True)
class ImageHeader:
    """``struct image_header`` (32 bytes)."""

    magic: int
    load_addr: int
    hdr_size: int
    protect_tlv_size: int
    img_size: int
    flags: ImageFlags
    version: ImageVersion

    @classmethod
    def loads(cls, data: bytes, endian: Endian = "little") -> ImageHeader:
        """Decode the first 32 bytes of *data* (the magic is not checked here).

        :raises ImageFormatError: if *data* is shorter than a header.
        """
        if len(data) < IMAGE_HEADER_SIZE:
            raise ImageFormatError(
                f"image is {len(data)} bytes, shorter than the {IMAGE_HEADER_SIZE}-byte "
                "MCUboot header: pass a signed image"
            )
        layout = HEADER_STRUCT if endian == "little" else HEADER_STRUCT_BE
        magic, load, hsz, psz, isz, flags, major, minor, rev, build, _pad = layout.unpack_from(data)
        return cls(
            magic, load, hsz, psz, isz, ImageFlags(flags), ImageVersion(major, minor, rev, build)
        )

    def dumps(self, endian: Endian = "little") -> bytes:
        """Encode the 32-byte header."""
        layout = HEADER_STRUCT if endian == "little" else HEADER_STRUCT_BE
        v = self.version
        return layout.pack(
            self.magic,
            self.load_addr,
            self.hdr_size,
            self.protect_tlv_size,
            self.img_size,
            int(self.flags),
            v.major,
            v.minor,
            v.revision,
            v.build,
            0,
        )


@dataclass(frozen=True)
class Tlv:
    """One TLV entry: a type id and its value bytes."""

    type: int
    value: bytes

    @property
    def type_name(self) -> str:
        """bootutil's name for the type, or ``0x....`` for a vendor type."""
        try:
            return TlvType(self.type).name
        except ValueError:
            return f"0x{self.type:04x}"


def encode_tlv_area(tlvs: Iterable[Tlv], *, protected: bool, endian: Endian = "little") -> bytes:
    """Encode a TLV area with its info header; empty bytes when there are no entries.

    imgtool omits an empty protected area; the unprotected area always has the hash TLV.
    """
    e = _PREFIX[endian]
    body = bytearray()
    for tlv in tlvs:
        if len(tlv.value) > 0xFFFF:
            raise ImageError(f"TLV 0x{tlv.type:02x} value is {len(tlv.value)} bytes, over 65535")
        if tlv.type in _KNOWN_TYPES:
            # imgtool packs known types as (type, 0, len) and custom tags as (u16, len):
            # identical in little endian, the quirky "type << 8" in big endian.
            body += struct.pack(e + "BBH", tlv.type, 0, len(tlv.value))
        else:
            body += struct.pack(e + "HH", tlv.type, len(tlv.value))
        body += tlv.value
    if not body:
        return b""
    total = TLV_INFO_SIZE + len(body)
    if total > 0xFFFF:
        raise ImageError(f"TLV area is {total} bytes, over the 65535 bytes a header can describe")
    magic = TLV_PROT_INFO_MAGIC if protected else TLV_INFO_MAGIC
    return struct.pack(e + "HH", magic, total) + bytes(body)


def imgtool_tlv_type(read_type: int, endian: Endian) -> int:
    """The TLV type imgtool meant, from the 16-bit type as read in the image's byte order.

    imgtool packs known types as ``(type, 0, len)``: a big-endian reader gets ``type << 8``.
    """
    if endian == "big" and read_type & 0xFF == 0 and read_type >> 8 in _KNOWN_TYPES:
        return read_type >> 8
    return read_type


def align_up(value: int, align: int) -> int:
    """Round *value* up to a multiple of the power-of-two *align*."""
    return (value + align - 1) & ~(align - 1)


def struct_prefix(endian: Endian) -> str:
    """The :mod:`struct` byte-order prefix for *endian*."""
    return _PREFIX[endian]


__all__ = [
    "DEPENDENCY_STRUCT",
    "ENC_TLVS",
    "HASH_TLVS",
    "HEADER_STRUCT",
    "IMAGE_HEADER_SIZE",
    "IMAGE_MAGIC",
    "SIG_TLVS",
    "TLV_INFO_MAGIC",
    "TLV_PROT_INFO_MAGIC",
    "Endian",
    "ImageFlags",
    "ImageHeader",
    "ImageVersion",
    "Tlv",
    "TlvType",
    "align_up",
    "encode_tlv_area",
    "imgtool_tlv_type",
]

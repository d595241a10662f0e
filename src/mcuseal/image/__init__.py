"""The MCUboot image format, pure: parse, sign, encrypt, decrypt and verify.

Bytes and frozen dataclasses in, bytes and dataclasses out; nothing here prints, reads
arguments or touches the rest of mcuseal except :mod:`mcuseal.errors`.
"""

from __future__ import annotations

from mcuseal.image.parse import ParsedImage
from mcuseal.image.structs import (
    HEADER_STRUCT,
    IMAGE_MAGIC,
    ImageFlags,
    ImageHeader,
    ImageVersion,
    Tlv,
    TlvType,
)
from mcuseal.image.trailer import TrailerInfo, bootutil_trailer_size, imgtool_trailer_size

__all__ = [
    "HEADER_STRUCT",
    "IMAGE_MAGIC",
    "ImageFlags",
    "ImageHeader",
    "ImageVersion",
    "ParsedImage",
    "Tlv",
    "TlvType",
    "TrailerInfo",
    "bootutil_trailer_size",
    "imgtool_trailer_size",
]

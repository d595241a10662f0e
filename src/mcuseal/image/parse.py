"""Parsing a signed MCUboot image with bootutil's own structural rules.

The checks mirror ``boot_check_header_valid()`` (``bootutil_loader.c``) and
``bootutil_tlv_iter_begin()/next()`` (``tlv.c``): magic, no both-AES flags, header+image bounds,
a protected area whose ``it_tlv_tot`` equals ``ih_protect_tlv_size`` (and no 0x6908 info header
when that size is 0), an unprotected area with magic 0x6907, and every entry inside its area.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

from mcuseal.errors import ImageFormatError, InputError
from mcuseal.image.structs import (
    ENC_TLVS,
    HASH_TLVS,
    IMAGE_HEADER_SIZE,
    IMAGE_MAGIC,
    TLV_HEADER_SIZE,
    TLV_INFO_MAGIC,
    TLV_INFO_SIZE,
    TLV_PROT_INFO_MAGIC,
    Endian,
    ImageFlags,
    ImageHeader,
    Tlv,
    TlvType,
    imgtool_tlv_type,
)
from mcuseal.image.trailer import TrailerInfo

_BOTH_AES = ImageFlags.ENCRYPTED_AES128 | ImageFlags.ENCRYPTED_AES256
#: TLV info and TLV entry headers: two u16 in the image's byte order.
_U16_PAIR = {"little": struct.Struct("<HH"), "big": struct.Struct(">HH")}


def _detect_endian(data: bytes) -> Endian:
    if len(data) < IMAGE_HEADER_SIZE:
        raise ImageFormatError(
            f"image is {len(data)} bytes, shorter than the {IMAGE_HEADER_SIZE}-byte MCUboot "
            "header: pass a signed image"
        )
    if int.from_bytes(data[:4], "little") == IMAGE_MAGIC:
        return "little"
    if int.from_bytes(data[:4], "big") == IMAGE_MAGIC:
        return "big"
    raise ImageFormatError(
        f"bad image magic {data[:4].hex()} (expected 3db8f396): not a signed MCUboot image"
    )


def _walk(data: bytes, start: int, end: int, endian: Endian, area: str) -> tuple[Tlv, ...]:
    fmt = _U16_PAIR[endian]
    off = start
    out: list[Tlv] = []
    while off < end:
        if off + TLV_HEADER_SIZE > end:
            raise ImageFormatError(
                f"{area} TLV area has {end - off} stray bytes at offset 0x{off:x}: "
                "the TLV area is corrupt"
            )
        tlv_type, tlv_len = fmt.unpack_from(data, off)
        off += TLV_HEADER_SIZE
        if off + tlv_len > end:
            raise ImageFormatError(
                f"{area} TLV 0x{tlv_type:02x} at offset 0x{off - TLV_HEADER_SIZE:x} claims "
                f"{tlv_len} bytes, past the end of its area: the TLV area is corrupt"
            )
        out.append(Tlv(tlv_type, bytes(data[off : off + tlv_len])))
        off += tlv_len
    return tuple(out)


@dataclass(frozen=True)
class ParsedImage:
    """A structurally valid MCUboot image (nothing cryptographic is checked here)."""

    header: ImageHeader
    protected_tlvs: tuple[Tlv, ...]
    unprotected_tlvs: tuple[Tlv, ...]
    #: Offset after the unprotected TLV area.
    tlv_end: int
    #: The padded-slot trailer, when the bytes after ``tlv_end`` end in a boot magic.
    trailer: TrailerInfo | None
    endian: Endian = "little"
    #: The whole input, kept to hash and decrypt without copying it again.
    data: bytes = field(default=b"", repr=False, compare=False)

    @classmethod
    def loads(cls, data: bytes) -> ParsedImage:
        """Parse *data* (a ``.bin`` image, padded or not).

        :raises ImageFormatError: for anything bootutil would not walk.
        """
        data = bytes(data)
        endian = _detect_endian(data)
        header = ImageHeader.loads(data, endian)
        if header.hdr_size < IMAGE_HEADER_SIZE:
            raise ImageFormatError(
                f"header size {header.hdr_size} is below {IMAGE_HEADER_SIZE}: "
                "the image header is corrupt"
            )
        if header.flags & _BOTH_AES == _BOTH_AES:
            raise ImageFormatError(
                "both ENCRYPTED_AES128 and ENCRYPTED_AES256 flags are set: bootutil rejects "
                "the header; re-sign the image"
            )
        tlv_off = header.hdr_size + header.img_size
        if tlv_off + TLV_INFO_SIZE > len(data):
            raise ImageFormatError(
                f"image is truncated: header says the payload ends at 0x{tlv_off:x} but the "
                f"file is {len(data)} bytes; use the complete signed image"
            )
        fmt = _U16_PAIR[endian]
        magic, total = fmt.unpack_from(data, tlv_off)
        protected: tuple[Tlv, ...] = ()
        if magic == TLV_PROT_INFO_MAGIC:
            if total != header.protect_tlv_size or total < TLV_INFO_SIZE:
                raise ImageFormatError(
                    f"protected TLV area is {total} bytes but the header says "
                    f"{header.protect_tlv_size}: the image is corrupt"
                )
            if tlv_off + total + TLV_INFO_SIZE > len(data):
                raise ImageFormatError(
                    "image is truncated inside its protected TLV area: use the complete image"
                )
            protected = _walk(data, tlv_off + TLV_INFO_SIZE, tlv_off + total, endian, "protected")
            tlv_off += total
            magic, total = fmt.unpack_from(data, tlv_off)
        elif header.protect_tlv_size != 0:
            raise ImageFormatError(
                f"header announces a {header.protect_tlv_size}-byte protected TLV area but "
                f"there is none (found magic 0x{magic:04x}): the image is corrupt"
            )
        if magic != TLV_INFO_MAGIC:
            raise ImageFormatError(
                f"no TLV area after the payload (magic 0x{magic:04x}, expected 0x6907): "
                "the image is corrupt or not signed"
            )
        if total < TLV_INFO_SIZE or tlv_off + total > len(data):
            raise ImageFormatError(
                f"TLV area length {total} runs past the end of the image: the image is "
                "truncated or corrupt"
            )
        unprotected = _walk(data, tlv_off + TLV_INFO_SIZE, tlv_off + total, endian, "unprotected")
        tlv_end = tlv_off + total
        trailer = TrailerInfo.detect(data, tlv_end)
        return cls(header, protected, unprotected, tlv_end, trailer, endian, data)

    @classmethod
    def load_file(cls, path: str | os.PathLike[str]) -> ParsedImage:
        """Parse a ``.bin`` image, or a ``.hex`` one (its bytes from the lowest address).

        :raises InputError: the file cannot be read.
        :raises ImageFormatError: it is not an MCUboot image.
        """
        target = Path(path)
        if target.suffix.lower() == ".hex":
            from mcuseal.image.hexfile import load_hex

            return cls.loads(load_hex(target)[1])
        try:
            data = target.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read image {target}: {exc.strerror or exc}") from None
        return cls.loads(data)

    def with_imgtool_types(self) -> ParsedImage:
        """This image with TLV types as imgtool meant them (differs only for ``-e big``).

        The TLVs of :meth:`loads` are what bootutil reads: 16-bit types in the image's byte
        order, so imgtool's big-endian SHA256 (``10 00``) reads as 0x1000.  This view maps
        known types back (0x1000 -> 0x10) to inspect, verify or decrypt the content anyway.
        """
        if self.endian == "little":
            return self

        def fix(tlvs: tuple[Tlv, ...]) -> tuple[Tlv, ...]:
            return tuple(Tlv(imgtool_tlv_type(t.type, self.endian), t.value) for t in tlvs)

        return replace(
            self,
            protected_tlvs=fix(self.protected_tlvs),
            unprotected_tlvs=fix(self.unprotected_tlvs),
        )

    @property
    def payload_offset(self) -> int:
        return self.header.hdr_size

    @property
    def payload_size(self) -> int:
        return self.header.img_size

    @property
    def hashed_size(self) -> int:
        """Bytes covered by the hash: header, payload and protected TLV area."""
        h = self.header
        return h.hdr_size + h.img_size + h.protect_tlv_size

    @property
    def tlvs(self) -> tuple[Tlv, ...]:
        return self.protected_tlvs + self.unprotected_tlvs

    def find(self, tlv_type: int) -> Tlv | None:
        """The first TLV of *tlv_type* in either area (protected first), or None."""
        for tlv in self.tlvs:
            if tlv.type == tlv_type:
                return tlv
        return None

    def find_all(self, tlv_type: int) -> tuple[Tlv, ...]:
        return tuple(t for t in self.tlvs if t.type == tlv_type)

    @property
    def is_encrypted_flag(self) -> bool:
        return bool(self.header.flags & _BOTH_AES)

    @property
    def aes_key_bits(self) -> int | None:
        flags = self.header.flags
        if flags & ImageFlags.ENCRYPTED_AES128:
            return 128
        if flags & ImageFlags.ENCRYPTED_AES256:
            return 256
        return None

    @property
    def enc_tlv(self) -> Tlv | None:
        """The key-wrapping TLV (0x30-0x34) or None."""
        for tlv in self.tlvs:
            if tlv.type in ENC_TLVS:
                return tlv
        return None

    @property
    def hash_tlv(self) -> Tlv | None:
        for tlv in self.unprotected_tlvs:
            if tlv.type in HASH_TLVS:
                return tlv
        return None

    @property
    def is_pure(self) -> bool:
        return any(t.type == TlvType.SIG_PURE for t in self.unprotected_tlvs)

    def hashed_region(self) -> memoryview:
        """The bytes the hash and signature cover, as stored (ciphertext if encrypted)."""
        return memoryview(self.data)[: self.hashed_size]

    def image_bytes(self) -> memoryview:
        """The image without any slot padding or trailer."""
        return memoryview(self.data)[: self.tlv_end]


__all__ = ["ParsedImage"]

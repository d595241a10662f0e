"""The image trailer at the end of a slot: boot magic, image_ok, and its size.

Two size formulas exist and both are exposed.  imgtool's (``image.py`` ``_trailer_size``)
counts 16 bytes per encryption key slot whatever the AES size; bootutil's
(``bootutil_area.c`` ``boot_trailer_sz``) counts ``align_up(BOOT_ENC_KEY_SIZE, BOOT_MAX_ALIGN)``,
so for AES-256 imgtool under-counts by up to 32 bytes.  The fits-in-slot check uses bootutil's.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcuseal.image.structs import Endian, align_up

BOOT_MAGIC_SIZE = 16
DEFAULT_MAX_SECTORS = 128
DEFAULT_MAX_ALIGN = 8
#: ``BOOT_MAGIC`` for ``BOOT_MAX_ALIGN == 8`` (``bootutil_public.c``).
BOOT_MAGIC_ALIGN8 = bytes.fromhex("77c295f360d2ef7f3552500f2cb67980")
#: Bytes 2..15 of the magic for larger ``BOOT_MAX_ALIGN``; bytes 0..1 hold the alignment.
BOOT_MAGIC_TAIL = bytes.fromhex("2de15d29410b8d77679c110f1f8a")
VALID_ALIGNS = (1, 2, 4, 8, 16, 32)
VALID_MAX_ALIGNS = (8, 16, 32)


def boot_magic(max_align: int, endian: Endian = "little") -> bytes:
    """The 16-byte boot magic for *max_align* (8 gives the classic magic)."""
    if max_align == DEFAULT_MAX_ALIGN:
        return BOOT_MAGIC_ALIGN8
    return max_align.to_bytes(2, endian) + BOOT_MAGIC_TAIL


def image_ok_offset_from_end(max_align: int) -> int:
    """Distance of the image_ok byte from the end of the slot."""
    return align_up(BOOT_MAGIC_SIZE, max_align) + max_align


def imgtool_trailer_size(
    *,
    align: int,
    max_align: int,
    max_sectors: int | None,
    overwrite_only: bool,
    encrypted: bool,
    save_enctlv: bool = False,
    enctlv_len: int = 0,
) -> int:
    """imgtool 2.5.0's trailer estimate (its size check and padding use it)."""
    magic_align = align_up(BOOT_MAGIC_SIZE, max_align)
    if overwrite_only:
        return 2 * max_align + magic_align
    sectors = DEFAULT_MAX_SECTORS if max_sectors is None else max_sectors
    size = sectors * 3 * align
    if encrypted:
        key_slot = align_up(enctlv_len if save_enctlv else 16, max_align)
        size += 2 * key_slot
    return size + 4 * max_align + magic_align


def bootutil_trailer_size(
    *,
    align: int,
    max_align: int,
    max_sectors: int | None,
    overwrite_only: bool,
    aes_key_bytes: int | None,
    save_enctlv: bool = False,
    enctlv_len: int = 0,
) -> int:
    """bootutil's ``boot_trailer_sz()`` for swap-using-scratch/move (3 status states per sector).

    :param aes_key_bytes: ``BOOT_ENC_KEY_SIZE`` (16 or 32), or None for an unencrypted build.

    For overwrite-only, ``bootutil_max_image_size()`` is ``boot_swap_info_off()``: the image must
    end before swap_info, copy_done and image_ok (one ``BOOT_MAX_ALIGN`` each) and the magic,
    one ``max_align`` more than imgtool reserves.
    """
    magic_align = align_up(BOOT_MAGIC_SIZE, max_align)
    if overwrite_only:
        return 3 * max_align + magic_align
    sectors = DEFAULT_MAX_SECTORS if max_sectors is None else max_sectors
    size = sectors * 3 * align
    if aes_key_bytes is not None:
        key_slot = align_up(enctlv_len if save_enctlv else aes_key_bytes, max_align)
        size += 2 * key_slot
    return size + 4 * max_align + magic_align


@dataclass(frozen=True)
class TrailerInfo:
    """What a padded image (``--pad``) carries after its TLVs."""

    #: Length of the padded image, i.e. the slot size it was padded to.
    slot_size: int
    max_align: int
    #: image_ok byte: 0x01 confirmed, erased value otherwise.
    image_ok: int
    #: Fill byte between the TLVs and the trailer (the erased value used, 0xff or 0x00).
    erased_val: int

    @property
    def confirmed(self) -> bool:
        return self.image_ok == 0x01

    @classmethod
    def detect(cls, data: bytes, tlv_end: int) -> TrailerInfo | None:
        """Recognise a padded slot: bytes after *tlv_end* ending in a boot magic."""
        slot_size = len(data)
        if slot_size - tlv_end < BOOT_MAGIC_SIZE:
            return None
        magic = data[-BOOT_MAGIC_SIZE:]
        if magic == BOOT_MAGIC_ALIGN8:
            max_align = DEFAULT_MAX_ALIGN
        elif magic[2:] == BOOT_MAGIC_TAIL:
            max_align = int.from_bytes(magic[:2], "little")
            if max_align not in VALID_MAX_ALIGNS:
                max_align = int.from_bytes(magic[:2], "big")
            if max_align not in VALID_MAX_ALIGNS:
                return None
        else:
            return None
        ok_off = slot_size - image_ok_offset_from_end(max_align)
        if ok_off < tlv_end:
            return None
        fill = data[tlv_end] if tlv_end < ok_off else data[slot_size - BOOT_MAGIC_SIZE - 1]
        return cls(slot_size, max_align, data[ok_off], fill)


def trailer_bytes(
    *,
    max_align: int,
    erased_val: int,
    confirm: bool,
    overwrite_only: bool,
    endian: Endian = "little",
) -> tuple[int, bytes]:
    """The tail imgtool writes at the end of a padded slot.

    :returns: (distance from the end of the slot where the tail starts, tail bytes); everything
        before it up to the image is *erased_val* fill.
    """
    length = image_ok_offset_from_end(max_align)
    tail = bytearray([erased_val]) * length
    tail[-BOOT_MAGIC_SIZE:] = boot_magic(max_align, endian)
    if confirm and not overwrite_only:
        tail[0] = 0x01
    return length, bytes(tail)


__all__ = [
    "BOOT_MAGIC_ALIGN8",
    "DEFAULT_MAX_ALIGN",
    "DEFAULT_MAX_SECTORS",
    "TrailerInfo",
    "boot_magic",
    "bootutil_trailer_size",
    "image_ok_offset_from_end",
    "imgtool_trailer_size",
    "trailer_bytes",
]

"""OTFAD key blobs and data encryption: bytes in, bytes out.

A key blob (one per OTFAD context) is 40 plain bytes -- AES key, 8-byte counter, region
start, region end with flags, 4 zero bytes, CRC-32/MPEG-2 of the first 32 -- wrapped with
RFC 3394 under the KEK (optionally scrambled per record), optionally byte-swapped in
8-byte groups, and zero-padded to 64 bytes.  The ROM reads four of them at flash offset 0.

Data: for each 16-byte block at address ``A`` the AES input is
``CTR[0:4] || CTR[4:8] || (CTR[0:4] ^ CTR[4:8]) || BE32(A)`` and the block is XORed
with its AES-128-ECB encryption (counter mode with the address as the counter).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from mcuseal.errors import UsageError

FLAG_READ_ONLY: Final = 0x4
FLAG_ADE: Final = 0x2  # AES decryption enable
FLAG_VALID: Final = 0x1
END_ADDR_ONES: Final = 0x3F8
RECORD_SIZE: Final = 64
RECORDS: Final = 4
TABLE_SIZE: Final = RECORD_SIZE * RECORDS

#: key, ctr, start, end|flags
PLAIN_HEAD = struct.Struct("<16s8sII")
assert PLAIN_HEAD.size == 32


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC_TABLE: Final = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2: poly 0x04C11DB7, init 0xFFFFFFFF, not reflected, no final XOR."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


@dataclass(frozen=True)
class KeyBlob:
    """One OTFAD context: ``[start, end)`` decrypted with *key* and *ctr*.

    :param start: region start, 1 KiB aligned.
    :param end: region end; the blob stores ``end - 1`` with the low 10 bits forced.
    :param flags: ``FLAG_READ_ONLY | FLAG_ADE | FLAG_VALID`` bits.
    """

    start: int
    end: int
    key: bytes
    ctr: bytes
    flags: int = FLAG_ADE | FLAG_VALID
    zero_fill: bytes = bytes(4)

    def __post_init__(self) -> None:
        if len(self.key) != 16 or len(self.ctr) != 8:
            raise UsageError("an OTFAD key is 16 bytes and its counter 8 bytes")
        if not 0 <= self.start <= self.end <= 0xFFFFFFFF:
            raise UsageError(f"OTFAD region {self.start:#x}..{self.end:#x} is not valid")
        if self.start % 0x400:
            raise UsageError(f"OTFAD region start {self.start:#x} is not 1 KiB aligned")
        if self.flags & ~0x7:
            raise UsageError(f"OTFAD key flags {self.flags:#x} exceed RO|ADE|VLD")

    @classmethod
    def unused(cls) -> KeyBlob:
        return cls(0, 0, bytes(16), bytes(8), 0)

    @property
    def encrypts(self) -> bool:
        return self.flags & (FLAG_ADE | FLAG_VALID) == FLAG_ADE | FLAG_VALID

    def end_word(self) -> int:
        if not (self.end or self.flags):
            return 0
        return ((self.end - 1) & ~0x7) | self.flags | END_ADDR_ONES

    def plain(self) -> bytes:
        head = PLAIN_HEAD.pack(self.key, self.ctr, self.start, self.end_word())
        crc = struct.pack("<I", crc32_mpeg2(head))
        return head + self.zero_fill + crc + bytes(24)

    def wrapped(self, kek: bytes, *, byte_swap_cnt: int = 0) -> bytes:
        """The 64-byte record as stored in flash."""
        wrap = aes_key_wrap(kek, self.plain()[:40])
        if byte_swap_cnt:
            wrap = b"".join(
                wrap[i : i + byte_swap_cnt][::-1] for i in range(0, len(wrap), byte_swap_cnt)
            )
        return wrap.ljust(RECORD_SIZE, b"\0")

    def covers(self, first: int, last: int) -> bool:
        """Both addresses inside the region, end inclusive (as the SPSDK tooling checks)."""
        return self.start <= first <= self.end and self.start <= last <= self.end


def scrambled_kek(kek: bytes, mask: int, align: int, index: int, *, reverse_mask: bool) -> bytes:
    """The KEK record *index* is wrapped with when key scrambling is on."""
    if not 0 <= mask < 1 << 32 or not 0 <= align < 1 << 8:
        raise UsageError("OTFAD key scramble mask is 32 bits and align 8 bits")
    if reverse_mask:
        mask = int(f"{mask:032b}"[::-1], 2)
    mask_bytes = mask.to_bytes(4, "little")
    out = bytearray(kek)
    word = (align >> (index * 2)) & 0x3
    for j in range(4):
        out[word * 4 + j] ^= mask_bytes[j]
    return bytes(out)


def key_blob_table(
    blobs: list[KeyBlob],
    kek: bytes,
    *,
    byte_swap_cnt: int = 0,
    scramble: tuple[int, int] | None = None,
    reverse_scramble_mask: bool = False,
) -> bytes:
    """The 256-byte table: four wrapped records, unused ones filled with zero blobs."""
    if len(kek) != 16:
        raise UsageError(f"the OTFAD KEK must be 16 bytes, got {len(kek)}")
    if len(blobs) > RECORDS:
        raise UsageError(f"OTFAD has {RECORDS} contexts, got {len(blobs)} key blobs")
    full = [*blobs, *[KeyBlob.unused()] * (RECORDS - len(blobs))]
    out = b""
    for i, blob in enumerate(full):
        key = kek
        if scramble is not None:
            key = scrambled_kek(kek, *scramble, i, reverse_mask=reverse_scramble_mask)
        out += blob.wrapped(key, byte_swap_cnt=byte_swap_cnt)
    return out


def encrypt_data(blob: KeyBlob, addr: int, data: bytes, *, byte_swap: bool = False) -> bytes:
    """Encrypt *data* at absolute address *addr* (16-byte aligned, length padded to 16)."""
    if addr % 16:
        raise UsageError(f"OTFAD data must start on a 16-byte boundary, not {addr:#x}")
    if len(data) % 16:
        data += bytes(16 - len(data) % 16)
    c0, c1 = blob.ctr[:4], blob.ctr[4:]
    nonce = c0 + c1 + bytes(a ^ b for a, b in zip(c0, c1, strict=True))
    counters = b"".join(
        nonce + ((addr + i) & 0xFFFFFFFF).to_bytes(4, "big") for i in range(0, len(data), 16)
    )
    ecb = Cipher(algorithms.AES(blob.key), modes.ECB()).encryptor()
    stream = ecb.update(counters) + ecb.finalize()
    if byte_swap:
        data = _swap_halves(data)
    out = _xor(data, stream)
    return _swap_halves(out) if byte_swap else out


def _swap_halves(data: bytes) -> bytes:
    return b"".join(data[i : i + 8][::-1] for i in range(0, len(data), 8))


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")

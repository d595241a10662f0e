"""Building a signed (and optionally encrypted) MCUboot image, byte-compatible with imgtool 2.5.0.

The payload is read twice in chunks: once to hash the plaintext, once to encrypt and emit it,
so a 64 MiB firmware never sits in memory more than once (and not at all when it is a file).
The layout and every byte follow ``imgtool sign``: header, header pad, payload (+0-15 zero bytes
with ``-E``), protected TLVs (SEC_CNT, BOOT_RECORD, DEPENDENCY..., UUID_VID, UUID_CID, custom),
unprotected TLVs (hash, SIG_PURE, KEYHASH/PUBKEY, signature, ENC), then the optional slot padding.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

import cbor2
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mcuseal.errors import ImageError, KeyError_, UsageError
from mcuseal.image import rng
from mcuseal.image.crypto import EncScheme, KeyKind, KeyWrapper, Signer
from mcuseal.image.structs import (
    ENC_TLVS,
    IMAGE_HEADER_SIZE,
    IMAGE_MAGIC,
    TLV_VENDOR_MAX,
    TLV_VENDOR_MIN,
    Endian,
    ImageFlags,
    ImageHeader,
    ImageVersion,
    Tlv,
    TlvType,
    encode_tlv_area,
    struct_prefix,
)
from mcuseal.image.trailer import (
    DEFAULT_MAX_ALIGN,
    DEFAULT_MAX_SECTORS,
    VALID_ALIGNS,
    VALID_MAX_ALIGNS,
    boot_magic,
    bootutil_trailer_size,
    image_ok_offset_from_end,
    imgtool_trailer_size,
    trailer_bytes,
)

PayloadSource = bytes | bytearray | memoryview | BinaryIO
CHUNK_SIZE = 1 << 20
MAX_SW_TYPE_LENGTH = 12


def _hash_new(bits: int, data: bytes = b"") -> hashlib._Hash:
    return hashlib.new(f"sha{bits}", data)


_HASH_TLV = {256: TlvType.SHA256, 384: TlvType.SHA384, 512: TlvType.SHA512}
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_UUID_HEX_RE = re.compile(r"[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class SignOptions:
    """Every ``imgtool sign`` option that shapes the image (names follow imgtool's long options).

    ``confirm`` and ``test`` imply ``pad`` as in imgtool.  ``slot_size`` 0 skips the
    fits-in-slot check (imgtool makes ``-S`` mandatory; mcuseal's CLI does too).
    """

    header_size: int = 0x200
    version: ImageVersion = field(default_factory=ImageVersion)
    slot_size: int = 0
    pad_header: bool = False
    align: int = 1
    max_align: int | None = None
    max_sectors: int | None = None
    erased_val: int = 0xFF
    pad: bool = False
    confirm: bool = False
    test: bool = False
    overwrite_only: bool = False
    security_counter: int | Literal["auto"] | None = None
    dependencies: tuple[tuple[int, ImageVersion], ...] = ()
    boot_record: str | None = None
    custom_tlvs: tuple[tuple[int, bytes], ...] = ()
    load_addr: int = 0
    rom_fixed: int | None = None
    vid: str | None = None
    cid: str | None = None
    non_bootable: bool = False
    sha: Literal["auto", 256, 384, 512] = "auto"
    pure: bool = False
    public_key_format: Literal["hash", "full"] = "hash"
    pad_sig: bool = False
    encrypt_keylen: Literal[128, 256] = 128
    hmac_sha: Literal["auto", 256, 512] = "auto"
    clear: bool = False
    save_enctlv: bool = False
    endian: Endian = "little"

    def __post_init__(self) -> None:
        if not IMAGE_HEADER_SIZE <= self.header_size <= 0xFFFF:
            raise UsageError(
                f"-H/--header-size {self.header_size:#x} is out of range: the minimum is 32 "
                "(0x20) and the field is 16 bits; MCUboot builds use 0x200"
            )
        if self.slot_size < 0:
            raise UsageError("-S/--slot-size must not be negative")
        if self.align not in VALID_ALIGNS:
            raise UsageError(f"--align {self.align} is invalid: use 1, 2, 4, 8, 16 or 32")
        if self.max_align is not None and self.max_align not in VALID_MAX_ALIGNS:
            raise UsageError(f"--max-align {self.max_align} is invalid: use 8, 16 or 32")
        if self.max_sectors is not None and self.max_sectors < 0:
            # 0 is what imgtool accepts too: a trailer without a swap status area.
            raise UsageError("-M/--max-sectors must not be negative")
        if self.erased_val not in (0x00, 0xFF):
            raise UsageError("-R/--erased-val must be 0 or 0xff")
        if self.pads and self.slot_size == 0:
            # imgtool writes the trailer in front of the image here: no slot holds that.
            raise UsageError(
                "--pad/--confirm/--test with -S 0: the image and its trailer do not fit a "
                "0-byte slot; give -S/--slot-size"
            )
        sc = self.security_counter
        if sc is not None and sc != "auto" and not 0 <= int(sc) <= 0xFFFFFFFF:
            raise UsageError(f"-s/--security-counter {sc} does not fit in 32 bits")
        if self.load_addr and self.rom_fixed:
            raise UsageError("-L/--load-addr and -F/--rom-fixed cannot be used together: pick one")
        for name, value in (("-L/--load-addr", self.load_addr), ("-F/--rom-fixed", self.rom_fixed)):
            if value is not None and not 0 <= value <= 0xFFFFFFFF:
                raise UsageError(f"{name} {value:#x} does not fit in 32 bits")
        if self.sha not in ("auto", 256, 384, 512):
            raise UsageError(f"--sha {self.sha} is invalid: use auto, 256, 384 or 512")
        if self.pure and self.sha != "auto":
            raise UsageError("--pure selects the hash itself (SHA-512): drop --sha")
        if self.public_key_format not in ("hash", "full"):
            raise UsageError("--public-key-format must be hash or full")
        if self.encrypt_keylen not in (128, 256):
            raise UsageError("--encrypt-keylen must be 128 or 256")
        if self.hmac_sha not in ("auto", 256, 512):
            raise UsageError("--hmac-sha must be auto, 256 or 512")
        if self.endian not in ("little", "big"):
            raise UsageError("-e/--endian must be little or big")
        if self.boot_record is not None and len(self.boot_record) > MAX_SW_TYPE_LENGTH:
            raise UsageError(
                f"--boot-record {self.boot_record!r} is {len(self.boot_record)} characters: "
                f"the maximum is {MAX_SW_TYPE_LENGTH}"
            )
        for image_id, _dep_version in self.dependencies:
            if not 0 <= image_id <= 0xFF:
                raise UsageError(f"-d/--dependencies image id {image_id} is not 0..255")
        seen: set[int] = set()
        for tag, tlv_value in self.custom_tlvs:
            if tag in {int(t) for t in TlvType}:
                raise UsageError(f"--custom-tlv tag {tag:#x} conflicts with a predefined TLV")
            if not TLV_VENDOR_MIN <= tag <= TLV_VENDOR_MAX:
                raise UsageError(
                    f"--custom-tlv tag {tag:#x} is out of range: use 0x{TLV_VENDOR_MIN:04x}.."
                    f"0x{TLV_VENDOR_MAX:04x}"
                )
            if tag in seen:
                raise UsageError(f"--custom-tlv tag {tag:#x} is given twice")
            if len(tlv_value) > 0xFFFF - 8:
                raise UsageError(f"--custom-tlv {tag:#x} value is {len(tlv_value)} bytes, too long")
            seen.add(tag)
        # Raises UsageError for bad --vid/--cid forms before any work is done.
        self.uuid_tlvs()

    @property
    def pads(self) -> bool:
        """Whether the output is padded to the slot (``--pad``, implied by confirm/test)."""
        return self.pad or self.confirm or self.test

    @property
    def effective_max_align(self) -> int:
        return max(DEFAULT_MAX_ALIGN, self.align) if self.max_align is None else self.max_align

    @property
    def effective_max_sectors(self) -> int:
        return DEFAULT_MAX_SECTORS if self.max_sectors is None else self.max_sectors

    def trailer_tail(self) -> tuple[int, bytes]:
        """(length, bytes) of the trailer tail a padded output ends with (image_ok, magic)."""
        return trailer_bytes(
            max_align=self.effective_max_align,
            erased_val=self.erased_val,
            confirm=self.confirm,
            overwrite_only=self.overwrite_only,
            endian=self.endian,
        )

    def security_counter_value(self) -> int | None:
        if self.security_counter == "auto":
            return self.version.security_counter()
        return None if self.security_counter is None else int(self.security_counter)

    def uuid_tlvs(self) -> tuple[bytes | None, bytes | None]:
        """The UUID_VID and UUID_CID values (raw UUIDs, or uuid5 names as imgtool derives them)."""
        vid = None if self.vid is None else _parse_uuid(uuid.NAMESPACE_DNS, self.vid, "--vid")
        cid = None
        if self.cid is not None:
            ns = uuid.UUID(bytes=vid) if vid is not None else None
            cid = _parse_uuid(ns, self.cid, "--cid")
        return vid, cid


def _parse_uuid(namespace: uuid.UUID | None, value: str, option: str) -> bytes:
    if _UUID_RE.fullmatch(value):
        return bytes.fromhex(value.replace("-", ""))
    if _UUID_HEX_RE.fullmatch(value):
        return bytes.fromhex(value)
    if value.isprintable():
        if namespace is None:
            raise UsageError(
                f"{option} {value!r} is a name but there is no --vid to derive it from: "
                "give --vid, or a raw UUID"
            )
        return uuid.uuid5(namespace, value).bytes
    raise UsageError(f"{option} {value!r} is neither a UUID nor a printable name")


def select_hash(kind: KeyKind | None, options: SignOptions, *, private: bool = True) -> int:
    """The image hash size imgtool picks for this key and ``--sha``/``--pure``.

    :param private: False for ``--fix-sig-pubkey`` keys (a P-256 public key also allows 512).
    """
    if options.pure and kind is not None:
        if kind is not KeyKind.ED25519 or not private:
            raise UsageError("--pure needs an Ed25519 signing key (-k)")
        return 512
    if kind is None:
        # imgtool: without a key --pure only adds the SIG_PURE TLV to a SHA-256 image.
        return 256 if options.sha == "auto" else int(options.sha)
    allowed = kind.allowed_sha
    if not private and kind is KeyKind.ECDSA_P256:
        allowed = (256, 512)
    if options.sha == "auto":
        return allowed[0]
    if options.sha not in allowed:
        names = "/".join(str(a) for a in allowed)
        raise UsageError(
            f"{kind.value} keys cannot be used with --sha {options.sha}: use --sha {names}"
        )
    return int(options.sha)


class _Source:
    """Random access in chunks to bytes or a seekable binary file."""

    def __init__(self, payload: PayloadSource) -> None:
        if isinstance(payload, (bytes, bytearray, memoryview)):
            self._view: memoryview | None = memoryview(payload).cast("B")
            self._file: BinaryIO | None = None
            self._base = 0
            self.size = len(self._view)
        else:
            self._view = None
            self._file = payload
            try:
                self._base = payload.tell()
                self.size = payload.seek(0, io.SEEK_END) - self._base
            except (OSError, io.UnsupportedOperation):
                raise ImageError("the input must be a seekable file") from None

    def read(self, start: int, end: int, chunk: int = CHUNK_SIZE) -> Iterator[bytes | memoryview]:
        if self._view is not None:
            for off in range(start, end, chunk):
                yield self._view[off : min(off + chunk, end)]
            return
        assert self._file is not None
        self._file.seek(self._base + start)
        left = end - start
        while left > 0:
            data = self._file.read(min(chunk, left))
            if not data:
                raise ImageError("the input file shrank while it was being signed")
            left -= len(data)
            yield data


@dataclass(frozen=True)
class _Layout:
    header_block: bytes  # header + header pad
    payload_start: int  # offset in the source where the payload begins
    payload_end: int
    zero_pad: int  # the 0-15 zero bytes added with -E
    protected_area: bytes


class SignedImage:
    """A built image; bytes are produced on demand from the (re-read) source."""

    def __init__(
        self,
        *,
        source: _Source,
        layout: _Layout,
        header: ImageHeader,
        options: SignOptions,
        digest: bytes,
        unprotected_tlvs: tuple[Tlv, ...],
        plainkey: bytes | None,
        signature: bytes | None,
    ) -> None:
        self._source = source
        self._layout = layout
        self.header = header
        self.options = options
        self.digest = digest
        self.unprotected_tlvs = unprotected_tlvs
        self.protected_tlvs_area = layout.protected_area
        self._unprot_area = encode_tlv_area(
            unprotected_tlvs, protected=False, endian=options.endian
        )
        self._plainkey = plainkey
        #: The signature TLV value (``--sig-out``), or None for an unsigned image.
        self.signature = signature
        self.image_size = (
            header.hdr_size + header.img_size + len(layout.protected_area) + len(self._unprot_area)
        )

    @property
    def size(self) -> int:
        """Length of the output: the slot size when padded, else the image size."""
        return self.options.slot_size if self.options.pads else self.image_size

    @property
    def enc_tlv(self) -> Tlv | None:
        return next((t for t in self.unprotected_tlvs if t.type in ENC_TLVS), None)

    def _payload_chunks(self, *, encrypt: bool) -> Iterator[bytes | memoryview]:
        lay = self._layout
        pieces: Iterator[bytes | memoryview] = self._source.read(lay.payload_start, lay.payload_end)
        if not encrypt or self._plainkey is None or self.options.clear:
            yield from pieces
            if lay.zero_pad:
                yield bytes(lay.zero_pad)
            return
        enc = Cipher(algorithms.AES(self._plainkey), modes.CTR(bytes(16))).encryptor()
        for piece in pieces:
            yield enc.update(piece)
        yield enc.update(bytes(lay.zero_pad)) + enc.finalize()

    def image_chunks(self) -> Iterator[bytes | memoryview]:
        """The image without slot padding: header, payload, TLV areas."""
        yield self._layout.header_block
        yield from self._payload_chunks(encrypt=True)
        yield self._layout.protected_area
        yield self._unprot_area

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The whole output: the image, then (``--pad``) fill and trailer up to the slot size."""
        yield from self.image_chunks()
        if not self.options.pads:
            return
        opts = self.options
        tail_len, tail = opts.trailer_tail()
        fill = opts.slot_size - self.image_size - tail_len
        block = bytes([opts.erased_val]) * min(fill, CHUNK_SIZE)
        while fill > 0:
            n = min(fill, len(block))
            yield block[:n]
            fill -= n
        yield tail

    def trailer_rows(self) -> list[tuple[int, bytes]]:
        """(slot offset, bytes) records imgtool writes into a padded ``.hex`` (no fill)."""
        return trailer_rows(self.options)

    def write_to(self, fileobj: BinaryIO) -> None:
        """Stream the output to a binary file object."""
        for chunk in self.chunks():
            fileobj.write(chunk)

    def to_bytes(self) -> bytes:
        """The output in memory (fine for small images; prefer :meth:`write_to`)."""
        return b"".join(bytes(c) if isinstance(c, memoryview) else c for c in self.chunks())

    def image_bytes(self) -> bytes:
        """The unpadded image in memory."""
        return b"".join(bytes(c) if isinstance(c, memoryview) else c for c in self.image_chunks())

    def hashed_region(self) -> bytes:
        """The plaintext region the hash covers (``--vector-to-sign payload``)."""
        return _region(self._source, self._layout)

    def vector_to_sign(self, kind: Literal["payload", "digest"]) -> bytes:
        """What ``imgtool sign --vector-to-sign`` writes: the hashed region or its digest."""
        return self.digest if kind == "digest" else self.hashed_region()


def trailer_rows(opts: SignOptions) -> list[tuple[int, bytes]]:
    """(slot offset, bytes) records imgtool writes into a padded ``.hex`` (no fill)."""
    if not opts.pads:
        return []
    max_align = opts.effective_max_align
    rows: list[tuple[int, bytes]] = []
    if (opts.test or opts.confirm) and not opts.overwrite_only:
        flag = bytearray([opts.erased_val]) * max_align
        if opts.confirm:
            flag[0] = 0x01
        rows.append((opts.slot_size - image_ok_offset_from_end(max_align), bytes(flag)))
    rows.append((opts.slot_size - 16, boot_magic(max_align, opts.endian)))
    return rows


def padded_vector(vector: bytes, opts: SignOptions, *, encrypted: bool) -> bytes:
    """``--vector-to-sign`` output with ``--pad``, as imgtool saves it: the vector, then fill
    and a trailer up to the slot size (imgtool's trailer estimate; no fits-in-slot check)."""
    tsize = imgtool_trailer_size(
        align=opts.align,
        max_align=opts.effective_max_align,
        max_sectors=opts.max_sectors,
        overwrite_only=opts.overwrite_only,
        encrypted=encrypted,
        save_enctlv=opts.save_enctlv,
    )
    tail_len, tail = opts.trailer_tail()
    fill = max(0, opts.slot_size - len(vector) - tsize) + tsize - tail_len
    return vector + bytes([opts.erased_val]) * fill + tail


def _protected_tlvs(
    options: SignOptions, hash_bits: int, keyhash: bytes, endian: Endian
) -> list[Tlv]:
    e = struct_prefix(endian)
    out: list[Tlv] = []
    counter = options.security_counter_value()
    if counter is not None:
        out.append(Tlv(TlvType.SEC_CNT, struct.pack(e + "I", counter)))
    if options.boot_record is not None:
        v = options.version
        record = cbor2.dumps(
            {
                1: options.boot_record,
                4: f"{v.major}.{v.minor}.{v.revision}",
                5: keyhash,
                6: _HASH_TLV[hash_bits].name,
                # The bootloader fills in the measurement; imgtool leaves zeros of hash size.
                2: bytes(hash_bits // 8),
            }
        )
        out.append(Tlv(TlvType.BOOT_RECORD, record))
    for image_id, dep in options.dependencies:
        value = struct.pack(e + "B3xBBHI", image_id, dep.major, dep.minor, dep.revision, dep.build)
        out.append(Tlv(TlvType.DEPENDENCY, value))
    vid, cid = options.uuid_tlvs()
    if vid is not None:
        out.append(Tlv(TlvType.UUID_VID, vid))
    if cid is not None:
        out.append(Tlv(TlvType.UUID_CID, cid))
    out.extend(Tlv(tag, bytes(value)) for tag, value in options.custom_tlvs)
    return out


def _check_input_start(source: _Source, options: SignOptions) -> None:
    if options.pad_header:
        return
    if source.size < options.header_size:
        raise ImageError(
            f"input is {source.size} bytes, shorter than the {options.header_size:#x}-byte "
            "header it must start with: pass --pad-header to add the header"
        )
    head = b"".join(bytes(c) for c in source.read(0, options.header_size))
    if head.count(0) != len(head):
        raise ImageError(
            f"input does not start with {options.header_size:#x} zero bytes for the header: "
            "pass --pad-header, or build with CONFIG_ROM_START_OFFSET equal to -H"
        )


def sign_image(
    payload: PayloadSource,
    options: SignOptions,
    *,
    signer: Signer | None = None,
    encrypt_to: KeyWrapper | None = None,
    external_signature: tuple[bytes, bytes, KeyKind] | None = None,
    public_key: tuple[bytes, KeyKind] | None = None,
) -> SignedImage:
    """Sign (and with *encrypt_to*, encrypt) *payload* as ``imgtool sign`` does.

    :param payload: the application binary: bytes, or a seekable binary file read from its current
        position, once here (hash) and again by every ``chunks()``/``write_to()`` call, so keep it
        open until the output is written.
    :param signer: signs the digest (or region, ``--pure``); None for a hash-only image.
    :param encrypt_to: wraps the fresh AES key for the device (``-E``).
    :param external_signature: ``--fix-sig``: (signature TLV value, public key bytes, kind).
    :param public_key: for ``--vector-to-sign`` with a key: (public key bytes, kind) decide the
        hash and KEYHASH exactly as ``-k`` would, without signing.
    ``--clear`` without *encrypt_to* has no effect, as in imgtool (the CLI warns).

    :raises UsageError: options that cannot be combined.
    :raises ImageError: input or output that cannot be an image (size, header zeros).
    :raises KeyError_: an encryption key bootutil cannot use with these options.
    """
    if sum(x is not None for x in (signer, external_signature, public_key)) > 1:
        raise UsageError("give one of a signing key (-k), --fix-sig or a public key, not several")
    check_encryption(options, encrypt_to)

    kind: KeyKind | None
    pub: bytes | None
    if signer is not None:
        kind, pub = signer.key_kind, signer.public_key_bytes()
    elif external_signature is not None:
        kind, pub = external_signature[2], external_signature[1]
    elif public_key is not None:
        pub, kind = public_key
    else:
        kind, pub = None, None
    hash_bits = select_hash(kind, options, private=external_signature is None)
    keyhash = _hash_new(hash_bits, pub).digest() if pub is not None else bytes(32)

    source = _Source(payload)
    _check_input_start(source, options)
    prefix = options.header_size if options.pad_header else 0
    raw_len = prefix + source.size
    encrypted = encrypt_to is not None
    zero_pad = (-raw_len) % 16 if encrypted else 0
    img_size = raw_len + zero_pad - options.header_size
    if img_size > 0xFFFFFFFF:
        raise ImageError("the payload is larger than 4 GiB, which an image header cannot describe")

    e = options.endian
    prot_area = encode_tlv_area(
        _protected_tlvs(options, hash_bits, keyhash, e), protected=True, endian=e
    )
    flags = ImageFlags(0)
    if encrypted:
        flags |= (
            ImageFlags.ENCRYPTED_AES256
            if options.encrypt_keylen == 256
            else ImageFlags.ENCRYPTED_AES128
        )
    if options.load_addr:
        flags |= ImageFlags.RAM_LOAD
    if options.rom_fixed:
        flags |= ImageFlags.ROM_FIXED
    if options.non_bootable:
        flags |= ImageFlags.NON_BOOTABLE
    header = ImageHeader(
        IMAGE_MAGIC,
        options.rom_fixed or options.load_addr,
        options.header_size,
        len(prot_area),
        img_size,
        flags,
        options.version,
    )
    hdr_pad = bytes([options.erased_val if options.pad_header else 0]) * (
        options.header_size - IMAGE_HEADER_SIZE
    )
    layout = _Layout(
        header_block=header.dumps(e) + hdr_pad,
        payload_start=0 if options.pad_header else options.header_size,
        payload_end=source.size,
        zero_pad=zero_pad,
        protected_area=prot_area,
    )

    # Pass 1: hash the plaintext region.
    h = _hash_new(hash_bits)
    h.update(layout.header_block)
    for chunk in source.read(layout.payload_start, layout.payload_end):
        h.update(chunk)
    h.update(bytes(zero_pad))
    h.update(prot_area)
    digest = h.digest()

    unprot: list[Tlv] = [Tlv(_HASH_TLV[hash_bits], digest)]
    if options.pure:
        unprot.append(Tlv(TlvType.SIG_PURE, b"\x01"))
    signature: bytes | None = None
    if pub is not None and public_key is None:
        assert kind is not None
        if options.public_key_format == "hash":
            unprot.append(Tlv(TlvType.KEYHASH, keyhash))
        else:
            unprot.append(Tlv(TlvType.PUBKEY, pub))
        if signer is not None:
            to_sign = digest
            if options.pure:
                to_sign = _region(source, layout)
            signature = signer.sign(to_sign)
            padded = kind.padded_sig_len
            if options.pad_sig and padded is not None and len(signature) < padded:
                signature += bytes(padded - len(signature))
        else:
            assert external_signature is not None
            signature = external_signature[0]
        unprot.append(Tlv(kind.sig_tlv, signature))

    plainkey: bytes | None = None
    enc_len = 0
    if encrypt_to is not None:
        plainkey = rng.token_bytes(options.encrypt_keylen // 8)
        hmac_sha = 256 if options.hmac_sha == "auto" else int(options.hmac_sha)
        enc_type, enc_value = encrypt_to.wrap(plainkey, hmac_sha=hmac_sha)
        enc_len = len(enc_value)
        unprot.append(Tlv(enc_type, enc_value))

    image = SignedImage(
        source=source,
        layout=layout,
        header=header,
        options=options,
        digest=digest,
        unprotected_tlvs=tuple(unprot),
        plainkey=plainkey,
        signature=signature,
    )
    if public_key is None:
        check_fits(image.image_size, options, encrypted=encrypted, enctlv_len=enc_len)
    return image


def check_encryption(options: SignOptions, encrypt_to: KeyWrapper | None) -> None:
    """Refuse encryption settings the bootloader cannot use, before any payload is read.

    :raises UsageError: ``--pure`` with encryption, ``-H`` off an AES block, ``--hmac-sha 512``
        for a key other than X25519.
    :raises KeyError_: an AES-KW KEK whose length is not ``--encrypt-keylen``.
    """
    if encrypt_to is None:
        return
    if options.pure:
        raise UsageError(
            "--pure cannot be combined with -E: the device verifies a pure signature over the "
            "slot contents, which are ciphertext; sign without --pure"
        )
    if options.header_size % 16:
        raise UsageError(
            f"-H/--header-size {options.header_size:#x} is not a multiple of 16: an encrypted "
            "payload must start on an AES block; use 0x200"
        )
    scheme = encrypt_to.scheme
    if options.hmac_sha == 512 and scheme is not EncScheme.ECIES_X25519:
        raise UsageError(
            f"--hmac-sha 512 needs an X25519 -E key (TLV 0x34), not {scheme.value}: drop --hmac-sha"
        )
    kek_bits = getattr(encrypt_to, "kek_bits", None)
    if kek_bits is not None and kek_bits != options.encrypt_keylen:
        raise KeyError_(
            f"KEK is AES-{kek_bits} but --encrypt-keylen is {options.encrypt_keylen}; bootutil "
            f"requires them equal: use --encrypt-keylen {kek_bits} or a "
            f"{options.encrypt_keylen // 8}-byte KEK"
        )


def _region(source: _Source, layout: _Layout) -> bytes:
    parts: list[bytes] = [layout.header_block]
    parts.extend(bytes(c) for c in source.read(layout.payload_start, layout.payload_end))
    parts.append(bytes(layout.zero_pad))
    parts.append(layout.protected_area)
    return b"".join(parts)


def check_fits(image_size: int, options: SignOptions, *, encrypted: bool, enctlv_len: int) -> None:
    """Refuse an image that does not fit its slot with the trailer.

    bootutil's trailer is the one that matters on the device; when only it fails, the message
    names both figures so users understand why imgtool accepted the same image.
    """
    if options.slot_size <= 0:
        return
    max_align = options.effective_max_align
    ours = bootutil_trailer_size(
        align=options.align,
        max_align=max_align,
        max_sectors=options.effective_max_sectors,
        overwrite_only=options.overwrite_only,
        aes_key_bytes=options.encrypt_keylen // 8 if encrypted else None,
        save_enctlv=options.save_enctlv,
        enctlv_len=enctlv_len,
    )
    theirs = imgtool_trailer_size(
        align=options.align,
        max_align=max_align,
        max_sectors=options.effective_max_sectors,
        overwrite_only=options.overwrite_only,
        encrypted=encrypted,
        save_enctlv=options.save_enctlv,
        enctlv_len=enctlv_len,
    )
    slot = options.slot_size
    if image_size + theirs > slot:
        raise ImageError(
            f"image (0x{image_size:x} bytes) + trailer (0x{theirs:x}) exceeds the slot size "
            f"0x{slot:x}: use a larger -S/--slot-size, fewer -M/--max-sectors, or a smaller image"
        )
    if image_size + ours > slot:
        raise ImageError(
            f"image (0x{image_size:x} bytes) + bootutil's trailer (0x{ours:x}) exceeds the slot "
            f"size 0x{slot:x} (imgtool's smaller estimate 0x{theirs:x} would fit, but the "
            "bootloader needs the full trailer): use a larger -S/--slot-size, fewer "
            "-M/--max-sectors, or a smaller image"
        )


__all__ = [
    "CHUNK_SIZE",
    "PayloadSource",
    "SignOptions",
    "SignedImage",
    "check_encryption",
    "check_fits",
    "padded_vector",
    "select_hash",
    "sign_image",
    "trailer_rows",
]

"""Judging an image as the bootloader does, and decrypting it as the device does.

Order follows bootutil: header (``boot_check_header_valid``), TLV walk, key unwrap
(``boot_enc_load``, secondary slot only), hash over the decrypted payload
(``bootutil_img_hash``), key hash (``bootutil_find_key``), signature (``bootutil_verify_sig``).
The primary slot is never decrypted: there the payload must already be plaintext, which is
exactly what a ``--clear`` image is.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mcuseal.errors import ImageError, ImageFormatError, VerificationError
from mcuseal.image.crypto import (
    DeviceKey,
    KeyKind,
    UnwrapError,
    key_kind,
    load_public_key_bytes,
    public_key_bytes,
    verify_signature,
)
from mcuseal.image.parse import ParsedImage
from mcuseal.image.structs import ENC_TLVS, HASH_TLVS, SIG_TLVS, ImageFlags, TlvType

Slot = Literal["secondary", "primary"]
_CHUNK = 1 << 20
HashFactory = Callable[[], "hashlib._Hash"]
_HASH_BY_TLV: dict[TlvType, HashFactory] = {
    TlvType.SHA256: hashlib.sha256,
    TlvType.SHA384: hashlib.sha384,
    TlvType.SHA512: hashlib.sha512,
}


class EncryptionState(enum.Enum):
    """What the payload of an image is, as far as could be determined."""

    NOT_ENCRYPTED = "NOT ENCRYPTED"
    ENCRYPTED = "ENCRYPTED"
    CLEAR = "CLEAR"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Check:
    """One bootloader check: ok True/False, or None when it could not be run."""

    name: str
    ok: bool | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_image`."""

    checks: tuple[Check, ...]
    encryption: EncryptionState
    payload_checked: bool
    slot: Slot
    image: ParsedImage | None = field(default=None, repr=False)
    #: Index (in the trusted key list) of the key that verified the signature.
    key_index: int | None = None

    @property
    def accepted(self) -> bool:
        """True when no check failed (checks that could not run do not fail the image)."""
        return all(c.ok is not False for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.ok is False)

    def to_json(self) -> dict[str, Any]:
        img = self.image
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "slot": self.slot,
            "encryption": self.encryption.name,
            "payload_checked": self.payload_checked,
            "checks": [c.to_json() for c in self.checks],
            "key_index": self.key_index,
        }
        if img is not None:
            out["version"] = str(img.header.version)
            out["image_size"] = img.tlv_end
        return out


def _hash_chunks(parsed: ParsedImage, hash_new: HashFactory, key: bytes | None) -> bytes:
    h = hash_new()
    for chunk in _region_chunks(parsed, key):
        h.update(chunk)
    return h.digest()


def _region_chunks(parsed: ParsedImage, key: bytes | None) -> Iterator[bytes | memoryview]:
    """The hashed region with the payload decrypted under *key* (as stored when None)."""
    view = memoryview(parsed.data)
    end = parsed.payload_offset + parsed.payload_size
    yield view[: parsed.payload_offset]
    yield from _payload_chunks(parsed, key)
    yield view[end : parsed.hashed_size]


def _payload_chunks(parsed: ParsedImage, key: bytes | None) -> Iterator[bytes | memoryview]:
    """The payload, decrypted under *key* (as stored when None), in chunks."""
    view = memoryview(parsed.data)
    start, end = parsed.payload_offset, parsed.payload_offset + parsed.payload_size
    if key is None:
        yield view[start:end]
        return
    dec = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).decryptor()
    for off in range(start, end, _CHUNK):
        yield dec.update(view[off : min(off + _CHUNK, end)])
    dec.finalize()


def _trusted_public(keys: Sequence[object]) -> list[tuple[bytes, object, KeyKind]]:
    out: list[tuple[bytes, object, KeyKind]] = []
    for key in keys:
        if isinstance(key, (bytes, bytearray)):
            pub_obj: object = load_public_key_bytes(bytes(key))
        else:
            pub_obj = key.public_key() if hasattr(key, "public_key") else key
        out.append((public_key_bytes(pub_obj), pub_obj, key_kind(pub_obj)))
    return out


def _unwrap(parsed: ParsedImage, device_key: DeviceKey) -> bytes:
    bits = parsed.aes_key_bits
    assert bits is not None
    for tlv_type in device_key.tlv_types:
        tlv = parsed.find(tlv_type)
        if tlv is not None:
            return device_key.unwrap(tlv.type, tlv.value, bits)
    present = parsed.enc_tlv
    found = f"it carries TLV 0x{present.type:02x}" if present else "it carries no ENC TLV"
    raise UnwrapError(
        f"no {device_key.scheme.value} key TLV for this device key ({found}): the image was "
        "encrypted for another kind of key"
    )


# ENC TLV value lengths bootutil accepts (BOOT_ENC_TLV_SIZE) per AES key size.
_ENC_TLV_LENGTHS = {
    TlvType.ENC_RSA2048: {128: 256, 256: 256},
    TlvType.ENC_KW: {128: 24, 256: 40},
    TlvType.ENC_EC256: {128: 113, 256: 129},
    TlvType.ENC_X25519: {128: 80, 256: 96},
    TlvType.ENC_X25519_SHA512: {128: 112, 256: 128},
}


def _enc_tlv_problem(parsed: ParsedImage) -> str | None:
    """Why no bootloader could unwrap this image's key, judged without a device key."""
    bits = parsed.aes_key_bits
    assert bits is not None
    tlv = parsed.enc_tlv
    if tlv is None:
        return (
            "the header says encrypted but there is no key TLV (0x30-0x34): no device can "
            "decrypt this image (imgtool writes this for a P-384 -E key); re-sign with an "
            "RSA-2048, P-256 or X25519 key"
        )
    want = _ENC_TLV_LENGTHS[TlvType(tlv.type)][bits]
    if len(tlv.value) != want:
        return (
            f"key TLV {TlvType(tlv.type).name} is {len(tlv.value)} bytes but AES-{bits} needs "
            f"{want}: no device can unwrap it (an RSA-3072 -E key does this); re-sign with a "
            "supported key"
        )
    return None


_BIG_ENDIAN_HEADER = (
    "big-endian header (imgtool -e big): bootutil reads the header in the CPU's byte order, "
    "so a little-endian bootloader sees magic 0x3db8f396 and rejects the image; sign "
    "without -e big"
)
_BIG_ENDIAN_TLVS = (
    "imgtool -e big packs each TLV type byte first and bootutil reads it_type as 16 bits, so "
    "even a big-endian bootloader sees SHA256 as 0x1000 and finds no hash TLV; the checks "
    "below read the types as imgtool meant them"
)


def _structure_checks(parsed: ParsedImage, slot_size: int | None) -> list[Check]:
    if parsed.endian == "big":
        return [Check("header", False, _BIG_ENDIAN_HEADER), Check("tlv", False, _BIG_ENDIAN_TLVS)]
    hdr = parsed.header
    detail = f"version {hdr.version}, {hdr.img_size} payload bytes, flags {int(hdr.flags):#x}"
    ok = slot_size is None or parsed.hashed_size < slot_size
    if not ok:
        detail = (
            f"header+payload+protected TLVs (0x{parsed.hashed_size:x}) do not fit the slot "
            f"(0x{slot_size:x})"
        )
    if hdr.flags & ImageFlags.NON_BOOTABLE:
        detail += "; NON_BOOTABLE: the bootloader will not boot it"
    tlv_ok = slot_size is None or parsed.tlv_end <= slot_size
    tlv_detail = (
        f"{len(parsed.protected_tlvs)} protected, {len(parsed.unprotected_tlvs)} unprotected"
        if tlv_ok
        else f"TLV area ends at 0x{parsed.tlv_end:x}, past the slot size 0x{slot_size:x}"
    )
    stray = next((t for t in parsed.unprotected_tlvs if t.type not in _UNPROTECTED_OK), None)
    if stray is not None:
        tlv_ok = False
        tlv_detail = (
            f"TLV {stray.type_name} is in the unprotected area, where bootutil's allow list "
            "(MCUBOOT_USE_TLV_ALLOW_LIST, on by default) admits only key, hash, signature and "
            "key-wrapping TLVs; sign it as a protected TLV"
        )
    return [Check("header", ok, detail), Check("tlv", tlv_ok, tlv_detail)]


#: ``allowed_unprot_tlvs`` of ``image_validate.c`` (the union over build options: SIG_PURE in
#: pure builds, one of the two X25519 types), plus ECDSA224 (0x21), which it still lists.
_UNPROTECTED_OK = frozenset(
    {TlvType.KEYHASH, TlvType.PUBKEY, TlvType.SIG_PURE, 0x21, *HASH_TLVS, *SIG_TLVS, *ENC_TLVS}
)


def _unwrap_check(
    parsed: ParsedImage, device_key: DeviceKey | None, slot: Slot
) -> tuple[Check, bytes | None]:
    """bootutil's ``boot_enc_load()``: only an update in the secondary slot is decrypted."""
    if not parsed.is_encrypted_flag:
        return Check("key unwrap", None, "image is not encrypted"), None
    if slot == "primary":
        return Check("key unwrap", None, "the primary slot is never decrypted"), None
    if device_key is None:
        problem = _enc_tlv_problem(parsed)
        if problem:
            return Check("key unwrap", False, problem), None
        return Check("key unwrap", None, "no device key given (-E)"), None
    try:
        plainkey = _unwrap(parsed, device_key)
    except UnwrapError as exc:
        return Check("key unwrap", False, str(exc)), None
    return Check("key unwrap", True, device_key.scheme.value), plainkey


@dataclass(frozen=True)
class _HashOutcome:
    check: Check
    state: EncryptionState
    payload_checked: bool


_CLEAR_IN_SECONDARY = (
    "payload is plaintext although the header says encrypted (a --clear image): the "
    "bootloader decrypts an update and would get garbage; flash it to the primary slot, or "
    "sign without --clear"
)


def _hash_check(
    parsed: ParsedImage,
    plainkey: bytes | None,
    device_key: DeviceKey | None,
    slot: Slot,
) -> _HashOutcome:
    """bootutil's ``bootutil_img_hash()`` over the payload the bootloader would see.

    The stored payload is hashed first: when it matches on an encrypted image, the payload is
    plaintext (CLEAR), which is right for the primary slot and wrong for an update.
    """
    hash_tlv = parsed.hash_tlv
    encrypted = parsed.is_encrypted_flag
    if hash_tlv is None:
        state = EncryptionState.UNKNOWN if encrypted else EncryptionState.NOT_ENCRYPTED
        return _HashOutcome(
            Check("hash", False, "no SHA256/SHA384/SHA512 TLV in the image"), state, False
        )
    hash_new = _HASH_BY_TLV[TlvType(hash_tlv.type)]
    want = hash_tlv.value
    if any(t.value != want for t in parsed.find_all(hash_tlv.type)):
        # bootutil compares every TLV of its hash type: two that differ cannot both match.
        check = Check("hash", False, f"two {TlvType(hash_tlv.type).name} TLVs disagree")
        return _HashOutcome(check, EncryptionState.UNKNOWN, False)
    stored_ok = _hash_chunks(parsed, hash_new, None) == want
    name = TlvType(hash_tlv.type).name
    if not encrypted or parsed.payload_size == 0:
        # An empty payload reads the same encrypted or not.
        state = EncryptionState.ENCRYPTED if encrypted else EncryptionState.NOT_ENCRYPTED
        return _HashOutcome(
            Check("hash", stored_ok, name if stored_ok else "hash mismatch"), state, True
        )
    if stored_ok:
        check = (
            Check("hash", True, "payload is plaintext (--clear form)")
            if slot == "primary"
            else Check("hash", False, _CLEAR_IN_SECONDARY)
        )
        return _HashOutcome(check, EncryptionState.CLEAR, True)
    if plainkey is not None:
        ok = _hash_chunks(parsed, hash_new, plainkey) == want
        detail = (
            f"{name} over the decrypted payload"
            if ok
            else "decrypted payload does not match the hash: wrong key or corrupt image"
        )
        state = EncryptionState.ENCRYPTED if ok else EncryptionState.UNKNOWN
        return _HashOutcome(Check("hash", ok, detail), state, True)
    if slot == "primary":
        detail = (
            "stored payload does not match the hash: the primary slot is never decrypted, so an "
            "encrypted payload fails there; flash the --clear form (mcuseal decrypt --image)"
        )
        if device_key is None:
            return _HashOutcome(Check("hash", False, detail), EncryptionState.ENCRYPTED, False)
        # With the device key, tell "encrypted image in the primary slot" from corruption.
        try:
            decrypted_ok = _hash_chunks(parsed, hash_new, _unwrap(parsed, device_key)) == want
        except UnwrapError:
            decrypted_ok = False
        state = EncryptionState.ENCRYPTED if decrypted_ok else EncryptionState.UNKNOWN
        return _HashOutcome(
            Check("hash", False, detail if decrypted_ok else "hash mismatch"), state, True
        )
    if device_key is not None:
        check = Check("hash", False, "not computed: the key could not be unwrapped")
        return _HashOutcome(check, EncryptionState.ENCRYPTED, False)
    check = Check(
        "hash", None, "not checked: the payload is encrypted and no device key was given (-E)"
    )
    return _HashOutcome(check, EncryptionState.ENCRYPTED, False)


def _key_match(key_tlv_type: int, key_tlv_value: bytes, pub: bytes) -> bool:
    """``bootutil_find_key()``: the KEYHASH is H(pub) with the image hash; PUBKEY is pub."""
    if key_tlv_type == TlvType.PUBKEY:
        return key_tlv_value == pub
    factory = {32: hashlib.sha256, 48: hashlib.sha384, 64: hashlib.sha512}.get(len(key_tlv_value))
    return factory is not None and factory(pub).digest() == key_tlv_value


def _signature_checks(
    parsed: ParsedImage, trusted: list[tuple[bytes, object, KeyKind]]
) -> tuple[list[Check], int | None]:
    """``bootutil_img_validate()``'s key and signature walk over every TLV, in image order.

    A KEYHASH/PUBKEY TLV selects the key (or none, when it matches no trusted key); the next
    signature TLV of that key's type is checked against it and clears the selection; a
    signature with no key selected is skipped.  The last signature checked decides.
    """
    if not trusted:
        signed = any(t.type in SIG_TLVS for t in parsed.tlvs)
        note = "" if signed else "; image is not signed"
        return [
            Check("key hash", None, "no trusted keys given" + note),
            Check("signature", None, "no trusted keys given"),
        ], None
    hash_tlv = parsed.hash_tlv
    selected: int | None = None
    matched: int | None = None
    key_tlvs = 0
    verdict: tuple[bool, int, KeyKind] | None = None
    for tlv in parsed.tlvs:
        if tlv.type in (TlvType.KEYHASH, TlvType.PUBKEY):
            key_tlvs += 1
            selected = next(
                (
                    i
                    for i, (pub, _, _) in enumerate(trusted)
                    if _key_match(tlv.type, tlv.value, pub)
                ),
                None,
            )
            matched = selected if selected is not None else matched
        elif tlv.type in SIG_TLVS and selected is not None:
            _, pub_obj, kind = trusted[selected]
            if tlv.type != kind.sig_tlv:
                continue  # not the type this bootloader is built to check
            # A pure signature covers the region as stored in the slot; otherwise the digest.
            if parsed.is_pure:
                ok = verify_signature(pub_obj, kind, tlv.value, bytes(parsed.hashed_region()))
            else:
                ok = hash_tlv is not None and verify_signature(
                    pub_obj, kind, tlv.value, hash_tlv.value
                )
            verdict = (ok, selected, kind)
            selected = None
    sig_present = any(t.type in SIG_TLVS for t in parsed.tlvs)
    if key_tlvs == 0 or not sig_present:
        return [
            Check("key hash", False, "image is not signed (no KEYHASH/PUBKEY TLV)"),
            Check("signature", False, "image is not signed: sign it with -k"),
        ], None
    if matched is None:
        return [
            Check("key hash", False, "signed by a key that is not among the trusted keys (-k)"),
            Check("signature", False, "no trusted key matches"),
        ], None
    if verdict is None:
        kind = trusted[matched][2]
        return [
            Check("key hash", True, f"trusted key #{matched + 1}"),
            Check("signature", False, f"no {kind.sig_tlv.name} TLV after the trusted key's TLV"),
        ], matched
    ok, index, kind = verdict
    if ok:
        detail = f"{kind.value}{' (pure)' if parsed.is_pure else ''}"
    elif hash_tlv is None and not parsed.is_pure:
        detail = "no hash TLV to verify against"
    else:
        detail = "does not verify"
    return [
        Check("key hash", True, f"trusted key #{index + 1}"),
        Check("signature", ok, detail),
    ], index


def verify_image(
    data: bytes,
    *,
    trusted_keys: Sequence[object] = (),
    device_key: DeviceKey | None = None,
    slot: Slot = "secondary",
    slot_size: int | None = None,
    require_encrypted: bool = False,
) -> VerifyReport:
    """Run bootutil's checks on *data* and report each.

    :param trusted_keys: the device's signature keys: cryptography public/private key objects,
        or the raw public-key bytes a :class:`~mcuseal.image.crypto.Signer` returns.  Empty means
        a hash-only bootloader (no ``MCUBOOT_SIGN_*``).
    :param device_key: the device's decryption key; without it an encrypted payload cannot be
        hashed, and the report says so (``payload_checked`` False).
    :param slot: ``secondary`` judges an update (decrypted by the bootloader); ``primary`` an
        installed or factory-flashed image (never decrypted).
    :param slot_size: when given, the image must fit (bootutil: hdr+img+TLVs within the slot).
    :param require_encrypted: add a failing check unless the payload is ENCRYPTED.
    :raises KeyError_: a trusted key mcuseal cannot use (bad input, not a rejected image).
    """
    trusted = _trusted_public(trusted_keys)
    try:
        parsed = ParsedImage.loads(data)
    except ImageFormatError as exc:
        return VerifyReport(
            (Check("header", False, str(exc)),), EncryptionState.UNKNOWN, False, slot
        )
    checks = _structure_checks(parsed, slot_size)
    parsed = parsed.with_imgtool_types()
    unwrap, plainkey = _unwrap_check(parsed, device_key, slot)
    checks.append(unwrap)
    outcome = _hash_check(parsed, plainkey, device_key, slot)
    checks.append(outcome.check)
    sig_checks, key_index = _signature_checks(parsed, trusted)
    checks.extend(sig_checks)
    if require_encrypted:
        ok = outcome.state is EncryptionState.ENCRYPTED
        checks.append(Check("encrypted", ok, f"payload is {outcome.state.value}"))
    return VerifyReport(
        tuple(checks), outcome.state, outcome.payload_checked, slot, parsed, key_index
    )


@dataclass(frozen=True)
class DecryptedImage:
    """The result of :func:`decrypt_image`."""

    image: ParsedImage
    #: The plaintext payload, including imgtool's 0-15 zero pad bytes.
    payload: bytes

    def clear_image(self) -> bytes:
        """The image with a plaintext payload, flag and ENC TLV kept (the ``--clear`` form)."""
        img = self.image
        start = img.payload_offset
        return (
            bytes(img.data[:start])
            + self.payload
            + bytes(img.data[start + img.payload_size : img.tlv_end])
        )


def decrypt_image(data: bytes, device_key: DeviceKey) -> DecryptedImage:
    """Decrypt the payload of an encrypted image and check it against the image hash.

    :raises ImageFormatError: the image does not parse.
    :raises ImageError: the image is not encrypted, or already plaintext (``--clear``).
    :raises VerificationError: unwrap failed or the decrypted payload does not match its hash.
    """
    # An -e big image is no bootloader's, but its content is decrypted like any other.
    parsed = ParsedImage.loads(data).with_imgtool_types()
    if not parsed.is_encrypted_flag:
        raise ImageError("the image is not encrypted (no ENCRYPTED flag): nothing to decrypt")
    payload = b"".join(_payload_chunks(parsed, _unwrap(parsed, device_key)))
    hash_tlv = parsed.hash_tlv
    if hash_tlv is not None:
        # Hash the plaintext just made rather than decrypting a second time.
        hash_new = _HASH_BY_TLV[TlvType(hash_tlv.type)]
        h = hash_new()
        view = memoryview(parsed.data)
        h.update(view[: parsed.payload_offset])
        h.update(payload)
        h.update(view[parsed.payload_offset + parsed.payload_size : parsed.hashed_size])
        if h.digest() != hash_tlv.value:
            if _hash_chunks(parsed, hash_new, None) == hash_tlv.value:
                raise ImageError(
                    "the payload is already plaintext (a --clear image): nothing to decrypt"
                )
            raise VerificationError(
                "the decrypted payload does not match the image hash: wrong device key or a "
                "corrupt image"
            )
    return DecryptedImage(parsed, payload)


__all__ = [
    "Check",
    "DecryptedImage",
    "EncryptionState",
    "VerifyReport",
    "decrypt_image",
    "verify_image",
]

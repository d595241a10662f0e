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
from mcuseal.image.structs import ImageFlags, TlvType

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
    start, end = parsed.payload_offset, parsed.payload_offset + parsed.payload_size
    yield view[:start]
    if key is None:
        yield view[start:end]
    else:
        enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).decryptor()
        for off in range(start, end, _CHUNK):
            yield enc.update(view[off : min(off + _CHUNK, end)])
        enc.finalize()
    yield view[end : parsed.hashed_size]


def _decrypted_payload(parsed: ParsedImage, key: bytes) -> Iterator[bytes]:
    view = memoryview(parsed.data)
    start, end = parsed.payload_offset, parsed.payload_offset + parsed.payload_size
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).decryptor()
    for off in range(start, end, _CHUNK):
        yield enc.update(view[off : min(off + _CHUNK, end)])
    enc.finalize()


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
    """
    checks: list[Check] = []
    trusted = _trusted_public(trusted_keys)
    try:
        parsed = ParsedImage.loads(data)
    except ImageFormatError as exc:
        checks.append(Check("header", False, str(exc)))
        return VerifyReport(tuple(checks), EncryptionState.UNKNOWN, False, slot)

    hdr = parsed.header
    header_detail = (
        f"version {hdr.version}, {hdr.img_size} payload bytes, flags {int(hdr.flags):#x}"
    )
    header_ok = True
    if slot_size is not None and parsed.hashed_size >= slot_size:
        header_ok = False
        header_detail = (
            f"header+payload+protected TLVs (0x{parsed.hashed_size:x}) do not fit the slot "
            f"(0x{slot_size:x})"
        )
    if hdr.flags & ImageFlags.NON_BOOTABLE:
        header_detail += "; NON_BOOTABLE: the bootloader will not boot it"
    checks.append(Check("header", header_ok, header_detail))
    tlv_ok = slot_size is None or parsed.tlv_end <= slot_size
    checks.append(
        Check(
            "tlv",
            tlv_ok,
            f"{len(parsed.protected_tlvs)} protected, {len(parsed.unprotected_tlvs)} unprotected"
            if tlv_ok
            else f"TLV area ends at 0x{parsed.tlv_end:x}, past the slot size 0x{slot_size:x}",
        )
    )

    hash_tlv = parsed.hash_tlv
    hash_new = _HASH_BY_TLV.get(TlvType(hash_tlv.type)) if hash_tlv is not None else None
    encrypted = parsed.is_encrypted_flag

    # Key unwrap: only the secondary slot is decrypted.
    plainkey: bytes | None = None
    if not encrypted:
        checks.append(Check("key unwrap", None, "image is not encrypted"))
    elif slot == "primary":
        checks.append(Check("key unwrap", None, "the primary slot is never decrypted"))
    elif device_key is None:
        problem = _enc_tlv_problem(parsed)
        checks.append(
            Check("key unwrap", False, problem)
            if problem
            else Check("key unwrap", None, "no device key given (-E)")
        )
    else:
        try:
            plainkey = _unwrap(parsed, device_key)
            checks.append(Check("key unwrap", True, f"{device_key.scheme.value}"))
        except UnwrapError as exc:
            checks.append(Check("key unwrap", False, str(exc)))

    # Hash.
    state = EncryptionState.NOT_ENCRYPTED
    payload_checked = False
    hash_ok = False
    if hash_tlv is None or hash_new is None:
        checks.append(Check("hash", False, "no SHA256/SHA384/SHA512 TLV in the image"))
        state = EncryptionState.UNKNOWN if encrypted else state
    else:
        want = hash_tlv.value
        stored_matches = _hash_chunks(parsed, hash_new, None) == want
        if not encrypted or parsed.payload_size == 0:
            # An empty payload reads the same encrypted or not.
            state = EncryptionState.ENCRYPTED if encrypted else state
            hash_ok = stored_matches
            payload_checked = True
            checks.append(
                Check("hash", hash_ok, TlvType(hash_tlv.type).name if hash_ok else "hash mismatch")
            )
        elif stored_matches:
            state = EncryptionState.CLEAR
            payload_checked = True
            if slot == "primary":
                hash_ok = True
                checks.append(Check("hash", True, "payload is plaintext (--clear form)"))
            else:
                checks.append(
                    Check(
                        "hash",
                        False,
                        "payload is plaintext although the header says encrypted (a --clear "
                        "image): the bootloader decrypts an update and would get garbage; flash "
                        "it to the primary slot, or sign without --clear",
                    )
                )
        elif plainkey is not None:
            decrypted_matches = _hash_chunks(parsed, hash_new, plainkey) == want
            payload_checked = True
            hash_ok = decrypted_matches
            state = EncryptionState.ENCRYPTED if decrypted_matches else EncryptionState.UNKNOWN
            checks.append(
                Check(
                    "hash",
                    hash_ok,
                    "over the decrypted payload"
                    if hash_ok
                    else "decrypted payload does not match the hash: wrong key or corrupt image",
                )
            )
        elif slot == "primary" and device_key is not None:
            # Tell "encrypted image flashed to the primary slot" apart from corruption.
            try:
                key = _unwrap(parsed, device_key)
                decrypted_ok = _hash_chunks(parsed, hash_new, key) == want
            except UnwrapError:
                decrypted_ok = False
            payload_checked = True
            state = EncryptionState.ENCRYPTED if decrypted_ok else EncryptionState.UNKNOWN
            checks.append(
                Check(
                    "hash",
                    False,
                    "payload is encrypted but the primary slot is never decrypted: flash the "
                    "--clear form (mcuseal decrypt --image) instead"
                    if decrypted_ok
                    else "hash mismatch",
                )
            )
        elif slot == "primary":
            state = EncryptionState.ENCRYPTED
            checks.append(
                Check(
                    "hash",
                    False,
                    "stored payload does not match the hash: the primary slot is never "
                    "decrypted, so an encrypted payload fails there (flash the --clear form)",
                )
            )
        elif device_key is not None:
            state = EncryptionState.ENCRYPTED
            checks.append(Check("hash", False, "not computed: the key could not be unwrapped"))
        else:
            state = EncryptionState.ENCRYPTED
            checks.append(
                Check(
                    "hash",
                    None,
                    "not checked: the payload is encrypted and no device key was given (-E)",
                )
            )

    # Key hash / public key, then signature.
    key_index: int | None = None
    digest_known = hash_tlv is not None
    signed_tlvs = [t for t in parsed.unprotected_tlvs if t.type in _SIG_KINDS]
    key_tlv = parsed.find(TlvType.KEYHASH) or parsed.find(TlvType.PUBKEY)
    if not trusted:
        checks.append(
            Check(
                "key hash",
                None,
                "no trusted keys given" + ("" if signed_tlvs else "; image is not signed"),
            )
        )
        checks.append(Check("signature", None, "no trusted keys given"))
    elif key_tlv is None or not signed_tlvs:
        checks.append(Check("key hash", False, "image is not signed (no KEYHASH/PUBKEY TLV)"))
        checks.append(Check("signature", False, "image is not signed: sign it with -k"))
    else:
        candidates: list[int] = []
        for i, (pub, _obj, _kind) in enumerate(trusted):
            if key_tlv.type == TlvType.PUBKEY:
                match = key_tlv.value == pub
            else:
                hname = {32: hashlib.sha256, 48: hashlib.sha384, 64: hashlib.sha512}.get(
                    len(key_tlv.value)
                )
                match = hname is not None and hname(pub).digest() == key_tlv.value
            if match:
                candidates.append(i)
        if not candidates:
            checks.append(
                Check("key hash", False, "signed by a key that is not among the trusted keys (-k)")
            )
            checks.append(Check("signature", False, "no trusted key matches"))
        else:
            key_index = candidates[0]
            checks.append(Check("key hash", True, f"trusted key #{key_index + 1}"))
            pub, pub_obj, kind = trusted[key_index]
            sig_tlv = next((t for t in signed_tlvs if t.type == kind.sig_tlv), None)
            if sig_tlv is None:
                checks.append(
                    Check("signature", False, f"no {kind.sig_tlv.name} signature TLV for this key")
                )
            elif not digest_known:
                checks.append(Check("signature", False, "no hash TLV to verify against"))
            else:
                assert hash_tlv is not None
                # A pure signature covers the region as stored in the slot.
                signed = bytes(parsed.hashed_region()) if parsed.is_pure else hash_tlv.value
                ok = verify_signature(pub_obj, kind, sig_tlv.value, signed)
                checks.append(
                    Check(
                        "signature",
                        ok,
                        f"{kind.value}" + (" (pure)" if parsed.is_pure else "")
                        if ok
                        else "signature does not verify",
                    )
                )

    if require_encrypted:
        checks.append(
            Check(
                "encrypted",
                state is EncryptionState.ENCRYPTED,
                f"payload is {state.value}",
            )
        )
    return VerifyReport(tuple(checks), state, payload_checked, slot, parsed, key_index)


_SIG_KINDS = (TlvType.ECDSA_SIG, TlvType.ED25519, TlvType.RSA2048_PSS, TlvType.RSA3072_PSS)


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
    parsed = ParsedImage.loads(data)
    if not parsed.is_encrypted_flag:
        raise ImageError("the image is not encrypted (no ENCRYPTED flag): nothing to decrypt")
    key = _unwrap(parsed, device_key)
    hash_tlv = parsed.hash_tlv
    if hash_tlv is not None:
        hash_new = _HASH_BY_TLV[TlvType(hash_tlv.type)]
        if _hash_chunks(parsed, hash_new, key) != hash_tlv.value:
            if _hash_chunks(parsed, hash_new, None) == hash_tlv.value:
                raise ImageError(
                    "the payload is already plaintext (a --clear image): nothing to decrypt"
                )
            raise VerificationError(
                "the decrypted payload does not match the image hash: wrong device key or a "
                "corrupt image"
            )
    payload = b"".join(_decrypted_payload(parsed, key))
    return DecryptedImage(parsed, payload)


__all__ = [
    "Check",
    "DecryptedImage",
    "EncryptionState",
    "VerifyReport",
    "decrypt_image",
    "verify_image",
]

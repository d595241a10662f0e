"""The MCUboot image format, pure: parse, sign, encrypt, decrypt and verify.

Bytes and frozen dataclasses in, bytes and dataclasses out; nothing here prints, reads
arguments or touches the rest of mcuseal except :mod:`mcuseal.errors`.
Intel HEX lives in :mod:`mcuseal.image.hexfile`, the randomness seam in :mod:`mcuseal.image.rng`.
"""

from __future__ import annotations

from mcuseal.image.crypto import (
    CryptographySigner,
    DeviceKey,
    EncScheme,
    KeyKind,
    KeyWrapper,
    Signer,
    UnwrapError,
    key_kind,
    key_wrapper_for,
    public_key_bytes,
    verify_signature,
)
from mcuseal.image.parse import ParsedImage
from mcuseal.image.sign import PayloadSource, SignedImage, SignOptions, select_hash, sign_image
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
from mcuseal.image.verify import (
    Check,
    DecryptedImage,
    EncryptionState,
    VerifyReport,
    decrypt_image,
    verify_image,
)

__all__ = [
    "HEADER_STRUCT",
    "IMAGE_MAGIC",
    "Check",
    "CryptographySigner",
    "DecryptedImage",
    "DeviceKey",
    "EncScheme",
    "EncryptionState",
    "ImageFlags",
    "ImageHeader",
    "ImageVersion",
    "KeyKind",
    "KeyWrapper",
    "ParsedImage",
    "PayloadSource",
    "SignOptions",
    "SignedImage",
    "Signer",
    "Tlv",
    "TlvType",
    "TrailerInfo",
    "UnwrapError",
    "VerifyReport",
    "bootutil_trailer_size",
    "decrypt_image",
    "imgtool_trailer_size",
    "key_kind",
    "key_wrapper_for",
    "public_key_bytes",
    "select_hash",
    "sign_image",
    "verify_image",
    "verify_signature",
]

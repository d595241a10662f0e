"""Published development keys: recognised by fingerprint, refused unless allowed.

MCUboot ships sample signing keys, encryption keys and AES-KW KEKs at the root of
mcu-tools/mcuboot; Zephyr builds default to them.  An image signed or encrypted with one
protects nothing, because everyone has the private half.  They are recognised by the
SHA-256 of the bytes MCUboot itself hashes for KEYHASH (DER SubjectPublicKeyInfo for EC,
Ed25519 and X25519; DER PKCS#1 RSAPublicKey for RSA), or of the raw KEK, so a renamed,
re-encoded or public-only copy is still caught.  Only fingerprints live here, never keys.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from mcuseal.errors import DevKeyError

_log = logging.getLogger(__name__)

# SHA-256 fingerprint -> name.  Computed from the files of mcu-tools/mcuboot at commit
# 2d4bacc3c15ebb6f91c28807fe6eb38b4ba98f77 (copies with provenance under
# tests/keys/data/mcuboot-sample-keys/, where tests recompute every entry).
MCUBOOT_KEY_FINGERPRINTS: dict[str, str] = {
    "e30466f6b8470c1f29070b17f1e2d3e94d445e3f608087fdc711e4382bb538b6": (
        "MCUboot sample key root-ec-p256.pem"
    ),
    "6bcd1e16d80e5fe13a5307e6f1de8344c7e50e537d9962ce35ef6db5e642fae8": (
        "MCUboot sample key root-ec-p384.pem"
    ),
    "c1907fa4eac7fae3840a78902b6f0710b037e9968e5c6274a12a28790c7d4e3c": (
        "MCUboot sample key root-ed25519.pem"
    ),
    "6754edab1e29affef4a05935adecbeb1a7b8b62397b31e39a61b5bfcaafd63af": (
        "MCUboot sample key root-ed25519-2.pem"
    ),
    "fc5701dc6135e1323847bdc40f04d2e5bee5833b23c29f93593d00018cfa9994": (
        "MCUboot sample key root-rsa-2048.pem"
    ),
    "449793fb65cd7698753d5b3f35fab15f1e3a45111ff24e1d46741de5ae12d59e": (
        "MCUboot sample key root-rsa-3072.pem"
    ),
    "3c23fc4e1d332a0c86e6a8bf6ecf26046d702302e135bf53fc04a009a33a78c5": (
        "MCUboot sample encryption key enc-ec256-priv.pem"
    ),
    "5ac4d62dc5efbed57e705f61b5f2df8e2b73ec5a573c1582144e38131f4c62d7": (
        "MCUboot sample encryption key enc-rsa2048-priv.pem"
    ),
    "9a1dc1eb80199d8498f2a75dde0a7b75216e8302bf3a12bd04f153f48f3f24a0": (
        "MCUboot sample encryption key enc-x25519-priv.pem"
    ),
    "fda93db569616604538b64817c9ca14fcf73a8acd95400ebf165805d6c33580f": (
        "MCUboot sample KEK enc-aes128kw.b64"
    ),
    "80cf3e2e4111a041e360a00bc6f8332722e1bb49af87f0d4cf255b7e24cbc3de": (
        "MCUboot sample KEK enc-aes256kw.b64"
    ),
}

# This project's own sample keys (samples/keys/, generated for the synthetic build
# directories): as public as MCUboot's, so refused the same way.  tests/build/test_seal.py
# recomputes every entry from the files.
SAMPLE_KEY_FINGERPRINTS: dict[str, str] = {
    "2858cffeed37b0cde0157a4ceca9aeee09f83b09384a0444d4effbf769d5b29c": (
        "mcuseal sample key samples/keys/sample-sign-ec-p256.pem"
    ),
    "f073c117ec66af6962aff75375710366d49b0557bb5c7134328a9ed176f120e0": (
        "mcuseal sample key samples/keys/sample-enc-ec256-priv.pem"
    ),
    "dcce73f38f1743c5dc24456b2b2c508562d14d9d12ae35943e6e2b81042c7194": (
        "mcuseal sample key samples/keys/sample-sign-ed25519.pem"
    ),
    "a2dfb8eb3872160c7d94fd793326a990dd0f1e255cf6a24d87e8a89dd6c37c91": (
        "mcuseal sample key samples/keys/sample-enc-x25519-priv.pem"
    ),
}

DEV_KEY_FINGERPRINTS: dict[str, str] = {**MCUBOOT_KEY_FINGERPRINTS, **SAMPLE_KEY_FINGERPRINTS}


def key_id_bytes(key: Any) -> bytes:
    """Return the bytes MCUboot hashes for a key: SPKI DER, PKCS#1 DER for RSA, or the KEK."""
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    from mcuseal.image.crypto import public_key_bytes

    return public_key_bytes(key)


def fingerprint(key: object) -> str:
    """SHA-256 (hex) of :func:`key_id_bytes`: for signing keys this is MCUboot's KEYHASH."""
    return hashlib.sha256(key_id_bytes(key)).hexdigest()


def dev_key_name(key: object) -> str | None:
    """Name of the published development key *key* is, or None.

    :param key: a ``cryptography`` key object (private or public), public-key bytes as
        :func:`key_id_bytes` returns them, or KEK bytes
    """
    return DEV_KEY_FINGERPRINTS.get(fingerprint(key))


def refuse_dev_keys(key: object, *, role: str, path: object, allow: bool) -> str | None:
    """Raise :class:`DevKeyError` for a published key unless *allow*; then warn loudly.

    :param role: what the key is used for, e.g. "signing key" or "encryption key"
    :param path: the file the key came from, for the message
    :returns: the development key's name when allowed (for ``--json``), else None
    """
    name = dev_key_name(key)
    if name is None:
        return None
    if not allow:
        raise DevKeyError(
            f"{role} {path} is the published {name}: anyone can use it; generate your own "
            "with 'mcuseal keygen' (or pass --allow-dev-keys for a throw-away test build)"
        )
    _log.warning(
        "DEVELOPMENT KEY: %s %s is the published %s; this image has NO protection",
        role,
        path,
        name,
    )
    return name

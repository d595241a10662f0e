"""What the preflight needs to know about a key file: its type and its public part."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from mcuseal.errors import KeyError_


@dataclass(frozen=True)
class KeyInfo:
    """*kind*: "rsa-2048", "ecdsa-p256", "ed25519", "x25519", "aes-kw-128" ...;
    *public*: bytes that identify the key (DER SubjectPublicKeyInfo, or the KEK itself)."""

    kind: str
    public: bytes

    @property
    def enc_scheme(self) -> str | None:
        """The MCUboot encryption scheme this key can serve, if any."""
        if self.kind == "rsa-2048":
            return "rsa-oaep"
        if self.kind == "ecdsa-p256":
            return "ecies-p256"
        if self.kind in ("x25519", "ed25519"):
            return "ecies-x25519" if self.kind == "x25519" else None
        if self.kind.startswith("aes-kw"):
            return "aes-kw"
        return None

    @property
    def signature_type(self) -> str | None:
        return {
            "rsa-2048": "rsa",
            "rsa-3072": "rsa",
            "ecdsa-p256": "ecdsa-p256",
            "ecdsa-p384": "ecdsa-p384",
            "ed25519": "ed25519",
        }.get(self.kind)


def load_key_info(path: Path) -> KeyInfo:
    """Read *path* (PEM/DER private or public key, or a raw/base64 AES-KW KEK).

    *path* may also be a key URI (``pkcs11:...``): its public key is read from the token.
    """
    from mcuseal.keys.providers import current_options, uri_provider

    provider = uri_provider(path)
    if provider is not None:
        key: Any = provider.load_encryption_key(str(path), current_options())
        return (
            KeyInfo(kind=f"aes-kw-{len(key) * 8}", public=key)
            if isinstance(key, bytes)
            else _info(key)
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyError_(f"key file {path} does not exist") from None
    except OSError as err:
        raise KeyError_(f"cannot read key file {path}: {err.strerror}") from None
    key = _load_asymmetric(data)
    if key is None:
        kek = _kek(data)
        if kek is None:
            raise KeyError_(
                f"{path} is not a key mcuseal can read (PEM/DER private or public key, or a "
                "16/32-byte AES key-wrap KEK)"
            )
        return KeyInfo(kind=f"aes-kw-{len(kek) * 8}", public=kek)
    return _info(key)


def _info(key: Any) -> KeyInfo:
    public = key.public_key() if hasattr(key, "public_key") else key
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if isinstance(public, rsa.RSAPublicKey):
        kind = f"rsa-{public.key_size}"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        kind = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(
            public.curve.name, f"ec-{public.curve.name}"
        )
    elif isinstance(public, ed25519.Ed25519PublicKey):
        kind = "ed25519"
    elif isinstance(public, x25519.X25519PublicKey):
        kind = "x25519"
    else:
        kind = type(public).__name__
    return KeyInfo(kind=kind, public=der)


def _load_asymmetric(data: bytes) -> Any:
    loaders = (
        lambda d: serialization.load_pem_private_key(d, password=None),
        serialization.load_pem_public_key,
        lambda d: serialization.load_der_private_key(d, password=None),
        serialization.load_der_public_key,
    )
    for loader in loaders:
        try:
            return loader(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return None


def _kek(data: bytes) -> bytes | None:
    if len(data) in (16, 32):
        return data
    try:
        decoded = base64.b64decode(data.strip(), validate=True)
    except ValueError:
        return None
    return decoded if len(decoded) in (16, 32) else None

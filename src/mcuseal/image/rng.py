"""The one source of randomness for image work: the OS CSPRNG, pinnable by tests.

Production code calls :func:`token_bytes` and the key generators; nothing takes a seed.
Tests wrap a signing call in :func:`pinned` to reproduce imgtool's output byte for byte.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, x25519


@dataclass
class _Pins:
    aes_key: bytes | None = None
    p256: ec.EllipticCurvePrivateKey | None = None
    x25519: x25519.X25519PrivateKey | None = None


_pins: list[_Pins] = []


def token_bytes(n: int) -> bytes:
    """*n* random bytes for an AES key (the pinned key when a test pinned one of length *n*)."""
    if _pins and _pins[-1].aes_key is not None:
        key = _pins[-1].aes_key
        if len(key) == n:
            return key
    return secrets.token_bytes(n)


def new_p256_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ephemeral P-256 key for ECIES-P256."""
    if _pins and _pins[-1].p256 is not None:
        return _pins[-1].p256
    return ec.generate_private_key(ec.SECP256R1())


def new_x25519_private_key() -> x25519.X25519PrivateKey:
    """A fresh ephemeral X25519 key for ECIES-X25519."""
    if _pins and _pins[-1].x25519 is not None:
        return _pins[-1].x25519
    return x25519.X25519PrivateKey.generate()


@contextlib.contextmanager
def pinned(
    *,
    aes_key: bytes | None = None,
    p256: ec.EllipticCurvePrivateKey | None = None,
    x25519: x25519.X25519PrivateKey | None = None,
) -> Iterator[None]:
    """Within the block, return these values instead of fresh randomness (tests only)."""
    _pins.append(_Pins(aes_key, p256, x25519))
    try:
        yield
    finally:
        _pins.pop()


__all__ = ["new_p256_private_key", "new_x25519_private_key", "pinned", "token_bytes"]

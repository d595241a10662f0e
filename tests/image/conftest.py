"""Shared fixtures for the image tests: the DEV-ONLY keys in golden/keys, loaded once."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

KEY_DIR = Path(__file__).parent / "golden" / "keys"


@dataclass(frozen=True)
class KeySet:
    dir: Path
    private: dict[str, Any]
    kek: dict[int, bytes]
    eph_p256: ec.EllipticCurvePrivateKey
    eph_x25519: x25519.X25519PrivateKey

    def path(self, name: str) -> Path:
        return self.dir / name


@pytest.fixture(scope="session")
def keys() -> KeySet:
    private = {
        p.name: serialization.load_pem_private_key(p.read_bytes(), password=None)
        for p in KEY_DIR.glob("*.pem")
    }
    kek = {
        bits: base64.b64decode((KEY_DIR / f"kek-aes{bits}.b64").read_text()) for bits in (128, 256)
    }
    # Fixed ephemeral keys so imgtool and mcuseal produce the same ECIES TLVs.
    eph_p256 = ec.derive_private_key(0x1234_5678_9ABC_DEF0_1122_3344, ec.SECP256R1())
    eph_x25519 = x25519.X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    return KeySet(KEY_DIR, private, kek, eph_p256, eph_x25519)

"""Keys and payloads for the image-command tests (fresh keys: MCUboot's samples are refused)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from mcuseal.cli import main

SAMPLE_DIR = Path(__file__).parent.parent / "keys" / "data" / "mcuboot-sample-keys"
HEADER = 0x200


@dataclass(frozen=True)
class Keys:
    dir: Path
    p256: Path
    p256_enc: Path
    p256_enc_pub: Path
    p384: Path
    ed25519: Path
    x25519: Path
    x25519_pub: Path
    rsa2048: Path
    rsa2048_enc: Path
    kek128: Path
    kek256: Path

    def sample(self, name: str) -> Path:
        """A private copy (mode 0600) of one of MCUboot's published sample keys."""
        target = self.dir / f"sample-{name}"
        if not target.exists():
            shutil.copyfile(SAMPLE_DIR / name, target)
            target.chmod(0o600)
        return target


def _pem(path: Path, key: object, public: bool = False) -> Path:
    if public:
        data = key.public_key().public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        data = key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    p256_enc = ec.generate_private_key(ec.SECP256R1())
    x = x25519.X25519PrivateKey.generate()
    kek128 = d / "kek128.b64"
    kek128.write_bytes(__import__("base64").b64encode(os.urandom(16)) + b"\n")
    kek256 = d / "kek256.bin"
    kek256.write_bytes(os.urandom(32))
    for kek in (kek128, kek256):
        kek.chmod(0o600)
    return Keys(
        dir=d,
        p256=_pem(d / "p256.pem", ec.generate_private_key(ec.SECP256R1())),
        p256_enc=_pem(d / "p256-enc.pem", p256_enc),
        p256_enc_pub=_pem(d / "p256-enc-pub.pem", p256_enc, public=True),
        p384=_pem(d / "p384.pem", ec.generate_private_key(ec.SECP384R1())),
        ed25519=_pem(d / "ed25519.pem", ed25519.Ed25519PrivateKey.generate()),
        x25519=_pem(d / "x25519.pem", x),
        x25519_pub=_pem(d / "x25519-pub.pem", x, public=True),
        rsa2048=_pem(d / "rsa2048.pem", rsa.generate_private_key(65537, 2048)),
        rsa2048_enc=_pem(d / "rsa2048-enc.pem", rsa.generate_private_key(65537, 2048)),
        kek128=kek128,
        kek256=kek256,
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An application binary that starts with HEADER zero bytes, as Zephyr builds them."""
    path = tmp_path / "app.bin"
    path.write_bytes(bytes(HEADER) + os.urandom(3000 + 7))
    return path


def run_cli(args: Sequence[str | os.PathLike[str]]) -> int:
    """``mcuseal ARGS`` in-process; argparse errors give their exit code too."""
    try:
        return main([os.fspath(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)

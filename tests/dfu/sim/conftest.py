"""Fixtures for the virtual device tests: keys and small images signed by real imgtool."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

IMGTOOL = str(Path(sys.executable).with_name("imgtool"))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A P-256 signing key and an X25519 device encryption key (private + public PEM)."""
    root = tmp_path_factory.mktemp("keys")
    sign = ec.generate_private_key(ec.SECP256R1())
    enc = x25519.X25519PrivateKey.generate()
    paths = {
        "sign": root / "sign.pem",
        "sign_pub": root / "sign_pub.pem",
        "enc": root / "enc.pem",
        "enc_pub": root / "enc_pub.pem",
    }
    pkcs8 = serialization.PrivateFormat.PKCS8
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    paths["sign"].write_bytes(sign.private_bytes(pem, pkcs8, none))
    paths["sign_pub"].write_bytes(sign.public_key().public_bytes(pem, spki))
    paths["enc"].write_bytes(enc.private_bytes(pem, pkcs8, none))
    paths["enc_pub"].write_bytes(enc.public_key().public_bytes(pem, spki))
    return paths


MakeImage = Callable[..., Path]


@pytest.fixture(scope="session")
def make_image(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]) -> MakeImage:
    """``make_image(version, size=..., encrypt=False, vector=...)`` -> path of a signed image.

    The payload starts with a Cortex-M vector table (stack pointer, reset vector) so
    the NCS reset-vector check sees what a real build would put there.
    """
    root = tmp_path_factory.mktemp("images")

    def make(
        version: str, size: int = 6000, *, encrypt: bool = False, vector: int = 0x0000_8001
    ) -> Path:
        name = f"app-{version}-{size}-{'enc' if encrypt else 'plain'}-{vector:x}"
        out = root / f"{name}.bin"
        if out.exists():
            return out
        payload = root / f"{name}.raw"
        body = (0x2000_8000).to_bytes(4, "little") + vector.to_bytes(4, "little")
        payload.write_bytes(body + os.urandom(size - len(body)))
        cmd = [IMGTOOL, "sign", "--key", str(keys["sign"]), "--header-size", "0x200"]
        cmd += ["--pad-header", "--align", "4", "--version", version, "--slot-size", "0x80000"]
        if encrypt:
            cmd += ["--encrypt", str(keys["enc_pub"])]
        subprocess.run([*cmd, str(payload), str(out)], check=True, capture_output=True)
        return out

    return make

"""A password-protected key asks for its password on a terminal (a real pseudo-terminal)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


def _read_until(fd: int, needle: bytes, timeout_s: float = 20.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 1024)
            except OSError:
                break
    return seen


def test_password_prompt_on_a_terminal(tmp_path: Path) -> None:
    key = x25519.X25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    path.chmod(0o600)
    out = tmp_path / "pub.der"
    env = {k: v for k, v in os.environ.items() if k != "MCUSEAL_KEY_PASSWORD"}
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcuseal", "getpub", "-k", str(path), "-e", "raw", "-o", str(out)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        assert b"Passphrase for" in _read_until(master, b"Passphrase for")
        os.write(master, b"open sesame\n")
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert out.read_bytes() == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

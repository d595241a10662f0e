"""Run imgtool 2.5.0 in-process as the test oracle, with its randomness pinned.

imgtool draws the AES key from ``os.urandom`` and the ECIES ephemeral key from
``ec.generate_private_key`` / ``X25519PrivateKey.generate`` inside ``imgtool.image``; the
context manager below swaps exactly those names in that module, so imgtool's output becomes
reproducible and comparable with mcuseal's under :func:`mcuseal.image.rng.pinned`.
"""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import imgtool.image as imgtool_image
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from imgtool.main import imgtool


@contextlib.contextmanager
def pinned_imgtool(
    *,
    aes_key: bytes,
    p256: ec.EllipticCurvePrivateKey | None = None,
    x25519_key: x25519.X25519PrivateKey | None = None,
) -> Iterator[None]:
    def urandom(n: int) -> bytes:
        assert n <= len(aes_key), n
        return aes_key[:n]

    def gen_ec(curve: object, backend: object = None) -> ec.EllipticCurvePrivateKey:
        assert p256 is not None, "imgtool asked for an unpinned P-256 key"
        return p256

    def gen_x() -> x25519.X25519PrivateKey:
        assert x25519_key is not None, "imgtool asked for an unpinned X25519 key"
        return x25519_key

    saved = (imgtool_image.os, imgtool_image.ec, imgtool_image.X25519PrivateKey)
    imgtool_image.os = types.SimpleNamespace(urandom=urandom, path=os.path)  # type: ignore[assignment]
    imgtool_image.ec = types.SimpleNamespace(  # type: ignore[assignment]
        generate_private_key=gen_ec, ECDH=ec.ECDH, SECP256R1=ec.SECP256R1
    )
    imgtool_image.X25519PrivateKey = types.SimpleNamespace(generate=gen_x)  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        imgtool_image.os, imgtool_image.ec, imgtool_image.X25519PrivateKey = saved  # type: ignore[assignment,misc]


def run_imgtool(args: Sequence[str], *, expect_ok: bool = True) -> str:
    """Invoke the ``imgtool`` click group in-process; returns its output."""
    result = CliRunner().invoke(imgtool, list(args), catch_exceptions=False)
    if expect_ok:
        assert result.exit_code == 0, result.output
    return result.output


def imgtool_sign(
    args: Sequence[str],
    infile: Path,
    outfile: Path,
    *,
    aes_key: bytes = bytes(range(32)),
    p256: ec.EllipticCurvePrivateKey | None = None,
    x25519_key: x25519.X25519PrivateKey | None = None,
) -> bytes:
    """``imgtool sign ARGS INFILE OUTFILE`` with pinned randomness; returns the output bytes."""
    with pinned_imgtool(aes_key=aes_key, p256=p256, x25519_key=x25519_key):
        run_imgtool(["sign", *args, str(infile), str(outfile)])
    return outfile.read_bytes()

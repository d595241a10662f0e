"""Regenerate the golden images with imgtool 2.5.0 (in-process, randomness pinned).

Run from the repository root: ``.venv/bin/python tests/image/golden/make_golden.py``.
Each entry of GOLDEN is the exact ``imgtool sign`` argument list (paths relative to this
directory); AES_KEY and the ephemeral keys below replace imgtool's ``os.urandom`` and
ephemeral key generation so the encrypted outputs are reproducible.  ECDSA and RSA
signatures and the RSA-OAEP block stay random (they cannot be pinned without patching
OpenSSL), so those files are only reproducible up to those values.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, x25519
from intelhex import IntelHex

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.image.imgtool_oracle import pinned_imgtool, run_imgtool  # noqa: E402

AES_KEY = bytes(range(0xA0, 0xC0))
EPH_P256 = ec.derive_private_key(0xC0FFEE_0000_1111_2222_3333, ec.SECP256R1())
EPH_X25519 = x25519.X25519PrivateKey.from_private_bytes(bytes(range(0x20, 0x40)))
COMMON = ["-H", "0x200", "--pad-header", "--align", "4", "-v", "1.2.3+4"]
GOLDEN: dict[str, list[str]] = {
    "g1_ed25519_x25519_aes128.bin": [
        *COMMON,
        "-S",
        "0x20000",
        "-k",
        "keys/sign-ed25519.pem",
        "-E",
        "keys/enc-x25519.pem",
        "app.bin",
    ],
    "g2_p256_ec256_aes256_prot.bin": [
        *COMMON,
        "-S",
        "0x20000",
        "-k",
        "keys/sign-p256.pem",
        "-E",
        "keys/enc-p256.pem",
        "--encrypt-keylen",
        "256",
        "-s",
        "auto",
        "--boot-record",
        "APP",
        "-d",
        "(1,2.0.0)",
        "app.bin",
    ],
    "g3_rsa2048_oaep_aes128_confirm.bin": [
        *COMMON,
        "-S",
        "0x4000",
        "-k",
        "keys/sign-rsa2048.pem",
        "-E",
        "keys/enc-rsa2048.pem",
        "--confirm",
        "app.bin",
    ],
    "g4_ed25519_x25519sha512_aes256_clear.hex": [
        *COMMON,
        "-S",
        "0x20000",
        "-k",
        "keys/sign-ed25519.pem",
        "-E",
        "keys/enc-x25519.pem",
        "--encrypt-keylen",
        "256",
        "--hmac-sha",
        "512",
        "--clear",
        "app.hex",
    ],
    "g5_unsigned_custom_tlv.bin": [
        *COMMON,
        "-S",
        "0x20000",
        "--custom-tlv",
        "0xa0",
        "0x0102",
        "-s",
        "9",
        "app.bin",
    ],
    "g6_ed25519_pure.bin": [
        *COMMON,
        "-S",
        "0x20000",
        "-k",
        "keys/sign-ed25519.pem",
        "--pure",
        "app.bin",
    ],
}


def app_bytes() -> bytes:
    return random.Random("mcuseal-golden").randbytes(1000)


def main() -> None:
    os.chdir(HERE)
    Path("app.bin").write_bytes(app_bytes())
    ih = IntelHex()
    ih.frombytes(app_bytes(), offset=0x10000)
    ih.write_hex_file("app.hex")
    for out, args in GOLDEN.items():
        with pinned_imgtool(aes_key=AES_KEY, p256=EPH_P256, x25519_key=EPH_X25519):
            run_imgtool(["sign", *args, out])
    names = sorted(
        [*GOLDEN, "app.bin", "app.hex", *(f"keys/{p.name}" for p in Path("keys").iterdir())]
    )
    sums = "".join(f"{hashlib.sha256(Path(n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    Path("SHA256SUMS").write_text(sums)


if __name__ == "__main__":
    main()

"""Regenerate the DEV-ONLY test keys in keys/ with imgtool 2.5.0 (see README.md).

Run from the repository root: ``.venv/bin/python tests/image/golden/make_keys.py``.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from click.testing import CliRunner
from imgtool.main import imgtool

KEYS = Path(__file__).parent / "keys"
SPECS = {
    "sign-p256.pem": "ecdsa-p256",
    "sign-p384.pem": "ecdsa-p384",
    "sign-ed25519.pem": "ed25519",
    "sign-rsa2048.pem": "rsa-2048",
    "sign-rsa3072.pem": "rsa-3072",
    "enc-p256.pem": "ecdsa-p256",
    "enc-x25519.pem": "x25519",
    "enc-rsa2048.pem": "rsa-2048",
}


def main() -> None:
    KEYS.mkdir(exist_ok=True)
    runner = CliRunner()
    for name, kind in SPECS.items():
        res = runner.invoke(imgtool, ["keygen", "-t", kind, "-k", str(KEYS / name)])
        assert res.exit_code == 0, res.output
    for bits in (128, 256):
        # MCUboot's documented KEK format: dd if=/dev/urandom bs=1 count=N | base64
        text = base64.b64encode(os.urandom(bits // 8)).decode() + "\n"
        (KEYS / f"kek-aes{bits}.b64").write_text(text)


if __name__ == "__main__":
    main()

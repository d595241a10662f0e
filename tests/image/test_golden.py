"""Golden images made by imgtool 2.5.0 (golden/README.md): sums, verify, decrypt, rebuild."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mcuseal.image import (
    CryptographySigner,
    DeviceKey,
    EncryptionState,
    ImageVersion,
    ParsedImage,
    SignOptions,
    decrypt_image,
    key_wrapper_for,
    rng,
    sign_image,
    verify_image,
)
from mcuseal.image.hexfile import dump_hex, load_hex, output_base_addr
from tests.image.conftest import KeySet

GOLDEN = Path(__file__).parent / "golden"
AES_KEY = bytes(range(0xA0, 0xC0))  # as pinned by golden/make_golden.py
COMMON = {"header_size": 0x200, "pad_header": True, "align": 4, "version": ImageVersion(1, 2, 3, 4)}


def test_checksums() -> None:
    lines = (GOLDEN / "SHA256SUMS").read_text().splitlines()
    assert len(lines) >= 18
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest() == digest, name


def _image(name: str) -> bytes:
    path = GOLDEN / name
    if path.suffix == ".hex":
        return load_hex(path)[1]
    return path.read_bytes()


@pytest.mark.parametrize(
    ("name", "sign", "enc", "state"),
    [
        ("g1_ed25519_x25519_aes128.bin", "sign-ed25519.pem", "enc-x25519.pem", "ENCRYPTED"),
        ("g2_p256_ec256_aes256_prot.bin", "sign-p256.pem", "enc-p256.pem", "ENCRYPTED"),
        ("g3_rsa2048_oaep_aes128_confirm.bin", "sign-rsa2048.pem", "enc-rsa2048.pem", "ENCRYPTED"),
        ("g4_ed25519_x25519sha512_aes256_clear.hex", "sign-ed25519.pem", "enc-x25519.pem", "CLEAR"),
        ("g5_unsigned_custom_tlv.bin", None, None, "NOT_ENCRYPTED"),
        ("g6_ed25519_pure.bin", "sign-ed25519.pem", None, "NOT_ENCRYPTED"),
    ],
)
def test_golden_verifies_and_decrypts(
    name: str, sign: str | None, enc: str | None, state: str, keys: KeySet
) -> None:
    data = _image(name)
    app = (GOLDEN / "app.bin").read_bytes()
    trusted = [keys.private[sign].public_key()] if sign else []
    device = DeviceKey(keys.private[enc]) if enc else None
    slot = "primary" if state == "CLEAR" else "secondary"
    report = verify_image(data, trusted_keys=trusted, device_key=device, slot=slot)
    assert report.accepted, report.checks
    assert report.encryption is EncryptionState[state]
    if state == "ENCRYPTED":
        assert device is not None
        assert decrypt_image(data, device).payload[: len(app)] == app


def test_golden_trailer() -> None:
    parsed = ParsedImage.loads(_image("g3_rsa2048_oaep_aes128_confirm.bin"))
    assert parsed.trailer is not None and parsed.trailer.confirmed
    assert parsed.trailer.slot_size == 0x4000 and parsed.trailer.max_align == 8


def test_rebuild_deterministic_goldens(keys: KeySet) -> None:
    app = (GOLDEN / "app.bin").read_bytes()
    ed = CryptographySigner(keys.private["sign-ed25519.pem"])
    x = key_wrapper_for(keys.private["enc-x25519.pem"])
    from cryptography.hazmat.primitives.asymmetric import x25519

    eph = x25519.X25519PrivateKey.from_private_bytes(bytes(range(0x20, 0x40)))
    slot = {"slot_size": 0x20000, **COMMON}
    with rng.pinned(aes_key=AES_KEY[:16], x25519=eph):
        g1 = sign_image(app, SignOptions(**slot), signer=ed, encrypt_to=x)  # type: ignore[arg-type]
    assert g1.to_bytes() == _image("g1_ed25519_x25519_aes128.bin")

    opts = SignOptions(encrypt_keylen=256, hmac_sha=512, clear=True, **slot)  # type: ignore[arg-type]
    base, hex_app = load_hex(GOLDEN / "app.hex")
    with rng.pinned(aes_key=AES_KEY, x25519=eph):
        g4 = sign_image(hex_app, opts, signer=ed, encrypt_to=x)
    out_base = output_base_addr(base, pad_header=True, header_size=0x200, hex_addr=None)
    assert (
        dump_hex(g4, out_base) == (GOLDEN / "g4_ed25519_x25519sha512_aes256_clear.hex").read_text()
    )

    opts = SignOptions(custom_tlvs=((0xA0, b"\x01\x02"),), security_counter=9, **slot)  # type: ignore[arg-type]
    assert sign_image(app, opts).to_bytes() == _image("g5_unsigned_custom_tlv.bin")
    g6 = sign_image(app, SignOptions(pure=True, **slot), signer=ed)  # type: ignore[arg-type]
    assert g6.to_bytes() == _image("g6_ed25519_pure.bin")

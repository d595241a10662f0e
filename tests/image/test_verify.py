"""verify_image's bootloader semantics and decrypt_image."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mcuseal.errors import ImageError, ImageFormatError, VerificationError
from mcuseal.image import (
    CryptographySigner,
    DeviceKey,
    EncryptionState,
    ImageVersion,
    ParsedImage,
    SignOptions,
    Tlv,
    TlvType,
    decrypt_image,
    key_wrapper_for,
    public_key_bytes,
    sign_image,
    verify_image,
)
from tests.image.conftest import KeySet

OPTS = SignOptions(header_size=0x200, pad_header=True, slot_size=0x10000, version=ImageVersion(2))
APP = bytes(range(251)) * 17


def _sign(keys: KeySet, *, enc: str | None = "enc-p256.pem", **kw: object) -> bytes:
    opts = SignOptions(**{**OPTS.__dict__, **kw})  # type: ignore[arg-type]
    return sign_image(
        APP,
        opts,
        signer=CryptographySigner(keys.private["sign-p256.pem"]),
        encrypt_to=key_wrapper_for(keys.private[enc]) if enc else None,
    ).to_bytes()


def _names(report: object) -> list[str]:
    return [c.name for c in report.checks]  # type: ignore[attr-defined]


def test_check_order_and_json(keys: KeySet) -> None:
    img = _sign(keys)
    trusted = [keys.private["sign-p256.pem"].public_key()]
    report = verify_image(
        img, trusted_keys=trusted, device_key=DeviceKey(keys.private["enc-p256.pem"])
    )
    assert _names(report) == ["header", "tlv", "key unwrap", "hash", "key hash", "signature"]
    assert report.accepted and report.encryption is EncryptionState.ENCRYPTED
    js = report.to_json()
    assert js["accepted"] is True and js["encryption"] == "ENCRYPTED" and js["version"] == "2.0.0+0"
    assert [c["name"] for c in js["checks"]] == _names(report)


def test_unencrypted_image(keys: KeySet) -> None:
    img = _sign(keys, enc=None)
    pub = keys.private["sign-p256.pem"].public_key()
    report = verify_image(img, trusted_keys=[pub])
    assert report.accepted and report.encryption is EncryptionState.NOT_ENCRYPTED
    assert report.payload_checked
    strict = verify_image(img, trusted_keys=[pub], require_encrypted=True)
    assert not strict.accepted and strict.failed[0].name == "encrypted"
    # Trusted keys may be given as the raw public-key bytes a Signer reports.
    assert verify_image(img, trusted_keys=[public_key_bytes(pub)]).accepted


def test_clear_image_secondary_vs_primary(keys: KeySet) -> None:
    img = _sign(keys, clear=True)
    pub = [keys.private["sign-p256.pem"].public_key()]
    dev = DeviceKey(keys.private["enc-p256.pem"])
    for device in (None, dev):
        sec = verify_image(img, trusted_keys=pub, device_key=device)
        assert not sec.accepted
        assert sec.encryption is EncryptionState.CLEAR
        assert "--clear" in sec.failed[0].detail
        prim = verify_image(img, trusted_keys=pub, device_key=device, slot="primary")
        assert prim.accepted and prim.encryption is EncryptionState.CLEAR
    with pytest.raises(ImageError, match="already plaintext"):
        decrypt_image(img, dev)


def test_encrypted_image_in_primary_slot_is_rejected(keys: KeySet) -> None:
    img = _sign(keys)
    pub = [keys.private["sign-p256.pem"].public_key()]
    dev = DeviceKey(keys.private["enc-p256.pem"])
    for device in (None, dev):
        report = verify_image(img, trusted_keys=pub, device_key=device, slot="primary")
        assert not report.accepted
        assert report.encryption is EncryptionState.ENCRYPTED
        assert "never decrypted" in report.failed[0].detail


def test_encrypted_without_device_key(keys: KeySet) -> None:
    img = _sign(keys, enc="enc-x25519.pem")
    report = verify_image(img, trusted_keys=[keys.private["sign-p256.pem"].public_key()])
    assert report.accepted and not report.payload_checked
    assert report.encryption is EncryptionState.ENCRYPTED
    hash_check = next(c for c in report.checks if c.name == "hash")
    assert hash_check.ok is None and "not checked" in hash_check.detail


def test_wrong_device_key(keys: KeySet) -> None:
    img = _sign(keys)
    pub = [keys.private["sign-p256.pem"].public_key()]
    report = verify_image(
        img, trusted_keys=pub, device_key=DeviceKey(ec.generate_private_key(ec.SECP256R1()))
    )
    assert not report.accepted
    assert [c.name for c in report.failed] == ["key unwrap", "hash"]
    other_scheme = verify_image(
        img, trusted_keys=pub, device_key=DeviceKey(keys.private["enc-x25519.pem"])
    )
    assert "another kind of key" in other_scheme.failed[0].detail
    with pytest.raises(VerificationError, match="HMAC"):
        decrypt_image(img, DeviceKey(ec.generate_private_key(ec.SECP256R1())))


def test_tampered_payload(keys: KeySet) -> None:
    img = bytearray(_sign(keys))
    img[0x300] ^= 1
    dev = DeviceKey(keys.private["enc-p256.pem"])
    report = verify_image(
        bytes(img), trusted_keys=[keys.private["sign-p256.pem"].public_key()], device_key=dev
    )
    assert [c.name for c in report.failed] == ["hash"]
    with pytest.raises(VerificationError, match="does not match the image hash"):
        decrypt_image(bytes(img), dev)


def test_untrusted_and_unsigned(keys: KeySet) -> None:
    img = _sign(keys, enc=None)
    other = ec.generate_private_key(ec.SECP256R1())
    report = verify_image(img, trusted_keys=[other.public_key()])
    assert [c.name for c in report.failed] == ["key hash", "signature"]
    unsigned = sign_image(APP, OPTS).to_bytes()
    report = verify_image(unsigned, trusted_keys=[other.public_key()])
    assert "not signed" in report.failed[0].detail
    hash_only = verify_image(unsigned)
    assert hash_only.accepted


def test_bad_signature(keys: KeySet) -> None:
    img = bytearray(_sign(keys, enc=None))
    img[-3] ^= 0x55  # inside the DER signature, the last TLV
    report = verify_image(bytes(img), trusted_keys=[keys.private["sign-p256.pem"].public_key()])
    assert [c.name for c in report.failed] == ["signature"]


def test_slot_size_and_garbage(keys: KeySet) -> None:
    img = _sign(keys, enc=None)
    report = verify_image(
        img, trusted_keys=[keys.private["sign-p256.pem"].public_key()], slot_size=0x400
    )
    assert [c.name for c in report.failed] == ["header", "tlv"]
    junk = verify_image(b"\xff" * 64)
    assert not junk.accepted and junk.encryption is EncryptionState.UNKNOWN
    assert junk.failed[0].name == "header"


def test_decrypt_image(keys: KeySet) -> None:
    img = _sign(keys, enc="enc-rsa2048.pem", encrypt_keylen=256)
    dec = decrypt_image(img, DeviceKey(keys.private["enc-rsa2048.pem"]))
    assert dec.payload == APP + bytes(-len(APP) % 16)
    clear = dec.clear_image()
    assert len(clear) == len(img) and clear[:0x200] == img[:0x200]
    pub = [keys.private["sign-p256.pem"].public_key()]
    assert verify_image(clear, trusted_keys=pub, slot="primary").accepted
    with pytest.raises(ImageError, match="not encrypted"):
        decrypt_image(_sign(keys, enc=None), DeviceKey(keys.private["enc-p256.pem"]))
    with pytest.raises(ImageFormatError):
        decrypt_image(b"nope", DeviceKey(keys.private["enc-p256.pem"]))


def test_enc_flag_without_usable_key_tlv(keys: KeySet, tmp_path: object) -> None:
    """imgtool's P-384 (no ENC TLV) and RSA-3072 (384-byte TLV) -E outputs are caught without -E."""
    from pathlib import Path

    from tests.image.imgtool_oracle import run_imgtool

    base = Path(str(tmp_path))
    (base / "app.bin").write_bytes(APP)
    from cryptography.hazmat.primitives import serialization

    p384 = ec.generate_private_key(ec.SECP384R1())
    (base / "p384.pem").write_bytes(
        p384.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    args = ["sign", "-H", "0x200", "--pad-header", "-S", "0x10000", "-v", "1"]
    pub = [keys.private["sign-ed25519.pem"].public_key()]
    for enc, match in (
        (str(base / "p384.pem"), "no key TLV"),
        (str(keys.path("sign-rsa3072.pem")), "384 bytes but AES-128 needs 256"),
    ):
        out = base / "out.bin"
        run_imgtool(
            [
                *args,
                "-k",
                str(keys.path("sign-ed25519.pem")),
                "-E",
                enc,
                str(base / "app.bin"),
                str(out),
            ]
        )
        report = verify_image(out.read_bytes(), trusted_keys=pub)
        assert not report.accepted
        assert report.failed[0].name == "key unwrap" and match in report.failed[0].detail


@pytest.mark.parametrize("name", ["sign-p256.pem", "sign-rsa3072.pem", "sign-ed25519.pem"])
def test_full_public_key_format(name: str, keys: KeySet) -> None:
    key = keys.private[name]
    opts = SignOptions(**{**OPTS.__dict__, "public_key_format": "full"})  # type: ignore[arg-type]
    img = sign_image(APP, opts, signer=CryptographySigner(key)).to_bytes()
    assert verify_image(img, trusted_keys=[key.public_key()]).accepted
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert not verify_image(img, trusted_keys=[other]).accepted


def _reorder(image: bytes, build: object) -> bytes:
    """*image* with its unprotected TLVs replaced by ``build(by_type)`` (hash stays valid)."""
    from mcuseal.image.structs import encode_tlv_area

    parsed = ParsedImage.loads(image)
    by_type = {t.type: t for t in parsed.unprotected_tlvs}
    tlvs = build(by_type)  # type: ignore[operator]
    return image[: parsed.hashed_size] + encode_tlv_area(tlvs, protected=False)


def test_key_and_signature_walk_like_bootutil(keys: KeySet) -> None:
    """bootutil_img_validate(): a key TLV selects the key for the next signature TLV only."""
    ed = keys.private["sign-ed25519.pem"]
    other = keys.private["sign-p256.pem"]
    mine = sign_image(APP, OPTS, signer=CryptographySigner(ed)).to_bytes()
    theirs = ParsedImage.loads(sign_image(APP, OPTS, signer=CryptographySigner(other)).to_bytes())
    h, kh, sig = TlvType.SHA256, TlvType.KEYHASH, TlvType.ED25519
    trusted = [ed.public_key()]

    # A signature before any key TLV is skipped: nothing verified, rejected.
    swapped = _reorder(mine, lambda t: [t[h], t[sig], t[kh]])
    report = verify_image(swapped, trusted_keys=trusted)
    assert [c.name for c in report.failed] == ["signature"]
    assert "after the trusted key" in report.failed[0].detail
    # An untrusted key with its signature first, then ours: accepted with ours.
    other_pair = [theirs.find(kh), theirs.find(TlvType.ECDSA_SIG)]
    two = _reorder(mine, lambda t: [t[h], *other_pair, t[kh], t[sig]])
    assert verify_image(two, trusted_keys=trusted).accepted
    # The last signature checked decides: a good one, then a corrupt one, is rejected.
    bad = Tlv(sig, bytes(64))
    last_bad = _reorder(mine, lambda t: [t[h], t[kh], t[sig], t[kh], bad])
    assert not verify_image(last_bad, trusted_keys=trusted).accepted
    last_good = _reorder(mine, lambda t: [t[h], t[kh], bad, t[kh], t[sig]])
    assert verify_image(last_good, trusted_keys=trusted).accepted


def test_unprotected_tlvs_outside_bootutils_allow_list_are_rejected(keys: KeySet) -> None:
    """MCUBOOT_USE_TLV_ALLOW_LIST (default y): only key, hash, signature, ENC TLVs unprotected."""
    ed = keys.private["sign-ed25519.pem"]
    mine = sign_image(APP, OPTS, signer=CryptographySigner(ed)).to_bytes()
    trusted = [ed.public_key()]
    h, kh, sig = TlvType.SHA256, TlvType.KEYHASH, TlvType.ED25519
    for extra in (Tlv(0xA0, b"vendor"), Tlv(TlvType.SEC_CNT, bytes(4))):
        image = _reorder(mine, lambda t, x=extra: [t[h], x, t[kh], t[sig]])
        report = verify_image(image, trusted_keys=trusted)
        assert [c.name for c in report.failed] == ["tlv"]
        assert "allow list" in report.failed[0].detail
    # bootutil compares every hash TLV of its type: a second, different one fails.
    two_hashes = _reorder(mine, lambda t: [t[h], Tlv(h, bytes(32)), t[kh], t[sig]])
    report = verify_image(two_hashes, trusted_keys=trusted)
    assert [c.name for c in report.failed] == ["hash"]

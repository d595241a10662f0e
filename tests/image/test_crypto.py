"""Signers, key wrappers and device-side unwrapping: schemes, refusals, failure modes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from mcuseal.errors import KeyError_, UsageError, VerificationError
from mcuseal.image import (
    CryptographySigner,
    DeviceKey,
    EncScheme,
    KeyKind,
    TlvType,
    UnwrapError,
    key_kind,
    key_wrapper_for,
    public_key_bytes,
    rng,
    verify_signature,
)
from mcuseal.image.crypto import AesKwWrapper, load_public_key_bytes
from tests.image.conftest import KeySet


@pytest.mark.parametrize(
    ("name", "kind", "tlv", "sig_len"),
    [
        ("sign-p256.pem", KeyKind.ECDSA_P256, TlvType.ECDSA_SIG, None),
        ("sign-p384.pem", KeyKind.ECDSA_P384, TlvType.ECDSA_SIG, None),
        ("sign-ed25519.pem", KeyKind.ED25519, TlvType.ED25519, 64),
        ("sign-rsa2048.pem", KeyKind.RSA_2048, TlvType.RSA2048_PSS, 256),
        ("sign-rsa3072.pem", KeyKind.RSA_3072, TlvType.RSA3072_PSS, 384),
    ],
)
def test_signer_schemes(
    name: str, kind: KeyKind, tlv: TlvType, sig_len: int | None, keys: KeySet
) -> None:
    key = keys.private[name]
    signer = CryptographySigner(key)
    assert signer.key_kind is kind is key_kind(key.public_key())
    assert kind.sig_tlv is tlv
    digest_len = 48 if kind is KeyKind.ECDSA_P384 else 32
    digest = bytes(range(digest_len))
    sig = signer.sign(digest)
    if sig_len is not None:
        assert len(sig) == sig_len
    assert verify_signature(key.public_key(), kind, sig, digest)
    assert not verify_signature(key.public_key(), kind, sig, bytes(digest_len))
    assert public_key_bytes(load_public_key_bytes(signer.public_key_bytes())) == (
        signer.public_key_bytes()
    )


def test_public_key_bytes_formats(keys: KeySet) -> None:
    p256 = public_key_bytes(keys.private["sign-p256.pem"])
    assert len(p256) == 91 and p256[0] == 0x30
    rsa_pub = public_key_bytes(keys.private["sign-rsa2048.pem"])
    # PKCS#1 RSAPublicKey, not SPKI: SEQUENCE { INTEGER n, INTEGER e }
    assert rsa_pub[:2] == b"\x30\x82" and rsa_pub[4] == 0x02
    assert load_public_key_bytes(rsa_pub).key_size == 2048  # type: ignore[union-attr]
    with pytest.raises(KeyError_):
        load_public_key_bytes(b"\x30\x03\x02\x01\x00")


def test_signer_refuses_unsupported_keys() -> None:
    with pytest.raises(KeyError_, match="secp521r1"):
        CryptographySigner(ec.generate_private_key(ec.SECP521R1()))
    with pytest.raises(KeyError_, match="cannot sign"):
        key_kind(x25519.X25519PrivateKey.generate())


def test_ecdsa_verify_strips_padding(keys: KeySet) -> None:
    key = keys.private["sign-p256.pem"]
    sig = CryptographySigner(key).sign(bytes(32))
    padded = sig + bytes(72 - len(sig))
    assert verify_signature(key.public_key(), KeyKind.ECDSA_P256, padded, bytes(32))
    assert not verify_signature(key.public_key(), KeyKind.ECDSA_P256, b"\x30", bytes(32))


@pytest.mark.parametrize("bits", [128, 256])
@pytest.mark.parametrize(
    ("name", "scheme", "tlv", "lengths"),
    [
        ("enc-p256.pem", EncScheme.ECIES_P256, TlvType.ENC_EC256, {128: 113, 256: 129}),
        ("enc-x25519.pem", EncScheme.ECIES_X25519, TlvType.ENC_X25519, {128: 80, 256: 96}),
        ("enc-rsa2048.pem", EncScheme.RSA_OAEP, TlvType.ENC_RSA2048, {128: 256, 256: 256}),
    ],
)
def test_wrap_unwrap(
    name: str, scheme: EncScheme, tlv: TlvType, lengths: dict[int, int], bits: int, keys: KeySet
) -> None:
    priv = keys.private[name]
    wrapper = key_wrapper_for(priv.public_key())
    assert wrapper.scheme is scheme
    plain = rng.token_bytes(bits // 8)
    tlv_type, value = wrapper.wrap(plain, hmac_sha=256)
    assert (tlv_type, len(value)) == (tlv, lengths[bits])
    assert DeviceKey(priv).unwrap(tlv_type, value, bits) == plain


@pytest.mark.parametrize(("bits", "length"), [(128, 112), (256, 128)])
def test_x25519_sha512(bits: int, length: int, keys: KeySet) -> None:
    priv = keys.private["enc-x25519.pem"]
    plain = bytes(range(bits // 8))
    tlv_type, value = key_wrapper_for(priv).wrap(plain, hmac_sha=512)
    assert (tlv_type, len(value)) == (TlvType.ENC_X25519_SHA512, length)
    assert DeviceKey(priv).unwrap(tlv_type, value, bits) == plain


@pytest.mark.parametrize("bits", [128, 256])
def test_aes_kw(bits: int, keys: KeySet) -> None:
    kek = keys.kek[bits]
    wrapper = key_wrapper_for(kek)
    assert wrapper.scheme is EncScheme.AES_KW
    plain = bytes(range(bits // 8))
    tlv_type, value = wrapper.wrap(plain, hmac_sha=256)
    assert (tlv_type, len(value)) == (TlvType.ENC_KW, bits // 8 + 8)
    assert DeviceKey(kek).unwrap(tlv_type, value, bits) == plain
    with pytest.raises(UnwrapError, match="wrong KEK"):
        DeviceKey(bytes(bits // 8)).unwrap(tlv_type, value, bits)


def test_aes_kw_rfc3394_vector() -> None:
    # RFC 3394 section 4.1: 128-bit key data with a 128-bit KEK.
    kek = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    data = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    _, value = AesKwWrapper(kek).wrap(data, hmac_sha=256)
    assert value == bytes.fromhex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")


def test_kek_must_match_aes_key_length(keys: KeySet) -> None:
    with pytest.raises(KeyError_, match="bootutil requires them equal"):
        key_wrapper_for(keys.kek[128]).wrap(bytes(32), hmac_sha=256)
    with pytest.raises(KeyError_, match="16 \\(AES-128\\) or 32"):
        key_wrapper_for(bytes(24))
    _, value = key_wrapper_for(keys.kek[256]).wrap(bytes(32), hmac_sha=256)
    with pytest.raises(UnwrapError):
        DeviceKey(keys.kek[128]).unwrap(TlvType.ENC_KW, value, 256)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()).public_key(), "secp384r1"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "Ed25519"),
        (lambda: "not a key", "str"),
    ],
)
def test_wrapper_refuses_keys_bootutil_cannot_use(make: object, match: str) -> None:
    with pytest.raises(KeyError_, match=match):
        key_wrapper_for(make())  # type: ignore[operator]


def test_wrapper_refuses_rsa3072(keys: KeySet) -> None:
    with pytest.raises(KeyError_, match="RSA-3072 encryption keys cannot be used"):
        key_wrapper_for(keys.private["sign-rsa3072.pem"].public_key())


@pytest.mark.parametrize("name", ["enc-p256.pem", "enc-rsa2048.pem"])
def test_hmac_sha512_only_for_x25519(name: str, keys: KeySet) -> None:
    with pytest.raises(UsageError, match="only with an X25519"):
        key_wrapper_for(keys.private[name]).wrap(bytes(16), hmac_sha=512)
    with pytest.raises(UsageError, match="only with an X25519"):
        key_wrapper_for(keys.kek[128]).wrap(bytes(16), hmac_sha=512)


def test_device_key_refusals(keys: KeySet) -> None:
    with pytest.raises(KeyError_):
        DeviceKey(bytes(20))
    with pytest.raises(KeyError_):
        DeviceKey(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(KeyError_):
        DeviceKey(ed25519.Ed25519PrivateKey.generate())  # type: ignore[arg-type]


def test_unwrap_failures(keys: KeySet) -> None:
    plain = bytes(16)
    # Wrong device key, ECIES: the HMAC check fails.
    t, v = key_wrapper_for(keys.private["enc-x25519.pem"]).wrap(plain, hmac_sha=256)
    with pytest.raises(UnwrapError, match="HMAC"):
        DeviceKey(x25519.X25519PrivateKey.generate()).unwrap(t, v, 128)
    # Wrong AES size for the TLV length (AES-128 TLV on an AES-256 build).
    with pytest.raises(UnwrapError, match="BOOT_ENC_TLV_SIZE"):
        DeviceKey(keys.private["enc-x25519.pem"]).unwrap(t, v, 256)
    # TLV of another scheme.
    with pytest.raises(UnwrapError, match="different kind of key"):
        DeviceKey(keys.private["enc-p256.pem"]).unwrap(t, v, 128)
    # Wrong device key, RSA-OAEP.
    t, v = key_wrapper_for(keys.private["enc-rsa2048.pem"]).wrap(plain, hmac_sha=256)
    with pytest.raises(UnwrapError, match="RSA-OAEP"):
        DeviceKey(keys.private["sign-rsa2048.pem"]).unwrap(t, v, 128)
    # RSA block holding AES-128 on an AES-256 image.
    with pytest.raises(UnwrapError, match="128-bit key"):
        DeviceKey(keys.private["enc-rsa2048.pem"]).unwrap(t, v, 256)
    # P-256 TLV with a bad ephemeral point.
    t, v = key_wrapper_for(keys.private["enc-p256.pem"]).wrap(plain, hmac_sha=256)
    bad = b"\x02" + v[1:]
    with pytest.raises(UnwrapError, match="ephemeral"):
        DeviceKey(keys.private["enc-p256.pem"]).unwrap(t, bad, 128)
    assert isinstance(UnwrapError("x"), VerificationError)


def test_rng_pinning() -> None:
    key = bytes(range(16))
    p = ec.generate_private_key(ec.SECP256R1())
    with rng.pinned(aes_key=key, p256=p):
        assert rng.token_bytes(16) == key
        assert rng.token_bytes(32) != bytes(32)  # only the pinned length is pinned
        assert rng.new_p256_private_key() is p
        assert rng.new_x25519_private_key() is not None
    assert rng.token_bytes(16) != key
    assert rng.new_p256_private_key() is not p
    assert isinstance(hashes.SHA256(), hashes.HashAlgorithm)


def test_rsa_key_sizes_refused_for_signing() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyError_, match="RSA-1024"):
        CryptographySigner(small)

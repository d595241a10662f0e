"""Loading key files and KEKs: every failure is a one-line KeyError_."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa, x25519

from mcuseal.errors import KeyError_
from mcuseal.keys import (
    PASSWORD_ENV,
    KeyType,
    classify,
    load_key,
    load_key_or_kek,
    load_private_key,
    load_public_key,
    parse_kek,
    warn_if_exposed,
)

from .conftest import SAMPLE_DIR


def _write_pem(path: Path, key: object, password: bytes | None = None) -> Path:
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )
    )
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("root-ec-p256.pem", KeyType.ECDSA_P256),
        ("root-ec-p256-pkcs8.pem", KeyType.ECDSA_P256),
        ("root-ec-p384.pem", KeyType.ECDSA_P384),
        ("root-ed25519.pem", KeyType.ED25519),
        ("root-rsa-2048.pem", KeyType.RSA_2048),
        ("root-rsa-3072.pem", KeyType.RSA_3072),
        ("enc-x25519-priv.pem", KeyType.X25519),
    ],
)
def test_private_keys_load_and_classify(sample_key, name: str, kind: KeyType) -> None:  # type: ignore[no-untyped-def]
    key = load_private_key(sample_key(name))
    assert classify(key) is kind


def test_public_pem_loads_as_public(sample_key) -> None:  # type: ignore[no-untyped-def]
    pub = load_key(sample_key("enc-ec256-pub.pem"))
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    priv_pub = load_public_key(sample_key("enc-ec256-priv.pem"))
    assert priv_pub == pub


def test_der_private_key_loads(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "k.der"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    assert load_private_key(path).private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    assert isinstance(load_key_or_kek(path), ec.EllipticCurvePrivateKey)


def test_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = _write_pem(tmp_path / "k.pem", key, b"s3cret")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    assert load_private_key(path).private_numbers() == key.private_numbers()  # type: ignore[union-attr]


def test_wrong_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_pem(tmp_path / "k.pem", ec.generate_private_key(ec.SECP256R1()), b"s3cret")
    monkeypatch.setenv(PASSWORD_ENV, "nope")
    with pytest.raises(KeyError_, match="wrong password"):
        load_private_key(path)


def test_missing_password_without_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_pem(tmp_path / "k.pem", ec.generate_private_key(ec.SECP256R1()), b"s3cret")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(KeyError_, match=f"password-protected; set {PASSWORD_ENV}"):
        load_private_key(path, prompt=True)


def test_public_key_where_private_needed(sample_key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError_, match="public key only"):
        load_private_key(sample_key("enc-x25519-pub.pem"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a PEM or DER private key"),
        (b"hello world\n", "looks like text"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PEM"),
        (b"\x30\x03\x02\x01\x00", "not a PEM or DER"),
    ],
)
def test_garbage_is_not_a_key(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(content)
    with pytest.raises(KeyError_, match=message) as info:
        load_private_key(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match="does not exist"):
        load_key(tmp_path / "nope.pem")
    with pytest.raises(KeyError_, match="is a directory"):
        load_key(tmp_path)


def test_huge_file_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * 100_000)
    with pytest.raises(KeyError_, match="too big for a key"):
        load_key_or_kek(path)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (ec.generate_private_key(ec.SECP521R1()), "secp521r1 is not supported"),
        (ed448.Ed448PrivateKey.generate(), "Ed448PrivateKey keys are not supported"),
    ],
)
def test_unsupported_key_types(tmp_path: Path, key: object, message: str) -> None:
    path = _write_pem(tmp_path / "k.pem", key)
    with pytest.raises(KeyError_, match=message):
        load_private_key(path)


def test_rsa_1024_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyError_, match="RSA-1024 is not supported"):
        classify(key)


@pytest.mark.parametrize("size", [16, 32])
def test_kek_raw_and_base64(tmp_path: Path, size: int) -> None:
    kek = os.urandom(size)
    raw = tmp_path / "kek.bin"
    raw.write_bytes(kek)
    b64 = tmp_path / "kek.b64"
    b64.write_bytes(base64.b64encode(kek) + b"\n")
    assert load_key_or_kek(raw) == kek
    assert load_key_or_kek(b64) == kek
    assert classify(kek) is (KeyType.AES_KW_128 if size == 16 else KeyType.AES_KW_256)


def test_sample_keks_parse() -> None:
    for name, size in (("enc-aes128kw.b64", 16), ("enc-aes256kw.b64", 32)):
        assert len(parse_kek((SAMPLE_DIR / name).read_bytes())) == size


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (base64.b64encode(b"x" * 24), "holds 24 bytes"),
        (b"x" * 20, "holds 15 bytes"),
        (b"\xff" * 20, "neither a PEM key nor a KEK"),
        (b"not base64 !!", "neither a PEM key nor a KEK"),
    ],
)
def test_bad_kek(content: bytes, message: str) -> None:
    with pytest.raises(KeyError_, match=message):
        parse_kek(content)


def test_group_readable_private_key_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write_pem(tmp_path / "k.pem", x25519.X25519PrivateKey.generate())
    assert not warn_if_exposed(path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_private_key(path)
    assert "readable by group/others" in caplog.text
    assert "chmod 600" in caplog.text

"""keygen/getpub/getpubhash/getpriv output equals imgtool 2.5.0's, byte for byte."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from imgtool.main import imgtool

from mcuseal.cli import main

PEM_KEYS = [
    "root-ec-p256.pem",
    "root-ec-p256-pkcs8.pem",
    "root-ec-p384.pem",
    "root-ed25519.pem",
    "root-rsa-2048.pem",
    "root-rsa-3072.pem",
    "enc-x25519-priv.pem",
    "enc-x25519-pub.pem",
    "enc-ec256-pub.pem",
    "enc-rsa2048-pub.pem",
]


def _imgtool(args: Sequence[str]) -> tuple[int, bytes]:
    result = CliRunner().invoke(imgtool, list(args))
    return result.exit_code, result.stdout_bytes


def _imgtool_subprocess(args: Sequence[str]) -> tuple[int, bytes]:
    # getpriv binds sys.stdout at import time, so CliRunner cannot capture it.
    out = subprocess.run(
        [sys.executable, "-m", "imgtool.main", *args], capture_output=True, check=False
    )
    return out.returncode, out.stdout


def _mcuseal(capsysbinary: pytest.CaptureFixture[bytes], args: Sequence[str]) -> tuple[int, bytes]:
    code = main(list(args))
    return code, capsysbinary.readouterr().out


@pytest.mark.parametrize("name", PEM_KEYS)
@pytest.mark.parametrize(
    "extra",
    [
        ["-e", "raw"],
        ["-e", "pem"],
        ["-e", "lang-c"],
        ["-e", "lang-rust"],
        [],
        ["-l", "rust"],
        ["-e", "lang-c", "--name-suffix", "_2"],
        ["-e", "lang-rust", "--name-suffix", "_b"],
    ],
)
def test_getpub_matches_imgtool(
    capsysbinary: pytest.CaptureFixture[bytes], sample_key, name: str, extra: list[str]
) -> None:  # type: ignore[no-untyped-def]
    path = str(sample_key(name))
    expected = _imgtool(["getpub", "-k", path, *extra])
    assert expected[0] == 0
    assert _mcuseal(capsysbinary, ["getpub", "-k", path, *extra]) == expected


@pytest.mark.parametrize("name", ["root-ec-p256.pem", "root-rsa-2048.pem", "enc-x25519-pub.pem"])
@pytest.mark.parametrize("extra", [["-e", "raw"], ["-e", "lang-c"], ["--name-suffix", "_x"]])
def test_getpubhash_matches_imgtool(
    capsysbinary: pytest.CaptureFixture[bytes], sample_key, name: str, extra: list[str]
) -> None:  # type: ignore[no-untyped-def]
    path = str(sample_key(name))
    expected = _imgtool(["getpubhash", "-k", path, *extra])
    assert expected[0] == 0
    assert _mcuseal(capsysbinary, ["getpubhash", "-k", path, *extra]) == expected


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("root-ec-p256.pem", []),
        ("root-ec-p256.pem", ["--minimal"]),
        ("root-ec-p256.pem", ["-f", "openssl"]),
        ("root-ec-p256.pem", ["-f", "openssl", "--minimal"]),
        ("enc-ec256-priv.pem", ["--minimal"]),
        ("root-ec-p384.pem", []),
        ("root-rsa-2048.pem", []),
        ("root-rsa-2048.pem", ["--minimal"]),
        ("enc-rsa2048-priv.pem", ["--minimal"]),
        ("root-rsa-3072.pem", ["--minimal"]),
        ("enc-x25519-priv.pem", []),
        ("enc-x25519-priv.pem", ["--minimal"]),
    ],
)
def test_getpriv_matches_imgtool(
    capsysbinary: pytest.CaptureFixture[bytes], sample_key, name: str, extra: list[str]
) -> None:  # type: ignore[no-untyped-def]
    path = str(sample_key(name))
    expected = _imgtool_subprocess(["getpriv", "-k", path, *extra])
    assert expected[0] == 0
    assert _mcuseal(capsysbinary, ["getpriv", "-k", path, *extra]) == expected


def test_getpriv_minimal_p384_works_where_imgtool_fails(
    capsysbinary: pytest.CaptureFixture[bytes], sample_key
) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    from mcuseal.keys.formats import private_der

    path = sample_key("root-ec-p384.pem")
    assert _imgtool_subprocess(["getpriv", "-k", str(path), "--minimal"])[0] != 0
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    blob = private_der(key, minimal=True)
    # Still a valid PKCS#8 key with the same secret, just without the public point.
    reloaded = serialization.load_der_private_key(blob, None)
    assert reloaded.private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    assert len(blob) < len(private_der(key))


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("root-ed25519.pem", [], "not supported with ed25519 keys"),
        ("root-rsa-2048.pem", ["-f", "pkcs8"], "rsa does not support -f pkcs8"),
        ("enc-x25519-priv.pem", ["-f", "openssl"], "x25519 does not support -f openssl"),
        ("enc-ec256-pub.pem", [], "needs a private key"),
    ],
)
def test_getpriv_refusals(
    capsys: pytest.CaptureFixture[str], sample_key, name: str, extra: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    assert main(["getpriv", "-k", str(sample_key(name)), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") <= 2  # the dev-key warning and the one-line error


def test_getpub_to_file(tmp_path: Path, sample_key) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "pub.der"
    path = str(sample_key("root-ec-p256.pem"))
    assert main(["getpub", "-k", path, "-e", "raw", "-o", str(out)]) == 0
    assert out.read_bytes() == _imgtool(["getpub", "-k", path, "-e", "raw"])[1]


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "ed25519", "x25519", "rsa-2048"])
def test_keygen_writes_pkcs8_that_imgtool_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key_type: str
) -> None:
    import imgtool.keys

    path = tmp_path / "key.pem"
    assert main(["keygen", "-t", key_type, "-k", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert imgtool.keys.load(str(path)) is not None
    assert key_type in capsys.readouterr().out


@pytest.mark.parametrize(("key_type", "size"), [("aes-kw-128", 16), ("aes-kw-256", 32)])
def test_keygen_kek_is_base64(tmp_path: Path, key_type: str, size: int) -> None:
    path = tmp_path / "kek.b64"
    assert main(["keygen", "-t", key_type, "-k", str(path), "--json"]) == 0
    text = path.read_bytes()
    assert text.endswith(b"\n")
    assert len(base64.b64decode(text.strip(), validate=True)) == size
    assert path.stat().st_mode & 0o777 == 0o600


def test_keygen_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imgtool.keys

    path = tmp_path / "key.pem"
    monkeypatch.setenv("MCUSEAL_KEY_PASSWORD", "pa55")
    assert main(["keygen", "-t", "ecdsa-p256", "-k", str(path), "-p"]) == 0
    assert b"ENCRYPTED" in path.read_bytes()
    assert imgtool.keys.load(str(path), b"pa55") is not None
    # And mcuseal reads it back with the same variable.
    assert main(["getpub", "-k", str(path), "-e", "raw", "-o", str(tmp_path / "p")]) == 0


def test_keygen_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"precious")
    assert main(["keygen", "-t", "ed25519", "-k", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == b"precious"

"""Drop-in: the same argument list given to ``imgtool sign`` and ``mcuseal sign``.

Deterministic cases (Ed25519 signatures, unsigned images) must be byte-identical.  Cases with
random parts (ECDSA/RSA-PSS signatures, AES keys, ephemeral keys, OAEP) must agree on the
header, the protected TLVs, the plaintext hash and the TLV layout; mcuseal must verify and
decrypt imgtool's image to the same payload as its own, and imgtool must verify mcuseal's
unencrypted images.  (Byte-for-byte equality with pinned randomness is tested in tests/image.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from imgtool.main import imgtool

from mcuseal.image import ParsedImage

from .conftest import HEADER, Keys, run_cli

Args = Callable[[Keys], list[object]]

DETERMINISTIC: list[tuple[str, Args]] = [
    ("ed25519", lambda k: ["-k", k.ed25519]),
    ("unsigned", lambda k: []),
    ("pad-header", lambda k: ["-k", k.ed25519, "--pad-header"]),
    ("protected TLVs + confirm", lambda k: [
        "-k", k.ed25519, "--confirm", "--align", "4", "-s", "auto", "-d", "(1, 1.2.3+0), (2, 0.1)",
        "--boot-record", "BL2", "--custom-tlv", "0xa0", "0x0102", "--custom-tlv", "0xb0", "text"]),
    ("sha512", lambda k: ["-k", k.ed25519, "--sha", "512"]),
    ("pure", lambda k: ["-k", k.ed25519, "--pure"]),
    ("full pubkey, test, max-align 32", lambda k: [
        "-k", k.ed25519, "--public-key-format", "full", "--test", "--align", "16",
        "--max-align", "32"]),
    ("ram load, non-bootable, erased 0", lambda k: [
        "-k", k.ed25519, "-L", "0x20000000", "--non-bootable", "-R", "0", "--pad"]),
    ("rom fixed, overwrite-only", lambda k: [
        "-k", k.ed25519, "-F", "0x8000", "--overwrite-only", "--pad", "--confirm"]),
    ("vid/cid", lambda k: ["-k", k.ed25519, "--vid", "example.com", "--cid", "app"]),
    ("security counter, -M", lambda k: ["-k", k.ed25519, "-s", "0x42", "-M", "32", "--pad"]),
    ("big endian", lambda k: ["-k", k.ed25519, "-e", "big"]),
]  # fmt: skip

RANDOM: list[tuple[str, Args, str | None]] = [
    ("ecdsa-p256", lambda k: ["-k", k.p256], None),
    ("ecdsa-p256 pad-sig", lambda k: ["-k", k.p256, "--pad-sig"], None),
    ("ecdsa-p384", lambda k: ["-k", k.p384], None),
    ("rsa-2048", lambda k: ["-k", k.rsa2048], None),
    ("ecies-p256", lambda k: ["-k", k.p256, "-E", k.p256_enc_pub], "p256_enc"),
    ("ecies-p256 aes256", lambda k: ["-k", k.p256, "-E", k.p256_enc, "--encrypt-keylen", "256"],
     "p256_enc"),
    ("ecies-x25519", lambda k: ["-k", k.ed25519, "-E", k.x25519_pub], "x25519"),
    ("ecies-x25519 sha512 aes256", lambda k: ["-k", k.ed25519, "-E", k.x25519_pub, "--hmac-sha",
     "512", "--encrypt-keylen", "256"], "x25519"),
    ("rsa-oaep", lambda k: ["-k", k.rsa2048, "-E", k.rsa2048_enc], "rsa2048_enc"),
    ("rsa-oaep padded", lambda k: ["-k", k.rsa2048, "-E", k.rsa2048_enc, "--pad", "--confirm",
     "--align", "8", "--save-enctlv"], "rsa2048_enc"),
]  # fmt: skip


def _sign_both(keys: Keys, app: Path, tmp_path: Path, extra: list[object], ext: str = ".bin"):  # type: ignore[no-untyped-def]
    common = ["-H", hex(HEADER), "-S", "0x20000", "-v", "1.2.3+4", *map(os.fspath, extra)]
    theirs, ours = tmp_path / f"imgtool{ext}", tmp_path / f"mcuseal{ext}"
    result = CliRunner().invoke(imgtool, ["sign", *map(str, common), str(app), str(theirs)])
    assert result.exit_code == 0, result.output
    extra_ours = ["--allow-unsigned"] if "-k" not in common else []
    assert run_cli(["sign", *common, *extra_ours, app, ours]) == 0
    return theirs, ours


@pytest.mark.parametrize(("name", "args"), DETERMINISTIC, ids=[c[0] for c in DETERMINISTIC])
def test_deterministic_images_are_identical(
    keys: Keys, app: Path, tmp_path: Path, name: str, args: Args
) -> None:
    theirs, ours = _sign_both(keys, app, tmp_path, args(keys))
    assert ours.read_bytes() == theirs.read_bytes()
    if "-e" not in args(keys) and "-k" in args(keys):
        result = CliRunner().invoke(imgtool, ["verify", "-k", str(keys.ed25519), str(ours)])
        assert result.exit_code == 0, result.output


def test_hex_output_is_identical(keys: Keys, app: Path, tmp_path: Path) -> None:
    theirs, ours = _sign_both(
        keys, app, tmp_path, ["-k", keys.ed25519, "-x", "0x10000", "--pad", "--confirm"], ".hex"
    )
    assert ours.read_text() == theirs.read_text()


@pytest.mark.parametrize(("name", "args", "device"), RANDOM, ids=[c[0] for c in RANDOM])
def test_randomised_images_are_equivalent(
    keys: Keys, app: Path, tmp_path: Path, name: str, args: Args, device: str | None
) -> None:
    extra = args(keys)
    theirs, ours = _sign_both(keys, app, tmp_path, extra)
    a, b = ParsedImage.loads(theirs.read_bytes()), ParsedImage.loads(ours.read_bytes())
    assert a.header == b.header
    assert a.protected_tlvs == b.protected_tlvs
    assert a.hash_tlv == b.hash_tlv
    assert [t.type for t in a.unprotected_tlvs] == [t.type for t in b.unprotected_tlvs]
    assert a.trailer == b.trailer
    assert len(theirs.read_bytes()) == len(ours.read_bytes()) or "--pad" not in extra
    signing_key = extra[1]
    if device is None:
        # Unencrypted: each tool verifies the other's image.
        result = CliRunner().invoke(imgtool, ["verify", "-k", str(signing_key), str(ours)])
        assert result.exit_code == 0, result.output
        assert run_cli(["verify", theirs, "-k", signing_key]) == 0
        return
    device_key = getattr(keys, device)
    payloads = []
    for image in (theirs, ours):
        assert run_cli(["verify", image, "-k", signing_key, "-E", device_key]) == 0
        plain = tmp_path / f"{image.stem}.plain"
        assert run_cli(["decrypt", image, "-E", device_key, "-o", plain]) == 0
        payloads.append(plain.read_bytes())
    assert payloads[0] == payloads[1]
    assert payloads[0].startswith(app.read_bytes()[HEADER:])


@pytest.mark.parametrize("command", ["sign", "getpub", "getpubhash", "getpriv", "keygen"])
def test_every_imgtool_option_is_accepted(command: str) -> None:
    from mcuseal.cli import build_command_parser

    parser, _ = build_command_parser(command)
    ours = {s for action in parser._actions for s in action.option_strings}
    theirs = {s for p in imgtool.commands[command].params for s in p.opts if s.startswith("-")}
    assert theirs - ours == set()


def test_imgtool_p384_encryption_is_refused_here_and_rejected_by_verify(
    keys: Keys, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # imgtool writes an "encrypted" image with no key TLV: no device can ever decrypt it.
    common = ["-k", str(keys.ed25519), "-E", str(keys.p384), "-H", hex(HEADER), "-S", "0x20000",
              "-v", "1.0.0"]  # fmt: skip
    theirs = tmp_path / "imgtool.bin"
    result = CliRunner().invoke(imgtool, ["sign", *common, str(app), str(theirs)])
    assert result.exit_code == 0, result.output
    capsys.readouterr()
    assert run_cli(["verify", theirs, "-k", keys.ed25519]) == 1
    assert "REJECTED" in capsys.readouterr().out
    ours = tmp_path / "mcuseal.bin"
    assert run_cli(["sign", *common, app, ours]) == 2
    assert "secp384r1 encryption keys cannot be used" in capsys.readouterr().err
    assert not ours.exists()

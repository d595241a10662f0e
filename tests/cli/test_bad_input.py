"""Bad input of every kind: one line naming the problem, a documented exit code, no output file.

Each row: a name, a function building the argument list, the exit code, and a fragment of
the message.  The output paths are checked to be absent afterwards (no partial file).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import HEADER, Keys, run_cli


@dataclass(frozen=True)
class Ctx:
    keys: Keys
    app: Path
    tmp: Path

    @property
    def out(self) -> Path:
        return self.tmp / "out.bin"

    def sign(self, *extra: object, key: object = None) -> list[object]:
        k = self.keys.p256 if key is None else key
        base: list[object] = ["sign", "-H", hex(HEADER), "-S", "0x20000", "-v", "1.2.3"]
        if k != "":
            base += ["-k", k]
        return [*base, *extra, self.app, self.out]

    def write(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def signed(self, *extra: object) -> Path:
        """A valid image made by mcuseal (for the verify/decrypt rows)."""
        path = self.tmp / "good.bin"
        args = ["sign", "-k", self.keys.p256, "-H", hex(HEADER), "-S", "0x20000", "-v", "1.0.0"]
        assert run_cli([*args, *extra, self.app, path]) == 0
        return path


Case = tuple[str, Callable[[Ctx], list[object]], int, str]

CASES: list[Case] = [
    # -- image / input files
    ("input missing", lambda c: [*c.sign()[:-2], c.tmp / "nope.bin", c.out], 2, "does not exist"),
    ("input not zero-headed", lambda c: [*c.sign()[:-2], c.write("nz.bin", b"\x01" * 4096), c.out],
     2, "does not start with 0x200 zero bytes"),
    ("input shorter than header", lambda c: [*c.sign()[:-2], c.write("s.bin", bytes(16)), c.out],
     2, "shorter than the 0x200-byte header"),
    ("bad hex input", lambda c: [*c.sign()[:-2], c.write("bad.hex", b":zz\n"), c.out], 2,
     "Intel HEX"),
    ("image does not fit slot", lambda c: c.sign("-S", "0x800"), 2, "exceeds the slot size"),
    ("only bootutil's trailer fails", lambda c: c.sign("-E", c.keys.kek256, "--encrypt-keylen",
     "256", "-M", "4", "--align", "8", "-S", hex(_tight_slot(c))), 2,
     "imgtool's smaller estimate"),
    # -- header, version, arguments
    ("header below 32", lambda c: c.sign("-H", "16"), 2, ""),
    ("header not /16 with -E", lambda c: c.sign("-E", c.keys.p256_enc_pub, "--pad-header", "-H",
     "0x28"), 2, "not a multiple of 16"),
    ("version out of range", lambda c: c.sign("-v", "256.0.0"), 2, "out of range 0..255"),
    ("version malformed", lambda c: c.sign("-v", "one.two"), 2, "invalid version"),
    ("compression", lambda c: c.sign("--compression", "lzma2"), 2, "not supported by mcuseal"),
    ("custom TLV predefined tag", lambda c: c.sign("--custom-tlv", "0x10", "x"), 2,
     "--custom-tlv tag 0x10"),
    ("custom TLV odd hex", lambda c: c.sign("--custom-tlv", "0xa0", "0x123"), 2, "odd hex length"),
    ("custom TLV file missing", lambda c: c.sign("--custom-tlv-file", "0xa0", c.tmp / "nope"), 2,
     "check the path"),
    ("bad dependencies", lambda c: c.sign("-d", "1.2.3"), 2, "-d/--dependencies"),
    ("load and rom-fixed", lambda c: c.sign("-L", "0x20000000", "-F", "0x8000"), 2,
     "cannot be used together"),
    ("sha 384 with p256", lambda c: c.sign("--sha", "384"), 2, "cannot be used with --sha 384"),
    ("boot record too long", lambda c: c.sign("--boot-record", "x" * 13), 2, "maximum is 12"),
    ("fix-sig without pubkey", lambda c: c.sign("--fix-sig", c.write("s.b64", b"AAAA"), key=""),
     2, "--fix-sig-pubkey"),
    ("fix-sig not base64", lambda c: c.sign("--fix-sig", c.write("s.b64", b"%%%"),
     "--fix-sig-pubkey", c.keys.p256_enc_pub, key=""), 2, "is not a base64 signature"),
    ("sig-out with vector-to-sign", lambda c: c.sign("--vector-to-sign", "digest", "--sig-out",
     c.tmp / "sig.b64"), 2, "--vector-to-sign makes none"),
    ("sig-out unsigned", lambda c: c.sign("--sig-out", c.tmp / "sig.b64", key=""), 2,
     "--sig-out needs a signature"),
    ("output directory missing", lambda c: [*c.sign()[:-1], c.tmp / "no" / "out.bin"], 2,
     "does not exist; create it"),
    ("output is the input", lambda c: [*c.sign()[:-1], c.app], 2, "is the input file"),
    ("output under a file", lambda c: [*c.sign()[:-1], c.app / "out.bin"], 2, "cannot write"),
    ("sig-out is the output", lambda c: c.sign("--sig-out", c.out), 2, "is OUTFILE too"),
    ("input is a directory", lambda c: [*c.sign()[:-2], c.tmp, c.out], 2, "is a directory"),
    ("input empty", lambda c: [*c.sign()[:-2], c.write("e.bin", b""), c.out], 2,
     "input is 0 bytes"),
    ("signing key is a directory", lambda c: c.sign(key=c.tmp), 2, "is a directory"),
    ("signing key empty", lambda c: c.sign(key=c.write("e.pem", b"")), 2,
     "not a PEM or DER private key"),
    # -- signing keys
    ("signing key missing", lambda c: c.sign(key=c.tmp / "nope.pem"), 2, "does not exist"),
    ("signing key garbage", lambda c: c.sign(key=c.write("g.pem", b"hello\n")), 2,
     "not a PEM or DER private key"),
    ("signing key public only", lambda c: c.sign(key=c.keys.p256_enc_pub), 2, "public key only"),
    ("signing with x25519", lambda c: c.sign(key=c.keys.x25519), 2, "cannot sign"),
    ("signing key password, no env", lambda c: c.sign(key=_encrypted_key(c)), 2,
     "password-protected; set MCUSEAL_KEY_PASSWORD"),
    ("sample signing key", lambda c: c.sign(key=c.keys.sample("root-ec-p256.pem")), 2,
     "published MCUboot sample key root-ec-p256.pem"),
    # -- encryption keys
    ("encrypt with P-384", lambda c: c.sign("-E", c.keys.p384), 2, "secp384r1 encryption keys"),
    ("encrypt with RSA-3072", lambda c: c.sign("-E", c.keys.sample("root-rsa-3072.pem"),
     "--allow-dev-keys"), 2, "RSA-3072 encryption keys cannot be used"),
    ("encrypt with ed25519", lambda c: c.sign("-E", c.keys.ed25519), 2, "cannot encrypt"),
    ("KEK length vs keylen", lambda c: c.sign("-E", c.keys.kek128, "--encrypt-keylen", "256"), 2,
     "bootutil requires them equal"),
    ("KEK of 24 bytes", lambda c: c.sign("-E", c.write("k.bin", os.urandom(24))), 2,
     "neither a PEM key nor a KEK"),
    ("pure with -E", lambda c: c.sign("--pure", "-E", c.keys.x25519_pub, key=c.keys.ed25519), 2,
     "--pure cannot be combined with -E"),
    ("hmac 512 with P-256", lambda c: c.sign("-E", c.keys.p256_enc_pub, "--hmac-sha", "512"), 2,
     "--hmac-sha 512 needs an X25519"),
    ("encrypt unsigned", lambda c: c.sign("-E", c.keys.p256_enc_pub, key=""), 2,
     "refusing to encrypt an unsigned image"),
    ("sample encryption key", lambda c: c.sign("-E", c.keys.sample("enc-ec256-pub.pem")), 2,
     "enc-ec256-priv.pem"),
    ("sample KEK", lambda c: c.sign("-E", c.keys.sample("enc-aes128kw.b64")), 2,
     "sample KEK enc-aes128kw.b64"),
    ("hex base below zero", lambda c: [*c.sign("--pad-header")[:-2], _low_hex(c), c.tmp / "o.hex"],
     2, "is negative"),
    ("hex output without address", lambda c: [*c.sign()[:-1], c.tmp / "out.hex"], 2,
     "-x/--hex-addr"),
    # -- verify / decrypt / key commands
    ("verify with a KEK as -k", lambda c: ["verify", c.signed(), "-k", c.keys.kek128], 2,
     "is not a PEM or DER key"),
    ("verify missing image", lambda c: ["verify", c.tmp / "nope.bin", "-k", c.keys.p256], 2,
     "does not exist"),
    ("decrypt wrong key", lambda c: ["decrypt", c.signed("-E", c.keys.p256_enc_pub), "-E",
     _other_p256(c), "-o", c.out], 1, ""),
    ("decrypt plain image", lambda c: ["decrypt", c.signed(), "-E", c.keys.p256_enc, "-o", c.out],
     2, "not encrypted"),
    ("decrypt with public key", lambda c: ["decrypt", c.signed("-E", c.keys.p256_enc_pub), "-E",
     c.keys.p256_enc_pub, "-o", c.out], 2, "is a public key"),
    ("decrypt to .hex", lambda c: ["decrypt", c.signed(), "-E", c.keys.p256_enc, "-o",
     c.tmp / "out.hex"], 2, "writes binary"),
    ("decrypt garbage image", lambda c: ["decrypt", c.write("g.bin", os.urandom(256)), "-E",
     c.keys.p256_enc, "-o", c.out], 2, "magic"),
    ("verify with a public -E", lambda c: ["verify", c.signed(), "-E", c.keys.p256_enc_pub], 2,
     "is a public key"),
    ("info of a truncated image", lambda c: ["info", _truncated(c)], 2, "truncated"),
    ("decrypt a truncated image", lambda c: ["decrypt", _truncated(c), "-E", c.keys.p256_enc,
     "-o", c.out], 2, "truncated"),
    ("decrypt output under a file", lambda c: ["decrypt", c.signed("-E", c.keys.p256_enc_pub),
     "-E", c.keys.p256_enc, "-o", c.app / "x.bin"], 2, "cannot write"),
    ("keygen under a file", lambda c: ["keygen", "-t", "x25519", "-k", c.app / "k.pem"], 2,
     "cannot write"),
    ("getpub of a KEK", lambda c: ["getpub", "-k", c.keys.kek128, "-o", c.out], 2, ""),
    ("getpriv of ed25519", lambda c: ["getpriv", "-k", c.keys.ed25519, "-o", c.out], 2,
     "not supported with ed25519 keys"),
    ("keygen into missing dir", lambda c: ["keygen", "-t", "x25519", "-k", c.tmp / "d" / "k.pem"],
     2, "does not exist; create it"),
]  # fmt: skip


def _low_hex(c: Ctx) -> Path:
    """A .hex input at 0x100: --pad-header 0x200 would put the header at -0x100."""
    from intelhex import IntelHex

    ih = IntelHex()
    ih.frombytes(b"app", offset=0x100)
    text = io.StringIO()
    ih.write_hex_file(text)
    return c.write("low.hex", text.getvalue().encode())


def _truncated(c: Ctx) -> Path:
    return c.write("trunc.bin", c.signed().read_bytes()[:1000])


def _tight_slot(c: Ctx) -> int:
    """A slot that fits the image with imgtool's trailer estimate but not with bootutil's."""
    from mcuseal.image import imgtool_trailer_size

    image_size = HEADER + 3008 + 4 + 4 + 32 + 4 + 32 + 4 + 72 + 4 + 40  # hash, keyhash, sig, KW
    trailer = imgtool_trailer_size(
        align=8, max_align=8, max_sectors=4, overwrite_only=False, encrypted=True
    )
    return image_size + trailer


def _fresh_p256(c: Ctx, name: str, password: bytes | None = None) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    return c.write(name, pem)


def _encrypted_key(c: Ctx) -> Path:
    return _fresh_p256(c, "enc.pem", b"pw")


def _other_p256(c: Ctx) -> Path:
    return _fresh_p256(c, "other.pem")


def test_suite_is_big_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(("name", "build", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    name: str,
    build: Callable[[Ctx], list[object]],
    code: int,
    message: str,
    keys: Keys,
    app: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MCUSEAL_KEY_PASSWORD", raising=False)
    ctx = Ctx(keys, app, tmp_path)
    args = build(ctx)
    capsys.readouterr()  # drop output of the set-up (e.g. signing the input image)
    before = set(tmp_path.rglob("*"))
    assert run_cli(args) == code  # type: ignore[arg-type]
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert errors, "no error message"
    assert "Traceback" not in err
    assert message in err
    if "usage:" in err:  # argparse: usage, then one error line
        assert message in errors[-1]
    else:
        assert len(errors) == 1, err
    # No output file and no temporary left behind.
    assert set(tmp_path.rglob("*")) == before


UNPARSEABLE: list[tuple[str, Callable[[Ctx], Path], str]] = [
    ("empty", lambda c: c.write("e.bin", b""), "is empty"),
    ("garbage hex", lambda c: c.write("g.hex", b":10000000zz\n"), "Intel HEX"),
    ("truncated", _truncated, "truncated"),
    ("random bytes", lambda c: c.write("r.bin", os.urandom(300)), "bad image magic"),
]


@pytest.mark.parametrize(("name", "make", "message"), UNPARSEABLE, ids=[u[0] for u in UNPARSEABLE])
def test_verify_rejects_what_does_not_parse(
    name: str,
    make: Callable[[Ctx], Path],
    message: str,
    keys: Keys,
    app: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An image that does not parse is rejected (exit 1), with the reason on the header line."""
    image = make(Ctx(keys, app, tmp_path))
    capsys.readouterr()
    assert run_cli(["verify", image, "-k", keys.p256]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    header = next(line for line in captured.out.splitlines() if "header" in line)
    assert "FAIL" in header and message in header
    assert "REJECTED" in captured.out

"""Byte compatibility with imgtool 2.5.0, run in-process as the oracle.

Randomness is pinned on both sides (AES key, ECIES ephemeral key).  ECDSA and RSA-PSS
signatures and the RSA-OAEP block are random by design: for those the mcuseal side gets a
signer/wrapper that *checks* imgtool's value against what mcuseal asks it to sign/wrap (the
signature must verify over mcuseal's digest; the OAEP block must decrypt to mcuseal's AES key)
and then returns it, so the rest of the output can be compared byte for byte.  mcuseal's own
signatures are checked by imgtool's ``verify`` below.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mcuseal.image import (
    CryptographySigner,
    DeviceKey,
    EncryptionState,
    ImageVersion,
    KeyKind,
    ParsedImage,
    SignOptions,
    TlvType,
    decrypt_image,
    key_wrapper_for,
    public_key_bytes,
    rng,
    sign_image,
    verify_image,
    verify_signature,
)
from mcuseal.image.crypto import EncScheme, KeyWrapper
from mcuseal.image.hexfile import load_hex, output_base_addr, write_hex
from tests.image.conftest import KeySet
from tests.image.imgtool_oracle import imgtool_sign, run_imgtool

AES_KEY = bytes(range(0x40, 0x60))
COMMON = ["-H", "0x200", "--pad-header", "-S", "0x20000", "--align", "4", "-v", "1.2.3+4"]
COMMON_OPTS: dict[str, Any] = {
    "header_size": 0x200,
    "pad_header": True,
    "slot_size": 0x20000,
    "align": 4,
    "version": ImageVersion(1, 2, 3, 4),
}


class ReplaySigner:
    """Returns imgtool's (random-by-design) signature after checking it signs *to_sign*."""

    def __init__(self, key: Any, signature: bytes) -> None:
        self._inner = CryptographySigner(key)
        self._pub = key.public_key()
        self._sig = signature

    @property
    def key_kind(self) -> KeyKind:
        return self._inner.key_kind

    def public_key_bytes(self) -> bytes:
        return self._inner.public_key_bytes()

    def sign(self, to_sign: bytes) -> bytes:
        assert verify_signature(self._pub, self.key_kind, self._sig, to_sign), (
            "imgtool's signature does not verify over mcuseal's digest"
        )
        return self._sig


class ReplayOaep:
    """Returns imgtool's RSA-OAEP block after checking it decrypts to mcuseal's AES key."""

    scheme = EncScheme.RSA_OAEP

    def __init__(self, device_key: rsa.RSAPrivateKey, value: bytes) -> None:
        self._dev = DeviceKey(device_key)
        self._value = value

    def wrap(self, plainkey: bytes, *, hmac_sha: int) -> tuple[int, bytes]:
        assert self._dev.unwrap(0x30, self._value, len(plainkey) * 8) == plainkey
        return TlvType.ENC_RSA2048, self._value


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    opts: dict[str, Any]
    sign: str | None = None
    enc: str | None = None
    common: bool = True
    zero_start: bool = False
    extra_files: dict[str, bytes] = field(default_factory=dict)


_DEPS = ((1, ImageVersion(1, 2, 3, 0)), (2, ImageVersion(0, 1, 0, 0)))
CASES = [
    Case("p256", [], {}, sign="sign-p256.pem"),
    Case("p256-ec256-aes128", [], {}, sign="sign-p256.pem", enc="enc-p256.pem"),
    Case(
        "p256-ec256-aes256",
        ["--encrypt-keylen", "256"],
        {"encrypt_keylen": 256},
        sign="sign-p256.pem",
        enc="enc-p256.pem",
    ),
    Case("ed25519-x25519-aes128", [], {}, sign="sign-ed25519.pem", enc="enc-x25519.pem"),
    Case(
        "ed25519-x25519-hmac256-explicit",
        ["--hmac-sha", "256"],
        {"hmac_sha": 256},
        sign="sign-ed25519.pem",
        enc="enc-x25519.pem",
    ),
    Case(
        "ed25519-x25519sha512-aes256",
        ["--encrypt-keylen", "256", "--hmac-sha", "512"],
        {"encrypt_keylen": 256, "hmac_sha": 512},
        sign="sign-ed25519.pem",
        enc="enc-x25519.pem",
    ),
    Case(
        "ed25519-x25519sha512-aes128",
        ["--hmac-sha", "512"],
        {"hmac_sha": 512},
        sign="sign-ed25519.pem",
        enc="enc-x25519.pem",
    ),
    Case("rsa2048-oaep-aes128", [], {}, sign="sign-rsa2048.pem", enc="enc-rsa2048.pem"),
    Case(
        "rsa2048-oaep-aes256",
        ["--encrypt-keylen", "256"],
        {"encrypt_keylen": 256},
        sign="sign-rsa2048.pem",
        enc="enc-rsa2048.pem",
    ),
    Case("rsa3072", [], {}, sign="sign-rsa3072.pem"),
    Case("p384", [], {}, sign="sign-p384.pem"),
    Case("ed25519-sha512", ["--sha", "512"], {"sha": 512}, sign="sign-ed25519.pem"),
    Case("ed25519-pure", ["--pure"], {"pure": True}, sign="sign-ed25519.pem"),
    Case("unsigned", [], {}),
    Case("unsigned-sha384", ["--sha", "384"], {"sha": 384}),
    Case("unsigned-x25519", [], {}, enc="enc-x25519.pem"),
    Case("unsigned-rsa-oaep", [], {}, enc="enc-rsa2048.pem"),
    Case(
        "pad-confirm-M32-align8",
        ["--pad", "--confirm", "-M", "32", "--align", "8"],
        {"pad": True, "confirm": True, "max_sectors": 32, "align": 8},
        sign="sign-p256.pem",
        enc="enc-p256.pem",
    ),
    Case("test", ["--test"], {"test": True}, sign="sign-ed25519.pem"),
    Case("pad", ["--pad"], {"pad": True}, sign="sign-ed25519.pem"),
    Case(
        "overwrite-only-confirm",
        ["--overwrite-only", "--confirm"],
        {"overwrite_only": True, "confirm": True},
        sign="sign-ed25519.pem",
    ),
    Case(
        "erased0-max-align16-pad",
        ["-R", "0", "--max-align", "16", "--pad"],
        {"erased_val": 0, "max_align": 16, "pad": True},
        sign="sign-ed25519.pem",
        enc="enc-x25519.pem",
    ),
    Case(
        "max-align32-confirm-aes256",
        ["--max-align", "32", "--confirm", "--encrypt-keylen", "256"],
        {"max_align": 32, "confirm": True, "encrypt_keylen": 256},
        sign="sign-ed25519.pem",
        enc="enc-x25519.pem",
    ),
    Case(
        "save-enctlv-pad",
        ["--save-enctlv", "--pad"],
        {"save_enctlv": True, "pad": True},
        sign="sign-ed25519.pem",
        enc="enc-x25519.pem",
    ),
    Case(
        "protected-all",
        [
            "-s",
            "auto",
            "-d",
            "(1,1.2.3),(2, 0.1)",
            "--boot-record",
            "APP",
            "--custom-tlv",
            "0xa0",
            "0xdeadbeef",
            "--custom-tlv",
            "0x1234",
            "hello",
            "--custom-tlv-file",
            "0xa5",
            "{blob}",
            "--vid",
            "example.com",
            "--cid",
            "main-app",
        ],
        {
            "security_counter": "auto",
            "dependencies": _DEPS,
            "boot_record": "APP",
            "custom_tlvs": (
                (0xA0, bytes.fromhex("deadbeef")),
                (0x1234, b"hello"),
                (0xA5, b"\0\1\2"),
            ),
            "vid": "example.com",
            "cid": "main-app",
        },
        sign="sign-p256.pem",
        enc="enc-p256.pem",
        extra_files={"blob": b"\0\1\2"},
    ),
    Case(
        "sec-cnt-raw-uuids-unsigned",
        [
            "-s",
            "0x42",
            "--vid",
            "12345678-1234-5678-1234-567812345678",
            "--cid",
            "0123456789abcdef0123456789abcdef",
            "--boot-record",
            "BL2",
        ],
        {
            "security_counter": 0x42,
            "vid": "12345678-1234-5678-1234-567812345678",
            "cid": "0123456789abcdef0123456789abcdef",
            "boot_record": "BL2",
        },
    ),
    Case(
        "boot-record-ed25519-sha512",
        ["--boot-record", "NSPE", "--sha", "512"],
        {"boot_record": "NSPE", "sha": 512},
        sign="sign-ed25519.pem",
    ),
    Case(
        "zero-start-H32",
        ["-H", "0x20", "-S", "0x20000", "-v", "0.0.1"],
        {"header_size": 0x20, "slot_size": 0x20000, "version": ImageVersion(0, 0, 1)},
        sign="sign-ed25519.pem",
        common=False,
        zero_start=True,
    ),
    Case(
        "zero-start-H400-enc",
        ["-H", "0x400", "-S", "0x20000", "-v", "3.0.0", "--align", "16"],
        {
            "header_size": 0x400,
            "slot_size": 0x20000,
            "version": ImageVersion(3),
            "align": 16,
        },
        sign="sign-p256.pem",
        enc="enc-p256.pem",
        common=False,
        zero_start=True,
    ),
    Case("pad-header-H40", ["-H", "0x40"], {"header_size": 0x40}, sign="sign-ed25519.pem"),
    Case("load-addr", ["-L", "0x20000000"], {"load_addr": 0x20000000}, sign="sign-p256.pem"),
    Case("rom-fixed", ["-F", "0x10000"], {"rom_fixed": 0x10000}, sign="sign-ed25519.pem"),
    Case("non-bootable", ["--non-bootable"], {"non_bootable": True}, sign="sign-ed25519.pem"),
    Case(
        "big-endian",
        [
            "-e",
            "big",
            "-s",
            "7",
            "-d",
            "(1,1.2.3+9)",
            "--custom-tlv",
            "0xa0",
            "0x01",
            "--max-align",
            "16",
            "--pad",
        ],
        {
            "endian": "big",
            "security_counter": 7,
            "dependencies": ((1, ImageVersion(1, 2, 3, 9)),),
            "custom_tlvs": ((0xA0, b"\x01"),),
            "max_align": 16,
            "pad": True,
        },
        sign="sign-ed25519.pem",
        enc="enc-x25519.pem",
    ),
    Case(
        "pubkey-full-p256",
        ["--public-key-format", "full"],
        {"public_key_format": "full"},
        sign="sign-p256.pem",
    ),
    Case(
        "pubkey-full-rsa",
        ["--public-key-format", "full"],
        {"public_key_format": "full"},
        sign="sign-rsa2048.pem",
    ),
    Case("clear", ["--clear"], {"clear": True}, sign="sign-p256.pem", enc="enc-p256.pem"),
    Case("pad-sig", ["--pad-sig"], {"pad_sig": True}, sign="sign-p256.pem"),
]


def _app(seed: str, size: int = 5003) -> bytes:
    return random.Random(seed).randbytes(size)


def _replays(case: Case, keys: KeySet, reference: bytes) -> tuple[Any, KeyWrapper | None]:
    """The mcuseal-side signer and wrapper for *case*, replaying imgtool's random values."""
    parsed = ParsedImage.loads(reference)
    signer: Any = None
    if case.sign is not None:
        key = keys.private[case.sign]
        signer = CryptographySigner(key)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            sig = parsed.find(signer.key_kind.sig_tlv)
            assert sig is not None
            signer = ReplaySigner(key, sig.value)
    wrapper: KeyWrapper | None = None
    if case.enc is not None:
        enc_key = keys.private[case.enc]
        wrapper = key_wrapper_for(enc_key.public_key())
        if isinstance(enc_key, rsa.RSAPrivateKey):
            tlv = parsed.find(TlvType.ENC_RSA2048)
            assert tlv is not None
            wrapper = ReplayOaep(enc_key, tlv.value)
    return signer, wrapper


def _prepare(case: Case, keys: KeySet, tmp_path: Path, ext: str = "bin") -> tuple[bytes, list[str]]:
    app = _app(case.id)
    if case.zero_start:
        app = bytes(case.opts["header_size"]) + app
    infile = tmp_path / f"app.{ext}"
    if ext == "bin":
        infile.write_bytes(app)
    args = (COMMON if case.common else []) + [
        a.format(**{k: str(tmp_path / k) for k in case.extra_files}) for a in case.args
    ]
    for name, data in case.extra_files.items():
        (tmp_path / name).write_bytes(data)
    if case.sign:
        args += ["-k", str(keys.path(case.sign))]
    if case.enc:
        args += ["-E", str(keys.path(case.enc))]
    return app, args


def _options(case: Case) -> SignOptions:
    opts = dict(COMMON_OPTS) if case.common else {}
    opts.update(case.opts)
    return SignOptions(**opts)


def _aes_key(case: Case) -> bytes:
    return AES_KEY[: _options(case).encrypt_keylen // 8]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sign_matches_imgtool(case: Case, keys: KeySet, tmp_path: Path) -> None:
    app, args = _prepare(case, keys, tmp_path)
    reference = imgtool_sign(
        args,
        tmp_path / "app.bin",
        tmp_path / "ref.bin",
        aes_key=AES_KEY,
        p256=keys.eph_p256,
        x25519_key=keys.eph_x25519,
    )
    signer, wrapper = _replays(case, keys, reference)
    with rng.pinned(aes_key=_aes_key(case), p256=keys.eph_p256, x25519=keys.eph_x25519):
        ours = sign_image(app, _options(case), signer=signer, encrypt_to=wrapper)
    out = ours.to_bytes()
    assert len(out) == len(reference)
    assert out == reference
    assert ours.size == len(out)


def _verifiable_cases() -> list[Case]:
    # imgtool verify cannot handle big-endian or encrypted payloads (it hashes ciphertext).
    return [c for c in CASES if c.enc is None and c.id != "big-endian"]


@pytest.mark.parametrize("case", _verifiable_cases(), ids=[c.id for c in _verifiable_cases()])
def test_imgtool_verify_accepts_ours(case: Case, keys: KeySet, tmp_path: Path) -> None:
    app, _ = _prepare(case, keys, tmp_path)
    signer = CryptographySigner(keys.private[case.sign]) if case.sign else None
    out = tmp_path / "ours.bin"
    out.write_bytes(sign_image(app, _options(case), signer=signer).to_bytes())
    args = ["verify", str(out)] + (["-k", str(keys.path(case.sign))] if case.sign else [])
    text = run_imgtool(args)
    assert "Image was correctly validated" in text


# imgtool's big-endian TLV headers are not what a bootloader reads (research note P13).
ENC_CASES = [c for c in CASES if c.enc is not None and c.opts.get("endian") != "big"]


@pytest.mark.parametrize("case", ENC_CASES, ids=[c.id for c in ENC_CASES])
def test_we_verify_and_decrypt_imgtool_images(case: Case, keys: KeySet, tmp_path: Path) -> None:
    app, args = _prepare(case, keys, tmp_path)
    # Unpinned: imgtool's own fresh randomness.
    run_imgtool(["sign", *args, str(tmp_path / "app.bin"), str(tmp_path / "ref.bin")])
    data = (tmp_path / "ref.bin").read_bytes()
    assert case.enc is not None
    device = DeviceKey(keys.private[case.enc])
    trusted = [keys.private[case.sign].public_key()] if case.sign else []
    clear = case.opts.get("clear", False)
    report = verify_image(data, trusted_keys=trusted, device_key=device)
    if clear:
        assert not report.accepted
        assert report.encryption is EncryptionState.CLEAR
        assert verify_image(data, trusted_keys=trusted, slot="primary").accepted
        return
    assert report.accepted, report.checks
    assert report.encryption is EncryptionState.ENCRYPTED
    assert report.payload_checked
    nokey = verify_image(data, trusted_keys=trusted)
    assert nokey.accepted and not nokey.payload_checked
    assert nokey.encryption is EncryptionState.ENCRYPTED
    dec = decrypt_image(data, device)
    if case.zero_start:
        app = app[case.opts["header_size"] :]
    assert dec.payload[: len(app)] == app
    assert dec.payload[len(app) :] == bytes(len(dec.payload) - len(app))
    primary = verify_image(dec.clear_image(), trusted_keys=trusted, slot="primary")
    assert primary.accepted and primary.encryption is EncryptionState.CLEAR


HEX_CASES = [
    Case("hex-in-hex-out", [], {}, sign="sign-ed25519.pem", enc="enc-x25519.pem"),
    Case(
        "hex-in-hex-out-confirm",
        ["--confirm", "--max-align", "32"],
        {"confirm": True, "max_align": 32},
        sign="sign-ed25519.pem",
    ),
    Case("hex-in-hex-out-test", ["--test"], {"test": True}, sign="sign-ed25519.pem"),
    Case(
        "hex-in-hex-out-overwrite",
        ["--pad", "--overwrite-only"],
        {"pad": True, "overwrite_only": True},
        sign="sign-ed25519.pem",
    ),
]


@pytest.mark.parametrize("case", HEX_CASES, ids=[c.id for c in HEX_CASES])
def test_hex_matches_imgtool(case: Case, keys: KeySet, tmp_path: Path) -> None:
    from intelhex import IntelHex

    app, args = _prepare(case, keys, tmp_path, ext="hex")
    ih = IntelHex()
    ih.frombytes(app, offset=0x10000)
    ih.write_hex_file(str(tmp_path / "app.hex"))
    imgtool_sign(
        args,
        tmp_path / "app.hex",
        tmp_path / "ref.hex",
        aes_key=AES_KEY,
        p256=keys.eph_p256,
        x25519_key=keys.eph_x25519,
    )
    base, data = load_hex(tmp_path / "app.hex")
    assert (base, data) == (0x10000, app)
    signer, wrapper = _replays(case, keys, IntelHex(str(tmp_path / "ref.hex")).tobinstr())
    with rng.pinned(aes_key=_aes_key(case), p256=keys.eph_p256, x25519=keys.eph_x25519):
        ours = sign_image(data, _options(case), signer=signer, encrypt_to=wrapper)
    out_base = output_base_addr(base, pad_header=True, header_size=0x200, hex_addr=None)
    with open(tmp_path / "ours.hex", "w") as f:
        write_hex(ours, f, out_base)
    assert (tmp_path / "ours.hex").read_text() == (tmp_path / "ref.hex").read_text()


def test_bin_to_hex_with_hex_addr(keys: KeySet, tmp_path: Path) -> None:
    case = Case("bin-to-hex", ["--confirm"], {"confirm": True}, sign="sign-ed25519.pem")
    app, args = _prepare(case, keys, tmp_path)
    imgtool_sign(["-x", "0x8000", *args], tmp_path / "app.bin", tmp_path / "ref.hex")
    ours = sign_image(app, _options(case), signer=CryptographySigner(keys.private[case.sign]))
    base = output_base_addr(None, pad_header=True, header_size=0x200, hex_addr=0x8000)
    with open(tmp_path / "ours.hex", "w") as f:
        write_hex(ours, f, base)
    assert (tmp_path / "ours.hex").read_text() == (tmp_path / "ref.hex").read_text()


@pytest.mark.parametrize("kind", ["digest", "payload"])
@pytest.mark.parametrize("key", [None, "sign-p256.pem", "sign-ed25519.pem"])
def test_vector_to_sign_matches_imgtool(
    kind: str, key: str | None, keys: KeySet, tmp_path: Path
) -> None:
    app = _app("vector")
    (tmp_path / "app.bin").write_bytes(app)
    args = [*COMMON, "--vector-to-sign", kind, "-s", "3", "--boot-record", "APP"]
    if key:
        args += ["-k", str(keys.path(key))]
    reference = imgtool_sign(args, tmp_path / "app.bin", tmp_path / "vec.bin")
    opts = SignOptions(**COMMON_OPTS, security_counter=3, boot_record="APP")
    public = None
    if key:
        signer = CryptographySigner(keys.private[key])
        public = (signer.public_key_bytes(), signer.key_kind)
    ours = sign_image(app, opts, public_key=public)
    assert ours.vector_to_sign(kind) == reference  # type: ignore[arg-type]


def test_fix_sig_matches_imgtool(keys: KeySet, tmp_path: Path) -> None:
    app = _app("fixsig")
    (tmp_path / "app.bin").write_bytes(app)
    key = keys.private["sign-p256.pem"]
    opts = SignOptions(**COMMON_OPTS)
    digest = sign_image(app, opts).vector_to_sign("digest")
    signature = CryptographySigner(key).sign(digest)
    import base64

    (tmp_path / "sig.b64").write_text(base64.b64encode(signature).decode())
    run_imgtool(
        [
            "getpub",
            "-e",
            "pem",
            "-k",
            str(keys.path("sign-p256.pem")),
            "-o",
            str(tmp_path / "pub.pem"),
        ]
    )
    reference = imgtool_sign(
        [
            *COMMON,
            "--fix-sig",
            str(tmp_path / "sig.b64"),
            "--fix-sig-pubkey",
            str(tmp_path / "pub.pem"),
        ],
        tmp_path / "app.bin",
        tmp_path / "ref.bin",
    )
    pub = public_key_bytes(key.public_key())
    ours = sign_image(app, opts, external_signature=(signature, pub, KeyKind.ECDSA_P256))
    assert ours.to_bytes() == reference
    assert verify_image(reference, trusted_keys=[key.public_key()]).accepted


def test_our_own_signatures_verify_for_every_scheme(keys: KeySet) -> None:
    app = _app("own")
    for name in (
        "sign-p256.pem",
        "sign-p384.pem",
        "sign-rsa2048.pem",
        "sign-rsa3072.pem",
        "sign-ed25519.pem",
    ):
        key = keys.private[name]
        img = sign_image(app, SignOptions(**COMMON_OPTS), signer=CryptographySigner(key)).to_bytes()
        report = verify_image(img, trusted_keys=[ec.generate_private_key(ec.SECP256R1()), key])
        assert report.accepted, (name, report.checks)
        assert report.key_index == 1

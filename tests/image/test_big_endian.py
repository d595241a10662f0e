"""Images made with ``imgtool sign -e big``: parsed, explained, rejected as bootutil would.

bootutil (``image.h``: ``struct image_tlv { uint16_t it_type; uint16_t it_len; }``, read
natively by ``bootutil_tlv_iter_next()``) has no byte swapping.  imgtool 2.5.0 packs a known
TLV header as ``>BBH`` (type byte, zero, length), so a big-endian reader gets ``type << 8``
and no MCUboot build finds the hash TLV; a little-endian one already fails at the magic.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mcuseal.cli import main
from mcuseal.image import (
    DeviceKey,
    EncryptionState,
    ParsedImage,
    TlvType,
    decrypt_image,
    verify_image,
)
from mcuseal.image.structs import imgtool_tlv_type
from tests.image.conftest import KeySet
from tests.image.imgtool_oracle import imgtool_sign

ARGS = ["-H", "0x200", "--pad-header", "-S", "0x20000", "-v", "1.2.3+4", "-e", "big"]


def _big(keys: KeySet, tmp_path: Path, *extra: str) -> tuple[bytes, bytes]:
    app = random.Random(7).randbytes(3001)
    (tmp_path / "app.bin").write_bytes(app)
    args = [
        *ARGS,
        "-k",
        str(keys.path("sign-ed25519.pem")),
        "-E",
        str(keys.path("enc-x25519.pem")),
        "-s",
        "9",
        "--custom-tlv",
        "0xa0",
        "0x0102",
        *extra,
    ]
    image = imgtool_sign(
        args,
        tmp_path / "app.bin",
        tmp_path / "big.bin",
        p256=keys.eph_p256,
        x25519_key=keys.eph_x25519,
    )
    return app, image


def test_types_read_as_bootutil_reads_them_and_as_imgtool_meant_them(
    keys: KeySet, tmp_path: Path
) -> None:
    _, data = _big(keys, tmp_path, "--pad", "--max-align", "16")
    parsed = ParsedImage.loads(data)
    assert parsed.endian == "big"
    assert parsed.header.version.build == 4 and parsed.header.hdr_size == 0x200
    assert [t.type for t in parsed.protected_tlvs] == [0x5000, 0xA0]  # custom tags are u16
    assert parsed.hash_tlv is None  # what a big-endian bootutil would conclude
    view = parsed.with_imgtool_types()
    assert [t.type for t in view.unprotected_tlvs] == [
        TlvType.SHA256,
        TlvType.KEYHASH,
        TlvType.ED25519,
        TlvType.ENC_X25519,
    ]
    assert view.find(TlvType.SEC_CNT).value == (9).to_bytes(4, "big")  # type: ignore[union-attr]
    assert parsed.trailer is not None and parsed.trailer.max_align == 16
    assert imgtool_tlv_type(0x1000, "little") == 0x1000
    assert imgtool_tlv_type(0xA000, "big") == 0xA000  # a vendor tag, not a shifted type


def test_verify_says_no_bootloader_accepts_it_and_checks_the_rest(
    keys: KeySet, tmp_path: Path
) -> None:
    app, data = _big(keys, tmp_path)
    trusted = [keys.private["sign-ed25519.pem"].public_key()]
    report = verify_image(
        data, trusted_keys=trusted, device_key=DeviceKey(keys.private["enc-x25519.pem"])
    )
    assert not report.accepted
    assert [c.name for c in report.failed] == ["header", "tlv"]
    assert "-e big" in report.failed[0].detail and "0x1000" in report.failed[1].detail
    assert all(c.ok for c in report.checks[2:])  # unwrap, hash, key hash, signature
    assert report.encryption is EncryptionState.ENCRYPTED
    plain = decrypt_image(data, DeviceKey(keys.private["enc-x25519.pem"])).payload
    assert plain[: len(app)] == app


def test_cli_verify_exits_1_and_info_shows_both_readings(
    keys: KeySet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _big(keys, tmp_path)
    image = tmp_path / "big.bin"
    assert main(["verify", str(image), "-k", str(keys.path("sign-ed25519.pem"))]) == 1
    out = capsys.readouterr().out
    assert "imgtool -e big" in out and "REJECTED" in out
    assert main(["info", "--json", str(image)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["header"]["endian"] == "big"
    sha = info["tlvs"][2]
    assert (sha["name"], sha["type"], sha["read_as"]) == ("SHA256", 0x10, 0x1000)
    assert main(["info", str(image)]) == 0
    assert "no MCUboot build accepts this image" in capsys.readouterr().out

"""sign_image guard rails, trailer sizing, streaming from files."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from mcuseal.errors import ImageError, KeyError_, UsageError
from mcuseal.image import (
    CryptographySigner,
    ImageFlags,
    ImageVersion,
    ParsedImage,
    SignOptions,
    TlvType,
    bootutil_trailer_size,
    imgtool_trailer_size,
    key_wrapper_for,
    sign_image,
)
from mcuseal.image.crypto import KeyKind
from mcuseal.image.sign import select_hash
from tests.image.conftest import KeySet

OPTS = SignOptions(header_size=0x200, pad_header=True, slot_size=0x20000, version=ImageVersion(1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"header_size": 0x10}, "minimum is 32"),
        ({"align": 3}, "--align 3"),
        ({"max_align": 4}, "--max-align 4"),
        ({"erased_val": 1}, "erased-val"),
        ({"pad": True, "slot_size": 0}, "do not fit a 0-byte slot"),
        ({"security_counter": 1 << 32}, "32 bits"),
        ({"load_addr": 0x1000, "rom_fixed": 0x2000}, "cannot be used together"),
        ({"pure": True, "sha": 512}, "drop --sha"),
        ({"boot_record": "X" * 13}, "maximum is 12"),
        ({"custom_tlvs": ((0x10, b""),)}, "conflicts"),
        ({"custom_tlvs": ((0x90, b""),)}, "out of range"),
        ({"custom_tlvs": ((0x1000, b""), (0x1000, b""))}, "given twice"),
        ({"custom_tlvs": ((0xA0, b""),) * 1}, None),
        ({"dependencies": ((256, ImageVersion()),)}, "image id 256"),
        ({"cid": "main-app"}, "no --vid"),
        ({"vid": "bad\x00name"}, "neither a UUID"),
        ({"max_sectors": -1}, "max-sectors"),
        ({"encrypt_keylen": 192}, "encrypt-keylen"),
        ({"hmac_sha": 384}, "hmac-sha"),
        ({"sha": 1}, "--sha 1"),
        ({"endian": "middle"}, "endian"),
        ({"public_key_format": "pem"}, "public-key-format"),
        ({"slot_size": -1}, "negative"),
        ({"rom_fixed": 1 << 32}, "32 bits"),
    ],
)
def test_options_validation(kwargs: dict[str, object], match: str | None) -> None:
    if match is None:
        SignOptions(**kwargs)  # type: ignore[arg-type]
        return
    with pytest.raises(UsageError, match=match):
        SignOptions(**kwargs)  # type: ignore[arg-type]


def test_custom_tlv_conflicting_with_known_type() -> None:
    with pytest.raises(UsageError, match="conflicts with a predefined"):
        SignOptions(custom_tlvs=((0x40, b""),))  # type: ignore[arg-type]


def test_select_hash() -> None:
    assert select_hash(None, OPTS) == 256
    assert select_hash(KeyKind.ECDSA_P384, OPTS) == 384
    assert select_hash(KeyKind.ED25519, SignOptions(sha=512)) == 512
    assert select_hash(KeyKind.ECDSA_P256, SignOptions(sha=512), private=False) == 512
    with pytest.raises(UsageError, match="ecdsa-p256 keys cannot be used with --sha 512"):
        select_hash(KeyKind.ECDSA_P256, SignOptions(sha=512))
    with pytest.raises(UsageError, match="--pure needs an Ed25519"):
        select_hash(KeyKind.ECDSA_P256, SignOptions(pure=True))


def test_input_must_start_with_zeros() -> None:
    opts = SignOptions(header_size=0x200, version=ImageVersion(1))
    with pytest.raises(ImageError, match="does not start with 0x200 zero bytes"):
        sign_image(b"\1" + bytes(0x300), opts)
    with pytest.raises(ImageError, match="shorter than the 0x200-byte header"):
        sign_image(bytes(0x100), opts)
    img = ParsedImage.loads(sign_image(bytes(0x200) + b"app", opts).to_bytes())
    assert img.payload_size == 3


def test_combination_refusals(keys: KeySet) -> None:
    ed = CryptographySigner(keys.private["sign-ed25519.pem"])
    x = key_wrapper_for(keys.private["enc-x25519.pem"])
    with pytest.raises(UsageError, match="--pure cannot be combined with -E"):
        sign_image(b"app", SignOptions(pad_header=True, pure=True), signer=ed, encrypt_to=x)
    # imgtool ignores --clear without -E; so does mcuseal (the CLI warns).
    cleared = sign_image(b"app", SignOptions(pad_header=True, clear=True), signer=ed)
    plain = sign_image(b"app", SignOptions(pad_header=True), signer=ed)
    assert cleared.to_bytes() == plain.to_bytes()
    with pytest.raises(UsageError, match="not a multiple of 16"):
        sign_image(b"app", SignOptions(pad_header=True, header_size=0x28), encrypt_to=x)
    with pytest.raises(UsageError, match="not several"):
        sign_image(
            b"app",
            OPTS,
            signer=ed,
            external_signature=(bytes(64), ed.public_key_bytes(), KeyKind.ED25519),
        )
    with pytest.raises(KeyError_, match="bootutil requires them equal"):
        sign_image(
            b"app",
            SignOptions(pad_header=True, encrypt_keylen=256),
            encrypt_to=key_wrapper_for(keys.kek[128]),
        )


def test_aes_kw_image(keys: KeySet) -> None:
    img = sign_image(
        b"x" * 100,
        SignOptions(pad_header=True, encrypt_keylen=256),
        encrypt_to=key_wrapper_for(keys.kek[256]),
    )
    parsed = ParsedImage.loads(img.to_bytes())
    assert parsed.header.flags & ImageFlags.ENCRYPTED_AES256
    enc = parsed.enc_tlv
    assert enc is not None and enc.type == TlvType.ENC_KW and len(enc.value) == 40


def test_trailer_sizes_match_research_examples() -> None:
    # -M 32 --align 8 encrypted: imgtool 0x350; default -M with --align 4 encrypted: 0x650.
    common = {"max_align": 8, "overwrite_only": False}
    assert imgtool_trailer_size(align=8, max_sectors=32, encrypted=True, **common) == 0x350
    assert imgtool_trailer_size(align=4, max_sectors=None, encrypted=True, **common) == 0x650
    # bootutil counts AES-256 key slots as 32 bytes: 2 x 16 more than imgtool at max_align 8.
    b256 = bootutil_trailer_size(align=4, max_sectors=None, aes_key_bytes=32, **common)
    assert b256 == 0x650 + 32
    assert bootutil_trailer_size(align=4, max_sectors=None, aes_key_bytes=16, **common) == 0x650
    ow = {"align": 8, "max_align": 8, "max_sectors": None, "overwrite_only": True}
    assert imgtool_trailer_size(encrypted=True, **ow) == 32
    # bootutil_max_image_size() for overwrite-only is boot_swap_info_off(): one more max_align.
    assert bootutil_trailer_size(aes_key_bytes=32, **ow) == 40


def test_fits_in_slot_names_both_figures(keys: KeySet) -> None:
    x = key_wrapper_for(keys.private["enc-x25519.pem"])
    base = {"header_size": 0x200, "pad_header": True, "align": 4, "encrypt_keylen": 256}
    probe = sign_image(bytes(1000), SignOptions(**base), encrypt_to=x)  # type: ignore[arg-type]
    size = probe.image_size
    # Room for imgtool's trailer (0x650) but not bootutil's (0x670).
    opts = SignOptions(slot_size=size + 0x650 + 16, **base)  # type: ignore[arg-type]
    with pytest.raises(
        ImageError, match=r"bootutil's trailer \(0x670\).*imgtool's smaller estimate 0x650"
    ):
        sign_image(bytes(1000), opts, encrypt_to=x)
    opts = SignOptions(slot_size=size + 0x650 - 1, **base)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match=r"trailer \(0x650\) exceeds the slot size"):
        sign_image(bytes(1000), opts, encrypt_to=x)
    opts = SignOptions(slot_size=size + 0x670, **base)  # type: ignore[arg-type]
    sign_image(bytes(1000), opts, encrypt_to=x)


def test_file_source_equals_bytes_source(keys: KeySet, tmp_path: Path) -> None:
    app = bytes(range(256)) * 300
    path = tmp_path / "app.bin"
    path.write_bytes(b"prefix" + app)
    signer = CryptographySigner(keys.private["sign-ed25519.pem"])
    wrapper = key_wrapper_for(keys.private["enc-x25519.pem"])
    from mcuseal.image import rng

    pins = {"aes_key": bytes(16), "x25519": keys.eph_x25519}
    with rng.pinned(**pins):  # type: ignore[arg-type]
        mem = sign_image(app, OPTS, signer=signer, encrypt_to=wrapper).to_bytes()
    with path.open("rb") as f, rng.pinned(**pins):  # type: ignore[arg-type]
        f.seek(6)
        img = sign_image(f, OPTS, signer=signer, encrypt_to=wrapper)
        out = io.BytesIO()
        img.write_to(out)
        assert out.getvalue() == mem
        # The image can be emitted again: the source is re-read, not consumed.
        assert img.to_bytes() == mem


class _Sink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        return len(memoryview(b))  # type: ignore[arg-type]


def test_streaming_keeps_memory_flat(keys: KeySet, tmp_path: Path) -> None:
    size = 24 << 20
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(size)
    wrapper = key_wrapper_for(keys.private["enc-p256.pem"])
    signer = CryptographySigner(keys.private["sign-p256.pem"])
    opts = SignOptions(pad_header=True, slot_size=size + (1 << 20), version=ImageVersion(1))
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            sign_image(f, opts, signer=signer, encrypt_to=wrapper).write_to(_Sink())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A few 1 MiB chunks in flight at most, never the 24 MiB payload.
    assert peak < 8 << 20, peak


def test_padded_output(keys: KeySet) -> None:
    opts = SignOptions(pad_header=True, slot_size=0x4000, confirm=True, erased_val=0, max_align=32)
    out = sign_image(b"app", opts).to_bytes()
    assert len(out) == 0x4000
    parsed = ParsedImage.loads(out)
    assert parsed.trailer is not None
    assert parsed.trailer.max_align == 32 and parsed.trailer.confirmed
    assert parsed.trailer.erased_val == 0 and parsed.trailer.slot_size == 0x4000
    assert out[-64] == 1 and out[-16:-14] == b"\x20\x00"

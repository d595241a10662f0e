"""Header, version, flags and TLV structs; ParsedImage's structural rules."""

from __future__ import annotations

import pathlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuseal.errors import ImageError, ImageFormatError
from mcuseal.image import ImageFlags, ImageHeader, ImageVersion, ParsedImage, Tlv, TlvType
from mcuseal.image.structs import IMAGE_MAGIC, encode_tlv_area

versions = st.builds(
    ImageVersion,
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
)


@given(versions)
def test_version_text_round_trip(v: ImageVersion) -> None:
    assert ImageVersion.parse(str(v)) == v


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", ImageVersion(1, 0, 0, 0)),
        ("1.2", ImageVersion(1, 2, 0, 0)),
        ("1.2.3", ImageVersion(1, 2, 3, 0)),
        ("1.2.3+4", ImageVersion(1, 2, 3, 4)),
        ("255.255.65535+4294967295", ImageVersion(255, 255, 65535, 4294967295)),
    ],
)
def test_version_parse(text: str, expected: ImageVersion) -> None:
    assert ImageVersion.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "01.2", "1.2.3.4", "1.2+3", "a", "256.0.0", "0.0.65536", "1.-1", " 1.2", "1.2 "]
)
def test_version_parse_rejects(text: str) -> None:
    with pytest.raises(ImageError):
        ImageVersion.parse(text)


def test_version_strings() -> None:
    assert ImageVersion(1, 2, 3, 0).zephyr_str() == "1.2.3"
    assert ImageVersion(1, 2, 3, 4).zephyr_str() == "1.2.3.4"
    assert ImageVersion(2, 1, 7).security_counter() == (2 << 24) + (1 << 16) + 7


@given(
    st.integers(0, 0xFFFFFFFF),
    st.integers(32, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    versions,
    st.sampled_from(["little", "big"]),
)
def test_header_round_trip(
    load: int, hsz: int, psz: int, isz: int, flags: int, v: ImageVersion, endian: str
) -> None:
    h = ImageHeader(IMAGE_MAGIC, load, hsz, psz, isz, ImageFlags(flags), v)
    raw = h.dumps(endian)  # type: ignore[arg-type]
    assert len(raw) == 32
    assert ImageHeader.loads(raw, endian) == h  # type: ignore[arg-type]


def _image(payload: bytes, prot: list[Tlv], unprot: list[Tlv], hdr_size: int = 32) -> bytes:
    prot_area = encode_tlv_area(prot, protected=True)
    header = ImageHeader(
        IMAGE_MAGIC, 0, hdr_size, len(prot_area), len(payload), ImageFlags(0), ImageVersion(1)
    )
    return (
        header.dumps()
        + bytes(hdr_size - 32)
        + payload
        + prot_area
        + encode_tlv_area(unprot, protected=False)
    )


tlvs = st.lists(
    st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=40)), min_size=1, max_size=5
)


@given(
    st.binary(max_size=200),
    st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=4),
    tlvs,
    st.sampled_from([32, 64, 0x200]),
)
def test_parse_round_trip(
    payload: bytes, prot: list[Tlv], unprot: list[Tlv], hdr_size: int
) -> None:
    img = _image(payload, prot, unprot, hdr_size)
    parsed = ParsedImage.loads(img)
    assert parsed.protected_tlvs == tuple(prot)
    assert parsed.unprotected_tlvs == tuple(unprot)
    assert parsed.payload_offset == hdr_size
    assert parsed.payload_size == len(payload)
    assert parsed.tlv_end == len(img)
    assert parsed.trailer is None
    assert bytes(parsed.image_bytes()) == img


@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_own_error(data: bytes) -> None:
    try:
        ParsedImage.loads(data)
    except ImageFormatError:
        pass


@given(st.binary(min_size=1, max_size=300), st.integers(0, 10_000), st.integers(0, 255))
def test_mutated_images_parse_or_raise_own_error(payload: bytes, pos: int, value: int) -> None:
    img = bytearray(_image(payload, [Tlv(0x50, b"\1\0\0\0")], [Tlv(0x10, bytes(32))]))
    img[pos % len(img)] = value
    try:
        ParsedImage.loads(bytes(img))
    except ImageFormatError:
        pass


@given(st.binary(min_size=1, max_size=100), st.integers(0, 200))
def test_truncated_images_raise(payload: bytes, cut: int) -> None:
    img = _image(payload, [], [Tlv(0x10, bytes(32))])
    with pytest.raises(ImageFormatError):
        ParsedImage.loads(img[: max(0, len(img) - 1 - cut)])


def test_protected_size_must_match_header() -> None:
    img = bytearray(_image(b"abc", [Tlv(TlvType.SEC_CNT, bytes(4))], [Tlv(0x10, bytes(32))]))
    struct.pack_into("<H", img, 10, 8)
    with pytest.raises(ImageFormatError, match="protected TLV area is 12 bytes"):
        ParsedImage.loads(bytes(img))
    struct.pack_into("<H", img, 10, 0)
    with pytest.raises(ImageFormatError, match="header says 0"):
        ParsedImage.loads(bytes(img))


def test_protected_size_without_area() -> None:
    img = bytearray(_image(b"abc", [], [Tlv(0x10, bytes(32))]))
    struct.pack_into("<H", img, 10, 12)
    with pytest.raises(ImageFormatError, match="announces a 12-byte protected"):
        ParsedImage.loads(bytes(img))


def test_both_aes_flags_rejected() -> None:
    img = bytearray(_image(b"abc", [], [Tlv(0x10, bytes(32))]))
    struct.pack_into("<I", img, 16, 0xC)
    with pytest.raises(ImageFormatError, match="both ENCRYPTED"):
        ParsedImage.loads(bytes(img))


def test_bad_magic() -> None:
    with pytest.raises(ImageFormatError, match="bad image magic"):
        ParsedImage.loads(bytes(64))


def test_tlv_overrun_rejected() -> None:
    img = bytearray(_image(b"abc", [], [Tlv(0x10, bytes(32))]))
    struct.pack_into("<H", img, 32 + 3 + 4 + 2, 33)
    with pytest.raises(ImageFormatError, match="past the end of its area"):
        ParsedImage.loads(bytes(img))


def test_find_helpers() -> None:
    img = _image(
        b"x" * 16,
        [Tlv(TlvType.SEC_CNT, bytes(4))],
        [Tlv(TlvType.SHA256, bytes(32)), Tlv(TlvType.ENC_KW, bytes(24))],
    )
    parsed = ParsedImage.loads(img)
    assert parsed.find(TlvType.SEC_CNT) == Tlv(0x50, bytes(4))
    assert parsed.find(TlvType.KEYHASH) is None
    assert parsed.enc_tlv == Tlv(0x31, bytes(24))
    assert parsed.hash_tlv == Tlv(0x10, bytes(32))
    assert not parsed.is_encrypted_flag
    assert parsed.aes_key_bits is None
    assert Tlv(0x1234, b"").type_name == "0x1234"
    assert Tlv(0x10, b"").type_name == "SHA256"


def test_load_file_bin_hex_and_missing(tmp_path: pathlib.Path) -> None:
    from mcuseal.errors import InputError
    from mcuseal.image.hexfile import dump_hex

    img = _image(b"payload", [], [Tlv(0x10, bytes(32))])
    (tmp_path / "a.bin").write_bytes(img)
    (tmp_path / "a.hex").write_text(dump_hex(img, 0x8000))
    assert ParsedImage.load_file(tmp_path / "a.bin") == ParsedImage.load_file(tmp_path / "a.hex")
    with pytest.raises(InputError, match="cannot read image"):
        ParsedImage.load_file(tmp_path / "missing.bin")
    with pytest.raises(InputError):
        ParsedImage.load_file(tmp_path / "missing.hex")

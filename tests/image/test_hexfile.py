"""The streaming Intel HEX writer against intelhex's own writer (the oracle imgtool uses)."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from intelhex import IntelHex

from mcuseal.image import ImageVersion, SignOptions, sign_image
from mcuseal.image.hexfile import dump_hex, load_hex


def _oracle(pieces: list[tuple[int, bytes]]) -> str:
    ih = IntelHex()
    for addr, data in pieces:
        ih.puts(addr, data)
    out = io.StringIO()
    ih.write_hex_file(out)
    return out.getvalue()


@given(
    st.binary(max_size=2000),
    st.one_of(st.integers(0, 0x1_0000), st.integers(0xFFF0, 0x2_0010), st.integers(0, 0xFFFF_F000)),
)
def test_dump_hex_matches_intelhex(data: bytes, base: int) -> None:
    assert dump_hex(data, base) == _oracle([(base, data)])


@given(
    st.binary(max_size=300),
    st.sampled_from([0, 0x8000, 0xFF00, 0x0FFF_FE00]),
    st.sampled_from([0x400, 0x1000, 0x10200]),
    st.sampled_from(
        [{"pad": True}, {"confirm": True}, {"test": True}, {"pad": True, "overwrite_only": True}]
    ),
    st.sampled_from([None, 16, 32]),
)
def test_padded_image_rows_match_intelhex(
    app: bytes, base: int, slot: int, flags: dict[str, bool], max_align: int | None
) -> None:
    opts = SignOptions(
        header_size=0x20,
        pad_header=True,
        slot_size=slot,
        version=ImageVersion(1),
        max_sectors=4,
        max_align=max_align,
        **flags,  # type: ignore[arg-type]
    )
    img = sign_image(app, opts)
    pieces = [(base, img.image_bytes())] + [(base + o, r) for o, r in img.trailer_rows()]
    text = dump_hex(img, base)
    assert text == _oracle(pieces)
    loaded_base, loaded = load_hex(text.encode())
    assert loaded_base == base and loaded[: img.image_size] == img.image_bytes()


def test_contiguous_pieces_merge_and_empty_input() -> None:
    from mcuseal.image.hexfile import iter_hex_lines

    # Bytes crossing a 64 KiB boundary, then a far row: same records as intelhex.
    data = b"\1" * 5 + b"\2" * 30
    assert dump_hex(data, 0xFFF8) == _oracle([(0xFFF8, data)])
    assert "".join(iter_hex_lines(b"", 0)) == ":00000001FF\n" == _oracle([])

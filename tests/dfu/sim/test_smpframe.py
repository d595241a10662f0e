"""SMP framing: header round trips, body decoding, reassembly by header length."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from smp import header as smp_header

from mcuseal.dfu.smpframe import (
    HEADER_SIZE,
    FrameAssembler,
    SmpHeader,
    decode_body,
    decode_frame,
    encode_frame,
)
from mcuseal.errors import DfuTransportError

headers = st.builds(
    SmpHeader,
    op=st.integers(0, 7),
    version=st.integers(0, 3),
    flags=st.integers(0, 255),
    length=st.integers(0, 0xFFFF),
    group=st.integers(0, 0xFFFF),
    sequence=st.integers(0, 255),
    command=st.integers(0, 255),
    reserved=st.integers(0, 7),
)

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
bodies = st.dictionaries(st.text(max_size=8), cbor_values, max_size=5)


@given(headers)
def test_header_round_trips(header: SmpHeader) -> None:
    raw = header.dumps()
    assert len(raw) == HEADER_SIZE
    assert SmpHeader.loads(raw) == header


_known = st.one_of(
    st.tuples(st.just(0), st.integers(0, 8)),  # OS group commands smp knows
    st.tuples(st.just(1), st.integers(0, 5)),  # image group commands smp knows
)


@given(st.integers(0, 3), st.integers(0, 1), st.integers(0, 0xFFFF), st.integers(0, 255), _known)
def test_header_agrees_with_the_smp_package(
    op: int, version: int, length: int, sequence: int, group_command: tuple[int, int]
) -> None:
    # The smp package (smpclient's own codec) is the oracle for the fields it models.
    group, command = group_command
    ours = SmpHeader(op, version, 0, length, group, sequence, command)
    theirs = smp_header.Header.loads(ours.dumps())
    assert (theirs.op, theirs.version, theirs.length) == (op, version, length)
    assert (theirs.group_id, theirs.sequence, theirs.command_id) == (group, sequence, command)
    assert SmpHeader.loads(bytes(theirs)) == ours


@given(st.binary(max_size=16))
def test_header_loads_any_bytes_or_raises_our_error(data: bytes) -> None:
    try:
        header = SmpHeader.loads(data)
    except DfuTransportError:
        assert len(data) < HEADER_SIZE
    else:
        assert header.dumps() == data[:HEADER_SIZE]


def test_header_rejects_out_of_range_fields() -> None:
    with pytest.raises(DfuTransportError, match="sequence"):
        SmpHeader(op=0, version=1, flags=0, length=0, group=0, sequence=256, command=0)


@given(st.binary(max_size=64))
def test_decode_body_any_bytes_or_raises_our_error(data: bytes) -> None:
    try:
        body = decode_body(data)
    except DfuTransportError:
        return
    assert isinstance(body, dict)
    assert all(isinstance(key, str) for key in body)


@given(bodies)
def test_decode_body_round_trips_maps(body: dict[str, object]) -> None:
    assert decode_body(cbor2.dumps(body)) == body


@pytest.mark.parametrize("value", [[1, 2], 5, "text", b"\x00"])
def test_decode_body_rejects_non_maps(value: object) -> None:
    with pytest.raises(DfuTransportError, match="not a map"):
        decode_body(cbor2.dumps(value))


def test_decode_body_rejects_non_text_keys() -> None:
    with pytest.raises(DfuTransportError, match="non-text keys"):
        decode_body(cbor2.dumps({1: 2}))


@given(headers, bodies)
def test_frame_round_trips(header: SmpHeader, body: dict[str, object]) -> None:
    frame = encode_frame(header, body)
    parsed, decoded = decode_frame(frame)
    assert decoded == body
    assert parsed.length == len(frame) - HEADER_SIZE
    assert (parsed.op, parsed.group, parsed.sequence) == (header.op, header.group, header.sequence)


@given(st.binary(max_size=80))
def test_decode_frame_any_bytes_or_raises_our_error(data: bytes) -> None:
    try:
        header, body = decode_frame(data)
    except DfuTransportError:
        return
    assert header.frame_size == len(data)
    assert isinstance(body, dict)


def _frames() -> st.SearchStrategy[list[bytes]]:
    one = st.builds(
        lambda seq, body: encode_frame(
            SmpHeader(op=3, version=1, flags=0, length=0, group=1, sequence=seq, command=1), body
        ),
        st.integers(0, 255),
        bodies,
    )
    return st.lists(one, min_size=1, max_size=5)


@given(_frames(), st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_assembler_splits_any_chunking_back_into_frames(
    frames: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(frames)
    assembler = FrameAssembler()
    out: list[bytes] = []
    pos = 0
    index = 0
    while pos < len(stream):
        size = cuts[index % len(cuts)]
        out.extend(assembler.feed(stream[pos : pos + size]))
        pos += size
        index += 1
    assert out == frames
    assert assembler.pending == 0


@given(st.lists(st.binary(max_size=40), max_size=10), st.integers(8, 300))
def test_assembler_any_chunks_yield_frames_or_raise_our_error(
    chunks: list[bytes], limit: int
) -> None:
    assembler = FrameAssembler(max_frame_size=limit)
    for chunk in chunks:
        try:
            for frame in assembler.feed(chunk):
                assert SmpHeader.loads(frame).frame_size == len(frame) <= limit
        except DfuTransportError:
            assert assembler.pending == 0


def test_assembler_refuses_oversized_frames_and_recovers() -> None:
    big = SmpHeader(op=3, version=1, flags=0, length=500, group=0, sequence=0, command=0)
    assembler = FrameAssembler(max_frame_size=100)
    with pytest.raises(DfuTransportError, match="larger than the 100 B limit"):
        list(assembler.feed(big.dumps()))
    small = encode_frame(big, {"r": "ok"})
    assert list(assembler.feed(small)) == [small]

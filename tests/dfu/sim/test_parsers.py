"""Property tests for the device-side parsers: img_mgmt's slot reader and Zephyr's
BLE reassembly context."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mcuseal.dfu.sim import SimConfig, VirtualDevice, read_info
from mcuseal.dfu.sim._ble import _Reassembly
from mcuseal.dfu.smpframe import SmpHeader, encode_frame

MakeImage = Callable[..., Path]


@given(st.binary(max_size=300))
def test_read_info_any_bytes(data: bytes) -> None:
    info = read_info(data)
    if info is not None:
        assert len(info.hash) == 32
        assert info.version_str.count(".") in (2, 3)


@settings(deadline=None, max_examples=50)
@given(st.integers(0, 5999), st.integers(0, 255))
def test_read_info_on_corrupted_real_image(make_image: MakeImage, index: int, value: int) -> None:
    image = bytearray(make_image("4.5.6+7", 3000).read_bytes())
    assert read_info(bytes(image)) is not None
    assert read_info(bytes(image)).version_str == "4.5.6.7"  # type: ignore[union-attr]
    if index < len(image):
        image[index] = value
    info = read_info(bytes(image))
    assert info is None or len(info.hash) == 32


def test_read_info_of_truncated_image_reads_erased_flash(make_image: MakeImage) -> None:
    image = make_image("1.0.0", 3000).read_bytes()
    tlv_area = 0x200 + 3000  # --header-size 0x200, 3000 B payload
    full = read_info(image)
    cut = read_info(image[: tlv_area + 4 + 4 + 10])  # the hash TLV is cut after 10 bytes
    # img_mgmt does not validate: it reports what flash holds, erased bytes included.
    assert full is not None and cut is not None
    assert cut.hash == full.hash[:10] + b"\xff" * 22
    assert read_info(b"\xff" * 64) is None


def _frame(size: int, seq: int = 0) -> bytes:
    frame = encode_frame(SmpHeader(2, 1, 0, 0, 0, seq, 0), {"d": "x" * size})
    return frame


@given(st.integers(0, 3000), st.integers(20, 495))
def test_reassembly_joins_fragments_within_buf_size(size: int, mtu_payload: int) -> None:
    device = VirtualDevice(SimConfig(buf_size=2475, buf_count=2))
    reassembly = _Reassembly(device)
    frame = _frame(size)
    out = [
        reassembly.collect(frame[i : i + mtu_payload]) for i in range(0, len(frame), mtu_payload)
    ]
    done = [f for f in out if f is not None]
    if len(frame) <= 2475:
        assert done == [frame]
    else:
        assert done == []
        assert any(e.detail.get("why") == "frame larger than net_buf" for e in device.events)


@given(st.lists(st.binary(max_size=60), max_size=20), st.integers(8, 400))
def test_reassembly_any_fragments_never_raise(fragments: list[bytes], buf_size: int) -> None:
    device = VirtualDevice(SimConfig(buf_size=max(buf_size, 32), buf_count=1))
    reassembly = _Reassembly(device)
    for fragment in fragments:
        if not fragment:
            continue
        frame = reassembly.collect(fragment)
        if frame is not None:
            assert SmpHeader.loads(frame).frame_size == len(frame) <= device.config.buf_size
            device.release_buffer()  # as the work queue would once processed
    reassembly.drop()
    assert device._buffers_in_use == 0


@given(st.text(min_size=1, max_size=60))
def test_advertising_payloads_fit_legacy_advertising(name: str) -> None:
    from bumble.core import AdvertisingData

    from mcuseal.dfu.sim._ble import advertising_payloads

    data, scan = advertising_payloads(name)
    assert len(data) <= 31 and len(scan) <= 31
    parsed = AdvertisingData.from_bytes(data)
    shown = parsed.get(AdvertisingData.COMPLETE_LOCAL_NAME) or parsed.get(
        AdvertisingData.SHORTENED_LOCAL_NAME
    )
    assert shown is not None

"""Protocol-level behaviour of the pipelined upload engine, against a scripted fake."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smp import image_management as smp_img

from mcuseal.dfu.events import Event
from mcuseal.dfu.link import DeviceLink
from mcuseal.dfu.upload import UploadOptions, max_chunk_size, upload
from mcuseal.errors import EXIT_DEVICE, EXIT_REJECTED, DfuDeviceError, DfuTransportError
from tests.dfu.fakes import FakeDevice, FakeTransport

FAST = UploadOptions(timeout_s=0.2, first_timeout_s=0.5)


def _data(size: int) -> bytes:
    return hashlib.shake_256(b"payload").digest(size)


async def _link(device: FakeDevice, *, mtu: int = 247, frame_cap: int | None = None) -> DeviceLink:
    transports: list[FakeTransport] = []

    async def connect() -> FakeTransport:
        transports.append(FakeTransport(device, mtu=mtu))
        return transports[-1]

    link = DeviceLink(connect, timeout_s=0.3, frame_cap=frame_cap)
    link.transports = transports  # type: ignore[attr-defined]
    await link.open()
    return link


async def test_pipelined_upload_fills_the_window_and_respects_buf_size() -> None:
    device = FakeDevice(buf_size=2475, buf_count=6, latency_s=0.005)
    link = await _link(device)
    data = _data(100_000)
    events: list[Event] = []
    result = await upload(link, data, options=FAST, on_event=events.append)
    await link.close()
    assert bytes(device.slot) == data
    assert result.window == 5
    assert link.transports[0].max_in_flight == 5  # type: ignore[attr-defined]
    assert max(device.frame_sizes) <= 2475
    # every full frame is filled to the last byte
    assert device.frame_sizes.count(2475) >= len(data) // 2475 - 2
    assert result.match is True
    assert events[0].kind == "upload-start" and events[-1].kind == "upload-done"
    offsets = [e.data["offset"] for e in events if e.kind == "progress"]
    assert offsets == sorted(offsets) and offsets[-1] == len(data)


async def test_window_is_capped_by_the_user() -> None:
    device = FakeDevice(buf_count=6, latency_s=0.005)
    link = await _link(device)
    result = await upload(link, _data(30_000), options=UploadOptions(window=2, timeout_s=0.2))
    assert result.window == 2
    assert link.transports[0].max_in_flight == 2  # type: ignore[attr-defined]


async def test_stop_and_wait_without_mcumgr_parameters() -> None:
    device = FakeDevice(params=False, latency_s=0.002)
    link = await _link(device, mtu=247)
    assert link.params is None
    data = _data(5000)
    result = await upload(link, data, options=FAST)
    assert result.window == 1
    assert link.transports[0].max_in_flight == 1  # type: ignore[attr-defined]
    assert max(device.frame_sizes) <= 247
    assert bytes(device.slot) == data


async def test_frame_cap_limits_frames_below_buf_size() -> None:
    device = FakeDevice(buf_size=2475)
    link = await _link(device, frame_cap=1500 - 28)
    await upload(link, _data(20_000), options=FAST)
    assert max(device.frame_sizes) == 1472


async def test_lost_requests_resync_to_the_device_offset() -> None:
    device = FakeDevice(latency_s=0.002, drop=lambda h, b, i: "request" if i % 7 == 3 else None)
    link = await _link(device)
    data = _data(80_000)
    result = await upload(link, data, options=FAST)
    assert bytes(device.slot) == data
    assert result.resyncs > 0


async def test_lost_responses_mid_window_need_no_resend() -> None:
    device = FakeDevice(latency_s=0.002, drop=lambda h, b, i: "response" if i in (4, 9) else None)
    link = await _link(device)
    data = _data(40_000)
    result = await upload(link, data, options=FAST)
    assert bytes(device.slot) == data
    # later answers carry the device's offset: nothing was resent
    assert result.sent_bytes == len(data) and result.retries == 0


async def test_lost_last_response_is_retried() -> None:
    data = _data(40_000)
    lost: list[int] = []

    def drop(h: object, b: dict[str, Any], i: int) -> str | None:
        if b["off"] + len(b["data"]) == len(data) and not lost:
            lost.append(i)
            return "response"
        return None

    device = FakeDevice(drop=drop)
    link = await _link(device)
    result = await upload(link, data, options=FAST)
    assert bytes(device.slot) == data
    assert result.retries == 1 and lost


async def test_bad_sequence_answers_are_ignored() -> None:
    device = FakeDevice(drop=lambda h, b, i: "badseq" if i == 2 else None)
    link = await _link(device)
    data = _data(20_000)
    await upload(link, data, options=FAST)
    assert bytes(device.slot) == data
    assert link.session.unmatched >= 1


async def test_retry_cap_per_offset_then_resume_cap() -> None:
    # The device never gets any frame beyond the first chunk.
    device = FakeDevice(drop=lambda h, b, i: "request" if b["off"] > 0 else None)
    link = await _link(device)
    options = UploadOptions(timeout_s=0.05, retries=2, resumes=1)
    with pytest.raises(DfuTransportError, match=r"after 1 resume.*failed 3 times") as info:
        await upload(link, _data(20_000), options=options)
    assert info.value.exit_code == EXIT_DEVICE
    assert link.connects == 2


async def test_a_vanished_device_fails_at_the_first_failed_reconnect() -> None:
    # Each reconnect already tries several times: more resumes would repeat the wait
    # (minutes over UDP, where every try waits out the parameter read).
    device = FakeDevice(drop=lambda h, b, i: "request" if i >= 3 else None)
    transports: list[FakeTransport] = []

    async def connect() -> FakeTransport:
        if transports:
            raise DfuTransportError("device not found")
        transports.append(FakeTransport(device, mtu=247))
        return transports[-1]

    link = DeviceLink(connect, timeout_s=0.3)
    await link.open()
    events: list[Event] = []
    options = UploadOptions(timeout_s=0.05, retries=1, resumes=3)
    with pytest.raises(DfuTransportError, match="run the same command again to resume"):
        await upload(link, _data(20_000), options=options, on_event=events.append)
    assert [e.kind for e in events].count("resume") == 1


async def test_resume_by_sha_continues_at_the_device_offset() -> None:
    stop = {"at": 6}
    device = FakeDevice(drop=lambda h, b, i: "request" if i >= stop["at"] else None)
    link = await _link(device)
    data = _data(60_000)
    with pytest.raises(DfuTransportError):
        await upload(link, data, options=UploadOptions(timeout_s=0.05, retries=0, resumes=0))
    reached = device.expected
    assert 0 < reached < len(data)
    stop["at"] = 10**9
    await link.reconnect()
    result = await upload(link, data, options=FAST)
    assert result.started_at == reached
    assert bytes(device.slot) == data


@pytest.mark.parametrize(
    ("v1", "pattern"),
    [
        (False, r"IMAGE_MANAGEMENT error IMAGE_ALREADY_PENDING \(28\)"),
        (True, r"EINVAL \(3\) \(bad things\)"),
    ],
)
async def test_device_errors_are_named(v1: bool, pattern: str) -> None:
    device = FakeDevice(upload_error=28, v1_errors=v1)
    link = await _link(device)
    with pytest.raises(DfuDeviceError, match=pattern) as info:
        await upload(link, _data(1000), options=FAST)
    assert info.value.exit_code == EXIT_REJECTED


async def test_tiny_frames_are_refused_up_front() -> None:
    device = FakeDevice(params=False)
    link = await _link(device, mtu=40)
    with pytest.raises(DfuTransportError, match="cannot carry"):
        await upload(link, _data(1000), options=FAST)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=80, max_value=65_000),
    off=st.integers(min_value=0, max_value=2**32 - 1),
    first=st.booleans(),
    image=st.integers(min_value=0, max_value=300),
)
def test_max_chunk_size_is_exact(limit: int, off: int, first: bool, image: int) -> None:
    fields: dict[str, Any] = {"off": off}
    if first:
        fields.update(image=image, len=off + 100_000, sha=bytes(32))
    n = max_chunk_size(limit, fields)

    def size(k: int) -> int:
        msg = smp_img.ImageUploadWriteRequest(sequence=1, data=bytes(k), **fields)
        return len(msg.BYTES)

    if n == 0:  # nothing fits: not even one byte of data
        assert size(1) > limit
    else:
        assert size(n) <= limit
        assert size(n + 1) > limit


def test_max_chunk_size_respects_the_16_bit_length_field() -> None:
    n = max_chunk_size(1_000_000, {"off": 0})
    assert len(smp_img.ImageUploadWriteRequest(sequence=1, off=0, data=bytes(n)).BYTES) <= 65543

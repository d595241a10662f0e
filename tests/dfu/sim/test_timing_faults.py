"""The device's timing and fault model: latency overlaps, service time serialises,
net_bufs run out, seeded loss, reset and disconnect at an upload offset."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from mcuseal.dfu.sim import Link, SimConfig, VirtualDevice
from mcuseal.dfu.smpframe import SmpHeader, decode_frame, encode_frame

MakeImage = Callable[..., Path]


def echo(seq: int) -> bytes:
    return encode_frame(SmpHeader(2, 1, 0, 0, 0, seq, 0), {"d": str(seq)})


class Recorder:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.arrivals: list[tuple[int, float]] = []
        self.disconnects = 0
        self.link = Link(self.reply, self.disconnect)

    def reply(self, frame: bytes) -> None:
        header, _ = decode_frame(frame)
        self.arrivals.append((header.sequence, time.monotonic() - self.t0))

    def disconnect(self) -> None:
        self.disconnects += 1


async def test_latency_overlaps_but_service_time_serialises() -> None:
    async with VirtualDevice(SimConfig(latency_s=0.2)) as device:
        rec = Recorder()
        for seq in range(3):
            device.submit(echo(seq), rec.link)
        await asyncio.sleep(0.35)
        assert [s for s, _ in rec.arrivals] == [0, 1, 2]
        assert max(t for _, t in rec.arrivals) < 0.3  # not 3 x 0.2
    async with VirtualDevice(SimConfig(service_time_s=0.1)) as device:
        rec = Recorder()
        for seq in range(3):
            device.submit(echo(seq), rec.link)
        await asyncio.sleep(0.45)
        times = [t for _, t in rec.arrivals]
        assert len(times) == 3 and times[2] >= 0.29  # one at a time


async def test_frames_beyond_buf_count_are_dropped_silently() -> None:
    async with VirtualDevice(SimConfig(buf_count=2, service_time_s=0.05)) as device:
        rec = Recorder()
        for seq in range(4):
            device.submit(echo(seq), rec.link)
        await asyncio.sleep(0.2)
        assert [s for s, _ in rec.arrivals] == [0, 1]
        assert [e.detail["why"] for e in device.events if e.kind == "drop"] == [
            "no free net_buf",
            "no free net_buf",
        ]
        # A delayed response does not hold a buffer: with latency, two more get in.
    async with VirtualDevice(SimConfig(buf_count=2, latency_s=0.2)) as device:
        rec = Recorder()
        device.submit(echo(0), rec.link)
        device.submit(echo(1), rec.link)
        await asyncio.sleep(0.05)
        device.submit(echo(2), rec.link)
        device.submit(echo(3), rec.link)
        await asyncio.sleep(0.4)
        assert sorted(s for s, _ in rec.arrivals) == [0, 1, 2, 3]


async def test_loss_is_reproducible_with_a_seed() -> None:
    async def lost(seed: int) -> list[int]:
        async with VirtualDevice(SimConfig(loss_rate=0.3, seed=seed)) as device:
            rec = Recorder()
            for seq in range(40):
                device.submit(echo(seq), rec.link)
                await asyncio.sleep(0)
            await asyncio.sleep(0.05)
            got = {s for s, _ in rec.arrivals}
            return [s for s in range(40) if s not in got]

    first = await lost(7)
    assert first and first == await lost(7)
    assert first != await lost(8)


def _chunks(image: bytes, size: int) -> list[bytes]:
    frames = []
    for off in range(0, len(image), size):
        body: dict[str, object] = {"off": off, "data": image[off : off + size]}
        if off == 0:
            body |= {"len": len(image), "sha": hashlib.sha256(image).digest()}
        frames.append(encode_frame(SmpHeader(2, 1, 0, 0, 1, off % 256, 1), body))
    return frames


async def test_reset_and_disconnect_at_upload_offsets(make_image: MakeImage) -> None:
    image = make_image("1.0.0", 8000).read_bytes()
    frames = _chunks(image, 1000)
    async with VirtualDevice(SimConfig(disconnect_at=(3000,), reset_at=(6000,))) as device:
        rec = Recorder()
        for frame in frames:
            device.submit(frame, rec.link)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        faults = [e.detail["kind"] for e in device.events if e.kind == "fault"]
        assert faults == ["disconnect", "reset"]
        assert rec.disconnects == 1
        assert device.boot_count == 1
        # The reset lost the upload session (RAM): a continuation hears offset 0.
        replies: list[dict[str, object]] = []
        device.submit(frames[-1], Link(lambda frame: replies.append(decode_frame(frame)[1])))
        await asyncio.sleep(0.05)
        assert replies == [{"off": 0}]

"""The DFU flow end to end against the virtual device over UDP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mcuseal.dfu.events import Event
from mcuseal.dfu.flow import FlowOptions, Mode, run_dfu
from mcuseal.dfu.link import DeviceLink
from mcuseal.dfu.package import DfuImage, load_image
from mcuseal.dfu.sim import SimConfig, SimEvent, VirtualDevice
from mcuseal.dfu.transport.udp import frame_cap, udp_connector
from mcuseal.dfu.upload import UploadOptions
from mcuseal.errors import EXIT_REJECTED, DfuRejected
from tests.dfu.conftest import HashCheck
from tests.dfu.fakes import fake_image

FAST_UPLOAD = UploadOptions(timeout_s=0.3, first_timeout_s=2.0)


def _options(mode: Mode = Mode.TEST_AND_CONFIRM) -> FlowOptions:
    return FlowOptions(mode=mode, upload=FAST_UPLOAD, swap_wait_s=0.4, reconnect_timeout_s=5.0)


def _image(size: int, version: tuple[int, int, int, int], index: int = 0) -> DfuImage:
    return load_image(fake_image(size, version=version), name=f"v{version}", image=index)


@asynccontextmanager
async def _device(
    config: SimConfig | None = None, **kwargs: Any
) -> AsyncIterator[tuple[VirtualDevice, DeviceLink]]:
    kwargs.setdefault("boot_check", HashCheck())
    async with VirtualDevice(config or SimConfig(), **kwargs) as device:
        host, port = await device.serve_udp("127.0.0.1", 0)
        link = DeviceLink(udp_connector(host, port), timeout_s=0.5, frame_cap=frame_cap(1500))
        async with link:
            yield device, link


async def test_test_and_confirm_runs_and_confirms_the_new_image() -> None:
    old, new = _image(3000, (1, 0, 0, 0)), _image(40_000, (1, 1, 0, 7))
    events: list[Event] = []
    async with _device(primary=[old.data]) as (device, link):
        report = await run_dfu(link, [new], _options(), on_event=events.append)
        running = device.running(0)
    assert running is not None and running.hash == new.hash
    kinds = [e.kind for e in events if e.kind != "progress"]
    assert kinds[:2] == ["state", "upload-start"]
    assert kinds[-6:] == ["mark", "reset", "reconnect", "confirm", "state", "done"]
    slot0 = next(s for s in report.final_state if s.slot == 0)
    assert slot0.version == "1.1.0.7" and slot0.confirmed and slot0.active


async def test_an_image_the_device_runs_is_skipped() -> None:
    img = _image(3000, (2, 0, 0, 0))
    async with _device(primary=[img.data]) as (device, link):
        report = await run_dfu(link, [img], _options())
        assert device.boot_count <= 1
    assert report.skipped == {0: "already running"}
    assert not report.uploaded and not report.reset


async def test_upload_only_marks_nothing() -> None:
    old, new = _image(3000, (1, 0, 0, 0)), _image(9000, (1, 0, 1, 0))
    async with _device(primary=[old.data]) as (device, link):
        report = await run_dfu(link, [new], _options(Mode.UPLOAD_ONLY))
        secondary = device.secondary(0)
        running = device.running(0)
    assert secondary is not None and secondary.hash == new.hash
    assert running is not None and running.hash == old.hash
    assert not report.marked and not report.reset
    assert not any(s.pending for s in report.final_state)


@pytest.mark.parametrize(
    ("mode", "confirmed"), [(Mode.TEST_ONLY, False), (Mode.CONFIRM_ONLY, True)]
)
async def test_test_only_and_confirm_only(mode: Mode, confirmed: bool) -> None:
    old, new = _image(3000, (1, 0, 0, 0)), _image(9000, (1, 0, 2, 0))
    async with _device(primary=[old.data]) as (_, link):
        report = await run_dfu(link, [new], _options(mode))
    slot0 = next(s for s in report.final_state if s.slot == 0)
    assert slot0.hash == new.hash and slot0.confirmed is confirmed


async def test_a_rejected_image_fails_with_exit_1() -> None:
    old, new = _image(3000, (1, 0, 0, 0)), _image(9000, (1, 0, 3, 0))
    async with _device(primary=[old.data], boot_check=None) as (device, link):
        with pytest.raises(DfuRejected, match="does not run image 0") as info:
            await run_dfu(link, [new], _options())
        running = device.running(0)
    assert info.value.exit_code == EXIT_REJECTED
    assert running is not None and running.hash == old.hash


async def test_a_hash_that_does_not_match_the_file_is_never_marked() -> None:
    old, new = _image(3000, (1, 0, 0, 0)), _image(9000, (1, 0, 4, 0))
    # What the device will list (the TLV inside the data) differs from what the "file"
    # claims: the flow must refuse to mark either.
    liar = dataclasses.replace(new, hash=bytes(32))
    marks: list[SimEvent] = []
    async with _device(primary=[old.data], on_event=marks.append) as (device, link):
        with pytest.raises(DfuRejected, match="not marking it"):
            await run_dfu(link, [liar], _options())
        assert device.secondary(0) is not None
    assert not [e for e in marks if e.kind == "pending"]


async def test_two_images_in_one_dfu() -> None:
    app = _image(30_000, (2, 0, 0, 0), 0)
    net = _image(12_000, (2, 0, 0, 1), 1)
    async with _device(SimConfig(images=2)) as (device, link):
        report = await run_dfu(link, [app, net], _options())
        running = [device.running(0), device.running(1)]
    assert sorted(report.uploaded) == [0, 1]
    assert [r.hash if r else None for r in running] == [app.hash, net.hash]


@pytest.mark.parametrize(
    "faults",
    [
        {"disconnect_at": (20_000, 50_000)},
        {"reset_at": (30_000,)},
        {"loss_rate": 0.05, "seed": 7},
    ],
    ids=["disconnects", "reset-mid-upload", "loss"],
)
async def test_upload_survives_link_faults(faults: dict[str, Any]) -> None:
    new = _image(80_000, (3, 0, 0, 0))
    async with _device(SimConfig(**faults)) as (device, link):
        await run_dfu(link, [new], _options())
        running = device.running(0)
        faults_seen = {e.kind for e in device.events} & {"disconnect", "reset", "drop"}
    assert running is not None and running.hash == new.hash
    assert faults_seen


async def test_a_second_image_for_a_single_image_device_is_refused_up_front() -> None:
    old = _image(3000, (1, 0, 0, 0))
    app, net = _image(9000, (2, 0, 0, 0), 0), _image(5000, (2, 0, 0, 1), 1)
    async with _device(primary=[old.data]) as (device, link):
        with pytest.raises(DfuRejected, match="single image"):
            await run_dfu(link, [app, net], _options())
        assert device.secondary(0) is None


@pytest.mark.parametrize(
    ("mode", "trailer_confirmed"),
    [(Mode.TEST_AND_CONFIRM, True), (Mode.CONFIRM_ONLY, False)],
)
async def test_a_slot_padded_image_is_pending_by_its_trailer_and_not_marked_again(
    mode: Mode, trailer_confirmed: bool
) -> None:
    # imgtool --pad [--confirm]: the device lists the image pending as soon as it is
    # stored and answers IMAGE_ALREADY_PENDING to a state-write that disagrees.
    from mcuseal.image.trailer import trailer_bytes

    slot_size = 0x10000
    old, new = _image(3000, (1, 0, 0, 0)), fake_image(20_000, version=(1, 3, 0, 0))
    length, tail = trailer_bytes(
        max_align=8, erased_val=0xFF, confirm=trailer_confirmed, overwrite_only=False
    )
    padded = load_image(new + b"\xff" * (slot_size - len(new) - length) + tail, name="padded")
    events: list[Event] = []
    async with _device(SimConfig(slot_size=slot_size), primary=[old.data]) as (device, link):
        report = await run_dfu(link, [padded], _options(mode), on_event=events.append)
        running = device.running(0)
    assert running is not None and running.hash == padded.hash
    slot0 = next(s for s in report.final_state if s.slot == 0)
    assert slot0.confirmed and slot0.active
    marks = [e.data for e in events if e.kind == "mark"]
    assert marks == [
        {"image": 0, "hash": padded.hash.hex(), "permanent": trailer_confirmed, "by": "trailer"}
    ]

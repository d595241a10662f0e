"""MCUboot at reset: swap with revert, confirm, erase of an invalid image, overwrite-only
with two images, and NCS's network-core routing by reset vector."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcuseal.dfu.sim import NRF5340_CPUNET_B0N_ADDRESS, SimConfig, VirtualDevice, read_info
from mcuseal.dfu.smpframe import SmpHeader, decode_frame, encode_frame

MakeImage = Callable[..., Path]


def call(
    device: VirtualDevice, group: int, command: int, body: dict[str, Any], *, write: bool = True
) -> dict[str, Any]:
    op = 2 if write else 0
    header = SmpHeader(
        op=op, version=1, flags=0, length=0, group=group, sequence=1, command=command
    )
    (response,) = device.server.process(encode_frame(header, body)).responses
    return decode_frame(response)[1]


def upload(device: VirtualDevice, image: bytes, index: int = 0) -> None:
    off = 0
    while off < len(image):
        body: dict[str, Any] = {"off": off, "data": image[off : off + 2000]}
        if off == 0:
            body |= {"len": len(image), "sha": hashlib.sha256(image).digest(), "image": index}
        off = call(device, 1, 1, body)["off"]


def mark(device: VirtualDevice, image: bytes, *, confirm: bool = False) -> dict[str, Any]:
    info = read_info(image)
    assert info is not None
    return call(device, 1, 0, {"hash": info.hash, "confirm": confirm})


def kinds(device: VirtualDevice) -> list[str]:
    return [e.kind for e in device.events]


async def test_test_swap_reverts_unless_confirmed(
    make_image: MakeImage, imgtool_check: Any
) -> None:
    v1 = make_image("1.0.0").read_bytes()
    v2 = make_image("2.0.0").read_bytes()
    async with VirtualDevice(SimConfig(), boot_check=imgtool_check, primary=[v1]) as device:
        upload(device, v2)
        mark(device, v2)
        await device.reset()
        assert device.running(0) == read_info(v2)
        state = call(device, 1, 0, {}, write=False)["images"]
        assert state[0]["active"] and not state[0]["confirmed"]
        assert state[1]["confirmed"] and state[1]["version"] == "1.0.0"
        await device.reset()  # not confirmed: MCUboot swaps back
        assert device.running(0) == read_info(v1)
        assert "revert" in kinds(device)
        # Again, and this time confirm after the test boot.
        mark(device, v2)
        await device.reset()
        assert "err" not in call(device, 1, 0, {"confirm": True})
        await device.reset()
        assert device.running(0) == read_info(v2)
        assert call(device, 1, 0, {}, write=False)["images"][0]["confirmed"] is True


async def test_permanent_request_swaps_without_revert(
    make_image: MakeImage, imgtool_check: Any
) -> None:
    v1 = make_image("1.0.0").read_bytes()
    v3 = make_image("3.0.0").read_bytes()
    async with VirtualDevice(SimConfig(), boot_check=imgtool_check, primary=[v1]) as device:
        upload(device, v3)
        state = mark(device, v3, confirm=True)["images"]
        assert state[1]["pending"] and state[1]["permanent"]
        await device.reset()
        await device.reset()
        assert device.running(0) == read_info(v3)


async def test_invalid_image_is_erased_and_old_one_keeps_running(
    make_image: MakeImage, imgtool_check: Any
) -> None:
    v1 = make_image("1.0.0").read_bytes()
    bad = make_image("9.0.0", foreign=True).read_bytes()
    async with VirtualDevice(SimConfig(), boot_check=imgtool_check, primary=[v1]) as device:
        upload(device, bad)
        mark(device, bad)
        await device.reset()
        assert device.running(0) == read_info(v1)
        assert device.secondary(0) is None
        verdicts = [e for e in device.events if e.kind == "verdict"]
        assert verdicts and verdicts[-1].detail["accepted"] is False


async def test_two_images_overwrite_only(make_image: MakeImage, imgtool_check: Any) -> None:
    app = make_image("1.1.0").read_bytes()
    net = make_image("1.1.0", 4000, vector=0x0100_9001).read_bytes()
    async with VirtualDevice(SimConfig(images=2), boot_check=imgtool_check) as device:
        upload(device, app, 0)
        upload(device, net, 1)
        state = call(device, 1, 0, {}, write=False)["images"]
        assert [(s["image"], s["slot"]) for s in state] == [(0, 1), (1, 1)]
        mark(device, app)
        mark(device, net)
        await device.reset()
        assert device.running(0) == read_info(app)
        assert device.running(1) == read_info(net)
        assert device.secondary(0) is None and device.secondary(1) is None
        assert kinds(device).count("overwrite") == 2
        await device.reset()  # overwrite-only: nothing to revert
        assert device.running(0) == read_info(app)


async def test_netcore_check_routes_by_reset_vector(
    make_image: MakeImage, imgtool_check: Any
) -> None:
    v1 = make_image("1.0.0").read_bytes()
    netlike = make_image("2.0.0", vector=NRF5340_CPUNET_B0N_ADDRESS + 0x1001).read_bytes()
    config = SimConfig(netcore_b0n_addr=NRF5340_CPUNET_B0N_ADDRESS)
    async with VirtualDevice(config, boot_check=imgtool_check, primary=[v1]) as device:
        upload(device, netlike)
        mark(device, netlike)
        await device.reset()
        assert device.running(0) == read_info(v1)
        (route,) = [e for e in device.events if e.kind == "netcore-route"]
        assert route.detail["version"] == "2.0.0"


async def test_without_a_validator_updates_are_refused(make_image: MakeImage) -> None:
    v2 = make_image("2.0.0").read_bytes()
    async with VirtualDevice(SimConfig()) as device:
        upload(device, v2)
        mark(device, v2)
        await device.reset()
        assert device.running(0) is None
        assert device.secondary(0) is None

"""Third-party client over UDP: the smpmgr command line against the virtual device.

smpmgr has no UDP port option (it always uses Zephyr's 1337), so each test binds port
1337 on its own random loopback address (127.x.y.z) instead of on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcuseal.dfu.sim import SimConfig, VirtualDevice, read_info
from mcuseal.errors import DfuTransportError

SMPMGR = str(Path(sys.executable).with_name("smpmgr"))
MakeImage = Callable[..., Path]


async def serve_on_1337(device: VirtualDevice) -> str:
    rng = random.Random()
    for _ in range(20):
        host = f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
        try:
            await device.serve_udp(host, 1337)
        except DfuTransportError:
            continue
        return host
    raise RuntimeError("no free loopback address for port 1337")


async def booted(device: VirtualDevice) -> None:
    """Wait for the reset, which follows the reply by CONFIG_MCUMGR_GRP_OS_RESET_MS."""
    for _ in range(100):
        if device.boot_count:
            return
        await asyncio.sleep(0.05)


async def smpmgr(host: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        SMPMGR,
        "--ip",
        host,
        "--timeout",
        "5",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return int(proc.returncode or 0), out.decode(errors="replace")


async def test_smpmgr_uploads_and_lists(make_image: MakeImage) -> None:
    path = make_image("3.1.4", 30000)
    async with VirtualDevice(SimConfig()) as device:
        host = await serve_on_1337(device)
        code, out = await smpmgr(host, "image", "upload", str(path))
        assert code == 0, out
        code, out = await smpmgr(host, "image", "state-read")
        assert code == 0, out
    info = read_info(path.read_bytes())
    assert info is not None
    assert device.secondary(0) == info
    assert "3.1.4" in out


async def test_smpmgr_upgrade_confirm_then_device_runs_it(
    make_image: MakeImage, mcuboot_check: Any
) -> None:
    # An encrypted image: the device's MCUboot model decrypts it with its private key.
    old = make_image("1.0.0", 5000).read_bytes()
    new = make_image("1.5.0", 26000, encrypt=True)
    config = SimConfig()
    async with VirtualDevice(config, boot_check=mcuboot_check, primary=[old]) as device:
        host = await serve_on_1337(device)
        code, out = await smpmgr(host, "upgrade", "--confirm", str(new))
        assert code == 0, out
        assert "Upgrade complete" in out
        await booted(device)
        assert device.running(0) == read_info(new.read_bytes())
        # The UDP socket stayed bound through the reset: the device answers again.
        code, out = await smpmgr(host, "image", "state-read")
        assert code == 0, out
        assert "1.5.0" in out


async def test_smpmgr_upgrade_without_confirm_leaves_the_old_image(
    make_image: MakeImage, imgtool_check: Any
) -> None:
    # smpmgr 0.19.1 marks the image only for --slot != 0 or --confirm; otherwise it just
    # uploads and resets, and MCUboot (swap_type NONE) keeps the running image.
    old = make_image("1.0.0", 5000).read_bytes()
    new = make_image("1.6.0", 8000)
    async with VirtualDevice(SimConfig(), boot_check=imgtool_check, primary=[old]) as device:
        host = await serve_on_1337(device)
        code, out = await smpmgr(host, "upgrade", str(new))
        assert code == 0, out
        await booted(device)
        assert device.boot_count == 1
        assert device.running(0) == read_info(old)
        assert device.secondary(0) == read_info(new.read_bytes())


@pytest.mark.parametrize("pad", ["confirm", "test"])
async def test_smpmgr_upgrade_of_a_padded_image_installs_it_by_its_trailer(
    make_image: MakeImage, mcuboot_check: Any, pad: str
) -> None:
    # imgtool --pad writes the boot magic (and with --confirm image_ok) at the end of the
    # slot: MCUboot swaps it in although smpmgr never sends a state-write.
    old = make_image("1.0.0", 5000).read_bytes()
    new = make_image("1.7.0", 9000, pad=pad)
    # No slot size configured: the device takes the 0x80000 the image was padded to.
    async with VirtualDevice(SimConfig(), boot_check=mcuboot_check, primary=[old]) as device:
        host = await serve_on_1337(device)
        code, out = await smpmgr(host, "upgrade", str(new))
        assert code == 0, out
        await booted(device)
        assert device.running(0) == read_info(new.read_bytes())
    swaps = [e.detail["type"] for e in device.events if e.kind == "swap"]
    assert swaps == ["perm" if pad == "confirm" else "test"]

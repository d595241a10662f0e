"""Third-party client over BLE: smpclient's SMPBumbleTransport on the virtual link.

No BlueZ, no radio: the client's bumble host runs on its own virtual controller
attached to the device's bumble link, in-process or through HCI over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bumble.device import Device
from bumble.hci import Address
from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.image_management import ImageStatesRead, ImageStatesWrite
from smpclient.requests.os_management import EchoWrite, ResetWrite
from smpclient.transport import SMPTransportDisconnected
from smpclient.transport.bumble import SMPBumbleTransport
from smpclient.transport.bumble.keystore import InMemory

from mcuseal.dfu.sim import SimConfig, VirtualDevice, read_info

MakeImage = Callable[..., Path]


@pytest.mark.parametrize(
    ("mtu", "buf_size", "buf_count"),
    [(498, 2475, 6), (247, 2475, 6), (23, 2475, 6), (23, 128, 1), (185, 512, 2), (498, 300, 4)],
)
async def test_upload_over_in_process_link(
    make_image: MakeImage, mtu: int, buf_size: int, buf_count: int
) -> None:
    # smpclient sizes its chunks from the MCUmgr parameters it reads: no frame the
    # device gets may exceed buf_size, so the device drops nothing.
    image = make_image("2.0.0", 12000).read_bytes()
    async with VirtualDevice(SimConfig(buf_size=buf_size, buf_count=buf_count)) as device:
        peripheral = await device.serve_ble(name="sim-under-test")
        central = await peripheral.central()
        connection = await central.connect(peripheral.address)
        transport = SMPBumbleTransport(preferred_mtu=mtu, keystore=InMemory())
        await transport.use_connection(connection)
        client = SMPClient(transport, str(peripheral.address))
        await client._initialize()
        echo = await client.request(EchoWrite(d="over the air"))
        assert success(echo) and echo.r == "over the air"
        offsets = [off async for off in client.upload(image)]
        assert offsets[-1] == len(image)
        states = await client.request(ImageStatesRead())
        assert success(states)
        assert [s.hash for s in states.images if s.slot == 1] == [read_info(image).hash]
        await transport.disconnect()
        await connection.disconnect()
    assert device.secondary(0) == read_info(image)
    assert not [e for e in device.events if e.kind == "drop"]


async def test_upload_over_hci_tcp(make_image: MakeImage) -> None:
    image = make_image("2.1.0", 9000).read_bytes()
    async with VirtualDevice(SimConfig()) as device:
        peripheral, port = await device.serve_hci_tcp("127.0.0.1", 0, name="sim-tcp")
        transport = SMPBumbleTransport(
            hci=f"tcp-client:127.0.0.1:{port}", preferred_mtu=498, keystore=InMemory()
        )
        client = SMPClient(transport, str(peripheral.address).split("/")[0], timeout_s=5.0)
        await client.connect(connect_timeout_s=10.0)
        try:
            offsets = [off async for off in client.upload(image)]
            assert offsets[-1] == len(image)
        finally:
            await client.disconnect()
    assert device.secondary(0) == read_info(image)


async def _central(peripheral: Any) -> Device:
    return await peripheral.central(address="F0:F1:F2:F3:F4:F6")


async def test_ble_dfu_test_reset_reconnect_confirm(
    make_image: MakeImage, imgtool_check: Any
) -> None:
    old = make_image("1.0.0", 4000).read_bytes()
    new = make_image("1.1.0", 15000).read_bytes()
    info = read_info(new)
    assert info is not None
    async with VirtualDevice(SimConfig(), boot_check=imgtool_check, primary=[old]) as device:
        peripheral = await device.serve_ble(name="sim-dfu")
        central = await _central(peripheral)
        connection = await central.connect(peripheral.address)
        transport = SMPBumbleTransport(preferred_mtu=247, keystore=InMemory())
        await transport.use_connection(connection)
        client = SMPClient(transport, "sim-dfu")
        await client._initialize()
        assert [off async for off in client.upload(new)][-1] == len(new)
        assert success(await client.request(ImageStatesWrite(hash=info.hash, confirm=False)))
        assert success(await client.request(ResetWrite()))
        for _ in range(100):
            if device.boot_count and peripheral.bumble.is_advertising:
                break
            await asyncio.sleep(0.05)
        assert device.running(0) == info
        assert "disconnect" in [e.kind for e in device.events]
        # The device advertises again after its reset: reconnect and confirm.
        connection = await central.connect(peripheral.address)
        transport = SMPBumbleTransport(preferred_mtu=247, keystore=InMemory())
        await transport.use_connection(connection)
        client = SMPClient(transport, "sim-dfu")
        await client._initialize()
        confirmed = await client.request(ImageStatesWrite(confirm=True))
        assert success(confirmed)
        assert confirmed.images[0].confirmed and confirmed.images[0].active
        await transport.disconnect()
        await connection.disconnect()
        await device.reset()
        assert device.running(0) == info


async def test_link_drop_mid_upload_then_resume_by_sha(make_image: MakeImage) -> None:
    image = make_image("2.2.0", 30000).read_bytes()
    async with VirtualDevice(SimConfig(disconnect_at=(12000,))) as device:
        peripheral = await device.serve_ble(name="sim-drop")
        central = await _central(peripheral)
        connection = await central.connect(peripheral.address)
        transport = SMPBumbleTransport(preferred_mtu=498, keystore=InMemory())
        await transport.use_connection(connection)
        client = SMPClient(transport, "sim-drop", timeout_s=2.0)
        await client._initialize()
        seen: list[int] = []
        with pytest.raises((SMPTransportDisconnected, TimeoutError)):
            async for off in client.upload(image):
                seen.append(off)
        assert seen and seen[-1] < len(image)
        for _ in range(100):
            if peripheral.bumble.is_advertising:
                break
            await asyncio.sleep(0.05)
        connection = await central.connect(peripheral.address)
        transport = SMPBumbleTransport(preferred_mtu=498, keystore=InMemory())
        await transport.use_connection(connection)
        client = SMPClient(transport, "sim-drop", timeout_s=2.0)
        await client._initialize()
        resumed = [off async for off in client.upload(image)]
        # The first reply to the first chunk (with the same sha) is where it left off.
        assert resumed[0] >= 12000 and resumed[-1] == len(image)
        await transport.disconnect()
        await connection.disconnect()
    assert device.secondary(0) == read_info(image)
    assert [e.detail["kind"] for e in device.events if e.kind == "fault"] == ["disconnect"]
    assert any(e.kind == "upload-resume" for e in device.events)


async def echo_over_hci(hci: str, target: str, text: str, **transport_kwargs: Any) -> None:
    """Connect an unmodified SMPBumbleTransport through *hci*, echo *text*, disconnect."""
    transport = SMPBumbleTransport(hci=hci, keystore=InMemory(), **transport_kwargs)
    client = SMPClient(transport, target, timeout_s=5.0)
    await client.connect(connect_timeout_s=10.0)
    try:
        echo = await client.request(EchoWrite(d=text))
        assert success(echo) and echo.r == text
    finally:
        await client.disconnect()


async def test_hci_tcp_accepts_a_new_host_after_the_first_leaves() -> None:
    async with VirtualDevice(SimConfig()) as device:
        peripheral, port = await device.serve_hci_tcp("127.0.0.1", 0, name="sim-tcp2")
        address = str(peripheral.address).split("/")[0]
        for attempt in range(2):
            await echo_over_hci(f"tcp-client:127.0.0.1:{port}", address, f"host {attempt}")


async def test_a_host_that_vanishes_frees_the_device_for_the_next() -> None:
    from bumble.transport import open_transport

    async with VirtualDevice(SimConfig()) as device:
        peripheral, port = await device.serve_hci_tcp("127.0.0.1", 0, name="sim-gone")
        transport = await open_transport(f"tcp-client:127.0.0.1:{port}")
        host = Device.with_hci(
            "gone", Address("F0:F1:F2:F3:F4:F7"), transport.source, transport.sink
        )
        await host.power_on()
        await host.connect(peripheral.address)
        await transport.close()  # unplugged: no LE disconnect from the host
        address = str(peripheral.address).split("/")[0]
        await echo_over_hci(f"tcp-client:127.0.0.1:{port}", address, "next")


async def test_found_by_name_and_listed_as_smp_capable() -> None:
    async with VirtualDevice(SimConfig()) as device:
        _peripheral, port = await device.serve_hci_tcp("127.0.0.1", 0, name="mcuseal-sim")
        hci = f"tcp-client:127.0.0.1:{port}"
        found = await SMPBumbleTransport.scan(hci=hci, timeout_s=0.5)
        assert [(r.name, r.has_smp_service) for r in found] == [("mcuseal-sim", True)]
        await echo_over_hci(hci, "mcuseal-sim", "by name")


async def test_encrypted_characteristic_needs_pairing() -> None:
    from smpclient.transport.bumble.pairing import NoInputNoOutput

    async with VirtualDevice(SimConfig(ble_security="encrypt")) as device:
        peripheral, port = await device.serve_hci_tcp("127.0.0.1", 0, name="sim-enc")
        hci = f"tcp-client:127.0.0.1:{port}"
        address = str(peripheral.address).split("/")[0]
        client = SMPClient(SMPBumbleTransport(hci=hci, keystore=InMemory()), address, timeout_s=1.0)
        await client.connect(connect_timeout_s=5.0)  # params read times out: frames are lost
        try:
            with pytest.raises(TimeoutError):
                await client.request(EchoWrite(d="plain"))
        finally:
            await client.disconnect()
        assert any(e.detail.get("why") == "link not encrypted" for e in device.events)
        await echo_over_hci(hci, address, "paired", pair_on_connect=NoInputNoOutput())


async def test_authenticated_characteristic_needs_the_displayed_passkey() -> None:
    from smpclient.transport.bumble.pairing import KeyboardOnly, NoInputNoOutput

    async with VirtualDevice(SimConfig(ble_security="authen")) as device:
        peripheral, port = await device.serve_hci_tcp("127.0.0.1", 0, name="sim-authen")
        hci = f"tcp-client:127.0.0.1:{port}"
        address = str(peripheral.address).split("/")[0]
        # Just Works cannot authenticate the link: pairing fails or the frames are lost.
        transport = SMPBumbleTransport(
            hci=hci, pair_on_connect=NoInputNoOutput(), keystore=InMemory()
        )
        client = SMPClient(transport, address, timeout_s=1.0)
        answered = False
        with contextlib.suppress(Exception):
            await client.connect(connect_timeout_s=5.0)
            answered = success(await client.request(EchoWrite(d="just works")))
        with contextlib.suppress(Exception):
            await client.disconnect()
        assert not answered

        async def typed() -> int:
            for _ in range(100):
                shown = [e for e in device.events if e.kind == "passkey"]
                if shown:
                    return int(str(shown[-1].detail["passkey"]))
                await asyncio.sleep(0.02)
            raise AssertionError("the device never displayed a passkey")

        await echo_over_hci(hci, address, "authenticated", pair_on_connect=KeyboardOnly(typed))

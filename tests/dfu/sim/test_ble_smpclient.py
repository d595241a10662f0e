"""Third-party client over BLE: smpclient's SMPBumbleTransport on the virtual link.

No BlueZ, no radio: the client's bumble host runs on its own virtual controller
attached to the device's bumble link, in-process or through HCI over TCP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink
from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.image_management import ImageStatesRead
from smpclient.requests.os_management import EchoWrite
from smpclient.transport.bumble import SMPBumbleTransport

from mcuseal.dfu.sim import SimConfig, VirtualDevice, read_info

MakeImage = Callable[..., Path]


@pytest.mark.parametrize("mtu", [498, 247, 23])
async def test_upload_over_in_process_link(make_image: MakeImage, mtu: int) -> None:
    image = make_image("2.0.0", 12000).read_bytes()
    async with VirtualDevice(SimConfig()) as device:
        peripheral = await device.serve_ble(name="sim-under-test")
        controller = Controller("client", link=peripheral.link)
        central = Device(
            name="central",
            address=Address("F0:F1:F2:F3:F4:F5"),
            host=Host(controller_source=controller, controller_sink=AsyncPipeSink(controller)),
        )
        await central.power_on()
        connection = await central.connect(peripheral.address)
        transport = SMPBumbleTransport(preferred_mtu=mtu)
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


async def test_upload_over_hci_tcp(make_image: MakeImage) -> None:
    image = make_image("2.1.0", 9000).read_bytes()
    async with VirtualDevice(SimConfig()) as device:
        peripheral, port = await device.serve_hci_tcp("127.0.0.1", 0, name="sim-tcp")
        transport = SMPBumbleTransport(hci=f"tcp-client:127.0.0.1:{port}", preferred_mtu=498)
        client = SMPClient(transport, str(peripheral.address).split("/")[0], timeout_s=5.0)
        await client.connect(connect_timeout_s=10.0)
        try:
            offsets = [off async for off in client.upload(image)]
            assert offsets[-1] == len(image)
        finally:
            await client.disconnect()
    assert device.secondary(0) == read_info(image)

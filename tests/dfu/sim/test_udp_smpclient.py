"""Third-party client over UDP: smpclient's SMPUDPTransport against the virtual device."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.image_management import ImageStatesRead, ImageStatesWrite
from smpclient.requests.os_management import (
    EchoWrite,
    MCUMgrParametersRead,
)
from smpclient.transport.udp import SMPUDPTransport

from mcuseal.dfu.sim import SimConfig, VirtualDevice, read_info

MakeImage = Callable[..., "Path"]


async def _connect(port: int) -> SMPClient:
    transport = SMPUDPTransport()
    client = SMPClient(transport, "127.0.0.1", timeout_s=2.0)
    await transport.connect("127.0.0.1", 2.0, port=port)
    await client._initialize()
    return client


async def test_echo_params_and_upload(make_image: MakeImage) -> None:
    image = make_image("1.2.3", 20000).read_bytes()
    async with VirtualDevice(SimConfig()) as device:
        _host, port = await device.serve_udp("127.0.0.1", 0)
        client = await _connect(port)
        try:
            echo = await client.request(EchoWrite(d="hello"))
            assert success(echo) and echo.r == "hello"
            params = await client.request(MCUMgrParametersRead())
            assert success(params) and (params.buf_size, params.buf_count) == (2475, 6)
            offsets = [off async for off in client.upload(image)]
            assert offsets[-1] == len(image)
            states = await client.request(ImageStatesRead())
            assert success(states)
            (slot1,) = [s for s in states.images if s.slot == 1]
            info = read_info(image)
            assert info is not None
            assert slot1.hash == info.hash and slot1.version == "1.2.3"
            assert not slot1.pending and not slot1.active
            marked = await client.request(ImageStatesWrite(hash=info.hash, confirm=False))
            assert success(marked)
            (slot1,) = [s for s in marked.images if s.slot == 1]
            assert slot1.pending and not slot1.permanent
        finally:
            await client.disconnect()
    assert device.secondary(0) == read_info(image)
    done = [e for e in device.events if e.kind == "upload-done"]
    assert done and done[-1].detail["match"] is True
    assert (
        hashlib.sha256(bytes(device.pairs[0].secondary or b"")).digest()
        == hashlib.sha256(image).digest()
    )

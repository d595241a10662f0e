"""Encrypted updates: the device decrypts with its private key at reset, as MCUboot does,
and NCS's reset-vector check misroutes an encrypted application image."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.image_management import ImageStatesRead, ImageStatesWrite
from smpclient.requests.os_management import ResetWrite
from smpclient.transport.udp import SMPUDPTransport

from mcuseal.cli import main
from mcuseal.dfu.sim import (
    NRF5340_CPUNET_B0N_ADDRESS,
    McubootCheck,
    SimConfig,
    VirtualDevice,
    read_info,
)

MakeImage = Callable[..., Path]


async def _client(port: int) -> SMPClient:
    transport = SMPUDPTransport()
    client = SMPClient(transport, "127.0.0.1", timeout_s=3.0)
    await transport.connect("127.0.0.1", 3.0, port=port)
    await client._initialize()
    return client


async def _wait_boot(device: VirtualDevice, count: int = 1) -> None:
    for _ in range(100):
        if device.boot_count >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the device did not reset")


async def test_encrypted_update_is_decrypted_swapped_and_reverted(
    make_image: MakeImage, mcuboot_check: Any
) -> None:
    old = make_image("1.0.0", 5000).read_bytes()
    new = make_image("2.0.0", 20000, encrypt=True).read_bytes()
    info = read_info(new)
    assert info is not None
    async with VirtualDevice(SimConfig(), boot_check=mcuboot_check, primary=[old]) as device:
        _host, port = await device.serve_udp("127.0.0.1", 0)
        client = await _client(port)
        try:
            assert [off async for off in client.upload(new)][-1] == len(new)
            assert success(await client.request(ImageStatesWrite(hash=info.hash, confirm=False)))
            assert success(await client.request(ResetWrite()))
            await _wait_boot(device)
            states = await client.request(ImageStatesRead())
            assert success(states)
            assert [(s.slot, s.version, s.active, s.confirmed) for s in states.images] == [
                (0, "2.0.0", True, False),
                (1, "1.0.0", False, True),
            ]
        finally:
            await client.disconnect()
        primary = device.pairs[0].primary
        assert primary is not None and primary.stored == new
        assert primary.runnable != new and read_info(primary.runnable) == info  # plaintext
        verdicts = [e for e in device.events if e.kind == "verdict"]
        assert verdicts[-1].detail["accepted"] is True
        assert "decrypted" in str(verdicts[-1].detail["reason"])
        await device.reset()  # never confirmed: back to 1.0.0
        assert device.running(0) == read_info(old)


async def test_wrong_device_key_means_the_update_is_erased(
    make_image: MakeImage, keys: dict[str, Path], tmp_path: Path
) -> None:
    other = tmp_path / "other-enc.pem"
    other.touch(mode=0o600)
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    check = McubootCheck.from_files([keys["sign_pub"]], other)
    old = make_image("1.0.0", 5000).read_bytes()
    new = make_image("2.0.0", 20000, encrypt=True).read_bytes()
    async with VirtualDevice(SimConfig(), boot_check=check, primary=[old]) as device:
        pair = device.pairs[0]
        pair.secondary = bytearray(new)
        pair.pending = "test"
        await device.reset()
        assert device.running(0) == read_info(old)
        assert device.secondary(0) is None
        (verdict,) = [e for e in device.events if e.kind == "verdict"]
        assert verdict.detail["accepted"] is False


async def test_netcore_check_misroutes_an_encrypted_app_image(
    make_image: MakeImage, mcuboot_check: Any
) -> None:
    old = make_image("1.0.0", 5000).read_bytes()
    new = make_image("2.0.0", 9000, encrypt=True).read_bytes()
    # The check reads the stored (encrypted) word at ih_hdr_size + 4, not the plaintext one.
    hdr_size = struct.unpack_from("<H", new, 8)[0]
    vector = struct.unpack_from("<I", new, hdr_size + 4)[0]
    config = SimConfig(netcore_b0n_addr=NRF5340_CPUNET_B0N_ADDRESS)
    async with VirtualDevice(config, boot_check=mcuboot_check, primary=[old]) as device:
        pair = device.pairs[0]
        pair.secondary = bytearray(new)
        pair.pending = "test"
        await device.reset()
        routed = [e for e in device.events if e.kind == "netcore-route"]
        if vector > NRF5340_CPUNET_B0N_ADDRESS:
            assert routed and device.running(0) == read_info(old)
        else:
            assert not routed and device.running(0) == read_info(new)
        # The same image in plaintext (reset vector 0x8001) is swapped in normally.
    plain = make_image("2.0.1", 9000).read_bytes()
    async with VirtualDevice(config, boot_check=mcuboot_check, primary=[old]) as device:
        device.pairs[0].secondary = bytearray(plain)
        device.pairs[0].pending = "test"
        await device.reset()
        assert device.running(0) == read_info(plain)


def test_encrypted_primary_is_refused_by_the_cli(
    make_image: MakeImage, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    enc = make_image("1.0.0", 5000, encrypt=True)
    code = main(
        [
            "sim",
            "--udp",
            "127.0.0.1:0",
            "--sign-key",
            str(keys["sign_pub"]),
            "--enc-key",
            str(keys["enc"]),
            "--primary",
            str(enc),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "would not boot from the primary slot" in err and len(err.splitlines()) == 1


async def test_acceptance_command_form(
    make_image: MakeImage, keys: dict[str, Path], run_sim: Any
) -> None:
    new = make_image("3.0.0", 12000, encrypt=True).read_bytes()
    info = read_info(new)
    assert info is not None
    sim = await run_sim(
        "--udp", "127.0.0.1:0", "--sign-key", str(keys["sign_pub"]), "--enc-key", str(keys["enc"])
    )
    port = (await sim.next_event("listen"))["port"]
    client = await _client(port)
    try:
        assert [off async for off in client.upload(new)][-1] == len(new)
        assert success(await client.request(ImageStatesWrite(hash=info.hash, confirm=True)))
        assert success(await client.request(ResetWrite()))
        running = await sim.next_event("running")
        assert running["image0"] == "3.0.0"
    finally:
        await client.disconnect()
    kinds = [e["event"] for e in sim.events]
    assert kinds.index("upload-done") < kinds.index("reset") < kinds.index("verdict")
    (verdict,) = [e for e in sim.events if e["event"] == "verdict"]
    assert verdict["accepted"] is True and verdict["hash"] == info.hash.hex()
    assert "swap" in kinds

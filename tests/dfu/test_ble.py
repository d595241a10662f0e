"""Our bleak transport, through bleak with the bumble-backed BleakClient backend.

No BlueZ, no radio: bleak drives :class:`~mcuseal.dfu.transport.hci.BumbleBleakClient`,
whose bumble host runs on a virtual controller linked to the virtual device, either in
process (a ``LocalLink``) or through HCI over TCP on 127.0.0.1 (the ``--hci`` path).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from bleak import BleakClient

from mcuseal.cli import main
from mcuseal.dfu import mcumgr, smpframe
from mcuseal.dfu.flow import FlowOptions, run_dfu
from mcuseal.dfu.link import DeviceLink
from mcuseal.dfu.package import load_image
from mcuseal.dfu.sim import SimConfig, VirtualDevice
from mcuseal.dfu.transport.ble import BleTransport, explain
from mcuseal.dfu.transport.hci import BumbleBleakClient, BumbleHost, bumble_client_class
from mcuseal.dfu.upload import UploadOptions
from tests.dfu.conftest import HashCheck, RunningSim
from tests.dfu.fakes import fake_image

FLOW = FlowOptions(
    upload=UploadOptions(timeout_s=1.0, first_timeout_s=3.0),
    swap_wait_s=0.4,
    reconnect_timeout_s=10.0,
)


@asynccontextmanager
async def _in_process(
    config: SimConfig | None = None, *, mtu: int = 498, pair: bool = False, **kwargs: Any
) -> AsyncIterator[tuple[VirtualDevice, DeviceLink]]:
    """The device's BLE side and a central's bumble host on one in-process LocalLink."""
    kwargs.setdefault("boot_check", HashCheck())
    async with VirtualDevice(config or SimConfig(), **kwargs) as device:
        peripheral = await device.serve_ble(name="sim-local")
        host = BumbleHost.attached(await peripheral.central())

        async def connect() -> BleTransport:
            transport = BleTransport(
                client_class=bumble_client_class(host, preferred_mtu=mtu),
                finder=host.find,
                pair=pair,
            )
            await transport.connect(str(peripheral.address), 5.0)
            return transport

        async with DeviceLink(connect, timeout_s=1.0) as link:
            yield device, link


@pytest.mark.parametrize("mtu", [498, 247, 23])
async def test_dfu_through_bleak_with_the_bumble_backend(mtu: int) -> None:
    old = load_image(fake_image(2000, version=(1, 0, 0, 0)), name="old")
    new = load_image(fake_image(25_000, version=(1, 1, 0, 0)), name="new")
    async with _in_process(mtu=mtu, primary=[old.data]) as (device, link):
        assert isinstance(link.session.transport, BleTransport)
        assert link.session.transport.mtu == mtu - 3
        # frames are the device's buf_size, whatever the MTU: the device reassembles
        assert link.frame_limit == 2475
        report = await run_dfu(link, [new], FLOW)
        running = device.running(0)
    assert running is not None and running.hash == new.hash
    assert report.uploaded[0].window == 5


async def test_disconnect_mid_upload_resumes_by_sha() -> None:
    new = load_image(fake_image(60_000, version=(2, 0, 0, 0)), name="new")
    config = SimConfig(disconnect_at=(20_000,))
    async with _in_process(config) as (device, link):
        report = await run_dfu(link, [new], FLOW)
        running = device.running(0)
        resumed = [e for e in device.events if e.kind == "upload-resume"]
    assert running is not None and running.hash == new.hash
    assert report.uploaded[0].resumes >= 1
    assert resumed and resumed[0].detail["off"] > 0


async def test_pairing_on_connect() -> None:
    async with _in_process(pair=True) as (_, link):
        assert await mcumgr.echo(link.session, "bonded") == "bonded"
        transport = link.session.transport
        assert isinstance(transport, BleTransport)
        backend = transport._client._backend  # type: ignore[union-attr]
        assert backend._connection.is_encrypted


def test_cli_over_hci_tcp_by_name(
    sim_thread: Callable[..., RunningSim], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_thread(ble_name="dfu-target")
    new = fake_image(15_000, version=(5, 0, 0, 0))
    image = tmp_path / "app.signed.bin"
    image.write_bytes(new)
    hci = f"tcp-client:127.0.0.1:{sim.hci_port}"
    args = ["dfu", "--hci", hci, "--name", "dfu-target", "--timeout", "3"]
    code = main([*args, "upload", str(image), "--swap-wait", "0.4", "--json"])
    assert code == 0, capsys.readouterr().err
    running = sim.call(lambda: sim.device.running(0))
    assert running is not None and running.version_str == "5.0.0"
    capsys.readouterr()
    assert main(["dfu", "--hci", hci, "--json", "scan", "--duration", "2"]) == 0
    assert '"rssi"' in capsys.readouterr().out


def test_back_to_back_and_split_notifications_are_reassembled() -> None:
    transport = BleTransport(client_class=BleakClient)
    one = smpframe.encode_frame(smpframe.SmpHeader(3, 1, 0, 0, 1, 7, 1), {"off": 10})
    two = smpframe.encode_frame(smpframe.SmpHeader(3, 1, 0, 0, 1, 8, 1), {"off": 20})
    transport._on_notify(None, bytearray(one + two[:5]))
    transport._on_notify(None, bytearray(two[5:]))
    assert [transport._frames.get_nowait(), transport._frames.get_nowait()] == [one, two]


@pytest.mark.parametrize(
    "text", ["ATT error: INSUFFICIENT_AUTHENTICATION", "Insufficient Encryption (0x0f)"]
)
def test_pairing_failures_are_explained(text: str) -> None:
    message = str(explain(RuntimeError(text), "writing"))
    assert "PERM_RW_AUTHEN" in message and "pair" in message.lower()


def test_the_backend_is_a_bleak_backend() -> None:
    client = BleakClient(
        "C0:00:00:00:00:01", backend=BumbleBleakClient, bumble_host=BumbleHost("usb:0")
    )
    assert client.backend_id == "BumbleBleakClient"
    assert not client.is_connected
